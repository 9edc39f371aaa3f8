//! Every limit of the journal, in one place, checked against each other at compile time.

use crate::format::{RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, record_size};

/// The largest record body the journal accepts, in bytes.
pub const BODY_SIZE_MAX: usize = 64 * 1024;

/// The smallest segment file: room for the segment header and one largest record, rounded up.
pub const SEGMENT_SIZE_BYTES_MIN: u64 = 128 * 1024;

/// The largest segment file. Offsets inside a segment fit in `u32` with room to spare.
pub const SEGMENT_SIZE_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024 - 4096;

/// The sparse index keeps one entry every this many records.
pub const INDEX_INTERVAL_RECORDS: u64 = 1024;

/// How many records the reader and `verify` check ahead in one batch, so several CRCs are
/// computed interleaved. Small enough that a batch of typical records and their descriptors
/// stays in L1 between the header pass and the CRC pass (256 measured 25% slower).
pub(crate) const VERIFY_BATCH_MAX: usize = 64;

/// Page granularity used to round sync ranges and to model torn writes.
pub(crate) const PAGE_SIZE: usize = 4096;

const _: () =
    assert!(SEGMENT_SIZE_BYTES_MIN >= (SEGMENT_HEADER_SIZE + record_size(BODY_SIZE_MAX)) as u64);
const _: () = assert!(SEGMENT_SIZE_BYTES_MIN <= SEGMENT_SIZE_BYTES_MAX);
const _: () = assert!(SEGMENT_SIZE_BYTES_MAX <= u32::MAX as u64);
const _: () = assert!(BODY_SIZE_MAX <= u32::MAX as usize);
const _: () =
    assert!(RECORD_HEADER_SIZE.is_multiple_of(8) && SEGMENT_HEADER_SIZE.is_multiple_of(8));
const _: () = assert!(INDEX_INTERVAL_RECORDS > 0 && VERIFY_BATCH_MAX >= 4);
const _: () = assert!(SEGMENT_SIZE_BYTES_MIN.is_multiple_of(PAGE_SIZE as u64));
