//! Recovery on open: find the durable checkpoint, scan forward verifying CRCs and the hash
//! chain, and decide whether the first invalid position is a torn tail (truncate it) or
//! corruption (refuse to open). The rule is documented in `docs/journal-format.md`:
//!
//! An invalid position at or after the checkpoint is a **torn tail** when no valid record
//! with a higher sequence number exists after it, in its segment or any later segment file.
//! Otherwise, in [`RecoveryMode::Strict`], it is corruption and `open` fails with
//! [`OpenError::CorruptBeforeTail`]; in [`RecoveryMode::PointInTime`] the log is cut there.

use zerocopy::IntoBytes;

use crate::error::{CorruptError, CorruptReason, OpenError, open_io};
use crate::format::{
    CHECKPOINT_SIZE, Checkpoint, META_CHECKPOINT_OFFSETS, META_COMMITTED_SEQ_OFFSET,
    META_DURABLE_SEQ_OFFSET, META_SIZE, RECORD_HEADER_SIZE, SEGMENT_HEADER_SIZE, best_checkpoint,
    encode_checkpoint, is_zero, meta_header, meta_header_valid, record_header, segment_header,
};
use crate::scan::{self, Check, Link, Stop, check_segment_start, scan_segment};
use crate::storage::{Region, Storage};
use crate::torn_tail::{Bad, find_follower, truncate_tail};

/// How recovery treats an invalid record that valid records follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Refuse to open: only a tail with nothing valid after it is truncated. The default.
    #[default]
    Strict,
    /// Cut the log at the first invalid position after the durable checkpoint, discarding
    /// whatever follows. For an operator after a power loss whose out-of-order writeback left
    /// a hole in records that were never acknowledged durable.
    PointInTime,
}

/// A torn tail that recovery truncated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Segment file holding the first invalid position.
    pub segment: String,
    /// Byte offset of that position.
    pub offset: u64,
    /// Sequence number that was expected there.
    pub seq: u64,
    /// Why the position is invalid.
    pub reason: CorruptReason,
    /// Bytes zeroed from that position on.
    pub bytes_zeroed: u64,
    /// Later segment files removed.
    pub segments_removed: Vec<String>,
    /// In [`RecoveryMode::PointInTime`], the sequence number of a valid record that was
    /// discarded after the cut, if any.
    pub discarded_valid_seq: Option<u64>,
}

/// What recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Sequence number of the checkpoint recovery started from (`None`: scanned from the
    /// first segment).
    pub checkpoint_seq: Option<u64>,
    /// Records verified after the checkpoint.
    pub records_scanned: u64,
    /// The last record of the journal after recovery (0 when empty).
    pub last_seq: u64,
    /// The torn tail, if one was truncated.
    pub torn_tail: Option<TornTail>,
    /// The journal was created by this open.
    pub created: bool,
}

/// Where a record lives: its segment's first seq and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordPos {
    pub(crate) segment_first_seq: u64,
    pub(crate) offset: usize,
}

/// The state the writer resumes from.
#[derive(Debug)]
pub(crate) struct Recovered<R> {
    pub(crate) meta: R,
    pub(crate) segment: R,
    pub(crate) segment_first_seq: u64,
    pub(crate) segment_index: u64,
    pub(crate) end: usize,
    pub(crate) last: Link,
    pub(crate) last_record: Option<RecordPos>,
    pub(crate) checkpoint_generation: u64,
    pub(crate) report: RecoveryReport,
}

/// The segment being scanned.
#[derive(Debug)]
pub(crate) struct Cursor<R> {
    pub(crate) list_pos: usize,
    pub(crate) first_seq: u64,
    pub(crate) index: u64,
    pub(crate) region: R,
    pub(crate) offset: usize,
    pub(crate) last: Link,
    pub(crate) last_record: Option<RecordPos>,
}

/// Writes `checkpoint` into the slot its generation selects and syncs that slot.
pub(crate) fn write_checkpoint<R: Region>(
    meta: &mut R,
    checkpoint: &Checkpoint,
) -> std::io::Result<()> {
    let offset = META_CHECKPOINT_OFFSETS[(checkpoint.generation % 2) as usize];
    meta.bytes_mut()[offset..offset + CHECKPOINT_SIZE]
        .copy_from_slice(encode_checkpoint(checkpoint).as_bytes());
    meta.sync(offset, CHECKPOINT_SIZE)
}

/// Recovers (or creates) the journal in `storage`.
pub(crate) fn recover<S: Storage>(
    storage: &mut S,
    segment_size_bytes: u64,
    mode: RecoveryMode,
) -> Result<Recovered<S::Region>, OpenError> {
    let segments = storage
        .list_segments()
        .map_err(open_io("listing segments"))?;
    let existing = storage
        .open_meta()
        .map_err(open_io("opening the metadata file"))?
        .filter(|meta| meta_header_valid(meta.bytes()));
    let checkpoint = existing
        .as_ref()
        .and_then(|meta| best_checkpoint(meta.bytes()));
    let Some(start) = start_cursor(storage, &segments, checkpoint, mode)? else {
        return create_fresh(storage, existing, segment_size_bytes);
    };
    // Missing or torn while being created: start over without a checkpoint.
    let meta = match existing {
        Some(meta) => meta,
        None => create_meta(storage)?,
    };
    let mut report = RecoveryReport {
        checkpoint_seq: checkpoint.map(|c| c.seq),
        ..RecoveryReport::default()
    };
    let cursor = scan_forward(storage, &segments, start, mode, &mut report)?;
    finish(meta, cursor, checkpoint.map_or(0, |c| c.generation), report)
}

fn create_meta<S: Storage>(storage: &mut S) -> Result<S::Region, OpenError> {
    let mut meta = storage
        .create_meta(META_SIZE as u64)
        .map_err(open_io("creating the metadata file"))?;
    meta.bytes_mut()[..64].copy_from_slice(meta_header().as_bytes());
    meta.sync(0, META_SIZE)
        .map_err(open_io("syncing the metadata file"))?;
    storage
        .sync_dir()
        .map_err(open_io("syncing the journal directory"))?;
    Ok(meta)
}

/// Creates the first segment, then (if needed) the metadata file: a reader that finds a valid
/// metadata file always finds a complete first segment.
fn create_fresh<S: Storage>(
    storage: &mut S,
    existing_meta: Option<S::Region>,
    segment_size_bytes: u64,
) -> Result<Recovered<S::Region>, OpenError> {
    let mut segment = storage
        .create_segment(1, segment_size_bytes)
        .map_err(open_io("creating the first segment"))?;
    segment.bytes_mut()[..SEGMENT_HEADER_SIZE]
        .copy_from_slice(segment_header(0, 1, 0, segment_size_bytes).as_bytes());
    segment
        .sync(0, SEGMENT_HEADER_SIZE)
        .map_err(open_io("syncing the first segment"))?;
    storage
        .sync_dir()
        .map_err(open_io("syncing the journal directory"))?;
    let mut meta = match existing_meta {
        Some(meta) => meta,
        None => create_meta(storage)?,
    };
    meta.store_u64_release(META_DURABLE_SEQ_OFFSET, 0);
    meta.store_u64_release(META_COMMITTED_SEQ_OFFSET, 0);
    let report = RecoveryReport {
        created: true,
        ..RecoveryReport::default()
    };
    Ok(Recovered {
        meta,
        segment,
        segment_first_seq: 1,
        segment_index: 0,
        end: SEGMENT_HEADER_SIZE,
        last: Link { seq: 0, crc: 0 },
        last_record: None,
        checkpoint_generation: 0,
        report,
    })
}

fn corrupt<S: Storage>(
    storage: &S,
    first_seq: u64,
    offset: usize,
    seq: u64,
    reason: CorruptReason,
) -> OpenError {
    OpenError::Corrupt(CorruptError {
        segment: storage.segment_display(first_seq),
        offset: offset as u64,
        seq,
        reason,
    })
}

/// The cursor at the checkpoint, or at the first segment when there is none. `None` when the
/// journal must be created (no segments, or only a first segment torn while being created).
fn start_cursor<S: Storage>(
    storage: &mut S,
    segments: &[u64],
    checkpoint: Option<Checkpoint>,
    mode: RecoveryMode,
) -> Result<Option<Cursor<S::Region>>, OpenError> {
    let Some(checkpoint) = checkpoint else {
        return start_without_checkpoint(storage, segments, mode);
    };
    let first_seq = checkpoint.segment_first_seq;
    let missing = CorruptReason::MissingSegment { first_seq };
    let list_pos = segments
        .iter()
        .position(|&s| s == first_seq)
        .ok_or_else(|| corrupt(storage, first_seq, 0, checkpoint.seq, missing))?;
    let region = storage
        .open_segment(first_seq)
        .map_err(open_io("opening a segment"))?;
    let start = check_segment_start(region.bytes(), first_seq, None)
        .map_err(|reason| corrupt(storage, first_seq, 0, first_seq, reason))?;
    let offset = usize::try_from(checkpoint.record_offset).unwrap_or(usize::MAX);
    let Some(size) = anchor_size(region.bytes(), offset, &checkpoint) else {
        let reason = CorruptReason::Checkpoint {
            seq: checkpoint.seq,
        };
        return Err(corrupt(storage, first_seq, offset, checkpoint.seq, reason));
    };
    Ok(Some(Cursor {
        list_pos,
        first_seq,
        index: start.index,
        region,
        offset: offset + size,
        last: Link {
            seq: checkpoint.seq,
            crc: checkpoint.record_crc,
        },
        last_record: Some(RecordPos {
            segment_first_seq: first_seq,
            offset,
        }),
    }))
}

/// The size of the record the checkpoint names, if it is there and valid.
fn anchor_size(segment: &[u8], offset: usize, checkpoint: &Checkpoint) -> Option<usize> {
    let head = segment.get(offset..offset.checked_add(RECORD_HEADER_SIZE)?)?;
    let link = Link {
        seq: checkpoint.seq.checked_sub(1)?,
        crc: record_header(head).prev_crc.get(),
    };
    match scan::check_at(segment, offset, link) {
        Check::Valid(info) if info.crc == checkpoint.record_crc => Some(info.size),
        _ => None,
    }
}

fn start_without_checkpoint<S: Storage>(
    storage: &mut S,
    segments: &[u64],
    mode: RecoveryMode,
) -> Result<Option<Cursor<S::Region>>, OpenError> {
    let Some(&first_seq) = segments.first() else {
        return Ok(None);
    };
    let region = storage
        .open_segment(first_seq)
        .map_err(open_io("opening a segment"))?;
    match check_segment_start(region.bytes(), first_seq, None) {
        Ok(start) => Ok(Some(Cursor {
            list_pos: 0,
            first_seq,
            index: start.index,
            region,
            offset: SEGMENT_HEADER_SIZE,
            last: start.link,
            last_record: None,
        })),
        Err(reason) => {
            drop(region);
            // Torn while the journal was being created, unless anything valid exists.
            let follower = find_follower(storage, segments, 0, SEGMENT_HEADER_SIZE, 0)?;
            if first_seq != 1 || (follower.is_some() && mode == RecoveryMode::Strict) {
                return Err(corrupt(storage, first_seq, 0, first_seq, reason));
            }
            for &seq in segments {
                storage
                    .remove_segment(seq)
                    .map_err(open_io("removing a torn segment"))?;
            }
            Ok(None)
        }
    }
}

fn scan_forward<S: Storage>(
    storage: &mut S,
    segments: &[u64],
    mut cursor: Cursor<S::Region>,
    mode: RecoveryMode,
    report: &mut RecoveryReport,
) -> Result<Cursor<S::Region>, OpenError> {
    loop {
        let bad = match scan_cursor_segment(&mut cursor, report)? {
            Stop::Invalid(reason) => Bad::InSegment(reason),
            Stop::End | Stop::Limit => {
                let Some(&next_seq) = segments.get(cursor.list_pos + 1) else {
                    return Ok(cursor);
                };
                match next_segment(storage, &cursor, next_seq)? {
                    Ok((index, region)) => {
                        cursor = Cursor {
                            list_pos: cursor.list_pos + 1,
                            first_seq: next_seq,
                            index,
                            region,
                            offset: SEGMENT_HEADER_SIZE,
                            ..cursor
                        };
                        continue;
                    }
                    Err(reason) => Bad::NextSegment(reason),
                }
            }
        };
        report.torn_tail = Some(truncate_tail(storage, segments, &mut cursor, bad, mode)?);
        return Ok(cursor);
    }
}

/// Verifies the cursor's segment from its offset, advancing the cursor past every valid
/// record and syncing them (they may sit only in the page cache of a crashed process, and a
/// checkpoint is about to name them). Returns how the segment's data stopped.
fn scan_cursor_segment<R: Region>(
    cursor: &mut Cursor<R>,
    report: &mut RecoveryReport,
) -> Result<Stop, OpenError> {
    let (start, first_seq) = (cursor.offset, cursor.first_seq);
    let mut last_offset = None;
    let scan = scan_segment(
        cursor.region.bytes(),
        start,
        cursor.last,
        u64::MAX,
        |info| {
            report.records_scanned += 1;
            last_offset = Some(info.offset);
        },
    );
    if let Some(offset) = last_offset {
        cursor.last_record = Some(RecordPos {
            segment_first_seq: first_seq,
            offset,
        });
    }
    (cursor.offset, cursor.last) = (scan.end, scan.last);
    cursor
        .region
        .sync(start, scan.end - start)
        .map_err(open_io("syncing a segment"))?;
    Ok(match scan.stop {
        Stop::End if !is_zero(&cursor.region.bytes()[scan.end..]) => {
            Stop::Invalid(CorruptReason::TrailingData)
        }
        stop => stop,
    })
}

/// Opens the segment file after the cursor's and checks it continues the log: its index and
/// region, or why it does not.
fn next_segment<S: Storage>(
    storage: &mut S,
    cursor: &Cursor<S::Region>,
    next_seq: u64,
) -> Result<Result<(u64, S::Region), CorruptReason>, OpenError> {
    let expected = cursor.last.seq + 1;
    if next_seq != expected {
        return Ok(Err(CorruptReason::UnexpectedSegment {
            first_seq: next_seq,
            expected,
        }));
    }
    let region = storage
        .open_segment(next_seq)
        .map_err(open_io("opening a segment"))?;
    let previous = Some((cursor.index, cursor.last));
    Ok(check_segment_start(region.bytes(), next_seq, previous).map(|next| (next.index, region)))
}

fn finish<R: Region>(
    mut meta: R,
    cursor: Cursor<R>,
    generation: u64,
    mut report: RecoveryReport,
) -> Result<Recovered<R>, OpenError> {
    let mut checkpoint_generation = generation;
    if let Some(record) = cursor.last_record
        && report.checkpoint_seq != Some(cursor.last.seq)
    {
        checkpoint_generation += 1;
        let checkpoint = Checkpoint {
            generation: checkpoint_generation,
            seq: cursor.last.seq,
            segment_first_seq: record.segment_first_seq,
            record_offset: record.offset as u64,
            record_crc: cursor.last.crc,
        };
        write_checkpoint(&mut meta, &checkpoint).map_err(open_io("writing a checkpoint"))?;
    }
    meta.store_u64_release(META_DURABLE_SEQ_OFFSET, cursor.last.seq);
    meta.store_u64_release(META_COMMITTED_SEQ_OFFSET, cursor.last.seq);
    report.last_seq = cursor.last.seq;
    Ok(Recovered {
        meta,
        segment: cursor.region,
        segment_first_seq: cursor.first_seq,
        segment_index: cursor.index,
        end: cursor.offset,
        last: cursor.last,
        last_record: cursor.last_record,
        checkpoint_generation,
        report,
    })
}
