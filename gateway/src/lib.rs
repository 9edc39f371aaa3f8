//! The FIX 4.4 gateway. So far, both sans-IO: the FIX codec ([`fix`]: framing, parsing and
//! building tag=value messages with BodyLength and CheckSum checked and every size bounded) and
//! the session layer ([`session`]: logon, sequence numbers, heartbeats, resends, rejects,
//! logout) and the application translation ([`orders`]: FIX orders to commands, events to
//! execution reports). The TCP acceptor, persistence of sequence numbers and the bridge to the cluster's
//! Aeron streams are still to come (the FIX gateway issue).

pub mod client;
pub mod fix;
pub mod orders;
pub mod server;
pub mod session;
