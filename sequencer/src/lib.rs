//! The sequencer: gives every command its place in the total order.
//!
//! [`Sequencer`] is a sans-IO state machine in the style of `quinn-proto`: it never reads a clock
//! (callers pass `now`), never touches a file or a socket, and its only outputs are the sequenced
//! commands it queues for the caller to journal and publish ([`Sequencer::poll_output`]). The
//! same logic therefore runs under a real clock in the sequencer process and under virtual time
//! in a simulator.
//!
//! What it decides:
//! - the order: every accepted command gets the next sequence number and a timestamp that never
//!   goes backwards;
//! - deduplication: a client retry, recognised by `(session, request_id)`, is sequenced at most
//!   once (request ids go up by one per session; one that skips ids is refused until the
//!   missing ones arrive);
//! - time: [`protocol::Timer`] commands at a fixed interval, so time-based engine behaviour
//!   happens at a point of the total order;
//! - roles: the first command of a fresh journal assigns primary and backup, and when the primary
//!   stops heartbeating past a timeout while the backup is alive, a [`protocol::RoleChange`]
//!   promotes the backup in a new term. Replicas change roles only by applying that command, so
//!   all of them change at the same point of the order. A replica whose liveness link
//!   closes (its process died: the `liveness` crate) is failed over at once, without waiting for the
//!   timeout.

mod agent;
mod core;
mod roles;

#[cfg(test)]
mod tests;

pub use agent::{AgentError, AgentStats, SequencerAgent};
pub use core::{Ingress, IngressError, REPLICAS_MAX, Sequencer, SequencerConfig, StatusRefused};
pub use roles::{Link, ReplicaView, Roles, StatusError};
pub use transport::{Clock, Inbound, Outbound, StreamError, SystemClock};
