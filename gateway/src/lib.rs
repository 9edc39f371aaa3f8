//! The FIX 4.4 gateway. So far: the FIX codec ([`fix`]), sans-IO framing, parsing and building of
//! tag=value messages with BodyLength and CheckSum checked and every size bounded. The session
//! layer, the TCP acceptor and the bridge to the cluster's Aeron streams are still to come (the
//! FIX gateway issue).

pub mod fix;
