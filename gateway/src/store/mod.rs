//! The gateway's store: one append-only file of checksummed records from which a restarted
//! gateway rebuilds what its FIX sessions and order translation had (sequence numbers, the
//! application messages sent, the messages delivered and events taken, and the egress
//! cursor), so that a client reconnecting after a gateway restart resumes with a resend, not
//! a reset. The byte format is in `docs/gateway.md`.
//!
//! Records are buffered and written once per duty cycle ([`Store::commit`]), before anything
//! they describe leaves the gateway (FIX bytes to clients, commands to the sequencer, egress
//! acknowledgements): what a client or the cluster was told is always on file first. A
//! `write` survives a crash of the process; `sync` (fdatasync per commit) also survives the
//! machine's. Recovery truncates a torn last record and refuses a damaged one in the middle.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

mod compact;
mod record;

pub use compact::{COMPACTION_TAIL_MAX, Records};
pub use record::{CursorParts, Record};

/// The file's first bytes: magic, format version, reserved.
const MAGIC: &[u8; 8] = b"LSGWSTOR";
const VERSION: u32 = 1;
const HEADER_SIZE: usize = 16;
/// Length and checksum before each record's body.
const RECORD_HEADER_SIZE: usize = 8;
/// Largest record body: a FIX message is bounded far below this.
pub const RECORD_SIZE_MAX: usize = 1 << 20;

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("gateway store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("gateway store {path}: not a gateway store (bad magic)")]
    NotAStore { path: PathBuf },
    #[error("gateway store {path}: format version {found}, this build reads {VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error(
        "gateway store {path}: record at byte {offset} is damaged ({reason}) and more follows: \
         refusing to guess; move the file aside to start the sessions afresh"
    )]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
}

/// What opening a store found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub records: u64,
    /// Bytes of a torn last record cut off.
    pub truncated_bytes: u64,
}

/// An open store: see the module documentation.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    file: File,
    pending: Vec<u8>,
    sync: bool,
    /// Bytes in the file.
    len: u64,
    /// The compaction running, if any (see `compact.rs`).
    compaction: Option<compact::Compaction>,
}

impl Store {
    /// Opens (or creates) the store at `path`, handing each record on file to `each` in order.
    /// `sync`: fdatasync on every commit.
    pub fn open(
        path: &Path,
        sync: bool,
        mut each: impl FnMut(Record<'_>),
    ) -> Result<(Self, Recovered), StoreError> {
        let io = |source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let mut recovered = Recovered::default();
        if bytes.is_empty() {
            file.write_all(&header()).map_err(io)?;
            file.sync_all().map_err(io)?;
        } else {
            let end = scan(path, &bytes, &mut recovered, &mut each)?;
            if end < bytes.len() {
                recovered.truncated_bytes = (bytes.len() - end) as u64;
                file.set_len(end as u64).map_err(io)?;
                file.sync_all().map_err(io)?;
            }
        }
        let len = file.seek(SeekFrom::End(0)).map_err(io)?;
        let store = Self {
            path: path.to_path_buf(),
            file,
            pending: Vec::with_capacity(64 * 1024),
            sync,
            len,
            compaction: None,
        };
        Ok((store, recovered))
    }

    /// Buffers a record for the next commit.
    pub fn append(&mut self, record: &Record<'_>) {
        record.encode(&mut self.pending);
    }

    /// Writes what was appended (and syncs, if so configured). Returns whether there was any.
    pub fn commit(&mut self) -> Result<bool, StoreError> {
        if self.pending.is_empty() {
            return Ok(false);
        }
        let io = |source| StoreError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&self.pending).map_err(io)?;
        if self.sync {
            self.file.sync_data().map_err(io)?;
        }
        self.len += self.pending.len() as u64;
        if let Some(c) = &mut self.compaction {
            c.tail.extend_from_slice(&self.pending);
        }
        self.pending.clear();
        Ok(true)
    }

    /// Bytes in the file in use (what was committed; the old file's while a compaction runs).
    #[must_use]
    pub fn size_bytes(&self) -> u64 {
        self.len
    }

    /// Where the store is.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The file's first bytes.
fn header() -> [u8; HEADER_SIZE] {
    let mut header = [0u8; HEADER_SIZE];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&VERSION.to_le_bytes());
    header
}

/// Whether a damaged record starting `rest` is the torn end of the last commit rather than
/// damage in the middle: it must run to the end of the file (or be followed by zeros only),
/// and no whole record may follow it (a flipped length can
/// make a record in the middle look as if it ran past the end).
fn torn(rest: &[u8], bad: record::Bad) -> bool {
    if rest.iter().all(|&b| b == 0) {
        return true;
    }
    bad.reaches_end && (1..rest.len()).all(|at| record::read(&rest[at..]).is_err())
}

/// Checks the header and hands out the records; returns where the good part ends.
fn scan(
    path: &Path,
    bytes: &[u8],
    recovered: &mut Recovered,
    each: &mut impl FnMut(Record<'_>),
) -> Result<usize, StoreError> {
    if bytes.len() < HEADER_SIZE {
        // A crash while creating the file: nothing was ever committed.
        return if MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
            Ok(0)
        } else {
            Err(StoreError::NotAStore {
                path: path.to_path_buf(),
            })
        };
    }
    if &bytes[..8] != MAGIC {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
        });
    }
    let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if found != VERSION {
        return Err(StoreError::Version {
            path: path.to_path_buf(),
            found,
        });
    }
    let mut at = HEADER_SIZE;
    while at < bytes.len() {
        match record::read(&bytes[at..]) {
            Ok((record, used)) => {
                each(record);
                recovered.records += 1;
                at += used;
            }
            Err(bad) if torn(&bytes[at..], bad) => break,
            Err(bad) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    reason: bad.reason,
                });
            }
        }
    }
    Ok(at)
}

#[cfg(test)]
mod tests;
