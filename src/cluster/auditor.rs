//! `lockstep auditor`: replays the co-located journal with an engine of its own, sends a
//! reference state hash to the engines at every checkpoint (on the acks stream), compares the
//! engines' reported checkpoints (from the status stream) with its own, and logs every
//! divergence at error level: `divergence detected node=N seq=S expected=0x.. reported=0x..`.
//! On a clean stop it first applies what the journal holds, then prints one line to stdout:
//! `final auditor applied_seq=S state_hash=0x...` (for scripts and tests).

use std::io::Write as _;

use anyhow::Context as _;
use clap::Args;
use replica::{AuditorAgent, AuditorConfig, AuditorStreams, Divergence};
use transport::{IdleStrategy as _, StopFlag};

use super::config::ClusterConfig;
use super::engine::wait_for_journal;
use super::{CommonArgs, connect, init_tracing, publication, stop_on_signals, subscription};

/// `lockstep auditor`.
#[derive(Debug, Args)]
pub(crate) struct AuditorArgs {
    #[command(flatten)]
    common: CommonArgs,
}

pub(crate) fn run(args: &AuditorArgs) -> anyhow::Result<()> {
    let config = args.common.load(Vec::new())?;
    init_tracing(config.log_level);
    let stop = stop_on_signals()?;
    if !wait_for_journal(&config.journal_dir, &stop)? {
        return Ok(());
    }
    serve(&config, &stop)
}

fn serve(config: &ClusterConfig, stop: &StopFlag) -> anyhow::Result<()> {
    let client = connect(config, "lockstep-auditor")?;
    let s = &config.streams;
    let streams = AuditorStreams {
        status: subscription(&client, &s.status, "status")?,
        references: publication(&client, &s.acks, "acks (reference hashes)")?,
    };
    let auditor_config = AuditorConfig {
        hash_interval: config.hash_interval,
        ..AuditorConfig::default()
    };
    let mut agent = AuditorAgent::new(auditor_config, config.journal_dir.clone(), streams);
    tracing::info!(
        journal = %config.journal_dir.display(),
        hash_interval = config.hash_interval,
        "auditor running"
    );
    let mut idle = config.idle.build();
    while !stop.is_stopped() {
        let work = agent.do_work().context("auditor duty cycle")?;
        while let Some(divergence) = agent.take_divergence() {
            log_divergence(&divergence);
        }
        idle.idle(work);
    }
    agent
        .audit_to_end()
        .context("auditing the journal's tail")?;
    while let Some(divergence) = agent.take_divergence() {
        log_divergence(&divergence);
    }
    let (stats, auditor) = (agent.stats(), agent.auditor());
    tracing::info!(
        records = stats.records,
        references = stats.references,
        statuses = stats.statuses,
        divergences = stats.divergences,
        "auditor stopped"
    );
    let line = format!(
        "final auditor applied_seq={} state_hash={:#034x}",
        auditor.applied().0,
        auditor.state_hash().0
    );
    writeln!(std::io::stdout().lock(), "{line}").context("writing the final line")?;
    drop(agent);
    drop(client);
    Ok(())
}

fn log_divergence(d: &Divergence) {
    tracing::error!(
        node = d.node.0,
        seq = d.seq.0,
        expected = %format_args!("{:#034x}", d.expected.0),
        reported = %format_args!("{:#034x}", d.reported.0),
        "divergence detected"
    );
}
