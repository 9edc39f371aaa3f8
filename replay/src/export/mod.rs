//! Exports for analysis in pandas, polars or a spreadsheet: trades, execution reports and
//! periodic L2 book snapshots, as CSV and/or Parquet (`trades`, `execution_reports`, `l2` in the
//! output directory), plus the run's [`Summary`] as JSON (`summary.json`).

mod rows;
pub(crate) mod table;

use std::path::{Path, PathBuf};

use matching_engine::{Engine, EngineConfig};
use protocol::{Event, Seq, Sequenced};

pub use rows::{ExecutionRow, LevelRow, TradeRow};
pub use table::{EXPORT_BATCH_ROWS, Formats};

use crate::backtest::CommandSource;
use crate::error::ReplayError;
use crate::progress::{PROGRESS_INTERVAL, Progress};
use crate::replayer::{HASH_INTERVAL_DEFAULT, Replayer};
use crate::summary::Summary;
use table::TableWriter;

/// The deepest L2 snapshot exported, in levels per side.
pub const L2_DEPTH_MAX: usize = 1024;

/// What to export and how often to snapshot the books.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub dir: PathBuf,
    pub formats: Formats,
    /// An L2 snapshot of every book after every this many commands (zero: none).
    pub l2_every: u64,
    /// Levels per side in each snapshot (at most [`L2_DEPTH_MAX`]).
    pub l2_depth: usize,
}

/// Rows written per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exported {
    pub trades: u64,
    pub execution_reports: u64,
    pub l2_levels: u64,
}

/// Writes the export tables as commands are applied.
#[derive(Debug)]
pub struct Exporter {
    dir: PathBuf,
    l2_every: u64,
    l2_depth: usize,
    trades: TableWriter<TradeRow>,
    reports: TableWriter<ExecutionRow>,
    levels: TableWriter<LevelRow>,
}

impl Exporter {
    /// Creates the output directory and the table files.
    pub fn create(options: &ExportOptions) -> Result<Self, ReplayError> {
        let dir = &options.dir;
        std::fs::create_dir_all(dir).map_err(crate::error::io_error(dir))?;
        if options.l2_depth == 0 || options.l2_depth > L2_DEPTH_MAX {
            return Err(ReplayError::Limit {
                what: format!("an L2 depth of {}", options.l2_depth),
                name: "L2_DEPTH_MAX (and at least 1)",
                max: L2_DEPTH_MAX as u64,
            });
        }
        let f = options.formats;
        Ok(Self {
            dir: dir.clone(),
            l2_every: options.l2_every,
            l2_depth: options.l2_depth,
            trades: TableWriter::create(dir, "trades", f)?,
            reports: TableWriter::create(dir, "execution_reports", f)?,
            levels: TableWriter::create(dir, "l2", f)?,
        })
    }

    /// Exports one command's events, and the books when a snapshot is due after it.
    pub fn on_command(
        &mut self,
        command: &Sequenced,
        events: &[Event],
        engine: &Engine,
    ) -> Result<(), ReplayError> {
        for event in events {
            match event {
                Event::Trade(t) => self.trades.push(TradeRow::new(command.seq, t))?,
                Event::ExecutionReport(r) => {
                    self.reports.push(ExecutionRow::new(command.seq, r))?;
                }
                _ => {}
            }
        }
        if self.l2_every > 0 && command.seq.0.is_multiple_of(self.l2_every) {
            self.snapshot(command, engine)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, command: &Sequenced, engine: &Engine) -> Result<(), ReplayError> {
        for (id, _) in engine.instruments() {
            let view = engine.book_view(id).expect("listed instruments have books");
            for (side, levels) in [("buy", &view.bids), ("sell", &view.asks)] {
                for (level, l) in levels.iter().take(self.l2_depth).enumerate() {
                    self.levels.push(LevelRow {
                        seq: command.seq.0,
                        timestamp_ns: command.timestamp.0,
                        instrument: id.0,
                        side,
                        level: u32::try_from(level).expect("below L2_DEPTH_MAX"),
                        price: l.price.0,
                        qty: l.qty.0,
                        order_count: l.order_count,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Closes the tables and writes `summary.json`.
    pub fn finish(self, summary: &Summary, last_seq: Seq) -> Result<Exported, ReplayError> {
        let exported = Exported {
            trades: self.trades.finish()?,
            execution_reports: self.reports.finish()?,
            l2_levels: self.levels.finish()?,
        };
        let path = self.dir.join("summary.json");
        let json = serde_json::json!({ "last_seq": last_seq.0, "summary": summary });
        let text = serde_json::to_string_pretty(&json).expect("a summary serialises");
        std::fs::write(&path, text).map_err(crate::error::io_error(&path))?;
        Ok(exported)
    }

    /// The output directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// What an export run produced.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    pub exported: Exported,
    pub summary: Summary,
    pub last_seq: Seq,
}

/// Re-executes every command of `source` from a fresh engine with `config`, exporting as it goes.
pub fn run_export(
    source: &mut CommandSource,
    config: EngineConfig,
    options: &ExportOptions,
    progress: &mut dyn Progress,
) -> Result<ExportReport, ReplayError> {
    let mut exporter = Exporter::create(options)?;
    let mut replayer = Replayer::new(config, HASH_INTERVAL_DEFAULT);
    let mut summary = Summary::default();
    let end = source.end();
    while let Some(command) = source.next()? {
        replayer.apply(&command)?;
        summary.add(replayer.events());
        exporter.on_command(&command, replayer.events(), replayer.engine())?;
        if command.seq.0.is_multiple_of(PROGRESS_INTERVAL) {
            progress.update(command.seq, end);
        }
    }
    progress.finish();
    let last_seq = replayer.applied();
    let exported = exporter.finish(&summary, last_seq)?;
    Ok(ExportReport {
        exported,
        summary,
        last_seq,
    })
}
