//! The invariants, checked after every step against an oracle: an engine of the checker's own
//! applying the sequencer's journal as it becomes durable.

use std::collections::BTreeMap;
use std::fmt;

use journal::{MemReader, ReadError};
use matching_engine::Engine;
use protocol::{Command, Event, ReplicaRole, Seq, Sequenced, SessionId, TimestampNs};

use crate::disk::SimDisk;
use crate::net::Node;

/// The properties the simulator holds the cluster to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invariant {
    /// Every replica applies a prefix of the sequencer's journal, and what the primary publishes
    /// is what the journal's commands produce.
    TotalOrder,
    /// A durable (hence possibly published and answered) journal record never changes or
    /// disappears, whatever crashes.
    NoAcknowledgedCommandLost,
    /// The journal holds each client request at most once (request ids go up by one).
    NoCommandAppliedTwice,
    /// Replicas at the same sequence number have the state hash of the oracle there.
    StateHashesEqual,
    /// Each client receives every execution report meant for it exactly once, in order.
    ReportsExactlyOnceInOrder,
    /// No two replicas are primary in one term.
    OnePrimaryPerTerm,
    /// After the last fault heals, the workload finishes within a bound of virtual time.
    Liveness,
    /// No process fails except by an injected fault (or by detecting corruption).
    NoUnexpectedFailure,
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Invariant::TotalOrder => "one total order",
            Invariant::NoAcknowledgedCommandLost => "no acknowledged command lost",
            Invariant::NoCommandAppliedTwice => "no command applied twice",
            Invariant::StateHashesEqual => "state hashes equal at equal sequence numbers",
            Invariant::ReportsExactlyOnceInOrder => "execution reports exactly once, in order",
            Invariant::OnePrimaryPerTerm => "at most one primary per term",
            Invariant::Liveness => "liveness after faults heal",
            Invariant::NoUnexpectedFailure => "no unexpected process failure",
        })
    }
}

/// A broken invariant: which, where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub step: u64,
    pub now_ns: u64,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant \"{}\" broken at step {} (virtual time {} us): {}",
            self.invariant,
            self.step,
            self.now_ns / 1_000,
            self.detail
        )
    }
}

pub(crate) type Broken = (Invariant, String);

/// What the checker knows of a replica after a step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplicaView {
    pub(crate) node: Node,
    pub(crate) applied: Seq,
    pub(crate) hash: u128,
    pub(crate) role: ReplicaRole,
    pub(crate) term: u64,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct Checker {
    reader: Option<MemReader>,
    /// Durable records seen, by `seq - 1`: timestamp and body.
    journal: Vec<(u64, Vec<u8>)>,
    engine: Engine,
    /// The oracle's state hash after each seq (index 0: before the first).
    hashes: Vec<u128>,
    events: Vec<Vec<Event>>,
    /// Reports each session must get, `(seq, index)` in order (index `session - 1`).
    pub(crate) expected_reports: Vec<Vec<(u64, u32)>>,
    last_request: BTreeMap<SessionId, u64>,
    primaries: BTreeMap<u64, Node>,
    /// The seq of the last command from a client or the operator.
    pub(crate) last_request_seq: u64,
}

impl Checker {
    pub(crate) fn new(sessions: u32) -> Self {
        let engine = Engine::new(crate::world::engine_config());
        let hashes = vec![engine.peek_state_hash().0];
        Self {
            reader: None,
            journal: Vec::new(),
            engine,
            hashes,
            events: Vec::new(),
            expected_reports: vec![Vec::new(); sessions as usize],
            last_request: BTreeMap::new(),
            primaries: BTreeMap::new(),
            last_request_seq: 0,
        }
    }

    /// The last request id of `session` in the journal.
    pub(crate) fn last_request(&self, session: SessionId) -> u64 {
        self.last_request.get(&session).copied().unwrap_or(0)
    }

    /// Forgets the reader: the sequencer's disk lost power (re-opened by `after_restart`).
    pub(crate) fn disk_lost_power(&mut self) {
        self.reader = None;
    }

    /// After a sequencer restart: everything durable before is still there, byte for byte.
    pub(crate) fn after_restart(&mut self, disk: &SimDisk) -> Result<(), Broken> {
        let lost = |detail: String| (Invariant::NoAcknowledgedCommandLost, detail);
        let mut reader =
            MemReader::open_at(&disk.mem, 1).map_err(|e| lost(format!("reopening: {e}")))?;
        for (i, (timestamp_ns, body)) in self.journal.iter().enumerate() {
            let seq = i as u64 + 1;
            match reader.next() {
                Ok(Some(r)) if r.timestamp_ns == *timestamp_ns && r.body == body.as_slice() => {}
                Ok(Some(_)) => return Err(lost(format!("durable seq {seq} changed"))),
                Ok(None) => return Err(lost(format!("durable seq {seq} is gone"))),
                Err(e) => return Err(lost(format!("durable seq {seq} unreadable: {e}"))),
            }
        }
        self.reader = Some(reader);
        Ok(())
    }

    /// Reads what became durable since the last step into the oracle.
    pub(crate) fn observe_journal(&mut self) -> Result<(), Broken> {
        if self.reader.is_none() {
            return Ok(()); // the sequencer is down after a power loss
        }
        let reader = self.reader.as_mut().expect("checked");
        let durable = reader
            .durable_seq()
            .map_err(|e| (Invariant::TotalOrder, format!("journal meta: {e}")))?;
        while reader.next_seq() <= durable {
            let record = match reader.next() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(ReadError::Corrupt(e)) => {
                    return Err((Invariant::TotalOrder, format!("journal unreadable: {e}")));
                }
                Err(e) => return Err((Invariant::TotalOrder, format!("journal: {e}"))),
            };
            let (seq, timestamp_ns) = (record.seq, record.timestamp_ns);
            let body = record.body.to_vec();
            let command = Command::decode(&body)
                .map_err(|e| (Invariant::TotalOrder, format!("seq {seq} undecodable: {e}")))?;
            self.journal.push((timestamp_ns, body));
            let origin = *command.origin();
            if origin.session != SessionId(0) {
                let last = self.last_request.entry(origin.session).or_insert(0);
                if origin.request_id.0 != *last + 1 {
                    return Err((
                        Invariant::NoCommandAppliedTwice,
                        format!(
                            "seq {seq}: session {} request {} journaled after request {}",
                            origin.session.0, origin.request_id.0, *last
                        ),
                    ));
                }
                *last = origin.request_id.0;
                self.last_request_seq = seq;
            }
            let sequenced = Sequenced {
                seq: Seq(seq),
                timestamp: TimestampNs(timestamp_ns),
                command,
            };
            let mut events = Vec::new();
            self.engine.apply(&sequenced, &mut events);
            self.hashes.push(self.engine.state_hash().0);
            for (index, event) in events.iter().enumerate() {
                if let Event::ExecutionReport(r) = event
                    && let Some(expected) = (r.session.0 as usize)
                        .checked_sub(1)
                        .and_then(|i| self.expected_reports.get_mut(i))
                {
                    expected.push((seq, u32::try_from(index).expect("few events")));
                }
            }
            self.events.push(events);
        }
        Ok(())
    }

    /// Durable records seen so far.
    pub(crate) fn journal_len(&self) -> u64 {
        self.journal.len() as u64
    }

    pub(crate) fn check_replica(&mut self, view: ReplicaView) -> Result<(), Broken> {
        let applied = view.applied.0;
        let Some(&hash) = usize::try_from(applied)
            .ok()
            .and_then(|i| self.hashes.get(i))
        else {
            return Err((
                Invariant::TotalOrder,
                format!(
                    "{:?} applied seq {applied}, beyond the durable journal ({})",
                    view.node,
                    self.journal_len()
                ),
            ));
        };
        if hash != view.hash {
            return Err((
                Invariant::StateHashesEqual,
                format!(
                    "{:?} at seq {applied}: state hash {:032x}, the journal's {hash:032x}",
                    view.node, view.hash
                ),
            ));
        }
        if view.role == ReplicaRole::Primary {
            let first = *self.primaries.entry(view.term).or_insert(view.node);
            if first != view.node {
                return Err((
                    Invariant::OnePrimaryPerTerm,
                    format!(
                        "{first:?} and {:?} both primary in term {}",
                        view.node, view.term
                    ),
                ));
            }
        }
        Ok(())
    }

    /// An event the gateway accepted from egress: it must be the journal's.
    pub(crate) fn check_event(&self, seq: Seq, index: u32, event: &Event) -> Result<(), Broken> {
        let expected = self
            .events
            .get(usize::try_from(seq.0).unwrap_or(0).wrapping_sub(1))
            .and_then(|events| events.get(index as usize));
        if expected != Some(event) {
            return Err((
                Invariant::TotalOrder,
                format!(
                    "the gateway got event {}-{index} = {event:?}; the journal gives {expected:?}",
                    seq.0
                ),
            ));
        }
        Ok(())
    }

    /// What a client received so far must be a prefix of what it is owed.
    pub(crate) fn check_reports(&self, session: u32, got: &[(u64, u32)]) -> Result<(), Broken> {
        let owed = &self.expected_reports[session as usize - 1];
        if got.len() > owed.len() {
            let (seq, index) = got[owed.len()];
            return Err((
                Invariant::ReportsExactlyOnceInOrder,
                format!("client {session}: report {seq}-{index} is not owed to it"),
            ));
        }
        let at = got.iter().zip(owed).position(|(g, o)| g != o);
        if let Some(i) = at {
            return Err((
                Invariant::ReportsExactlyOnceInOrder,
                format!(
                    "client {session}: report #{} is {}-{}, expected {}-{}",
                    i + 1,
                    got[i].0,
                    got[i].1,
                    owed[i].0,
                    owed[i].1
                ),
            ));
        }
        Ok(())
    }
}
