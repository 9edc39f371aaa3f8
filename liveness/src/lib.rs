//! Crash detection for the replicas, beside the heartbeats.
//!
//! Each engine is watched by a **sentinel**, a small process of its own that holds one TCP
//! connection (the **link**) to the sequencer and sends nothing on it but a hello naming the
//! node. When the engine dies, for any reason (SIGKILL, a crash, the OOM killer, a clean exit),
//! the sentinel learns of it at once and closes the link; the sequencer's [`LivenessListener`]
//! reports the close and the sequencer fails the replica over without waiting for
//! `replica_timeout`.
//!
//! Why a sentinel, and not the engine's own connection: the kernel closes a dying process's
//! sockets only after it has torn down its memory, and an engine's memory is large (a quarter
//! of a gigabyte for the default capacities: 20-50 ms of teardown on a loaded 2-core machine,
//! seconds for tens of gigabytes). The sentinel learns of the death before the teardown
//! through a **robust mutex** in memory it shares with the engine ([`DeathWatch`]): the engine
//! holds the mutex for its whole life, the sentinel waits to lock it, and the kernel releases
//! the mutexes a dying thread holds (`EOWNERDEAD`) first thing in its exit, before its memory
//! goes. The sentinel then shuts the connection down, which sends the FIN at once.
//!
//! Heartbeats stay the authority for everything else: a hung engine (stopped, swapping, in a
//! loop), a lost host or a partition keeps its link open (or lets TCP notice only after
//! minutes) and is caught by the heartbeat timeout. A link that closes while its engine lives
//! (the sentinel killed, a network blip) costs a role change, which is sequenced and harmless
//! to correctness; the engine restarts its sentinel within [`RELINK_INTERVAL`].
//!
//! Wire format, sentinel to sequencer, once per connection: `b"LSLIVE01"` then the node id as
//! u32 little-endian ([`hello`], 12 bytes). The sequencer never writes. Anyone who can connect
//! can claim a node id: the link is as trusted as the status stream, whose heartbeats are
//! unsigned too.

mod link;
mod listener;
mod sentinel;

use std::time::Duration;

pub use listener::{LINKS_MAX, LinkChange, LivenessListener};
pub use sentinel::{DeathWatch, SentinelError, Watched, run_sentinel};

use protocol::NodeId;

/// The hello's first bytes: the protocol and its version.
pub const HELLO_MAGIC: [u8; 8] = *b"LSLIVE01";
/// The whole hello: magic and node id.
pub const HELLO_SIZE: usize = 12;
/// How long a sentinel (or a new one) waits before linking again after a failed or closed
/// link.
pub const RELINK_INTERVAL: Duration = Duration::from_millis(20);

/// The hello a sentinel sends.
#[must_use]
pub fn hello(node: NodeId) -> [u8; HELLO_SIZE] {
    let mut bytes = [0u8; HELLO_SIZE];
    bytes[..HELLO_MAGIC.len()].copy_from_slice(&HELLO_MAGIC);
    bytes[HELLO_MAGIC.len()..].copy_from_slice(&node.0.to_le_bytes());
    bytes
}

/// The node a hello names, if it is one.
#[must_use]
pub fn parse_hello(bytes: &[u8; HELLO_SIZE]) -> Option<NodeId> {
    let (magic, id) = bytes.split_at(HELLO_MAGIC.len());
    (magic == HELLO_MAGIC).then(|| NodeId(u32::from_le_bytes(id.try_into().expect("4 bytes"))))
}
