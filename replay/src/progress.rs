//! Progress of long runs, reported by the replay loops every [`PROGRESS_INTERVAL`] commands so
//! the cost stays off the per-command path. The binary shows it as a progress bar.

use protocol::Seq;

/// Commands between progress reports.
pub const PROGRESS_INTERVAL: u64 = 1 << 16;

/// Receives progress reports.
pub trait Progress {
    /// `applied` is the last command applied; `end` the last one expected (zero if unknown).
    fn update(&mut self, applied: Seq, end: u64);
    /// The run is over.
    fn finish(&mut self) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&mut self, _applied: Seq, _end: u64) {}
}

/// Receives each command's events: `Err` stops the run (a failed write, say).
pub type EventSink<'a> = dyn FnMut(Seq, &[protocol::Event]) -> Result<(), crate::ReplayError> + 'a;
