//! Deterministic matching engine (being built).
