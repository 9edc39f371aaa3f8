//! The `lockstep` package's library: [`local`] runs a whole cluster of `lockstep` processes on
//! one machine. `lockstep demo`, the process tests in `tests/` and the cluster benchmark share
//! it; the command line itself is `src/main.rs`.

pub mod local;
