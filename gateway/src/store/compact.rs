//! Compaction off the duty cycle: the caller hands over its state at a commit boundary, owned
//! (the gateway's kept messages are shared, not copied), and a helper thread encodes it as
//! the records that replace the file, writes them beside the file and syncs them. Meanwhile
//! commits go on to the old file as usual and are also kept, as bytes, for the new one. When
//! the helper is done the caller appends those bytes to the new file, syncs it and renames it
//! over the old one: the only file IO left on the caller's thread is that tail and the rename.
//! Until the rename the old file says everything, so a crash at any point leaves one whole
//! store or the other.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::{Record, Store, StoreError};

/// Bytes committed during a compaction that are kept for the new file before the caller
/// waits for the helper (the tail is this process's memory until the rename).
pub const COMPACTION_TAIL_MAX: usize = 64 << 20;

/// A compaction whose new file a helper thread is writing.
#[derive(Debug)]
pub(super) struct Compaction {
    /// The new file, written and synced, and its length.
    helper: JoinHandle<io::Result<(File, u64)>>,
    /// Where the helper writes: the store's path with `.compact` appended.
    fresh: PathBuf,
    /// What was committed to the old file since, for the new one.
    pub(super) tail: Vec<u8>,
}

/// The records a compaction writes, as the helper thread encodes them.
#[derive(Debug)]
pub struct Records {
    bytes: Vec<u8>,
}

impl Records {
    /// Appends one record.
    pub fn push(&mut self, record: &Record<'_>) {
        record.encode(&mut self.bytes);
    }
}

/// Where a compaction writes its new file.
fn fresh_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".compact");
    PathBuf::from(name)
}

/// The helper's work: the state encoded, and the new file written and synced (a leftover
/// from an earlier crash is truncated first).
fn write_fresh(fresh: &Path, encode: impl FnOnce(&mut Records)) -> io::Result<(File, u64)> {
    let mut records = Records {
        bytes: super::header().to_vec(),
    };
    encode(&mut records);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(fresh)?;
    file.write_all(&records.bytes)?;
    file.sync_all()?;
    Ok((file, records.bytes.len() as u64))
}

impl Store {
    /// Starts replacing the file with the records `encode` pushes, which must say everything
    /// the file says now (the caller's state, as records). A helper thread runs `encode` and
    /// writes the records, so the caller hands over its state owned. Commits go on meanwhile;
    /// [`Store::poll_compaction`] finishes the job. Only between commits (nothing pending) and
    /// with no compaction running.
    pub fn compact_in_background(
        &mut self,
        encode: impl FnOnce(&mut Records) + Send + 'static,
    ) -> Result<(), StoreError> {
        assert!(self.pending.is_empty(), "compacting with records pending");
        assert!(self.compaction.is_none(), "one compaction at a time");
        let fresh = fresh_path(&self.path);
        let target = fresh.clone();
        let helper = std::thread::Builder::new()
            .name("gateway-store-compact".to_owned())
            .spawn(move || write_fresh(&target, encode))
            .map_err(|source| self.io(source))?;
        self.compaction = Some(Compaction {
            helper,
            fresh,
            tail: Vec::new(),
        });
        Ok(())
    }

    /// Whether a compaction is running.
    #[must_use]
    pub fn compacting(&self) -> bool {
        self.compaction.is_some()
    }

    /// Finishes a running compaction if its helper is done (or, with `wait`, once it is; also
    /// when its tail has reached [`COMPACTION_TAIL_MAX`]): the tail is appended, the new file
    /// synced and renamed over the old one, and the directory synced. Returns the new file's
    /// size when it finished one. On an error the old file stays in use, whole.
    pub fn poll_compaction(&mut self, wait: bool) -> Result<Option<u64>, StoreError> {
        let Some(c) = &self.compaction else {
            return Ok(None);
        };
        if !(wait || c.helper.is_finished() || c.tail.len() >= COMPACTION_TAIL_MAX) {
            return Ok(None);
        }
        let c = self.compaction.take().expect("checked above");
        let (mut file, written) = match c.helper.join() {
            Ok(written) => written.map_err(|source| self.io(source))?,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        file.write_all(&c.tail)
            .and_then(|()| file.sync_all())
            .map_err(|source| self.io(source))?;
        std::fs::rename(&c.fresh, &self.path).map_err(|source| self.io(source))?;
        let dir = match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| self.io(source))?;
        self.file = file;
        self.len = written + c.tail.len() as u64;
        Ok(Some(self.len))
    }

    /// Replaces the file with the records `encode` pushes now (see
    /// [`Store::compact_in_background`]), after finishing any compaction that is running.
    pub fn compact(
        &mut self,
        encode: impl FnOnce(&mut Records) + Send + 'static,
    ) -> Result<(), StoreError> {
        self.poll_compaction(true)?;
        self.compact_in_background(encode)?;
        self.poll_compaction(true)?;
        Ok(())
    }

    fn io(&self, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for Store {
    /// A store dropped mid-compaction (a gateway stopped without a clean shutdown, or a test's
    /// simulated kill) waits for its helper, so that no thread is left writing a `.compact`
    /// file that a store opened later on the same path may be writing too. The new file is
    /// not renamed: the old one stays the store.
    fn drop(&mut self) {
        if let Some(c) = self.compaction.take() {
            let _ = c.helper.join();
        }
    }
}
