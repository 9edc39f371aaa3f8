//! Replay: not built yet.
//!
//! It will read a journal back through the matching engine for audit (state hashes, byte-identical
//! events) and backtesting (the replay issue). This crate holds no code until then.
