//! The auditor: the journal (the truth) replayed through an engine of its own, as a sans-IO
//! state machine.
//!
//! The caller hands it the journal's records in order ([`Auditor::on_record`]) and the replicas'
//! heartbeats ([`Auditor::on_status`]), and takes what it must send from
//! [`Auditor::poll_output`]:
//!
//! - after every command whose sequence number is a multiple of `hash_interval`, a
//!   [`ReferenceHash`] for the replicas, which compare it with their own checkpoint there (and
//!   stop serving on a mismatch);
//! - a [`Divergence`] when a replica's reported checkpoint `(hash_seq, state_hash)` differs from
//!   the auditor's at that sequence number: the node, the exact seq and both hashes. A replica
//!   ahead of the auditor is compared once the auditor gets there.
//!
//! It reads no clock and does no IO. Its engine must have the replicas' capacities: they are
//! part of the state hash.

use std::collections::{BTreeMap, VecDeque};

use matching_engine::{Engine, EngineConfig};
use protocol::{
    Command, DecodeError, Event, NodeId, ReferenceHash, ReplicaStatus, Seq, Sequenced, StateDigest,
    TimestampNs,
};

/// The auditor's own checkpoints kept for comparison with replicas that report them late.
pub const AUDIT_CHECKPOINTS_MAX: usize = 64;
/// Replica checkpoints kept for sequence numbers the auditor has not reached yet (it lags a
/// replica), over all nodes. When full, the lowest are kept: they are compared first.
pub const REPORTS_PENDING_MAX: usize = 256;
/// Nodes whose last verdict is remembered (so a diverged node is reported once, not at every
/// heartbeat). Heartbeats from further nodes are not compared.
pub const AUDITED_NODES_MAX: usize = 64;
const _: () = assert!(REPORTS_PENDING_MAX >= AUDITED_NODES_MAX);

/// Configuration of an [`Auditor`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditorConfig {
    /// A reference hash after every command whose sequence number is a multiple of this (the
    /// replicas' `hash_interval`, or a multiple of it).
    pub hash_interval: u64,
    /// The replicas' engine capacities.
    pub engine: EngineConfig,
}

impl Default for AuditorConfig {
    fn default() -> Self {
        Self {
            hash_interval: 1024,
            engine: EngineConfig::default(),
        }
    }
}

/// A replica whose checkpoint disagrees with the journal's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Divergence {
    pub node: NodeId,
    /// The checkpoint's sequence number.
    pub seq: Seq,
    /// The auditor's state hash after `seq`.
    pub expected: StateDigest,
    /// The replica's.
    pub reported: StateDigest,
}

/// What the caller must send or report, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditOutput {
    /// For the replicas (the acks stream).
    Reference(ReferenceHash),
    /// For the operator (logs and alerts).
    Divergence(Divergence),
}

/// Why a record could not be audited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("journal record {seq} does not hold a command: {error}")]
    Body { seq: u64, error: DecodeError },
    #[error("gap in the journal: expected seq {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
}

/// What the auditor knows of one node.
#[derive(Debug, Clone, Copy)]
struct Verdict {
    /// The last checkpoint compared.
    seq: Seq,
    /// The earliest disagreeing checkpoint reported since the node last agreed.
    diverged_at: Option<Seq>,
}

/// The auditor: see the module documentation.
#[derive(Debug)]
pub struct Auditor {
    config: AuditorConfig,
    engine: Engine,
    applied: Seq,
    checkpoints: VecDeque<(Seq, StateDigest)>,
    /// Replica checkpoints ahead of the auditor, by (seq, node).
    reports: BTreeMap<(Seq, NodeId), StateDigest>,
    verdicts: BTreeMap<NodeId, Verdict>,
    events: Vec<Event>,
    outputs: VecDeque<AuditOutput>,
}

impl Auditor {
    /// An auditor at the start of the journal.
    #[must_use]
    pub fn new(config: AuditorConfig) -> Self {
        assert!(config.hash_interval > 0, "hash_interval must be at least 1");
        Self {
            config,
            engine: Engine::new(config.engine),
            applied: Seq(0),
            checkpoints: VecDeque::with_capacity(AUDIT_CHECKPOINTS_MAX),
            reports: BTreeMap::new(),
            verdicts: BTreeMap::new(),
            events: Vec::with_capacity(1024),
            outputs: VecDeque::new(),
        }
    }

    /// Applies the journal's record `seq` (records come in order; ones already applied are
    /// ignored).
    pub fn on_record(
        &mut self,
        seq: u64,
        timestamp_ns: u64,
        body: &[u8],
    ) -> Result<(), AuditError> {
        if seq <= self.applied.0 {
            return Ok(());
        }
        if seq != self.applied.0 + 1 {
            return Err(AuditError::Gap {
                expected: self.applied.0 + 1,
                got: seq,
            });
        }
        let command = Command::decode(body).map_err(|error| AuditError::Body { seq, error })?;
        let sequenced = Sequenced {
            seq: Seq(seq),
            timestamp: TimestampNs(timestamp_ns),
            command,
        };
        self.events.clear();
        self.engine.apply(&sequenced, &mut self.events);
        self.applied = Seq(seq);
        if seq.is_multiple_of(self.config.hash_interval) {
            self.checkpoint(Seq(seq));
        }
        Ok(())
    }

    fn checkpoint(&mut self, seq: Seq) {
        if self.checkpoints.len() == AUDIT_CHECKPOINTS_MAX {
            self.checkpoints.pop_front();
        }
        let state_hash = StateDigest(self.engine.state_hash().0);
        self.checkpoints.push_back((seq, state_hash));
        self.outputs
            .push_back(AuditOutput::Reference(ReferenceHash { seq, state_hash }));
        // Reports this auditor could not check before: the ones at `seq` now, older ones never
        // (not a checkpoint of ours).
        while let Some(entry) = self.reports.first_entry() {
            if entry.key().0 > seq {
                break;
            }
            let ((at, node), reported) = entry.remove_entry();
            if at == seq {
                self.judge(node, seq, state_hash, reported);
            }
        }
    }

    /// Takes a replica's heartbeat: its checkpoint is compared with the auditor's, now or once
    /// the auditor gets there. Heartbeats repeat a checkpoint until the next: it is judged once.
    pub fn on_status(&mut self, status: &ReplicaStatus) {
        let (node, seq) = (status.node, status.hash_seq);
        let known = self.verdicts.contains_key(&node) || self.verdicts.len() < AUDITED_NODES_MAX;
        let judged = self.verdicts.get(&node).is_some_and(|v| v.seq == seq);
        if seq == Seq(0) || !known || judged || !seq.0.is_multiple_of(self.config.hash_interval) {
            return;
        }
        if seq > self.applied {
            self.reports.insert((seq, node), status.state_hash);
            if self.reports.len() > REPORTS_PENDING_MAX {
                self.reports.pop_last();
            }
            return;
        }
        let expected = self.checkpoints.iter().find(|(s, _)| *s == seq);
        if let Some(&(_, expected)) = expected {
            self.judge(node, seq, expected, status.state_hash);
        }
    }

    /// Records the verdict. A node is reported when it disagrees after having agreed (or never
    /// having been compared), so a diverged node's every heartbeat does not repeat the report;
    /// and again if it then disagrees at an earlier checkpoint, which is where it went wrong (a
    /// diverged replica reports the first checkpoint that disagreed with the references, which
    /// an auditor started late may not have seen go by).
    fn judge(&mut self, node: NodeId, seq: Seq, expected: StateDigest, reported: StateDigest) {
        if !self.verdicts.contains_key(&node) && self.verdicts.len() >= AUDITED_NODES_MAX {
            return;
        }
        let verdict = self.verdicts.entry(node).or_insert(Verdict {
            seq,
            diverged_at: None,
        });
        verdict.seq = seq;
        if expected == reported {
            verdict.diverged_at = None;
        } else if verdict.diverged_at.is_none_or(|at| seq < at) {
            verdict.diverged_at = Some(seq);
            self.outputs.push_back(AuditOutput::Divergence(Divergence {
                node,
                seq,
                expected,
                reported,
            }));
        }
    }

    /// The next thing to send or report.
    pub fn poll_output(&mut self) -> Option<AuditOutput> {
        self.outputs.pop_front()
    }

    /// The last journal record applied.
    #[must_use]
    pub fn applied(&self) -> Seq {
        self.applied
    }

    /// The engine's state hash now.
    #[must_use]
    pub fn state_hash(&self) -> StateDigest {
        StateDigest(self.engine.peek_state_hash().0)
    }

    /// The configuration it runs with.
    #[must_use]
    pub fn config(&self) -> &AuditorConfig {
        &self.config
    }
}
