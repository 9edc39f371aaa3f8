//! Process fault trials: the whole cluster as processes (driver, sequencer, two engines, the
//! FIX gateway) under load from two clients — an open-loop flow through Aeron and a FIX
//! session through the gateway — and one SIGKILL at a random point of the primary, the backup,
//! the sequencer or the gateway, which is then restarted. After each trial a checker compares
//! the journal with both engines (same last seq, same state hash as an offline replay), the
//! egress consumer's events with the replay's (every event once, in order), and the FIX
//! client's reports with what it sent (every order acknowledged once, journaled once).
//!
//! `LOCKSTEP_FAULT_TRIALS=N` runs N trials of each kind (default 1, the CI smoke run);
//! `LOCKSTEP_FAULT_SEED` picks the kill points. The failover times of the primary trials are
//! printed (run with `--nocapture`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway::client::{ClientError, FixClient};
use lockstep::local::{LocalCluster, OpenLoop, Settings, journal_commands};
use protocol::{Command, SessionId, Term};
use transport::Clock as _;
use workload::{Flow, FlowConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Primary,
    /// The primary stops (SIGSTOP) without dying: its liveness link stays open, so only the
    /// heartbeat timeout can fail it over. It resumes (SIGCONT) once the backup serves.
    HungPrimary,
    Backup,
    Sequencer,
    Gateway,
}

/// Commands a second of the open-loop flow, and for how long.
const FLOW_RATE: u64 = 2_000;
const LOAD: Duration = Duration::from_millis(1_500);
/// The flow's first commands: the instrument, then each session's risk limits.
const SETUP_COMMANDS: u64 = 5;
/// Orders a second of the FIX session.
const FIX_RATE: u64 = 100;
/// The failover timeout the trials run with (and the engines' heartbeat interval).
const REPLICA_TIMEOUT: &str = "100ms";

/// SplitMix64: the kill points from a seed.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The FIX session's side: paced orders, reconnecting to wherever the gateway is now, until
/// every order has its acknowledgement. Returns the acknowledgements per ClOrdID.
fn fix_session(
    gateway: &Arc<Mutex<SocketAddr>>,
    orders: u64,
) -> anyhow::Result<BTreeMap<String, u32>> {
    let addr = *gateway.lock().unwrap();
    let mut client = FixClient::connect(addr, "CLIENT1", "LOCKSTEP", 1)?;
    client.logon(30, Duration::from_secs(10))?;
    let start = Instant::now();
    let deadline = start + LOAD + Duration::from_secs(60);
    let (mut sent, mut acks) = (0u64, BTreeMap::<String, u32>::new());
    while acks.len() < usize::try_from(orders)? {
        anyhow::ensure!(Instant::now() < deadline, "{} of {orders} acks", acks.len());
        let due = Duration::from_nanos(sent * 1_000_000_000 / FIX_RATE);
        if sent < orders && start.elapsed() >= due {
            let id = format!("f-{sent}");
            let order = [
                (11, id.as_str()),
                (55, "LOCK-USD"),
                (54, "1"),
                (38, "1"),
                (40, "2"),
                (44, "9999.00"),
                (59, "1"),
            ];
            // Sent is sent: one into a dead connection the gateway asks for again on logon.
            if client.send(b"D", &order).is_ok() {
                sent += 1;
            }
        }
        match client.next_message(Instant::now() + Duration::from_millis(2)) {
            // The flow's market sells can fill the resting buys: fills are fine, each
            // acknowledgement is counted.
            Ok(m) if m.msg_type == "8" && m.get(150) == "0" => {
                *acks.entry(m.get(11).to_owned()).or_default() += 1;
            }
            Ok(m) if m.msg_type == "8" && matches!(m.get(150), "1" | "2" | "F") => {}
            Ok(m) => anyhow::bail!("unexpected {m:?}"),
            Err(ClientError::Timeout(_)) => {}
            Err(ClientError::Closed | ClientError::Io(_)) => {
                // The gateway died: reconnect (keeping the numbers) once it is back.
                let now = *gateway.lock().unwrap();
                // A logon can also meet the dying process (its listener not yet closed): try
                // again, as a FIX engine does.
                let back = client.reconnect(now).is_ok()
                    && client.logon(30, Duration::from_secs(10)).is_ok();
                if !back {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(acks)
}

/// The `lockstep` the cluster runs: this build's, or `LOCKSTEP_FAULT_EXE` (a release build,
/// to time failover as deployed: `cargo build --release` first).
fn lockstep_exe() -> std::path::PathBuf {
    std::env::var_os("LOCKSTEP_FAULT_EXE")
        .map_or_else(|| env!("CARGO_BIN_EXE_lockstep").into(), Into::into)
}

/// One trial; returns the failover time when the primary was the victim.
fn trial(victim: Victim, seed: u64, stream_base: i32) -> Option<Failover> {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        replica_timeout: REPLICA_TIMEOUT.into(),
        heartbeat_interval: "10ms".into(),
        keep_events: true,
        ..Settings::new(
            lockstep_exe(),
            transport::unique_aeron_dir("faults"),
            stream_base,
        )
    };
    let mut cluster = LocalCluster::start(settings, dir.path()).unwrap();
    let (mut gateway, addr) = cluster.start_gateway().unwrap();
    let where_gateway = Arc::new(Mutex::new(addr));
    let fix_orders = FIX_RATE * u64::try_from(LOAD.as_millis()).unwrap() / 1000;
    let mut fix = None;
    // The flow defines the venue first; its sessions leave 1 and 2 to the gateway.
    let flow = Flow::new(FlowConfig {
        seed,
        first_session: 3,
        ..FlowConfig::default()
    });
    let total = FLOW_RATE * u64::try_from(LOAD.as_millis()).unwrap() / 1000;
    let mut load = OpenLoop::new(flow, FLOW_RATE, total);
    let kill_at = Duration::from_millis(300 + mix(seed) % 700);
    let start = Instant::now();
    // When (monotonic, and wall-clock ns as the journal stamps), the term then, the node.
    let mut killed: Option<(Instant, u64, Term, u32)> = None;
    let (mut failover, mut restarted) = (None, false);
    // When each term's first event arrived: with the journal's role changes, the failover.
    let mut first_event = BTreeMap::new();
    let deadline = start + LOAD + Duration::from_secs(90);
    let running =
        |fix: &Option<std::thread::JoinHandle<_>>| fix.as_ref().is_none_or(|f| !f.is_finished());
    while !load.is_done() || running(&fix) || (killed.is_some() && !restarted) {
        if Instant::now() >= deadline {
            let replay = lockstep::local::Replay::of(&cluster.journal_dir(), None).unwrap();
            let got: std::collections::BTreeSet<(u64, u32)> = cluster
                .consumer
                .delivered
                .iter()
                .map(|(s, i, _)| (s.0, *i))
                .collect();
            let missing: Vec<_> = replay
                .events
                .iter()
                .filter(|(s, i, _)| !got.contains(&(s.0, *i)))
                .take(8)
                .collect();
            let kept = keep_files(dir.path(), seed);
            eprintln!("copied to {}; missing events: {missing:?}", kept.display());
        }
        assert!(
            Instant::now() < deadline,
            "{victim:?} trial {seed}: stuck: flow sent {} with {} unanswered, FIX done {}, \
             killed {}, restarted {restarted}",
            load.sent(),
            load.latency().outstanding(),
            !running(&fix),
            killed.is_some()
        );
        load.offer_due(&mut cluster).unwrap();
        cluster
            .service_with(|e| {
                let now = Instant::now();
                load.on_event(e, now);
                first_event.entry(e.prefix.term.0).or_insert(now);
                if let Some((at, _, term, _)) = killed
                    && failover.is_none()
                    && e.prefix.term > term
                {
                    failover = Some(now - at);
                }
            })
            .unwrap();
        if fix.is_none() && load.sent() >= SETUP_COMMANDS && load.latency().outstanding() == 0 {
            let where_gateway = Arc::clone(&where_gateway);
            fix = Some(std::thread::spawn(move || {
                fix_session(&where_gateway, fix_orders)
            }));
        }
        // The flow client here does not resend; the FIX gateway does. So before the sequencer
        // dies, the flow stops and is answered.
        if victim == Victim::Sequencer && start.elapsed() >= kill_at {
            load.stop_sending();
        }
        let ready = victim != Victim::Sequencer || load.is_done();
        if killed.is_none() && start.elapsed() >= kill_at && ready {
            let (primary, term) = cluster.primary().expect("a primary");
            let node = match victim {
                Victim::Primary | Victim::HungPrimary => primary,
                Victim::Backup => 3 - primary,
                Victim::Sequencer | Victim::Gateway => 0,
            };
            // Wall-clock ns as the sequencer stamps the journal (its `SystemClock`).
            let (at, wall_ns) = (Instant::now(), transport::SystemClock.now_ns());
            match victim {
                // Only the signal here: the killed engine is reaped when it is restarted,
                // so this loop keeps reading egress while the kernel tears it down.
                Victim::Primary | Victim::Backup => {
                    cluster.engines.get_mut(&node).unwrap().kill_now().unwrap();
                }
                // Through the `kill` command: the timing includes starting it (conservative).
                Victim::HungPrimary => cluster.engines[&node].signal("-STOP").unwrap(),
                Victim::Sequencer => cluster.kill_sequencer().unwrap(),
                Victim::Gateway => gateway.kill().unwrap(),
            }
            killed = Some((at, wall_ns, term, node));
        }
        if let Some((at, _, _, node)) = killed
            && !restarted
        {
            restarted = restart(
                &mut cluster,
                victim,
                node,
                at,
                failover,
                &mut gateway,
                &where_gateway,
            );
        }
        std::thread::yield_now();
    }
    let acks = match fix.expect("the FIX session ran").join().unwrap() {
        Ok(acks) => acks,
        Err(e) => {
            let kept = keep_files(dir.path(), seed);
            panic!(
                "{victim:?} trial {seed}: the FIX session: {e:#} (files in {})",
                kept.display()
            );
        }
    };
    let replay = check(&mut cluster, &acks, fix_orders, victim, seed);
    let (at, wall_ns, _, node) = killed.expect("killed");
    matches!(victim, Victim::Primary | Victim::HungPrimary)
        .then(|| measured_failover(&replay, &first_event, (at, wall_ns), node))
}

/// A failover: from the signal to the new primary's first event, and to the role change's
/// sequencer timestamp (the detection part).
#[derive(Debug, Clone, Copy)]
struct Failover {
    total: Duration,
    sequenced: Duration,
}

/// Kill to the first event of the first term, after the kill, whose primary is another node
/// (heartbeats can be a little stale, so the term at the kill is taken from the journal).
fn measured_failover(
    replay: &lockstep::local::Replay,
    first_event: &BTreeMap<u64, Instant>,
    (at, wall_ns): (Instant, u64),
    killed: u32,
) -> Failover {
    let (term, stamp) = replay
        .commands
        .iter()
        .filter_map(|s| match &s.command {
            Command::RoleChange(r) if r.primary.0 != killed => Some((r.term.0, s.timestamp.0)),
            _ => None,
        })
        .filter(|(term, _)| first_event.get(term).is_some_and(|t| *t > at))
        .min()
        .expect("a new primary published after the kill");
    Failover {
        total: first_event[&term] - at,
        sequenced: Duration::from_nanos(stamp.saturating_sub(wall_ns)),
    }
}

/// Copies a failed trial's files (configuration, journal, every process's log) where they
/// outlive the test.
fn keep_files(dir: &std::path::Path, seed: u64) -> std::path::PathBuf {
    let kept = std::env::temp_dir().join(format!("fault-trial-{seed}"));
    let _ = std::process::Command::new("cp")
        .arg("-r")
        .arg(dir)
        .arg(&kept)
        .status();
    kept
}

/// Brings the victim back when it is time; returns whether it did.
fn restart(
    cluster: &mut LocalCluster,
    victim: Victim,
    node: u32,
    at: Instant,
    failover: Option<Duration>,
    gateway: &mut lockstep::local::Proc,
    where_gateway: &Arc<Mutex<SocketAddr>>,
) -> bool {
    match victim {
        // The old primary comes back once the backup serves: it rejoins as backup.
        Victim::Primary | Victim::HungPrimary if failover.is_none() => false,
        Victim::HungPrimary => {
            cluster.engines[&node].signal("-CONT").unwrap();
            true
        }
        Victim::Primary | Victim::Backup => {
            if at.elapsed() < Duration::from_millis(200) {
                return false;
            }
            cluster.kill_engine(node).unwrap();
            cluster.start_engine(node).unwrap();
            true
        }
        Victim::Sequencer => {
            if cluster.ingress_connected() {
                return false; // the driver has not dropped the dead one yet
            }
            cluster.start_sequencer().unwrap();
            true
        }
        Victim::Gateway => {
            let (proc, addr) = cluster.start_gateway().unwrap();
            *gateway = proc;
            *where_gateway.lock().unwrap() = addr;
            true
        }
    }
}

fn check(
    cluster: &mut LocalCluster,
    acks: &BTreeMap<String, u32>,
    fix_orders: u64,
    victim: Victim,
    seed: u64,
) -> lockstep::local::Replay {
    let what = format!("{victim:?} trial {seed}");
    let (replay, finals) = cluster.finish().unwrap_or_else(|e| panic!("{what}: {e:#}"));
    assert_eq!(finals.len(), 2, "{what}: both engines ran to the end");
    assert!(
        cluster.consumer.delivered == replay.events,
        "{what}: every event once and in order ({} delivered, {} in the replay)",
        cluster.consumer.delivered.len(),
        replay.events.len()
    );
    assert_eq!(acks.len(), usize::try_from(fix_orders).unwrap(), "{what}");
    assert!(acks.values().all(|&n| n == 1), "{what}: an ack twice");
    let fix_journaled = journal_commands(&cluster.journal_dir())
        .unwrap()
        .iter()
        .filter(|s| matches!(&s.command, Command::NewOrder(o) if o.origin.session == SessionId(1)))
        .count();
    assert_eq!(
        fix_journaled,
        usize::try_from(fix_orders).unwrap(),
        "{what}: each FIX order sequenced once"
    );
    replay
}

fn run_trials(victim: Victim, stream_base: i32) -> Vec<Failover> {
    let trials = env_u64("LOCKSTEP_FAULT_TRIALS", 1);
    let seed = env_u64("LOCKSTEP_FAULT_SEED", 7);
    (0..trials)
        .filter_map(|i| trial(victim, mix(seed ^ i), stream_base))
        .collect()
}

#[test]
fn sigkill_of_the_primary() {
    report_failovers("SIGKILL", run_trials(Victim::Primary, 4400));
}

/// A hung process keeps its liveness link open: the heartbeat timeout has to fail it over
/// (`measured_failover` requires that a new primary published).
#[test]
fn sigstop_of_the_primary() {
    report_failovers("SIGSTOP", run_trials(Victim::HungPrimary, 4440));
}

fn report_failovers(kind: &str, failovers: Vec<Failover>) {
    assert!(!failovers.is_empty(), "every primary trial fails over");
    let n = failovers.len();
    let mut total: Vec<Duration> = failovers.iter().map(|f| f.total).collect();
    let mut sequenced: Vec<Duration> = failovers.iter().map(|f| f.sequenced).collect();
    say(&format!(
        "{kind}: failover over {n} trials (replica timeout {REPLICA_TIMEOUT}): {}; \
         kill -> role change sequenced: {}",
        distribution(&mut total),
        distribution(&mut sequenced)
    ));
}

/// "p50 .. ms, p99 .. ms, max .. ms; all: ..." of some durations.
fn distribution(ds: &mut [Duration]) -> String {
    ds.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |q: usize| ms(ds[(ds.len() - 1) * q / 100]);
    let all: Vec<String> = ds.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; all: {}",
        at(50),
        at(99),
        at(100),
        all.join(" ")
    )
}

#[test]
fn sigkill_of_the_backup() {
    run_trials(Victim::Backup, 4410);
}

#[test]
fn sigkill_of_the_sequencer() {
    run_trials(Victim::Sequencer, 4420);
}

#[test]
fn sigkill_of_the_gateway() {
    run_trials(Victim::Gateway, 4430);
}

#[allow(
    clippy::print_stdout,
    reason = "the distribution is the campaign's report"
)]
fn say(line: &str) {
    println!("{line}");
}
