//! The sequencer's state machine.

use std::collections::{BTreeMap, VecDeque};

use protocol::{
    ClusterMessage, Command, DecodeError, NodeId, Origin, RequestId, RoleChange, Seq, Sequenced,
    SessionId, SnapshotMarker, Term, Timer, TimestampNs,
};

use crate::roles::{ReplicaView, RoleTracker, Roles, StatusError};

/// Configuration of a [`Sequencer`]. All limits are hard: nothing grows past them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencerConfig {
    /// Client sessions whose last request id is remembered for deduplication.
    pub sessions_max: usize,
    /// Sequenced commands waiting for the caller to journal them. When full, ingress is refused
    /// with [`IngressError::Backpressure`] (nothing is dropped: the caller retries).
    pub pending_max: usize,
    /// A [`Timer`] command is sequenced this often (0: never).
    pub timer_interval_ns: u64,
    /// A [`SnapshotMarker`] is sequenced once this many commands followed the last one (0:
    /// never), so engines snapshot at the same point of the order without anyone asking.
    pub snapshot_interval: u64,
    /// A primary silent for longer than this is replaced by the backup.
    pub replica_timeout_ns: u64,
    /// A replica not heard at all since the sequencer started is given this long from the
    /// first heartbeat of any replica, if that is longer than `replica_timeout_ns`: a short
    /// timeout must not fail over an engine that merely started a little later.
    pub start_grace_ns: u64,
    /// The replicas, in order of preference: the first is the initial primary, the second the
    /// initial backup.
    pub replicas: Vec<NodeId>,
}

/// Most replicas a cluster may name.
pub const REPLICAS_MAX: usize = 8;
/// System commands (timers, role changes) may exceed `pending_max` by this much, so a loaded
/// sequencer still ticks and fails over.
const SYSTEM_HEADROOM_MAX: usize = 4;

impl Default for SequencerConfig {
    fn default() -> Self {
        Self {
            sessions_max: 1 << 16,
            pending_max: 1 << 12,
            timer_interval_ns: 1_000_000,
            snapshot_interval: 0,
            replica_timeout_ns: 5_000_000,
            start_grace_ns: 1_000_000_000,
            replicas: vec![NodeId(1), NodeId(2)],
        }
    }
}

/// What became of a well-formed ingress message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// Sequenced under this number.
    Sequenced(Seq),
    /// A retry of a request already sequenced (its request id is not above the session's last):
    /// not sequenced again. The original's events answer it.
    Duplicate {
        session: SessionId,
        request_id: RequestId,
        last: RequestId,
    },
}

/// Why an ingress message was refused. Only `Backpressure` is worth retrying.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngressError {
    #[error("malformed command: {0}")]
    Malformed(#[from] DecodeError),
    #[error("{0} commands are sequenced by the sequencer itself, not accepted from gateways")]
    SystemCommand(&'static str),
    #[error("session 0 is reserved for the system")]
    SystemSession,
    #[error("the session table is full ({0} sessions)")]
    SessionsFull(usize),
    #[error("{0} commands are waiting to be journaled: retry later")]
    Backpressure(usize),
    /// A session's request ids go up by one: a later one arriving first means the ones between
    /// were lost on the way (a sequencer restart drops what it had read but not journaled).
    /// The gateway resends from `expected`; taking `got` now would make those look like retries.
    #[error("session {session}: request {got} arrived before {expected}: resend from {expected}")]
    RequestGap {
        session: u32,
        expected: u64,
        got: u64,
    },
}

/// The sequencer: see the crate documentation.
#[derive(Debug)]
pub struct Sequencer {
    config: SequencerConfig,
    next_seq: u64,
    last_timestamp_ns: u64,
    /// The last sequenced request id of each session.
    sessions: BTreeMap<SessionId, RequestId>,
    roles: RoleTracker,
    /// Whether the replicas' silence clocks run: they start at the first heartbeat after
    /// construction (or recovery), so nobody is judged by journal timestamps from before a
    /// restart, nor for starting later than the sequencer. No role change is due before.
    watching: bool,
    last_timer_ns: Option<u64>,
    /// Commands sequenced since the last snapshot marker.
    since_snapshot: u64,
    next_snapshot_id: u64,
    pending: VecDeque<Sequenced>,
}

impl Sequencer {
    /// A sequencer for an empty journal. For an existing one, feed its records to
    /// [`Sequencer::recover`] before anything else.
    ///
    /// # Panics
    /// If the configuration is unusable (no replica, zero limits or timeout).
    #[must_use]
    pub fn new(config: SequencerConfig) -> Self {
        assert!(
            config.sessions_max > 0 && config.pending_max > 0,
            "zero limits: {config:?}"
        );
        assert!(
            (1..=REPLICAS_MAX).contains(&config.replicas.len()),
            "1..={REPLICAS_MAX} replicas: {config:?}"
        );
        let roles = RoleTracker::new(
            &config.replicas,
            config.replica_timeout_ns,
            config.start_grace_ns,
        );
        Self {
            pending: VecDeque::with_capacity(config.pending_max + SYSTEM_HEADROOM_MAX),
            config,
            next_seq: 1,
            last_timestamp_ns: 0,
            sessions: BTreeMap::new(),
            roles,
            watching: false,
            last_timer_ns: None,
            since_snapshot: 0,
            next_snapshot_id: 1,
        }
    }

    /// Rebuilds state from a journaled command. Call for every record, in order, before any
    /// other input: afterwards the sequence continues with no gap and no duplicate, retries of
    /// journaled requests are still recognised, and the journaled roles are in force.
    ///
    /// # Panics
    /// If `sequenced` is not the next sequence number (the journal guarantees contiguity).
    pub fn recover(&mut self, sequenced: &Sequenced) {
        assert_eq!(
            sequenced.seq.0, self.next_seq,
            "recovery must be contiguous"
        );
        assert!(
            self.pending.is_empty(),
            "recover before sequencing anything new"
        );
        self.next_seq += 1;
        self.last_timestamp_ns = self.last_timestamp_ns.max(sequenced.timestamp.0);
        self.note_sequenced(&sequenced.command, sequenced.timestamp.0);
    }

    /// Takes one message from a gateway: sequences it, recognises it as a retry, or refuses it.
    /// On `Backpressure` nothing changed: offer the same bytes again later.
    pub fn on_ingress(&mut self, now_ns: u64, bytes: &[u8]) -> Result<Ingress, IngressError> {
        let command = Command::decode(bytes)?;
        match command {
            Command::Timer(_) => return Err(IngressError::SystemCommand("Timer")),
            Command::RoleChange(_) => return Err(IngressError::SystemCommand("RoleChange")),
            _ => {}
        }
        let Origin {
            session,
            request_id,
            ..
        } = *command.origin();
        if session == SessionId(0) {
            return Err(IngressError::SystemSession);
        }
        // A session's request ids start at 1: a session not seen yet has sequenced request 0,
        // so a first request that arrives after a later one is not mistaken for a retry.
        let known = self.sessions.get(&session).copied();
        let last = known.unwrap_or(RequestId(0));
        if request_id <= last {
            return Ok(Ingress::Duplicate {
                session,
                request_id,
                last,
            });
        }
        if request_id.0 > last.0 + 1 {
            return Err(IngressError::RequestGap {
                session: session.0,
                expected: last.0 + 1,
                got: request_id.0,
            });
        }
        if known.is_none() && self.sessions.len() >= self.config.sessions_max {
            return Err(IngressError::SessionsFull(self.config.sessions_max));
        }
        if self.pending.len() >= self.config.pending_max {
            return Err(IngressError::Backpressure(self.pending.len()));
        }
        self.ensure_roles(now_ns);
        Ok(Ingress::Sequenced(self.sequence(now_ns, command)))
    }

    /// Takes a replica's heartbeat (a [`protocol::ReplicaStatus`] message).
    pub fn on_replica_status(&mut self, now_ns: u64, bytes: &[u8]) -> Result<(), StatusRefused> {
        self.watch(now_ns);
        match ClusterMessage::decode(bytes)? {
            ClusterMessage::ReplicaStatus(status) => Ok(self.roles.on_status(now_ns, status)?),
            other => Err(StatusRefused::NotAStatus(other.name())),
        }
    }

    /// A replica's liveness link came up (`up`) or closed. A closed link means its process is
    /// gone: the next [`Sequencer::on_tick`] fails over from it as from a silent primary,
    /// without waiting for the heartbeat timeout. It counts as alive again once it links again.
    pub fn on_replica_link(&mut self, node: NodeId, up: bool) -> Result<(), StatusError> {
        self.roles.on_link(node, up)
    }

    /// Lets time pass: assigns the first roles, sequences due timers, and fails over when a
    /// primary has gone silent. Returns how many commands it sequenced.
    pub fn on_tick(&mut self, now_ns: u64) -> usize {
        let before = self.next_seq;
        self.ensure_roles(now_ns);
        let room = self.pending.len() < self.config.pending_max + SYSTEM_HEADROOM_MAX;
        let change = self
            .watching
            .then(|| self.roles.change_due(now_ns))
            .flatten();
        if let Some(roles) = change.filter(|_| room) {
            self.sequence_roles(now_ns, roles);
        }
        let room = self.pending.len() < self.config.pending_max + SYSTEM_HEADROOM_MAX;
        let interval = self.config.timer_interval_ns;
        let due = self
            .last_timer_ns
            .is_none_or(|last| now_ns.saturating_sub(last) >= interval);
        if interval > 0 && due && room {
            self.last_timer_ns = Some(now_ns);
            self.sequence(
                now_ns,
                Command::Timer(Timer {
                    origin: Origin::default(),
                }),
            );
        }
        let room = self.pending.len() < self.config.pending_max + SYSTEM_HEADROOM_MAX;
        let every = self.config.snapshot_interval;
        if every > 0 && self.since_snapshot >= every && room {
            let marker = SnapshotMarker {
                origin: Origin::default(),
                snapshot_id: self.next_snapshot_id,
            };
            self.sequence(now_ns, Command::SnapshotMarker(marker));
        }
        usize::try_from(self.next_seq - before).expect("a tick sequences a handful")
    }

    /// The next sequenced command, for the caller to journal and then publish, in this order.
    pub fn poll_output(&mut self) -> Option<Sequenced> {
        self.pending.pop_front()
    }

    /// The sequence number the next command gets.
    #[must_use]
    pub fn next_seq(&self) -> Seq {
        Seq(self.next_seq)
    }

    /// How many more ingress messages the queue takes before refusing with back-pressure.
    #[must_use]
    pub fn room(&self) -> usize {
        // One slot stays free for the role change a first ingress may sequence.
        self.config
            .pending_max
            .saturating_sub(self.pending.len() + 1)
    }

    /// Sequenced commands not yet taken by [`Sequencer::poll_output`].
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The roles in force at the end of what has been sequenced.
    #[must_use]
    pub fn roles(&self) -> Option<Roles> {
        self.roles.roles()
    }

    /// What the sequencer knows of each replica.
    #[must_use]
    pub fn replicas(&self) -> &[ReplicaView] {
        self.roles.replicas()
    }

    /// Gives every replica a full timeout from the first heartbeat on.
    fn watch(&mut self, now_ns: u64) {
        if !self.watching {
            self.watching = true;
            self.roles.start_watching(now_ns);
        }
    }

    /// A fresh cluster's first command assigns the configured roles.
    fn ensure_roles(&mut self, now_ns: u64) {
        if self.roles.roles().is_none() {
            let replicas = &self.config.replicas;
            let backup = replicas.get(1).copied().unwrap_or(NodeId(0));
            self.sequence_roles(
                now_ns,
                Roles {
                    term: Term(1),
                    primary: replicas[0],
                    backup,
                },
            );
        }
    }

    fn sequence_roles(&mut self, now_ns: u64, roles: Roles) {
        let change = RoleChange {
            origin: Origin::default(),
            term: roles.term,
            primary: roles.primary,
            backup: roles.backup,
        };
        self.sequence(now_ns, Command::RoleChange(change));
    }

    fn sequence(&mut self, now_ns: u64, command: Command) -> Seq {
        let seq = Seq(self.next_seq);
        self.next_seq += 1;
        self.last_timestamp_ns = self.last_timestamp_ns.max(now_ns);
        let timestamp = TimestampNs(self.last_timestamp_ns);
        self.note_sequenced(&command, timestamp.0);
        self.pending.push_back(Sequenced {
            seq,
            timestamp,
            command,
        });
        seq
    }

    /// State every sequenced command leaves behind, live or recovered.
    fn note_sequenced(&mut self, command: &Command, timestamp_ns: u64) {
        let Origin {
            session,
            request_id,
            ..
        } = *command.origin();
        self.since_snapshot += 1;
        match command {
            Command::SnapshotMarker(marker) => {
                self.since_snapshot = 0;
                self.next_snapshot_id = self.next_snapshot_id.max(marker.snapshot_id + 1);
                if session != SessionId(0) {
                    self.sessions.insert(session, request_id);
                }
            }
            Command::RoleChange(change) => {
                let roles = Roles {
                    term: change.term,
                    primary: change.primary,
                    backup: change.backup,
                };
                self.roles.apply(roles, timestamp_ns);
            }
            Command::Timer(_) => self.last_timer_ns = Some(timestamp_ns),
            _ if session != SessionId(0) => {
                self.sessions.insert(session, request_id);
            }
            _ => {}
        }
    }
}

/// Why a heartbeat was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusRefused {
    #[error("malformed heartbeat: {0}")]
    Malformed(#[from] DecodeError),
    #[error("expected a ReplicaStatus on the control stream, got {0}")]
    NotAStatus(&'static str),
    #[error(transparent)]
    Status(#[from] StatusError),
}
