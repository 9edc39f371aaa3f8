//! Stream adapters the processes put between Aeron and the agents.

use std::collections::BTreeMap;

use protocol::{ClusterMessage, Command, NodeId, Sequenced};
use transport::{Clock, Inbound, Outbound, StreamError};

/// Holds replica heartbeats back from a starting sequencer until every configured replica has
/// been heard (or `grace_ns` has passed), then hands them over in one poll.
///
/// The sequencer core judges a replica by when it last heard it, starting from zero after a
/// restart. Without the gate, whichever engine's heartbeat arrives first makes the other look
/// silent since the epoch, and a restarted sequencer would fail over a healthy primary.
#[derive(Debug)]
pub(crate) struct StatusGate<I, C> {
    inner: I,
    clock: C,
    replicas: Vec<NodeId>,
    grace_ns: u64,
    deadline_ns: Option<u64>,
    /// The latest heartbeat of each replica heard while closed.
    held: BTreeMap<NodeId, Vec<u8>>,
    open: bool,
}

impl<I: Inbound, C: Clock> StatusGate<I, C> {
    pub(crate) fn new(inner: I, clock: C, replicas: Vec<NodeId>, grace_ns: u64) -> Self {
        Self {
            inner,
            clock,
            replicas,
            grace_ns,
            deadline_ns: None,
            held: BTreeMap::new(),
            open: false,
        }
    }

    fn hold(&mut self, limit: usize) -> Result<usize, StreamError> {
        let held = &mut self.held;
        self.inner.poll(limit, &mut |bytes| {
            if let Ok(ClusterMessage::ReplicaStatus(status)) = ClusterMessage::decode(bytes) {
                held.insert(status.node, bytes.to_vec());
            }
        })
    }
}

impl<I: Inbound, C: Clock> Inbound for StatusGate<I, C> {
    fn poll(&mut self, limit: usize, handler: &mut dyn FnMut(&[u8])) -> Result<usize, StreamError> {
        if self.open {
            return self.inner.poll(limit, handler);
        }
        let now = self.clock.now_ns();
        let deadline = *self
            .deadline_ns
            .get_or_insert(now.saturating_add(self.grace_ns));
        let work = self.hold(limit)?;
        let everyone = self
            .replicas
            .iter()
            .all(|node| self.held.contains_key(node));
        if !everyone && now < deadline {
            return Ok(work);
        }
        self.open = true;
        let heard: Vec<u32> = self.held.keys().map(|n| n.0).collect();
        tracing::info!(
            ?heard,
            "replica heartbeats open: judging replicas from now on"
        );
        for bytes in std::mem::take(&mut self.held).values() {
            handler(bytes);
        }
        Ok(work + 1)
    }
}

/// Logs every `RoleChange` the sequencer publishes, with its term and sequence number.
#[derive(Debug)]
pub(crate) struct RoleChangeLog<P> {
    inner: P,
}

impl<P> RoleChangeLog<P> {
    pub(crate) fn new(inner: P) -> Self {
        Self { inner }
    }
}

impl<P: Outbound> Outbound for RoleChangeLog<P> {
    fn offer(&mut self, bytes: &[u8]) -> Result<bool, StreamError> {
        let sent = self.inner.offer(bytes)?;
        if sent
            && let Ok(Sequenced {
                seq,
                command: Command::RoleChange(change),
                ..
            }) = Sequenced::decode(bytes)
        {
            tracing::info!(
                term = change.term.0,
                seq = seq.0,
                primary = change.primary.0,
                backup = change.backup.0,
                "role change sequenced and published"
            );
        }
        Ok(sent)
    }
}
