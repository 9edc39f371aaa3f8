//! Record validation shared by recovery, the reader and `verify`.
//!
//! A record at `offset` is valid when it fits, its reserved bytes are zero, its CRC matches,
//! its sequence number is its predecessor's plus one and its link equals its predecessor's
//! CRC. A header of 32 zero bytes (or no room for a header) is the end of the segment's data:
//! a valid record never has an all-zero header because sequence numbers start at 1.

use crate::crc;
use crate::error::CorruptReason;
use crate::format::{
    RECORD_HEADER_SIZE, RecordHeader, RecordKind, SEGMENT_HEADER_SIZE, parse_segment_header,
    record_header, record_size,
};
use crate::limits::{BODY_SIZE_MAX, VERIFY_BATCH_MAX};

/// No record has this sequence number: it would have no successor, so a journal reaching it
/// could never be appended to, and every `seq + 1` stays in range.
pub(crate) const SEQ_END: u64 = u64::MAX;

/// A position in the hash chain: the last record's sequence number and CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) seq: u64,
    pub(crate) crc: u32,
}

/// A record that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordInfo {
    pub(crate) offset: usize,
    pub(crate) size: usize,
    pub(crate) seq: u64,
    pub(crate) timestamp_ns: u64,
    pub(crate) kind: RecordKind,
    pub(crate) body_len: usize,
    pub(crate) crc: u32,
}

impl RecordInfo {
    #[inline]
    pub(crate) fn link(&self) -> Link {
        Link {
            seq: self.seq,
            crc: self.crc,
        }
    }

    #[inline]
    pub(crate) fn body<'a>(&self, segment: &'a [u8]) -> &'a [u8] {
        let start = self.offset + RECORD_HEADER_SIZE;
        &segment[start..start + self.body_len]
    }
}

/// The outcome of looking at one position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Valid(RecordInfo),
    End,
    Invalid(CorruptReason),
}

#[inline]
fn is_zero_header(header: &RecordHeader) -> bool {
    let words = [
        header.crc.get() | header.prev_crc.get(),
        header.body_len.get(),
    ];
    let wide = header.seq.get() | header.timestamp_ns.get();
    words == [0, 0] && wide == 0 && header.kind.get() == 0 && header.reserved.get() == 0
}

/// Everything about a record except its CRC: `Ok(None)` is the end of the data.
#[inline]
fn check_shape(segment: &[u8], offset: usize) -> Result<Option<RecordInfo>, CorruptReason> {
    let Some(head) = segment.get(offset..offset + RECORD_HEADER_SIZE) else {
        return Ok(None);
    };
    let header = record_header(head);
    if is_zero_header(header) {
        return Ok(None);
    }
    let body_len = header.body_len.get() as usize;
    let size = record_size(body_len);
    if body_len > BODY_SIZE_MAX || offset + size > segment.len() {
        return Err(CorruptReason::Length {
            len: body_len as u64,
        });
    }
    Ok(Some(RecordInfo {
        offset,
        size,
        seq: header.seq.get(),
        timestamp_ns: header.timestamp_ns.get(),
        kind: RecordKind(header.kind.get()),
        body_len,
        crc: header.crc.get(),
    }))
}

/// The checks that follow the CRC: reserved bytes, sequence, link.
#[inline]
fn check_chain(segment: &[u8], info: &RecordInfo, after: Link) -> Result<(), CorruptReason> {
    let header = record_header(&segment[info.offset..]);
    if header.reserved.get() != 0 {
        return Err(CorruptReason::Reserved);
    }
    if info.seq == SEQ_END {
        return Err(CorruptReason::SeqOutOfRange { seq: info.seq });
    }
    if info.seq != after.seq.wrapping_add(1) {
        return Err(CorruptReason::Sequence {
            found: info.seq,
            expected: after.seq.wrapping_add(1),
        });
    }
    if header.prev_crc.get() != after.crc {
        return Err(CorruptReason::ChainLink {
            stored: header.prev_crc.get(),
            expected: after.crc,
        });
    }
    Ok(())
}

/// Validates the record at `offset` as the successor of `after`.
pub(crate) fn check_at(segment: &[u8], offset: usize, after: Link) -> Check {
    let info = match check_shape(segment, offset) {
        Ok(Some(info)) => info,
        Ok(None) => return Check::End,
        Err(reason) => return Check::Invalid(reason),
    };
    let computed = crc::record_crc(&segment[offset..offset + info.size]);
    if computed != info.crc {
        return Check::Invalid(CorruptReason::Crc {
            stored: info.crc,
            computed,
        });
    }
    match check_chain(segment, &info, after) {
        Ok(()) => Check::Valid(info),
        Err(reason) => Check::Invalid(reason),
    }
}

/// Validates up to `count_max` records from `offset` as the successors of `after`, pushing
/// them into `out` (cleared first). Returns `Valid` of the last record when `count_max` were
/// checked, otherwise `End` or `Invalid` for the first position that is not a valid record
/// (right after `out.last()`, or `offset`).
///
/// Two passes: the headers are walked first (shape, sequence and link need only stored
/// values), then the CRCs of the records found are computed four at a time, interleaved. The
/// first position that fails either pass is classified by `check_at`, so the outcome is the
/// one a record-by-record scan gives.
pub(crate) fn check_batch(
    segment: &[u8],
    offset: usize,
    after: Link,
    count_max: usize,
    out: &mut Vec<RecordInfo>,
) -> Check {
    assert!(count_max > 0, "a batch checks at least one record");
    out.clear();
    let (mut position, mut link) = (offset, after);
    loop {
        let verified = out.len();
        while out.len() < count_max {
            let Some(info) = successor(segment, position, link) else {
                break;
            };
            out.push(info);
            link = info.link();
            position = info.offset + info.size;
            // A run of records of this size: the next header's address is `position + size`
            // with `size` fixed, not read from the record before, so the CPU loads several
            // headers at once instead of chasing lengths one load at a time.
            // No division here (`len / size` or `chunks_exact(size)` with a run-time size):
            // the runs are short in a mixed flow, and a `div` per run cost more than the run.
            let size = info.size;
            while out.len() < count_max {
                let Some(head) = segment.get(position..position + size) else {
                    break;
                };
                let Some(next) = same_size_successor(head, position, size, link) else {
                    break;
                };
                out.push(next);
                link = next.link();
                position += size;
            }
        }
        if let Some(bad) = crc::first_bad_crc(segment, &out[verified..]) {
            out.truncate(verified + bad);
        } else if out.len() == count_max {
            return Check::Valid(*out.last().expect("count_max > 0 records checked"));
        }
        // The first position that is not a valid successor: classify it exactly.
        (position, link) = match out.last() {
            Some(info) => (info.offset + info.size, info.link()),
            None => (offset, after),
        };
        match check_at(segment, position, link) {
            // `successor` accepts what `check_at` accepts, so this happens only if the bytes
            // changed under the mapping: take the record and go on.
            Check::Valid(info) => {
                out.push(info);
                link = info.link();
                position = info.offset + info.size;
                if out.len() == count_max {
                    return Check::Valid(info);
                }
            }
            other => return other,
        }
    }
}

/// The record at `offset` if its shape and chain make it `after`'s successor (CRC unchecked):
/// the fast path reads the header as four words. Anything else, including the end of the
/// data, is `None` and left to `check_at` to classify.
#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // Fields are split out of little-endian words.
fn successor(segment: &[u8], offset: usize, after: Link) -> Option<RecordInfo> {
    let head = segment.get(offset..offset + RECORD_HEADER_SIZE)?;
    let word = |i: usize| u64::from_le_bytes(head[i * 8..i * 8 + 8].try_into().expect("8"));
    let [w0, w1, seq, timestamp_ns] = [word(0), word(1), word(2), word(3)];
    let body_len = (w1 & 0xffff_ffff) as usize;
    let size = record_size(body_len);
    let chained =
        seq == after.seq.wrapping_add(1) && seq != SEQ_END && (w0 >> 32) as u32 == after.crc;
    let shaped = w1 >> 48 == 0 && body_len <= BODY_SIZE_MAX && offset + size <= segment.len();
    (chained && shaped).then_some(RecordInfo {
        offset,
        size,
        seq,
        timestamp_ns,
        kind: RecordKind((w1 >> 32) as u16),
        body_len,
        crc: w0 as u32,
    })
}

/// [`successor`] for a record expected to be `size` bytes, given as `record` (exactly `size`
/// bytes at `offset`, so it fits): the checks are combined without branches.
#[inline(always)]
#[allow(clippy::cast_possible_truncation)] // Fields are split out of little-endian words.
fn same_size_successor(
    record: &[u8],
    offset: usize,
    size: usize,
    after: Link,
) -> Option<RecordInfo> {
    let word = |i: usize| u64::from_le_bytes(record[i * 8..i * 8 + 8].try_into().expect("8"));
    let [w0, w1, seq, timestamp_ns] = [word(0), word(1), word(2), word(3)];
    let body_len = (w1 & 0xffff_ffff) as usize;
    // `record_size(body_len) == size` bounds `body_len` by `size`, itself checked.
    let ok = (seq == after.seq.wrapping_add(1))
        & (seq != SEQ_END)
        & ((w0 >> 32) as u32 == after.crc)
        & (w1 >> 48 == 0)
        & (record_size(body_len) == size);
    ok.then_some(RecordInfo {
        offset,
        size,
        seq,
        timestamp_ns,
        kind: RecordKind((w1 >> 32) as u16),
        body_len,
        crc: w0 as u32,
    })
}

/// How a segment scan stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The segment's data ends (zero header or no room for one).
    End,
    /// `seq_max` was reached.
    Limit,
    /// The position after the last valid record is not a valid record.
    Invalid(CorruptReason),
}

/// The result of scanning a segment from some offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SegmentScan {
    /// The last valid record (or the starting link when there was none).
    pub(crate) last: Link,
    /// Offset just past the last valid record: where the next record goes.
    pub(crate) end: usize,
    pub(crate) stop: Stop,
}

/// Validates records from `offset` until the data ends, a record is invalid or `seq_max` is
/// reached, calling `visit` for each valid record in order.
pub(crate) fn scan_segment(
    segment: &[u8],
    offset: usize,
    after: Link,
    seq_max: u64,
    mut visit: impl FnMut(&RecordInfo),
) -> SegmentScan {
    let mut batch = Vec::with_capacity(VERIFY_BATCH_MAX);
    let mut scan = SegmentScan {
        last: after,
        end: offset,
        stop: Stop::Limit,
    };
    loop {
        let remaining = seq_max.saturating_sub(scan.last.seq);
        if remaining == 0 {
            scan.stop = Stop::Limit;
            return scan;
        }
        let count_max = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(VERIFY_BATCH_MAX);
        let outcome = check_batch(segment, scan.end, scan.last, count_max, &mut batch);
        for info in &batch {
            visit(info);
        }
        if let Some(info) = batch.last() {
            scan.last = info.link();
            scan.end = info.offset + info.size;
        }
        match outcome {
            Check::Valid(_) => {}
            Check::End => {
                scan.stop = Stop::End;
                return scan;
            }
            Check::Invalid(reason) => {
                scan.stop = Stop::Invalid(reason);
                return scan;
            }
        }
    }
}

/// What a valid segment header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentStart {
    pub(crate) index: u64,
    /// The link the first record must continue: `first_seq - 1` and the previous CRC.
    pub(crate) link: Link,
}

/// Checks a segment's header against its file name and, when known, the segment before it
/// (`previous`: its index and last record).
pub(crate) fn check_segment_start(
    segment: &[u8],
    name_seq: u64,
    previous: Option<(u64, Link)>,
) -> Result<SegmentStart, CorruptReason> {
    let header = parse_segment_header(segment).map_err(CorruptReason::SegmentHeader)?;
    let first_seq = header.first_seq.get();
    if first_seq != name_seq || first_seq == 0 {
        return Err(CorruptReason::SegmentHeader(
            "first seq differs from the file name",
        ));
    }
    // Like seq, the index keeps clear of u64::MAX so that `index + 1` is always in range.
    if header.segment_index.get() == u64::MAX {
        return Err(CorruptReason::SegmentHeader("segment index out of range"));
    }
    let start = SegmentStart {
        index: header.segment_index.get(),
        link: Link {
            seq: first_seq - 1,
            crc: header.prev_crc.get(),
        },
    };
    if let Some((index, last)) = previous {
        if first_seq != last.seq + 1 {
            return Err(CorruptReason::UnexpectedSegment {
                first_seq,
                expected: last.seq + 1,
            });
        }
        if start.index != index + 1 {
            return Err(CorruptReason::SegmentHeader(
                "segment index does not follow",
            ));
        }
        if start.link.crc != last.crc {
            return Err(CorruptReason::SegmentHeader(
                "previous-segment CRC does not match",
            ));
        }
    } else if first_seq == 1 && (start.index != 0 || start.link.crc != 0) {
        return Err(CorruptReason::SegmentHeader(
            "first segment must have index 0 and link 0",
        ));
    }
    Ok(start)
}

/// The first valid record (CRC and shape, any link) at an 8-aligned position from `start` on
/// whose sequence number is above `after_seq`: evidence that a bad position before `start` is
/// not a torn tail.
pub(crate) fn find_valid_after(segment: &[u8], start: usize, after_seq: u64) -> Option<RecordInfo> {
    let mut position = start.max(SEGMENT_HEADER_SIZE).next_multiple_of(8);
    while position + RECORD_HEADER_SIZE <= segment.len() {
        if let Ok(Some(info)) = check_shape(segment, position) {
            let header = record_header(&segment[position..]);
            let bytes = &segment[position..position + info.size];
            if info.seq > after_seq
                && header.reserved.get() == 0
                && crc::record_crc(bytes) == info.crc
            {
                return Some(info);
            }
        }
        position += 8;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{RecordFields, encode_record};

    /// A segment image holding records 1..=3 with bodies of 5, 70 and 9 bytes.
    fn three_records() -> (Vec<u8>, [usize; 4]) {
        let mut segment = vec![0_u8; 4096];
        let mut offsets = [SEGMENT_HEADER_SIZE; 4];
        let mut prev_crc = 0;
        for (i, body_len) in [5_usize, 70, 9].into_iter().enumerate() {
            let seq = i as u64 + 1;
            let body = vec![u8::try_from(body_len).expect("small"); body_len];
            let size = record_size(body_len);
            let fields = RecordFields {
                seq,
                timestamp_ns: 1000 + seq,
                kind: RecordKind(1),
                prev_crc,
            };
            let offset = offsets[i];
            prev_crc = encode_record(&mut segment[offset..offset + size], fields, &body);
            offsets[i + 1] = offset + size;
        }
        (segment, offsets)
    }

    #[test]
    fn clean_records_scan_to_the_end() {
        let (segment, offsets) = three_records();
        let scan = scan_segment(
            &segment,
            offsets[0],
            Link { seq: 0, crc: 0 },
            u64::MAX,
            |_| {},
        );
        assert_eq!(
            (scan.last.seq, scan.end, scan.stop),
            (3, offsets[3], Stop::End)
        );
        let limited = scan_segment(&segment, offsets[0], Link { seq: 0, crc: 0 }, 2, |_| {});
        assert_eq!(
            (limited.last.seq, limited.end, limited.stop),
            (2, offsets[2], Stop::Limit)
        );
    }

    #[test]
    fn every_single_bit_flip_in_a_record_is_detected_at_that_record() {
        let (clean, offsets) = three_records();
        let start = Link { seq: 0, crc: 0 };
        for position in offsets[1]..offsets[2] {
            for bit in 0..8 {
                let mut segment = clean.clone();
                segment[position] ^= 1 << bit;
                let scan = scan_segment(&segment, offsets[0], start, u64::MAX, |_| {});
                assert!(
                    matches!(scan.stop, Stop::Invalid(_)) && scan.end == offsets[1],
                    "flip of bit {bit} at byte {} went unnoticed: {scan:?}",
                    position - offsets[1]
                );
                assert_eq!(scan.last.seq, 1);
            }
        }
    }

    #[test]
    fn reordered_or_spliced_records_break_the_chain() {
        let (clean, offsets) = three_records();
        let start = Link { seq: 0, crc: 0 };
        // Record 2 dropped: record 3 follows record 1.
        let mut spliced = clean.clone();
        spliced.copy_within(offsets[2]..offsets[3], offsets[1]);
        let scan = scan_segment(&spliced, offsets[0], start, u64::MAX, |_| {});
        assert!(matches!(
            scan.stop,
            Stop::Invalid(CorruptReason::Sequence {
                found: 3,
                expected: 2
            })
        ));
        // Record 2 from another journal (same seq, other predecessor): the link breaks.
        let body_len = 70;
        let fields = RecordFields {
            seq: 2,
            timestamp_ns: 1002,
            kind: RecordKind(1),
            prev_crc: 0x1234_5678,
        };
        let size = record_size(body_len);
        let mut foreign = clean.clone();
        encode_record(
            &mut foreign[offsets[1]..offsets[1] + size],
            fields,
            &[70; 70],
        );
        let scan = scan_segment(&foreign, offsets[0], start, u64::MAX, |_| {});
        assert!(
            matches!(scan.stop, Stop::Invalid(CorruptReason::ChainLink { .. })),
            "{scan:?}"
        );
    }

    /// `n` records with 64-byte bodies, back to back: the same-size fast paths.
    fn same_size_records(n: usize) -> (Vec<u8>, Vec<usize>) {
        let mut segment = vec![0_u8; SEGMENT_HEADER_SIZE + n * 96 + 256];
        let mut offsets = vec![SEGMENT_HEADER_SIZE];
        let mut prev_crc = 0;
        for seq in 1..=n as u64 {
            let body = [u8::try_from(seq).expect("small"); 64];
            let fields = RecordFields {
                seq,
                timestamp_ns: 7 * seq,
                kind: RecordKind(1),
                prev_crc,
            };
            let offset = *offsets.last().expect("start");
            prev_crc = encode_record(&mut segment[offset..offset + 96], fields, &body);
            offsets.push(offset + 96);
        }
        (segment, offsets)
    }

    #[test]
    fn every_bit_flip_in_a_run_of_same_size_records_is_detected_at_its_record() {
        let (clean, offsets) = same_size_records(13);
        let start = Link { seq: 0, crc: 0 };
        let scan = scan_segment(&clean, offsets[0], start, u64::MAX, |_| {});
        assert_eq!(
            (scan.last.seq, scan.end, scan.stop),
            (13, offsets[13], Stop::End)
        );
        // The first record, each slot of a group of four, and the last.
        for index in [0, 4, 5, 6, 7, 12] {
            for position in offsets[index]..offsets[index + 1] {
                for bit in 0..8 {
                    let mut segment = clean.clone();
                    segment[position] ^= 1 << bit;
                    let mut visited = 0;
                    let scan =
                        scan_segment(&segment, offsets[0], start, u64::MAX, |_| visited += 1);
                    assert!(
                        matches!(scan.stop, Stop::Invalid(_)) && scan.end == offsets[index],
                        "record {index}, byte {}, bit {bit}: {scan:?}",
                        position - offsets[index]
                    );
                    assert_eq!((scan.last.seq, visited), (index as u64, index));
                }
            }
        }
    }

    /// No record may have seq `u64::MAX` (see `writer_tests::sequence_numbers_end_before_u64_max`):
    /// the per-record check and both fast paths of the batch check refuse it alike.
    #[test]
    fn a_record_with_seq_u64_max_is_invalid() {
        let mut segment = vec![0_u8; SEGMENT_HEADER_SIZE + 2 * 96 + 64];
        let after = Link {
            seq: u64::MAX - 2,
            crc: 5,
        };
        let mut prev_crc = after.crc;
        for (i, seq) in [u64::MAX - 1, u64::MAX].into_iter().enumerate() {
            let fields = RecordFields {
                seq,
                timestamp_ns: 1,
                kind: RecordKind(1),
                prev_crc,
            };
            let offset = SEGMENT_HEADER_SIZE + i * 96;
            prev_crc = encode_record(&mut segment[offset..offset + 96], fields, &[3; 64]);
        }
        let scan = scan_segment(&segment, SEGMENT_HEADER_SIZE, after, u64::MAX, |_| {});
        assert_eq!(scan.last.seq, u64::MAX - 1);
        assert_eq!(
            scan.stop,
            Stop::Invalid(CorruptReason::SeqOutOfRange { seq: u64::MAX })
        );
        let second = Link {
            seq: u64::MAX - 1,
            crc: scan.last.crc,
        };
        assert_eq!(
            check_at(&segment, SEGMENT_HEADER_SIZE + 96, second),
            Check::Invalid(CorruptReason::SeqOutOfRange { seq: u64::MAX })
        );
    }

    /// Found by the `journal_recovery` fuzz target: a segment header with index `u64::MAX`
    /// (its CRC intact) overflowed `index + 1` where `inspect` checks that the next segment
    /// continues it.
    #[test]
    fn a_segment_index_of_u64_max_is_refused() {
        let size = crate::limits::SEGMENT_SIZE_BYTES_MIN;
        let mut segment = vec![0_u8; usize::try_from(size).expect("small")];
        for (index, valid) in [(u64::MAX - 1, true), (u64::MAX, false)] {
            let header = crate::format::segment_header(index, 7, 0, size);
            segment[..SEGMENT_HEADER_SIZE].copy_from_slice(zerocopy::IntoBytes::as_bytes(&header));
            let start = check_segment_start(&segment, 7, None);
            assert_eq!(start.is_ok(), valid, "index {index}: {start:?}");
        }
    }

    #[test]
    fn batches_stop_at_their_limit_inside_a_run() {
        let (segment, offsets) = same_size_records(13);
        let mut out = Vec::new();
        for count_max in 1..=13 {
            let outcome = check_batch(
                &segment,
                offsets[0],
                Link { seq: 0, crc: 0 },
                count_max,
                &mut out,
            );
            assert_eq!(out.len(), count_max);
            assert!(matches!(outcome, Check::Valid(info) if info.seq == count_max as u64));
        }
        let outcome = check_batch(&segment, offsets[0], Link { seq: 0, crc: 0 }, 64, &mut out);
        assert_eq!((out.len(), outcome), (13, Check::End));
    }
}
