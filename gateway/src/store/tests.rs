use protocol::{Seq, SessionId, Term};

use super::*;

fn records() -> Vec<Record<'static>> {
    let s = SessionId(7);
    vec![
        Record::SeqNums {
            session: s,
            next_in: 3,
            next_out: 9,
        },
        Record::Sent {
            session: s,
            seq: 8,
            bytes: b"8=FIX.4.4\x019=5\x0135=8\x0110=000\x01",
        },
        Record::Inbound {
            session: s,
            now_ns: 42,
            bytes: b"35=D",
        },
        Record::Event {
            session: s,
            bytes: &[1, 2, 3],
        },
        Record::Disconnect { session: s },
        Record::Translator {
            session: s,
            last: false,
            bytes: &[1, 2],
        },
        Record::Translator {
            session: s,
            last: true,
            bytes: &[],
        },
        Record::Unanswered {
            session: s,
            bytes: &[9; 5],
        },
        Record::Cursor(CursorParts {
            term: Term(2),
            last: Some((Seq(10), 1, 3)),
        }),
        Record::Cursor(CursorParts {
            term: Term(1),
            last: None,
        }),
    ]
}

fn write_all(path: &Path) {
    let (mut store, found) = Store::open(path, false, |_| panic!("new store")).unwrap();
    assert_eq!(found, Recovered::default());
    for r in &records() {
        store.append(r);
    }
    assert!(store.commit().unwrap());
    assert!(!store.commit().unwrap(), "nothing new");
}

fn read_back(path: &Path) -> Result<(Vec<String>, Recovered), StoreError> {
    let mut seen = Vec::new();
    let (_, found) = Store::open(path, false, |r| seen.push(format!("{r:?}")))?;
    Ok((seen, found))
}

#[test]
fn records_come_back_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    write_all(&path);
    let (seen, found) = read_back(&path).unwrap();
    let expected: Vec<String> = records().iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(found.records, 10);
    assert_eq!(found.truncated_bytes, 0);
}

#[test]
fn appending_after_reopening_continues_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    write_all(&path);
    let (mut store, _) = Store::open(&path, true, |_| {}).unwrap();
    store.append(&Record::Disconnect {
        session: SessionId(1),
    });
    store.commit().unwrap();
    drop(store);
    let (seen, _) = read_back(&path).unwrap();
    assert_eq!(seen.len(), 11);
    assert_eq!(seen[10], "Disconnect { session: SessionId(1) }");
}

#[test]
fn a_torn_last_record_is_cut_off_at_every_length() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    write_all(&path);
    let whole = std::fs::read(&path).unwrap();
    let mut last = Vec::new();
    records()[9].encode(&mut last);
    let good = whole.len() - last.len();
    for cut in good + 1..whole.len() {
        std::fs::write(&path, &whole[..cut]).unwrap();
        let (seen, found) = read_back(&path).unwrap();
        assert_eq!(seen.len(), 9, "cut at {cut}");
        assert_eq!(found.truncated_bytes, (cut - good) as u64);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good as u64);
    }
}

#[test]
fn a_flipped_bit_in_the_last_record_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    write_all(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let (seen, found) = read_back(&path).unwrap();
    assert_eq!(seen.len(), 9);
    assert!(found.truncated_bytes > 0);
}

#[test]
fn a_flipped_bit_in_the_middle_is_refused_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    write_all(&path);
    let clean = std::fs::read(&path).unwrap();
    let mut first = Vec::new();
    records()[0].encode(&mut first);
    let second_at = HEADER_SIZE + first.len();
    // Every bit of the second record's length, checksum and body.
    for byte in second_at..second_at + 30 {
        for bit in 0..8 {
            let mut bytes = clean.clone();
            bytes[byte] ^= 1 << bit;
            std::fs::write(&path, &bytes).unwrap();
            match read_back(&path) {
                Err(StoreError::Corrupt { offset, .. }) => {
                    assert_eq!(offset, second_at as u64, "flip at {byte}.{bit}");
                }
                other => panic!("flip at {byte}.{bit}: {other:?}"),
            }
        }
    }
}

#[test]
fn a_file_that_is_not_a_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    std::fs::write(&path, b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01").unwrap();
    assert!(matches!(
        read_back(&path),
        Err(StoreError::NotAStore { .. })
    ));
    let mut header = [0u8; HEADER_SIZE];
    header[..8].copy_from_slice(MAGIC);
    header[8] = 9;
    std::fs::write(&path, header).unwrap();
    assert!(matches!(
        read_back(&path),
        Err(StoreError::Version { found: 9, .. })
    ));
    // A crash while the header was being written: a new store.
    std::fs::write(&path, &MAGIC[..5]).unwrap();
    assert_eq!(read_back(&path).unwrap().0.len(), 0);
}

/// Compaction replaces the file with the records given; appends go on after them, and a
/// leftover from a compaction that crashed before its rename is overwritten, not read.
#[test]
fn compaction_replaces_the_file_and_appends_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    std::fs::write(dir.path().join("gateway.store.compact"), b"half a file").unwrap();
    write_all(&path);
    let (mut store, _) = Store::open(&path, false, |_| {}).unwrap();
    let before = store.size_bytes();
    let kept = records()[..2].to_vec();
    let written = kept.clone();
    store
        .compact(move |out| written.iter().for_each(|r| out.push(r)))
        .unwrap();
    assert!(store.size_bytes() < before);
    assert_eq!(store.size_bytes(), std::fs::metadata(&path).unwrap().len());
    store.append(&Record::Disconnect {
        session: SessionId(1),
    });
    store.commit().unwrap();
    assert_eq!(store.size_bytes(), std::fs::metadata(&path).unwrap().len());
    drop(store);
    let (seen, found) = read_back(&path).unwrap();
    let mut expected: Vec<String> = kept.iter().map(|r| format!("{r:?}")).collect();
    expected.push("Disconnect { session: SessionId(1) }".to_owned());
    assert_eq!((seen, found.records), (expected, 3));
    assert!(!dir.path().join("gateway.store.compact").exists());
}

/// The records a compaction started with, then those committed while its helper wrote them.
fn debug(records: &[Record<'_>]) -> Vec<String> {
    records.iter().map(|r| format!("{r:?}")).collect()
}

/// Commits go on while a compaction runs in the background: until it is finished they go to
/// the old file, and the finished file is the compacted records followed by them.
#[test]
fn commits_during_a_background_compaction_follow_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    write_all(&path);
    let (mut store, _) = Store::open(&path, false, |_| {}).unwrap();
    let all = records();
    let (kept, during) = (all[..3].to_vec(), &all[3..6]);
    store
        .compact_in_background(move |out| kept.iter().for_each(|r| out.push(r)))
        .unwrap();
    assert!(store.compacting());
    for r in during {
        store.append(r);
        store.commit().unwrap();
        // Whether or not the helper is done yet, the old file is the store until the finish.
        assert_eq!(store.size_bytes(), std::fs::metadata(&path).unwrap().len());
    }
    let size = store.poll_compaction(true).unwrap().expect("finished");
    assert!(!store.compacting());
    assert_eq!(
        store.poll_compaction(true).unwrap(),
        None,
        "nothing running"
    );
    assert_eq!(size, store.size_bytes());
    assert_eq!(size, std::fs::metadata(&path).unwrap().len());
    store.append(&all[6]);
    store.commit().unwrap();
    drop(store);
    let (seen, _) = read_back(&path).unwrap();
    assert_eq!(seen, debug(&all[..7]));
    assert!(!dir.path().join("gateway.store.compact").exists());
}

/// A store dropped before its compaction finished (the process killed) keeps the old file,
/// with everything committed during the compaction: reopening reads the whole history.
#[test]
fn a_compaction_cut_short_leaves_the_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.store");
    write_all(&path);
    let (mut store, _) = Store::open(&path, false, |_| {}).unwrap();
    let all = records();
    let kept = all[..2].to_vec();
    store
        .compact_in_background(move |out| kept.iter().for_each(|r| out.push(r)))
        .unwrap();
    store.append(&Record::Disconnect {
        session: SessionId(3),
    });
    store.commit().unwrap();
    drop(store);
    let (seen, found) = read_back(&path).unwrap();
    let mut expected = debug(&all);
    expected.push("Disconnect { session: SessionId(3) }".to_owned());
    assert_eq!((seen, found.truncated_bytes), (expected, 0));
    // The next compaction overwrites the helper's file rather than reading it.
    let (mut store, _) = Store::open(&path, false, |_| {}).unwrap();
    let kept = all[..1].to_vec();
    store
        .compact(move |out| kept.iter().for_each(|r| out.push(r)))
        .unwrap();
    drop(store);
    assert_eq!(read_back(&path).unwrap().0, debug(&all[..1]));
}
