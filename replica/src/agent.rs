//! The engine process's duty cycle: the [`Replica`] core wired to streams, the journal (for
//! catch-up) and a snapshot directory.
//!
//! Start-up loads the newest snapshot, if any, then replays the journal from there. Live, a gap
//! in the sequenced stream (a late start, a lost frame, a restart) switches the agent to
//! catching up from the co-located journal until it is level again; frames that arrive
//! meanwhile are in the journal too and are ignored as duplicates afterwards. Events go out on
//! the egress stream (primary only) and heartbeats on the status stream. The acks stream brings
//! consumer acknowledgements and the auditor's reference hashes.

use std::collections::BTreeMap;
use std::path::PathBuf;

use journal::{ReadJournal, Records};
use protocol::{ClusterMessage, Command, EGRESS_FRAME_SIZE_MAX, Seq, Sequenced, TimestampNs};
use transport::{Clock, Inbound, Outbound, StreamError};

use crate::node::{Applied, Output, Replica, ReplicaConfig, ReplicaError};
use crate::snapshots::{SnapshotWriter, newest_snapshot};

/// Messages taken from a stream per duty cycle, at most.
const POLL_LIMIT_MAX: usize = 256;
/// Journal records applied per duty cycle while catching up, at most.
const CATCH_UP_BATCH_MAX: usize = 4096;
/// With no live frame for this long, the agent looks in the journal for records it has not
/// applied: an engine dropped from the untethered sequenced stream (it lagged, say behind a
/// slow consumer) rejoins at the live position and would otherwise only learn of the gap from
/// the next frame, which may not come.
const QUIET_CHECK_NS: u64 = 10_000_000;
/// Consumers whose acknowledgements are tracked.
pub const CONSUMERS_MAX: usize = 64;

/// Why the engine process stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("gap in the sequenced stream and no journal to catch up from: {0}")]
    NoJournal(ReplicaError),
    #[error("journal: {0}")]
    Journal(#[from] journal::ReadError),
    #[error("journal record {seq} does not hold a command: {error}")]
    JournalBody {
        seq: u64,
        error: protocol::DecodeError,
    },
    #[error("snapshot {path}: {source}")]
    Snapshot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// Where the engine process keeps and finds things. `J` is the journal: a directory, or
/// [`journal::MemStorage`] in the simulator.
#[derive(Debug, Clone)]
pub struct AgentPaths<J = PathBuf> {
    /// The sequencer's journal, when co-located: start-up and gaps are filled from it.
    pub journal: Option<J>,
    /// Where snapshots are written and the newest is loaded from at start-up.
    pub snapshots: Option<PathBuf>,
}

impl<J> Default for AgentPaths<J> {
    fn default() -> Self {
        Self {
            journal: None,
            snapshots: None,
        }
    }
}

/// The streams an engine process uses.
#[derive(Debug)]
pub struct AgentStreams<I, A, E, S> {
    pub sequenced: I,
    pub acks: A,
    pub egress: E,
    pub status: S,
}

/// Counters for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AgentStats {
    pub applied_live: u64,
    pub applied_from_journal: u64,
    pub duplicates: u64,
    pub catch_ups: u64,
    /// Live frames that did not decode (read again from the journal).
    pub malformed_frames: u64,
    pub published: u64,
    /// Snapshots written (in the background).
    pub snapshots: u64,
    /// Snapshots skipped because the writer was still busy with earlier ones.
    pub snapshots_skipped: u64,
}

/// The engine process: see the module documentation.
#[derive(Debug)]
pub struct ReplicaAgent<C, I, A, E, S, J: ReadJournal = PathBuf> {
    replica: Replica,
    clock: C,
    streams: AgentStreams<I, A, E, S>,
    paths: AgentPaths<J>,
    catching_up: Option<J::Records>,
    /// An output the stream refused: sent again before anything else, and until it goes no
    /// input is taken (so outputs never pile up; the back-pressure reaches the sequencer).
    parked: Option<Output>,
    /// When a heartbeat last went out: while an egress frame is parked, heartbeats still go
    /// out at the configured interval, so a slow consumer does not look like a dead primary.
    last_status_ns: Option<u64>,
    now_ns: u64,
    /// When a live frame last arrived, or the journal was last checked.
    last_heard_ns: u64,
    acks: BTreeMap<u32, Seq>,
    snapshots: Option<SnapshotWriter>,
    stats: AgentStats,
}

impl<C: Clock, I: Inbound, A: Inbound, E: Outbound, S: Outbound, J: ReadJournal>
    ReplicaAgent<C, I, A, E, S, J>
{
    /// Loads the newest snapshot (if any) and catches up from the journal (if co-located).
    pub fn open(
        config: ReplicaConfig,
        paths: AgentPaths<J>,
        clock: C,
        streams: AgentStreams<I, A, E, S>,
    ) -> Result<Self, AgentError> {
        let replica = match paths
            .snapshots
            .as_deref()
            .map(newest_snapshot)
            .transpose()?
        {
            Some(Some(path)) => {
                let bytes = std::fs::read(&path).map_err(|source| AgentError::Snapshot {
                    path: path.clone(),
                    source,
                })?;
                Replica::from_snapshot(config, &bytes)?
            }
            _ => Replica::new(config),
        };
        let snapshots = paths
            .snapshots
            .clone()
            .map(SnapshotWriter::new)
            .transpose()?;
        let mut agent = Self {
            snapshots,
            replica,
            clock,
            streams,
            paths,
            catching_up: None,
            parked: None,
            last_status_ns: None,
            now_ns: 0,
            last_heard_ns: 0,
            acks: BTreeMap::new(),
            stats: AgentStats::default(),
        };
        agent.start_catch_up()?;
        Ok(agent)
    }

    /// One duty cycle; returns the work done (zero lets the idle strategy back off).
    pub fn do_work(&mut self) -> Result<usize, AgentError> {
        self.now_ns = self.clock.now_ns();
        self.replica.on_tick(self.now_ns);
        let mut work = self.send_outputs()?;
        if self.parked.is_none() {
            let input = if self.catching_up.is_some() {
                self.catch_up()?
            } else {
                self.take_sequenced()?
            };
            self.check_journal_when_quiet(input)?;
            work += input;
        }
        work += self.take_acks()?;
        work += self.send_outputs()?;
        if self.parked.is_some() {
            work += self.heartbeat_while_parked()?;
        }
        if let Some(writer) = &self.snapshots {
            self.stats.snapshots += writer.completed()?;
        }
        Ok(work)
    }

    /// The replica's heartbeats queue behind the parked frame: send one directly when due.
    fn heartbeat_while_parked(&mut self) -> Result<usize, AgentError> {
        let interval = self.replica.config().heartbeat_interval_ns;
        let due = self
            .last_status_ns
            .is_none_or(|last| self.now_ns.saturating_sub(last) >= interval);
        if !due {
            return Ok(0);
        }
        self.send(Output::Status(self.replica.status()))?;
        Ok(1)
    }

    fn check_journal_when_quiet(&mut self, input: usize) -> Result<(), AgentError> {
        if input > 0 || self.last_heard_ns == 0 {
            self.last_heard_ns = self.now_ns;
            return Ok(());
        }
        if self.catching_up.is_none()
            && self.now_ns.saturating_sub(self.last_heard_ns) >= QUIET_CHECK_NS
        {
            self.last_heard_ns = self.now_ns;
            self.start_catch_up()?;
        }
        Ok(())
    }

    fn start_catch_up(&mut self) -> Result<(), AgentError> {
        if let Some(journal) = &self.paths.journal {
            let from = self.replica.applied().0 + 1;
            match journal.read_from(from) {
                Ok(reader) => {
                    self.catching_up = Some(reader);
                    self.stats.catch_ups += 1;
                }
                // Nothing journaled beyond where we are (yet): live frames will do.
                Err(journal::ReadError::NotYetWritten { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn catch_up(&mut self) -> Result<usize, AgentError> {
        let reader = self.catching_up.as_mut().expect("catching up");
        let mut work = 0;
        while work < CATCH_UP_BATCH_MAX {
            let Some(record) = reader.next_record()? else {
                // Level with the journal: back to the live stream.
                self.catching_up = None;
                break;
            };
            let seq = record.seq;
            let command = Command::decode(record.body)
                .map_err(|error| AgentError::JournalBody { seq, error })?;
            let sequenced = Sequenced {
                seq: Seq(seq),
                timestamp: TimestampNs(record.timestamp_ns),
                command,
            };
            if let Applied::Command(_) = self.replica.apply(&sequenced)? {
                self.stats.applied_from_journal += 1;
            }
            work += 1;
        }
        Ok(work)
    }

    fn take_sequenced(&mut self) -> Result<usize, AgentError> {
        let (replica, stats) = (&mut self.replica, &mut self.stats);
        let mut gap = None;
        let mut on_frame = |bytes: &[u8]| {
            if gap.is_some() {
                return; // in the journal too: caught up from there
            }
            match replica.on_sequenced(bytes) {
                Ok(Applied::Command(_)) => stats.applied_live += 1,
                Ok(Applied::Duplicate(_)) => stats.duplicates += 1,
                Err(e) => gap = Some(e),
            }
        };
        let work = self.streams.sequenced.poll(POLL_LIMIT_MAX, &mut on_frame)?;
        match gap {
            Some(e @ ReplicaError::Gap { .. }) if self.paths.journal.is_some() => {
                self.start_catch_up()?;
                if self.catching_up.is_none() {
                    return Err(AgentError::NoJournal(e));
                }
            }
            Some(e @ ReplicaError::Gap { .. }) => return Err(AgentError::NoJournal(e)),
            // A live frame that does not decode: an untethered subscriber that falls behind
            // and rejoins can read a term while the publisher rewrites it. The rest of the
            // batch was dropped with it; the checksummed journal has the truth.
            Some(ReplicaError::Malformed(_)) if self.paths.journal.is_some() => {
                self.stats.malformed_frames += 1;
                self.start_catch_up()?;
            }
            Some(e) => return Err(e.into()),
            None => {}
        }
        Ok(work)
    }

    /// Consumer acknowledgements, and the auditor's reference hashes, which share the stream.
    fn take_acks(&mut self) -> Result<usize, AgentError> {
        let (acks, replica) = (&mut self.acks, &mut self.replica);
        let mut replays = Vec::new();
        let work = self.streams.acks.poll(POLL_LIMIT_MAX, &mut |bytes| {
            // Acks come from consumers: a malformed one is ignored, never trusted. Reference
            // hashes are trusted (one can stop a replica): only the auditor may publish them.
            match ClusterMessage::decode(bytes) {
                Ok(ClusterMessage::EgressAck(ack))
                    if acks.contains_key(&ack.consumer) || acks.len() < CONSUMERS_MAX =>
                {
                    let slot = acks.entry(ack.consumer).or_insert(ack.seq);
                    *slot = (*slot).max(ack.seq);
                }
                Ok(ClusterMessage::ReferenceHash(reference)) => {
                    replica.on_reference_hash(reference.seq, reference.state_hash);
                }
                Ok(ClusterMessage::EgressReplay(replay)) if replays.len() < POLL_LIMIT_MAX => {
                    replays.push(replay);
                }
                _ => {}
            }
        })?;
        for replay in replays {
            // An event parked behind back-pressure is buffered too: the replay re-queues it
            // in its place, after the events the consumer lost.
            if self.replica.on_egress_replay(replay.after, replay.consumer)
                && matches!(self.parked, Some(Output::Egress(_)))
            {
                self.parked = None;
            }
        }
        if let Some(&everyone) = self.acks.values().min() {
            self.replica.on_ack(everyone);
        }
        Ok(work)
    }

    fn send_outputs(&mut self) -> Result<usize, AgentError> {
        let mut work = 0;
        while let Some(output) = self.parked.take().or_else(|| self.replica.poll_output()) {
            if let Some(refused) = self.send(output)? {
                self.parked = Some(refused);
                break;
            }
            work += 1;
        }
        Ok(work)
    }

    /// Sends or stores one output; gives it back when the stream pushed back (try again later).
    fn send(&mut self, output: Output) -> Result<Option<Output>, AgentError> {
        match output {
            Output::Egress(event) => {
                let mut frame = [0u8; EGRESS_FRAME_SIZE_MAX];
                let n = event.encode_into(&mut frame).expect("frame fits any event");
                let sent = self.streams.egress.offer(&frame[..n])?;
                self.stats.published += u64::from(sent);
                Ok((!sent).then_some(output))
            }
            Output::ReplayStart(start) => {
                let bytes = ClusterMessage::EgressReplayStart(start).encode_to_vec();
                let sent = self.streams.egress.offer(&bytes)?;
                Ok((!sent).then_some(output))
            }
            Output::Status(status) => {
                // Heartbeats are periodic: one that finds the stream busy is dropped, not queued.
                let bytes = ClusterMessage::ReplicaStatus(status).encode_to_vec();
                let _sent = self.streams.status.offer(&bytes)?;
                self.last_status_ns = Some(self.now_ns);
                Ok(None)
            }
            Output::Snapshot { seq, bytes, .. } => {
                if let Some(writer) = &self.snapshots
                    && !writer.submit(seq, bytes)
                {
                    self.stats.snapshots_skipped += 1;
                }
                Ok(None)
            }
        }
    }

    /// The replica core, for inspection.
    #[must_use]
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Fault injection for drills and tests: see [`Replica::fault_inject_divergence_at`].
    pub fn fault_inject_divergence_at(&mut self, seq: Seq) {
        self.replica.fault_inject_divergence_at(seq);
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> AgentStats {
        self.stats
    }

    /// Whether the agent is replaying the journal rather than following the live stream.
    #[must_use]
    pub fn is_catching_up(&self) -> bool {
        self.catching_up.is_some()
    }
}
