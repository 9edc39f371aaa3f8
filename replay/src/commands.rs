//! The JSON-lines command format for backtests: one sequenced command per line.
//!
//! ```text
//! {"timestamp_ns":1700000000000000000,"command":{"type":"new_order","origin":{...},...}}
//! ```
//!
//! `command` is a protocol command in its JSON form (every field present: the same strict shape
//! `lockstep journal dump --format json` prints). `timestamp_ns` is the sequencer's stamp and
//! must never decrease. `seq` is optional: when present it must be the line's place in the
//! stream (1 for the first command), so a dump of a journal imports back unchanged. `kind` and
//! `len`, which a dump also prints, are accepted and checked. Blank lines are skipped. Every
//! problem is an error naming the file and line; nothing panics on bad input.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use protocol::{Command, Seq, Sequenced, TimestampNs};
use serde::{Deserialize, Serialize};

use crate::error::ReplayError;

/// The longest command line accepted (the largest command is well under 1 KiB of JSON).
pub const COMMAND_LINE_BYTES_MAX: usize = 4096;

/// One line of a command file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    pub timestamp_ns: TimestampNs,
    #[serde(default, skip_serializing)]
    pub kind: Option<u16>,
    #[serde(default, skip_serializing)]
    pub len: Option<u64>,
    pub command: Command,
}

impl CommandLine {
    /// The line for a sequenced command.
    #[must_use]
    pub fn of(sequenced: &Sequenced) -> Self {
        Self {
            seq: Some(sequenced.seq),
            timestamp_ns: sequenced.timestamp,
            kind: None,
            len: None,
            command: sequenced.command,
        }
    }
}

/// Parses one line (without its newline) as the command at `seq` following `previous_ns`.
pub fn parse_line(text: &str, seq: Seq, previous_ns: TimestampNs) -> Result<Sequenced, String> {
    if text.len() > COMMAND_LINE_BYTES_MAX {
        return Err(format!("line longer than {COMMAND_LINE_BYTES_MAX} bytes"));
    }
    let line: CommandLine = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if line.seq.is_some_and(|s| s != seq) {
        return Err(format!(
            "seq {} out of order: this is command {seq}",
            line.seq.map_or(0, |s| s.0)
        ));
    }
    if line
        .kind
        .is_some_and(|k| k != journal::RecordKind::COMMAND.0)
    {
        return Err("kind must be 1 (a command)".into());
    }
    if line
        .len
        .is_some_and(|n| n != line.command.encoded_len() as u64)
    {
        return Err(format!(
            "len must be {} for this command",
            line.command.encoded_len()
        ));
    }
    if line.timestamp_ns < previous_ns {
        return Err(format!(
            "timestamp_ns {} is before the previous command's {}",
            line.timestamp_ns, previous_ns
        ));
    }
    Ok(Sequenced {
        seq,
        timestamp: line.timestamp_ns,
        command: line.command,
    })
}

/// Reads a command file line by line.
#[derive(Debug)]
pub struct CommandFile<R> {
    path: PathBuf,
    input: R,
    line_no: u64,
    line: String,
    next_seq: Seq,
    previous_ns: TimestampNs,
}

impl CommandFile<std::io::BufReader<std::fs::File>> {
    /// Opens a command file.
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        let file = std::fs::File::open(path).map_err(crate::error::io_error(path))?;
        Ok(Self::new(path, std::io::BufReader::new(file)))
    }
}

impl<R: BufRead> CommandFile<R> {
    /// Commands read from `input` (`path` names it in errors).
    pub fn new(path: &Path, input: R) -> Self {
        Self {
            path: path.to_path_buf(),
            input,
            line_no: 0,
            line: String::new(),
            next_seq: Seq(1),
            previous_ns: TimestampNs(0),
        }
    }

    /// The next command, or `None` at the end of the file.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Sequenced>, ReplayError> {
        loop {
            self.line.clear();
            self.line_no += 1;
            let limit = COMMAND_LINE_BYTES_MAX as u64 + 1;
            let n = std::io::Read::take(self.input.by_ref(), limit)
                .read_line(&mut self.line)
                .map_err(|e| self.bad(e.to_string()))?;
            if n == 0 {
                return Ok(None);
            }
            let text = self.line.trim_end_matches(['\n', '\r']);
            if text.len() > COMMAND_LINE_BYTES_MAX {
                return Err(self.bad(format!("line longer than {COMMAND_LINE_BYTES_MAX} bytes")));
            }
            if text.trim().is_empty() {
                continue;
            }
            let command =
                parse_line(text, self.next_seq, self.previous_ns).map_err(|r| self.bad(r))?;
            self.next_seq = Seq(self.next_seq.0 + 1);
            self.previous_ns = command.timestamp;
            return Ok(Some(command));
        }
    }

    fn bad(&self, reason: String) -> ReplayError {
        ReplayError::Line {
            path: self.path.clone(),
            line: self.line_no,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Sequenced> {
        workload::Flow::new(workload::FlowConfig::default())
            .take(50)
            .enumerate()
            .map(|(i, command)| Sequenced {
                seq: Seq(i as u64 + 1),
                timestamp: TimestampNs(5_000 + i as u64 / 3),
                command,
            })
            .collect()
    }

    fn read(text: &str) -> Result<Vec<Sequenced>, ReplayError> {
        let mut file = CommandFile::new(Path::new("c.jsonl"), text.as_bytes());
        let mut out = Vec::new();
        while let Some(c) = file.next()? {
            out.push(c);
        }
        Ok(out)
    }

    #[test]
    fn lines_round_trip_with_and_without_seq() {
        let commands = sample();
        let mut text = String::new();
        for (i, c) in commands.iter().enumerate() {
            let mut line = CommandLine::of(c);
            if i % 2 == 0 {
                line.seq = None;
            }
            text += &serde_json::to_string(&line).unwrap();
            text += "\n\n";
        }
        assert_eq!(read(&text).unwrap(), commands);
    }

    #[test]
    fn bad_lines_are_errors_naming_the_line() {
        let commands = sample();
        let line = |c: &Sequenced| serde_json::to_string(&CommandLine::of(c)).unwrap();
        let first = line(&commands[0]);
        let cases = [
            (format!("{first}\n{first}\n"), ":2: seq 1 out of order"),
            (
                format!("{}\n", first.replace("\"seq\":1", "\"seq\":5")),
                ":1: seq 5 out of order",
            ),
            (
                "{\"timestamp_ns\":1}\n".into(),
                ":1: missing field `command`",
            ),
            ("42\n".into(), ":1: invalid type"),
            (
                first.replace("\"type\":\"define_instrument\"", "\"type\":\"nope\""),
                "unknown variant",
            ),
            (
                first.replace("\"seq\":1", "\"seq\":1,\"extra\":0"),
                "unknown field `extra`",
            ),
            (format!("{}\n", "x".repeat(5000)), "longer than"),
            (
                format!(
                    "{first}\n{}\n",
                    line(&commands[1]).replace("\"timestamp_ns\":5000", "\"timestamp_ns\":4999")
                ),
                ":2: timestamp_ns 4999 is before",
            ),
        ];
        for (text, want) in cases {
            let err = read(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{want:?} not in {err:?} for {text:?}");
        }
    }

    #[test]
    fn a_journal_dump_line_is_accepted() {
        let c = &sample()[0];
        let body = serde_json::to_string(&c.command).unwrap();
        let text = format!(
            "{{\"seq\":1,\"timestamp_ns\":{},\"kind\":1,\"len\":{},\"command\":{body}}}\n",
            c.timestamp.0,
            c.command.encoded_len()
        );
        assert_eq!(read(&text).unwrap(), vec![*c]);
        assert!(read(&text.replace("\"kind\":1", "\"kind\":2")).is_err());
    }
}
