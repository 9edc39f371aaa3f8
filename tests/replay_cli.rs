//! `lockstep replay` and `lockstep journal import` as a user runs them: exit statuses, the
//! divergence report, and the JSON-lines round trip (dump -> import -> run gives the events
//! `replay events` regenerates from the original journal).

use std::path::Path;
use std::process::{Command, Output};

use protocol::{Qty, Seq, Sequenced, TimestampNs};

fn lockstep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(args)
        .output()
        .expect("lockstep runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn flow(n: usize) -> Vec<Sequenced> {
    workload::Flow::new(workload::FlowConfig::default())
        .take(n)
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

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn verify_exits_non_zero_at_an_altered_command_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, events) = (dir.path().join("j"), dir.path().join("events.jsonl"));
    let mut commands = flow(2_000);
    write_journal(&journal, &commands);
    let out = lockstep(&[
        "replay",
        "events",
        "--journal",
        path(&journal),
        "--out",
        path(&events),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let ok = lockstep(&[
        "replay",
        "verify",
        "--journal",
        path(&journal),
        "--events",
        path(&events),
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(
        text(&ok).contains("events: 2000 commands compared"),
        "{}",
        text(&ok)
    );

    let k = commands
        .iter()
        .position(|c| c.seq.0 > 500 && matches!(c.command, protocol::Command::NewOrder(_)))
        .unwrap();
    if let protocol::Command::NewOrder(order) = &mut commands[k].command {
        order.qty = Qty(order.qty.0 + 7);
    }
    let altered = dir.path().join("altered");
    write_journal(&altered, &commands);
    let bad = lockstep(&[
        "replay",
        "verify",
        "--journal",
        path(&altered),
        "--events",
        path(&events),
    ]);
    assert!(!bad.status.success());
    let report = text(&bad);
    let seq = commands[k].seq;
    assert!(
        report.contains(&format!("divergence at seq {seq}")),
        "{report}"
    );
    assert!(report.contains("command: {\"seq\":"), "{report}");
    assert!(
        report.contains("recorded events") && report.contains("replayed events"),
        "{report}"
    );
}

#[test]
fn a_journal_dump_imports_and_runs_to_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("j");
    write_journal(&journal, &flow(3_000));
    let dump = lockstep(&[
        "journal",
        "dump",
        "--journal",
        path(&journal),
        "--format",
        "json",
    ]);
    assert!(dump.status.success());
    let commands = dir.path().join("commands.jsonl");
    std::fs::write(&commands, &dump.stdout).unwrap();

    let imported = dir.path().join("imported");
    let out = lockstep(&[
        "journal",
        "import",
        "--commands",
        path(&commands),
        "--journal",
        path(&imported),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let again = lockstep(&[
        "journal",
        "import",
        "--commands",
        path(&commands),
        "--journal",
        path(&imported),
    ]);
    assert!(
        !again.status.success(),
        "import never appends to an existing journal"
    );

    let original = lockstep(&["replay", "events", "--journal", path(&journal)]);
    let reimported = lockstep(&["replay", "events", "--journal", path(&imported)]);
    let run = lockstep(&["replay", "run", "--commands", path(&commands)]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(!original.stdout.is_empty());
    assert!(original.stdout == reimported.stdout, "import round-trips");
    assert!(
        original.stdout == run.stdout,
        "run gives the journal's events"
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let commands = dir.path().join("bad.jsonl");
    std::fs::write(&commands, "{\"timestamp_ns\":1}\n").unwrap();
    let out = lockstep(&["replay", "run", "--commands", path(&commands)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("bad.jsonl:1: missing field `command`"),
        "{}",
        text(&out)
    );
    let out = lockstep(&["replay", "verify", "--journal", path(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("metadata"), "{}", text(&out));
}
