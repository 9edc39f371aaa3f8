//! Shared by the journal targets: how fuzz input becomes a journal directory image, and a naive
//! reference reader of `docs/journal-format.md` written from the document, not from the crate,
//! to judge what the journal returns.
//!
//! Input layout: one flags byte, then for each segment a little-endian `u16` length and that
//! many bytes (zero-padded to the smallest segment size), then the metadata file's leading
//! bytes (zero-padded to 4096). Random bytes almost
//! never carry valid CRCs, so flags ask the harness to repair them: the fuzzer then explores
//! lengths, sequence numbers, links, names and checkpoints behind valid checksums.

#![allow(dead_code)] // Each target uses part of it.

use std::collections::BTreeMap;

pub const SEGMENT_HEADER_SIZE: usize = 64;
pub const RECORD_HEADER_SIZE: usize = 32;
pub const META_SIZE: usize = 4096;
pub const BODY_SIZE_MAX: usize = 65536;
/// Segment files are at least this long; the input gives their leading bytes.
pub const SEGMENT_SIZE_MIN: usize = 128 * 1024;
pub const SEGMENT_MAGIC: &[u8; 8] = b"LKSTSEG\0";
pub const META_MAGIC: &[u8; 8] = b"LKSTMETA";
pub const CHECKPOINT_OFFSETS: [usize; 2] = [128, 192];

/// Repair the segment headers' magic, version, reserved bytes, size and CRC.
pub const FIX_SEGMENT_HEADERS: u8 = 1 << 0;
/// Repair every record's CRC (records found by walking lengths from each header).
pub const FIX_RECORD_CRCS: u8 = 1 << 1;
/// Write a metadata file.
pub const WITH_META: u8 = 1 << 2;
/// Repair the metadata header and both checkpoint slots' CRCs and reserved bytes.
pub const FIX_META: u8 = 1 << 3;
/// Bits 4..6: number of segments minus one.
pub const SEGMENTS_SHIFT: u8 = 4;
/// Recover in point-in-time mode rather than strict.
pub const POINT_IN_TIME: u8 = 1 << 6;
/// Repair the hash chain: every record's link and each segment header's `prev_crc`.
pub const FIX_LINKS: u8 = 1 << 7;

/// A journal directory: segment images by first seq (their file names), and the metadata file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Image {
    pub flags: u8,
    pub segments: BTreeMap<u64, Vec<u8>>,
    pub meta: Option<Vec<u8>>,
}

/// Word by word: byte comparisons are instrumented one by one, and segments are 128 KiB.
fn is_zero(bytes: &[u8]) -> bool {
    let (words, rest) = bytes.as_chunks::<8>();
    words.iter().all(|w| u64::from_ne_bytes(*w) == 0) && rest.iter().all(|&b| b == 0)
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
pub fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// `crc = CRC32C(bytes[8 .. record_size] ++ bytes[4 .. 8])`, straight from the format document.
pub fn record_crc(record: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&record[8..]), &record[4..8])
}

pub fn record_size(body_len: usize) -> usize {
    (RECORD_HEADER_SIZE + body_len + 7) & !7
}

/// A segment header with its CRC.
pub fn segment_header(index: u64, first_seq: u64, prev_crc: u32, size: u64) -> [u8; 64] {
    let mut h = [0u8; 64];
    h[..8].copy_from_slice(SEGMENT_MAGIC);
    put_u16(&mut h, 8, 1);
    put_u32(&mut h, 12, prev_crc);
    put_u64(&mut h, 16, index);
    put_u64(&mut h, 24, first_seq);
    put_u64(&mut h, 32, size);
    let crc = crc32c::crc32c(&h[..60]);
    put_u32(&mut h, 60, crc);
    h
}

/// Encodes a record at the start of `dst` (at least `record_size(body.len())` bytes); returns
/// its CRC.
pub fn encode_record(
    dst: &mut [u8],
    seq: u64,
    timestamp_ns: u64,
    prev_crc: u32,
    body: &[u8],
) -> u32 {
    let size = record_size(body.len());
    let r = &mut dst[..size];
    r.fill(0);
    put_u32(r, 4, prev_crc);
    put_u32(r, 8, body.len() as u32);
    put_u16(r, 12, 1);
    put_u64(r, 16, seq);
    put_u64(r, 24, timestamp_ns);
    r[32..32 + body.len()].copy_from_slice(body);
    let crc = record_crc(r);
    put_u32(r, 0, crc);
    crc
}

/// A metadata file with a valid header, `committed_seq` and the given checkpoint slots
/// `(generation, seq, segment_first_seq, record_offset, record_crc)`.
pub fn meta_file(committed: u64, slots: &[(u64, u64, u64, u64, u32)]) -> Vec<u8> {
    let mut m = vec![0u8; META_SIZE];
    m[..8].copy_from_slice(META_MAGIC);
    put_u16(&mut m, 8, 1);
    let crc = crc32c::crc32c(&m[..60]);
    put_u32(&mut m, 60, crc);
    put_u64(&mut m, 64, committed);
    put_u64(&mut m, 72, committed);
    for &(generation, seq, segment, offset, record_crc) in slots {
        let at = CHECKPOINT_OFFSETS[(generation % 2) as usize];
        put_u64(&mut m, at, generation);
        put_u64(&mut m, at + 8, seq);
        put_u64(&mut m, at + 16, segment);
        put_u64(&mut m, at + 24, offset);
        put_u32(&mut m, at + 32, record_crc);
        let crc = crc32c::crc32c(&m[at..at + 60]);
        put_u32(&mut m, at + 60, crc);
    }
    m
}

impl Image {
    /// Decodes fuzz input (see the module documentation) and applies the repairs its flags ask.
    pub fn from_fuzz(data: &[u8]) -> Image {
        let Some((&flags, mut rest)) = data.split_first() else {
            return Image::default();
        };
        let mut image = Image {
            flags,
            ..Image::default()
        };
        let count = 1 + usize::from((flags >> SEGMENTS_SHIFT) & 3);
        for i in 0..count {
            if rest.len() < 2 {
                break;
            }
            let len = usize::from(u16_at(rest, 0)) % (rest.len() - 1);
            let mut bytes = rest[2..2 + len].to_vec();
            rest = &rest[2 + len..];
            bytes.resize(bytes.len().max(SEGMENT_SIZE_MIN), 0);
            let name = if bytes.len() >= 32 {
                u64_at(&bytes, 24)
            } else {
                i as u64 + 1
            };
            image.segments.entry(name).or_insert(bytes);
        }
        if flags & WITH_META != 0 {
            let mut meta = rest[..rest.len().min(META_SIZE)].to_vec();
            meta.resize(META_SIZE, 0);
            image.meta = Some(meta);
        }
        image.repair();
        image
    }

    /// The input `from_fuzz` decodes back to this image (for seeds; every segment's bytes up
    /// to its last non-zero one must be fewer than 64 KiB).
    pub fn to_fuzz(&self) -> Vec<u8> {
        assert!((1..=4).contains(&self.segments.len()));
        let mut out = vec![
            self.flags & !(3 << SEGMENTS_SHIFT)
                | ((self.segments.len() - 1) as u8) << SEGMENTS_SHIFT,
        ];
        for bytes in self.segments.values() {
            let used = bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            out.extend_from_slice(&(used as u16).to_le_bytes());
            out.extend_from_slice(&bytes[..used]);
        }
        if let Some(meta) = &self.meta {
            let used = meta.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
            out.extend_from_slice(&meta[..used]);
        }
        out
    }

    fn repair(&mut self) {
        let mut last_crc = None;
        for bytes in self.segments.values_mut() {
            if bytes.len() < SEGMENT_HEADER_SIZE {
                continue;
            }
            if self.flags & FIX_LINKS != 0 {
                if let Some(crc) = last_crc {
                    put_u32(bytes, 12, crc);
                }
            }
            if self.flags & FIX_SEGMENT_HEADERS != 0 {
                bytes[..8].copy_from_slice(SEGMENT_MAGIC);
                put_u16(bytes, 8, 1);
                put_u16(bytes, 10, 0);
                let len = bytes.len() as u64;
                put_u64(bytes, 32, len);
                bytes[40..60].fill(0);
                let crc = crc32c::crc32c(&bytes[..60]);
                put_u32(bytes, 60, crc);
            }
            let mut link = u32_at(bytes, 12);
            if self.flags & (FIX_RECORD_CRCS | FIX_LINKS) != 0 {
                let mut at = SEGMENT_HEADER_SIZE;
                while at + RECORD_HEADER_SIZE <= bytes.len() {
                    if bytes[at..at + RECORD_HEADER_SIZE].iter().all(|&b| b == 0) {
                        break;
                    }
                    let body_len = u32_at(bytes, at + 8) as usize;
                    let size = record_size(body_len);
                    if body_len > BODY_SIZE_MAX || at + size > bytes.len() {
                        break;
                    }
                    if self.flags & FIX_LINKS != 0 {
                        put_u32(bytes, at + 4, link);
                    }
                    if self.flags & FIX_RECORD_CRCS != 0 {
                        let crc = record_crc(&bytes[at..at + size]);
                        put_u32(bytes, at, crc);
                    }
                    link = u32_at(bytes, at);
                    at += size;
                }
            }
            last_crc = Some(link);
        }
        if let Some(meta) = self.meta.as_mut().filter(|_| self.flags & FIX_META != 0) {
            meta[..8].copy_from_slice(META_MAGIC);
            put_u16(meta, 8, 1);
            meta[10..60].fill(0);
            let crc = crc32c::crc32c(&meta[..60]);
            put_u32(meta, 60, crc);
            for at in CHECKPOINT_OFFSETS {
                meta[at + 36..at + 60].fill(0);
                let crc = crc32c::crc32c(&meta[at..at + 60]);
                put_u32(meta, at + 60, crc);
            }
        }
    }
}

/// A record as the naive reader found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub segment: u64,
    pub offset: usize,
    pub seq: u64,
    pub timestamp_ns: u64,
    pub kind: u16,
    pub body: Vec<u8>,
    pub crc: u32,
}

/// Where the naive reader stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every segment's data ended cleanly and no segment file follows.
    Clean,
    /// The first invalid position: its segment (first seq), byte offset, and the seq expected.
    Invalid {
        segment: u64,
        offset: usize,
        seq: u64,
    },
}

/// The valid prefix of the journal read from the first segment on, and where it stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walk {
    pub records: Vec<Record>,
    pub end: End,
    /// The seq before the first record (the first segment's `first_seq - 1`).
    pub start_seq: u64,
}

impl Walk {
    /// The last valid seq.
    pub fn last_seq(&self) -> u64 {
        self.records.last().map_or(self.start_seq, |r| r.seq)
    }
}

fn header_ok(bytes: &[u8], name: u64) -> Option<(u64, u32)> {
    if bytes.len() < SEGMENT_HEADER_SIZE
        || &bytes[..8] != SEGMENT_MAGIC
        || crc32c::crc32c(&bytes[..60]) != u32_at(bytes, 60)
        || u16_at(bytes, 8) != 1
        || u16_at(bytes, 10) != 0
        || bytes[40..60].iter().any(|&b| b != 0)
        || u64_at(bytes, 32) != bytes.len() as u64
        || u64_at(bytes, 24) != name
        || name == 0
        || u64_at(bytes, 16) == u64::MAX
    {
        return None;
    }
    Some((u64_at(bytes, 16), u32_at(bytes, 12)))
}

/// The record at `at` if it is valid on its own (fits, CRC, reserved zero), whatever its seq and
/// link; `Err(())` for an invalid one, `Ok(None)` at the end of the data.
pub fn record_at(bytes: &[u8], segment: u64, at: usize) -> Result<Option<Record>, ()> {
    if at + RECORD_HEADER_SIZE > bytes.len() {
        return Ok(None);
    }
    if bytes[at..at + RECORD_HEADER_SIZE].iter().all(|&b| b == 0) {
        return Ok(None);
    }
    let body_len = u32_at(bytes, at + 8) as usize;
    let size = record_size(body_len);
    if body_len > BODY_SIZE_MAX || at + size > bytes.len() {
        return Err(());
    }
    let record = &bytes[at..at + size];
    if record_crc(record) != u32_at(record, 0) || u16_at(record, 14) != 0 {
        return Err(());
    }
    Ok(Some(Record {
        segment,
        offset: at,
        seq: u64_at(record, 16),
        timestamp_ns: u64_at(record, 24),
        kind: u16_at(record, 12),
        body: record[32..32 + body_len].to_vec(),
        crc: u32_at(record, 0),
    }))
}

/// Reads the journal from its first segment file, verifying everything the format document
/// says a reader verifies, up to the first invalid position.
pub fn walk(segments: &BTreeMap<u64, Vec<u8>>) -> Walk {
    let mut records = Vec::new();
    let Some(&first) = segments.keys().next() else {
        return Walk {
            records,
            end: End::Clean,
            start_seq: 0,
        };
    };
    let start_seq = first.saturating_sub(1);
    let mut last: (u64, u32) = (start_seq, 0);
    let mut previous_index: Option<u64> = None;
    for (&name, bytes) in segments {
        let invalid = |seq| End::Invalid {
            segment: name,
            offset: 0,
            seq,
        };
        if previous_index.is_some() && name != last.0.wrapping_add(1) {
            return Walk {
                records,
                end: invalid(last.0.wrapping_add(1)),
                start_seq,
            };
        }
        let Some((index, prev_crc)) = header_ok(bytes, name) else {
            return Walk {
                records,
                end: invalid(last.0.wrapping_add(1)),
                start_seq,
            };
        };
        let continues = match previous_index {
            None => name != 1 || (index == 0 && prev_crc == 0),
            Some(previous) => index == previous.wrapping_add(1) && prev_crc == last.1,
        };
        if !continues {
            return Walk {
                records,
                end: invalid(last.0.wrapping_add(1)),
                start_seq,
            };
        }
        if previous_index.is_none() {
            last.1 = prev_crc;
        }
        previous_index = Some(index);
        let mut at = SEGMENT_HEADER_SIZE;
        loop {
            let bad = End::Invalid {
                segment: name,
                offset: at,
                seq: last.0.wrapping_add(1),
            };
            match record_at(bytes, name, at) {
                Ok(None) => {
                    if !is_zero(&bytes[at.min(bytes.len())..]) {
                        return Walk {
                            records,
                            end: bad,
                            start_seq,
                        };
                    }
                    break;
                }
                Ok(Some(r))
                    if r.seq == last.0.wrapping_add(1)
                        && r.seq != u64::MAX
                        && u32_at(bytes, at + 4) == last.1 =>
                {
                    last = (r.seq, r.crc);
                    at += record_size(r.body.len());
                    records.push(r);
                }
                _ => {
                    return Walk {
                        records,
                        end: bad,
                        start_seq,
                    };
                }
            }
        }
    }
    Walk {
        records,
        end: End::Clean,
        start_seq,
    }
}

/// The torn-tail rule's evidence: a record valid on its own (CRC, shape) with a seq above
/// `after_seq`, at an 8-aligned offset after the invalid position, or in any later segment.
pub fn follower(
    segments: &BTreeMap<u64, Vec<u8>>,
    segment: u64,
    offset: usize,
    after_seq: u64,
) -> Option<Record> {
    for (&name, bytes) in segments.range(segment..) {
        let from = if name == segment {
            (offset + 8).max(SEGMENT_HEADER_SIZE).next_multiple_of(8)
        } else {
            SEGMENT_HEADER_SIZE
        };
        let mut at = from;
        while at + RECORD_HEADER_SIZE <= bytes.len() {
            if let Ok(Some(r)) = record_at(bytes, name, at) {
                if r.seq > after_seq {
                    return Some(r);
                }
            }
            at += 8;
        }
    }
    None
}
