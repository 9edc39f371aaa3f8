//! The journal corruption campaign: a journal written the way the cluster writes it (the real
//! sequencer agent and its journal writer, real files, group commit, small segments, the
//! workload's order flow), then 1000 seeded mutations of a copy of it: single bit flips anywhere
//! (segment headers, record headers, bodies, padding, the zero tail, the metadata file) and
//! torn tails (everything after a random offset lost). For each, against the pristine journal:
//!
//! - `verify` reports the corruption with its position (segment file, byte offset, seq);
//! - no reader ever returns a record that differs from the pristine one (nothing corrupted is
//!   applied), before or after recovery;
//! - recovery refuses mid-file corruption with its position, truncates a torn tail to exactly
//!   the intact prefix, never loses a durable (checkpointed) record silently, and the writer
//!   appends after what it kept;
//! - a flip in bytes no checksum covers (the metadata file's publication words, its unused
//!   bytes, a superseded checkpoint slot) is shown harmless: recovery keeps every record and
//!   readers return only pristine ones.
//!
//! Prints `RESULT journal_corruption ...` with the outcome counts.

use std::collections::BTreeMap;
use std::path::Path;

use journal::{
    CorruptError, CorruptReason, FileStorage, OpenError, ReadError, Reader, RecordKind,
    SEGMENT_HEADER_SIZE, Writer, record_size, segment_file_name,
};
use protocol::Command;
use sequencer::{SequencerAgent, SequencerConfig};
use transport::{Clock, MemoryBus, MemoryQueue, Outbound};
use workload::{Flow, FlowConfig, SplitMix64};

const TRIALS: usize = 1000;
const COMMANDS: usize = 3000;
const META: &str = "journal.meta";

#[derive(Clone, Default)]
struct VirtualClock(std::rc::Rc<std::cell::Cell<u64>>);
impl Clock for VirtualClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

/// A journal config the way the cluster's defaults have it, with the smallest segments so the
/// journal spans several.
fn journal_config() -> journal::Config {
    journal::Config {
        segment_size_bytes: journal::SEGMENT_SIZE_BYTES_MIN,
        durability: journal::Durability::Group {
            records_max: 256,
            delay_ns_max: 1_000_000,
        },
        ..journal::Config::default()
    }
}

/// One record of the pristine journal and where it lives.
#[derive(Clone, Debug)]
struct Record {
    seq: u64,
    timestamp_ns: u64,
    body: Vec<u8>,
    segment: u64,
    offset: usize,
}

/// The pristine journal: its files' bytes and its records.
struct Pristine {
    files: BTreeMap<String, Vec<u8>>,
    records: Vec<Record>,
    /// First seq of each segment, in order.
    segments: Vec<u64>,
    /// Offset just past each segment's last record.
    data_end: BTreeMap<u64, usize>,
    /// The durable checkpoint: its seq, and which of the two slots holds it.
    checkpoint_seq: u64,
    checkpoint_slot: usize,
}

impl Pristine {
    /// Runs the sequencer agent over the workload until `COMMANDS` commands are journaled,
    /// then drops it without a clean close, as a killed process leaves the files.
    fn write(dir: &Path) -> Self {
        let clock = VirtualClock::default();
        let (mut ingress, status, sequenced) = (
            MemoryBus::default(),
            MemoryBus::default(),
            MemoryBus::default(),
        );
        let _sequenced_out: MemoryQueue = sequenced.subscribe();
        let config = SequencerConfig {
            replica_timeout_ns: 5_000_000,
            timer_interval_ns: 1_000_000,
            ..SequencerConfig::default()
        };
        let streams = (ingress.subscribe(), status.subscribe(), sequenced.clone());
        let mut agent =
            SequencerAgent::open(dir, journal_config(), config, 0, clock.clone(), streams)
                .expect("sequencer opens a fresh journal");
        let mut flow = Flow::new(FlowConfig::default());
        let mut submitted = 0;
        while submitted < COMMANDS {
            for command in flow.by_ref().take(40) {
                ingress.offer(&command.encode_to_vec()).expect("ingress");
                submitted += 1;
            }
            clock.0.set(clock.0.get() + 100_000);
            agent.do_work().expect("duty cycle");
        }
        // A last burst the group commit has not synced yet (fewer than 256 records, younger
        // than 1 ms): the checkpoint stays behind the end, as it does on a busy sequencer.
        for command in flow.by_ref().take(200) {
            ingress.offer(&command.encode_to_vec()).expect("ingress");
        }
        clock.0.set(clock.0.get() + 100_000);
        agent.do_work().expect("duty cycle");
        drop(agent);
        Self::read(dir)
    }

    fn read(dir: &Path) -> Self {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(dir).expect("journal dir") {
            let entry = entry.expect("entry");
            let name = entry.file_name().into_string().expect("utf-8 name");
            files.insert(name, std::fs::read(entry.path()).expect("read file"));
        }
        let segments: Vec<u64> = files
            .keys()
            .filter_map(|n| n.strip_suffix(".seg")?.parse().ok())
            .collect();
        let mut records = Vec::new();
        let mut reader = Reader::open(dir).expect("pristine journal reads");
        while let Some(r) = reader.next().expect("pristine journal verifies") {
            let command = Command::decode(r.body).expect("every record holds a command");
            assert_eq!(command.encode_to_vec(), r.body);
            records.push(Record {
                seq: r.seq,
                timestamp_ns: r.timestamp_ns,
                body: r.body.to_vec(),
                segment: 0,
                offset: 0,
            });
        }
        // Positions: records are packed from each segment's header on.
        let mut data_end = BTreeMap::new();
        let mut at = 0;
        for (i, &first) in segments.iter().enumerate() {
            let next = segments.get(i + 1).copied().unwrap_or(u64::MAX);
            let mut offset = SEGMENT_HEADER_SIZE;
            while at < records.len() && records[at].seq < next {
                assert!(records[at].seq >= first);
                records[at].segment = first;
                records[at].offset = offset;
                offset += record_size(records[at].body.len());
                at += 1;
            }
            data_end.insert(first, offset);
        }
        let meta = &files[META];
        let word = |at: usize| u64::from_le_bytes(meta[at..at + 8].try_into().expect("8 bytes"));
        let (checkpoint_slot, _) = [128, 192]
            .iter()
            .enumerate()
            .map(|(i, &at)| (i, word(at)))
            .max_by_key(|&(_, generation)| generation)
            .expect("two slots");
        let checkpoint_seq = word([128, 192][checkpoint_slot] + 8);
        Self {
            files,
            records,
            segments,
            data_end,
            checkpoint_seq,
            checkpoint_slot,
        }
    }

    fn record(&self, seq: u64) -> &Record {
        &self.records[usize::try_from(seq - 1).expect("fits")]
    }

    fn last_seq(&self) -> u64 {
        self.records.last().map_or(0, |r| r.seq)
    }

    fn record_at(&self, segment: u64, offset: usize) -> Option<&Record> {
        self.records.iter().find(|r| {
            r.segment == segment
                && (r.offset..r.offset + record_size(r.body.len())).contains(&offset)
        })
    }
}

/// A mutation of the pristine journal.
#[derive(Clone, Debug)]
enum Mutation {
    Flip {
        file: String,
        offset: usize,
        bit: u8,
    },
    /// Everything from `offset` of segment `segment` on is lost (zeroed, later segments gone).
    Tear { segment: u64, offset: usize },
}

/// Where a flip landed, and so what must happen.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Place {
    Record {
        seq: u64,
        segment: u64,
        offset: usize,
    },
    SegmentHeader {
        segment: u64,
    },
    /// The zero bytes after a segment's data.
    Tail {
        segment: u64,
        offset: usize,
    },
    MetaHeader,
    /// `committed_seq` or `durable_seq`: words a live writer publishes, not checksummed.
    MetaPublication,
    CheckpointSlot {
        current: bool,
    },
    /// Bytes of the metadata file nothing reads.
    MetaUnused,
}

fn pick_mutation(rng: &mut SplitMix64, pristine: &Pristine) -> Mutation {
    let segment = |rng: &mut SplitMix64| pristine.segments[rng.index(pristine.segments.len())];
    let file = |segment: u64| segment_file_name(segment);
    let bit = u8::try_from(rng.below(8)).expect("< 8");
    match rng.below(100) {
        // Torn tails.
        0..=24 => {
            let segment = segment(rng);
            let end = pristine.data_end[&segment];
            Mutation::Tear {
                segment,
                offset: rng.index(end + 1),
            }
        }
        // Record bytes (headers, bodies, padding): the bulk of the journal.
        25..=69 => {
            let record = &pristine.records[rng.index(pristine.records.len())];
            let size = record_size(record.body.len());
            let offset = record.offset + rng.index(size);
            Mutation::Flip {
                file: file(record.segment),
                offset,
                bit,
            }
        }
        70..=77 => {
            let segment = segment(rng);
            Mutation::Flip {
                file: file(segment),
                offset: rng.index(SEGMENT_HEADER_SIZE),
                bit,
            }
        }
        78..=85 => {
            let segment = segment(rng);
            let end = pristine.data_end[&segment];
            let len = pristine.files[&file(segment)].len();
            Mutation::Flip {
                file: file(segment),
                offset: end + rng.index(len - end),
                bit,
            }
        }
        // The metadata file: header, publication words, checkpoint slots, the rest.
        _ => {
            let offset = match rng.below(4) {
                0 => rng.index(64),
                1 => 64 + rng.index(16),
                2 => 128 + rng.index(128),
                _ => rng.index(4096),
            };
            Mutation::Flip {
                file: META.to_string(),
                offset,
                bit,
            }
        }
    }
}

fn place_of(pristine: &Pristine, file: &str, offset: usize) -> Place {
    if file == META {
        return match offset {
            0..64 => Place::MetaHeader,
            64..80 => Place::MetaPublication,
            128..256 => Place::CheckpointSlot {
                current: (offset - 128) / 64 == pristine.checkpoint_slot,
            },
            _ => Place::MetaUnused,
        };
    }
    let segment: u64 = file
        .strip_suffix(".seg")
        .and_then(|s| s.parse().ok())
        .expect("segment");
    if offset < SEGMENT_HEADER_SIZE {
        return Place::SegmentHeader { segment };
    }
    match pristine.record_at(segment, offset) {
        Some(r) => Place::Record {
            seq: r.seq,
            segment,
            offset: r.offset,
        },
        None => Place::Tail { segment, offset },
    }
}

/// Writes the pristine files with `mutation` applied into `dir`.
fn materialise(pristine: &Pristine, mutation: &Mutation, dir: &Path) {
    for (name, bytes) in &pristine.files {
        let mut bytes = bytes.clone();
        match mutation {
            Mutation::Flip { file, offset, bit } if file == name => bytes[*offset] ^= 1 << bit,
            Mutation::Tear { segment, offset } => {
                let this: Option<u64> = name.strip_suffix(".seg").and_then(|s| s.parse().ok());
                match this {
                    Some(s) if s == *segment => bytes[*offset..].fill(0),
                    Some(s) if s > *segment => continue,
                    _ => {}
                }
            }
            Mutation::Flip { .. } => {}
        }
        std::fs::write(dir.join(name), bytes).expect("write journal file");
    }
}

/// Reads every record through a `Reader`; each must be the pristine one. Returns how many were
/// read and the error that stopped it (`None`: it caught up).
fn read_all(dir: &Path, pristine: &Pristine) -> (u64, Option<ReadError>) {
    let mut reader = match Reader::open(dir) {
        Ok(reader) => reader,
        Err(error) => return (0, Some(error)),
    };
    let mut count = 0;
    loop {
        match reader.next() {
            Ok(Some(r)) => {
                let expected = &pristine.records[usize::try_from(count).expect("fits")];
                assert_eq!(
                    (r.seq, r.timestamp_ns, r.body),
                    (expected.seq, expected.timestamp_ns, &expected.body[..]),
                    "a reader returned a record that is not the pristine one"
                );
                count += 1;
            }
            Ok(None) => return (count, None),
            Err(error) => return (count, Some(error)),
        }
    }
}

/// Readers return exactly the first `count` pristine records, then catch up without an error.
fn assert_reads_exactly(dir: &Path, pristine: &Pristine, count: u64) {
    let (read, error) = read_all(dir, pristine);
    assert!(
        read == count && error.is_none(),
        "read {read} of {count}: {error:?}"
    );
}

fn corrupt_of(error: &ReadError) -> &CorruptError {
    match error {
        ReadError::Corrupt(corrupt) => corrupt,
        other => panic!("expected a corruption error, got {other}"),
    }
}

fn assert_at(corrupt: &CorruptError, segment: u64, offset: usize, seq: u64) {
    assert!(
        corrupt.segment.ends_with(&segment_file_name(segment))
            && corrupt.offset == offset as u64
            && corrupt.seq == seq,
        "reported {corrupt}, expected {} offset {offset} seq {seq}",
        segment_file_name(segment)
    );
}

#[derive(Debug, Default)]
struct Counts {
    flips: u32,
    tears: u32,
    detected: u32,
    refused: u32,
    truncated: u32,
    reader_refused: u32,
    harmless: u32,
}

/// The recovered journal takes an append right after what it kept, and reads back exactly.
fn append_after(dir: &Path, kept: u64, pristine: &Pristine) {
    let mut writer = Writer::open(dir, journal_config()).expect("recovered journal reopens");
    assert_eq!(writer.last_seq(), kept);
    let body = pristine.records[0].body.clone();
    let receipt = writer
        .append(u64::MAX / 2, RecordKind::COMMAND, &body)
        .expect("append");
    assert_eq!(receipt.seq, kept + 1);
    writer.close().expect("close");
    let mut reader = Reader::open(dir).expect("reader");
    let mut last = 0;
    while let Some(r) = reader.next().expect("the recovered journal verifies") {
        last = r.seq;
    }
    assert_eq!(last, kept + 1);
}

fn flip_trial(pristine: &Pristine, dir: &Path, place: &Place, counts: &mut Counts) {
    let total = pristine.last_seq();
    let checkpoint = pristine.checkpoint_seq;
    let checkpoint_segment = pristine.record(checkpoint).segment;
    let verified = journal::verify(&mut FileStorage::open(dir).expect("dir"), 1);
    let (read, read_error) = read_all(dir, pristine);
    let opened = Writer::open(dir, journal_config());
    match *place {
        Place::Record {
            seq,
            segment,
            offset,
        } => {
            assert_at(
                corrupt_of(&verified.expect_err("flip detected")),
                segment,
                offset,
                seq,
            );
            counts.detected += 1;
            assert_eq!(
                read,
                seq - 1,
                "reader stops right before the flipped record"
            );
            assert_at(
                corrupt_of(&read_error.expect("reader refuses it")),
                segment,
                offset,
                seq,
            );
            counts.reader_refused += 1;
            match opened {
                Ok(writer) if seq < checkpoint => {
                    // Before the checkpoint recovery does not look; readers refuse it.
                    assert_eq!(
                        (
                            writer.last_seq(),
                            writer.recovery_report().torn_tail.clone()
                        ),
                        (total, None)
                    );
                    drop(writer);
                    let (read, error) = read_all(dir, pristine);
                    assert_eq!(read, seq - 1);
                    assert_at(
                        corrupt_of(&error.expect("refused after recovery too")),
                        segment,
                        offset,
                        seq,
                    );
                }
                Ok(writer) => {
                    // The very last record, after the checkpoint: indistinguishable from a torn
                    // write (docs/journal-format.md, "Crash analysis").
                    assert_eq!(
                        seq, total,
                        "only the last record may be taken for a torn tail"
                    );
                    let tail = writer
                        .recovery_report()
                        .torn_tail
                        .clone()
                        .expect("torn tail reported");
                    assert_eq!((tail.offset, tail.seq), (offset as u64, seq));
                    assert_eq!(writer.last_seq(), seq - 1);
                    drop(writer);
                    counts.truncated += 1;
                    assert_reads_exactly(dir, pristine, seq - 1);
                    append_after(dir, seq - 1, pristine);
                }
                Err(OpenError::CorruptBeforeTail {
                    corrupt,
                    follower_seq,
                    ..
                }) => {
                    assert!(seq > checkpoint && seq < total, "refused seq {seq}");
                    assert_at(&corrupt, segment, offset, seq);
                    assert_eq!(follower_seq, seq + 1);
                    counts.refused += 1;
                }
                Err(OpenError::Corrupt(corrupt)) => {
                    assert_eq!(seq, checkpoint, "{corrupt}");
                    assert_at(&corrupt, segment, offset, seq);
                    assert_eq!(corrupt.reason, CorruptReason::Checkpoint { seq });
                    counts.refused += 1;
                }
                Err(other) => panic!("unexpected open error: {other}"),
            }
        }
        Place::SegmentHeader { segment } => {
            assert_at(
                corrupt_of(&verified.expect_err("flip detected")),
                segment,
                0,
                segment,
            );
            counts.detected += 1;
            assert_eq!(read, segment - 1);
            assert_at(
                corrupt_of(&read_error.expect("reader refuses")),
                segment,
                0,
                segment,
            );
            counts.reader_refused += 1;
            match opened {
                Ok(writer) => {
                    assert!(segment < checkpoint_segment, "segment {segment} accepted");
                    assert_eq!(
                        (
                            writer.last_seq(),
                            writer.recovery_report().torn_tail.clone()
                        ),
                        (total, None)
                    );
                }
                Err(OpenError::Corrupt(corrupt)) => {
                    assert_eq!(segment, checkpoint_segment);
                    assert_at(&corrupt, segment, 0, segment);
                    counts.refused += 1;
                }
                Err(OpenError::CorruptBeforeTail { corrupt, .. }) => {
                    assert!(segment > checkpoint_segment);
                    assert_at(&corrupt, segment, 0, segment);
                    counts.refused += 1;
                }
                Err(other) => panic!("unexpected open error: {other}"),
            }
        }
        Place::Tail { segment, offset } => {
            let end = pristine.data_end[&segment];
            let last_of_segment = pristine
                .records
                .iter()
                .rfind(|r| r.segment == segment)
                .expect("records")
                .seq;
            let last_segment = *pristine.segments.last().expect("segments");
            if segment == last_segment {
                // Past the committed end, where a live writer appends next: verify and
                // readers stop at the committed seq and never look; recovery zeroes it.
                let inspection = verified.expect("nothing committed is touched");
                assert!(inspection.records == total && read == total && read_error.is_none());
                let writer = opened.expect("a non-zero tail is a torn tail");
                assert_eq!(writer.last_seq(), total);
                let tail = writer.recovery_report().torn_tail.clone().expect("zeroed");
                assert_eq!((tail.offset, tail.seq), (end as u64, total + 1));
                counts.truncated += 1;
                counts.harmless += 1;
                return;
            }
            // Not part of any record, but the format requires zeros: verify says where.
            let corrupt = verified.expect_err("flip detected");
            assert_at(corrupt_of(&corrupt), segment, end, last_of_segment + 1);
            if offset >= end + 32 {
                assert_eq!(corrupt_of(&corrupt).reason, CorruptReason::TrailingData);
            }
            counts.detected += 1;
            let len = pristine.files[&segment_file_name(segment)].len();
            if offset < end + 32 && end + 32 <= len {
                // Where the next record header would be: readers refuse it like a record.
                assert_eq!(read, last_of_segment);
                let error = read_error.expect("reader refuses");
                assert_at(corrupt_of(&error), segment, end, last_of_segment + 1);
                counts.reader_refused += 1;
            } else {
                // Readers never look past a record header, so they read everything.
                assert!(
                    read == total && read_error.is_none(),
                    "{read} {read_error:?}"
                );
            }
            match opened {
                Ok(writer) => {
                    // Before the checkpoint's segment: recovery does not scan it.
                    assert!(segment < checkpoint_segment);
                    assert_eq!(writer.last_seq(), total);
                }
                Err(OpenError::CorruptBeforeTail { corrupt, .. }) => {
                    assert!(segment >= checkpoint_segment);
                    assert_at(&corrupt, segment, end, last_of_segment + 1);
                    counts.refused += 1;
                }
                Err(other) => panic!("unexpected open error: {other}"),
            }
        }
        Place::MetaHeader => {
            // Readers refuse the journal; recovery rebuilds the file from the segments.
            assert!(
                matches!(read_error, Some(ReadError::BadMeta)),
                "{read_error:?}"
            );
            counts.reader_refused += 1;
            let writer = opened.expect("recovery rebuilds the metadata file");
            assert_eq!(
                (writer.last_seq(), writer.recovery_report().checkpoint_seq),
                (total, None)
            );
            drop(writer);
            assert_reads_exactly(dir, pristine, total);
            counts.harmless += 1;
        }
        Place::MetaPublication | Place::CheckpointSlot { .. } | Place::MetaUnused => {
            // Uncovered by a CRC (publication words, unused bytes) or an invalid slot that
            // recovery skips: readers return only pristine records (checked in read_all) and
            // at most stop early or report the journal ending early; recovery never trusts
            // these bytes and keeps every record.
            if let Some(error) = &read_error {
                let corrupt = corrupt_of(error);
                assert!(
                    matches!(
                        corrupt.reason,
                        CorruptReason::EndsEarly { .. } | CorruptReason::MissingSegment { .. }
                    ),
                    "{corrupt}"
                );
            }
            let writer = opened.expect("recovery does not need these bytes");
            assert_eq!(
                (
                    writer.last_seq(),
                    writer.recovery_report().torn_tail.clone()
                ),
                (total, None)
            );
            drop(writer);
            assert_reads_exactly(dir, pristine, total);
            counts.harmless += 1;
        }
    }
}

fn tear_trial(pristine: &Pristine, dir: &Path, segment: u64, offset: usize, counts: &mut Counts) {
    let total = pristine.last_seq();
    // Records wholly before the cut survive.
    // Records wholly before the cut survive, and so does one whose bytes from the cut on were
    // zero already (padding, a body ending in zeros): zeroing them changed nothing.
    let bytes = &pristine.files[&segment_file_name(segment)];
    let intact = |r: &Record| {
        let end = r.offset + record_size(r.body.len());
        r.segment < segment
            || (r.segment == segment
                && offset >= SEGMENT_HEADER_SIZE
                && (end <= offset || bytes[offset.max(r.offset)..end].iter().all(|&b| b == 0)))
    };
    let kept = pristine.records.iter().take_while(|r| intact(r)).count() as u64;
    let partial = pristine
        .record_at(segment, offset)
        .filter(|r| r.offset < offset && !intact(r));
    let verified = journal::verify(&mut FileStorage::open(dir).expect("dir"), 1);
    let (read, read_error) = read_all(dir, pristine);
    if kept < total {
        let corrupt = verified.expect_err("a torn journal ends before its committed seq");
        assert_eq!(corrupt_of(&corrupt).seq, kept + 1, "{corrupt}");
        if let Some(record) = partial {
            assert_at(corrupt_of(&corrupt), segment, record.offset, record.seq);
        }
        counts.detected += 1;
        assert_eq!(read, kept);
        assert_eq!(
            corrupt_of(&read_error.expect("reader stops with an error")).seq,
            kept + 1
        );
        counts.reader_refused += 1;
    }
    match Writer::open(dir, journal_config()) {
        Ok(writer) => {
            assert!(
                kept >= pristine.checkpoint_seq,
                "durable records {kept}.. lost silently"
            );
            assert_eq!(
                writer.last_seq(),
                kept,
                "recovery keeps exactly the intact prefix"
            );
            if let Some(record) = partial {
                let tail = writer
                    .recovery_report()
                    .torn_tail
                    .clone()
                    .expect("torn tail reported");
                assert_eq!((tail.offset, tail.seq), (record.offset as u64, record.seq));
            }
            if writer.recovery_report().torn_tail.is_some() {
                counts.truncated += 1;
            }
            drop(writer);
            assert_reads_exactly(dir, pristine, kept);
            append_after(dir, kept, pristine);
        }
        Err(OpenError::Corrupt(corrupt)) => {
            // The cut took records the checkpoint says were durable: refused, not truncated.
            assert!(kept < pristine.checkpoint_seq, "{corrupt}");
            counts.refused += 1;
        }
        Err(other) => panic!("unexpected open error: {other}"),
    }
}

#[test]
fn a_thousand_corruptions_are_each_detected_and_never_applied() {
    // Real files, on tmpfs where there is one: a thousand recoveries' fsyncs on a disk would
    // take minutes and test nothing more (media faults are what the flips simulate).
    let shm = Path::new("/dev/shm");
    let root = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("tempdir");
    let pristine = Pristine::write(&root.path().join("pristine"));
    assert!(
        pristine.segments.len() >= 3,
        "segments: {:?}",
        pristine.segments
    );
    assert!(pristine.checkpoint_seq > 0 && pristine.checkpoint_seq <= pristine.last_seq());
    let mut rng = SplitMix64::new(0x10c4_57e9);
    let mut counts = Counts::default();
    for trial in 0..TRIALS {
        let mutation = pick_mutation(&mut rng, &pristine);
        let dir = root.path().join(format!("trial-{trial}"));
        std::fs::create_dir(&dir).expect("trial dir");
        materialise(&pristine, &mutation, &dir);
        let run = std::panic::AssertUnwindSafe(|| match &mutation {
            Mutation::Flip { file, offset, .. } => {
                counts.flips += 1;
                flip_trial(
                    &pristine,
                    &dir,
                    &place_of(&pristine, file, *offset),
                    &mut counts,
                );
            }
            Mutation::Tear { segment, offset } => {
                counts.tears += 1;
                tear_trial(&pristine, &dir, *segment, *offset, &mut counts);
            }
        });
        if let Err(panic) = std::panic::catch_unwind(run) {
            eprintln!("trial {trial} failed: {mutation:?}");
            std::panic::resume_unwind(panic);
        }
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
    #[allow(clippy::print_stdout)]
    {
        println!(
            "RESULT journal_corruption trials={TRIALS} records={} segments={} checkpoint_seq={} flips={} tears={} detected={} refused={} truncated={} reader_refused={} harmless={} applied_corrupt=0",
            pristine.last_seq(),
            pristine.segments.len(),
            pristine.checkpoint_seq,
            counts.flips,
            counts.tears,
            counts.detected,
            counts.refused,
            counts.truncated,
            counts.reader_refused,
            counts.harmless,
        );
    }
}
