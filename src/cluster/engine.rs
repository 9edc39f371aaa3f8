//! `lockstep engine --node N`: a replica agent over Aeron, catching up from the co-located
//! journal, until a signal. On a clean stop it prints one line to stdout:
//! `final node=N applied_seq=S term=T role=R state_hash=0x...` (for scripts and tests).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use protocol::NodeId;
use replica::{AgentPaths, AgentStreams, ReplicaAgent, ReplicaConfig};
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
    serve(&config, node, &stop)
}

/// Waits until the journal can be read (or is being created). `Ok(false)`: stopped meanwhile.
fn wait_for_journal(dir: &Path, stop: &StopFlag) -> anyhow::Result<bool> {
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

fn serve(config: &ClusterConfig, node: NodeId, stop: &StopFlag) -> anyhow::Result<()> {
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
            seen = (replica.term(), replica.role());
            tracing::info!(
                node = node.0,
                term = seen.0.0,
                role = ?seen.1,
                applied_seq = replica.applied().0,
                "role change applied"
            );
        }
        idle.idle(work);
    }
    let replica = agent.replica();
    let stats = agent.stats();
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
    writeln!(std::io::stdout().lock(), "{line}").context("writing the final line")?;
    drop(agent);
    drop(client);
    Ok(())
}
