//! The sequencer process's duty cycle: the [`Sequencer`] core wired to a journal and streams.
//!
//! Each [`SequencerAgent::do_work`] call: lets time pass on the core, takes replica heartbeats,
//! takes as much ingress as the core has room for, appends everything the core sequenced to the
//! journal (under its durability policy), and only then publishes, from the journal itself, the
//! records the policy allows. It returns the work done so an idle strategy can back off.

use std::path::Path;

use journal::{FileStorage, ReadJournal, RecordKind, Records, Storage, Writer};
use protocol::{Command, SEQUENCED_FRAME_SIZE_MAX, Seq, Sequenced, TimestampNs};

use crate::core::{Ingress, IngressError, Sequencer, SequencerConfig};
use crate::roles::StatusError;
use transport::{Clock, Inbound, Outbound, StreamError};

/// Messages taken from a stream per duty cycle, at most.
const POLL_LIMIT_MAX: usize = 256;
/// Frames published per duty cycle, at most.
const PUBLISH_BATCH_MAX: usize = 1024;

/// Why the sequencer stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("opening the journal: {0}")]
    JournalOpen(#[from] journal::OpenError),
    #[error("reading the journal: {0}")]
    JournalRead(#[from] journal::ReadError),
    #[error("journal record {seq} does not hold a command: {error}")]
    JournalBody {
        seq: u64,
        error: protocol::DecodeError,
    },
    #[error("appending to the journal: {0}")]
    Append(#[from] journal::AppendError),
    #[error("syncing the journal: {0}")]
    Sync(#[from] journal::SyncError),
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// Counters for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AgentStats {
    pub sequenced: u64,
    pub duplicates: u64,
    pub refused: u64,
    pub published: u64,
    pub publish_backpressure: u64,
}

/// The sequencer process: see the module documentation. `J` is where the journal lives:
/// files, or [`journal::MemStorage`] in the simulator.
pub struct SequencerAgent<C, I, S, P, J: Storage + ReadJournal = FileStorage> {
    core: Sequencer,
    journal: Writer<J>,
    reader: J::Records,
    clock: C,
    ingress: I,
    status: S,
    sequenced: P,
    /// A frame offered to `sequenced` and refused by back-pressure: offered again first.
    parked: Option<(u64, Vec<u8>)>,
    publish_durable_only: bool,
    stats: AgentStats,
    /// Why the latest refused ingress message was refused, until taken for a log line.
    last_refusal: Option<IngressError>,
}

impl<C, I, S, P, J: Storage + ReadJournal> std::fmt::Debug for SequencerAgent<C, I, S, P, J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequencerAgent")
            .field("core", &self.core)
            .field("journal_last_seq", &self.journal.last_seq())
            .field("reader", &self.reader)
            .field("parked", &self.parked.as_ref().map(|(seq, _)| seq))
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<C: Clock, I: Inbound, S: Inbound, P: Outbound> SequencerAgent<C, I, S, P> {
    /// Opens (recovering) the journal in `dir` and rebuilds the core from it. Publishing resumes
    /// `republish` records before the journal's end: replicas ignore what they already applied,
    /// and fill larger gaps from the journal.
    pub fn open(
        dir: &Path,
        journal_config: journal::Config,
        config: SequencerConfig,
        republish: u64,
        clock: C,
        streams: (I, S, P),
    ) -> Result<Self, AgentError> {
        let journal = Writer::open(dir, journal_config)?;
        Self::with_journal(journal, config, republish, clock, streams)
    }
}

impl<C: Clock, I: Inbound, S: Inbound, P: Outbound, J: Storage + ReadJournal>
    SequencerAgent<C, I, S, P, J>
{
    /// [`SequencerAgent::open`] over any storage (the simulator's is in memory).
    pub fn open_with(
        storage: J,
        journal_config: journal::Config,
        config: SequencerConfig,
        republish: u64,
        clock: C,
        streams: (I, S, P),
    ) -> Result<Self, AgentError> {
        let journal = Writer::open_with(storage, journal_config)?;
        Self::with_journal(journal, config, republish, clock, streams)
    }

    fn with_journal(
        journal: Writer<J>,
        config: SequencerConfig,
        republish: u64,
        clock: C,
        streams: (I, S, P),
    ) -> Result<Self, AgentError> {
        let journal_config = *journal.config();
        let mut core = Sequencer::new(config);
        let mut replay = journal.storage().read_from(1)?;
        while let Some(record) = replay.next_record()? {
            let command =
                Command::decode(record.body).map_err(|error| AgentError::JournalBody {
                    seq: record.seq,
                    error,
                })?;
            let timestamp = TimestampNs(record.timestamp_ns);
            core.recover(&Sequenced {
                seq: Seq(record.seq),
                timestamp,
                command,
            });
        }
        let from = journal.last_seq().saturating_sub(republish) + 1;
        let reader = journal.storage().read_from(from)?;
        let publish_durable_only = journal_config.durability == journal::Durability::Every;
        let (ingress, status, sequenced) = streams;
        Ok(Self {
            core,
            journal,
            reader,
            clock,
            ingress,
            status,
            sequenced,
            parked: None,
            publish_durable_only,
            stats: AgentStats::default(),
            last_refusal: None,
        })
    }

    /// One duty cycle; returns the work done (zero lets the idle strategy back off).
    pub fn do_work(&mut self) -> Result<usize, AgentError> {
        let now = self.clock.now_ns();
        let mut work = self.core.on_tick(now);
        work += self.take_heartbeats(now)?;
        work += self.take_ingress(now)?;
        work += self.journal_sequenced()?;
        self.journal.tick(now)?;
        work += self.publish()?;
        Ok(work)
    }

    fn take_heartbeats(&mut self, now: u64) -> Result<usize, AgentError> {
        let core = &mut self.core;
        Ok(self.status.poll(POLL_LIMIT_MAX, &mut |bytes| {
            // A bad heartbeat is the replica's problem: it is not trusted, and not fatal here.
            let _ = core.on_replica_status(now, bytes);
        })?)
    }

    /// Takes no more than the core has room for, so the core never has to refuse for
    /// back-pressure: the ingress stream itself then pushes back on the gateways.
    fn take_ingress(&mut self, now: u64) -> Result<usize, AgentError> {
        let room = self.core.room();
        if room == 0 {
            return Ok(0);
        }
        let (core, stats, last) = (&mut self.core, &mut self.stats, &mut self.last_refusal);
        let mut on_message = |bytes: &[u8]| match core.on_ingress(now, bytes) {
            Ok(Ingress::Sequenced(_)) => stats.sequenced += 1,
            Ok(Ingress::Duplicate { .. }) => stats.duplicates += 1,
            Err(IngressError::Backpressure(_)) => unreachable!("polled within the core's room"),
            Err(why) => {
                stats.refused += 1;
                *last = Some(why);
            }
        };
        Ok(self
            .ingress
            .poll(room.min(POLL_LIMIT_MAX), &mut on_message)?)
    }

    /// Journal first: everything sequenced goes to the journal before it may be published.
    fn journal_sequenced(&mut self) -> Result<usize, AgentError> {
        let mut body = [0u8; protocol::COMMAND_SIZE_MAX];
        let mut work = 0;
        while let Some(sequenced) = self.core.poll_output() {
            let n = sequenced
                .command
                .encode_into(&mut body)
                .expect("body fits any command");
            let (seq, at) = (sequenced.seq.0, sequenced.timestamp.0);
            let _receipt = self
                .journal
                .append_at(seq, at, RecordKind::COMMAND, &body[..n])?;
            work += 1;
        }
        Ok(work)
    }

    /// Publishes journaled records in order, up to what the durability policy allows.
    fn publish(&mut self) -> Result<usize, AgentError> {
        let limit = if self.publish_durable_only {
            self.journal.durable_seq()
        } else {
            self.journal.last_seq()
        };
        let mut work = 0;
        if let Some((seq, frame)) = self.parked.take() {
            if !self.sequenced.offer(&frame)? {
                self.parked = Some((seq, frame));
                self.stats.publish_backpressure += 1;
                return Ok(0);
            }
            self.stats.published += 1;
            work += 1;
        }
        let mut frame = [0u8; SEQUENCED_FRAME_SIZE_MAX];
        while work < PUBLISH_BATCH_MAX && self.reader.next_seq() <= limit {
            let Some(record) = self.reader.next_record()? else {
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
            let n = sequenced
                .encode_into(&mut frame)
                .expect("frame fits any command");
            if !self.sequenced.offer(&frame[..n])? {
                self.parked = Some((seq, frame[..n].to_vec()));
                self.stats.publish_backpressure += 1;
                break;
            }
            self.stats.published += 1;
            work += 1;
        }
        Ok(work)
    }

    /// Publishes what is journaled but not yet published, taking no new input: the clean-stop
    /// path, so that replicas end level with the journal. Returns whether all of it is out
    /// (call again, idling, while it is not).
    pub fn publish_journaled(&mut self) -> Result<bool, AgentError> {
        self.journal.tick(self.clock.now_ns())?;
        self.publish()?;
        let limit = if self.publish_durable_only {
            self.journal.durable_seq()
        } else {
            self.journal.last_seq()
        };
        Ok(self.parked.is_none() && self.reader.next_seq() > limit)
    }

    /// Syncs and closes the journal.
    pub fn close(self) -> Result<(), AgentError> {
        self.journal.close()?;
        Ok(())
    }

    /// A replica's liveness link came up or closed (see [`Sequencer::on_replica_link`]); the
    /// next duty cycle fails over if a primary's link closed.
    pub fn on_replica_link(&mut self, node: protocol::NodeId, up: bool) -> Result<(), StatusError> {
        self.core.on_replica_link(node, up)
    }

    /// The core, for inspection.
    #[must_use]
    pub fn core(&self) -> &Sequencer {
        &self.core
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> AgentStats {
        self.stats
    }

    /// Why the latest refused ingress message was refused, if one was since the last call (the
    /// count is in [`AgentStats::refused`]). Refusals are not answered on any stream (a
    /// gateway finds out by its requests going unanswered), so the operator's log says why.
    pub fn take_refusal(&mut self) -> Option<IngressError> {
        self.last_refusal.take()
    }

    /// Every record up to this one is durable.
    #[must_use]
    pub fn durable_seq(&self) -> u64 {
        self.journal.durable_seq()
    }
}
