//! Lockstep's matching engine: the replicated state machine.
//!
//! [`Engine::apply`] takes one [`protocol::Sequenced`] command and appends the events it causes.
//! It is a pure function of the commands applied so far: no IO, no clock (time is the sequencer's
//! stamp on each command), no randomness, no iteration over hash maps. Two replicas fed the same
//! commands emit the same event bytes and report the same [`Engine::state_hash`]; a snapshot
//! ([`Engine::snapshot`], [`Engine::restore`]) carries the state across.
//!
//! Business rejects are execution reports with a reason, never errors; broken internal invariants
//! `assert!`. Every capacity is bounded by [`EngineConfig`] and steady-state matching does not
//! allocate. The rules are documented in `docs/matching-engine.md`.

mod admin;
mod amend;
mod bitset;
mod book;
mod clients;
mod config;
mod engine;
mod events;
mod expiry;
mod hash;
mod heap;
mod ids;
mod levels;
mod matching;
mod orders;
mod pool;
mod prefetch;
mod replace;
mod restore;
mod risk;
mod snapshot;
mod stops;
mod stp;
mod table;
mod validate;
mod view;

pub use config::{
    ACCOUNTS_LIMIT, ACCOUNTS_MAX_DEFAULT, EngineConfig, INSTRUMENTS_LIMIT, INSTRUMENTS_MAX_DEFAULT,
    ORDERS_LIMIT, ORDERS_MAX_DEFAULT, PRICE_LEVELS_LIMIT, PRICE_LEVELS_MAX_DEFAULT, QTY_LIMIT,
};
pub use engine::Engine;
pub use hash::StateHash;
pub use snapshot::{SNAPSHOT_MAGIC, SNAPSHOT_VERSION, SnapshotError};
pub use view::{BookView, LevelView, OrderView};
