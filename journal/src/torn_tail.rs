//! The torn-tail rule, applied at the first invalid position recovery finds.
//!
//! It is a torn tail if no valid record with a higher sequence number exists after it, in its
//! segment or any later segment file: then it is truncated. Otherwise it is corruption before
//! the tail, and `RecoveryMode::Strict` refuses to open.

use crate::error::{CorruptError, CorruptReason, OpenError, open_io};
use crate::format::{SEGMENT_HEADER_SIZE, is_zero};
use crate::limits::PAGE_SIZE;
use crate::recovery::{Cursor, RecoveryMode, TornTail};
use crate::scan::{self, find_valid_after};
use crate::storage::{Region, Storage};

/// The first invalid position found by the forward scan.
#[derive(Debug)]
pub(crate) enum Bad {
    /// At the cursor's offset, in the cursor's segment.
    InSegment(CorruptReason),
    /// The header (or name) of the segment file after the cursor's.
    NextSegment(CorruptReason),
}

/// Applies the torn-tail rule at the first invalid position: refuse (strict) when a valid
/// record follows it, otherwise zero it and remove every later segment file.
pub(crate) fn truncate_tail<S: Storage>(
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
pub(crate) fn find_follower<S: Storage>(
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
        if !is_zero(page) {
            page.fill(0);
        }
    }
    region
        .sync(offset, span)
        .map_err(open_io("syncing a truncated tail"))?;
    Ok(span as u64)
}
