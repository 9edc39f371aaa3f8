//! `replay events`: the events regenerated for a range of the journal.

use std::path::Path;

use matching_engine::EngineConfig;
use protocol::Seq;

use crate::error::ReplayError;
use crate::prefetch::Prefetched;
use crate::progress::{EventSink, PROGRESS_INTERVAL, Progress};
use crate::replayer::{HASH_INTERVAL_DEFAULT, Replayer};
use crate::snapshot::ReplicaSnapshot;

/// Where a re-execution starts.
#[derive(Debug, Clone, Copy)]
pub enum Start<'a> {
    /// A fresh engine with these capacities, at the start of the journal.
    Fresh(EngineConfig),
    /// A replica snapshot file.
    Snapshot(&'a Path),
}

impl Start<'_> {
    /// A replayer at this start.
    pub fn replayer(self, hash_interval: u64) -> Result<Replayer, ReplayError> {
        Ok(match self {
            Start::Fresh(config) => Replayer::new(config, hash_interval),
            Start::Snapshot(path) => {
                Replayer::from_snapshot(ReplicaSnapshot::read(path)?, hash_interval)
            }
        })
    }
}

/// Re-executes the journal up to `to` (inclusive) and hands the events of each command in
/// `from..=to` to `sink`. Returns the replayer after the last command applied.
pub fn replay_range(
    journal: &Path,
    start: Start<'_>,
    from: Seq,
    to: Seq,
    progress: &mut dyn Progress,
    sink: &mut EventSink<'_>,
) -> Result<Replayer, ReplayError> {
    let mut replayer = start.replayer(HASH_INTERVAL_DEFAULT)?;
    if from <= replayer.applied() {
        return Err(ReplayError::Gap {
            expected: replayer.applied().0 + 1,
            got: from.0,
        });
    }
    let mut commands = Prefetched::open(journal, Seq(replayer.applied().0 + 1))?;
    let end = commands.committed_seq().min(to.0);
    while replayer.applied() < to {
        let Some(command) = commands.next()? else {
            break;
        };
        replayer.apply(command)?;
        if command.seq >= from {
            sink(command.seq, replayer.events())?;
        }
        if command.seq.0.is_multiple_of(PROGRESS_INTERVAL) {
            progress.update(command.seq, end);
        }
    }
    progress.finish();
    Ok(replayer)
}
