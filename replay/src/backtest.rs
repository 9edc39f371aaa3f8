//! Backtests: commands from a JSON-lines file or a journal run through an engine, with optional
//! pacing and an optional what-if engine beside the original one.

use std::path::Path;
use std::time::Duration;

use matching_engine::{Engine, EngineConfig};
use protocol::{Seq, Sequenced, TimestampNs};

use crate::commands::CommandFile;
use crate::error::ReplayError;
use crate::prefetch::Prefetched;
use crate::progress::{EventSink, PROGRESS_INTERVAL, Progress};
use crate::summary::Summary;
use crate::whatif::{WhatIf, WhatIfDiff};

/// Where a backtest's commands come from.
#[derive(Debug)]
pub enum CommandSource {
    File(CommandFile<std::io::BufReader<std::fs::File>>),
    /// Read ahead on a second thread.
    Journal(Prefetched),
}

impl CommandSource {
    /// A command file (`.jsonl` and anything else that is a file) or a journal directory.
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        if path.is_dir() {
            Ok(Self::Journal(Prefetched::open(path, Seq(1))?))
        } else {
            Ok(Self::File(CommandFile::open(path)?))
        }
    }

    /// The next command, or `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Sequenced>, ReplayError> {
        match self {
            Self::File(f) => f.next(),
            Self::Journal(j) => Ok(j.next()?.copied()),
        }
    }

    /// The last seq, when known in advance (a journal's).
    #[must_use]
    pub fn end(&self) -> u64 {
        match self {
            Self::File(_) => 0,
            Self::Journal(j) => j.committed_seq(),
        }
    }
}

/// Real-time pacing: when each command is due, relative to the first, at `speed` times the
/// recorded pace. Sans-IO: the caller compares with its own clock and sleeps.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    speed: f64,
    first: Option<TimestampNs>,
}

impl Pacer {
    /// A pacer at `speed` (finite and above zero).
    pub fn new(speed: f64) -> Result<Self, String> {
        if speed.is_finite() && speed > 0.0 {
            Ok(Self { speed, first: None })
        } else {
            Err(format!(
                "speed must be a finite number above 0, got {speed}"
            ))
        }
    }

    /// How long after the first command this one is due.
    pub fn due(&mut self, timestamp: TimestampNs) -> Duration {
        let first = *self.first.get_or_insert(timestamp);
        let recorded_ns = timestamp.0.saturating_sub(first.0) as f64;
        Duration::from_secs_f64(recorded_ns / self.speed / 1e9)
    }
}

/// A backtest's setup.
#[derive(Debug, Clone, Default)]
pub struct BacktestOptions {
    pub engine: EngineConfig,
    /// Run a changed engine beside the original and compare outcomes.
    pub whatif: Option<WhatIf>,
}

/// What a backtest produced.
#[derive(Debug, Clone, Default)]
pub struct BacktestReport {
    /// The run whose events were written (the what-if run when there is one).
    pub summary: Summary,
    pub diff: Option<WhatIfDiff>,
    pub last_seq: Seq,
    pub final_digest: protocol::StateDigest,
}

/// Runs every command of `source`. `pace` is called before each command (with its stamp) and
/// `sink` after it with its events (the what-if run's when there is one).
pub fn run_backtest(
    source: &mut CommandSource,
    options: &BacktestOptions,
    pace: &mut dyn FnMut(TimestampNs),
    progress: &mut dyn Progress,
    sink: &mut EventSink<'_>,
) -> Result<BacktestReport, ReplayError> {
    let mut original = Engine::new(options.engine);
    let mut changed = match &options.whatif {
        Some(w) => {
            let config = w
                .engine_config(options.engine)
                .map_err(|reason| ReplayError::Line {
                    path: "<what-if>".into(),
                    line: 0,
                    reason,
                })?;
            Some((w, Engine::new(config), Vec::new()))
        }
        None => None,
    };
    let mut report = BacktestReport::default();
    let mut diff = WhatIfDiff::default();
    let mut events = Vec::new();
    let end = source.end();
    let mut expected = Seq(1);
    while let Some(command) = source.next()? {
        if command.seq != expected {
            return Err(ReplayError::Gap {
                expected: expected.0,
                got: command.seq.0,
            });
        }
        expected = Seq(expected.0 + 1);
        pace(command.timestamp);
        events.clear();
        original.apply(&command, &mut events);
        let written = match changed.as_mut() {
            Some((whatif, engine, out)) => {
                out.clear();
                let rewritten = Sequenced {
                    command: whatif.rewrite(&command.command),
                    ..command
                };
                engine.apply(&rewritten, out);
                diff.add(command.seq, &events, out);
                &out[..]
            }
            None => &events[..],
        };
        report.summary.add(written);
        sink(command.seq, written)?;
        report.last_seq = command.seq;
        if command.seq.0.is_multiple_of(PROGRESS_INTERVAL) {
            progress.update(command.seq, end);
        }
    }
    progress.finish();
    let last = changed.as_ref().map_or(&original, |(_, e, _)| e);
    report.final_digest = protocol::StateDigest(last.peek_state_hash().0);
    report.diff = changed.is_some().then_some(diff);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_scales_recorded_gaps_by_speed() {
        let mut pacer = Pacer::new(2.0).unwrap();
        assert_eq!(pacer.due(TimestampNs(5_000_000_000)), Duration::ZERO);
        assert_eq!(
            pacer.due(TimestampNs(7_000_000_000)),
            Duration::from_secs(1)
        );
        assert!(Pacer::new(0.0).is_err());
        assert!(Pacer::new(f64::NAN).is_err());
        assert!(Pacer::new(-1.0).is_err());
    }
}
