//! `lockstep demo`: the whole cluster on this machine, as separate processes over an embedded
//! Aeron media driver. It starts `lockstep sequencer`, two `lockstep engine`s (primary and
//! backup) and `lockstep gateway`, offers a generated multi-instrument order flow at a fixed
//! rate for a few seconds as a gateway would while two FIX sessions trade through the real
//! gateway, SIGKILLs the primary halfway, measures how long until the promoted backup's
//! first event, restarts the old primary (it rejoins as backup), and ends with throughput, HDR
//! latency percentiles, and the state hashes of both engines and of an offline replay of the
//! journal, which must all be equal.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use lockstep::local::fix_load::{self, LoadReport};
use lockstep::local::latency::{micros, write_hgrm};
use lockstep::local::{DriverHost, LocalCluster, OpenLoop, Replay, Settings};
use protocol::Term;
use transport::{IdleConfig, IdleStrategy as _};
use workload::{Flow, FlowConfig};

/// Options of `lockstep demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Seconds of order flow.
    #[arg(long, default_value_t = 6)]
    seconds: u64,
    /// Commands offered per second (open loop: each command is due at a fixed time, and its
    /// latency counts from then, so a stall counts against everything behind it).
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Seed of the generated flow.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Do not kill the primary.
    #[arg(long)]
    no_kill: bool,
    /// A primary silent this long is replaced (sequencer.replica_timeout).
    #[arg(long, default_value = "50ms")]
    replica_timeout: String,
    /// Engines heartbeat this often (engine.heartbeat_interval).
    #[arg(long, default_value = "5ms")]
    heartbeat_interval: String,
    /// Commands between snapshot markers (sequencer.snapshot_interval; 0: none). Default: one
    /// second of flow, so the restarted primary starts from a snapshot.
    #[arg(long)]
    snapshot_interval: Option<u64>,
    /// Journal durability: none | group | every.
    #[arg(long, default_value = "group")]
    durability: String,
    /// Idle strategy of every process and of this client: backoff | yield | busy-spin.
    #[arg(long, default_value = "backoff")]
    idle: String,
    /// Keep the cluster's files (configuration, journal, snapshots, process logs) in this new
    /// directory. Default: a temporary directory, removed at the end.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Write the round-trip latency histogram here (HdrHistogram `.hgrm` text, microseconds).
    #[arg(long)]
    hgrm: Option<PathBuf>,
}

/// What the load phase measured.
struct Run {
    sent: u64,
    elapsed: Duration,
    load: OpenLoop,
    kill: Option<Kill>,
    fix: LoadReport,
}

/// FIX sessions of the default `[gateway]` section that the demo drives.
const FIX_SESSIONS: [&str; 2] = ["CLIENT1", "CLIENT2"];
/// Orders a second each FIX session sends.
const FIX_RATE_PER_S: u64 = 200;
/// The FIX sessions start this long into the flow (its first commands define the venue).
const FIX_START: Duration = Duration::from_millis(300);

struct Kill {
    node: u32,
    term: Term,
    at: Duration,
    failover: Option<Duration>,
    rejoined: bool,
}

pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    ensure!(
        args.rate > 0 && args.seconds > 0,
        "--rate and --seconds must be positive"
    );
    let idle: IdleConfig = args
        .idle
        .parse()
        .map_err(|e| anyhow::anyhow!("--idle: {e}"))?;
    let (dir, _temp) = match &args.dir {
        Some(dir) => {
            ensure!(
                !dir.exists(),
                "{} exists: the demo needs a new directory",
                dir.display()
            );
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::tempdir().context("creating a temporary directory")?;
            (temp.path().to_owned(), Some(temp))
        }
    };
    let settings = Settings {
        driver: DriverHost::Embedded,
        durability: args.durability.clone(),
        replica_timeout: args.replica_timeout.clone(),
        heartbeat_interval: args.heartbeat_interval.clone(),
        timer_interval: "10ms".into(),
        snapshot_interval: args.snapshot_interval.unwrap_or(args.rate),
        hash_interval: 1024,
        idle: args.idle.clone(),
        keep_events: false,
        ..Settings::new(
            std::env::current_exe().context("finding the lockstep executable")?,
            transport::unique_aeron_dir("lockstep-demo"),
            1000,
        )
    };
    say(&format!("cluster files in {}", dir.display()));
    let mut cluster = LocalCluster::start(settings, &dir).context("starting the cluster")?;
    let (gateway, addr) = cluster.start_gateway().context("starting the gateway")?;
    describe(&cluster, &gateway, addr);
    let run = drive(&mut cluster, args, idle, addr)?;
    drop(gateway);
    let (replay, finals) = cluster.finish().context("stopping the cluster")?;
    report(args, &run, &replay, &finals)?;
    cluster.shutdown()
}

fn describe(cluster: &LocalCluster, gateway: &lockstep::local::Proc, addr: std::net::SocketAddr) {
    let pid = |p: Option<&lockstep::local::Proc>| p.map_or(0, lockstep::local::Proc::pid);
    let role = |node: u32| {
        cluster
            .statuses
            .get(&node)
            .map_or("?".into(), |s| format!("{:?} in term {}", s.role, s.term.0))
    };
    say(&format!(
        "running: embedded media driver, sequencer (pid {}), engine 1 (pid {}, {}), engine 2 \
         (pid {}, {}), FIX gateway (pid {}, {addr})",
        pid(cluster.sequencer.as_ref()),
        pid(cluster.engines.get(&1)),
        role(1),
        pid(cluster.engines.get(&2)),
        role(2),
        gateway.pid(),
    ));
}

/// Offers the flow at the configured rate, killing the primary halfway and restarting it once
/// the backup serves; returns when every command is answered.
fn drive(
    cluster: &mut LocalCluster,
    args: &DemoArgs,
    idle: IdleConfig,
    gateway: std::net::SocketAddr,
) -> anyhow::Result<Run> {
    // The flow's sessions leave 1 and 2 to the gateway's FIX sessions.
    let flow = Flow::new(FlowConfig {
        seed: args.seed,
        first_session: 1 + u32::try_from(FIX_SESSIONS.len()).expect("two sessions"),
        ..FlowConfig::default()
    });
    let mut load = OpenLoop::new(flow, args.rate, args.rate * args.seconds);
    let start = Instant::now();
    let deadline = load.last_due() + Duration::from_secs(60);
    let (mut kill, mut idle) = (None, idle.build());
    let mut fix = None;
    while !load.is_done() || fix.as_ref().is_some_and(|f: &FixThread| !f.is_finished()) {
        let unanswered = load.latency().outstanding();
        ensure!(
            Instant::now() < deadline,
            "{unanswered} commands were never answered"
        );
        let mut work = load.offer_due(cluster)?;
        work += cluster.service_with(|e| {
            let now = Instant::now();
            load.on_event(e, now);
            if let Some(k) = kill.as_mut().filter(|k: &&mut Kill| e.prefix.term > k.term) {
                failover(k, start, now);
            }
        })?;
        if fix.is_none() && start.elapsed() >= FIX_START {
            fix = Some(start_fix(gateway, args));
        }
        if !args.no_kill && kill.is_none() && load.is_halfway() {
            kill = Some(kill_primary(cluster, start)?);
        }
        if let Some(k) = kill.as_mut() {
            rejoin(cluster, k, start)?;
        }
        idle.idle(work);
    }
    let fix = fix
        .context("the flow ended before the FIX sessions started")?
        .join()
        .map_err(|_| anyhow::anyhow!("the FIX sessions' thread panicked"))?
        .context("the FIX sessions")?;
    Ok(Run {
        sent: load.sent(),
        elapsed: load.elapsed(),
        kill,
        load,
        fix,
    })
}

type FixThread = std::thread::JoinHandle<anyhow::Result<LoadReport>>;

/// The FIX sessions: paced orders through the gateway until shortly before the flow ends.
fn start_fix(gateway: std::net::SocketAddr, args: &DemoArgs) -> FixThread {
    let span = Duration::from_secs(args.seconds).saturating_sub(FIX_START * 2);
    let orders = (u64::try_from(span.as_millis()).unwrap_or(0) * FIX_RATE_PER_S / 1000).max(1);
    let sessions: Vec<String> = FIX_SESSIONS.iter().map(|s| (*s).to_owned()).collect();
    std::thread::spawn(move || {
        fix_load::run_paced(gateway, &sessions, "LOCKSTEP", orders, 1, FIX_RATE_PER_S)
    })
}

fn kill_primary(cluster: &mut LocalCluster, start: Instant) -> anyhow::Result<Kill> {
    let (node, term) = cluster
        .primary()
        .context("no engine reports itself primary")?;
    let proc = cluster
        .engines
        .get_mut(&node)
        .context("the primary's process")?;
    let pid = proc.pid();
    // Signal only: the dead engine is reaped when it rejoins, so egress keeps being read while
    // the kernel tears it down.
    let at = start.elapsed();
    proc.kill_now()?;
    say(&format!(
        "{:7.3} s  SIGKILL engine {node}, the primary in term {} (pid {pid})",
        at.as_secs_f64(),
        term.0
    ));
    Ok(Kill {
        node,
        term,
        at,
        failover: None,
        rejoined: false,
    })
}

fn failover(kill: &mut Kill, start: Instant, now: Instant) {
    if kill.failover.is_none() {
        let after = now.duration_since(start).saturating_sub(kill.at);
        kill.failover = Some(after);
        say(&format!(
            "{:7.3} s  first event from the backup, promoted to primary in term {}: {:.1} ms after \
             the kill",
            (kill.at + after).as_secs_f64(),
            kill.term.0 + 1,
            after.as_secs_f64() * 1e3
        ));
    }
}

/// Restarts the killed primary half a second after the failover: it rejoins as backup.
fn rejoin(cluster: &mut LocalCluster, kill: &mut Kill, start: Instant) -> anyhow::Result<()> {
    let Some(failover) = kill.failover else {
        return Ok(());
    };
    if kill.rejoined || start.elapsed() < kill.at + failover + Duration::from_millis(500) {
        return Ok(());
    }
    cluster.kill_engine(kill.node)?;
    cluster.start_engine(kill.node)?;
    kill.rejoined = true;
    say(&format!(
        "{:7.3} s  engine {} restarted: it loads its newest snapshot, replays the journal's tail \
         and rejoins as backup",
        start.elapsed().as_secs_f64(),
        kill.node
    ));
    Ok(())
}

fn report(
    args: &DemoArgs,
    run: &Run,
    replay: &Replay,
    finals: &std::collections::BTreeMap<u32, lockstep::local::Final>,
) -> anyhow::Result<()> {
    let secs = run.elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss, reason = "a displayed rate")]
    let rate = run.sent as f64 / secs;
    say(&format!(
        "throughput: {} commands in {secs:.2} s = {rate:.0} commands/s (offered {}/s); journal: {} \
         records, {} events",
        run.sent,
        args.rate,
        replay.last_seq.0,
        replay.events.len()
    ));
    let h = run.load.latency().histogram();
    say(&format!(
        "round trip (gateway -> sequencer -> journal -> primary -> gateway), from when each \
         command was due, {} answered: p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, p99.9 {:.0} us, \
         max {:.0} us",
        h.len(),
        micros(h, 0.5),
        micros(h, 0.9),
        micros(h, 0.99),
        micros(h, 0.999),
        micros(h, 1.0)
    ));
    if let Some(path) = &args.hgrm {
        write_hgrm(h, path)?;
        say(&format!("latency histogram written to {}", path.display()));
    }
    let h = &run.fix.histogram;
    say(&format!(
        "FIX: {} sessions through the gateway, {} orders, every one acknowledged (each session's \
         reports in order, no sequence gap, across the failover): order -> ack p50 {:.0} us, \
         p99 {:.0} us, max {:.0} us",
        FIX_SESSIONS.len(),
        run.fix.orders,
        micros(h, 0.5),
        micros(h, 0.99),
        micros(h, 1.0)
    ));
    if let Some(kill) = &run.kill {
        let Some(failover) = kill.failover else {
            bail!("the primary was killed but no event from a new primary arrived");
        };
        say(&format!(
            "failover: kill -> first event from the new primary {:.1} ms (found by its liveness \
             link; a hung primary would be found by the replica timeout, {})",
            failover.as_secs_f64() * 1e3,
            args.replica_timeout
        ));
    }
    for (node, f) in finals {
        say(&format!(
            "engine {node}: {} in term {}, applied seq {}, state hash {:#034x}",
            f.role, f.term, f.applied_seq, f.hash
        ));
    }
    say(&format!(
        "offline replay of the journal: seq {}, state hash {:#034x}: all equal",
        replay.last_seq.0, replay.hash
    ));
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the demo's output is its report")]
fn say(line: &str) {
    println!("{line}");
}
