//! The tailing `Reader` over arbitrary journal files (the `journal_model` input, written to a
//! directory: the reader maps files), opened at a seq the input picks, read to its end; then a
//! writer recovers the directory and appends while the same reader keeps reading, as a replica
//! tails the sequencer's journal. Never panics, and every record the reader returns, before
//! and after the appends, is the one the naive reader finds valid at that seq.
//!
//! The reader's verification is the batch check recovery and `verify` use (fuzzed by
//! `journal_recovery`); what is its own is opening at a seq (the sparse index hops headers
//! without CRCs), the committed-seq bound from the metadata file, and following rolls.
#![no_main]

mod journal_model;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use journal::{Config, Durability, Reader, RecordKind, RecoveryMode, Writer, segment_file_name};
use journal_model::{Image, Walk, walk};
use libfuzzer_sys::fuzz_target;

/// One directory per process, emptied for every input (tmpfs when there is one).
fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        // Directories of earlier runs whose process is gone (a fuzzer exits without cleaning).
        let prefix = "lockstep-fuzz-journal-reader-";
        for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name().into_string().unwrap_or_default();
            if let Some(pid) = name.strip_prefix(prefix)
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("{prefix}{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("fuzz dir");
        dir
    })
}

fn write(dir: &Path, image: &Image) {
    for entry in std::fs::read_dir(dir).expect("list") {
        std::fs::remove_file(entry.expect("entry").path()).expect("remove");
    }
    for (&first_seq, bytes) in &image.segments {
        std::fs::write(dir.join(segment_file_name(first_seq)), bytes).expect("write segment");
    }
    if let Some(meta) = &image.meta {
        std::fs::write(dir.join(journal::META_FILE_NAME), meta).expect("write meta");
    }
}

fn read(dir: &Path) -> Image {
    let mut image = Image::default();
    for entry in std::fs::read_dir(dir).expect("list") {
        let entry = entry.expect("entry");
        let name = entry.file_name().into_string().expect("utf-8");
        let bytes = std::fs::read(entry.path()).expect("read");
        match name.strip_suffix(".seg").map(str::parse::<u64>) {
            Some(Ok(seq)) if segment_file_name(seq) == name => {
                image.segments.insert(seq, bytes);
            }
            _ => image.meta = Some(bytes),
        }
    }
    image
}

/// Reads until the reader catches up or fails; every record must be the naive walk's at its
/// seq. Returns the last seq read.
fn drain(reader: &mut Reader, naive: &Walk) -> Result<u64, ()> {
    let mut expected_seq = reader.next_seq();
    loop {
        match reader.next() {
            Ok(Some(record)) => {
                assert_eq!(record.seq, expected_seq, "the reader skipped or repeated");
                let index = record.seq.wrapping_sub(naive.start_seq.wrapping_add(1));
                let valid = usize::try_from(index)
                    .ok()
                    .and_then(|i| naive.records.get(i))
                    .unwrap_or_else(|| {
                        panic!("returned seq {} the naive reader rejects", record.seq)
                    });
                assert_eq!(
                    (record.seq, record.timestamp_ns, record.kind.0, record.body),
                    (valid.seq, valid.timestamp_ns, valid.kind, &valid.body[..])
                );
                expected_seq += 1;
            }
            Ok(None) => return Ok(expected_seq - 1),
            Err(_) => return Err(()),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let image = Image::from_fuzz(data);
    let naive = walk(&image.segments);
    let dir = dir();
    write(dir, &image);
    // Open at the first record, or somewhere in the valid prefix from the first segment.
    let start = match usize::from(pick) % 4 {
        0 => 1,
        _ if naive.records.is_empty() => 1,
        n => naive.records[(naive.records.len() - 1) * n / 3].seq,
    };
    let Ok(mut reader) = Reader::open_at(dir, start) else {
        return;
    };
    // The reader starts in the last segment named at most `start` that can hold committed
    // records (docs/journal-format.md, "Sparse index and readers"), whatever precedes it.
    let meta = image
        .meta
        .as_ref()
        .expect("a reader opens only with a metadata file");
    let committed = journal_model::u64_at(meta, 64);
    let holding = |image: &Image| {
        image
            .segments
            .keys()
            .rev()
            .find(|&&first| first <= start && (first <= committed || first == 1))
            .copied()
    };
    let from = |image: &Image, first: u64| {
        walk(
            &image
                .segments
                .range(first..)
                .map(|(k, v)| (*k, v.clone()))
                .collect(),
        )
    };
    let Some(first) = holding(&image) else {
        return;
    };
    let naive = from(&image, first);
    let Ok(_) = drain(&mut reader, &naive) else {
        return;
    };
    // The writer recovers the directory and appends while the reader keeps tailing it.
    let config = Config {
        segment_size_bytes: journal::SEGMENT_SIZE_BYTES_MIN,
        durability: Durability::None,
        recovery: RecoveryMode::Strict,
    };
    let Ok(mut writer) = Writer::open(dir, config) else {
        return;
    };
    for i in 0..3u8 {
        match writer.append(u64::from(i), RecordKind::COMMAND, &[i; 21]) {
            Ok(_) | Err(journal::AppendError::SeqExhausted { .. }) => {}
            Err(error) => panic!("append after recovery: {error}"),
        }
    }
    let after = read(dir);
    if after.segments.contains_key(&first) {
        let _ = drain(&mut reader, &from(&after, first));
    }
    drop(writer);
});
