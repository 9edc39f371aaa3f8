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

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use protocol::{ReplicaRole, ReplicaStatus, Seq, StateDigest, Term};
    use transport::MemoryQueue;

    use super::*;

    #[derive(Clone, Default)]
    struct FakeClock(Rc<Cell<u64>>);
    impl Clock for FakeClock {
        fn now_ns(&self) -> u64 {
            self.0.get()
        }
    }

    fn heartbeat(node: u32) -> Vec<u8> {
        ClusterMessage::ReplicaStatus(ReplicaStatus {
            term: Term(1),
            applied_seq: Seq(0),
            hash_seq: Seq(0),
            state_hash: StateDigest(0),
            acked_seq: Seq(0),
            node: NodeId(node),
            role: ReplicaRole::Backup,
        })
        .encode_to_vec()
    }

    fn nodes_polled<I: Inbound>(gate: &mut I) -> Vec<u32> {
        let mut nodes = Vec::new();
        gate.poll(16, &mut |bytes| {
            if let Ok(ClusterMessage::ReplicaStatus(s)) = ClusterMessage::decode(bytes) {
                nodes.push(s.node.0);
            }
        })
        .unwrap();
        nodes
    }

    #[test]
    fn the_gate_opens_once_every_replica_was_heard_and_hands_them_over_together() {
        let (queue, clock) = (MemoryQueue::default(), FakeClock::default());
        let mut gate = StatusGate::new(queue.clone(), clock, vec![NodeId(1), NodeId(2)], 100);
        queue.push(&heartbeat(2));
        queue.push(&heartbeat(2));
        assert!(nodes_polled(&mut gate).is_empty(), "node 1 not heard yet");
        queue.push(&heartbeat(1));
        assert_eq!(
            nodes_polled(&mut gate),
            vec![1, 2],
            "the latest of each, at once"
        );
        queue.push(&heartbeat(2));
        assert_eq!(
            nodes_polled(&mut gate),
            vec![2],
            "open: passes straight through"
        );
    }

    #[test]
    fn the_gate_opens_after_the_grace_period_without_a_silent_replica() {
        let (queue, clock) = (MemoryQueue::default(), FakeClock::default());
        let mut gate = StatusGate::new(
            queue.clone(),
            clock.clone(),
            vec![NodeId(1), NodeId(2)],
            100,
        );
        queue.push(&heartbeat(2));
        assert!(nodes_polled(&mut gate).is_empty());
        clock.0.set(100);
        assert_eq!(nodes_polled(&mut gate), vec![2]);
    }
}
