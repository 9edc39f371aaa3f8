//! Whole-journal verification and summaries for the `lockstep journal` command.

use std::thread;

use crate::error::{CorruptError, CorruptReason, ReadError, read_io};
use crate::format::{
    META_COMMITTED_SEQ_OFFSET, META_DURABLE_SEQ_OFFSET, SEGMENT_HEADER_SIZE, best_checkpoint,
    is_zero, meta_header_valid,
};
use crate::index::holds_committed;
use crate::reader::RecordRef;
use crate::scan::{Link, SegmentStart, Stop, check_segment_start, scan_segment};
use crate::split::scan_split;
use crate::storage::Storage;

/// One segment file, as verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Path or name of the file.
    pub file: String,
    /// Position of the segment in the log (0 for the first).
    pub index: u64,
    /// First sequence number (from the file name and header).
    pub first_seq: u64,
    /// Last valid record's sequence number (`first_seq - 1` when empty).
    pub last_seq: u64,
    /// Records in the segment.
    pub records: u64,
    /// Bytes used: header plus records.
    pub bytes_used: u64,
    /// Preallocated file size.
    pub bytes_allocated: u64,
    /// Smallest and largest record timestamps.
    pub timestamp_range_ns: Option<(u64, u64)>,
}

/// A journal directory, as verified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Segments up to the first problem, in log order.
    pub segments: Vec<SegmentSummary>,
    /// Records verified.
    pub records: u64,
    /// First and last sequence numbers verified.
    pub seq_range: Option<(u64, u64)>,
    /// Smallest and largest record timestamps.
    pub timestamp_range_ns: Option<(u64, u64)>,
    /// Bytes used by headers and records, over all segments.
    pub bytes_used: u64,
    /// Bytes allocated to segment files.
    pub bytes_allocated: u64,
    /// The writer's published committed and durable sequence numbers and the checkpoint's
    /// (`None` without a valid metadata file).
    pub committed_seq: Option<u64>,
    /// See `committed_seq`.
    pub durable_seq: Option<u64>,
    /// See `committed_seq`.
    pub checkpoint_seq: Option<u64>,
    /// The first problem found, if any.
    pub problem: Option<CorruptError>,
    /// Data on file past the published committed seq, which verification does not read (see
    /// [`Unverified`]); `None` when there is none.
    pub unverified: Option<Unverified>,
}

/// Data past the published `committed_seq`: records a writer wrote but had not yet published
/// when it stopped (or a metadata file older than the segments). Readers never return them and
/// verification does not check them; the writer's next open scans them like any tail after its
/// checkpoint (valid records are kept, a torn tail is cut off, corruption is refused).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unverified {
    /// Non-zero bytes after the last committed record, in its segment.
    pub bytes: u64,
    /// Segment files after the one holding the committed seq.
    pub segments: u64,
}

/// One segment verified on its own (segments are independent thanks to their headers).
#[derive(Debug)]
struct Checked {
    summary: SegmentSummary,
    start: Result<SegmentStart, CorruptReason>,
    last: Link,
    end: usize,
    stop: Stop,
    /// Non-zero bytes after `end` left unread because the committed seq was reached.
    beyond: u64,
}

/// Verifies every record from the start (CRC, sequence, chain link, segment headers and
/// continuity, zero bytes after each segment's data) and summarises the journal. Corruption is
/// reported in [`Inspection::problem`]; only IO failures are errors.
pub fn inspect<S: Storage>(storage: &mut S, threads: usize) -> Result<Inspection, ReadError> {
    let mut inspection = Inspection::default();
    let seq_max = committed_bound(storage)?;
    if let Some(meta) = storage
        .open_meta_read()
        .map_err(read_io("reading the metadata file"))?
    {
        let meta = meta.as_ref();
        if meta_header_valid(meta) {
            let word = |offset: usize| {
                u64::from_le_bytes(meta[offset..offset + 8].try_into().expect("8 bytes"))
            };
            inspection.committed_seq = Some(word(META_COMMITTED_SEQ_OFFSET));
            inspection.durable_seq = Some(word(META_DURABLE_SEQ_OFFSET));
            inspection.checkpoint_seq = best_checkpoint(meta).map(|c| c.seq);
        }
    }
    let mut regions = Vec::new();
    let segments = storage
        .list_segments()
        .map_err(read_io("listing segments"))?;
    let committed_segments = segments
        .iter()
        .take_while(|&&first_seq| holds_committed(first_seq, seq_max))
        .count();
    for &first_seq in &segments[..committed_segments] {
        let region = storage
            .open_segment_read(first_seq)
            .map_err(read_io("opening a segment"))?;
        regions.push((first_seq, storage.segment_display(first_seq), region));
    }
    let checked = check_all(&regions, seq_max, threads.max(1));
    let beyond = checked.last().map_or(0, |c| c.beyond);
    link_segments(&mut inspection, checked, log_start(&segments), seq_max);
    let later_segments = (segments.len() - committed_segments) as u64;
    if inspection.problem.is_none() && (beyond > 0 || later_segments > 0) {
        inspection.unverified = Some(Unverified {
            bytes: beyond,
            segments: later_segments,
        });
    }
    Ok(inspection)
}

/// Verifies every record from the start; returns the summary or the first problem.
pub fn verify<S: Storage>(storage: &mut S, threads: usize) -> Result<Inspection, ReadError> {
    let mut inspection = inspect(storage, threads)?;
    match inspection.problem.take() {
        Some(problem) => Err(ReadError::Corrupt(problem)),
        None => Ok(inspection),
    }
}

/// Bytes up to and including the last non-zero byte. The usual case, a closed journal whose
/// last record is the committed one followed by the zeroed rest of its segment, takes only the
/// word-wise check.
fn nonzero_len(bytes: &[u8]) -> u64 {
    if is_zero(bytes) {
        return 0;
    }
    bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

fn check_all<R: AsRef<[u8]> + Sync>(
    regions: &[(u64, String, R)],
    seq_max: u64,
    threads: usize,
) -> Vec<Checked> {
    if regions.len() < threads {
        // Fewer segments than threads: split each segment instead.
        let check = |(first_seq, file, region): &(u64, String, R)| {
            check_one(*first_seq, file, region.as_ref(), seq_max, threads)
        };
        return regions.iter().map(check).collect();
    }
    // Segments are independent: thread `t` checks segments t, t + threads, ...
    let check = |(first_seq, file, region): &(u64, String, R)| {
        check_one(*first_seq, file, region.as_ref(), seq_max, 1)
    };
    let mut results: Vec<Option<Checked>> = regions.iter().map(|_| None).collect();
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine = regions.iter().enumerate().skip(t).step_by(threads);
                scope.spawn(move || mine.map(|(i, r)| (i, check(r))).collect::<Vec<_>>())
            })
            .collect();
        for handle in handles {
            for (i, checked) in handle.join().expect("verification thread panicked") {
                results[i] = Some(checked);
            }
        }
    });
    results
        .into_iter()
        .map(|checked| checked.expect("every segment checked"))
        .collect()
}

fn check_one(first_seq: u64, file: &str, segment: &[u8], seq_max: u64, threads: usize) -> Checked {
    let mut summary = SegmentSummary {
        file: file.to_string(),
        index: 0,
        first_seq,
        last_seq: first_seq.saturating_sub(1),
        records: 0,
        bytes_used: SEGMENT_HEADER_SIZE as u64,
        bytes_allocated: segment.len() as u64,
        timestamp_range_ns: None,
    };
    let start = check_segment_start(segment, first_seq, None);
    let Ok(start_ok) = start else {
        let last = Link {
            seq: first_seq.saturating_sub(1),
            crc: 0,
        };
        return Checked {
            summary,
            start,
            last,
            end: 0,
            stop: Stop::End,
            beyond: 0,
        };
    };
    summary.index = start_ok.index;
    let part = scan_split(
        segment,
        SEGMENT_HEADER_SIZE,
        start_ok.link,
        seq_max,
        threads,
    );
    let scan = part.scan;
    summary.records = part.records;
    summary.timestamp_range_ns = part.timestamp_range_ns;
    summary.last_seq = scan.last.seq;
    summary.bytes_used = scan.end as u64;
    let stop = match scan.stop {
        Stop::End if !is_zero(&segment[scan.end..]) => Stop::Invalid(CorruptReason::TrailingData),
        stop => stop,
    };
    let beyond = if stop == Stop::Limit {
        nonzero_len(&segment[scan.end..])
    } else {
        0
    };
    Checked {
        summary,
        start,
        last: scan.last,
        end: scan.end,
        stop,
        beyond,
    }
}

/// Walks the checked segments in order, checking each continues the previous, and records the
/// first problem.
/// The seq before the journal's first record: its first segment's `first_seq - 1`.
fn log_start(segments: &[u64]) -> u64 {
    segments.first().map_or(0, |first| first.saturating_sub(1))
}

fn link_segments(inspection: &mut Inspection, checked: Vec<Checked>, start: u64, seq_max: u64) {
    let mut previous: Option<(u64, Link)> = None;
    for checked in checked {
        let summary = &checked.summary;
        let problem = |offset: usize, seq: u64, reason| CorruptError {
            segment: summary.file.clone(),
            offset: offset as u64,
            seq,
            reason,
        };
        let expected_start = previous.map(|(index, last)| {
            (
                index + 1,
                Link {
                    seq: last.seq,
                    crc: last.crc,
                },
            )
        });
        let start_problem = match (&checked.start, expected_start) {
            (Err(reason), _) => Some(reason.clone()),
            (Ok(start), Some((_, last))) if start.link.seq != last.seq => {
                Some(CorruptReason::UnexpectedSegment {
                    first_seq: start.link.seq + 1,
                    expected: last.seq + 1,
                })
            }
            (Ok(start), Some((index, last)))
                if start.index != index || start.link.crc != last.crc =>
            {
                Some(CorruptReason::SegmentHeader(
                    "does not continue the previous segment",
                ))
            }
            _ => None,
        };
        if let Some(reason) = start_problem {
            inspection.problem = Some(problem(0, summary.first_seq, reason));
            return;
        }
        add_summary(inspection, summary);
        if let Stop::Invalid(reason) = &checked.stop {
            inspection.problem = Some(problem(checked.end, checked.last.seq + 1, reason.clone()));
            inspection.segments.push(checked.summary);
            return;
        }
        previous = Some((summary.index, checked.last));
        inspection.segments.push(checked.summary);
    }
    let last = previous.map_or(start, |(_, link)| link.seq);
    if seq_max != u64::MAX && last < seq_max {
        let file = inspection
            .segments
            .last()
            .map_or_else(String::new, |s| s.file.clone());
        let offset = 0;
        let reason = CorruptReason::EndsEarly {
            last,
            expected: seq_max,
        };
        inspection.problem = Some(CorruptError {
            segment: file,
            offset,
            seq: last + 1,
            reason,
        });
    }
}

fn add_summary(inspection: &mut Inspection, summary: &SegmentSummary) {
    inspection.records += summary.records;
    inspection.bytes_used += summary.bytes_used;
    inspection.bytes_allocated += summary.bytes_allocated;
    if summary.records > 0 {
        let (first, last) = (summary.last_seq + 1 - summary.records, summary.last_seq);
        inspection.seq_range = Some(
            inspection
                .seq_range
                .map_or((first, last), |(lo, _)| (lo, last)),
        );
        if let Some((lo, hi)) = summary.timestamp_range_ns {
            inspection.timestamp_range_ns = Some(
                inspection
                    .timestamp_range_ns
                    .map_or((lo, hi), |(a, b)| (a.min(lo), b.max(hi))),
            );
        }
    }
}

/// Visits every record from the start, in order, verifying each (CRC, sequence, chain link,
/// segment continuity) before it is visited. Stops at the end of the data, or at the
/// committed seq when the metadata file is valid. Returns the number of records visited.
pub fn for_each_record<S: Storage>(
    storage: &mut S,
    mut visit: impl FnMut(RecordRef<'_>),
) -> Result<u64, ReadError> {
    let seq_max = committed_bound(storage)?;
    let mut previous: Option<(u64, Link)> = None;
    let mut visited = 0;
    let segments = storage
        .list_segments()
        .map_err(read_io("listing segments"))?;
    let start = log_start(&segments);
    for first_seq in segments {
        if !holds_committed(first_seq, seq_max) {
            break;
        }
        let region = storage
            .open_segment_read(first_seq)
            .map_err(read_io("opening a segment"))?;
        let segment = region.as_ref();
        let problem = |offset: usize, seq: u64, reason| CorruptError {
            segment: storage.segment_display(first_seq),
            offset: offset as u64,
            seq,
            reason,
        };
        let start = check_segment_start(segment, first_seq, previous)
            .map_err(|reason| problem(0, first_seq, reason))?;
        let scan = scan_segment(segment, SEGMENT_HEADER_SIZE, start.link, seq_max, |info| {
            visited += 1;
            visit(RecordRef {
                seq: info.seq,
                timestamp_ns: info.timestamp_ns,
                kind: info.kind,
                body: info.body(segment),
            });
        });
        // As `inspect` does: the rest of a segment after its data must be zero. A record whose
        // header was zeroed ends the data early, and the records after it must not vanish.
        let stop = match scan.stop {
            Stop::End if !is_zero(&segment[scan.end..]) => {
                Stop::Invalid(CorruptReason::TrailingData)
            }
            stop => stop,
        };
        if let Stop::Invalid(reason) = stop {
            return Err(problem(scan.end, scan.last.seq + 1, reason).into());
        }
        previous = Some((start.index, scan.last));
    }
    let last = previous.map_or(start, |(_, link)| link.seq);
    if seq_max != u64::MAX && last < seq_max {
        let first_seq = last + 1;
        return Err(CorruptError {
            segment: storage.segment_display(first_seq),
            offset: 0,
            seq: last + 1,
            reason: CorruptReason::EndsEarly {
                last,
                expected: seq_max,
            },
        }
        .into());
    }
    Ok(visited)
}

fn committed_bound<S: Storage>(storage: &mut S) -> Result<u64, ReadError> {
    let meta = storage
        .open_meta_read()
        .map_err(read_io("reading the metadata file"))?;
    Ok(match meta {
        Some(meta) if meta_header_valid(meta.as_ref()) => {
            let bytes = &meta.as_ref()[META_COMMITTED_SEQ_OFFSET..META_COMMITTED_SEQ_OFFSET + 8];
            u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
        }
        _ => u64::MAX,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{META_FILE_NAME, RECORD_HEADER_SIZE, record_size, segment_file_name};
    use crate::mem_storage::MemStorage;
    use crate::storage::Region;
    use crate::{Config, Durability, RecordKind, RecoveryMode, Writer};

    /// Records 1..=5 with 16-byte bodies in one segment; returns record 3's offset.
    fn five_records() -> (MemStorage, usize) {
        let config = Config {
            segment_size_bytes: crate::limits::SEGMENT_SIZE_BYTES_MIN,
            durability: Durability::None,
            recovery: RecoveryMode::Strict,
        };
        let mut writer = Writer::open_with(MemStorage::new(), config).expect("open");
        for seq in 1..=5_u64 {
            let _ = writer
                .append(seq, RecordKind::COMMAND, &[7; 16])
                .expect("append");
        }
        let storage = writer.close().expect("close");
        (storage, SEGMENT_HEADER_SIZE + 2 * record_size(16))
    }

    fn visit_all(storage: &mut MemStorage) -> (Vec<u64>, Result<u64, ReadError>) {
        let mut seqs = Vec::new();
        let result = for_each_record(storage, |record| seqs.push(record.seq));
        (seqs, result)
    }

    /// Found by the `journal_recovery` fuzz target: a zeroed record header looked like the end
    /// of the data, and the records after it vanished without an error.
    #[test]
    fn a_zeroed_header_mid_segment_is_an_error_not_the_end() {
        let (mut storage, third) = five_records();
        let name = segment_file_name(1);
        let segment = storage.file(&name).expect("segment");
        for (i, &byte) in segment[third..third + RECORD_HEADER_SIZE]
            .iter()
            .enumerate()
        {
            storage.corrupt(&name, third + i, byte);
        }
        let (seqs, result) = visit_all(&mut storage);
        assert_eq!(seqs, [1, 2]);
        let Err(ReadError::Corrupt(corrupt)) = result else {
            panic!("records 3..=5 vanished silently: {result:?}");
        };
        assert_eq!((corrupt.offset, corrupt.seq), (third as u64, 3));
        assert_eq!(corrupt.reason, CorruptReason::TrailingData);
    }

    /// Found by the `journal_recovery` fuzz target once `for_each_record` checked the end: a
    /// journal whose first segment starts above seq 1 and holds no record yet was reported as
    /// ending early (the check counted from 0, not from the segment's `first_seq - 1`).
    #[test]
    fn an_empty_journal_starting_above_one_ends_where_it_starts() {
        let mut storage = MemStorage::new();
        let size = crate::limits::SEGMENT_SIZE_BYTES_MIN;
        let mut region = storage.create_segment(100, size).expect("create");
        region.bytes_mut()[..SEGMENT_HEADER_SIZE].copy_from_slice(zerocopy::IntoBytes::as_bytes(
            &crate::format::segment_header(0, 100, 0, size),
        ));
        region.sync(0, SEGMENT_HEADER_SIZE).expect("sync");
        drop(region);
        let config = Config {
            segment_size_bytes: size,
            durability: Durability::None,
            recovery: RecoveryMode::Strict,
        };
        let writer = Writer::open_with(storage, config).expect("open");
        assert_eq!(writer.last_seq(), 99);
        let mut storage = writer.close().expect("close");
        assert_eq!(visit_all(&mut storage).1.expect("reads clean"), 0);
        let inspection = inspect(&mut storage, 1).expect("inspects");
        assert_eq!(
            (inspection.committed_seq, inspection.problem),
            (Some(99), None)
        );
    }

    /// Records past the published committed seq are not verified, and the inspection says how
    /// much it left unread rather than passing over it in silence.
    #[test]
    fn data_past_the_committed_seq_is_reported_unverified() {
        let (mut storage, _) = five_records();
        let clean = inspect(&mut storage, 1).expect("inspect");
        assert_eq!((clean.records, clean.unverified), (5, None));
        // Lower the published committed seq from 5 to 3 (no checksum covers that word).
        storage.corrupt(META_FILE_NAME, META_COMMITTED_SEQ_OFFSET, 5 ^ 3);
        for threads in [1, 2] {
            let inspection = verify(&mut storage, threads).expect("records 1..=3 are sound");
            assert_eq!(inspection.seq_range, Some((1, 3)));
            assert_eq!(
                inspection.unverified,
                Some(Unverified {
                    bytes: 2 * record_size(16) as u64,
                    segments: 0
                })
            );
        }
    }

    #[test]
    fn a_journal_ending_before_its_committed_seq_is_an_error() {
        let (mut storage, third) = five_records();
        let name = segment_file_name(1);
        let segment = storage.file(&name).expect("segment");
        for (i, &byte) in segment[third..].iter().enumerate() {
            storage.corrupt(&name, third + i, byte);
        }
        assert!(storage.file(META_FILE_NAME).is_some());
        let (seqs, result) = visit_all(&mut storage);
        assert_eq!(seqs, [1, 2]);
        let Err(ReadError::Corrupt(corrupt)) = result else {
            panic!("a journal missing published records read clean: {result:?}");
        };
        assert_eq!(corrupt.seq, 3);
        assert_eq!(
            corrupt.reason,
            CorruptReason::EndsEarly {
                last: 2,
                expected: 5
            }
        );
    }
}
