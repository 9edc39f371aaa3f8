//! Typed errors, one enum per operation.

use std::io;

/// What is wrong with the bytes at a position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CorruptReason {
    /// The record's CRC32C does not match its bytes.
    #[error("record CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Crc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The record's link does not match its predecessor's CRC.
    #[error("hash-chain link {stored:#010x} does not match the predecessor's CRC {expected:#010x}")]
    ChainLink {
        /// Link stored in the header.
        stored: u32,
        /// CRC of the predecessor.
        expected: u32,
    },
    /// The record's sequence number is not the next one.
    #[error("sequence {found} where {expected} was expected")]
    Sequence {
        /// Sequence number stored in the header.
        found: u64,
        /// The contiguous successor of the previous record.
        expected: u64,
    },
    /// The body length exceeds `BODY_SIZE_MAX` or runs past the end of the segment.
    #[error("body length {len} exceeds body_size_max or the segment")]
    Length {
        /// Body length stored in the header.
        len: u64,
    },
    /// The record's sequence number is `u64::MAX`, which no record may have.
    #[error("sequence {seq} is out of range: u64::MAX has no successor")]
    SeqOutOfRange {
        /// Sequence number stored in the header.
        seq: u64,
    },
    /// Reserved header bytes are not zero.
    #[error("reserved header bytes are not zero")]
    Reserved,
    /// Non-zero bytes follow the end of a segment's data (an all-zero header).
    #[error("non-zero bytes follow the end of the segment's data")]
    TrailingData,
    /// The segment header is invalid or does not continue the previous segment.
    #[error("segment header: {0}")]
    SegmentHeader(&'static str),
    /// A segment the journal needs is missing.
    #[error("segment file starting at seq {first_seq} is missing")]
    MissingSegment {
        /// The sequence number the missing segment would start with.
        first_seq: u64,
    },
    /// A segment file does not continue the log (a gap or overlap in sequence numbers).
    #[error("segment file starting at seq {first_seq} does not continue the log at seq {expected}")]
    UnexpectedSegment {
        /// First sequence number in the file name.
        first_seq: u64,
        /// The sequence number that should come next.
        expected: u64,
    },
    /// The durable checkpoint names a record that is not there.
    #[error("the durable checkpoint names seq {seq} here, which is not a valid record")]
    Checkpoint {
        /// Sequence number the checkpoint names.
        seq: u64,
    },
    /// The journal ends before a sequence number it published or checkpointed.
    #[error("the journal ends at seq {last} but seq {expected} was published")]
    EndsEarly {
        /// Last valid record found.
        last: u64,
        /// Sequence number that was published.
        expected: u64,
    },
}

/// Corruption at a precise position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("corrupt journal at {segment}, byte offset {offset}, seq {seq}: {reason}")]
pub struct CorruptError {
    /// The segment file (path or name).
    pub segment: String,
    /// Byte offset inside the segment file.
    pub offset: u64,
    /// The sequence number expected at that position.
    pub seq: u64,
    /// What is wrong.
    pub reason: CorruptReason,
}

/// Opening a journal for writing failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// An IO call failed.
    #[error("journal IO failed while {context}: {source}")]
    Io {
        /// What the journal was doing.
        context: &'static str,
        /// The IO error.
        source: io::Error,
    },
    /// The configuration is out of range.
    #[error("invalid journal configuration: {0}")]
    Config(String),
    /// Corruption the journal will not repair on its own.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
    /// An invalid record is followed by a valid one, so it is not a torn tail
    /// (see `RecoveryMode`).
    #[error(
        "{corrupt}; not a torn tail: valid record seq {follower_seq} follows at {follower_segment}, byte offset {follower_offset}"
    )]
    CorruptBeforeTail {
        /// The first invalid record.
        corrupt: CorruptError,
        /// Where the valid record after it lives.
        follower_segment: String,
        /// Its byte offset.
        follower_offset: u64,
        /// Its sequence number.
        follower_seq: u64,
    },
}

/// Making appended records durable failed. The writer is poisoned afterwards: after a failed
/// `fsync` the state of the page cache is unknown, so the only safe move is to reopen.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The sync call failed.
    #[error("journal sync failed: {0}")]
    Io(#[from] io::Error),
    /// An earlier sync failed.
    #[error("journal writer is poisoned by an earlier IO failure; reopen it")]
    Poisoned,
}

/// Appending a record failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The body exceeds `BODY_SIZE_MAX`.
    #[error("record body of {len} bytes exceeds body_size_max of {max} bytes")]
    BodyTooLarge {
        /// Body length offered.
        len: usize,
        /// `BODY_SIZE_MAX`.
        max: usize,
    },
    /// `append_at` was given a sequence number other than the next one.
    #[error("append at seq {offered} but the next seq is {expected}")]
    SeqMismatch {
        /// Sequence number offered.
        offered: u64,
        /// The next sequence number.
        expected: u64,
    },
    /// The next record would get sequence number `u64::MAX`, which no record may have (it
    /// would have no successor). Nothing was written.
    #[error("the journal's sequence numbers are exhausted after seq {last}")]
    SeqExhausted {
        /// The last sequence number appended.
        last: u64,
    },
    /// Rolling to a new segment failed. The record was not written, and the writer is
    /// poisoned: reopen it, and recovery settles the half-made segment.
    #[error("journal segment roll failed: {0}")]
    Roll(io::Error),
    /// The durability policy's sync failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

/// Reading, verifying or inspecting a journal failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// An IO call failed.
    #[error("journal IO failed while {context}: {source}")]
    Io {
        /// What the reader was doing.
        context: &'static str,
        /// The IO error.
        source: io::Error,
    },
    /// The metadata file is missing or invalid (no writer has opened this journal).
    #[error("journal metadata file is missing or invalid")]
    BadMeta,
    /// The requested sequence number is past the next one to be written.
    #[error("seq {seq} is not written yet (committed seq is {committed})")]
    NotYetWritten {
        /// The sequence number asked for.
        seq: u64,
        /// The published committed seq.
        committed: u64,
    },
    /// The bytes are corrupt.
    #[error(transparent)]
    Corrupt(#[from] CorruptError),
}

pub(crate) fn open_io(context: &'static str) -> impl FnOnce(io::Error) -> OpenError {
    move |source| OpenError::Io { context, source }
}

pub(crate) fn read_io(context: &'static str) -> impl FnOnce(io::Error) -> ReadError {
    move |source| ReadError::Io { context, source }
}
