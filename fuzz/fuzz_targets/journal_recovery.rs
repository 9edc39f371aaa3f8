//! Arbitrary bytes as a journal directory (segment files and a metadata file, see
//! `journal_model`) in a `MemStorage`, then inspected, read from the start and recovered by
//! `Writer::open_with`. Never panics, and judged against a naive reader written from
//! docs/journal-format.md:
//! - every record a reader returns is one the naive reader finds valid, at the same place in
//!   the chain (so its CRC holds and seqs go up by one), and none is skipped;
//! - without a checkpoint, recovery keeps exactly the intact prefix; an invalid position that a
//!   valid later record follows is refused in strict mode, with its position;
//! - a recovered journal verifies from the start (up to corruption before its checkpoint, which
//!   recovery does not look for by design), takes appends, and recovers again to the same end.
#![no_main]

mod journal_model;

use journal::{
    AppendError, Config, Durability, MemStorage, OpenError, RecordKind, RecoveryMode, Region,
    Storage, Writer, for_each_record, inspect, segment_file_name,
};
use journal_model::{End, Image, POINT_IN_TIME, Walk, follower, walk};
use libfuzzer_sys::fuzz_target;

fn storage_of(image: &Image) -> MemStorage {
    let mut storage = MemStorage::new();
    for (&first_seq, bytes) in &image.segments {
        let mut region = storage
            .create_segment(first_seq, bytes.len() as u64)
            .expect("create");
        region.bytes_mut().copy_from_slice(bytes);
        region.sync(0, bytes.len()).expect("sync");
    }
    if let Some(meta) = &image.meta {
        let mut region = storage.create_meta(meta.len() as u64).expect("create meta");
        region.bytes_mut().copy_from_slice(meta);
        region.sync(0, meta.len()).expect("sync");
    }
    storage.sync_dir().expect("sync dir");
    storage
}

fn image_of(storage: &MemStorage, flags: u8) -> Image {
    let mut image = Image {
        flags,
        ..Image::default()
    };
    for name in storage.file_names() {
        let bytes = storage.file(&name).expect("listed");
        match name.strip_suffix(".seg").map(str::parse::<u64>) {
            Some(Ok(first_seq)) if segment_file_name(first_seq) == name => {
                image.segments.insert(first_seq, bytes);
            }
            _ => image.meta = Some(bytes),
        }
    }
    image
}

/// Reads every record from the start through the journal; checks each against the naive walk.
/// Returns how many were read and the seq of the error, if any.
fn read_all(storage: &mut MemStorage, naive: &Walk) -> (usize, Option<u64>) {
    let mut count = 0;
    let result = for_each_record(storage, |record| {
        let expected = naive
            .records
            .get(count)
            .unwrap_or_else(|| panic!("returned seq {} beyond the valid prefix", record.seq));
        assert_eq!(
            (record.seq, record.timestamp_ns, record.kind.0, record.body),
            (
                expected.seq,
                expected.timestamp_ns,
                expected.kind,
                &expected.body[..]
            ),
            "returned record {count} differs from the valid one"
        );
        count += 1;
    });
    match result {
        Ok(visited) => {
            assert_eq!(visited as usize, count);
            (count, None)
        }
        Err(journal::ReadError::Corrupt(corrupt)) => (count, Some(corrupt.seq)),
        Err(other) => panic!("MemStorage cannot fail IO: {other}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let image = Image::from_fuzz(data);
    let naive = walk(&image.segments);

    // Reading from the start never returns a record the naive reader rejects, never skips one.
    let inspection = inspect(&mut storage_of(&image), 1).expect("no IO errors");
    let (read, read_error) = read_all(&mut storage_of(&image), &naive);
    if read_error.is_none() && read < naive.records.len() {
        // Stopped early without an error: only at the writer's published committed seq (a
        // journal whose first segment starts above it has nothing committed to read).
        let committed = inspection
            .committed_seq
            .expect("stops early only at committed_seq");
        let next = naive.records[read].seq;
        assert!(
            next > committed,
            "stopped before {next}, committed {committed}"
        );
        if read > 0 {
            assert_eq!(next, committed.wrapping_add(1), "stopped early at {read}");
        }
    }
    assert_eq!(
        inspection.records as usize, read,
        "inspect and the reader disagree"
    );
    assert_eq!(
        inspection.problem.is_some(),
        read_error.is_some(),
        "inspect found {:?}, the reader {read_error:?}",
        inspection.problem
    );

    // Recovery.
    let mode = if image.flags & POINT_IN_TIME != 0 {
        RecoveryMode::PointInTime
    } else {
        RecoveryMode::Strict
    };
    let config = Config {
        segment_size_bytes: journal::SEGMENT_SIZE_BYTES_MIN,
        durability: Durability::None,
        recovery: mode,
    };
    let storage = storage_of(&image);
    let checkpoint = inspection.checkpoint_seq;
    let opened = Writer::open_with(storage.clone(), config);
    let evidence = match &naive.end {
        End::Invalid {
            segment,
            offset,
            seq,
        } => follower(&image.segments, *segment, *offset, seq.wrapping_sub(1)),
        End::Clean => None,
    };
    match opened {
        Ok(mut writer) => {
            let report = writer.recovery_report().clone();
            let last = writer.last_seq();
            if report.checkpoint_seq.is_none() && !report.created {
                // From the first segment: exactly the intact prefix survives.
                assert_eq!(last, naive.last_seq(), "recovery kept {last}: {report:?}");
                if mode == RecoveryMode::Strict {
                    assert!(evidence.is_none(), "{evidence:?} follows a cut: {report:?}");
                }
                assert_eq!(
                    report.torn_tail.is_some(),
                    naive.end != End::Clean,
                    "{report:?}"
                );
            }
            if report.created {
                assert_eq!(
                    naive.records.len(),
                    0,
                    "valid records discarded: {report:?}"
                );
            }
            // Appends continue the recovered log, until seq u64::MAX, which no record gets.
            let mut appended = 0;
            for i in 0..3u64 {
                match writer.append(i, RecordKind::COMMAND, &[i as u8; 13]) {
                    Ok(receipt) => assert_eq!(receipt.seq, last + i + 1),
                    Err(AppendError::SeqExhausted { last: at }) => {
                        assert_eq!((at, at + 1), (last + i, u64::MAX));
                        break;
                    }
                    Err(error) => panic!("append after recovery: {error}"),
                }
                appended += 1;
            }
            let storage = writer.close().expect("close");
            let after = image_of(&storage, image.flags);
            let naive_after = walk(&after.segments);
            let (_, error) = read_all(&mut storage_of(&after), &naive_after);
            if let Some(seq) = error {
                // Only corruption before the checkpoint recovery started from.
                let checkpoint = checkpoint.expect("recovered without a checkpoint");
                assert!(
                    seq <= checkpoint,
                    "error at {seq} after checkpoint {checkpoint}"
                );
            }
            // Recovery again: nothing to repair, the same end.
            let again = Writer::open_with(storage_of(&after), config).expect("reopen");
            assert_eq!(again.last_seq(), last + appended);
            assert_eq!(again.recovery_report().torn_tail, None);
        }
        Err(OpenError::CorruptBeforeTail {
            corrupt,
            follower_seq,
            ..
        }) => {
            assert_eq!(mode, RecoveryMode::Strict);
            assert!(follower_seq >= corrupt.seq, "{corrupt:?} {follower_seq}");
            if checkpoint.is_none() {
                let End::Invalid {
                    segment,
                    offset,
                    seq,
                } = naive.end
                else {
                    panic!("refused a clean journal: {corrupt}");
                };
                assert_eq!(
                    (corrupt.segment.as_str(), corrupt.offset, corrupt.seq),
                    (segment_file_name(segment).as_str(), offset as u64, seq),
                    "refusal names the wrong position"
                );
                assert!(evidence.is_some());
            }
        }
        Err(OpenError::Corrupt(corrupt)) => {
            // The checkpoint's segment or record is bad, or the first segment's header is
            // torn and is not the first of the log.
            if checkpoint.is_none() {
                assert_ne!(naive.end, End::Clean, "refused a clean journal: {corrupt}");
            }
        }
        Err(other) => panic!("unexpected open error: {other}"),
    }
});
