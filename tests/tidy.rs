//! Tidy: style rules that a reviewer should not have to enforce by hand (after TigerBeetle's
//! `tidy.zig`). Each ban names the replacement.

use std::path::{Path, PathBuf};

/// Sources whose output must be a pure function of their input: the schema, the replicated state
/// machine and the sans-IO cores of the cluster (which the simulator drives with virtual time).
/// Wall clocks, randomness and hash-map iteration order are banned there.
const DETERMINISTIC_SOURCES: &[&str] = &[
    "protocol/src",
    "matching-engine/src",
    "replica/src",
    "sequencer/src/core.rs",
    "sequencer/src/roles.rs",
    "workload/src",
    "gateway/src/fix",
    "gateway/src/session",
    "sim/src",
];

/// (banned text, what to use instead). Split so this file does not match itself.
fn deterministic_bans() -> Vec<(String, &'static str)> {
    vec![
        (
            ["Instant", "::now"].concat(),
            "take time from the sequenced command's timestamp",
        ),
        (
            ["SystemTime", "::now"].concat(),
            "take time from the sequenced command's timestamp",
        ),
        (
            ["thread", "_rng"].concat(),
            "no randomness in the state machine",
        ),
        (
            ["rand", "::random"].concat(),
            "no randomness in the state machine",
        ),
        (
            ["collections::", "HashMap"].concat(),
            "BTreeMap, or a Vec/slab indexed by id",
        ),
        (
            ["collections::", "HashSet"].concat(),
            "BTreeSet, or a bitset",
        ),
    ]
}

fn everywhere_bans() -> Vec<(String, &'static str)> {
    vec![
        (
            ["dbg", "!("].concat(),
            "remove debugging output before committing",
        ),
        (
            ["todo", "!("].concat(),
            "finish the code, or return a typed error",
        ),
        (
            ["unimplemented", "!("].concat(),
            "finish the code, or return a typed error",
        ),
        (
            ["#[", "ignore"].concat(),
            "a test that does not run is not a test; make it fast",
        ),
        (["TO", "DO"].concat(), "do it now, or file an issue"),
        (["FIX", "ME"].concat(), "fix it now, or file an issue"),
    ]
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("readable directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | ".git" | ".tools" | "corpus" | "artifacts") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn violations(files: &[PathBuf], bans: &[(String, &'static str)]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("source files are UTF-8");
        for (number, line) in text.lines().enumerate() {
            for (banned, instead) in bans {
                if line.contains(banned.as_str()) {
                    let at = file.strip_prefix(root()).unwrap_or(file).display();
                    found.push(format!("{at}:{}: `{banned}`: {instead}", number + 1));
                }
            }
        }
    }
    found
}

#[test]
fn deterministic_crates_read_no_clock_draw_no_random_and_iterate_no_hash_map() {
    let mut files = Vec::new();
    for source in DETERMINISTIC_SOURCES {
        let path = root().join(source);
        if path.is_file() {
            files.push(path)
        } else {
            rust_files(&path, &mut files)
        }
    }
    assert!(!files.is_empty(), "the deterministic crates have sources");
    let found = violations(&files, &deterministic_bans());
    assert!(
        found.is_empty(),
        "banned in deterministic crates:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_debugging_leftovers_or_placeholders_anywhere() {
    let mut files = Vec::new();
    rust_files(&root(), &mut files);
    let found = violations(&files, &everywhere_bans());
    assert!(found.is_empty(), "banned:\n{}", found.join("\n"));
}

#[test]
fn architecture_md_describes_every_crate_with_an_invariant() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).expect("root manifest");
    let members_line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("workspace members line");
    let architecture =
        std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let mut missing = Vec::new();
    for member in members_line.split('"').skip(1).step_by(2) {
        let heading = format!("### `{member}`");
        let Some(start) = architecture.find(&heading) else {
            missing.push(format!("{member}: no `{heading}` section"));
            continue;
        };
        let section = &architecture[start + heading.len()..];
        let section = &section[..section.find("\n### ").unwrap_or(section.len())];
        if !section.contains("**Invariant:**") {
            missing.push(format!("{member}: section has no **Invariant:** line"));
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md:\n{}",
        missing.join("\n")
    );
}
