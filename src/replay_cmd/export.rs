//! `replay export`: trades, execution reports and periodic L2 snapshots as CSV and/or Parquet,
//! and a summary report.

use std::path::PathBuf;
use std::time::Instant;

use replay::backtest::CommandSource;
use replay::export::{ExportOptions, Formats, run_export};

use super::output::Bar;

/// Which files to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Csv,
    Parquet,
    Both,
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("input").required(true).args(["commands", "journal"]))]
pub(super) struct ExportArgs {
    /// A JSON-lines command file (see docs/replay.md).
    #[arg(long)]
    commands: Option<PathBuf>,
    /// A journal directory.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// The output directory (created if needed): trades, execution_reports, l2, summary.json.
    #[arg(long)]
    out: PathBuf,
    /// File format of the tables.
    #[arg(long, value_enum, default_value_t = Format::Both)]
    format: Format,
    /// An L2 snapshot of every book after every N commands (0: none).
    #[arg(long, default_value_t = 10_000)]
    l2_every: u64,
    /// Levels per side in each L2 snapshot.
    #[arg(long, default_value_t = 10)]
    l2_depth: usize,
}

pub(super) fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let input = args
        .commands
        .as_ref()
        .or(args.journal.as_ref())
        .expect("clap requires one");
    let mut source = CommandSource::open(input)?;
    let options = ExportOptions {
        dir: args.out.clone(),
        formats: Formats {
            csv: args.format != Format::Parquet,
            parquet: args.format != Format::Csv,
        },
        l2_every: args.l2_every,
        l2_depth: args.l2_depth,
    };
    let started = Instant::now();
    let config = matching_engine::EngineConfig::default();
    let report = run_export(&mut source, config, &options, &mut Bar::new("export"))?;
    let seconds = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let e = report.exported;
    use std::io::Write as _;
    writeln!(
        out,
        "exported to {}: {} trades, {} execution reports, {} L2 levels",
        args.out.display(),
        e.trades,
        e.execution_reports,
        e.l2_levels
    )?;
    report.summary.write_text(&mut out, Some(seconds))?;
    writeln!(out, "final seq {}", report.last_seq)?;
    Ok(())
}
