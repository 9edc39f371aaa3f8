//! The journal: Lockstep's source of truth.
//!
//! A memory-mapped, append-only, segmented log of sequenced records. Every record carries a
//! CRC32C and a link to its predecessor's CRC, so corruption, reordering and splicing are
//! detected (the chain is not cryptographic: it defends against accidents, not adversaries).
//!
//! - [`Writer`] appends records with a stated [`Durability`] policy and recovers on open
//!   (truncating a torn tail, refusing mid-log corruption with a typed error).
//! - [`Reader`] tails a live writer, in this process or another, never reading past the
//!   position the writer published.
//! - [`inspect`], [`verify`] and [`RangeIter`] serve the `lockstep journal` command.
//! - [`Storage`] abstracts the bytes: [`FileStorage`] maps files, [`MemStorage`] keeps live and
//!   durable bytes apart so tests can simulate crashes and torn writes; [`MemReader`] tails it.
//! - [`ReadJournal`] and [`Records`] open a reader on either, for code that tails a journal.
//!
//! Invariant: the journal never reads a clock; every time it needs (`timestamp_ns`, `now_ns`)
//! is passed in by the caller. The on-disk format is documented in `docs/journal-format.md`.

#![warn(missing_docs)]

mod crc;
mod error;
mod format;
mod index;
mod inspect;
mod limits;
mod mem_reader;
mod mem_storage;
mod reader;
mod recovery;
mod scan;
mod source;
mod split;
mod storage;
mod sys;
mod torn_tail;
mod writer;

pub use error::{AppendError, CorruptError, CorruptReason, OpenError, ReadError, SyncError};
pub use format::{
    META_FILE_NAME, RECORD_HEADER_SIZE, RecordKind, SEGMENT_HEADER_SIZE, record_size,
    segment_file_name,
};
pub use index::{IndexEntry, SparseIndex};
pub use inspect::{Inspection, SegmentSummary, Unverified, for_each_record, inspect, verify};
pub use limits::{
    BODY_SIZE_MAX, INDEX_INTERVAL_RECORDS, SEGMENT_SIZE_BYTES_MAX, SEGMENT_SIZE_BYTES_MIN,
};
pub use mem_reader::MemReader;
pub use mem_storage::{CrashMode, MemRegion, MemStorage};
pub use reader::{RangeIter, Reader, RecordRef};
pub use recovery::{RecoveryMode, RecoveryReport, TornTail};
pub use source::{ReadJournal, Records};
pub use storage::{FileReadRegion, FileRegion, FileStorage, Region, Storage};
pub use writer::{AppendReceipt, Config, Durability, Writer};
