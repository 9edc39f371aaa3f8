//! The replica's state machine.

use std::collections::{BTreeMap, VecDeque};

use matching_engine::{Engine, EngineConfig, SnapshotError};
use protocol::{
    AccountId, Command, DecodeError, EgressEvent, EgressPrefix, EgressReplayStart, Event, NodeId,
    Origin, ReplicaRole, ReplicaStatus, Seq, Sequenced, SetRiskLimits, StateDigest, StpMode, Term,
};

use crate::buffer::EventBuffer;

/// Configuration of a [`Replica`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// This replica's node id, as the sequencer's role changes name it.
    pub node: NodeId,
    /// A state hash checkpoint is reported after every command whose sequence number is a
    /// multiple of this.
    pub hash_interval: u64,
    /// A heartbeat is sent at least this often.
    pub heartbeat_interval_ns: u64,
    /// Most events kept for re-publishing after a failover.
    pub buffer_events_max: usize,
    /// The matching engine's capacities.
    pub engine: EngineConfig,
}

impl ReplicaConfig {
    /// Defaults for node `node`.
    #[must_use]
    pub fn new(node: NodeId) -> Self {
        Self {
            node,
            hash_interval: 1024,
            heartbeat_interval_ns: 1_000_000,
            buffer_events_max: 1 << 16,
            engine: EngineConfig::default(),
        }
    }
}

/// Checkpoints kept for comparison with reference hashes that arrive after the replica passed
/// their sequence number.
const CHECKPOINTS_MAX: usize = 64;
/// Reference hashes kept for sequence numbers the replica has not reached yet (it lags the
/// auditor). When full, the lowest are kept: they are compared first.
pub const REFERENCES_PENDING_MAX: usize = 64;
const _: () = assert!(REFERENCES_PENDING_MAX > 0 && CHECKPOINTS_MAX > 0);

/// The account [`Replica::fault_inject_divergence_at`] gives risk limits to: one no client uses.
const FAULT_ACCOUNT: AccountId = AccountId(u32::MAX - 0x0fa1);

/// What the caller must send or store, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// An event for the clients (the primary's egress stream).
    Egress(EgressEvent),
    /// The answer to a consumer's replay request, on the egress stream ahead of the events it
    /// asked for (see [`Replica::on_egress_replay`]).
    ReplayStart(EgressReplayStart),
    /// A heartbeat and hash checkpoint for the sequencer (the control stream).
    Status(ReplicaStatus),
    /// A snapshot taken at a [`protocol::SnapshotMarker`]: store it (see
    /// [`Replica::from_snapshot`]).
    Snapshot {
        seq: Seq,
        snapshot_id: u64,
        bytes: Vec<u8>,
    },
}

/// What became of a sequenced frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Applied: the replica is now at this sequence number.
    Command(Seq),
    /// Already applied (a retransmission): ignored.
    Duplicate(Seq),
}

/// Why a frame could not be applied. A gap means the caller must catch up from the journal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    #[error("malformed sequenced frame: {0}")]
    Malformed(#[from] DecodeError),
    #[error("gap in the sequenced stream: expected seq {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    #[error("snapshot: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("replica snapshot header: {0}")]
    SnapshotHeader(&'static str),
}

/// An engine node: see the crate documentation.
#[derive(Debug)]
pub struct Replica {
    config: ReplicaConfig,
    engine: Engine,
    role: ReplicaRole,
    /// The primary named by the last role change.
    primary: NodeId,
    term: Term,
    applied: Seq,
    acked: Seq,
    checkpoints: VecDeque<(Seq, StateDigest)>,
    /// Reference hashes for checkpoints still ahead, by sequence number.
    references: BTreeMap<Seq, StateDigest>,
    /// The checkpoint that disagreed with its reference, once one did.
    diverged: Option<(Seq, StateDigest)>,
    /// The newest checkpoint whose status has left ([`Replica::poll_output`]): heartbeats
    /// repeat it, so checkpoints are reported in order even when one waits behind egress.
    reported: (Seq, StateDigest),
    /// Fault injection (drills and tests): perturb the engine after applying this seq.
    fault_at: Option<Seq>,
    buffer: EventBuffer,
    events: Vec<Event>,
    outputs: VecDeque<Output>,
    last_heartbeat_ns: Option<u64>,
}

impl Replica {
    /// A replica at the start of the stream.
    #[must_use]
    pub fn new(config: ReplicaConfig) -> Self {
        Self::with_engine(config, Engine::new(config.engine), Seq(0), Term(0))
    }

    fn with_engine(config: ReplicaConfig, engine: Engine, applied: Seq, term: Term) -> Self {
        assert!(config.hash_interval > 0, "hash_interval must be at least 1");
        Self {
            config,
            engine,
            role: ReplicaRole::Backup,
            primary: NodeId(0),
            term,
            applied,
            acked: applied,
            checkpoints: VecDeque::with_capacity(CHECKPOINTS_MAX),
            references: BTreeMap::new(),
            diverged: None,
            reported: (Seq(0), StateDigest(0)),
            fault_at: None,
            buffer: EventBuffer::new(config.buffer_events_max),
            events: Vec::with_capacity(1024),
            outputs: VecDeque::with_capacity(1024),
            last_heartbeat_ns: None,
        }
    }

    /// Applies one sequenced frame from the stream.
    pub fn on_sequenced(&mut self, bytes: &[u8]) -> Result<Applied, ReplicaError> {
        let sequenced = Sequenced::decode(bytes)?;
        self.apply(&sequenced)
    }

    /// Applies one sequenced command (from the stream or a journal).
    pub fn apply(&mut self, sequenced: &Sequenced) -> Result<Applied, ReplicaError> {
        let seq = sequenced.seq;
        if seq <= self.applied {
            return Ok(Applied::Duplicate(seq));
        }
        if seq.0 != self.applied.0 + 1 {
            return Err(ReplicaError::Gap {
                expected: self.applied.0 + 1,
                got: seq.0,
            });
        }
        if let Command::RoleChange(change) = sequenced.command {
            self.change_roles(change.term, change.primary);
        }
        self.events.clear();
        self.engine.apply(sequenced, &mut self.events);
        self.applied = seq;
        self.emit_events(seq);
        if self.fault_at == Some(seq) {
            self.fault_perturb_engine(sequenced);
        }
        if seq.0.is_multiple_of(self.config.hash_interval) {
            self.checkpoint(seq);
        }
        // A diverged replica's state is known to be wrong: it must not be resumed from.
        if let Command::SnapshotMarker(marker) = sequenced.command
            && self.diverged.is_none()
        {
            let mut bytes = Vec::new();
            self.write_snapshot(&mut bytes);
            let snapshot_id = marker.snapshot_id;
            self.outputs.push_back(Output::Snapshot {
                seq,
                snapshot_id,
                bytes,
            });
        }
        Ok(Applied::Command(seq))
    }

    fn change_roles(&mut self, term: Term, primary: NodeId) {
        assert!(
            term > self.term,
            "terms only increase: {:?} then {term:?}",
            self.term
        );
        let was_primary = self.role == ReplicaRole::Primary;
        self.term = term;
        self.primary = primary;
        if self.role == ReplicaRole::Diverged {
            return;
        }
        self.role = if primary == self.config.node {
            ReplicaRole::Primary
        } else {
            ReplicaRole::Backup
        };
        if self.role == ReplicaRole::Primary && !was_primary {
            // Promoted: first what consumers may have missed from the old primary, in order.
            for (prefix, event) in self.buffer.restamped(term) {
                self.outputs
                    .push_back(Output::Egress(EgressEvent { prefix, event }));
            }
        }
    }

    fn emit_events(&mut self, seq: Seq) {
        let count = u32::try_from(self.events.len()).expect("a command emits < 2^32 events");
        for (index, &event) in self.events.iter().enumerate() {
            let index = u32::try_from(index).expect("below count");
            let prefix = EgressPrefix {
                term: self.term,
                seq,
                index,
                count,
            };
            self.buffer.push(prefix, event);
            if self.role == ReplicaRole::Primary {
                self.outputs
                    .push_back(Output::Egress(EgressEvent { prefix, event }));
            }
        }
    }

    fn checkpoint(&mut self, seq: Seq) {
        if self.checkpoints.len() == CHECKPOINTS_MAX {
            self.checkpoints.pop_front();
        }
        let mine = StateDigest(self.engine.state_hash().0);
        self.checkpoints.push_back((seq, mine));
        // References for checkpoints this replica skipped (it started from a snapshot) are
        // of no use any more; the one for this checkpoint is compared now.
        while let Some(entry) = self.references.first_entry() {
            if *entry.key() > seq {
                break;
            }
            let (at, reference) = entry.remove_entry();
            if at == seq && reference != mine {
                self.diverge(seq, mine);
            }
        }
        if self.diverged.is_none() {
            let mut status = self.status();
            (status.hash_seq, status.state_hash) = (seq, mine);
            self.outputs.push_back(Output::Status(status));
        }
    }

    /// Stops serving: the checkpoint `(seq, mine)` disagreed with the reference. Heartbeats
    /// still queued (behind egress) are dropped, so none that says otherwise goes out after
    /// this; one saying `Diverged` goes after what is queued.
    fn diverge(&mut self, seq: Seq, mine: StateDigest) {
        if self.diverged.is_none() {
            self.role = ReplicaRole::Diverged;
            self.diverged = Some((seq, mine));
            self.references.clear();
            self.outputs.retain(|o| !matches!(o, Output::Status(_)));
            self.outputs.push_back(Output::Status(self.status()));
        }
    }

    /// Consumers have every event of the commands up to `seq`.
    pub fn on_ack(&mut self, seq: Seq) {
        if seq > self.acked {
            self.acked = seq;
            self.buffer.acknowledge(seq);
        }
    }

    /// A consumer asks for the events of the commands after `after` again (it restarted and
    /// lost what was in flight). A primary drops the egress it has not handed out yet, then
    /// queues the answer: a [`Output::ReplayStart`] and every buffered event after `after`,
    /// re-stamped with its term, in order. What was dropped is among them (the buffer holds
    /// every event until acknowledged), so no consumer sees an event ahead of an older one it
    /// has not seen. Returns whether it answered (a backup or a diverged replica does not).
    pub fn on_egress_replay(&mut self, after: Seq, consumer: u32) -> bool {
        if self.role != ReplicaRole::Primary {
            return false;
        }
        self.outputs.retain(|o| !matches!(o, Output::Egress(_)));
        let start = EgressReplayStart {
            term: self.term,
            after,
            consumer,
        };
        self.outputs.push_back(Output::ReplayStart(start));
        for (prefix, event) in self.buffer.restamped(self.term) {
            if prefix.seq > after {
                self.outputs
                    .push_back(Output::Egress(EgressEvent { prefix, event }));
            }
        }
        true
    }

    /// A trusted replay of the journal (the auditor) reports the state hash after `seq`. If
    /// this replica's checkpoint there differs, it has diverged: it stops serving and says so in
    /// its heartbeats. A reference for a checkpoint still ahead is kept (up to
    /// [`REFERENCES_PENDING_MAX`]) and compared when the replica takes that checkpoint; one
    /// for a checkpoint older than the last `CHECKPOINTS_MAX` is of no use and dropped.
    /// Returns whether the replica diverged now.
    pub fn on_reference_hash(&mut self, seq: Seq, digest: StateDigest) -> bool {
        if self.diverged.is_some() || !seq.0.is_multiple_of(self.config.hash_interval) {
            return false;
        }
        if seq > self.applied {
            self.references.insert(seq, digest);
            if self.references.len() > REFERENCES_PENDING_MAX {
                self.references.pop_last();
            }
            return false;
        }
        let mine = self
            .checkpoints
            .iter()
            .find(|(s, _)| *s == seq)
            .map(|(_, d)| *d);
        match mine {
            Some(mine) if mine != digest => {
                self.diverge(seq, mine);
                true
            }
            _ => false,
        }
    }

    /// Lets time pass: heartbeats.
    /// At most one heartbeat waits in the outputs: a caller that cannot send (a parked egress
    /// frame ahead of it) does not pile them up.
    pub fn on_tick(&mut self, now_ns: u64) {
        let interval = self.config.heartbeat_interval_ns;
        let due = self
            .last_heartbeat_ns
            .is_none_or(|last| now_ns.saturating_sub(last) >= interval);
        let waiting = || self.outputs.iter().any(|o| matches!(o, Output::Status(_)));
        if due && !waiting() {
            self.last_heartbeat_ns = Some(now_ns);
            self.outputs.push_back(Output::Status(self.status()));
        }
    }

    /// The configuration it runs with.
    #[must_use]
    pub fn config(&self) -> &ReplicaConfig {
        &self.config
    }

    /// The next thing to send or store.
    pub fn poll_output(&mut self) -> Option<Output> {
        let output = self.outputs.pop_front()?;
        if let Output::Status(status) = &output
            && self.diverged.is_none()
            && status.hash_seq > self.reported.0
        {
            self.reported = (status.hash_seq, status.state_hash);
        }
        Some(output)
    }

    /// This replica's heartbeat as of now, with the newest checkpoint already reported (a
    /// newer one may still wait in the outputs); a diverged replica names the checkpoint that
    /// disagreed instead.
    #[must_use]
    pub fn status(&self) -> ReplicaStatus {
        let (hash_seq, state_hash) = self.diverged.unwrap_or(self.reported);
        ReplicaStatus {
            term: self.term,
            applied_seq: self.applied,
            hash_seq,
            state_hash,
            acked_seq: self.acked,
            node: self.config.node,
            role: self.role,
        }
    }

    /// The last sequence number applied.
    #[must_use]
    pub fn applied(&self) -> Seq {
        self.applied
    }

    /// The role in force.
    #[must_use]
    pub fn role(&self) -> ReplicaRole {
        self.role
    }

    /// The checkpoint that disagreed with its reference hash (sequence number, this replica's
    /// hash there), once the replica diverged.
    #[must_use]
    pub fn diverged_at(&self) -> Option<(Seq, StateDigest)> {
        self.diverged
    }

    /// The term in force.
    #[must_use]
    pub fn term(&self) -> Term {
        self.term
    }

    /// The engine's state hash now.
    #[must_use]
    pub fn state_hash(&self) -> StateDigest {
        StateDigest(self.engine.peek_state_hash().0)
    }

    /// Events kept for re-publishing.
    #[must_use]
    pub fn buffer(&self) -> &EventBuffer {
        &self.buffer
    }
}

/// Fault injection, for drills and tests (`lockstep engine --fault-diverge-at`): a healthy
/// cluster never calls these.
impl Replica {
    /// Arms a deliberate divergence: right after applying `seq` (before its checkpoint, if it
    /// has one), this replica's engine alone applies one command that is not in the stream,
    /// and whatever it answers is thrown away. The first checkpoint at or after `seq` then
    /// disagrees with every other replica and with the auditor.
    ///
    /// The command gives risk limits to an account no client uses, so the state hash changes
    /// but no later event does: the kind of divergence only a state hash finds.
    pub fn fault_inject_divergence_at(&mut self, seq: Seq) {
        self.fault_at = Some(seq);
    }

    fn fault_perturb_engine(&mut self, at: &Sequenced) {
        let before = self.engine.state_hash();
        let command = Command::SetRiskLimits(SetRiskLimits {
            origin: Origin::default(),
            account: FAULT_ACCOUNT,
            max_open_orders: 1,
            max_order_qty: protocol::Qty(1),
            max_notional: 1,
            price_band: 1,
            stp_mode: StpMode::CancelBoth,
        });
        let mut discarded = Vec::new();
        self.engine
            .apply(&Sequenced { command, ..*at }, &mut discarded);
        assert!(
            self.engine.state_hash() != before,
            "fault injection at {at:?} left the state unchanged (account table full?)",
            at = at.seq
        );
    }
}

/// Replica snapshots: a 32-byte little-endian header, then the engine's own snapshot (which
/// carries its own checksum).
///
/// ```text
/// 0      4        6       8          16      24        28        32
/// | LSRP | ver=1  | 0 0   | applied  | term  | primary | 0 0 0 0 | engine snapshot ...
/// ```
const SNAPSHOT_MAGIC: [u8; 4] = *b"LSRP";
const SNAPSHOT_VERSION: u16 = 1;
const SNAPSHOT_HEADER_SIZE: usize = 32;

impl Replica {
    fn write_snapshot(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&SNAPSHOT_MAGIC);
        out.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        out.extend_from_slice(&[0; 2]);
        out.extend_from_slice(&self.applied.0.to_le_bytes());
        out.extend_from_slice(&self.term.0.to_le_bytes());
        out.extend_from_slice(&self.primary.0.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        self.engine.snapshot(out);
    }

    /// A replica resuming from a snapshot taken by [`Output::Snapshot`]: it continues from the
    /// snapshot's sequence number as a backup until a role change says otherwise.
    pub fn from_snapshot(config: ReplicaConfig, bytes: &[u8]) -> Result<Self, ReplicaError> {
        let header = bytes
            .get(..SNAPSHOT_HEADER_SIZE)
            .ok_or(ReplicaError::SnapshotHeader("truncated"))?;
        if header[..4] != SNAPSHOT_MAGIC {
            return Err(ReplicaError::SnapshotHeader(
                "not a replica snapshot (bad magic)",
            ));
        }
        if header[4..6] != SNAPSHOT_VERSION.to_le_bytes() {
            return Err(ReplicaError::SnapshotHeader("unsupported version"));
        }
        if header[6..8] != [0; 2] || header[28..32] != [0; 4] {
            return Err(ReplicaError::SnapshotHeader("reserved bytes are not zero"));
        }
        let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let primary = NodeId(u32::from_le_bytes(
            header[24..28].try_into().expect("4 bytes"),
        ));
        let engine = Engine::restore(&bytes[SNAPSHOT_HEADER_SIZE..])?;
        let mut replica = Self::with_engine(config, engine, Seq(word(8)), Term(word(16)));
        replica.primary = primary;
        if primary == config.node {
            replica.role = ReplicaRole::Primary;
        }
        Ok(replica)
    }
}
