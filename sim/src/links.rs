//! The replicas' liveness links to the sequencer (`sequencer::liveness`), as the sequencer's
//! listener reports them: a crashed replica's link closes, a started replica (or every live one,
//! after a sequencer restart) links, each after a short delay; and now and then a link breaks
//! while both ends live (a false alarm, which costs a role change) and comes back. Partitions
//! leave links alone: TCP outlives a short partition, so heartbeats must catch those.

use std::collections::VecDeque;

use protocol::NodeId;

/// A link change reaches the sequencer's duty cycle within this long.
pub(crate) const LINK_DELAY_NS_MAX: u64 = 1_000_000;
/// A broken link is back within this long (the engine relinks every 20 ms in production).
pub(crate) const RELINK_NS_MAX: u64 = 20_000_000;

/// Link changes on their way to the sequencer, in the order they happen.
#[derive(Debug, Default)]
pub(crate) struct Links {
    /// (when it reaches the sequencer, node, up), times never decreasing: one node's changes
    /// arrive in order, as the listener's newest-connection rule makes them.
    queue: VecDeque<(u64, NodeId, bool)>,
    last_ns: u64,
}

impl Links {
    /// A change happening at `at_ns`.
    pub(crate) fn push(&mut self, at_ns: u64, node: NodeId, up: bool) {
        let at_ns = at_ns.max(self.last_ns);
        self.last_ns = at_ns;
        self.queue.push_back((at_ns, node, up));
    }

    /// The sequencer died: its connections (and what was on its way to it) are gone.
    pub(crate) fn sequencer_down(&mut self) {
        self.queue.clear();
    }

    /// The next change due by `now_ns`.
    pub(crate) fn pop_due(&mut self, now_ns: u64) -> Option<(NodeId, bool)> {
        match self.queue.front() {
            Some(&(at, node, up)) if at <= now_ns => {
                self.queue.pop_front();
                Some((node, up))
            }
            _ => None,
        }
    }
}
