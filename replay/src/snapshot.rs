//! Replica snapshot files (`{seq:020}.snapshot`, written by cluster engines at sequenced
//! snapshot markers): the 32-byte replica header, then the engine's own snapshot.
//!
//! ```text
//! 0      4        6       8          16      24        28        32
//! | LSRP | ver=1  | 0 0   | applied  | term  | primary | 0 0 0 0 | engine snapshot ...
//! ```
//!
//! The layout is the replica crate's (`replica/src/node.rs`); replay reads it here rather than
//! depend on `replica`, which brings the Aeron transport with it. A test in `tests/replay.rs`
//! reads snapshots written by real replicas, so the two cannot drift apart unnoticed.

use std::path::{Path, PathBuf};

use matching_engine::Engine;
use protocol::{Seq, StateDigest, Term};

use crate::error::{ReplayError, io_error};

const MAGIC: [u8; 4] = *b"LSRP";
const VERSION: u16 = 1;
const HEADER_SIZE: usize = 32;

/// The largest snapshot file replay loads: an engine at the largest capacities is far below.
pub const SNAPSHOT_BYTES_MAX: u64 = 4 << 30;
/// The most snapshot files one verification checks.
pub const SNAPSHOTS_MAX: usize = 4096;

/// A replica snapshot: the engine state after applying `seq`.
#[derive(Debug)]
pub struct ReplicaSnapshot {
    /// The last command applied (the snapshot marker's seq).
    pub seq: Seq,
    /// The replica's term then.
    pub term: Term,
    /// The engine, restored.
    pub engine: Engine,
}

impl ReplicaSnapshot {
    /// Parses a snapshot file's bytes (`path` names it in errors).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, ReplayError> {
        let bad = |reason: &str| ReplayError::Snapshot {
            path: path.to_path_buf(),
            reason: reason.to_owned(),
        };
        let header = bytes
            .get(..HEADER_SIZE)
            .ok_or_else(|| bad("truncated header"))?;
        if header[..4] != MAGIC {
            return Err(bad("not a replica snapshot (bad magic)"));
        }
        if header[4..6] != VERSION.to_le_bytes() {
            return Err(bad("unsupported version"));
        }
        if header[6..8] != [0; 2] || header[28..32] != [0; 4] {
            return Err(bad("reserved bytes are not zero"));
        }
        let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().expect("8 bytes"));
        let engine = Engine::restore(&bytes[HEADER_SIZE..])
            .map_err(|e| bad(&format!("engine snapshot: {e}")))?;
        Ok(Self {
            seq: Seq(word(8)),
            term: Term(word(16)),
            engine,
        })
    }

    /// Reads and parses a snapshot file.
    pub fn read(path: &Path) -> Result<Self, ReplayError> {
        let len = std::fs::metadata(path).map_err(io_error(path))?.len();
        if len > SNAPSHOT_BYTES_MAX {
            return Err(ReplayError::Limit {
                what: format!("snapshot {} of {len} bytes", path.display()),
                name: "SNAPSHOT_BYTES_MAX",
                max: SNAPSHOT_BYTES_MAX,
            });
        }
        let bytes = std::fs::read(path).map_err(io_error(path))?;
        Self::parse(path, &bytes)
    }

    /// The engine's state digest, as replicas report it.
    #[must_use]
    pub fn digest(&self) -> StateDigest {
        StateDigest(self.engine.peek_state_hash().0)
    }
}

/// A replica snapshot file's bytes: the inverse of [`ReplicaSnapshot::parse`], byte for byte
/// what a replica writes (for tests and tools; replay itself never writes snapshots).
#[must_use]
pub fn encode_snapshot(seq: Seq, term: Term, primary: u32, engine: &Engine) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out.extend_from_slice(&seq.0.to_le_bytes());
    out.extend_from_slice(&term.0.to_le_bytes());
    out.extend_from_slice(&primary.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    engine.snapshot(&mut out);
    out
}

/// The file name a replica gives its snapshot at `seq`.
#[must_use]
pub fn snapshot_file_name(seq: Seq) -> String {
    format!("{:020}.snapshot", seq.0)
}

/// The snapshot files of a directory (`<20 digits>.snapshot`), by sequence number.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(Seq, PathBuf)>, ReplayError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        let Some(seq) = snapshot_seq(&path) else {
            continue;
        };
        if found.len() == SNAPSHOTS_MAX {
            return Err(ReplayError::Limit {
                what: format!("snapshot files in {}", dir.display()),
                name: "SNAPSHOTS_MAX",
                max: SNAPSHOTS_MAX as u64,
            });
        }
        found.push((seq, path));
    }
    found.sort();
    Ok(found)
}

/// The sequence number a snapshot file is named after (temporary `.tmp` files are not).
fn snapshot_seq(path: &Path) -> Option<Seq> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_suffix(".snapshot")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().map(Seq)
}

#[cfg(test)]
mod tests {
    use matching_engine::EngineConfig;

    use super::*;

    fn file(seq: u64, engine: &Engine) -> Vec<u8> {
        encode_snapshot(Seq(seq), Term(3), 1, engine)
    }

    fn small() -> Engine {
        Engine::new(EngineConfig {
            orders_max: 16,
            instruments_max: 1,
            accounts_max: 4,
            price_levels_max: 16,
        })
    }

    #[test]
    fn a_snapshot_parses_and_bad_headers_say_why() {
        let engine = small();
        let bytes = file(42, &engine);
        let path = Path::new("x.snapshot");
        let snap = ReplicaSnapshot::parse(path, &bytes).unwrap();
        assert_eq!((snap.seq, snap.term), (Seq(42), Term(3)));
        assert_eq!(snap.digest().0, engine.peek_state_hash().0);
        let check = |mutate: fn(&mut Vec<u8>), want: &str| {
            let mut b = bytes.clone();
            mutate(&mut b);
            let err = ReplicaSnapshot::parse(path, &b).unwrap_err().to_string();
            assert!(err.contains(want), "{err}");
        };
        check(|b| b.truncate(10), "truncated");
        check(|b| b[0] = b'X', "magic");
        check(|b| b[4] = 9, "version");
        check(|b| b[30] = 1, "reserved");
        check(|b| b.truncate(40), "engine snapshot");
    }

    #[test]
    fn snapshot_files_are_listed_by_seq_and_others_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let engine = small();
        for seq in [20u64, 3] {
            let name = snapshot_file_name(Seq(seq));
            std::fs::write(dir.path().join(name), file(seq, &engine)).unwrap();
        }
        std::fs::write(dir.path().join("00000000000000000009.snapshot.tmp"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let seqs: Vec<_> = list_snapshots(dir.path())
            .unwrap()
            .into_iter()
            .map(|(s, _)| s.0)
            .collect();
        assert_eq!(seqs, vec![3, 20]);
    }
}
