//! The FIX 4.4 gateway. Sans-IO cores: the FIX codec ([`fix`]: framing, parsing and building
//! tag=value messages with BodyLength and CheckSum checked and every size bounded), the session
//! layer ([`session`]: logon, sequence numbers, heartbeats, resends, rejects, logout) and the
//! application translation ([`orders`]: FIX orders to commands, events to execution reports).
//! Around them: the TCP acceptor bridged to the cluster's streams ([`server`]), its store for
//! restarts ([`store`]), and a small FIX initiator ([`client`]).

pub mod client;
pub mod fix;
pub mod orders;
pub mod server;
pub mod session;
pub mod store;
