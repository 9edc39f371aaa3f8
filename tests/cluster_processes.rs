//! The cluster as real processes over a real media driver: `lockstep sequencer` and two
//! `lockstep engine`s, driven from this test through Aeron like a gateway would. The test hosts
//! the media driver in a `lockstep driver` process of its own (its own directory per test), so the sequencer can be killed and
//! restarted without taking the driver with it. Everything waits by polling with deadlines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use matching_engine::{Engine, EngineConfig};
use protocol::{
    ClusterMessage, Command, EgressAck, EgressCursor, EgressEvent, Event, ReplicaRole,
    ReplicaStatus, Seq, Sequenced, SessionId, Term, TimestampNs,
};
use transport::{
    Backoff, Channel, Client, ClientConfig, IdleStrategy, OfferOutcome, Publication, StreamId,
    Subscription, unique_aeron_dir,
};
use workload::{Flow, FlowConfig};

const DEADLINE: Duration = Duration::from_secs(30);
const ADD_TIMEOUT: Duration = Duration::from_secs(10);

/// A child process killed (by PID) when dropped, so a failing test leaves nothing behind.
struct Proc {
    name: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    fn signal(&self, signal: &str) {
        let status = Process::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {}", self.name);
    }

    /// Waits (bounded) for the process to exit; returns whether it exited successfully.
    fn wait(&mut self) -> bool {
        let deadline = Instant::now() + DEADLINE;
        let mut idle = Backoff::default();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.name);
            idle.idle(0);
        }
    }

    fn kill(&mut self) {
        self.signal("-KILL");
        self.wait();
    }

    /// SIGTERM, a clean exit, and what it printed.
    fn terminate(&mut self) -> String {
        self.signal("-TERM");
        assert!(self.wait(), "{} failed:\n{}", self.name, self.log());
        std::fs::read_to_string(&self.stdout).unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} stderr ---\n{}", self.name, self.log());
        }
        if self.child.try_wait().ok().flatten().is_some() {
            return; // exited and reaped: its pid may belong to someone else by now
        }
        // SIGTERM first, so a driver removes its directory; SIGKILL if that takes too long.
        let pid = self.child.id().to_string();
        let _ = Process::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut idle = Backoff::default();
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            idle.idle(0);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway-like consumer: the shared cursor rule (drop older terms and repeated
/// `(seq, index)`), and everything it delivered.
#[derive(Default)]
struct Consumer {
    cursor: EgressCursor,
    delivered: Vec<(Seq, u32, Event)>,
}

impl Consumer {
    fn take(&mut self, frame: &[u8]) {
        let e = EgressEvent::decode(frame).expect("egress frames decode");
        if self.cursor.accept(&e.prefix) {
            self.delivered.push((e.prefix.seq, e.prefix.index, e.event));
        }
    }
}

/// One test's cluster. Fields drop in order: processes, then streams and client, then driver.
/// The driver is a `lockstep driver` process too, so the sequencer can die without it.
struct Cluster {
    sequencer: Option<Proc>,
    engines: BTreeMap<u32, Proc>,
    ingress: Publication,
    acks: Publication,
    egress: Subscription,
    status: Subscription,
    _client: Client,
    consumer: Consumer,
    statuses: BTreeMap<u32, ReplicaStatus>,
    acked: Seq,
    /// Follows the journal as the sequencer writes it.
    tail: Option<journal::Reader>,
    client_commands: usize,
    config: PathBuf,
    dir: tempfile::TempDir,
    _driver: Proc,
}

/// The driver's environment: it keeps a killed process's publications and subscriptions (which
/// hold IPC publications back) for 2 s instead of Aeron's 10 s, checking every 100 ms (the
/// check interval must be below the liveness timeout).
const DRIVER_ENV: [(&str, &str); 2] = [
    ("AERON_CLIENT_LIVENESS_TIMEOUT", "2s"),
    ("AERON_TIMER_INTERVAL", "100ms"),
];

fn channel() -> Channel {
    Channel::ipc()
}

impl Cluster {
    fn new(label: &str, stream_base: i32) -> Self {
        let aeron_dir = unique_aeron_dir(label);
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("cluster.toml");
        std::fs::write(&config, config_text(&aeron_dir, dir.path(), stream_base)).unwrap();
        let mut driver = spawn(dir.path(), &config, "driver", &["driver"]);
        let client = connect(&aeron_dir, &mut driver);
        let stream = |offset: i32| StreamId(stream_base + offset);
        let ingress = client
            .add_publication(&channel(), stream(1), ADD_TIMEOUT)
            .unwrap();
        let egress = client
            .add_subscription(&channel(), stream(4), ADD_TIMEOUT)
            .unwrap();
        let status = client
            .add_subscription(&channel(), stream(3), ADD_TIMEOUT)
            .unwrap();
        let acks = client
            .add_publication(&channel(), stream(5), ADD_TIMEOUT)
            .unwrap();
        let mut cluster = Self {
            sequencer: None,
            engines: BTreeMap::new(),
            ingress,
            acks,
            egress,
            status,
            _client: client,
            consumer: Consumer::default(),
            statuses: BTreeMap::new(),
            acked: Seq(0),
            tail: None,
            client_commands: 0,
            config,
            dir,
            _driver: driver,
        };
        cluster.start_sequencer();
        cluster.wait_until("the journal exists", |c| {
            journal::Reader::open(&c.journal_dir()).is_ok()
        });
        cluster.start_engine(1);
        cluster.start_engine(2);
        cluster.wait_until("both engines applied the first role change", |c| {
            [1, 2]
                .iter()
                .all(|n| c.statuses.get(n).is_some_and(|s| s.term == Term(1)))
        });
        cluster
    }

    fn journal_dir(&self) -> PathBuf {
        self.dir.path().join("journal")
    }

    fn spawn(&self, name: &str, args: &[&str]) -> Proc {
        spawn(self.dir.path(), &self.config, name, args)
    }

    fn start_sequencer(&mut self) {
        self.sequencer = Some(self.spawn("sequencer", &["sequencer"]));
    }

    fn start_engine(&mut self, node: u32) {
        let proc = self.spawn(
            &format!("engine-{node}"),
            &["engine", "--node", &node.to_string()],
        );
        self.engines.insert(node, proc);
    }

    /// Reads egress (acknowledging it) and heartbeats once.
    fn service(&mut self) -> usize {
        let consumer = &mut self.consumer;
        let mut work = self.egress.poll(|frame| consumer.take(frame), 256).unwrap();
        let statuses = &mut self.statuses;
        work += self
            .status
            .poll(
                |bytes| {
                    if let Ok(ClusterMessage::ReplicaStatus(s)) = ClusterMessage::decode(bytes) {
                        statuses.insert(s.node.0, s);
                    }
                },
                256,
            )
            .unwrap();
        let complete = self.consumer.cursor.complete_through();
        if complete > self.acked {
            let ack = ClusterMessage::EgressAck(EgressAck {
                seq: complete,
                consumer: 1,
            });
            if matches!(
                self.acks.offer(&ack.encode_to_vec()),
                Ok(OfferOutcome::Published { .. })
            ) {
                self.acked = complete;
            }
        }
        work
    }

    /// Services the streams until `done`, failing after the deadline.
    fn wait_until(&mut self, what: &str, mut done: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        let mut idle = Backoff::default();
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what} (journaled client commands: {}, heartbeats: {:?})",
                self.client_commands,
                self.statuses
                    .values()
                    .map(|s| (s.node.0, s.term.0, s.applied_seq.0))
                    .collect::<Vec<_>>()
            );
            let work = self.service();
            idle.idle(work);
        }
    }

    /// Offers every command, retrying while the sequencer pushes back or is away.
    fn submit(&mut self, commands: &[Command]) {
        for command in commands {
            let bytes = command.encode_to_vec();
            self.wait_until("the ingress takes a command", |c| {
                matches!(c.ingress.offer(&bytes), Ok(OfferOutcome::Published { .. }))
            });
            // Keep reading egress while sending, as a gateway does: a primary whose egress is
            // back-pressured also stops heartbeating (see docs/cluster.md).
            self.service();
        }
    }

    /// Client commands in the journal so far.
    fn journaled_client_commands(&mut self) -> usize {
        if self.tail.is_none() {
            self.tail = journal::Reader::open(&self.journal_dir()).ok();
        }
        if let Some(tail) = &mut self.tail {
            while let Some(record) = tail.next().unwrap() {
                let command = Command::decode(record.body).unwrap();
                if command.origin().session != SessionId(0) {
                    self.client_commands += 1;
                }
            }
        }
        self.client_commands
    }

    fn wait_journaled(&mut self, n: usize) {
        self.wait_until("the commands are journaled", |c| {
            c.journaled_client_commands() >= n
        });
    }

    /// Lets the live engines apply the whole journal (timers are off, so it stops growing once
    /// every command is in), stops the sequencer cleanly, lets the consumer take every event,
    /// then stops the engines and returns the offline replay and the engines' final lines.
    fn finish(&mut self) -> (Replay, BTreeMap<u32, Final>) {
        let last = replay(&self.journal_dir()).last_seq;
        let live: Vec<u32> = self.engines.keys().copied().collect();
        self.wait_until("the engines applied the journal", |c| {
            live.iter()
                .all(|n| c.statuses.get(n).is_some_and(|s| s.applied_seq == last))
        });
        self.sequencer
            .as_mut()
            .expect("sequencer running")
            .terminate();
        let replay = replay(&self.journal_dir());
        assert_eq!(
            replay.last_seq, last,
            "nothing was sequenced after the last command"
        );
        let events = replay.events.len();
        self.wait_until("the consumer has every event", |c| {
            c.consumer.delivered.len() >= events
        });
        let finals = std::mem::take(&mut self.engines)
            .into_iter()
            .map(|(node, mut proc)| (node, parse_final(&proc.terminate())))
            .collect();
        (replay, finals)
    }
}

/// Connects to the driver once the `lockstep driver` process has started it.
fn connect(aeron_dir: &Path, driver: &mut Proc) -> Client {
    let deadline = Instant::now() + DEADLINE;
    let mut idle = Backoff::default();
    loop {
        match Client::connect(aeron_dir, &ClientConfig::default()) {
            Ok(client) => return client,
            Err(e) => assert!(Instant::now() < deadline, "no driver in {aeron_dir:?}: {e}"),
        }
        let exited = driver.child.try_wait().unwrap();
        assert!(exited.is_none(), "the driver exited: {}", driver.log());
        idle.idle(0);
    }
}

/// Starts `lockstep ARGS --config CONFIG`, its output in files under `dir`.
fn spawn(dir: &Path, config: &Path, name: &str, args: &[&str]) -> Proc {
    let stdout = dir.join(format!("{name}.out"));
    let stderr = dir.join(format!("{name}.err"));
    let child = Process::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(args)
        .arg("--config")
        .arg(config)
        .envs(DRIVER_ENV.iter().copied().filter(|_| name == "driver"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    Proc {
        name: name.to_owned(),
        child,
        stdout,
        stderr,
    }
}

fn config_text(aeron: &Path, dir: &Path, base: i32) -> String {
    // Channels stay the defaults: this is the configuration a cluster runs with.
    let stream = |name: &str, offset: i32| {
        let id = base + offset;
        format!("[streams.{name}]\nstream_id = {id}\n")
    };
    format!(
        "[aeron]\ndir = {aeron:?}\nembedded_driver = false\n\n{}{}{}{}{}\n\
         [journal]\ndir = {:?}\ndurability = \"none\"\nsegment_size_bytes = 4194304\n\n\
         [sequencer]\nreplica_timeout = \"1s\"\ntimer_interval = \"0s\"\n\n\
         [engine]\nhash_interval = 64\nsnapshots_dir = {:?}\n\n[run]\nidle = \"backoff\"\n",
        stream("ingress", 1),
        stream("sequenced", 2),
        stream("status", 3),
        stream("egress", 4),
        stream("acks", 5),
        dir.join("journal"),
        dir.join("snapshots-{node}").display().to_string(),
    )
}

fn journal_commands(dir: &Path) -> Vec<Sequenced> {
    let Ok(mut reader) = journal::Reader::open(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    while let Some(record) = reader.next().unwrap() {
        out.push(Sequenced {
            seq: Seq(record.seq),
            timestamp: TimestampNs(record.timestamp_ns),
            command: Command::decode(record.body).unwrap(),
        });
    }
    out
}

/// The journal replayed offline through a fresh engine.
struct Replay {
    commands: Vec<Sequenced>,
    events: Vec<(Seq, u32, Event)>,
    hash: u128,
    last_seq: Seq,
}

fn replay(dir: &Path) -> Replay {
    let commands = journal_commands(dir);
    let mut engine = Engine::new(EngineConfig::default());
    let mut events = Vec::new();
    for (i, sequenced) in commands.iter().enumerate() {
        assert_eq!(sequenced.seq.0, i as u64 + 1, "the journal has no gap");
        let mut out = Vec::new();
        engine.apply(sequenced, &mut out);
        events.extend(
            out.into_iter()
                .enumerate()
                .map(|(i, e)| (sequenced.seq, u32::try_from(i).unwrap(), e)),
        );
    }
    let last_seq = commands.last().map_or(Seq(0), |s| s.seq);
    Replay {
        commands,
        events,
        hash: engine.state_hash().0,
        last_seq,
    }
}

/// An engine's `final ...` line.
#[derive(Debug)]
struct Final {
    applied_seq: u64,
    term: u64,
    role: String,
    hash: u128,
}

fn parse_final(stdout: &str) -> Final {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("final "))
        .unwrap_or_else(|| panic!("no final line in {stdout:?}"));
    let field = |name: &str| {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {line:?}"))
            .to_owned()
    };
    Final {
        applied_seq: field("applied_seq").parse().unwrap(),
        term: field("term").parse().unwrap(),
        role: field("role"),
        hash: u128::from_str_radix(field("state_hash").trim_start_matches("0x"), 16).unwrap(),
    }
}

/// `n` commands of the default flow (set-up from the flow's admin session, then trading).
fn flow(n: usize) -> Vec<Command> {
    Flow::new(FlowConfig::default()).take(n).collect()
}

fn check_final(finals: &BTreeMap<u32, Final>, replay: &Replay) {
    for (node, f) in finals {
        assert_eq!(
            f.applied_seq, replay.last_seq.0,
            "node {node} applied the whole journal"
        );
        assert_eq!(
            f.hash, replay.hash,
            "node {node}'s state hash equals the offline replay"
        );
    }
}

#[test]
fn engines_agree_with_the_journal_and_the_consumer_gets_every_event_once() {
    let mut cluster = Cluster::new("procs-a", 3100);
    let commands = flow(2_000);
    cluster.submit(&commands);
    cluster.wait_journaled(commands.len());
    let (replay, finals) = cluster.finish();
    check_final(&finals, &replay);
    let trades = replay
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::Trade(_)))
        .count();
    assert!(trades > 100, "the flow trades ({trades} trades)");
    assert_eq!(finals[&1].role, "Primary");
    assert_eq!(finals[&2].role, "Backup");
    assert_eq!(
        cluster.consumer.delivered.len(),
        replay.events.len(),
        "every event once"
    );
    assert!(cluster.consumer.delivered == replay.events, "and in order");
}

#[test]
fn killing_the_primary_engine_promotes_the_backup_with_nothing_lost_or_duplicated() {
    let mut cluster = Cluster::new("procs-b", 3200);
    let commands = flow(4_000);
    cluster.submit(&commands[..2_000]);
    cluster.wait_journaled(1_000);
    let primary = cluster.statuses[&1].role;
    assert_eq!(primary, ReplicaRole::Primary, "node 1 starts as primary");
    cluster.engines.remove(&1).expect("engine 1 runs").kill();
    cluster.submit(&commands[2_000..]);
    cluster.wait_journaled(commands.len());
    cluster.wait_until("the backup is promoted in term 2", |c| {
        let s = c.statuses[&2];
        s.role == ReplicaRole::Primary && s.term == Term(2)
    });
    let (replay, finals) = cluster.finish();
    check_final(&finals, &replay);
    assert_eq!((finals[&2].term, finals[&2].role.as_str()), (2, "Primary"));
    assert_eq!(
        cluster.consumer.delivered.len(),
        replay.events.len(),
        "every event once"
    );
    assert!(cluster.consumer.delivered == replay.events, "and in order");
}

#[test]
fn a_killed_sequencer_restarts_and_the_journal_continues_without_a_gap() {
    let mut cluster = Cluster::new("procs-c", 3300);
    let commands = flow(4_000);
    cluster.submit(&commands[..2_000]);
    cluster.wait_journaled(2_000);
    cluster.submit(&commands[2_000..3_000]);
    cluster.sequencer.take().expect("sequencer runs").kill();
    let before_kill = journal_commands(&cluster.journal_dir());
    // Until the driver declares the killed client dead, its subscription still takes offers
    // that nobody will read: a gateway resends once it sees the ingress disconnected. The
    // restarted sequencer may first read requests the dead one left in the stream; it refuses
    // those whose session skipped ids (see docs/cluster.md), so the resent ones keep their order.
    cluster.wait_until("the driver dropped the killed sequencer", |c| {
        !c.ingress.is_connected()
    });
    cluster.start_sequencer();
    // A gateway sends again everything it has no answer for; the restarted sequencer drops
    // what it already journaled (same session, request id not above the last).
    cluster.submit(&commands[2_000..]);
    cluster.wait_journaled(commands.len());
    let (replay, finals) = cluster.finish();
    check_final(&finals, &replay);
    assert!(
        replay.commands.starts_with(&before_kill),
        "every command journaled before the kill is still there, unchanged"
    );
    let origin = |c: &Command| (c.origin().session, c.origin().request_id);
    let journaled: Vec<_> = replay
        .commands
        .iter()
        .map(|s| origin(&s.command))
        .filter(|(session, _)| *session != SessionId(0))
        .collect();
    let sent: Vec<_> = commands.iter().map(origin).collect();
    assert!(
        journaled == sent,
        "every command journaled exactly once, in order"
    );
    for f in finals.values() {
        assert_eq!(f.term, 1, "a sequencer restart is not a failover");
    }
    assert!(
        cluster.consumer.delivered == replay.events,
        "every event once, in order"
    );
}
