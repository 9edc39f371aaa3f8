//! A reader tails a live writer in another thread and in another process. The reader polls
//! with a bounded deadline and backs off between polls; nothing synchronises by sleeping.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{body, config, timestamp};
use journal::{Durability, ReadError, Reader, RecordKind, RecoveryMode, Writer};

const RECORDS: u64 = 20_000;
const DEADLINE: Duration = Duration::from_secs(60);
const CHILD_DIR_ENV: &str = "JOURNAL_TAIL_TEST_WRITER_DIR";

/// The writer side: small segments so the reader crosses many rolls.
fn write_records(dir: &Path) {
    let mut writer =
        Writer::open(dir, config(Durability::None, RecoveryMode::Strict)).expect("open");
    for seq in 1..=RECORDS {
        let receipt = writer
            .append(timestamp(seq), RecordKind::COMMAND, &body(seq))
            .expect("append");
        assert_eq!(receipt.seq, seq);
    }
    writer.close().expect("close");
}

/// Backs off a polling loop: yield first, then short sleeps, so a waiting reader does not
/// starve the writer on a 2-core machine.
fn back_off(idle_polls: &mut u32) {
    *idle_polls += 1;
    if *idle_polls < 64 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(50));
    }
}

/// The reader side: opens once the writer created the journal, then reads every record in
/// order, checking each against what the writer appended.
fn tail_all(dir: &Path) {
    let deadline = Instant::now() + DEADLINE;
    let mut idle_polls = 0;
    let mut reader = loop {
        match Reader::open(dir) {
            Ok(reader) => break reader,
            Err(ReadError::BadMeta | ReadError::NotYetWritten { .. }) => {
                assert!(
                    Instant::now() < deadline,
                    "writer never created the journal"
                );
                back_off(&mut idle_polls);
            }
            Err(error) => panic!("opening the reader: {error}"),
        }
    };
    let mut expected = 1;
    let mut caught_up = 0_u64;
    while expected <= RECORDS {
        match reader.next().expect("verified read") {
            Some(record) => {
                assert_eq!(
                    (record.seq, record.timestamp_ns),
                    (expected, timestamp(expected))
                );
                assert_eq!(record.body, &body(expected)[..]);
                expected += 1;
                idle_polls = 0;
            }
            None => {
                caught_up += 1;
                assert!(Instant::now() < deadline, "stuck at seq {expected}");
                back_off(&mut idle_polls);
            }
        }
    }
    assert!(reader.next().expect("read").is_none());
    // Not a synchronisation: just evidence that the reader really raced the writer.
    eprintln!("reader caught up with the writer {caught_up} times");
}

#[test]
fn reader_tails_a_writer_in_another_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let writer = std::thread::spawn(move || write_records(&path));
    tail_all(dir.path());
    writer.join().expect("writer thread");
}

#[test]
fn reader_tails_a_writer_in_another_process() {
    if let Some(dir) = std::env::var_os(CHILD_DIR_ENV) {
        // Re-executed as the child: be the writer.
        write_records(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "reader_tails_a_writer_in_another_process",
            "--test-threads=1",
        ])
        .env(CHILD_DIR_ENV, dir.path())
        // The child's own test summary would read like ours; its panics still reach stderr.
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn writer process");
    tail_all(dir.path());
    let status = child.wait().expect("writer process");
    assert!(status.success(), "writer process failed: {status}");
}
