//! One store record: `len u32 | crc32c u32 | kind u8 | body`, little-endian; `len` counts
//! the kind and body, the checksum covers them.

use protocol::{Seq, SessionId, Term};

use super::{RECORD_HEADER_SIZE, RECORD_SIZE_MAX};

const KIND_SEQ_NUMS: u8 = 1;
const KIND_SENT: u8 = 2;
const KIND_INBOUND: u8 = 3;
const KIND_EVENT: u8 = 4;
const KIND_DISCONNECT: u8 = 5;
const KIND_CURSOR: u8 = 6;
const KIND_TRANSLATOR: u8 = 7;
const KIND_UNANSWERED: u8 = 8;

/// The egress cursor: the term, and the last event taken (command, index, event count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorParts {
    pub term: Term,
    pub last: Option<(Seq, u32, u32)>,
}

/// What the store records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A session's sequence numbers changed.
    SeqNums {
        session: SessionId,
        next_in: u64,
        next_out: u64,
    },
    /// An application message sent to the client, as sent (kept for resend requests).
    Sent {
        session: SessionId,
        seq: u64,
        bytes: &'a [u8],
    },
    /// An application message from the client, handed to the order translation at `now_ns`.
    Inbound {
        session: SessionId,
        now_ns: u64,
        bytes: &'a [u8],
    },
    /// An egress event for the session, handed to the order translation (encoded frame).
    Event { session: SessionId, bytes: &'a [u8] },
    /// The session's connection dropped and its orders were cancelled.
    Disconnect { session: SessionId },
    /// Where the egress stream was taken up to.
    Cursor(CursorParts),
    /// Compaction: a part of a session's translation state (`Translator::export`), which
    /// replaces the inbound messages and events it was built from; `last` ends it.
    Translator {
        session: SessionId,
        last: bool,
        bytes: &'a [u8],
    },
    /// Compaction: a command the session sent (or was about to) with no answer yet (encoded).
    Unanswered { session: SessionId, bytes: &'a [u8] },
}

/// Why bytes are not a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Bad {
    pub(super) reason: &'static str,
    /// The damaged record runs to (or past) the end of the file: a torn last write.
    pub(super) reaches_end: bool,
}

impl Record<'_> {
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; RECORD_HEADER_SIZE]);
        match *self {
            Record::SeqNums {
                session,
                next_in,
                next_out,
            } => {
                out.push(KIND_SEQ_NUMS);
                out.extend_from_slice(&session.0.to_le_bytes());
                out.extend_from_slice(&next_in.to_le_bytes());
                out.extend_from_slice(&next_out.to_le_bytes());
            }
            Record::Sent {
                session,
                seq: number,
                bytes,
            } => {
                out.push(KIND_SENT);
                out.extend_from_slice(&session.0.to_le_bytes());
                out.extend_from_slice(&number.to_le_bytes());
                out.extend_from_slice(bytes);
            }
            Record::Inbound {
                session,
                now_ns,
                bytes,
            } => {
                out.push(KIND_INBOUND);
                out.extend_from_slice(&session.0.to_le_bytes());
                out.extend_from_slice(&now_ns.to_le_bytes());
                out.extend_from_slice(bytes);
            }
            Record::Event { session, bytes } => {
                out.push(KIND_EVENT);
                out.extend_from_slice(&session.0.to_le_bytes());
                out.extend_from_slice(bytes);
            }
            Record::Disconnect { session } => {
                out.push(KIND_DISCONNECT);
                out.extend_from_slice(&session.0.to_le_bytes());
            }
            Record::Translator {
                session,
                last,
                bytes,
            } => {
                out.push(KIND_TRANSLATOR);
                out.extend_from_slice(&session.0.to_le_bytes());
                out.push(u8::from(last));
                out.extend_from_slice(bytes);
            }
            Record::Unanswered { session, bytes } => {
                out.push(KIND_UNANSWERED);
                out.extend_from_slice(&session.0.to_le_bytes());
                out.extend_from_slice(bytes);
            }
            Record::Cursor(CursorParts { term, last }) => {
                out.push(KIND_CURSOR);
                let (seq, index, count) = last.unwrap_or((Seq(0), 0, 0));
                out.extend_from_slice(&term.0.to_le_bytes());
                out.push(u8::from(last.is_some()));
                out.extend_from_slice(&seq.0.to_le_bytes());
                out.extend_from_slice(&index.to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        let body = &out[start + RECORD_HEADER_SIZE..];
        assert!(
            body.len() <= RECORD_SIZE_MAX,
            "a store record over the limit"
        );
        let len = u32::try_from(body.len()).expect("bounded above");
        let crc = crc32c::crc32c(body);
        out[start..start + 4].copy_from_slice(&len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The record at the start of `bytes`, and the bytes it takes.
pub(super) fn read(bytes: &[u8]) -> Result<(Record<'_>, usize), Bad> {
    let bad = |reason, reaches_end| Bad {
        reason,
        reaches_end,
    };
    if bytes.len() < RECORD_HEADER_SIZE {
        return Err(bad("a record header cut short", true));
    }
    let len = u32_at(bytes, 0) as usize;
    if len == 0 || len > RECORD_SIZE_MAX {
        return Err(bad("a record length out of range", false));
    }
    let end = RECORD_HEADER_SIZE + len;
    if end > bytes.len() {
        return Err(bad("a record cut short", true));
    }
    let body = &bytes[RECORD_HEADER_SIZE..end];
    if crc32c::crc32c(body) != u32_at(bytes, 4) {
        return Err(bad("checksum mismatch", end == bytes.len()));
    }
    let record = decode(body).ok_or(bad("an unknown or short record", false))?;
    Ok((record, end))
}

fn decode(body: &[u8]) -> Option<Record<'_>> {
    let (&kind, rest) = body.split_first()?;
    if kind == KIND_CURSOR {
        if rest.len() != 25 {
            return None;
        }
        let last = match rest[8] {
            0 => None,
            1 => Some((Seq(u64_at(rest, 9)), u32_at(rest, 17), u32_at(rest, 21))),
            _ => return None,
        };
        let term = Term(u64_at(rest, 0));
        return Some(Record::Cursor(CursorParts { term, last }));
    }
    if rest.len() < 4 {
        return None;
    }
    let session = SessionId(u32_at(rest, 0));
    let rest = &rest[4..];
    let record = match kind {
        KIND_SEQ_NUMS if rest.len() == 16 => Record::SeqNums {
            session,
            next_in: u64_at(rest, 0),
            next_out: u64_at(rest, 8),
        },
        KIND_SENT if rest.len() >= 8 => Record::Sent {
            session,
            seq: u64_at(rest, 0),
            bytes: &rest[8..],
        },
        KIND_INBOUND if rest.len() >= 8 => Record::Inbound {
            session,
            now_ns: u64_at(rest, 0),
            bytes: &rest[8..],
        },
        KIND_EVENT => Record::Event {
            session,
            bytes: rest,
        },
        KIND_DISCONNECT if rest.is_empty() => Record::Disconnect { session },
        KIND_TRANSLATOR if !rest.is_empty() && rest[0] <= 1 => Record::Translator {
            session,
            last: rest[0] == 1,
            bytes: &rest[1..],
        },
        KIND_UNANSWERED => Record::Unanswered {
            session,
            bytes: rest,
        },
        _ => return None,
    };
    Some(record)
}
