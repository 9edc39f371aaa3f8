//! Framing and parsing FIX 4.4 tag=value messages from a byte stream, without allocating in the
//! steady state and without trusting a single byte: every length is bounded, every number
//! checked, and a message that fails the framing checks is *garbled* (the session ignores it
//! and does not count it, as the FIX session protocol says) with the bytes to skip.
//!
//! A frame is `8=FIX.4.4<SOH>9=<len><SOH>` + `<len>` bytes of body + `10=<3 digits><SOH>`,
//! where the body starts with `35=<MsgType><SOH>` and the checksum is the sum of every byte
//! before `10=`, modulo 256.

use std::ops::Range;

use super::{SOH, tag};

/// Largest message accepted, all of it (framing included): bigger ones are refused.
pub const MESSAGE_SIZE_MAX: usize = 16 * 1024;
/// Most fields in one message.
pub const FIELDS_MAX: usize = 256;
/// Digits in a tag number (a tag is at most 999,999,999).
const TAG_DIGITS_MAX: usize = 9;
/// Digits in BodyLength.
const BODY_LENGTH_DIGITS_MAX: usize = 6;

/// `8=` [`super::BEGIN_STRING`] `<SOH>9=`.
const PREFIX: &[u8] = b"8=FIX.4.4\x019=";
const TRAILER_LEN: usize = 7; // 10=NNN<SOH>

/// Why bytes could not be taken as a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The bytes do not frame a message: drop `skip` bytes and look again.
    #[error("garbled message ({reason}): skipping {skip} bytes")]
    Garbled { reason: Garbled, skip: usize },
    /// BodyLength says the message is larger than [`MESSAGE_SIZE_MAX`]: the peer is broken or
    /// hostile, and the connection cannot be resynchronised cheaply.
    #[error("message of {0} bytes exceeds the {MESSAGE_SIZE_MAX}-byte limit")]
    TooLarge(usize),
}

/// What exactly was wrong with a garbled message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Garbled {
    #[error("does not start with 8=FIX.4.4")]
    BeginString,
    #[error("BodyLength is not a number")]
    BodyLength,
    #[error("no CheckSum where BodyLength says the body ends")]
    Trailer,
    #[error("CheckSum {got:03} but the bytes sum to {expected:03}")]
    CheckSum { expected: u8, got: u8 },
    #[error("a field is not tag=value")]
    Field,
    #[error("more than {FIELDS_MAX} fields")]
    TooManyFields,
    #[error("MsgType(35) is not the first field of the body")]
    MsgType,
}

/// One framed message: its bytes and its fields in order (header, body, trailer excluded).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    bytes: &'a [u8],
    fields: &'a [(u32, Range<usize>)],
}

impl<'a> Frame<'a> {
    /// The whole message, framing included.
    #[must_use]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// MsgType(35).
    #[must_use]
    pub fn msg_type(&self) -> &'a [u8] {
        self.get(tag::MSG_TYPE).unwrap_or_default()
    }

    /// The first value of `tag`, if present.
    #[must_use]
    pub fn get(&self, tag: u32) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, range)| &self.bytes[range.clone()])
    }

    /// Every field, in order: `(tag, value)`.
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + 'a {
        let bytes = self.bytes;
        self.fields
            .iter()
            .map(move |(t, range)| (*t, &bytes[range.clone()]))
    }
}

/// Frames messages out of a byte stream; reuses one field table.
#[derive(Debug, Default)]
pub struct Decoder {
    fields: Vec<(u32, Range<usize>)>,
}

impl Decoder {
    #[must_use]
    pub fn new() -> Self {
        Self {
            fields: Vec::with_capacity(FIELDS_MAX),
        }
    }

    /// The first message at the start of `buf`: `Ok(None)` if more bytes are needed, or the
    /// frame and how many bytes it used.
    pub fn decode<'a>(
        &'a mut self,
        buf: &'a [u8],
    ) -> Result<Option<(Frame<'a>, usize)>, FrameError> {
        let Some(body) = frame_body(buf)? else {
            return Ok(None);
        };
        let end = body.end + TRAILER_LEN;
        let trailer = &buf[body.end..end];
        let garbled = |reason| FrameError::Garbled {
            reason,
            skip: resync(buf),
        };
        if &trailer[..3] != b"10=" || trailer[6] != SOH {
            return Err(garbled(Garbled::Trailer));
        }
        let got = parse_digits(&trailer[3..6]).ok_or(garbled(Garbled::Trailer))?;
        let expected = checksum(&buf[..body.end]);
        if got != u64::from(expected) {
            return Err(garbled(Garbled::CheckSum {
                expected,
                got: u8::try_from(got).unwrap_or(u8::MAX),
            }));
        }
        self.fields.clear();
        parse_fields(buf, body, &mut self.fields).map_err(garbled)?;
        let frame = Frame {
            bytes: &buf[..end],
            fields: &self.fields,
        };
        Ok(Some((frame, end)))
    }
}

/// The body's range in `buf`, once the whole message (trailer too) is there.
fn frame_body(buf: &[u8]) -> Result<Option<Range<usize>>, FrameError> {
    let known = buf.len().min(PREFIX.len());
    if buf[..known] != PREFIX[..known] {
        return Err(FrameError::Garbled {
            reason: Garbled::BeginString,
            skip: resync(buf),
        });
    }
    if buf.len() <= PREFIX.len() {
        return Ok(None);
    }
    let digits = &buf[PREFIX.len()..];
    let Some(soh) = digits
        .iter()
        .take(BODY_LENGTH_DIGITS_MAX + 1)
        .position(|&b| b == SOH)
    else {
        if digits.len() > BODY_LENGTH_DIGITS_MAX || !digits.iter().all(u8::is_ascii_digit) {
            return Err(FrameError::Garbled {
                reason: Garbled::BodyLength,
                skip: resync(buf),
            });
        }
        return Ok(None);
    };
    let Some(length) = parse_digits(&digits[..soh]).and_then(|n| usize::try_from(n).ok()) else {
        return Err(FrameError::Garbled {
            reason: Garbled::BodyLength,
            skip: resync(buf),
        });
    };
    let start = PREFIX.len() + soh + 1;
    let total = start + length + TRAILER_LEN;
    if total > MESSAGE_SIZE_MAX {
        return Err(FrameError::TooLarge(total));
    }
    Ok((buf.len() >= total).then_some(start..start + length))
}

/// Splits the body into fields; MsgType(35) must come first.
fn parse_fields(
    buf: &[u8],
    body: Range<usize>,
    out: &mut Vec<(u32, Range<usize>)>,
) -> Result<(), Garbled> {
    if body.is_empty() || buf[body.end - 1] != SOH {
        return Err(Garbled::Field);
    }
    let mut at = body.start;
    while at < body.end {
        let field_end = at
            + buf[at..body.end]
                .iter()
                .position(|&b| b == SOH)
                .ok_or(Garbled::Field)?;
        let field = &buf[at..field_end];
        let eq = field
            .iter()
            .position(|&b| b == b'=')
            .ok_or(Garbled::Field)?;
        if eq == 0 || eq > TAG_DIGITS_MAX || eq + 1 == field.len() {
            return Err(Garbled::Field);
        }
        let tag = parse_digits(&field[..eq])
            .and_then(|t| u32::try_from(t).ok())
            .filter(|&t| t > 0)
            .ok_or(Garbled::Field)?;
        if out.len() == FIELDS_MAX {
            return Err(Garbled::TooManyFields);
        }
        out.push((tag, at + eq + 1..field_end));
        at = field_end + 1;
    }
    if out.first().is_none_or(|(t, _)| *t != tag::MSG_TYPE) {
        return Err(Garbled::MsgType);
    }
    Ok(())
}

/// ASCII digits as a number; `None` for anything else (no sign, no spaces, not empty).
pub(crate) fn parse_digits(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// The FIX checksum: the sum of the bytes modulo 256.
#[must_use]
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b))
}

/// How many bytes to drop to reach the next possible message start (`8=FIX` after the first
/// byte), keeping a tail that could be the start of one.
fn resync(buf: &[u8]) -> usize {
    const START: &[u8] = b"8=FIX";
    match buf[1..].windows(START.len()).position(|w| w == START) {
        Some(i) => i + 1,
        None => buf.len().saturating_sub(START.len() - 1).max(1),
    }
}
