//! `replay run`: a backtest over a command file or a journal, paced or as fast as possible,
//! optionally with a what-if engine configuration.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context as _;
use replay::ReplayError;
use replay::backtest::{BacktestOptions, CommandSource, Pacer, run_backtest};
use replay::whatif::WhatIf;

use super::output::{Bar, is_broken_pipe, open_out};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["commands", "journal"]))]
pub(super) struct RunArgs {
    /// A JSON-lines command file (see docs/replay.md).
    #[arg(long)]
    commands: Option<PathBuf>,
    /// A journal directory.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Real time x this factor, from the recorded timestamps (default: as fast as possible).
    #[arg(long)]
    speed: Option<f64>,
    /// What-if: changed engine capacities and risk settings (TOML, or JSON by extension); a
    /// diff summary against the original run goes to stderr, and the events written are the
    /// what-if run's.
    #[arg(long)]
    engine_config: Option<PathBuf>,
    /// Write events (JSON lines) to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print a summary (counts by event type, volume per instrument, throughput) to stderr.
    #[arg(long)]
    summary: bool,
}

pub(super) fn run(args: &RunArgs) -> anyhow::Result<()> {
    let input = args
        .commands
        .as_ref()
        .or(args.journal.as_ref())
        .expect("clap requires one");
    let mut source = CommandSource::open(input)?;
    let options = BacktestOptions {
        engine: matching_engine::EngineConfig::default(),
        whatif: args
            .engine_config
            .as_deref()
            .map(WhatIf::read)
            .transpose()?,
    };
    let mut pacer = args
        .speed
        .map(Pacer::new)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let mut pace = |timestamp| {
        if let Some(pacer) = pacer.as_mut() {
            let due = pacer.due(timestamp);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
    };
    let mut out = open_out(args.out.as_deref())?;
    let out_name = args.out.clone().unwrap_or_else(|| "<stdout>".into());
    let result = run_backtest(
        &mut source,
        &options,
        &mut pace,
        &mut Bar::new("run"),
        &mut |seq, events| {
            replay::record::write_events(&mut out, seq, events).map_err(|error| ReplayError::Io {
                path: out_name.clone(),
                error,
            })
        },
    );
    let report = match result.map_err(anyhow::Error::from) {
        Err(error) if is_broken_pipe(&error) => return Ok(()),
        other => other?,
    };
    out.flush().context("writing events")?;
    let seconds = started.elapsed().as_secs_f64();
    let mut err = std::io::stderr().lock();
    if args.summary {
        report.summary.write_text(&mut err, Some(seconds))?;
        writeln!(
            err,
            "final seq {} state_hash=0x{:032x}",
            report.last_seq, report.final_digest.0
        )?;
    }
    if let Some(diff) = &report.diff {
        diff.write_text(&mut err)?;
    }
    Ok(())
}
