//! The snapshot directory: snapshots are written on a thread of their own (so a primary never
//! stalls on a disk sync), atomically (a synced temporary file renamed into place), and only
//! the newest [`SNAPSHOTS_KEPT_MAX`] are kept.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};

use protocol::Seq;

use crate::agent::AgentError;

/// Snapshots kept in the directory; older ones are deleted once a newer one is in place.
pub const SNAPSHOTS_KEPT_MAX: usize = 3;

/// What the writer thread reports back: the sequence number written, or why it failed.
type Written = Result<Seq, AgentError>;

/// Writes snapshots in the background, one at a time.
#[derive(Debug)]
pub(crate) struct SnapshotWriter {
    jobs: Option<SyncSender<(Seq, Vec<u8>)>>,
    results: Receiver<Written>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SnapshotWriter {
    pub(crate) fn new(dir: PathBuf) -> Result<Self, AgentError> {
        // One snapshot waits while another is written: a third is skipped (see `submit`).
        let (jobs, queue) = std::sync::mpsc::sync_channel::<(Seq, Vec<u8>)>(1);
        let (report, results) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("snapshot-writer".into())
            .spawn(move || {
                for (seq, bytes) in queue {
                    let written = write_snapshot(&dir, seq, &bytes)
                        .and_then(|()| prune(&dir))
                        .map(|()| seq);
                    if report.send(written).is_err() {
                        return;
                    }
                }
            })
            .map_err(|source| AgentError::Snapshot {
                path: PathBuf::from("<snapshot writer thread>"),
                source,
            })?;
        Ok(Self {
            jobs: Some(jobs),
            results,
            thread: Some(thread),
        })
    }

    /// Hands a snapshot to the writer. Returns `false` if the writer is still busy with two
    /// earlier ones: this one is skipped (the next marker brings a newer one; the journal has
    /// everything in between).
    pub(crate) fn submit(&self, seq: Seq, bytes: Vec<u8>) -> bool {
        let jobs = self.jobs.as_ref().expect("jobs close only on drop");
        match jobs.try_send((seq, bytes)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => panic!("the snapshot writer thread died"),
        }
    }

    /// Snapshots written since the last call; the first failure is returned as an error.
    pub(crate) fn completed(&self) -> Result<u64, AgentError> {
        let mut count = 0;
        loop {
            match self.results.try_recv() {
                Ok(written) => {
                    written?;
                    count += 1;
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return Ok(count),
            }
        }
    }
}

impl Drop for SnapshotWriter {
    /// Finishes what was handed over: a snapshot accepted is a snapshot written.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn snapshot_name(seq: Seq) -> String {
    format!("{:020}.snapshot", seq.0)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError {
    let path = path.to_path_buf();
    move |source| AgentError::Snapshot { path, source }
}

/// Writes atomically: a temporary file, synced, then renamed over the final name.
pub(crate) fn write_snapshot(dir: &Path, seq: Seq, bytes: &[u8]) -> Result<(), AgentError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let path = dir.join(snapshot_name(seq));
    let temp = dir.join(format!("{}.tmp", snapshot_name(seq)));
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&temp).map_err(io(&temp))?;
        file.write_all(bytes).map_err(io(&temp))?;
        file.sync_all().map_err(io(&temp))?;
    }
    std::fs::rename(&temp, &path).map_err(io(&path))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    Ok(())
}

/// Every snapshot in `dir`, oldest first (names are zero-padded sequence numbers).
fn snapshots(dir: &Path) -> Result<Vec<PathBuf>, AgentError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(io(dir)(source)),
    };
    let mut all = Vec::new();
    for entry in entries {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "snapshot") {
            all.push(path);
        }
    }
    all.sort();
    Ok(all)
}

/// The snapshot with the highest sequence number in `dir`, if any.
pub(crate) fn newest_snapshot(dir: &Path) -> Result<Option<PathBuf>, AgentError> {
    Ok(snapshots(dir)?.pop())
}

/// Deletes all but the newest [`SNAPSHOTS_KEPT_MAX`] snapshots.
fn prune(dir: &Path) -> Result<(), AgentError> {
    let all = snapshots(dir)?;
    let old = all.len().saturating_sub(SNAPSHOTS_KEPT_MAX);
    for path in &all[..old] {
        std::fs::remove_file(path).map_err(io(path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_are_written_in_the_background_and_only_the_newest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let writer = SnapshotWriter::new(dir.path().to_owned()).unwrap();
        let mut accepted = 0;
        for seq in 1..=5u64 {
            while !writer.submit(Seq(seq), vec![u8::try_from(seq).unwrap(); 64]) {
                std::thread::yield_now();
            }
            accepted += 1;
        }
        drop(writer); // finishes what it accepted
        let left = snapshots(dir.path()).unwrap();
        assert_eq!(accepted, 5);
        assert_eq!(left.len(), SNAPSHOTS_KEPT_MAX);
        let newest = newest_snapshot(dir.path()).unwrap().unwrap();
        assert_eq!(std::fs::read(newest).unwrap(), vec![5u8; 64]);
    }

    #[test]
    fn a_write_that_fails_is_reported() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A regular file where the directory should be.
        let writer = SnapshotWriter::new(file.path().join("snapshots")).unwrap();
        assert!(writer.submit(Seq(1), vec![1; 8]));
        let error = loop {
            match writer.completed() {
                Ok(0) => std::thread::yield_now(),
                Ok(n) => panic!("{n} written into a file"),
                Err(e) => break e,
            }
        };
        assert!(matches!(error, AgentError::Snapshot { .. }), "{error}");
    }
}
