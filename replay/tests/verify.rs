//! `replay::verify` against journals written here: a clean run, a corrupted byte (the journal's
//! checksum catches it), a semantically altered command with a valid CRC (the events recording
//! catches it at its seq), and snapshots that match or do not.

use std::path::{Path, PathBuf};

use matching_engine::{Engine, EngineConfig};
use protocol::{Command, Qty, Seq, Sequenced, Term, TimestampNs};
use replay::{Mismatch, NoProgress, ReplayError, Start, VerifyOptions};

const COMMANDS: usize = 3_000;

fn flow() -> Vec<Sequenced> {
    workload::Flow::new(workload::FlowConfig::default())
        .take(COMMANDS)
        .enumerate()
        .map(|(i, command)| Sequenced {
            seq: Seq(i as u64 + 1),
            timestamp: TimestampNs(1_700_000_000_000_000_000 + 1_000 * i as u64),
            command,
        })
        .collect()
}

fn write_journal(dir: &Path, commands: &[Sequenced]) {
    let config = journal::Config {
        segment_size_bytes: 1 << 20,
        durability: journal::Durability::None,
        ..journal::Config::default()
    };
    let mut writer = journal::Writer::open(dir, config).unwrap();
    for c in commands {
        let body = c.command.encode_to_vec();
        let _receipt = writer
            .append_at(c.seq.0, c.timestamp.0, journal::RecordKind::COMMAND, &body)
            .unwrap();
    }
    writer.close().unwrap();
}

fn record_events(journal: &Path, out: &Path) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    replay::replay_range(
        journal,
        Start::Fresh(EngineConfig::default()),
        Seq(1),
        Seq(u64::MAX),
        &mut NoProgress,
        &mut |seq, events| {
            replay::record::write_events(&mut file, seq, events).unwrap();
            Ok(())
        },
    )
    .unwrap();
    std::io::Write::flush(&mut file).unwrap();
}

fn options(journal: &Path) -> VerifyOptions {
    VerifyOptions {
        journal: journal.to_path_buf(),
        snapshots: None,
        events: None,
        from_snapshot: None,
        engine: EngineConfig::default(),
        hash_interval: 100,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    commands: Vec<Sequenced>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let commands = flow();
    write_journal(&root.join("journal"), &commands);
    record_events(&root.join("journal"), &root.join("events.jsonl"));
    Fixture {
        _dir: dir,
        root,
        commands,
    }
}

#[test]
fn a_clean_journal_verifies_against_its_own_recording() {
    let f = fixture();
    let mut opts = options(&f.root.join("journal"));
    opts.events = Some(f.root.join("events.jsonl"));
    let report = replay::verify(&opts, &mut NoProgress).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.records_verified, COMMANDS as u64);
    assert_eq!(report.last_seq, Seq(COMMANDS as u64));
    assert_eq!(report.commands_compared, COMMANDS as u64);
    let checkpoint = report.last_checkpoint.unwrap();
    assert_eq!(checkpoint.seq, Seq(3_000));
    assert_eq!(checkpoint.digest, report.final_digest);
}

/// The first new order after the set-up, whose quantity is changed.
fn altered_seq(commands: &[Sequenced]) -> usize {
    commands
        .iter()
        .position(|c| c.seq.0 > 100 && matches!(c.command, Command::NewOrder(_)))
        .unwrap()
}

#[test]
fn an_altered_command_with_a_valid_crc_diverges_at_its_seq() {
    let f = fixture();
    let mut altered = f.commands.clone();
    let k = altered_seq(&altered);
    let Command::NewOrder(order) = &mut altered[k].command else {
        unreachable!()
    };
    order.qty = Qty(order.qty.0 + 1);
    let journal = f.root.join("altered");
    write_journal(&journal, &altered);
    let mut opts = options(&journal);
    opts.events = Some(f.root.join("events.jsonl"));
    let report = replay::verify(&opts, &mut NoProgress).unwrap();
    let divergence = report.divergence.expect("the altered order is found");
    assert_eq!(divergence.command, altered[k]);
    let Mismatch::Events { expected, actual } = divergence.mismatch else {
        panic!("an events mismatch")
    };
    assert_ne!(expected, actual);
    assert_eq!(
        report.last_seq, altered[k].seq,
        "it stops at the divergence"
    );
}

#[test]
fn a_corrupted_byte_is_reported_by_the_journal_checksum_with_its_seq() {
    let f = fixture();
    let journal = f.root.join("journal");
    let segment = journal.join(journal::segment_file_name(1));
    let mut bytes = std::fs::read(&segment).unwrap();
    // Records are 32 + 80 bytes (a 72-byte new order body padded): find record 500 by walking.
    let mut offset = journal::SEGMENT_HEADER_SIZE;
    for _ in 1..500 {
        let len = u32::from_le_bytes(bytes[offset + 8..offset + 12].try_into().unwrap());
        offset += journal::record_size(len as usize);
    }
    let seq = u64::from_le_bytes(bytes[offset + 16..offset + 24].try_into().unwrap());
    assert_eq!(seq, 500);
    bytes[offset + journal::RECORD_HEADER_SIZE + 20] ^= 0x40;
    std::fs::write(&segment, bytes).unwrap();
    let err = replay::verify(&options(&journal), &mut NoProgress).unwrap_err();
    assert!(matches!(err, ReplayError::Journal { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("seq 500"), "{text}");
}

fn snapshot_at(commands: &[Sequenced], seq: usize, dir: &Path) {
    let mut engine = Engine::new(EngineConfig::default());
    let mut out = Vec::new();
    for c in &commands[..seq] {
        engine.apply(c, &mut out);
    }
    let seq = Seq(seq as u64);
    let bytes = replay::encode_snapshot(seq, Term(1), 1, &engine);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(replay::snapshot_file_name(seq)), bytes).unwrap();
}

#[test]
fn snapshots_are_checked_at_their_seq_and_replay_can_start_from_one() {
    let f = fixture();
    let snapshots = f.root.join("snapshots");
    for seq in [1_000, 2_000] {
        snapshot_at(&f.commands, seq, &snapshots);
    }
    let mut opts = options(&f.root.join("journal"));
    opts.snapshots = Some(snapshots.clone());
    let full = replay::verify(&opts, &mut NoProgress).unwrap();
    assert!(full.ok(), "{full:?}");
    assert_eq!(full.snapshots_matched, vec![Seq(1_000), Seq(2_000)]);

    opts.from_snapshot = Some(snapshots.join(replay::snapshot_file_name(Seq(1_000))));
    opts.events = Some(f.root.join("events.jsonl"));
    let resumed = replay::verify(&opts, &mut NoProgress).unwrap();
    assert!(resumed.ok(), "{resumed:?}");
    assert_eq!(resumed.commands, 2_000);
    assert_eq!(resumed.commands_compared, 2_000);
    assert_eq!(resumed.final_digest, full.final_digest);
    assert_eq!(resumed.snapshots_matched, vec![Seq(2_000)]);
    assert_eq!(resumed.snapshots_unchecked, vec![Seq(1_000)]);
}

#[test]
fn a_snapshot_of_another_state_is_a_state_hash_divergence() {
    let f = fixture();
    let snapshots = f.root.join("snapshots");
    snapshot_at(&f.commands, 1_500, &snapshots);
    // Misname it as the state at seq 1_600 (the header must agree with the name).
    let wrong = snapshots.join(replay::snapshot_file_name(Seq(1_600)));
    let mut bytes = std::fs::read(snapshots.join(replay::snapshot_file_name(Seq(1_500)))).unwrap();
    bytes[8..16].copy_from_slice(&1_600u64.to_le_bytes());
    std::fs::remove_dir_all(&snapshots).unwrap();
    std::fs::create_dir_all(&snapshots).unwrap();
    std::fs::write(&wrong, bytes).unwrap();
    let mut opts = options(&f.root.join("journal"));
    opts.snapshots = Some(snapshots);
    let report = replay::verify(&opts, &mut NoProgress).unwrap();
    let divergence = report.divergence.unwrap();
    assert_eq!(divergence.command.seq, Seq(1_600));
    assert!(matches!(divergence.mismatch, Mismatch::StateHash { .. }));
}
