//! Why a replay could not run. Divergences are not errors: they are findings, reported in a
//! [`crate::VerifyReport`]. These are the failures of the inputs themselves. Each message is
//! complete on its own (the underlying error is part of it, not a separate `source`).

use std::path::PathBuf;

/// A replay input (journal, snapshot, recording, command file) could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The journal could not be opened or read, or a record is corrupt (the journal's own error
    /// names the segment file, byte offset and sequence number).
    #[error("journal {}: {error}", dir.display())]
    Journal {
        dir: PathBuf,
        error: journal::ReadError,
    },
    /// A journal record's body is not a command.
    #[error("journal record {seq} holds no valid command: {error}")]
    Decode {
        seq: u64,
        error: protocol::DecodeError,
    },
    /// A journal record is of a kind replay does not know.
    #[error("journal record {seq} has kind {kind}, not a command")]
    RecordKind { seq: u64, kind: u16 },
    /// Commands must follow the last one applied without a gap.
    #[error("expected seq {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    /// A journal could not be written (`journal import`).
    #[error("writing journal {}: {reason}", dir.display())]
    JournalWrite { dir: PathBuf, reason: String },
    /// An export file could not be written.
    #[error("exporting {}: {reason}", path.display())]
    Export { path: PathBuf, reason: String },
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// A replica snapshot file is malformed.
    #[error("snapshot {}: {reason}", path.display())]
    Snapshot { path: PathBuf, reason: String },
    /// A line of a JSON-lines input (events recording, command file) is malformed.
    #[error("{}:{line}: {reason}", path.display())]
    Line {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    /// A bounded input is larger than its limit.
    #[error("{what}: more than {max} (the {name} limit)")]
    Limit {
        what: String,
        name: &'static str,
        max: u64,
    },
}

pub(crate) fn io_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ReplayError {
    let path = path.to_path_buf();
    move |error| ReplayError::Io { path, error }
}
