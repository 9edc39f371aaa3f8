//! Commands out of a journal: records read (and verified) by `journal::Reader`, decoded into
//! [`Sequenced`] commands. Replay only reads: it never opens a journal for writing.

use std::path::{Path, PathBuf};

use protocol::{Command, Seq, Sequenced, TimestampNs};

use crate::error::ReplayError;

/// The commands of a journal directory from a starting sequence number to its committed end.
#[derive(Debug)]
pub struct JournalCommands {
    dir: PathBuf,
    reader: Option<journal::Reader>,
}

impl JournalCommands {
    /// Commands from `from` (at least 1). A journal with no records yields none.
    pub fn open(dir: &Path, from: Seq) -> Result<Self, ReplayError> {
        let journal = |error| ReplayError::Journal {
            dir: dir.to_path_buf(),
            error,
        };
        let reader = match journal::Reader::open_at(dir, from.0.max(1)) {
            Ok(reader) => Some(reader),
            // An empty journal (nothing committed): nothing to replay.
            Err(journal::ReadError::NotYetWritten { committed: 0, .. }) => None,
            Err(e) => return Err(journal(e)),
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            reader,
        })
    }

    /// The journal directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last committed sequence number (zero for an empty journal).
    #[must_use]
    pub fn committed_seq(&self) -> u64 {
        self.reader
            .as_ref()
            .map_or(0, journal::Reader::committed_seq)
    }

    /// The next command, or `None` at the end of the journal.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<Sequenced>, ReplayError> {
        let Some(reader) = self.reader.as_mut() else {
            return Ok(None);
        };
        let record = match reader.next() {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(None),
            Err(error) => {
                return Err(ReplayError::Journal {
                    dir: self.dir.clone(),
                    error,
                });
            }
        };
        decode_record(&record)
    }
}

/// The command of one journal record.
#[inline]
pub fn decode_record(record: &journal::RecordRef<'_>) -> Result<Option<Sequenced>, ReplayError> {
    if record.kind != journal::RecordKind::COMMAND {
        return Err(ReplayError::RecordKind {
            seq: record.seq,
            kind: record.kind.0,
        });
    }
    let command = Command::decode(record.body).map_err(|error| ReplayError::Decode {
        seq: record.seq,
        error,
    })?;
    Ok(Some(Sequenced {
        seq: Seq(record.seq),
        timestamp: TimestampNs(record.timestamp_ns),
        command,
    }))
}

/// Checks every record of the journal (CRC, sequence, hash chain, segment headers) before any
/// is re-executed, so corruption is reported with its position rather than as a short replay.
pub fn verify_journal(dir: &Path) -> Result<journal::Inspection, ReplayError> {
    let journal = |error| ReplayError::Journal {
        dir: dir.to_path_buf(),
        error,
    };
    if !dir.join(journal::META_FILE_NAME).is_file() {
        return Err(journal(journal::ReadError::BadMeta));
    }
    let mut storage = journal::FileStorage::open(dir).map_err(|error| ReplayError::Io {
        path: dir.to_path_buf(),
        error,
    })?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
    journal::verify(&mut storage, threads).map_err(journal)
}
