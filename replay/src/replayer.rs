//! The core loop: one engine, the exact code the cluster runs, applying sequenced commands in
//! order, with a state hash checkpoint every `hash_interval` commands. No IO happens here.

use matching_engine::{Engine, EngineConfig};
use protocol::{Event, Seq, Sequenced, StateDigest};

use crate::error::ReplayError;
use crate::snapshot::ReplicaSnapshot;

/// Commands between state hash checkpoints by default (the replicas' own default interval, so
/// replay checkpoints line up with the hashes engines report).
pub const HASH_INTERVAL_DEFAULT: u64 = 1024;

/// The state hash after applying `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: Seq,
    pub digest: StateDigest,
}

/// A matching engine re-executing a sequenced stream.
#[derive(Debug)]
pub struct Replayer {
    engine: Engine,
    applied: Seq,
    hash_interval: u64,
    /// The seq of the next checkpoint: the next multiple of `hash_interval` (counted rather
    /// than tested with a division per command).
    next_checkpoint: u64,
    events: Vec<Event>,
    last_checkpoint: Option<Checkpoint>,
}

impl Replayer {
    /// A fresh engine at the start of the stream.
    ///
    /// # Panics
    /// If `hash_interval` is zero or the configuration is invalid (callers validate both).
    #[must_use]
    pub fn new(config: EngineConfig, hash_interval: u64) -> Self {
        Self::with_engine(Engine::new(config), Seq(0), hash_interval)
    }

    /// Resumes from a replica snapshot: the next command is the one after the snapshot's.
    #[must_use]
    pub fn from_snapshot(snapshot: ReplicaSnapshot, hash_interval: u64) -> Self {
        Self::with_engine(snapshot.engine, snapshot.seq, hash_interval)
    }

    fn with_engine(engine: Engine, applied: Seq, hash_interval: u64) -> Self {
        assert!(hash_interval >= 1, "hash_interval must be at least 1");
        Self {
            engine,
            applied,
            hash_interval,
            next_checkpoint: next_multiple(applied.0, hash_interval),
            events: Vec::with_capacity(1024),
            last_checkpoint: None,
        }
    }

    /// Applies the next command; its events are [`Replayer::events`] until the next call.
    /// Returns the checkpoint taken after it, if its seq is a multiple of the interval.
    pub fn apply(&mut self, command: &Sequenced) -> Result<Option<Checkpoint>, ReplayError> {
        let expected = self.applied.0 + 1;
        if command.seq.0 != expected {
            return Err(ReplayError::Gap {
                expected,
                got: command.seq.0,
            });
        }
        self.events.clear();
        self.engine.apply(command, &mut self.events);
        self.applied = command.seq;
        if command.seq.0 != self.next_checkpoint {
            return Ok(None);
        }
        self.next_checkpoint = next_multiple(command.seq.0, self.hash_interval);
        let checkpoint = Checkpoint {
            seq: command.seq,
            digest: StateDigest(self.engine.state_hash().0),
        };
        self.last_checkpoint = Some(checkpoint);
        Ok(Some(checkpoint))
    }

    /// The events of the last command applied.
    #[must_use]
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The last command applied (zero before the first).
    #[must_use]
    pub fn applied(&self) -> Seq {
        self.applied
    }

    /// The state digest now, as replicas report it.
    #[must_use]
    pub fn digest(&self) -> StateDigest {
        StateDigest(self.engine.peek_state_hash().0)
    }

    /// The last periodic checkpoint.
    #[must_use]
    pub fn last_checkpoint(&self) -> Option<Checkpoint> {
        self.last_checkpoint
    }

    /// The engine, for read-only views (books).
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The smallest multiple of `interval` above `seq`; zero (a seq never applied) if there is none.
fn next_multiple(seq: u64, interval: u64) -> u64 {
    (seq / interval + 1).checked_mul(interval).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(n: usize) -> Vec<Sequenced> {
        let flow = workload::Flow::new(workload::FlowConfig::default());
        flow.take(n)
            .enumerate()
            .map(|(i, command)| Sequenced {
                seq: Seq(i as u64 + 1),
                timestamp: protocol::TimestampNs(1_000 + i as u64),
                command,
            })
            .collect()
    }

    #[test]
    fn checkpoints_come_every_interval_and_match_a_plain_engine() {
        let commands = flow(100);
        let mut replayer = Replayer::new(EngineConfig::default(), 10);
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        let mut checkpoints = 0;
        for c in &commands {
            let checkpoint = replayer.apply(c).unwrap();
            out.clear();
            engine.apply(c, &mut out);
            assert_eq!(replayer.events(), &out[..]);
            if let Some(k) = checkpoint {
                assert_eq!(k.seq.0 % 10, 0);
                assert_eq!(k.digest.0, engine.state_hash().0);
                checkpoints += 1;
            }
        }
        assert_eq!(checkpoints, 10);
        assert_eq!(replayer.applied(), Seq(100));
    }

    /// Resuming between checkpoints (as from a snapshot) keeps them on multiples of the interval.
    #[test]
    fn checkpoints_stay_on_multiples_after_resuming_mid_interval() {
        let commands = flow(40);
        let mut engine = Engine::new(EngineConfig::default());
        let mut out = Vec::new();
        for c in &commands[..13] {
            engine.apply(c, &mut out);
        }
        let mut replayer = Replayer::with_engine(engine, Seq(13), 10);
        let seqs: Vec<u64> = commands[13..]
            .iter()
            .filter_map(|c| replayer.apply(c).unwrap())
            .map(|k| k.seq.0)
            .collect();
        assert_eq!(seqs, [20, 30, 40]);
        assert_eq!(next_multiple(0, 1024), 1024);
        assert_eq!(next_multiple(1024, 1024), 2048);
        assert_eq!(next_multiple(u64::MAX - 1, 1), u64::MAX);
        assert_eq!(
            next_multiple(u64::MAX - 1, 1024),
            0,
            "no multiple left: never"
        );
    }

    #[test]
    fn a_gap_or_a_repeat_is_refused() {
        let commands = flow(3);
        let mut replayer = Replayer::new(EngineConfig::default(), 10);
        let err = replayer.apply(&commands[1]).unwrap_err().to_string();
        assert_eq!(err, "expected seq 1, got 2");
        replayer.apply(&commands[0]).unwrap();
        assert!(replayer.apply(&commands[0]).is_err());
    }
}
