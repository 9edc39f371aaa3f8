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
    encode_checkpoint, meta_header, meta_header_valid, record_header, segment_header,
};
use crate::limits::PAGE_SIZE;
use crate::scan::{self, Check, Link, Stop, check_segment_start, find_valid_after, scan_segment};
use crate::storage::{Region, Storage};

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
struct Cursor<R> {
    list_pos: usize,
    first_seq: u64,
    index: u64,
    region: R,
    offset: usize,
    last: Link,
    last_record: Option<RecordPos>,
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

/// The first invalid position found by the forward scan.
#[derive(Debug)]
enum Bad {
    /// At the cursor's offset, in the cursor's segment.
    InSegment(CorruptReason),
    /// The header (or name) of the segment file after the cursor's.
    NextSegment(CorruptReason),
}

fn scan_forward<S: Storage>(
    storage: &mut S,
    segments: &[u64],
    mut cursor: Cursor<S::Region>,
    mode: RecoveryMode,
    report: &mut RecoveryReport,
) -> Result<Cursor<S::Region>, OpenError> {
    loop {
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
        // What was found may sit only in the page cache (a crashed process): make it durable
        // before a checkpoint names it.
        cursor
            .region
            .sync(start, scan.end - start)
            .map_err(open_io("syncing a segment"))?;
        let stop = match scan.stop {
            Stop::End if cursor.region.bytes()[scan.end..].iter().any(|&b| b != 0) => {
                Stop::Invalid(CorruptReason::TrailingData)
            }
            stop => stop,
        };
        if let Stop::Invalid(reason) = stop {
            let tail = truncate_tail(storage, segments, &mut cursor, Bad::InSegment(reason), mode)?;
            report.torn_tail = Some(tail);
            return Ok(cursor);
        }
        let Some(&next_seq) = segments.get(cursor.list_pos + 1) else {
            return Ok(cursor);
        };
        let expected = cursor.last.seq + 1;
        let bad = if next_seq == expected {
            let region = storage
                .open_segment(next_seq)
                .map_err(open_io("opening a segment"))?;
            match check_segment_start(region.bytes(), next_seq, Some((cursor.index, cursor.last))) {
                Ok(next) => {
                    cursor = Cursor {
                        list_pos: cursor.list_pos + 1,
                        first_seq: next_seq,
                        index: next.index,
                        region,
                        offset: SEGMENT_HEADER_SIZE,
                        ..cursor
                    };
                    continue;
                }
                Err(reason) => reason,
            }
        } else {
            CorruptReason::UnexpectedSegment {
                first_seq: next_seq,
                expected,
            }
        };
        let tail = truncate_tail(storage, segments, &mut cursor, Bad::NextSegment(bad), mode)?;
        report.torn_tail = Some(tail);
        return Ok(cursor);
    }
}

/// Applies the torn-tail rule at the first invalid position: refuse (strict) when a valid
/// record follows it, otherwise zero it and remove every later segment file.
fn truncate_tail<S: Storage>(
    storage: &mut S,
    segments: &[u64],
    cursor: &mut Cursor<S::Region>,
    bad: Bad,
    mode: RecoveryMode,
) -> Result<TornTail, OpenError> {
    let after_seq = cursor.last.seq;
    let (bad_first_seq, bad_offset, reason, in_segment) = match bad {
        Bad::InSegment(reason) => (cursor.first_seq, cursor.offset, reason, true),
        Bad::NextSegment(reason) => (segments[cursor.list_pos + 1], 0, reason, false),
    };
    let mut follower = None;
    if in_segment {
        follower = find_valid_after(cursor.region.bytes(), cursor.offset + 8, after_seq)
            .map(|info| (cursor.first_seq, info));
    }
    if follower.is_none() {
        follower = find_follower(
            storage,
            segments,
            cursor.list_pos + 1,
            SEGMENT_HEADER_SIZE,
            after_seq,
        )?;
    }
    let error = CorruptError {
        segment: storage.segment_display(bad_first_seq),
        offset: bad_offset as u64,
        seq: after_seq + 1,
        reason,
    };
    if let (Some((segment, info)), RecoveryMode::Strict) = (follower, mode) {
        return Err(OpenError::CorruptBeforeTail {
            corrupt: error,
            follower_segment: storage.segment_display(segment),
            follower_offset: info.offset as u64,
            follower_seq: info.seq,
        });
    }
    let bytes_zeroed = if in_segment {
        zero_from(&mut cursor.region, cursor.offset)?
    } else {
        0
    };
    let mut segments_removed = Vec::new();
    for &seq in &segments[cursor.list_pos + 1..] {
        storage
            .remove_segment(seq)
            .map_err(open_io("removing a segment after a torn tail"))?;
        segments_removed.push(storage.segment_display(seq));
    }
    if !segments_removed.is_empty() {
        storage
            .sync_dir()
            .map_err(open_io("syncing the journal directory"))?;
    }
    Ok(TornTail {
        segment: error.segment,
        offset: error.offset,
        seq: error.seq,
        reason: error.reason,
        bytes_zeroed,
        segments_removed,
        discarded_valid_seq: follower.map(|(_, info)| info.seq),
    })
}

/// The first valid record above `after_seq` in the segment files from `list_pos` on.
fn find_follower<S: Storage>(
    storage: &mut S,
    segments: &[u64],
    list_pos: usize,
    start: usize,
    after_seq: u64,
) -> Result<Option<(u64, scan::RecordInfo)>, OpenError> {
    for &first_seq in segments.iter().skip(list_pos) {
        let region = storage
            .open_segment_read(first_seq)
            .map_err(open_io("reading a segment"))?;
        if let Some(info) = find_valid_after(region.as_ref(), start, after_seq) {
            return Ok(Some((first_seq, info)));
        }
    }
    Ok(None)
}

/// Zeroes every non-zero byte from `offset` to the end of the region and syncs them, so the
/// next append lands on clean bytes. Returns the length of the zeroed span.
fn zero_from<R: Region>(region: &mut R, offset: usize) -> Result<u64, OpenError> {
    let bytes = region.bytes_mut();
    let Some(last_dirty) = bytes[offset..].iter().rposition(|&b| b != 0) else {
        return Ok(0);
    };
    let span = last_dirty + 1;
    for page in bytes[offset..offset + span].chunks_mut(PAGE_SIZE) {
        if page.iter().any(|&b| b != 0) {
            page.fill(0);
        }
    }
    region
        .sync(offset, span)
        .map_err(open_io("syncing a truncated tail"))?;
    Ok(span as u64)
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
