//! Helpers shared by the journal's integration tests.
#![allow(dead_code)]

use journal::{Config, Durability, RecoveryMode, SEGMENT_SIZE_BYTES_MIN};

/// A body whose length and bytes depend on `seq`, so any mix-up shows.
pub(crate) fn body(seq: u64) -> Vec<u8> {
    let len = usize::try_from(seq * 37 % 300).expect("small");
    (0..len)
        .map(|i| u8::try_from((seq + i as u64) % 251).expect("< 251"))
        .collect()
}

/// The timestamp the tests stamp on record `seq`.
pub(crate) fn timestamp(seq: u64) -> u64 {
    seq * 100
}

/// Smallest segments, so tests roll often.
pub(crate) fn config(durability: Durability, recovery: RecoveryMode) -> Config {
    Config {
        segment_size_bytes: SEGMENT_SIZE_BYTES_MIN,
        durability,
        recovery,
    }
}
