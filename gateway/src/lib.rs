//! The FIX 4.4 gateway: not built yet.
//!
//! It will speak FIX 4.4 over TCP to clients and turn their orders into sequenced commands (the FIX
//! gateway issue). This crate holds no code until then.
