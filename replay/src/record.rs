//! Events as JSON lines: one event per line, keyed by the command that caused it.
//!
//! ```text
//! {"seq":12,"index":0,"count":2,"event":{"type":"execution_report","order_id":7,...}}
//! ```
//!
//! `index` is the event's place among its command's `count` events, as in the cluster's egress
//! frames. A recording is read back one command's events at a time ([`Recording::next_group`]),
//! with every line checked: increasing seqs, indexes `0..count` in order, a known event.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use protocol::{Event, Seq};
use serde::{Deserialize, Serialize};

use crate::error::ReplayError;

/// The longest line a recording may hold (the largest event is a few hundred bytes of JSON).
pub const LINE_BYTES_MAX: usize = 4096;
/// The most events one command may have in a recording.
pub const EVENTS_PER_COMMAND_MAX: u32 = 1 << 20;

/// One event and the command that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventLine {
    pub seq: Seq,
    pub index: u32,
    pub count: u32,
    pub event: Event,
}

/// Writes the events of command `seq` as JSON lines.
pub fn write_events(out: &mut impl Write, seq: Seq, events: &[Event]) -> std::io::Result<()> {
    let count = u32::try_from(events.len()).expect("a command emits fewer than 2^32 events");
    for (index, event) in events.iter().enumerate() {
        let line = EventLine {
            seq,
            index: u32::try_from(index).expect("below count"),
            count,
            event: *event,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads a recording back, one command's events at a time.
#[derive(Debug)]
pub struct Recording<R> {
    path: PathBuf,
    input: R,
    line_no: u64,
    line: String,
    /// A line read ahead: the first event of the next group.
    pending: Option<EventLine>,
    last_seq: Option<Seq>,
}

impl Recording<std::io::BufReader<std::fs::File>> {
    /// Opens a recording file.
    pub fn open(path: &Path) -> Result<Self, ReplayError> {
        let file = std::fs::File::open(path).map_err(crate::error::io_error(path))?;
        Ok(Self::new(path, std::io::BufReader::new(file)))
    }
}

impl<R: BufRead> Recording<R> {
    /// A recording read from `input` (`path` names it in errors).
    pub fn new(path: &Path, input: R) -> Self {
        Self {
            path: path.to_path_buf(),
            input,
            line_no: 0,
            line: String::new(),
            pending: None,
            last_seq: None,
        }
    }

    fn bad(&self, reason: impl Into<String>) -> ReplayError {
        ReplayError::Line {
            path: self.path.clone(),
            line: self.line_no,
            reason: reason.into(),
        }
    }

    /// The next line, skipping blank ones; `None` at the end.
    fn read_line(&mut self) -> Result<Option<EventLine>, ReplayError> {
        loop {
            self.line.clear();
            self.line_no += 1;
            let limit = u64::try_from(LINE_BYTES_MAX).expect("small") + 1;
            let n = std::io::Read::take(self.input.by_ref(), limit)
                .read_line(&mut self.line)
                .map_err(|e| self.bad(e.to_string()))?;
            if n == 0 {
                return Ok(None);
            }
            if n > LINE_BYTES_MAX {
                return Err(self.bad(format!("line longer than {LINE_BYTES_MAX} bytes")));
            }
            if self.line.trim().is_empty() {
                continue;
            }
            return serde_json::from_str(&self.line)
                .map(Some)
                .map_err(|e| self.bad(e.to_string()));
        }
    }

    /// The seq of the next group, without consuming it.
    pub fn peek_seq(&mut self) -> Result<Option<Seq>, ReplayError> {
        if self.pending.is_none() {
            self.pending = self.read_line()?;
        }
        Ok(self.pending.map(|l| l.seq))
    }

    /// The next command's events, checked for order and completeness.
    pub fn next_group(&mut self) -> Result<Option<(Seq, Vec<Event>)>, ReplayError> {
        self.peek_seq()?;
        let Some(first) = self.pending.take() else {
            return Ok(None);
        };
        if self.last_seq.is_some_and(|last| first.seq <= last) {
            return Err(self.bad(format!(
                "seq {} does not follow the previous line's",
                first.seq
            )));
        }
        if first.count == 0 || first.count > EVENTS_PER_COMMAND_MAX {
            return Err(self.bad(format!(
                "count {} is not in 1..={EVENTS_PER_COMMAND_MAX}",
                first.count
            )));
        }
        self.last_seq = Some(first.seq);
        let mut events = Vec::with_capacity(first.count.min(64) as usize);
        let mut line = first;
        loop {
            if line.seq != first.seq
                || line.count != first.count
                || line.index as usize != events.len()
            {
                return Err(self.bad(format!(
                    "expected event {} of {} for seq {}",
                    events.len(),
                    first.count,
                    first.seq
                )));
            }
            events.push(line.event);
            if events.len() == first.count as usize {
                return Ok(Some((first.seq, events)));
            }
            line = self.read_line()?.ok_or_else(|| {
                self.bad(format!(
                    "seq {} ends after {} of {} events",
                    first.seq,
                    events.len(),
                    first.count
                ))
            })?;
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::{AdminReply, RequestId, SessionId};

    use super::*;

    fn reply(r: u64) -> Event {
        Event::AdminReply(AdminReply {
            request_id: RequestId(r),
            session: SessionId(1),
            command_template: 10,
            reason: None,
        })
    }

    fn read_all(text: &str) -> Result<Vec<(Seq, Vec<Event>)>, ReplayError> {
        let mut rec = Recording::new(Path::new("rec.jsonl"), text.as_bytes());
        let mut groups = Vec::new();
        while let Some(group) = rec.next_group()? {
            groups.push(group);
        }
        Ok(groups)
    }

    #[test]
    fn written_events_read_back_grouped_by_command() {
        let mut out = Vec::new();
        write_events(&mut out, Seq(3), &[reply(1), reply(2)]).unwrap();
        write_events(&mut out, Seq(4), &[]).unwrap();
        write_events(&mut out, Seq(9), &[reply(3)]).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 3);
        let groups = read_all(&text).unwrap();
        assert_eq!(
            groups,
            vec![(Seq(3), vec![reply(1), reply(2)]), (Seq(9), vec![reply(3)])]
        );
    }

    #[test]
    fn malformed_recordings_name_the_line() {
        let mut two = Vec::new();
        write_events(&mut two, Seq(3), &[reply(1), reply(2)]).unwrap();
        let two = String::from_utf8(two).unwrap();
        let first = two.lines().next().unwrap();
        let cases = [
            (format!("{first}\n"), ":2: seq 3 ends after 1 of 2"),
            (format!("{two}{two}"), ":3: seq 3 does not follow"),
            ("not json\n".to_owned(), ":1: expected"),
            (format!("{}\n", "x".repeat(5000)), "longer than"),
            (
                first.replace("\"count\":2", "\"count\":0") + "\n",
                "count 0 is not",
            ),
        ];
        for (text, want) in cases {
            let err = read_all(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{want:?} not in {err:?}");
        }
    }
}
