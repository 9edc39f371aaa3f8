//! What the cluster is checked against: the journal replayed offline through a fresh engine (by
//! the `replay` crate), and the `final ...` line each engine prints on a clean stop.

use std::path::Path;

use anyhow::{Context as _, bail};
use matching_engine::EngineConfig;
use protocol::{Event, Seq, Sequenced, SessionId};
use replay::{HASH_INTERVAL_DEFAULT, Replayer};

/// Every command in the journal at `dir`, in order (none if there is no journal yet).
pub fn journal_commands(dir: &Path) -> anyhow::Result<Vec<Sequenced>> {
    // A journal with nothing committed yet yields no commands.
    let mut commands = replay::JournalCommands::open(dir, Seq(1))
        .with_context(|| format!("opening {}", dir.display()))?;
    let mut out = Vec::new();
    while let Some(command) = commands.next()? {
        out.push(command);
    }
    Ok(out)
}

/// The journal replayed offline through a fresh engine.
#[derive(Debug)]
pub struct Replay {
    /// The commands replayed.
    pub commands: Vec<Sequenced>,
    /// Every event, keyed by `(seq, index among the command's events)`.
    pub events: Vec<(Seq, u32, Event)>,
    /// The engine's state hash after the last command.
    pub hash: u128,
    /// The last command's sequence number.
    pub last_seq: Seq,
}

impl Replay {
    /// Replays the journal at `dir` up to and including `upto` (all of it when `None`).
    pub fn of(dir: &Path, upto: Option<Seq>) -> anyhow::Result<Self> {
        let mut commands = journal_commands(dir)?;
        if let Some(upto) = upto {
            commands.retain(|c| c.seq <= upto);
        }
        let mut replayer = Replayer::new(EngineConfig::default(), HASH_INTERVAL_DEFAULT);
        let mut events = Vec::new();
        for sequenced in &commands {
            replayer.apply(sequenced)?;
            for (index, event) in replayer.events().iter().enumerate() {
                events.push((sequenced.seq, u32::try_from(index)?, *event));
            }
        }
        Ok(Self {
            last_seq: replayer.applied(),
            commands,
            events,
            hash: replayer.digest().0,
        })
    }

    /// How many commands came from clients (not the sequencer's own timers and role changes).
    #[must_use]
    pub fn client_commands(&self) -> usize {
        self.commands
            .iter()
            .filter(|c| c.command.origin().session != SessionId(0))
            .count()
    }
}

/// An engine's `final node=N applied_seq=S term=T role=R state_hash=0x...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Final {
    pub node: u32,
    pub applied_seq: u64,
    pub term: u64,
    pub role: String,
    pub hash: u128,
}

impl Final {
    /// Finds and parses the last `final` line in an engine's stdout.
    pub fn parse(stdout: &str) -> anyhow::Result<Self> {
        let Some(line) = stdout.lines().rev().find(|l| l.starts_with("final ")) else {
            bail!("no final line in {stdout:?}");
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .with_context(|| format!("no {name} in {line:?}"))
        };
        let number = |name: &str| -> anyhow::Result<u64> {
            field(name)?
                .parse()
                .with_context(|| format!("{name} in {line:?}"))
        };
        let hash = field("state_hash")?.trim_start_matches("0x");
        Ok(Self {
            node: u32::try_from(number("node")?)?,
            applied_seq: number("applied_seq")?,
            term: number("term")?,
            role: field("role")?.to_owned(),
            hash: u128::from_str_radix(hash, 16).with_context(|| format!("hash in {line:?}"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_line_parses_and_a_bad_one_says_why() {
        let out = "noise\nfinal node=2 applied_seq=4002 term=2 role=Primary state_hash=0x00ff\n";
        let f = Final::parse(out).unwrap();
        assert_eq!(
            f,
            Final {
                node: 2,
                applied_seq: 4002,
                term: 2,
                role: "Primary".into(),
                hash: 255
            }
        );
        let err = Final::parse("final node=2 term=2 role=Backup state_hash=0x1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("applied_seq"), "{err}");
        assert!(Final::parse("").is_err());
    }
}
