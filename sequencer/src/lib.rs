//! The sequencer: not built yet.
//!
//! It will take commands from gateways over Aeron, stamp each with a sequence number and a
//! timestamp, append it to the journal and publish the ordered stream (the replicated cluster
//! issue). This crate holds no code until then, so nothing can depend on it by mistake.
