//! `lockstep engine --node N`: a replica agent over Aeron, catching up from the co-located
//! journal, until a signal. On a clean stop it prints one line to stdout:
//! `final node=N applied_seq=S term=T role=R state_hash=0x...` (for scripts and tests).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use protocol::{NodeId, ReplicaRole, Seq};
use replica::{AgentPaths, AgentStats, AgentStreams, Replica, ReplicaAgent, ReplicaConfig};
use transport::{Backoff, IdleStrategy as _, StopFlag, SystemClock};

use super::config::{ClusterConfig, Override, StreamSettings, nanos};
use super::{CommonArgs, connect, init_tracing, publication, stop_on_signals, subscription};

/// How long an engine waits for the sequencer to create the journal it catches up from.
const JOURNAL_WAIT: Duration = Duration::from_secs(30);

/// `lockstep engine`.
#[derive(Debug, Args)]
pub(crate) struct EngineArgs {
    /// This engine's node id (one of sequencer.replicas).
    #[arg(long)]
    node: u32,
    #[command(flatten)]
    common: CommonArgs,
    /// engine.snapshots_dir ("{node}" is replaced by the node id).
    #[arg(long)]
    snapshots_dir: Option<String>,
    /// engine.hash_interval.
    #[arg(long)]
    hash_interval: Option<u64>,
    /// Fault injection for drills and tests: after applying SEQ, this engine alone perturbs its
    /// state (docs/cluster.md, "Divergence detection"). Never in production.
    #[arg(long, hide = true, value_name = "SEQ")]
    fault_diverge_at: Option<u64>,
}

pub(crate) fn run(args: &EngineArgs) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    if let Some(dir) = &args.snapshots_dir {
        let value = toml::Value::String(dir.clone());
        extra.push(Override {
            key: "engine.snapshots_dir",
            flag: "snapshots-dir",
            value,
        });
    }
    if let Some(interval) = args.hash_interval {
        let value = toml::Value::Integer(i64::try_from(interval).context("--hash-interval")?);
        extra.push(Override {
            key: "engine.hash_interval",
            flag: "hash-interval",
            value,
        });
    }
    let config = args.common.load(extra)?;
    let node = NodeId(args.node);
    anyhow::ensure!(
        config.replicas.contains(&node),
        "node {} is not one of sequencer.replicas {:?}",
        node.0,
        config.replicas.iter().map(|n| n.0).collect::<Vec<_>>()
    );
    init_tracing(config.log_level);
    let stop = stop_on_signals()?;
    if config.journal_catch_up && !wait_for_journal(&config.journal_dir, &stop)? {
        return Ok(());
    }
    serve(&config, node, args.fault_diverge_at.map(Seq), &stop)
}

/// Waits until the journal can be read (or is being created). `Ok(false)`: stopped meanwhile.
pub(super) fn wait_for_journal(dir: &Path, stop: &StopFlag) -> anyhow::Result<bool> {
    let deadline = Instant::now() + JOURNAL_WAIT;
    let mut idle = Backoff::default();
    let mut logged = false;
    loop {
        match journal::Reader::open(dir) {
            Ok(_) | Err(journal::ReadError::NotYetWritten { .. }) => return Ok(true),
            Err(error) if Instant::now() >= deadline => {
                return Err(error)
                    .with_context(|| format!("opening the journal in {}", dir.display()));
            }
            Err(_) if !logged => {
                tracing::info!(journal = %dir.display(), "waiting for the sequencer's journal");
                logged = true;
            }
            Err(_) => {}
        }
        if stop.is_stopped() {
            return Ok(false);
        }
        idle.idle(0);
    }
}

/// The sequenced stream as an engine subscribes to it: untethered, so a dead or stalled engine
/// never holds the sequencer back (it is dropped, rejoins, and catches up from the journal).
fn untethered(stream: &StreamSettings) -> StreamSettings {
    StreamSettings {
        channel: stream.channel.clone().with("tether", "false"),
        stream_id: stream.stream_id,
    }
}

fn serve(
    config: &ClusterConfig,
    node: NodeId,
    fault_at: Option<Seq>,
    stop: &StopFlag,
) -> anyhow::Result<()> {
    if let Some(address) = config.liveness {
        super::sentinel::watch_engine(address, node);
    }
    let client = connect(config, &format!("lockstep-engine-{}", node.0))?;
    let s = &config.streams;
    let streams = AgentStreams {
        sequenced: subscription(&client, &untethered(&s.sequenced), "sequenced")?,
        acks: subscription(&client, &s.acks, "acks")?,
        egress: publication(&client, &s.egress, "egress")?,
        status: publication(&client, &s.status, "status")?,
    };
    let replica_config = ReplicaConfig {
        hash_interval: config.hash_interval,
        heartbeat_interval_ns: nanos(config.heartbeat_interval),
        ..ReplicaConfig::new(node)
    };
    let paths = AgentPaths {
        journal: config.journal_catch_up.then(|| config.journal_dir.clone()),
        snapshots: Some(config.snapshots_dir(node)),
    };
    let mut agent = ReplicaAgent::open(replica_config, paths, SystemClock, streams)
        .context("starting the replica (snapshot and journal catch-up)")?;
    if let Some(seq) = fault_at {
        agent.fault_inject_divergence_at(seq);
        tracing::warn!(
            node = node.0,
            seq = seq.0,
            "fault injection armed: this engine will diverge after applying seq"
        );
    }
    let start = agent.replica();
    tracing::info!(
        node = node.0,
        applied_seq = start.applied().0,
        term = start.term().0,
        "engine running"
    );
    let mut idle = config.idle.build();
    let mut seen = (start.term(), start.role());
    while !stop.is_stopped() {
        let work = agent.do_work().context("engine duty cycle")?;
        let replica = agent.replica();
        if (replica.term(), replica.role()) != seen {
            log_role_change(node, seen.1, replica);
            seen = (replica.term(), replica.role());
        }
        idle.idle(work);
    }
    report_stop(node, agent.replica(), agent.stats())?;
    drop(agent);
    drop(client);
    Ok(())
}

/// Logs the counters and prints the `final ...` line.
fn report_stop(node: NodeId, replica: &Replica, stats: AgentStats) -> anyhow::Result<()> {
    tracing::info!(
        node = node.0,
        applied_live = stats.applied_live,
        applied_from_journal = stats.applied_from_journal,
        published = stats.published,
        snapshots = stats.snapshots,
        "engine stopped"
    );
    let line = format!(
        "final node={} applied_seq={} term={} role={:?} state_hash={:#034x}",
        node.0,
        replica.applied().0,
        replica.term().0,
        replica.role(),
        replica.state_hash().0
    );
    writeln!(std::io::stdout().lock(), "{line}").context("writing the final line")
}

/// A new term or role; turning `Diverged` is an error an operator must see.
fn log_role_change(node: NodeId, before: ReplicaRole, replica: &Replica) {
    let (term, role, applied_seq) = (replica.term().0, replica.role(), replica.applied().0);
    match replica.diverged_at() {
        Some((seq, mine)) if before != ReplicaRole::Diverged => tracing::error!(
            node = node.0,
            term,
            seq = seq.0,
            state_hash = %format_args!("{:#034x}", mine.0),
            applied_seq,
            "diverged: the state hash at seq differs from the auditor's reference; stopped serving"
        ),
        _ => tracing::info!(node = node.0, term, role = ?role, applied_seq, "role change applied"),
    }
}
