//! The one-process pipeline through the real binary: journal, verify, replay, snapshot.

use std::process::Command;

fn lockstep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
}

#[test]
fn pipeline_journals_replays_and_agrees_on_the_state_hash() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("journal");
    let output = lockstep()
        .args([
            "pipeline",
            "--commands",
            "20000",
            "--seed",
            "7",
            "--durability",
            "none",
        ])
        .arg("--journal")
        .arg(&dir)
        .output()
        .expect("run lockstep pipeline");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "pipeline failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("verified 20005 records"), "{stdout}");
    assert!(stdout.contains("replayed 20005 commands"), "{stdout}");
    assert!(
        stdout.contains("live, replayed and restored engines agree"),
        "{stdout}"
    );
    assert!(
        dir.join("journal.meta").exists(),
        "the journal stays where it was asked to be"
    );
}

#[test]
fn pipeline_refuses_to_overwrite_an_existing_journal() {
    let temp = tempfile::tempdir().expect("temp dir");
    let output = lockstep()
        .args(["pipeline", "--commands", "10", "--journal"])
        .arg(temp.path())
        .output()
        .expect("run lockstep pipeline");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exists"), "{stderr}");
}

#[test]
fn bad_arguments_get_a_usage_error_not_a_panic() {
    let output = lockstep()
        .args(["pipeline", "--commands", "many"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid value"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
