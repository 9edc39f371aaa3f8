//! A sparse index from sequence number to position: one entry at the start of every segment
//! and every `INDEX_INTERVAL_RECORDS` records, kept in memory and rebuilt on open by hopping
//! record headers (lengths and links only, no CRCs: readers verify what they return).

use std::path::Path;

use crate::error::{CorruptError, CorruptReason, ReadError, read_io};
use crate::format::{RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, record_header, record_size};
use crate::limits::{BODY_SIZE_MAX, INDEX_INTERVAL_RECORDS};
use crate::scan::{Link, SEQ_END, check_segment_start};
use crate::storage::{FileReadRegion, list_segment_files};

/// A position in the log: the record with sequence number `link.seq + 1` starts at `offset`
/// of segment `segment_first_seq` (or the segment's data ends there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// First sequence number of the segment (its file name).
    pub segment_first_seq: u64,
    /// Byte offset inside the segment.
    pub offset: usize,
    /// Sequence number of the record before this position.
    pub prev_seq: u64,
    /// CRC of the record before this position (the link the record here must carry).
    pub prev_crc: u32,
}

/// Sparse seq → position index of a journal directory, up to a bound.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SparseIndex {
    entries: Vec<IndexEntry>,
}

/// Whether a segment file can hold committed records (or is the first segment, which is
/// complete before the metadata file exists). A later segment whose first record is not
/// committed may still be being created by the writer, so readers leave it alone.
pub(crate) fn holds_committed(first_seq: u64, committed: u64) -> bool {
    first_seq <= committed || first_seq == 1
}

/// Where hopping stopped.
#[derive(Debug)]
pub(crate) struct Hop {
    pub(crate) offset: usize,
    pub(crate) link: Link,
}

/// Hops record headers from `offset` (after `link`) until the next record would be `target`,
/// the data ends, or `seq_max` is passed. Checks shape and chain only, not CRCs.
pub(crate) fn hop(
    segment: &[u8],
    mut offset: usize,
    mut link: Link,
    target: u64,
    seq_max: u64,
    mut visit: impl FnMut(usize, Link),
) -> Result<Hop, (usize, Link, CorruptReason)> {
    while link.seq + 1 < target && link.seq < seq_max {
        let Some(head) = segment.get(offset..offset + RECORD_HEADER_SIZE) else {
            break;
        };
        if head.iter().all(|&b| b == 0) {
            break;
        }
        let header = record_header(head);
        let body_len = header.body_len.get() as usize;
        let size = record_size(body_len);
        if body_len > BODY_SIZE_MAX || offset + size > segment.len() {
            return Err((
                offset,
                link,
                CorruptReason::Length {
                    len: body_len as u64,
                },
            ));
        }
        let (seq, prev) = (header.seq.get(), header.prev_crc.get());
        if seq == SEQ_END {
            return Err((offset, link, CorruptReason::SeqOutOfRange { seq }));
        }
        if seq != link.seq + 1 {
            return Err((
                offset,
                link,
                CorruptReason::Sequence {
                    found: seq,
                    expected: link.seq + 1,
                },
            ));
        }
        if prev != link.crc {
            return Err((
                offset,
                link,
                CorruptReason::ChainLink {
                    stored: prev,
                    expected: link.crc,
                },
            ));
        }
        visit(offset, link);
        link = Link {
            seq,
            crc: header.crc.get(),
        };
        offset += size;
    }
    Ok(Hop { offset, link })
}

impl SparseIndex {
    /// Builds the index of the journal in `dir` for records up to `seq_max`.
    pub fn build(dir: &Path, seq_max: u64) -> Result<SparseIndex, ReadError> {
        let mut index = SparseIndex::default();
        for first_seq in list_segment_files(dir).map_err(read_io("listing segments"))? {
            if !holds_committed(first_seq, seq_max) {
                break;
            }
            index.add_segment(dir, first_seq, seq_max)?;
        }
        Ok(index)
    }

    /// Builds the index of the one segment file that holds record `seq` (the last whose first
    /// sequence number is at most `seq`), up to that record: all a reader opening at `seq`
    /// needs, and nothing to hop when `seq` starts its segment.
    pub fn build_for(dir: &Path, seq: u64, seq_max: u64) -> Result<SparseIndex, ReadError> {
        let segments = list_segment_files(dir).map_err(read_io("listing segments"))?;
        let mut index = SparseIndex::default();
        let holding = segments
            .iter()
            .rev()
            .find(|&&first| first <= seq && holds_committed(first, seq_max));
        if let Some(&first_seq) = holding {
            index.add_segment(dir, first_seq, seq_max.min(seq.saturating_sub(1)))?;
        }
        Ok(index)
    }

    fn add_segment(&mut self, dir: &Path, first_seq: u64, seq_max: u64) -> Result<(), ReadError> {
        let path = dir.join(crate::format::segment_file_name(first_seq));
        let region = FileReadRegion::open(&path).map_err(read_io("opening a segment"))?;
        let segment = region.as_ref();
        let corrupt = |offset: usize, seq: u64, reason| CorruptError {
            segment: path.display().to_string(),
            offset: offset as u64,
            seq,
            reason,
        };
        let start = check_segment_start(segment, first_seq, None)
            .map_err(|reason| corrupt(0, first_seq, reason))?;
        let entry = |offset, link: Link| IndexEntry {
            segment_first_seq: first_seq,
            offset,
            prev_seq: link.seq,
            prev_crc: link.crc,
        };
        self.entries.push(entry(SEGMENT_HEADER_SIZE, start.link));
        let visit = |offset, link: Link| {
            if link.seq.is_multiple_of(INDEX_INTERVAL_RECORDS) && link.seq + 1 != first_seq {
                self.entries.push(entry(offset, link));
            }
        };
        hop(
            segment,
            SEGMENT_HEADER_SIZE,
            start.link,
            u64::MAX,
            seq_max,
            visit,
        )
        .map_err(|(offset, link, reason)| corrupt(offset, link.seq + 1, reason))?;
        Ok(())
    }

    /// The indexed position closest before (or at) the record `seq`.
    pub fn lookup(&self, seq: u64) -> Option<IndexEntry> {
        let after = self.entries.partition_point(|entry| entry.prev_seq < seq);
        after.checked_sub(1).map(|i| self.entries[i])
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the index has no entries (no segments).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
