//! Recovery on open: torn tails are truncated and appends continue without a gap; corruption
//! that valid records follow is refused with its segment, byte offset and sequence number.

mod common;

use std::path::{Path, PathBuf};

use common::{body, config, timestamp};
use journal::{
    CorruptReason, Durability, FileStorage, MemStorage, OpenError, ReadError, RecordKind,
    RecoveryMode, SEGMENT_HEADER_SIZE, Writer, record_size, segment_file_name, verify,
};

const GROUP: Durability = Durability::Group {
    records_max: 10,
    delay_ns_max: u64::MAX,
};

/// Byte offset of record `seq` in the first segment.
fn offset_of(seq: u64) -> usize {
    SEGMENT_HEADER_SIZE + (1..seq).map(|s| record_size(body(s).len())).sum::<usize>()
}

/// Appends records `1..=count` and drops the writer without closing it (a crash).
fn write_and_crash(dir: &Path, durability: Durability, count: u64) {
    let mut writer = Writer::open(dir, config(durability, RecoveryMode::Strict)).expect("open");
    for seq in 1..=count {
        let receipt = writer
            .append(timestamp(seq), RecordKind::COMMAND, &body(seq))
            .expect("append");
        assert_eq!(receipt.seq, seq);
    }
}

fn first_segment(dir: &Path) -> PathBuf {
    dir.join(segment_file_name(1))
}

fn edit(path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = std::fs::read(path).expect("read segment");
    f(&mut bytes);
    std::fs::write(path, bytes).expect("write segment");
}

#[test]
fn torn_last_record_is_truncated_and_appends_continue_without_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_and_crash(dir.path(), GROUP, 55);
    let (torn, end) = (offset_of(55), offset_of(56));
    // The last record was half written when the process died.
    edit(&first_segment(dir.path()), |bytes| {
        bytes[torn + (end - torn) / 2..end].fill(0)
    });
    let config = config(GROUP, RecoveryMode::Strict);
    let mut writer = Writer::open(dir.path(), config).expect("recovers");
    let report = writer.recovery_report().clone();
    assert_eq!(report.checkpoint_seq, Some(50));
    assert_eq!(report.records_scanned, 4);
    let tail = report.torn_tail.expect("torn tail reported");
    assert_eq!((tail.offset, tail.seq), (torn as u64, 55));
    assert!(
        matches!(tail.reason, CorruptReason::Crc { .. }),
        "{:?}",
        tail.reason
    );
    assert!(tail.bytes_zeroed > 0);
    assert_eq!(writer.last_seq(), 54);
    let receipt = writer
        .append(1, RecordKind::COMMAND, b"after the tear")
        .expect("append");
    assert_eq!(receipt.seq, 55);
    writer.close().expect("close");
    let inspection = verify(&mut FileStorage::open(dir.path()).expect("dir"), 1).expect("clean");
    assert_eq!(inspection.seq_range, Some((1, 55)));
    let mut reader = journal::Reader::open_at(dir.path(), 55).expect("reader");
    assert_eq!(
        reader.next().expect("read").expect("record").body,
        b"after the tear"
    );
}

#[test]
fn garbage_after_the_last_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_and_crash(dir.path(), Durability::None, 20);
    let end = offset_of(21);
    edit(&first_segment(dir.path()), |bytes| {
        for (i, byte) in bytes[end..end + 100].iter_mut().enumerate() {
            *byte = u8::try_from(i % 250).expect("< 250") | 1;
        }
    });
    let writer =
        Writer::open(dir.path(), config(Durability::None, RecoveryMode::Strict)).expect("recovers");
    let tail = writer
        .recovery_report()
        .torn_tail
        .clone()
        .expect("torn tail");
    assert_eq!(
        (tail.offset, tail.seq, tail.bytes_zeroed),
        (end as u64, 21, 100)
    );
    assert_eq!(writer.last_seq(), 20);
    let mut storage = writer.close().expect("close");
    assert_eq!(
        verify(&mut storage, 1).expect("clean").seq_range,
        Some((1, 20))
    );
}

#[test]
fn mid_log_corruption_refuses_to_open_and_names_the_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_and_crash(dir.path(), Durability::None, 60);
    let bad = offset_of(30);
    edit(&first_segment(dir.path()), |bytes| bytes[bad + 40] ^= 0x20);
    let error = Writer::open(dir.path(), config(Durability::None, RecoveryMode::Strict))
        .expect_err("must refuse");
    let OpenError::CorruptBeforeTail {
        corrupt,
        follower_seq,
        ..
    } = &error
    else {
        panic!("expected CorruptBeforeTail, got {error}");
    };
    assert!(
        corrupt.segment.ends_with(&segment_file_name(1)),
        "{}",
        corrupt.segment
    );
    assert_eq!(
        (corrupt.offset, corrupt.seq, *follower_seq),
        (bad as u64, 30, 31)
    );
    let message = error.to_string();
    assert!(
        message.contains(&format!("byte offset {bad}")) && message.contains("seq 30"),
        "{message}"
    );
    // Point-in-time recovery is an explicit operator choice: it cuts at the corruption.
    let writer = Writer::open(
        dir.path(),
        config(Durability::None, RecoveryMode::PointInTime),
    )
    .expect("cut");
    assert_eq!(writer.last_seq(), 29);
    let tail = writer
        .recovery_report()
        .torn_tail
        .clone()
        .expect("cut reported");
    assert_eq!(tail.discarded_valid_seq, Some(31));
}

#[test]
fn corruption_before_the_checkpoint_is_found_by_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut writer = Writer::open(dir.path(), config(GROUP, RecoveryMode::Strict)).expect("open");
    for seq in 1..=40 {
        let _ = writer
            .append(timestamp(seq), RecordKind::COMMAND, &body(seq))
            .expect("append");
    }
    writer.close().expect("close");
    let bad = offset_of(12);
    edit(&first_segment(dir.path()), |bytes| bytes[bad + 33] ^= 0x01);
    let mut storage = FileStorage::open(dir.path()).expect("dir");
    let Err(ReadError::Corrupt(corrupt)) = verify(&mut storage, 2) else {
        panic!("verify must report the flip");
    };
    assert_eq!((corrupt.offset, corrupt.seq), (bad as u64, 12));
    let mut reader = journal::Reader::open_at(dir.path(), 11).expect("reader");
    assert_eq!(
        reader
            .next()
            .expect("seq 11 is intact")
            .expect("record")
            .seq,
        11
    );
    let Err(ReadError::Corrupt(at_reader)) = reader.next() else {
        panic!("reader must refuse seq 12");
    };
    assert_eq!((at_reader.offset, at_reader.seq), (bad as u64, 12));
}

/// One bit flipped in every byte of a record (header fields, body and padding) is detected,
/// by recovery and by `verify`, at that record's position.
#[test]
fn a_bit_flip_in_every_byte_of_a_record_is_detected() {
    let storage = MemStorage::new();
    let mut writer = Writer::open_with(
        storage.clone(),
        config(Durability::None, RecoveryMode::Strict),
    )
    .expect("open");
    for seq in 1..=8 {
        let _ = writer
            .append(timestamp(seq), RecordKind::COMMAND, &body(seq))
            .expect("append");
    }
    writer.close().expect("close");
    let target = 5;
    let (start, end) = (offset_of(target), offset_of(target + 1));
    assert_ne!(
        body(target).len() % 8,
        0,
        "the target record must have padding"
    );
    let name = segment_file_name(1);
    let image = storage.file(&name).expect("segment");
    for position in start..end {
        let mask = 1 << ((position * 7 + 3) % 8);
        let copy = MemStorage::new();
        copy_journal(&storage, &copy, &image);
        copy.corrupt(&name, position, mask);
        let mut verify_copy = copy.clone();
        let Err(ReadError::Corrupt(found)) = verify(&mut verify_copy, 1) else {
            panic!("verify missed a flip at byte {}", position - start);
        };
        assert_eq!((found.offset, found.seq), (start as u64, target));
        // Recovery scans from the checkpoint; start it from scratch so it sees the record.
        copy.corrupt(journal::META_FILE_NAME, 128 + 9, 0x01);
        copy.corrupt(journal::META_FILE_NAME, 192 + 9, 0x01);
        let config = config(Durability::None, RecoveryMode::Strict);
        match Writer::open_with(copy, config) {
            Err(OpenError::CorruptBeforeTail { corrupt, .. }) => {
                assert_eq!((corrupt.offset, corrupt.seq), (start as u64, target));
            }
            other => panic!("byte {}: expected refusal, got {other:?}", position - start),
        }
    }
}

fn copy_journal(from: &MemStorage, to: &MemStorage, segment: &[u8]) {
    use journal::{Region, Storage};
    let mut to = to.clone();
    let mut region = to.create_segment(1, segment.len() as u64).expect("create");
    region.bytes_mut().copy_from_slice(segment);
    region.sync(0, segment.len()).expect("sync");
    drop(region);
    let meta = from.file(journal::META_FILE_NAME).expect("meta");
    let mut region = to.create_meta(meta.len() as u64).expect("meta");
    region.bytes_mut().copy_from_slice(&meta);
    region.sync(0, meta.len()).expect("sync");
    drop(region);
    to.sync_dir().expect("sync dir");
}
