//! A command with its place in the total order.

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::types::{Seq, TimestampNs};

/// A command as the sequencer ordered it: the only input the matching engine ever sees. The
/// timestamp is the sequencer's clock at sequencing, and the engine's only notion of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Sequenced {
    /// Position in the total order (1 for the first command).
    pub seq: Seq,
    /// Sequencer time at sequencing.
    pub timestamp: TimestampNs,
    /// The command.
    pub command: Command,
}
