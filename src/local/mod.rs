//! A whole cluster on this machine, as real `lockstep` processes over a real media driver,
//! driven through Aeron the way a gateway drives it. `lockstep demo`, the process tests and the
//! cluster benchmark all use it.
//!
//! [`LocalCluster::start`] writes a configuration file, hosts the media driver (inside this
//! process, or in a `lockstep driver` process of its own so the sequencer can be killed without
//! taking every stream down), starts `lockstep sequencer` and two `lockstep engine`s, and waits
//! until both engines run in term 1. The cluster's client side lives here: it offers commands
//! on the ingress stream, reads the egress stream through the consumers' [`EgressCursor`] rule
//! (older terms and repeated `(seq, index)` are dropped), acknowledges what it has, and
//! follows the engines' heartbeats. Everything waits by polling with deadlines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use protocol::{
    ClusterMessage, Command, EgressAck, EgressCursor, EgressEvent, Event, ReplicaRole,
    ReplicaStatus, Seq, SessionId, Term,
};
use transport::{
    Backoff, Channel, Client, ClientConfig, DriverConfig, IdleStrategy as _, MediaDriver,
    Publication, StreamId, Subscription,
};

pub mod fix_load;
pub mod latency;
mod load;
mod process;
mod replay;

pub use load::OpenLoop;
pub use process::Proc;
pub use replay::{Final, Replay, journal_commands};

/// The default flow's set-up: one instrument and four accounts' risk limits.
const SETUP_COMMANDS: usize = 5;
/// How long any one wait may take.
pub const DEADLINE: Duration = Duration::from_secs(30);
const ADD_TIMEOUT: Duration = Duration::from_secs(10);
/// The consumer id this client acknowledges egress under: not 1, a gateway's default.
const CONSUMER: u32 = u32::MAX;

/// How long the driver keeps a killed process's publications and subscriptions (which hold
/// IPC publications back): the configuration's default, `aeron.client_liveness_timeout`.
const CLIENT_LIVENESS_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the driver checks liveness and untethered subscribers: `aeron.timer_interval`.
const DRIVER_TIMER_INTERVAL: Duration = Duration::from_millis(1);

/// Where the media driver runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverHost {
    /// Inside this process (the demo).
    Embedded,
    /// In a `lockstep driver` process, so that the sequencer can be killed and restarted.
    Process,
}

/// What a local cluster runs with; the rest of the configuration is the embedded defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `lockstep` executable.
    pub exe: PathBuf,
    /// Aeron directory (unique per cluster: see [`transport::unique_aeron_dir`]).
    pub aeron_dir: PathBuf,
    /// Stream ids are `stream_base + 1..=5` (ingress, sequenced, status, egress, acks).
    pub stream_base: i32,
    pub driver: DriverHost,
    /// `journal.durability`: none | group | every.
    pub durability: String,
    pub replica_timeout: String,
    /// `sequencer.timer_interval` ("0s": no timers).
    pub timer_interval: String,
    /// `sequencer.snapshot_interval` (commands; 0: never).
    pub snapshot_interval: u64,
    pub hash_interval: u64,
    /// `engine.heartbeat_interval`.
    pub heartbeat_interval: String,
    /// `run.idle` of every process.
    pub idle: String,
    /// `sequencer.liveness`: where engines link to the sequencer ("": no links, heartbeats
    /// alone detect a dead primary).
    pub liveness: String,
    /// Keep every delivered event (for comparison with an offline replay).
    pub keep_events: bool,
}

impl Settings {
    /// Settings for tests: no durability wait, no timers, a 1 s failover timeout.
    #[must_use]
    pub fn new(exe: PathBuf, aeron_dir: PathBuf, stream_base: i32) -> Self {
        Self {
            exe,
            aeron_dir,
            stream_base,
            driver: DriverHost::Process,
            durability: "none".into(),
            replica_timeout: "1s".into(),
            timer_interval: "0s".into(),
            snapshot_interval: 0,
            hash_interval: 64,
            heartbeat_interval: "10ms".into(),
            idle: "backoff".into(),
            // No free port (never seen): no links, heartbeats alone.
            liveness: free_local_address().map_or_else(|_| String::new(), |a| a.to_string()),
            keep_events: true,
        }
    }

    fn config_text(&self, dir: &Path) -> String {
        let stream = |name: &str, offset: i32| {
            let id = self.stream_base + offset;
            format!("[streams.{name}]\nstream_id = {id}\n")
        };
        format!(
            "[aeron]\ndir = {:?}\nembedded_driver = false\n\n{}{}{}{}{}\n\
             [journal]\ndir = {:?}\ndurability = {:?}\nsegment_size_bytes = 67108864\n\n\
             [sequencer]\nreplica_timeout = {:?}\ntimer_interval = {:?}\nsnapshot_interval = {}\n\
             liveness = {:?}\n\n\
             [engine]\nhash_interval = {}\nheartbeat_interval = {:?}\nsnapshots_dir = {:?}\n\n\
             [gateway]\nstore = {:?}\n\n[run]\nidle = {:?}\n",
            self.aeron_dir.display().to_string(),
            stream("ingress", 1),
            stream("sequenced", 2),
            stream("status", 3),
            stream("egress", 4),
            stream("acks", 5),
            dir.join("journal").display().to_string(),
            self.durability,
            self.replica_timeout,
            self.timer_interval,
            self.snapshot_interval,
            self.liveness,
            self.hash_interval,
            self.heartbeat_interval,
            dir.join("snapshots-{node}").display().to_string(),
            dir.join("gateway.store").display().to_string(),
            self.idle,
        )
    }
}

/// A free port on 127.0.0.1 (free when asked: the process that uses it binds it a moment
/// later).
fn free_local_address() -> std::io::Result<std::net::SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

enum Driver {
    Embedded(Box<MediaDriver>),
    Process(Proc),
}

/// A gateway-like consumer: the shared cursor rule, and what it delivered.
#[derive(Debug, Default)]
pub struct Consumer {
    cursor: EgressCursor,
    /// Every event delivered, when kept (see [`Settings::keep_events`]).
    pub delivered: Vec<(Seq, u32, Event)>,
    /// How many events were delivered.
    pub count: usize,
    keep: bool,
}

/// One cluster. Fields drop in order: processes, then streams and client, then the driver.
pub struct LocalCluster {
    /// The sequencer process, while running.
    pub sequencer: Option<Proc>,
    /// The engine processes by node id, while running.
    pub engines: BTreeMap<u32, Proc>,
    ingress: Publication,
    acks: Publication,
    egress: Subscription,
    status: Subscription,
    client: Option<Client>,
    /// What the client side delivered.
    pub consumer: Consumer,
    /// The latest heartbeat of each engine.
    pub statuses: BTreeMap<u32, ReplicaStatus>,
    acked: Seq,
    tail: Option<journal::Reader>,
    client_commands: usize,
    journal_last: Seq,
    settings: Settings,
    config: PathBuf,
    dir: PathBuf,
    driver: Option<Driver>,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("dir", &self.dir)
            .field("statuses", &self.statuses)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Takes one egress frame; returns the event if it is new to this consumer.
    fn take(&mut self, frame: &[u8]) -> anyhow::Result<Option<EgressEvent>> {
        // A primary's answer to a gateway's replay request: for that gateway only.
        if let Ok(ClusterMessage::EgressReplayStart(_)) = ClusterMessage::decode(frame) {
            return Ok(None);
        }
        let e = EgressEvent::decode(frame).context("an egress frame that does not decode")?;
        if !self.cursor.accept(&e.prefix) {
            return Ok(None);
        }
        self.count += 1;
        if self.keep {
            self.delivered.push((e.prefix.seq, e.prefix.index, e.event));
        }
        Ok(Some(e))
    }
}

impl LocalCluster {
    /// Starts a cluster whose files (configuration, journal, snapshots, process logs) go in
    /// `dir`, and waits until both engines run in term 1.
    pub fn start(settings: Settings, dir: &Path) -> anyhow::Result<Self> {
        let config = dir.join("cluster.toml");
        std::fs::write(&config, settings.config_text(dir))
            .with_context(|| format!("writing {}", config.display()))?;
        let driver = match settings.driver {
            DriverHost::Embedded => Driver::Embedded(Box::new(
                MediaDriver::launch(&DriverConfig {
                    dir: Some(settings.aeron_dir.clone()),
                    client_liveness_timeout: Some(CLIENT_LIVENESS_TIMEOUT),
                    timer_interval: Some(DRIVER_TIMER_INTERVAL),
                    ..DriverConfig::default()
                })
                .context("launching the media driver")?,
            )),
            DriverHost::Process => {
                let args = ["driver", "--config", path_str(&config)?];
                Driver::Process(Proc::spawn(&settings.exe, dir, "driver", &args, &[])?)
            }
        };
        let client = connect(&settings.aeron_dir, &driver)?;
        let stream = |offset: i32| StreamId(settings.stream_base + offset);
        let ipc = Channel::ipc();
        let ingress = client.add_publication(&ipc, stream(1), ADD_TIMEOUT)?;
        let status = client.add_subscription(&ipc, stream(3), ADD_TIMEOUT)?;
        let egress = client.add_subscription(&ipc, stream(4), ADD_TIMEOUT)?;
        let acks = client.add_publication(&ipc, stream(5), ADD_TIMEOUT)?;
        let mut cluster = Self {
            sequencer: None,
            engines: BTreeMap::new(),
            ingress,
            acks,
            egress,
            status,
            client: Some(client),
            consumer: Consumer {
                keep: settings.keep_events,
                ..Consumer::default()
            },
            statuses: BTreeMap::new(),
            acked: Seq(0),
            tail: None,
            client_commands: 0,
            journal_last: Seq(0),
            settings,
            config,
            dir: dir.to_owned(),
            driver: Some(driver),
        };
        cluster.start_sequencer()?;
        cluster.wait_until("the journal exists", |c| {
            Ok(journal::Reader::open(&c.journal_dir()).is_ok())
        })?;
        cluster.start_engine(1)?;
        cluster.start_engine(2)?;
        cluster.wait_until("both engines applied the first role change", |c| {
            Ok([1, 2]
                .iter()
                .all(|n| c.statuses.get(n).is_some_and(|s| s.term >= Term(1))))
        })?;
        Ok(cluster)
    }

    /// The sequencer's journal.
    #[must_use]
    pub fn journal_dir(&self) -> PathBuf {
        self.dir.join("journal")
    }

    /// Starts `lockstep ARGS --config CONFIG` as `name` (a gateway, say), its output beside
    /// the others'.
    pub fn spawn(&self, name: &str, args: &[&str]) -> anyhow::Result<Proc> {
        let mut all = args.to_vec();
        all.extend(["--config", path_str(&self.config)?]);
        Proc::spawn(&self.settings.exe, &self.dir, name, &all, &[])
    }

    /// Defines the venue the default flow and the default `[gateway]` section trade on: the
    /// flow's set-up commands (the instrument, the accounts' risk limits), journaled.
    pub fn set_up_venue(&mut self) -> anyhow::Result<()> {
        let setup: Vec<Command> = workload::Flow::new(workload::FlowConfig::default())
            .take(SETUP_COMMANDS)
            .collect();
        self.submit(&setup)?;
        self.wait_journaled(SETUP_COMMANDS)
    }

    /// Starts `lockstep gateway` on a free local port and waits until it listens.
    pub fn start_gateway(&mut self) -> anyhow::Result<(Proc, std::net::SocketAddr)> {
        let addr = free_local_address()?;
        let proc = self.spawn("gateway", &["gateway", "--listen", &addr.to_string()])?;
        self.wait_until("the gateway listens", |_| {
            Ok(std::net::TcpStream::connect(addr).is_ok())
        })?;
        Ok((proc, addr))
    }

    /// Starts (or restarts) the sequencer.
    pub fn start_sequencer(&mut self) -> anyhow::Result<()> {
        self.sequencer = Some(self.spawn("sequencer", &["sequencer"])?);
        Ok(())
    }

    /// Starts (or restarts) engine `node`; a restarted engine catches up and rejoins as backup.
    pub fn start_engine(&mut self, node: u32) -> anyhow::Result<()> {
        let name = format!("engine-{node}");
        let proc = self.spawn(&name, &["engine", "--node", &node.to_string()])?;
        self.engines.insert(node, proc);
        Ok(())
    }

    /// SIGKILLs engine `node` and returns when it is gone.
    pub fn kill_engine(&mut self, node: u32) -> anyhow::Result<()> {
        let mut proc = self
            .engines
            .remove(&node)
            .context("no such engine running")?;
        proc.kill()
    }

    /// SIGKILLs the sequencer and returns when it is gone.
    pub fn kill_sequencer(&mut self) -> anyhow::Result<()> {
        self.sequencer
            .take()
            .context("no sequencer running")?
            .kill()
    }

    /// The primary as the engines report it: the one saying so in the highest term.
    #[must_use]
    pub fn primary(&self) -> Option<(u32, Term)> {
        self.statuses
            .values()
            .filter(|s| s.role == ReplicaRole::Primary)
            .max_by_key(|s| s.term)
            .map(|s| (s.node.0, s.term))
    }

    /// Whether the sequencer is there to take ingress (a gateway resends once it was not).
    #[must_use]
    pub fn ingress_connected(&self) -> bool {
        self.ingress.is_connected()
    }

    /// Reads egress and heartbeats once, acknowledging what the consumer has; `on_event` sees
    /// every event new to the consumer.
    pub fn service_with(
        &mut self,
        mut on_event: impl FnMut(&EgressEvent),
    ) -> anyhow::Result<usize> {
        let consumer = &mut self.consumer;
        let mut bad = None;
        let mut work = self.egress.poll(
            |frame| match consumer.take(frame) {
                Ok(Some(event)) => on_event(&event),
                Ok(None) => {}
                Err(e) => bad = Some(e),
            },
            256,
        )?;
        if let Some(e) = bad {
            return Err(e);
        }
        let statuses = &mut self.statuses;
        work += self.status.poll(
            |bytes| {
                if let Ok(ClusterMessage::ReplicaStatus(s)) = ClusterMessage::decode(bytes) {
                    statuses.insert(s.node.0, s);
                }
            },
            256,
        )?;
        let complete = self.consumer.cursor.complete_through();
        if complete > self.acked {
            let ack = ClusterMessage::EgressAck(EgressAck {
                seq: complete,
                consumer: CONSUMER,
            });
            if self.acks.offer(&ack.encode_to_vec())?.is_published() {
                self.acked = complete;
            }
        }
        Ok(work)
    }

    /// [`LocalCluster::service_with`], ignoring the events.
    pub fn service(&mut self) -> anyhow::Result<usize> {
        self.service_with(|_| {})
    }

    /// Services the streams until `done`, failing after [`DEADLINE`].
    pub fn wait_until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&mut Self) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + DEADLINE;
        let mut idle = Backoff::default();
        while !done(self)? {
            if Instant::now() >= deadline {
                let beats: Vec<_> = self
                    .statuses
                    .values()
                    .map(|s| (s.node.0, s.term.0, s.applied_seq.0))
                    .collect();
                bail!(
                    "timed out waiting until {what} (journaled client commands: {}, \
                     heartbeats (node, term, applied): {beats:?})",
                    self.client_commands,
                );
            }
            let work = self.service()?;
            idle.idle(work);
        }
        Ok(())
    }

    /// Offers one command once: `Ok(false)` when the stream pushed back or nobody listens.
    pub fn offer(&mut self, command: &Command) -> anyhow::Result<bool> {
        let mut frame = [0u8; protocol::MESSAGE_SIZE_MAX];
        let n = command.encode_into(&mut frame)?;
        Ok(self.ingress.offer(&frame[..n])?.is_published())
    }

    /// Offers every command, retrying while the sequencer pushes back or is away, and reading
    /// egress meanwhile as a gateway does (a primary whose egress backs up holds back too).
    pub fn submit(&mut self, commands: &[Command]) -> anyhow::Result<()> {
        for command in commands {
            self.wait_until("the ingress takes a command", |c| c.offer(command))?;
            self.service()?;
        }
        Ok(())
    }

    /// Client commands in the journal so far.
    pub fn journaled_client_commands(&mut self) -> anyhow::Result<usize> {
        if self.tail.is_none() {
            self.tail = journal::Reader::open(&self.journal_dir()).ok();
        }
        if let Some(tail) = &mut self.tail {
            while let Some(record) = tail.next()? {
                self.journal_last = Seq(record.seq);
                let command = Command::decode(record.body)?;
                if command.origin().session != SessionId(0) {
                    self.client_commands += 1;
                }
            }
        }
        Ok(self.client_commands)
    }

    /// Waits until `n` client commands are journaled.
    pub fn wait_journaled(&mut self, n: usize) -> anyhow::Result<()> {
        self.wait_until("the commands are journaled", |c| {
            Ok(c.journaled_client_commands()? >= n)
        })
    }

    /// Ends the run: waits until the live engines applied the journal, stops the sequencer
    /// cleanly (it publishes all it journaled), lets the engines apply the rest and the
    /// consumer take every event the journal implies, stops the engines and checks each one's
    /// final state hash against the journal replayed offline. Returns that replay and the
    /// engines' final lines.
    pub fn finish(&mut self) -> anyhow::Result<(Replay, BTreeMap<u32, Final>)> {
        let live: Vec<u32> = self.engines.keys().copied().collect();
        let caught_up = |c: &mut Self, last: Seq| {
            live.iter()
                .all(|n| c.statuses.get(n).is_some_and(|s| s.applied_seq >= last))
        };
        self.wait_until("the engines applied the journal", |c| {
            c.journaled_client_commands()?;
            Ok(caught_up(c, c.journal_last))
        })?;
        if let Some(mut sequencer) = self.sequencer.take() {
            sequencer.terminate()?;
        }
        let replay = Replay::of(&self.journal_dir(), None)?;
        self.wait_until("the engines applied the whole journal", |c| {
            Ok(caught_up(c, replay.last_seq))
        })?;
        let events = replay.events.len();
        self.wait_until("the consumer has every event", |c| {
            Ok(c.consumer.count >= events)
        })?;
        let mut finals = BTreeMap::new();
        for (node, mut proc) in std::mem::take(&mut self.engines) {
            let f = Final::parse(&proc.terminate()?)?;
            ensure!(
                f.applied_seq == replay.last_seq.0,
                "engine {node} stopped at seq {}, the journal ends at {}",
                f.applied_seq,
                replay.last_seq.0
            );
            ensure!(
                f.hash == replay.hash,
                "engine {node}'s state hash {:#x} differs from the offline replay's {:#x}",
                f.hash,
                replay.hash
            );
            finals.insert(node, f);
        }
        Ok((replay, finals))
    }

    /// Stops every process and closes the client and the driver, reporting any failure.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        for (_, mut proc) in std::mem::take(&mut self.engines) {
            proc.terminate()?;
        }
        if let Some(mut sequencer) = self.sequencer.take() {
            sequencer.terminate()?;
        }
        drop(self.client.take());
        match self.driver.take() {
            Some(Driver::Embedded(driver)) => driver.close()?,
            Some(Driver::Process(mut proc)) => {
                proc.terminate()?;
            }
            None => {}
        }
        Ok(())
    }

    /// Starts (or restarts) engine `node` with `extra` arguments (such as the hidden
    /// `--fault-diverge-at SEQ` of the divergence tests).
    pub fn start_engine_with(&mut self, node: u32, extra: &[&str]) -> anyhow::Result<()> {
        let name = format!("engine-{node}");
        let node_arg = node.to_string();
        let mut args = vec!["engine", "--node", &node_arg];
        args.extend_from_slice(extra);
        let proc = self.spawn(&name, &args)?;
        self.engines.insert(node, proc);
        Ok(())
    }

    /// Stops engine `node` cleanly and returns its `final` line: an engine whose state is known
    /// to differ from the journal's (a diverged one) leaves before [`LocalCluster::finish`].
    pub fn stop_engine(&mut self, node: u32) -> anyhow::Result<Final> {
        let mut proc = self
            .engines
            .remove(&node)
            .context("no such engine running")?;
        Final::parse(&proc.terminate()?)
    }

    /// Starts `lockstep auditor`, which replays the journal and checks the engines against it;
    /// the caller owns the process (its log is `auditor.err`).
    pub fn start_auditor(&self) -> anyhow::Result<Proc> {
        self.spawn("auditor", &["auditor"])
    }
}

fn path_str(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

/// Connects once the driver is up (a driver process takes a moment to start).
fn connect(aeron_dir: &Path, driver: &Driver) -> anyhow::Result<Client> {
    let deadline = Instant::now() + DEADLINE;
    let mut idle = Backoff::default();
    loop {
        match Client::connect(aeron_dir, &ClientConfig::default()) {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() >= deadline => {
                return Err(e).with_context(|| format!("no driver in {}", aeron_dir.display()));
            }
            Err(_) => {}
        }
        if let Driver::Process(proc) = driver {
            ensure!(
                !proc.log().contains("lockstep:"),
                "the driver failed: {}",
                proc.log()
            );
        }
        idle.idle(0);
    }
}
