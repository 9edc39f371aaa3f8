//! Wire schema (being built).
