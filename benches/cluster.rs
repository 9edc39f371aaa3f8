//! `cargo bench -p lockstep --bench cluster [-- --rtt-samples N --seconds S --rate R --kills K
//! --idle backoff|yield|busy-spin --replica-timeout 50ms --heartbeat 5ms]`: the whole cluster
//! against raw Aeron, in one run.
//!
//! 1. Raw: a ring of three Aeron IPC hops (`transport::run_ring`), the same number of hops as
//!    the cluster's path, with the same idle strategy: the baseline.
//! 2. Round trip: one command at a time through real processes (`lockstep::local`): client ->
//!    ingress -> sequencer (journal, `group` policy) -> sequenced stream -> primary engine ->
//!    egress -> client, with the backup applying too.
//! 3. Throughput: the flow offered open loop at `--rate` for `--seconds`; percentiles count
//!    from when each command was due (no coordinated omission).
//! 4. Failover: `--kills` times, SIGKILL the primary under a light flow and time the kill to
//!    the first event from the promoted backup; restart the killed engine (it rejoins as
//!    backup) before the next kill.
//!
//! Histograms go to `.hgrm` files under the bench's target temp dir; the last line is
//! `RESULT cluster rtt_p50_us=.. rtt_p99_us=.. rtt_ratio_vs_raw_aeron=.. throughput_cps=..
//! failover_ms=..` (failover_ms: the slowest of the kills).
#![allow(clippy::print_stdout, reason = "a benchmark's report")]
#![allow(clippy::cast_precision_loss, reason = "displayed figures")]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use hdrhistogram::Histogram;
use lockstep::local::latency::{micros, write_hgrm};
use lockstep::local::{DriverHost, LocalCluster, OpenLoop, Settings};
use protocol::ReplicaRole;
use transport::{DriverConfig, IdleConfig, IdleStrategy as _, MediaDriver, RingConfig};
use workload::{Flow, FlowConfig};

#[derive(Debug)]
struct Options {
    rtt_samples: u64,
    seconds: u64,
    rate: u64,
    kills: usize,
    idle: String,
    replica_timeout: String,
    heartbeat: String,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options {
        rtt_samples: 20_000,
        seconds: 10,
        rate: 100_000,
        kills: 5,
        idle: "backoff".into(),
        replica_timeout: "50ms".into(),
        heartbeat: "5ms".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--rtt-samples" => o.rtt_samples = value()?.parse()?,
            "--seconds" => o.seconds = value()?.parse()?,
            "--rate" => o.rate = value()?.parse()?,
            "--kills" => o.kills = value()?.parse()?,
            "--idle" => o.idle = value()?,
            "--replica-timeout" => o.replica_timeout = value()?,
            "--heartbeat" => o.heartbeat = value()?,
            _ => {} // `cargo bench` passes `--bench` and perhaps a filter
        }
    }
    ensure!(
        o.rate > 0 && o.seconds > 0 && o.rtt_samples > 0,
        "zero rate, seconds or samples"
    );
    Ok(o)
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static bounds")
}

/// The raw baseline: three IPC hops on an embedded driver of its own.
fn raw_ring(o: &Options, idle: IdleConfig) -> anyhow::Result<Histogram<u64>> {
    let driver = MediaDriver::launch(&DriverConfig::default())?;
    let mut h = histogram();
    let config = RingConfig {
        hops: 3,
        idle,
        first_stream: 7100,
    };
    transport::run_ring(
        driver.dir(),
        config,
        o.rtt_samples / 10,
        o.rtt_samples,
        |ns| {
            h.saturating_record(ns);
        },
    )?;
    driver.close()?;
    Ok(h)
}

/// Services the cluster until the load is answered (bounded).
fn settle(
    cluster: &mut LocalCluster,
    load: &mut OpenLoop,
    idle: &mut transport::Idle,
) -> anyhow::Result<()> {
    let deadline = load.last_due() + Duration::from_secs(60);
    while !load.is_done() {
        ensure!(
            Instant::now() < deadline,
            "{} commands unanswered",
            load.latency().outstanding()
        );
        let mut work = load.offer_due(cluster)?;
        work += cluster.service_with(|e| load.on_event(e, Instant::now()))?;
        idle.idle(work);
    }
    Ok(())
}

/// One command at a time: `samples` round trips after a tenth as many to warm up.
fn round_trips(
    cluster: &mut LocalCluster,
    load: &mut OpenLoop,
    samples: u64,
    idle: &mut transport::Idle,
) -> anyhow::Result<Histogram<u64>> {
    for i in 0..samples + samples / 10 {
        if i == samples / 10 {
            let _warmup = load.take_histogram();
        }
        load.continue_at(1, 1);
        settle(cluster, load, idle)?;
    }
    Ok(load.take_histogram())
}

/// Commands a settled backup may be behind the primary (its heartbeats are 5 ms apart).
const SETTLED_LAG_MAX: u64 = 500;

/// Both engines report the same term, one as primary and one as backup, and the backup has
/// caught up: a restarted engine replaying the journal is not yet a backup to fail over to
/// (promoted, it would first have to finish catching up).
fn settled(cluster: &LocalCluster) -> bool {
    let (Some(a), Some(b)) = (cluster.statuses.get(&1), cluster.statuses.get(&2)) else {
        return false;
    };
    let roles = [a.role, b.role];
    a.term == b.term
        && roles.contains(&ReplicaRole::Primary)
        && roles.contains(&ReplicaRole::Backup)
        && a.applied_seq.0.abs_diff(b.applied_seq.0) <= SETTLED_LAG_MAX
}

/// Kills the primary `kills` times under a light flow; returns each kill-to-first-event time.
fn failovers(
    cluster: &mut LocalCluster,
    load: &mut OpenLoop,
    kills: usize,
    idle: &mut transport::Idle,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::new();
    load.continue_at(5_000, u64::MAX / 2);
    while times.len() < kills {
        // Steady: for 300 ms, both engines heard in the same term, one primary, one backup
        // (a restarted engine first reports its old role: wait for its new heartbeats).
        let steady_since = Instant::now();
        while Instant::now() < steady_since + Duration::from_millis(300) || !settled(cluster) {
            let work = load.offer_due(cluster)?
                + cluster.service_with(|e| load.on_event(e, Instant::now()))?;
            idle.idle(work);
        }
        let (node, term) = cluster.primary().context("no primary")?;
        // Signal only: the dead engine is reaped after the failover (below), so this loop
        // reads egress while the kernel tears it down.
        let killed = Instant::now();
        cluster
            .engines
            .get_mut(&node)
            .context("the primary's process")?
            .kill_now()?;
        let mut first = None;
        let deadline = killed + Duration::from_secs(30);
        while first.is_none() {
            ensure!(
                Instant::now() < deadline,
                "no event from a new primary after killing {node}"
            );
            let mut work = load.offer_due(cluster)?;
            work += cluster.service_with(|e| {
                let now = Instant::now();
                load.on_event(e, now);
                if e.prefix.term > term && first.is_none() {
                    first = Some(now.duration_since(killed));
                }
            })?;
            idle.idle(work);
        }
        let took = first.unwrap_or_default();
        println!(
            "kill {}: engine {node} (term {}) -> first event of term {}: {:.2} ms",
            times.len() + 1,
            term.0,
            term.0 + 1,
            took.as_secs_f64() * 1e3
        );
        times.push(took);
        cluster.kill_engine(node)?;
        cluster.start_engine(node)?;
    }
    load.stop_sending();
    settle(cluster, load, idle)?;
    Ok(times)
}

fn report(name: &str, h: &Histogram<u64>, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join(format!("{name}.hgrm"));
    write_hgrm(h, &path)?;
    println!(
        "{name}: {} samples, p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, p99.9 {:.1} us, max {:.1} us ({})",
        h.len(),
        micros(h, 0.5),
        micros(h, 0.9),
        micros(h, 0.99),
        micros(h, 0.999),
        micros(h, 1.0),
        path.display()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let o = options()?;
    let idle: IdleConfig = o.idle.parse().map_err(|e| anyhow::anyhow!("--idle: {e}"))?;
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cluster-bench");
    std::fs::create_dir_all(&out)?;
    println!(
        "cluster bench: {o:?}, {} cores",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    let raw = raw_ring(&o, idle)?;
    report("raw_aeron_3_hops", &raw, &out)?;

    let dir = tempfile::tempdir()?;
    let settings = Settings {
        driver: DriverHost::Embedded,
        durability: "group".into(),
        replica_timeout: o.replica_timeout.clone(),
        heartbeat_interval: o.heartbeat.clone(),
        timer_interval: "10ms".into(),
        snapshot_interval: 1_000_000,
        hash_interval: 1024,
        idle: o.idle.clone(),
        keep_events: false,
        ..Settings::new(
            env!("CARGO_BIN_EXE_lockstep").into(),
            transport::unique_aeron_dir("bench"),
            1000,
        )
    };
    let mut cluster = LocalCluster::start(settings, dir.path())?;
    let mut load = OpenLoop::new(Flow::new(FlowConfig::default()), 1, 0);
    let mut spin = idle.build();
    let rtt = round_trips(&mut cluster, &mut load, o.rtt_samples, &mut spin)?;
    report("cluster_round_trip", &rtt, &out)?;

    load.continue_at(o.rate, o.rate * o.seconds);
    let started = Instant::now();
    settle(&mut cluster, &mut load, &mut spin)?;
    let throughput = (o.rate * o.seconds) as f64 / started.elapsed().as_secs_f64();
    let loaded = load.take_histogram();
    report("cluster_open_loop", &loaded, &out)?;
    println!(
        "throughput: {throughput:.0} commands/s answered (offered {}/s for {} s)",
        o.rate, o.seconds
    );

    let times = failovers(&mut cluster, &mut load, o.kills, &mut spin)?;
    let worst = times.iter().max().copied().unwrap_or_default();
    let (_replay, finals) = cluster.finish()?;
    println!(
        "final hashes agree with the offline replay: {:?}",
        finals
            .values()
            .map(|f| format!("{:#x}", f.hash))
            .collect::<Vec<_>>()
    );
    cluster.shutdown()?;

    let (p50, p99) = (micros(&rtt, 0.5), micros(&rtt, 0.99));
    println!(
        "RESULT cluster rtt_p50_us={p50:.1} rtt_p99_us={p99:.1} rtt_ratio_vs_raw_aeron={:.2} throughput_cps={throughput:.0} failover_ms={:.1}",
        p50 / micros(&raw, 0.5).max(1e-3),
        worst.as_secs_f64() * 1e3
    );
    Ok(())
}
