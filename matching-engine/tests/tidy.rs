//! Style enforced by a test: the engine is a deterministic state machine, so its sources may not
//! name the clock, randomness, or std's randomly-seeded hash maps; and no unfinished code.

use std::path::Path;

const BANNED: &[(&str, &str)] = &[
    (
        "std::collections::HashMap",
        "use crate::table::Table (fixed capacity, never iterated)",
    ),
    (
        "std::collections::HashSet",
        "use crate::table::Table or a Bitset",
    ),
    ("Instant::now", "time comes only from Sequenced::timestamp"),
    (
        "SystemTime::now",
        "time comes only from Sequenced::timestamp",
    ),
    ("thread_rng", "the engine has no randomness"),
    ("rand::", "the engine has no randomness"),
    ("todo!", "finish it or leave it out"),
    ("unimplemented!", "finish it or leave it out"),
    ("dbg!", "remove debugging output"),
    ("TODO", "finish it or leave it out"),
];

fn check(dir: &Path, problems: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("readable source dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            check(&path, problems);
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable source file");
        for (n, line) in text.lines().enumerate() {
            for (banned, instead) in BANNED {
                if line.contains(banned) {
                    problems.push(format!(
                        "{}:{}: `{banned}`: {instead}",
                        path.display(),
                        n + 1
                    ));
                }
            }
        }
    }
}

#[test]
fn engine_sources_avoid_banned_apis() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    check(&src, &mut problems);
    assert!(
        problems.is_empty(),
        "banned APIs in the engine:\n{}",
        problems.join("\n")
    );
}
