//! The `lockstep` package's library: [`local`] runs a whole cluster of `lockstep` processes on
//! one machine; [`fix_script`] is the request language of `lockstep fix-client`. `lockstep demo`, the process tests in `tests/` and the cluster benchmark share
//! it; the command line itself is `src/main.rs`.

pub mod fix_script;
pub mod local;
