//! A reader that tails a live writer, in this process or another.
//!
//! The writer Release-stores `committed_seq` in the mapped metadata file after a record's
//! bytes are written; the reader Acquire-loads it and never looks at a record above it, so it
//! never sees a partially written record. Records are verified (CRC, sequence, chain link) in
//! batches before they are returned.

use std::path::{Path, PathBuf};

use crate::error::{CorruptError, CorruptReason, ReadError, read_io};
use crate::format::{
    META_COMMITTED_SEQ_OFFSET, META_DURABLE_SEQ_OFFSET, META_FILE_NAME, RecordKind,
    meta_header_valid, segment_file_name,
};
use crate::index::{SparseIndex, hop};
use crate::limits::VERIFY_BATCH_MAX;
use crate::scan::{Check, Link, RecordInfo, check_batch, check_segment_start};
use crate::storage::FileReadRegion;
use crate::sys;

/// A verified record, borrowed from the reader's mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Sequence number.
    pub seq: u64,
    /// The sequencer's timestamp.
    pub timestamp_ns: u64,
    /// Record kind.
    pub kind: RecordKind,
    /// The body bytes.
    pub body: &'a [u8],
}

/// Tails a journal directory.
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    meta: FileReadRegion,
    segment: FileReadRegion,
    segment_first_seq: u64,
    segment_index: u64,
    /// Offset just past the last verified record.
    offset: usize,
    /// The last verified record.
    last: Link,
    batch: Vec<RecordInfo>,
    batch_pos: usize,
}

impl Reader {
    /// A reader positioned at the first record.
    pub fn open(dir: &Path) -> Result<Reader, ReadError> {
        Reader::open_at(dir, 1)
    }

    /// A reader whose first `next()` returns record `seq` (once it is committed). Builds the
    /// sparse index of the segment holding `seq` to find the position. `seq` may be at most `committed_seq + 1`.
    pub fn open_at(dir: &Path, seq: u64) -> Result<Reader, ReadError> {
        let seq = seq.max(1);
        let meta = open_meta(dir)?;
        let committed = sys::load_acquire(meta.map(), META_COMMITTED_SEQ_OFFSET);
        // `committed_seq` is a published word no checksum covers: any value is possible.
        if seq > committed.saturating_add(1) {
            return Err(ReadError::NotYetWritten { seq, committed });
        }
        let index = SparseIndex::build_for(dir, seq, committed)?;
        let Some(entry) = index.lookup(seq) else {
            if committed == 0 {
                // The writer is still creating the journal.
                return Err(ReadError::NotYetWritten { seq, committed });
            }
            let reason = CorruptReason::MissingSegment { first_seq: seq };
            return Err(corrupt(dir, seq, 0, seq, reason));
        };
        let (segment, index_in_log) = open_segment(dir, entry.segment_first_seq)?;
        let link = Link {
            seq: entry.prev_seq,
            crc: entry.prev_crc,
        };
        let hopped = hop(
            segment.as_ref(),
            entry.offset,
            link,
            seq,
            committed,
            |_, _| {},
        )
        .map_err(|(offset, link, reason)| {
            corrupt(dir, entry.segment_first_seq, offset, link.seq + 1, reason)
        })?;
        Ok(Reader {
            dir: dir.to_path_buf(),
            meta,
            segment,
            segment_first_seq: entry.segment_first_seq,
            segment_index: index_in_log,
            offset: hopped.offset,
            last: hopped.link,
            batch: Vec::with_capacity(VERIFY_BATCH_MAX),
            batch_pos: 0,
        })
    }

    /// The writer's published committed sequence number.
    pub fn committed_seq(&self) -> u64 {
        sys::load_acquire(self.meta.map(), META_COMMITTED_SEQ_OFFSET)
    }

    /// The writer's published durable sequence number.
    pub fn durable_seq(&self) -> u64 {
        sys::load_acquire(self.meta.map(), META_DURABLE_SEQ_OFFSET)
    }

    /// The sequence number `next()` returns next.
    pub fn next_seq(&self) -> u64 {
        match self.batch.get(self.batch_pos) {
            Some(info) => info.seq,
            None => self.last.seq + 1,
        }
    }

    /// The next committed record, verified; `None` when the reader has caught up with the
    /// writer. Never blocks; callers poll (with their own idle strategy).
    #[allow(clippy::should_implement_trait)]
    #[inline]
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        if self.batch_pos == self.batch.len() && !self.fill()? {
            return Ok(None);
        }
        let info = self.batch[self.batch_pos];
        self.batch_pos += 1;
        Ok(Some(RecordRef {
            seq: info.seq,
            timestamp_ns: info.timestamp_ns,
            kind: info.kind,
            body: info.body(self.segment.as_ref()),
        }))
    }

    /// Verifies the next batch of committed records. `false`: nothing committed to read.
    fn fill(&mut self) -> Result<bool, ReadError> {
        let committed = self.committed_seq();
        for _ in 0..2 {
            if self.last.seq >= committed {
                return Ok(false);
            }
            let want = usize::try_from(committed - self.last.seq).unwrap_or(usize::MAX);
            let want = want.min(VERIFY_BATCH_MAX);
            let outcome = check_batch(
                self.segment.as_ref(),
                self.offset,
                self.last,
                want,
                &mut self.batch,
            );
            self.batch_pos = 0;
            if let Some(info) = self.batch.last() {
                self.last = info.link();
                self.offset = info.offset + info.size;
                return Ok(true);
            }
            match outcome {
                Check::End => self.roll()?,
                Check::Invalid(reason) => {
                    let (first_seq, seq) = (self.segment_first_seq, self.last.seq + 1);
                    return Err(corrupt(&self.dir, first_seq, self.offset, seq, reason));
                }
                Check::Valid(_) => unreachable!("a valid batch has records"),
            }
        }
        // A fresh segment whose first committed record is missing.
        let seq = self.last.seq + 1;
        let reason = CorruptReason::EndsEarly {
            last: self.last.seq,
            expected: committed,
        };
        Err(corrupt(
            &self.dir,
            self.segment_first_seq,
            self.offset,
            seq,
            reason,
        ))
    }

    /// Moves to the segment that starts with the next sequence number.
    fn roll(&mut self) -> Result<(), ReadError> {
        let first_seq = self.last.seq + 1;
        let path = self.dir.join(segment_file_name(first_seq));
        let segment = FileReadRegion::open(&path).map_err(|_| {
            corrupt(
                &self.dir,
                first_seq,
                0,
                first_seq,
                CorruptReason::MissingSegment { first_seq },
            )
        })?;
        check_segment_start(
            segment.as_ref(),
            first_seq,
            Some((self.segment_index, self.last)),
        )
        .map_err(|reason| corrupt(&self.dir, first_seq, 0, first_seq, reason))?;
        self.segment = segment;
        self.segment_first_seq = first_seq;
        self.segment_index += 1;
        self.offset = crate::format::SEGMENT_HEADER_SIZE;
        Ok(())
    }
}

fn open_meta(dir: &Path) -> Result<FileReadRegion, ReadError> {
    let meta = FileReadRegion::open(&dir.join(META_FILE_NAME)).map_err(|_| ReadError::BadMeta)?;
    if !meta_header_valid(meta.as_ref()) {
        return Err(ReadError::BadMeta);
    }
    Ok(meta)
}

fn open_segment(dir: &Path, first_seq: u64) -> Result<(FileReadRegion, u64), ReadError> {
    let path = dir.join(segment_file_name(first_seq));
    let segment = FileReadRegion::open(&path).map_err(read_io("opening a segment"))?;
    let start = check_segment_start(segment.as_ref(), first_seq, None)
        .map_err(|reason| corrupt(dir, first_seq, 0, first_seq, reason))?;
    Ok((segment, start.index))
}

fn corrupt(
    dir: &Path,
    first_seq: u64,
    offset: usize,
    seq: u64,
    reason: CorruptReason,
) -> ReadError {
    ReadError::Corrupt(CorruptError {
        segment: dir.join(segment_file_name(first_seq)).display().to_string(),
        offset: offset as u64,
        seq,
        reason,
    })
}

/// Iterates the committed records `from..=to` of a journal directory (for `dump`).
#[derive(Debug)]
pub struct RangeIter {
    reader: Reader,
    to: u64,
}

impl RangeIter {
    /// Records `from..=to` that are committed now or later; starts empty past the end.
    pub fn open(dir: &Path, from: u64, to: u64) -> Result<RangeIter, ReadError> {
        let meta = open_meta(dir)?;
        let committed = sys::load_acquire(meta.map(), META_COMMITTED_SEQ_OFFSET);
        let from = from.max(1);
        let reader = Reader::open_at(dir, from.min(committed.saturating_add(1)))?;
        // A range that starts past the committed end is empty, not a tail of later records.
        let to = if from > committed.saturating_add(1) {
            0
        } else {
            to
        };
        Ok(RangeIter { reader, to })
    }

    /// The next record of the range, verified.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>, ReadError> {
        if self.reader.next_seq() > self.to {
            return Ok(None);
        }
        self.reader.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::META_COMMITTED_SEQ_OFFSET;
    use crate::{Config, Durability, RecoveryMode, Writer};

    /// Found by the `journal_reader` fuzz target: a metadata file whose `committed_seq` word
    /// read `u64::MAX` (a flip, or garbage: no checksum covers it) overflowed `committed + 1`
    /// when opening a reader, a panic where overflow checks are on.
    #[test]
    fn a_committed_seq_of_u64_max_is_an_error_not_an_overflow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config {
            segment_size_bytes: crate::limits::SEGMENT_SIZE_BYTES_MIN,
            durability: Durability::None,
            recovery: RecoveryMode::Strict,
        };
        let mut writer = Writer::open(dir.path(), config).expect("open");
        for seq in 1..=3 {
            let _ = writer
                .append(seq, crate::RecordKind::COMMAND, &[1; 8])
                .expect("append");
        }
        writer.close().expect("close");
        let meta = dir.path().join(META_FILE_NAME);
        let mut bytes = std::fs::read(&meta).expect("meta");
        bytes[META_COMMITTED_SEQ_OFFSET..META_COMMITTED_SEQ_OFFSET + 8].fill(0xff);
        std::fs::write(&meta, bytes).expect("meta");

        let reader = Reader::open_at(dir.path(), u64::MAX).expect("opens at the data's end");
        assert_eq!(reader.next_seq(), 4);
        let mut reader = Reader::open(dir.path()).expect("opens");
        let mut seqs = Vec::new();
        let end = loop {
            match reader.next() {
                Ok(Some(record)) => seqs.push(record.seq),
                other => break other.map(|_| ()),
            }
        };
        assert_eq!(seqs, [1, 2, 3]);
        assert!(
            matches!(&end, Err(ReadError::Corrupt(c)) if c.seq == 4),
            "records promised by committed_seq are missing: {end:?}"
        );
        let mut range = RangeIter::open(dir.path(), u64::MAX, u64::MAX).expect("empty range");
        assert!(matches!(range.next(), Ok(None) | Err(_)));
    }
}
