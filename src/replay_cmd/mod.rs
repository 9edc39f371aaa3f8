//! `lockstep replay`: audit and backtesting from a journal (the `replay` crate's commands).
//! Reads only: replay never writes to the journal it reads.

mod audit;
mod backtest;
mod export;
mod output;

use std::path::PathBuf;

use matching_engine::EngineConfig;
use replay::Start;

/// Re-execute a journal through the matching engine.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    #[command(subcommand)]
    command: ReplayCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ReplayCommand {
    /// Re-execute the journal and check it: record integrity, the state hash at every replica
    /// snapshot found, and (given a recording) byte-identical events. Exits non-zero at the
    /// first divergence, naming its seq, the command and both outputs.
    Verify(audit::VerifyArgs),
    /// The events regenerated for a range of the journal, as JSON lines.
    Events(audit::EventsArgs),
    /// The order book of one instrument at a seq or a time: L2 levels and L3 orders.
    Book(audit::BookArgs),
    /// Backtest: run a JSON-lines command file (or a journal) through an engine and write its
    /// events as JSON lines; optionally paced, optionally with a what-if configuration.
    Run(backtest::RunArgs),
    /// Export trades, execution reports and periodic L2 snapshots as CSV and/or Parquet, with a
    /// summary (counts by event type, volume per instrument, throughput).
    Export(export::ExportArgs),
}

/// Where re-execution starts: options shared by the subcommands.
#[derive(Debug, clap::Args)]
struct StartArgs {
    /// The journal directory.
    #[arg(long)]
    journal: PathBuf,
    /// Start from this replica snapshot file (`{seq:020}.snapshot`) instead of seq 1.
    #[arg(long)]
    from_snapshot: Option<PathBuf>,
}

impl StartArgs {
    fn start(&self) -> Start<'_> {
        match &self.from_snapshot {
            Some(path) => Start::Snapshot(path),
            // The cluster's engines run with the default capacities (part of the state hash).
            None => Start::Fresh(EngineConfig::default()),
        }
    }
}

/// Runs a `lockstep replay` subcommand.
pub(crate) fn run(args: ReplayArgs) -> anyhow::Result<()> {
    match args.command {
        ReplayCommand::Verify(args) => audit::verify(&args),
        ReplayCommand::Events(args) => audit::events(&args),
        ReplayCommand::Book(args) => audit::book(&args),
        ReplayCommand::Run(args) => backtest::run(&args),
        ReplayCommand::Export(args) => export::run(&args),
    }
}
