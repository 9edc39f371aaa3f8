//! An engine node: one replica of the matching engine in the cluster.
//!
//! [`Replica`] is a sans-IO state machine: the caller hands it sequenced frames
//! ([`Replica::on_sequenced`]), consumer acknowledgements ([`Replica::on_ack`]) and the passing
//! of time ([`Replica::on_tick`]), and takes what it must send from [`Replica::poll_output`]. It
//! reads no clock and does no IO, so the cluster simulator runs exactly this code.
//!
//! - **Roles come from the stream.** A replica is primary exactly when the last
//!   [`protocol::RoleChange`] it applied names it so; every replica switches at the same point of
//!   the total order, so there is never a moment with two primaries for one term.
//! - **The primary publishes, the backup buffers.** Both keep the events of the commands that
//!   consumers have not acknowledged yet (bounded). A backup promoted in term `t` first re-publishes
//!   those, stamped with `t`, then goes on live: no execution report is lost across a failover, and
//!   consumers drop what they already have by `(seq, index)`.
//! - **State hash checkpoints.** Every `hash_interval` commands the replica reports its state hash
//!   at that sequence number, so divergence is found within `hash_interval` commands.
//! - **Snapshots** are taken at sequenced [`protocol::SnapshotMarker`] commands, off the
//!   sequencer's path; [`Replica::from_snapshot`] resumes from one.
//! - **The auditor** ([`Auditor`], run by [`AuditorAgent`]) replays the journal with an engine
//!   of its own and sends a [`protocol::ReferenceHash`] at every checkpoint; a replica whose
//!   checkpoint disagrees turns [`protocol::ReplicaRole::Diverged`] and stops serving, and the
//!   auditor reports which node diverged at which sequence number.

mod agent;
mod audit;
mod audit_agent;
mod buffer;
mod node;
mod snapshots;

pub use agent::{AgentError, AgentPaths, AgentStats, AgentStreams, CONSUMERS_MAX, ReplicaAgent};
pub use audit::{
    AUDIT_CHECKPOINTS_MAX, AUDITED_NODES_MAX, AuditError, AuditOutput, Auditor, AuditorConfig,
    Divergence, REPORTS_PENDING_MAX,
};
pub use audit_agent::{AuditorAgent, AuditorAgentError, AuditorStats, AuditorStreams};
pub use buffer::EventBuffer;
pub use node::{Applied, Output, REFERENCES_PENDING_MAX, Replica, ReplicaConfig, ReplicaError};
pub use snapshots::SNAPSHOTS_KEPT_MAX;

#[cfg(test)]
mod tests;
