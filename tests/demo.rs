//! The README's main job through the real binary: `lockstep demo` runs a whole cluster as
//! processes, kills the primary, and ends with equal state hashes.

use std::process::Command;

fn lockstep() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lockstep"))
}

#[test]
fn the_demo_fails_over_and_every_hash_agrees_with_the_offline_replay() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("cluster");
    let hgrm = temp.path().join("rtt.hgrm");
    let output = lockstep()
        .args([
            "demo",
            "--seconds",
            "2",
            "--rate",
            "3000",
            "--durability",
            "none",
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--hgrm")
        .arg(&hgrm)
        .output()
        .expect("run lockstep demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "demo failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "SIGKILL engine 1, the primary in term 1",
        "promoted to primary in term 2",
        "engine 1 restarted",
        "6000 commands",
        "engine 1: Backup in term 2",
        "engine 2: Primary in term 2",
        "all equal",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    let histogram = std::fs::read_to_string(&hgrm).expect("the histogram file");
    assert!(
        histogram.contains("Total count    =         6000"),
        "{histogram}"
    );
    assert!(dir.join("journal").is_dir(), "the files stay in --dir");
}

#[test]
fn the_demo_refuses_an_existing_directory_and_bad_arguments() {
    let temp = tempfile::tempdir().expect("temp dir");
    let output = lockstep()
        .args(["demo", "--dir"])
        .arg(temp.path())
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exists"), "{stderr}");
    let output = lockstep()
        .args(["demo", "--rate", "lots"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid value") && !stderr.contains("panicked"),
        "{stderr}"
    );
}
