//! Replay: the journal read back through the matching engine, for audit and backtesting.
//!
//! [`Replayer`] is the core: the exact engine code the cluster runs, applying sequenced commands
//! in order, with a state hash checkpoint every `hash_interval` commands; it does no IO. Around
//! it, [`JournalCommands`] reads commands out of a journal (read-only, every record verified),
//! [`verify()`] checks a re-execution against replica snapshots and a recorded event stream,
//! [`book`] shows an order book at any point, and [`record`] is the events' JSON-lines format.
//! The formats and commands are documented in `docs/replay.md`.

pub mod backtest;
pub mod book;
pub mod commands;
mod error;
#[cfg(feature = "export")]
pub mod export;
mod import;
mod prefetch;
mod progress;
mod range;
pub mod record;
mod replayer;
mod snapshot;
mod source;
mod summary;
mod verify;
pub mod whatif;

pub use error::ReplayError;
pub use import::import;
pub use prefetch::{PREFETCH_BATCH, PREFETCH_BATCHES_MAX, Prefetched};
pub use progress::{EventSink, NoProgress, PROGRESS_INTERVAL, Progress};
pub use range::{Start, replay_range};
pub use replayer::{Checkpoint, HASH_INTERVAL_DEFAULT, Replayer};
pub use snapshot::{
    ReplicaSnapshot, SNAPSHOT_BYTES_MAX, SNAPSHOTS_MAX, encode_snapshot, list_snapshots,
    snapshot_file_name,
};
pub use source::{JournalCommands, decode_record, verify_journal};
pub use summary::{Summary, Volume};
pub use verify::{Divergence, Mismatch, VerifyOptions, VerifyReport, verify};
