//! `lockstep liveness-sentinel` (hidden): the small process that holds an engine's liveness
//! link and closes it the moment the engine dies (the `liveness` crate; `docs/cluster.md`,
//! "Failure detection"). Engines start their own; nobody runs it by hand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context as _;
use clap::Args;
use liveness::{DeathWatch, Watched};
use protocol::NodeId;

use super::init_tracing;

/// `lockstep liveness-sentinel`.
#[derive(Debug, Args)]
pub(crate) struct SentinelArgs {
    /// The engine's shared page (`/proc/<engine pid>/fd/<fd>`).
    #[arg(long)]
    page: PathBuf,
    /// The sequencer's liveness listener (sequencer.liveness).
    #[arg(long)]
    sequencer: SocketAddr,
    /// The engine's node id.
    #[arg(long)]
    node: u32,
}

pub(crate) fn run(args: &SentinelArgs) -> anyhow::Result<()> {
    init_tracing(tracing::Level::INFO);
    // Only the engine's death ends a sentinel: a Ctrl-C for the whole terminal must not close
    // the link of an engine that is still stopping.
    ctrlc::set_handler(|| {}).context("ignoring interrupts")?;
    let node = NodeId(args.node);
    let watched = liveness::run_sentinel(&args.page, args.sequencer, node).with_context(|| {
        format!(
            "watching engine {} through {}",
            args.node,
            args.page.display()
        )
    })?;
    match watched {
        Watched::EngineDied => tracing::warn!(node = node.0, "engine died: liveness link closed"),
        Watched::EngineGone => tracing::info!(node = node.0, "engine gone: liveness link closed"),
    }
    Ok(())
}

/// Starts this engine's sentinel (and restarts it while the engine lives). Without one the
/// engine still runs: heartbeats alone then find it dead, after `replica_timeout`.
pub(crate) fn watch_engine(sequencer: SocketAddr, node: NodeId) {
    let started = std::env::current_exe()
        .context("finding the lockstep executable")
        .and_then(|exe| {
            let watch = DeathWatch::create().context("creating the death watch")?;
            watch
                .keep_sentinel(move |page| {
                    let mut command = Command::new(&exe);
                    command
                        .arg("liveness-sentinel")
                        .arg("--page")
                        .arg(page)
                        .arg("--sequencer")
                        .arg(sequencer.to_string())
                        .arg("--node")
                        .arg(node.0.to_string())
                        .stdin(Stdio::null())
                        .stdout(Stdio::null());
                    command
                })
                .context("starting the sentinel keeper")
        });
    if let Err(e) = started {
        tracing::warn!(
            node = node.0,
            error = %format!("{e:#}"),
            "no liveness sentinel: a crash of this engine is found by the heartbeat timeout only"
        );
    }
}
