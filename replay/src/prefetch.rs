//! Reading ahead on a second thread: the journal reader (mapping, CRC and chain checks,
//! decoding) runs beside the engine and hands over commands in batches, so a replay's critical
//! path is the engine alone when a second core is free. Batches go round between the threads
//! (at most [`PREFETCH_BATCHES_MAX`] in flight), so steady state allocates nothing.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use protocol::Sequenced;

use crate::error::ReplayError;
use crate::source::JournalCommands;

/// Commands per batch handed from the reader thread to the engine.
pub const PREFETCH_BATCH: usize = 4096;
/// Batches in flight between the threads (bounds the memory read ahead).
pub const PREFETCH_BATCHES_MAX: usize = 4;

type Batch = Result<Vec<Sequenced>, ReplayError>;

/// A journal's commands, read ahead by a thread of their own.
#[derive(Debug)]
pub struct Prefetched {
    full: Receiver<Batch>,
    empty: SyncSender<Vec<Sequenced>>,
    current: Vec<Sequenced>,
    pos: usize,
    end: u64,
    thread: Option<JoinHandle<()>>,
}

impl Prefetched {
    /// The commands of the journal at `dir` from `from` (see [`JournalCommands::open`]), read
    /// ahead.
    pub fn open(dir: &std::path::Path, from: protocol::Seq) -> Result<Self, ReplayError> {
        Self::spawn(JournalCommands::open(dir, from)?)
    }

    /// Starts reading `commands` ahead.
    pub fn spawn(mut commands: JournalCommands) -> Result<Self, ReplayError> {
        let end = commands.committed_seq();
        let (full_tx, full) = sync_channel::<Batch>(PREFETCH_BATCHES_MAX);
        let (empty, empty_rx) = sync_channel::<Vec<Sequenced>>(PREFETCH_BATCHES_MAX + 1);
        let thread = std::thread::Builder::new()
            .name("replay-prefetch".into())
            .spawn(move || read_ahead(&mut commands, &full_tx, &empty_rx))
            .map_err(|error| ReplayError::Io {
                path: "<replay-prefetch thread>".into(),
                error,
            })?;
        Ok(Self {
            full,
            empty,
            current: Vec::new(),
            pos: 0,
            end,
            thread: Some(thread),
        })
    }

    /// The journal's last committed seq when reading started.
    #[must_use]
    pub fn committed_seq(&self) -> u64 {
        self.end
    }

    /// The next command, or `None` at the end of the journal. Borrowed from the batch it came
    /// in: a command is 120 bytes, and copying each out measured in the engine thread's time.
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<&Sequenced>, ReplayError> {
        if self.pos == self.current.len() && !self.refill()? {
            return Ok(None);
        }
        self.pos += 1;
        Ok(Some(&self.current[self.pos - 1]))
    }

    fn refill(&mut self) -> Result<bool, ReplayError> {
        let Ok(batch) = self.full.recv() else {
            return Ok(false);
        };
        let used = std::mem::replace(&mut self.current, batch?);
        // The reader may have finished: a batch it will not ask for is simply dropped.
        let _ = self.empty.try_send(used);
        self.pos = 0;
        Ok(!self.current.is_empty())
    }
}

impl Drop for Prefetched {
    fn drop(&mut self) {
        // Closing our ends stops the reader at its next send or receive.
        let (_, closed) = sync_channel(1);
        drop(std::mem::replace(&mut self.full, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The reader thread: fills batches until the end, an error, or the consumer goes away.
fn read_ahead(
    commands: &mut JournalCommands,
    full: &SyncSender<Batch>,
    empty: &Receiver<Vec<Sequenced>>,
) {
    loop {
        let mut batch = empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(PREFETCH_BATCH));
        batch.clear();
        let mut failed = None;
        while batch.len() < PREFETCH_BATCH {
            match commands.next() {
                Ok(Some(command)) => batch.push(command),
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let last = failed.is_some() || batch.len() < PREFETCH_BATCH;
        if !batch.is_empty() && full.send(Ok(batch)).is_err() {
            return;
        }
        if let Some(e) = failed {
            let _ = full.send(Err(e));
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::{Seq, TimestampNs};

    use super::*;

    #[test]
    fn prefetched_commands_are_the_journals_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let config = journal::Config {
            segment_size_bytes: 1 << 20,
            durability: journal::Durability::None,
            ..journal::Config::default()
        };
        let mut writer = journal::Writer::open(dir.path(), config).unwrap();
        let n = 3 * PREFETCH_BATCH + 17;
        let flow = workload::Flow::new(workload::FlowConfig::default());
        for (i, command) in flow.take(n).enumerate() {
            let body = command.encode_to_vec();
            let _receipt = writer
                .append(i as u64, journal::RecordKind::COMMAND, &body)
                .unwrap();
        }
        writer.close().unwrap();
        let commands = JournalCommands::open(dir.path(), Seq(1)).unwrap();
        let mut prefetched = Prefetched::spawn(commands).unwrap();
        assert_eq!(prefetched.committed_seq(), n as u64);
        let mut seen = 0u64;
        while let Some(c) = prefetched.next().unwrap() {
            seen += 1;
            assert_eq!((c.seq, c.timestamp), (Seq(seen), TimestampNs(seen - 1)));
        }
        assert_eq!(seen, n as u64);
        assert!(prefetched.next().unwrap().is_none());

        // Dropped half way: the reader thread stops and is joined.
        let commands = JournalCommands::open(dir.path(), Seq(1)).unwrap();
        let mut early = Prefetched::spawn(commands).unwrap();
        assert!(early.next().unwrap().is_some());
        drop(early);
    }
}
