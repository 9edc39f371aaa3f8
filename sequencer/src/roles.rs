//! Who is primary: the sequencer's view of the replicas, and when to change roles.
//!
//! The sequencer is the only authority on roles. It decides a change here and sequences it as a
//! [`protocol::RoleChange`]; replicas change roles only when they apply that command.

use protocol::{NodeId, ReplicaRole, ReplicaStatus, Term};

/// The roles in force from some point of the total order on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Incremented by every role change.
    pub term: Term,
    /// Serves clients.
    pub primary: NodeId,
    /// Applies the stream silently; `NodeId(0)` when there is none.
    pub backup: NodeId,
}

/// What the sequencer knows of one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaView {
    /// The replica.
    pub node: NodeId,
    /// When its last heartbeat arrived (or when the sequencer started watching it).
    pub last_heard_ns: u64,
    /// Its last heartbeat, if any arrived.
    pub status: Option<ReplicaStatus>,
    /// Its liveness link (a TCP connection its process holds open to the sequencer).
    pub link: Link,
}

/// A replica's liveness link, as the sequencer last saw it.
///
/// The link is a crash detector: when a replica's process dies, its kernel closes the
/// connection at once, long before its heartbeats are missed. A replica whose link went down is
/// unhealthy until it links again (a restarted process links at start), whatever heartbeats
/// still arrive from before its death. A replica that never linked is judged by heartbeats only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Link {
    /// Not linked since the sequencer started: heartbeats alone decide.
    #[default]
    Never,
    Up,
    /// The link closed: the process is taken for dead.
    Down,
}

/// Why a heartbeat was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    #[error("heartbeat from node {0}, which is not a configured replica")]
    UnknownNode(u32),
}

#[derive(Debug)]
pub(crate) struct RoleTracker {
    roles: Option<Roles>,
    replicas: Vec<ReplicaView>,
    timeout_ns: u64,
    /// A replica not heard since the sequencer started is given this long (if longer than
    /// the timeout): processes start at different speeds.
    start_grace_ns: u64,
}

impl RoleTracker {
    pub(crate) fn new(nodes: &[NodeId], timeout_ns: u64, start_grace_ns: u64) -> Self {
        assert!(
            timeout_ns > 0,
            "a replica timeout of zero would promote on every tick"
        );
        let replicas = nodes
            .iter()
            .map(|&node| ReplicaView {
                node,
                last_heard_ns: 0,
                status: None,
                link: Link::Never,
            })
            .collect();
        Self {
            roles: None,
            replicas,
            timeout_ns,
            start_grace_ns,
        }
    }

    pub(crate) fn roles(&self) -> Option<Roles> {
        self.roles
    }

    pub(crate) fn replicas(&self) -> &[ReplicaView] {
        &self.replicas
    }

    /// Starts every replica's silence clock at `now`: nobody is timed out for not having spoken
    /// before the sequencer was listening.
    pub(crate) fn start_watching(&mut self, now: u64) {
        for replica in &mut self.replicas {
            replica.last_heard_ns = replica.last_heard_ns.max(now);
        }
    }

    /// Roles in force from a sequenced (or recovered) role change on.
    pub(crate) fn apply(&mut self, roles: Roles, now: u64) {
        if let Some(current) = self.roles {
            assert!(
                roles.term > current.term,
                "terms only increase: {current:?} -> {roles:?}"
            );
        }
        self.roles = Some(roles);
        // The new primary gets a full timeout to show it is serving.
        if let Some(view) = self.view_mut(roles.primary) {
            view.last_heard_ns = view.last_heard_ns.max(now);
        }
    }

    pub(crate) fn on_status(&mut self, now: u64, status: ReplicaStatus) -> Result<(), StatusError> {
        let view = self
            .view_mut(status.node)
            .ok_or(StatusError::UnknownNode(status.node.0))?;
        view.last_heard_ns = view.last_heard_ns.max(now);
        view.status = Some(status);
        Ok(())
    }

    /// A replica's liveness link came up or went down.
    pub(crate) fn on_link(&mut self, node: NodeId, up: bool) -> Result<(), StatusError> {
        let view = self
            .view_mut(node)
            .ok_or(StatusError::UnknownNode(node.0))?;
        view.link = if up { Link::Up } else { Link::Down };
        Ok(())
    }

    /// The role change due at `now`, if any: promote the backup when the primary is silent past
    /// the timeout, its link went down, or it has diverged; give a backup-less primary any healthy replica as backup.
    pub(crate) fn change_due(&self, now: u64) -> Option<Roles> {
        let roles = self.roles?;
        let next = Term(roles.term.0 + 1);
        if !self.is_healthy(roles.primary, now) {
            let candidate = self.healthy_other_than(roles.primary, now)?;
            return Some(Roles {
                term: next,
                primary: candidate,
                backup: roles.primary,
            });
        }
        if roles.backup == NodeId(0) {
            let candidate = self.healthy_other_than(roles.primary, now)?;
            return Some(Roles {
                term: next,
                primary: roles.primary,
                backup: candidate,
            });
        }
        None
    }

    fn is_healthy(&self, node: NodeId, now: u64) -> bool {
        self.view(node).is_some_and(|view| {
            let limit = if view.status.is_some() {
                self.timeout_ns
            } else {
                self.timeout_ns.max(self.start_grace_ns)
            };
            let alive = now.saturating_sub(view.last_heard_ns) <= limit;
            let diverged = view.status.is_some_and(|s| s.role == ReplicaRole::Diverged);
            alive && !diverged && view.link != Link::Down
        })
    }

    fn healthy_other_than(&self, node: NodeId, now: u64) -> Option<NodeId> {
        self.replicas
            .iter()
            .map(|view| view.node)
            .find(|&other| other != node && self.is_healthy(other, now))
    }

    fn view(&self, node: NodeId) -> Option<&ReplicaView> {
        self.replicas.iter().find(|view| view.node == node)
    }

    fn view_mut(&mut self, node: NodeId) -> Option<&mut ReplicaView> {
        self.replicas.iter_mut().find(|view| view.node == node)
    }
}
