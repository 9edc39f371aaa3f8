//! Verifying one segment on several threads.
//!
//! Records are independent once their stored CRCs are known, so a segment can be cut into
//! parts: each later part starts at a record found by resynchronising (the first position at
//! or after its share of the data that holds a record with a valid CRC). The cut is then
//! proved, not trusted: the part before must end exactly at that position with the link the
//! record carries. If any part disagrees, the segment is verified again on one thread, so the
//! result is always what a sequential scan reports.

use std::thread;

use crate::format::record_header;
use crate::limits::PAGE_SIZE;
use crate::scan::{Link, SegmentScan, Stop, find_valid_after, scan_segment};

/// A verified stretch of a segment.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub(crate) records: u64,
    pub(crate) timestamp_range_ns: Option<(u64, u64)>,
    pub(crate) scan: SegmentScan,
}

/// Verifies `segment` from `offset` (after `link`) like `scan_segment`, on up to `threads`
/// threads.
pub(crate) fn scan_split(
    segment: &[u8],
    offset: usize,
    link: Link,
    seq_max: u64,
    threads: usize,
) -> Part {
    if threads > 1
        && let Some(part) = try_split(segment, offset, link, seq_max, threads)
    {
        return part;
    }
    scan_part(segment, offset, link, seq_max)
}

fn scan_part(segment: &[u8], offset: usize, link: Link, seq_max: u64) -> Part {
    let mut records = 0;
    let mut range: Option<(u64, u64)> = None;
    let scan = scan_segment(segment, offset, link, seq_max, |info| {
        records += 1;
        let t = info.timestamp_ns;
        range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
    });
    Part {
        records,
        timestamp_range_ns: range,
        scan,
    }
}

/// Where the segment's data probably ends: the page after the last non-zero page, found by
/// binary search. Only balances the parts; correctness never depends on it.
fn estimate_data_end(segment: &[u8], offset: usize) -> usize {
    let page_dirty = |start: usize| {
        segment[start..(start + PAGE_SIZE).min(segment.len())]
            .iter()
            .any(|&b| b != 0)
    };
    let (mut lo, mut hi) = (offset / PAGE_SIZE, segment.len().div_ceil(PAGE_SIZE));
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if page_dirty(mid * PAGE_SIZE) {
            lo = mid
        } else {
            hi = mid
        }
    }
    (hi * PAGE_SIZE).min(segment.len())
}

fn try_split(
    segment: &[u8],
    offset: usize,
    link: Link,
    seq_max: u64,
    threads: usize,
) -> Option<Part> {
    let data_end = estimate_data_end(segment, offset);
    let mut starts = vec![(offset, link)];
    for k in 1..threads {
        let target = offset + (data_end.saturating_sub(offset)) * k / threads;
        let (previous_offset, previous_link) = *starts.last().expect("non-empty");
        let info = find_valid_after(segment, target.max(previous_offset + 8), previous_link.seq)?;
        if info.seq > seq_max || info.offset >= data_end {
            break;
        }
        let prev_crc = record_header(&segment[info.offset..]).prev_crc.get();
        starts.push((
            info.offset,
            Link {
                seq: info.seq - 1,
                crc: prev_crc,
            },
        ));
    }
    if starts.len() < 2 {
        return None;
    }
    let parts: Vec<Part> = thread::scope(|scope| {
        let handles: Vec<_> = (0..starts.len())
            .map(|k| {
                let (start, start_link) = starts[k];
                let end = starts.get(k + 1).map_or(segment.len(), |next| next.0);
                scope.spawn(move || scan_part(&segment[..end], start, start_link, seq_max))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("verification thread panicked"))
            .collect()
    });
    let proved = parts
        .iter()
        .zip(&starts[1..])
        .all(|(part, &(next_offset, next_link))| {
            part.scan.stop == Stop::End
                && part.scan.end == next_offset
                && part.scan.last == next_link
        });
    if !proved {
        return None;
    }
    let mut combined = parts.last().expect("two or more parts").clone();
    for part in &parts[..parts.len() - 1] {
        combined.records += part.records;
        if let Some((lo, hi)) = part.timestamp_range_ns {
            combined.timestamp_range_ns = Some(
                combined
                    .timestamp_range_ns
                    .map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))),
            );
        }
    }
    Some(combined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{
        RecordFields, RecordKind, SEGMENT_HEADER_SIZE, encode_record, record_size,
    };

    fn segment_with(records: u64, len: usize) -> Vec<u8> {
        let mut segment = vec![0_u8; len];
        let (mut offset, mut prev_crc) = (SEGMENT_HEADER_SIZE, 0);
        for seq in 1..=records {
            let body = vec![
                u8::try_from(seq % 200).expect("< 200");
                usize::try_from(seq % 90).expect("small")
            ];
            let size = record_size(body.len());
            let fields = RecordFields {
                seq,
                timestamp_ns: seq,
                kind: RecordKind::COMMAND,
                prev_crc,
            };
            prev_crc = encode_record(&mut segment[offset..offset + size], fields, &body);
            offset += size;
        }
        segment
    }

    #[test]
    fn split_scan_equals_sequential_scan() {
        let segment = segment_with(5000, 1 << 20);
        let start = Link { seq: 0, crc: 0 };
        let sequential = scan_part(&segment, SEGMENT_HEADER_SIZE, start, u64::MAX);
        for threads in [2, 3, 4] {
            let split =
                try_split(&segment, SEGMENT_HEADER_SIZE, start, u64::MAX, threads).expect("splits");
            assert_eq!(
                (split.records, split.timestamp_range_ns),
                (5000, Some((1, 5000)))
            );
            assert_eq!(split.scan, sequential.scan);
        }
    }

    #[test]
    fn corruption_in_any_part_is_reported_like_a_sequential_scan() {
        let clean = segment_with(4000, 1 << 20);
        let start = Link { seq: 0, crc: 0 };
        let used = scan_part(&clean, SEGMENT_HEADER_SIZE, start, u64::MAX)
            .scan
            .end;
        for position in [SEGMENT_HEADER_SIZE + 40, used / 3, used / 2 + 4, used - 20] {
            let mut segment = clean.clone();
            segment[position] ^= 0x04;
            let sequential = scan_part(&segment, SEGMENT_HEADER_SIZE, start, u64::MAX);
            assert!(
                matches!(sequential.scan.stop, Stop::Invalid(_)),
                "flip at {position}"
            );
            let split = scan_split(&segment, SEGMENT_HEADER_SIZE, start, u64::MAX, 2);
            assert_eq!(split.scan, sequential.scan, "flip at {position}");
            assert_eq!(split.records, sequential.records);
        }
    }
}
