use super::*;
use crate::error::ReadError;
use crate::inspect::{for_each_record, verify};
use crate::mem_storage::MemStorage;
use crate::reader::{RangeIter, Reader};

const SMALL: u64 = crate::limits::SEGMENT_SIZE_BYTES_MIN;

fn config(durability: Durability) -> Config {
    Config {
        segment_size_bytes: SMALL,
        durability,
        recovery: RecoveryMode::Strict,
    }
}

/// A body whose bytes and length depend on `seq`, so any mix-up shows.
pub(crate) fn body(seq: u64) -> Vec<u8> {
    let len = usize::try_from(seq * 37 % 300).expect("small");
    (0..len)
        .map(|i| u8::try_from((seq + i as u64) % 251).expect("< 251"))
        .collect()
}

fn append_n<S: Storage>(writer: &mut Writer<S>, n: u64) {
    for _ in 0..n {
        let seq = writer.next_seq();
        let receipt = writer
            .append(seq * 10, RecordKind::COMMAND, &body(seq))
            .expect("append");
        assert_eq!(receipt.seq, seq);
    }
}

fn read_all(storage: &mut MemStorage) -> Vec<(u64, u64, Vec<u8>)> {
    let mut records = Vec::new();
    for_each_record(storage, |r| {
        records.push((r.seq, r.timestamp_ns, r.body.to_vec()))
    })
    .expect("records verify");
    records
}

fn assert_records(records: &[(u64, u64, Vec<u8>)], last: u64) {
    assert_eq!(records.len() as u64, last);
    for (i, (seq, timestamp_ns, bytes)) in records.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        assert_eq!(*timestamp_ns, seq * 10);
        assert_eq!(*bytes, body(*seq), "body of seq {seq}");
    }
}

#[test]
fn round_trip_through_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = Writer::open(dir.path(), config(Durability::None)).expect("open");
    assert!(writer.recovery_report().created);
    append_n(&mut writer, 500);
    writer.close().expect("close");
    let mut reader = Reader::open(dir.path()).expect("reader");
    let mut seq = 0;
    while let Some(record) = reader.next().expect("read") {
        seq += 1;
        assert_eq!((record.seq, record.timestamp_ns), (seq, seq * 10));
        assert_eq!(
            (record.kind, record.body),
            (RecordKind::COMMAND, &body(seq)[..])
        );
    }
    assert_eq!(seq, 500);
    assert_eq!((reader.committed_seq(), reader.durable_seq()), (500, 500));
}

#[test]
fn segments_roll_and_readers_follow() {
    let mut storage = MemStorage::new();
    let mut writer = Writer::open_with(storage.clone(), config(Durability::None)).expect("open");
    append_n(&mut writer, 3000);
    writer.close().expect("close");
    let segments = storage.list_segments().expect("list");
    assert!(segments.len() >= 4, "{segments:?}");
    assert_records(&read_all(&mut storage), 3000);
    let inspection = verify(&mut storage, 2).expect("verify");
    assert_eq!(inspection.seq_range, Some((1, 3000)));
    assert_eq!(inspection.segments.len(), segments.len());
    for (summary, next) in inspection.segments.iter().zip(&inspection.segments[1..]) {
        assert_eq!(summary.last_seq + 1, next.first_seq);
        assert!(summary.bytes_used <= summary.bytes_allocated);
    }
}

#[test]
fn open_at_any_sequence_including_segment_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = Writer::open(dir.path(), config(Durability::None)).expect("open");
    append_n(&mut writer, 4000);
    let mut starts = crate::storage::list_segment_files(dir.path()).expect("list");
    starts.extend([1, 2, 1023, 1024, 1025, 2049, 3999, 4000, 4001]);
    for seq in starts {
        let mut reader = Reader::open_at(dir.path(), seq).expect("open_at");
        match reader.next().expect("read") {
            Some(record) => assert_eq!((record.seq, record.body), (seq, &body(seq)[..])),
            None => assert_eq!(seq, 4001),
        }
    }
    let Err(ReadError::NotYetWritten {
        seq: 4002,
        committed: 4000,
    }) = Reader::open_at(dir.path(), 4002)
    else {
        panic!("open_at past the end must fail");
    };
    let mut range = RangeIter::open(dir.path(), 10, 12).expect("range");
    let mut seqs = Vec::new();
    while let Some(record) = range.next().expect("read") {
        seqs.push(record.seq);
    }
    assert_eq!(seqs, [10, 11, 12]);
    writer.close().expect("close");
}

#[test]
fn oversized_body_is_refused_with_its_size() {
    let mut writer = Writer::open_with(MemStorage::new(), config(Durability::None)).expect("open");
    let body = vec![0; BODY_SIZE_MAX + 1];
    match writer.append(1, RecordKind::COMMAND, &body) {
        Err(AppendError::BodyTooLarge { len, max }) => {
            assert_eq!((len, max), (body.len(), BODY_SIZE_MAX))
        }
        other => panic!("expected BodyTooLarge, got {other:?}"),
    }
    let max = vec![7; BODY_SIZE_MAX];
    assert_eq!(
        writer
            .append(1, RecordKind::COMMAND, &max)
            .expect("max fits")
            .seq,
        1
    );
    assert_eq!(
        writer
            .append(2, RecordKind::COMMAND, &[])
            .expect("empty body")
            .seq,
        2
    );
}

#[test]
fn append_at_checks_the_sequence() {
    let mut writer = Writer::open_with(MemStorage::new(), config(Durability::None)).expect("open");
    assert_eq!(
        writer
            .append_at(1, 5, RecordKind::COMMAND, b"a")
            .expect("seq 1")
            .seq,
        1
    );
    let Err(AppendError::SeqMismatch {
        offered: 3,
        expected: 2,
    }) = writer.append_at(3, 5, RecordKind::COMMAND, b"b")
    else {
        panic!("gap must be refused");
    };
}

#[test]
fn reopen_continues_without_a_gap() {
    let mut storage = MemStorage::new();
    let mut writer = Writer::open_with(storage.clone(), config(Durability::Every)).expect("open");
    append_n(&mut writer, 700);
    writer.close().expect("close");
    let mut writer = Writer::open_with(storage.clone(), config(Durability::Every)).expect("reopen");
    assert_eq!(
        (
            writer.next_seq(),
            writer.recovery_report().torn_tail.clone()
        ),
        (701, None)
    );
    assert_eq!(
        writer.recovery_report().records_scanned,
        0,
        "clean close leaves nothing to scan"
    );
    append_n(&mut writer, 700);
    writer.close().expect("close");
    assert_records(&read_all(&mut storage), 1400);
}

#[test]
fn every_policy_acknowledges_each_record_durable() {
    let storage = MemStorage::new();
    let mut writer = Writer::open_with(storage.clone(), config(Durability::Every)).expect("open");
    for seq in 1..=50 {
        let receipt = writer
            .append(seq, RecordKind::COMMAND, &body(seq))
            .expect("append");
        assert!(receipt.durable);
        assert_eq!(writer.durable_seq(), seq);
    }
}

#[test]
fn group_policy_syncs_by_count_by_age_and_on_tick() {
    let group = Durability::Group {
        records_max: 4,
        delay_ns_max: 1000,
    };
    let mut writer = Writer::open_with(MemStorage::new(), config(group)).expect("open");
    let durable = |w: &mut Writer<MemStorage>, t| {
        let seq = w.next_seq();
        w.append(t, RecordKind::COMMAND, &body(seq))
            .expect("append")
            .durable
    };
    // By count: the fourth record syncs the group.
    assert_eq!(
        [0, 1, 2, 3].map(|t| durable(&mut writer, t)),
        [false, false, false, true]
    );
    // By age of the oldest un-synced record, at the next append.
    assert!(!durable(&mut writer, 100));
    assert!(durable(&mut writer, 1100));
    // By the duty cycle when no append arrives.
    assert!(!durable(&mut writer, 2000));
    assert_eq!(writer.tick(2999).expect("tick"), 0);
    assert_eq!(writer.durable_seq(), 6);
    assert_eq!(writer.tick(3000).expect("tick"), 1);
    assert_eq!(writer.durable_seq(), 7);
    // wait_durable syncs on demand.
    assert!(!durable(&mut writer, 3001));
    writer.wait_durable(8).expect("wait");
    assert_eq!(writer.durable_seq(), 8);
}

#[test]
fn config_out_of_range_is_refused() {
    for segment_size_bytes in [SMALL - 8, SMALL + 4, SEGMENT_SIZE_BYTES_MAX + 8] {
        let config = Config {
            segment_size_bytes,
            ..Config::default()
        };
        assert!(matches!(
            Writer::open_with(MemStorage::new(), config),
            Err(OpenError::Config(_))
        ));
    }
    let group = Durability::Group {
        records_max: 0,
        delay_ns_max: 1,
    };
    let config = Config {
        durability: group,
        ..Config::default()
    };
    assert!(matches!(
        Writer::open_with(MemStorage::new(), config),
        Err(OpenError::Config(_))
    ));
}

#[test]
fn a_failed_roll_poisons_the_writer_and_reopening_recovers() {
    // Find the first record that rolls into a second segment.
    let mut probe = MemStorage::new();
    let mut writer = Writer::open_with(probe.clone(), config(Durability::Every)).expect("open");
    while probe.list_segments().expect("list").len() < 2 {
        append_n(&mut writer, 1);
    }
    let roll_seq = writer.last_seq();
    drop(writer);

    let mut storage = MemStorage::new();
    let mut writer = Writer::open_with(storage.clone(), config(Durability::Every)).expect("open");
    append_n(&mut writer, roll_seq - 1);
    // Something already holds the next segment's name, so the roll cannot create it.
    drop(storage.create_segment(roll_seq, SMALL).expect("squat"));
    let result = writer.append(1, RecordKind::COMMAND, &body(roll_seq));
    assert!(matches!(result, Err(AppendError::Roll(_))), "{result:?}");
    let result = writer.append(1, RecordKind::COMMAND, b"x");
    assert!(
        matches!(result, Err(AppendError::Sync(SyncError::Poisoned))),
        "{result:?}"
    );
    drop(writer);
    storage
        .remove_segment(roll_seq)
        .expect("clear the squatter");
    let mut writer = Writer::open_with(storage.clone(), config(Durability::Every)).expect("reopen");
    assert_eq!(writer.last_seq(), roll_seq - 1);
    append_n(&mut writer, 10);
    writer.close().expect("close");
    assert_records(&read_all(&mut storage), roll_seq + 9);
}

/// Appends records `1..=n` (bodies from [`body`]) in batches whose sizes cycle through
/// `sizes`, checking each receipt.
fn append_batches<S: Storage>(writer: &mut Writer<S>, n: u64, sizes: &[usize]) {
    let mut sizes = sizes.iter().cycle();
    while writer.next_seq() <= n {
        let first = writer.next_seq();
        let count = (*sizes.next().expect("cycle") as u64).min(n + 1 - first);
        let bodies: Vec<Vec<u8>> = (first..first + count).map(body).collect();
        let records: Vec<(u64, RecordKind, &[u8])> = bodies
            .iter()
            .zip(first..)
            .map(|(bytes, seq)| (seq * 10, RecordKind::COMMAND, &bytes[..]))
            .collect();
        let receipt = writer.append_batch(&records).expect("append_batch");
        assert_eq!(receipt.seq, first + count - 1);
    }
}

#[test]
fn batch_append_writes_the_bytes_single_appends_write() {
    // 1500 records of up to 300 bytes roll the 128 KiB segments several times, inside and
    // between batches.
    let singles = MemStorage::new();
    let mut writer = Writer::open_with(singles.clone(), config(Durability::None)).expect("open");
    append_n(&mut writer, 1500);
    writer.close().expect("close");
    for sizes in [&[1][..], &[4], &[3, 7, 64, 1, 2, 5], &[1000]] {
        let batched = MemStorage::new();
        let mut writer =
            Writer::open_with(batched.clone(), config(Durability::None)).expect("open");
        append_batches(&mut writer, 1500, sizes);
        assert_eq!(writer.append_batch(&[]).expect("empty batch").seq, 1500);
        writer.close().expect("close");
        assert_eq!(batched.file_names(), singles.file_names());
        for name in singles.file_names().iter().filter(|n| n.ends_with(".seg")) {
            assert!(
                batched.file(name) == singles.file(name),
                "{name} differs with batch sizes {sizes:?}"
            );
        }
        assert_records(&read_all(&mut batched.clone()), 1500);
    }
}

#[test]
fn batch_append_applies_the_durability_policy_once_per_batch() {
    let storage = MemStorage::new();
    let group = Durability::Group {
        records_max: 10,
        delay_ns_max: u64::MAX,
    };
    let mut writer = Writer::open_with(storage.clone(), config(group)).expect("open");
    append_batches(&mut writer, 6, &[6]);
    assert_eq!(writer.durable_seq(), 0, "6 of 10 records: not due");
    append_batches(&mut writer, 12, &[6]);
    assert_eq!(writer.durable_seq(), 12, "12 >= 10 records: synced");
    let mut every = Writer::open_with(MemStorage::new(), config(Durability::Every)).expect("open");
    append_batches(&mut every, 5, &[5]);
    assert_eq!(every.durable_seq(), 5);
    let too_large = vec![0_u8; BODY_SIZE_MAX + 1];
    let err = every
        .append_batch(&[
            (1, RecordKind::COMMAND, &[1]),
            (2, RecordKind::COMMAND, &too_large),
        ])
        .expect_err("oversized body");
    assert!(matches!(err, AppendError::BodyTooLarge { .. }), "{err:?}");
    assert_eq!(
        every.last_seq(),
        5,
        "nothing of a refused batch is appended"
    );
}

#[test]
fn a_corrupted_record_inside_a_batch_is_reported_at_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = Writer::open(dir.path(), config(Durability::None)).expect("open");
    append_batches(&mut writer, 64, &[64]);
    writer.close().expect("close");
    let offset_of = |seq: u64| -> usize {
        crate::format::SEGMENT_HEADER_SIZE
            + (1..seq).map(|s| record_size(body(s).len())).sum::<usize>()
    };
    let name = crate::format::segment_file_name(1);
    let path = dir.path().join(&name);
    let clean = std::fs::read(&path).expect("segment");
    // Records in every slot of a group of four, the first, and the last.
    for seq in [1, 2, 3, 4, 5, 30, 63, 64] {
        let offset = offset_of(seq);
        // A body byte when there is one, else the timestamp.
        let byte = if body(seq).is_empty() { 24 } else { 32 };
        let mut bytes = clean.clone();
        bytes[offset + byte] ^= 0x10;
        std::fs::write(&path, &bytes).expect("corrupt");

        let mut reader = Reader::open(dir.path()).expect("reader");
        let mut read = 0;
        let err = loop {
            match reader.next() {
                Ok(Some(record)) => {
                    read += 1;
                    assert_eq!(record.seq, read);
                }
                Ok(None) => panic!("corruption of seq {seq} not detected"),
                Err(err) => break err,
            }
        };
        assert_eq!(read, seq - 1, "records before the corrupt one are returned");
        let ReadError::Corrupt(found) = err else {
            panic!("{err:?}")
        };
        assert_eq!((found.seq, found.offset), (seq, offset as u64), "{found:?}");
        assert!(matches!(
            found.reason,
            crate::error::CorruptReason::Crc { .. }
        ));

        let mut storage = FileStorage::open(dir.path()).expect("storage");
        let Err(ReadError::Corrupt(found)) = verify(&mut storage, 2) else {
            panic!("verify missed the corruption of seq {seq}")
        };
        assert_eq!((found.seq, found.offset), (seq, offset as u64), "{found:?}");
    }
}

/// Found by the `journal_recovery` fuzz target: a journal whose records reach `u64::MAX` (a
/// crafted segment named near it) recovered fine, and the next append overflowed `seq + 1`.
/// No record may have seq `u64::MAX`; the writer says the numbers are exhausted instead.
#[test]
fn sequence_numbers_end_before_u64_max() {
    let mut storage = MemStorage::new();
    let first = u64::MAX - 2;
    let mut region = storage.create_segment(first, SMALL).expect("create");
    region.bytes_mut()[..crate::format::SEGMENT_HEADER_SIZE].copy_from_slice(
        zerocopy::IntoBytes::as_bytes(&crate::format::segment_header(0, first, 0, SMALL)),
    );
    region.sync(0, 64).expect("sync");
    drop(region);
    storage.sync_dir().expect("sync dir");

    let mut writer = Writer::open_with(storage, config(Durability::None)).expect("open");
    assert_eq!(writer.next_seq(), u64::MAX - 2);
    for _ in 0..2 {
        let _ = writer.append(1, RecordKind::COMMAND, b"x").expect("append");
    }
    assert_eq!(writer.last_seq(), u64::MAX - 1);
    let exhausted = AppendError::SeqExhausted { last: u64::MAX - 1 };
    let refused = writer.append(1, RecordKind::COMMAND, b"x");
    assert!(matches!(&refused, Err(e) if e.to_string() == exhausted.to_string()));
    let refused = writer.append_batch(&[(1, RecordKind::COMMAND, b"x")]);
    assert!(matches!(refused, Err(AppendError::SeqExhausted { .. })));
    let storage = writer.close().expect("close");
    let writer = Writer::open_with(storage, config(Durability::None)).expect("reopen");
    assert_eq!(writer.last_seq(), u64::MAX - 1);
}
