//! The on-disk codec: segment header, record header, metadata file. Fixed little-endian
//! layouts with `zerocopy`; sizes asserted at compile time. See `docs/journal-format.md`.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::crc;
use crate::limits::{SEGMENT_SIZE_BYTES_MAX, SEGMENT_SIZE_BYTES_MIN};

/// Current on-disk format version (segment header and metadata file).
pub(crate) const FORMAT_VERSION: u16 = 1;
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"LKSTSEG\0";
pub(crate) const META_MAGIC: [u8; 8] = *b"LKSTMETA";

/// Size of the record header in bytes; records start and end on 8-byte boundaries.
pub const RECORD_HEADER_SIZE: usize = 32;
/// Size of the segment header in bytes; the first record follows it.
pub const SEGMENT_HEADER_SIZE: usize = 64;
/// Name of the metadata file inside a journal directory.
pub const META_FILE_NAME: &str = "journal.meta";
/// Size of the metadata file: one page.
pub(crate) const META_SIZE: usize = 4096;
/// Offset of the published `committed_seq` (an `AtomicU64`, own cache line).
pub(crate) const META_COMMITTED_SEQ_OFFSET: usize = 64;
/// Offset of the published `durable_seq` (an `AtomicU64`).
pub(crate) const META_DURABLE_SEQ_OFFSET: usize = 72;
/// Offsets of the two checkpoint slots.
pub(crate) const META_CHECKPOINT_OFFSETS: [usize; 2] = [128, 192];
pub(crate) const CHECKPOINT_SIZE: usize = 64;

/// What a record holds. The journal is agnostic; `COMMAND` is the only kind used today.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordKind(pub u16);

impl RecordKind {
    /// A sequenced client command (the body is a `protocol::Command` encoding).
    pub const COMMAND: RecordKind = RecordKind(1);
}

/// The 32-byte record header. `crc` covers bytes `8..record_size` (header tail, body, zero
/// padding) and then the `prev_crc` link, in that order, so only the last CRC step of a record
/// depends on its predecessor.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct RecordHeader {
    pub(crate) crc: U32,
    pub(crate) prev_crc: U32,
    pub(crate) body_len: U32,
    pub(crate) kind: U16,
    pub(crate) reserved: U16,
    pub(crate) seq: U64,
    pub(crate) timestamp_ns: U64,
}
const _: () = assert!(size_of::<RecordHeader>() == RECORD_HEADER_SIZE);

/// The 64-byte segment header; `crc` covers bytes `0..60`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct SegmentHeader {
    pub(crate) magic: [u8; 8],
    pub(crate) version: U16,
    pub(crate) reserved0: U16,
    pub(crate) prev_crc: U32,
    pub(crate) segment_index: U64,
    pub(crate) first_seq: U64,
    pub(crate) segment_size_bytes: U64,
    pub(crate) reserved1: [u8; 20],
    pub(crate) crc: U32,
}
const _: () = assert!(size_of::<SegmentHeader>() == SEGMENT_HEADER_SIZE);

/// The 64-byte header at the start of the metadata file; `crc` covers bytes `0..60`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct MetaHeader {
    pub(crate) magic: [u8; 8],
    pub(crate) version: U16,
    pub(crate) reserved0: [u8; 50],
    pub(crate) crc: U32,
}
const _: () = assert!(size_of::<MetaHeader>() == 64);

/// A durable checkpoint: the last record known synced, by position. `crc` covers bytes `0..60`.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub(crate) struct CheckpointSlot {
    pub(crate) generation: U64,
    pub(crate) seq: U64,
    pub(crate) segment_first_seq: U64,
    pub(crate) record_offset: U64,
    pub(crate) record_crc: U32,
    pub(crate) reserved: [u8; 24],
    pub(crate) crc: U32,
}
const _: () = assert!(size_of::<CheckpointSlot>() == CHECKPOINT_SIZE);
const _: () = assert!(META_CHECKPOINT_OFFSETS[1] + CHECKPOINT_SIZE <= META_SIZE);
const _: () = assert!(META_DURABLE_SEQ_OFFSET + 8 <= META_CHECKPOINT_OFFSETS[0]);

/// Whether every byte is zero, compared a word at a time: recovery, `verify` and readers check
/// that a segment's tail after its data is zero, up to the whole preallocated segment.
#[inline]
pub(crate) fn is_zero(bytes: &[u8]) -> bool {
    let (words, rest) = bytes.as_chunks::<8>();
    words.iter().all(|word| u64::from_ne_bytes(*word) == 0) && rest.iter().all(|&b| b == 0)
}

/// Bytes a record with a body of `body_len` bytes occupies: header + body, rounded up to 8.
pub const fn record_size(body_len: usize) -> usize {
    (RECORD_HEADER_SIZE + body_len + 7) & !7
}

/// File name of the segment whose first record is `first_seq`.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}.seg")
}

/// Parses a segment file name back into its first sequence number.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The fields of a record the writer supplies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordFields {
    pub(crate) seq: u64,
    pub(crate) timestamp_ns: u64,
    pub(crate) kind: RecordKind,
    pub(crate) prev_crc: u32,
}

/// Encodes a record into `dst` (exactly `record_size(body.len())` bytes) and returns its CRC.
/// Every word is computed or loaded once, fed to the CRC and stored, so nothing is read back
/// from the mapping.
#[inline]
pub(crate) fn encode_record(dst: &mut [u8], fields: RecordFields, body: &[u8]) -> u32 {
    assert_eq!(dst.len(), record_size(body.len()));
    let body_len = u32::try_from(body.len()).expect("body length checked against BODY_SIZE_MAX");
    // Bytes 8..32: body_len u32 | kind u16 | reserved u16, seq u64, timestamp_ns u64.
    let words = [
        u64::from(body_len) | u64::from(fields.kind.0) << 32,
        fields.seq,
        fields.timestamp_ns,
    ];
    let crc = crc::write_record(dst, words, body, fields.prev_crc);
    encode_record_link(dst, crc, fields.prev_crc);
    crc
}

/// Stores a record's CRC and link (bytes `0..8`).
#[inline]
pub(crate) fn encode_record_link(dst: &mut [u8], crc: u32, prev_crc: u32) {
    dst[0..8].copy_from_slice(&(u64::from(crc) | u64::from(prev_crc) << 32).to_le_bytes());
}

/// Reads the record header at the start of `bytes` (which must hold at least 32 bytes).
#[inline]
pub(crate) fn record_header(bytes: &[u8]) -> &RecordHeader {
    let (header, _) = RecordHeader::ref_from_prefix(bytes).expect("caller checked the length");
    header
}

/// Builds a segment header with its CRC.
pub(crate) fn segment_header(
    segment_index: u64,
    first_seq: u64,
    prev_crc: u32,
    segment_size_bytes: u64,
) -> SegmentHeader {
    let mut header = SegmentHeader {
        magic: SEGMENT_MAGIC,
        version: U16::new(FORMAT_VERSION),
        reserved0: U16::ZERO,
        prev_crc: U32::new(prev_crc),
        segment_index: U64::new(segment_index),
        first_seq: U64::new(first_seq),
        segment_size_bytes: U64::new(segment_size_bytes),
        reserved1: [0; 20],
        crc: U32::ZERO,
    };
    header.crc = U32::new(crc32c::crc32c(&header.as_bytes()[..60]));
    header
}

/// Parses and checks a segment header: magic, version, CRC, reserved bytes and size.
pub(crate) fn parse_segment_header(bytes: &[u8]) -> Result<SegmentHeader, &'static str> {
    let Ok((header, _)) = SegmentHeader::read_from_prefix(bytes) else {
        return Err("file shorter than a segment header");
    };
    if header.magic != SEGMENT_MAGIC {
        return Err("bad magic");
    }
    if crc32c::crc32c(&header.as_bytes()[..60]) != header.crc.get() {
        return Err("header CRC mismatch");
    }
    if header.version.get() != FORMAT_VERSION {
        return Err("unsupported format version");
    }
    if header.reserved0.get() != 0 || header.reserved1 != [0; 20] {
        return Err("reserved bytes not zero");
    }
    if header.segment_size_bytes.get() != bytes.len() as u64 {
        return Err("file length differs from the size in the header");
    }
    // The writer only makes segments of a valid `Config`: one that holds the largest record.
    // A smaller one (a crafted file, not a torn one: its header and length agree) would take a
    // writer that recovered it into a roll onto its own file name.
    let size = header.segment_size_bytes.get();
    if !(SEGMENT_SIZE_BYTES_MIN..=SEGMENT_SIZE_BYTES_MAX).contains(&size) || !size.is_multiple_of(8)
    {
        return Err("segment size out of range");
    }
    Ok(header)
}

/// Builds the metadata file header.
pub(crate) fn meta_header() -> MetaHeader {
    let mut header = MetaHeader {
        magic: META_MAGIC,
        version: U16::new(FORMAT_VERSION),
        reserved0: [0; 50],
        crc: U32::ZERO,
    };
    header.crc = U32::new(crc32c::crc32c(&header.as_bytes()[..60]));
    header
}

/// Checks the metadata file header.
pub(crate) fn meta_header_valid(bytes: &[u8]) -> bool {
    let Ok((header, _)) = MetaHeader::read_from_prefix(bytes) else {
        return false;
    };
    bytes.len() == META_SIZE
        && header.magic == META_MAGIC
        && header.version.get() == FORMAT_VERSION
        && header.reserved0 == [0; 50]
        && crc32c::crc32c(&header.as_bytes()[..60]) == header.crc.get()
}

/// A decoded checkpoint: the last durable record and where it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    pub(crate) generation: u64,
    pub(crate) seq: u64,
    pub(crate) segment_first_seq: u64,
    pub(crate) record_offset: u64,
    pub(crate) record_crc: u32,
}

pub(crate) fn encode_checkpoint(checkpoint: &Checkpoint) -> CheckpointSlot {
    let mut slot = CheckpointSlot {
        generation: U64::new(checkpoint.generation),
        seq: U64::new(checkpoint.seq),
        segment_first_seq: U64::new(checkpoint.segment_first_seq),
        record_offset: U64::new(checkpoint.record_offset),
        record_crc: U32::new(checkpoint.record_crc),
        reserved: [0; 24],
        crc: U32::ZERO,
    };
    slot.crc = U32::new(crc32c::crc32c(&slot.as_bytes()[..60]));
    slot
}

/// The newest valid checkpoint of the two slots, if any.
pub(crate) fn best_checkpoint(meta: &[u8]) -> Option<Checkpoint> {
    META_CHECKPOINT_OFFSETS
        .iter()
        .filter_map(|&offset| {
            let bytes = meta.get(offset..offset + CHECKPOINT_SIZE)?;
            let slot = CheckpointSlot::read_from_bytes(bytes).ok()?;
            let valid = slot.generation.get() > 0
                && slot.reserved == [0; 24]
                && crc32c::crc32c(&slot.as_bytes()[..60]) == slot.crc.get();
            valid.then_some(Checkpoint {
                generation: slot.generation.get(),
                seq: slot.seq.get(),
                segment_first_seq: slot.segment_first_seq.get(),
                record_offset: slot.record_offset.get(),
                record_crc: slot.record_crc.get(),
            })
        })
        .max_by_key(|checkpoint| checkpoint.generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_zero_sees_any_non_zero_byte() {
        assert!(is_zero(&[]) && is_zero(&[0; 21]));
        for at in 0..21 {
            let mut bytes = [0_u8; 21];
            bytes[at] = 0x80;
            assert!(!is_zero(&bytes), "byte {at}");
            assert!(!is_zero(&bytes[at..]), "from {at}");
        }
    }

    #[test]
    fn record_size_rounds_to_eight() {
        assert_eq!(record_size(0), 32);
        assert_eq!(record_size(1), 40);
        assert_eq!(record_size(8), 40);
        assert_eq!(record_size(64), 96);
    }

    #[test]
    fn encoding_matches_the_header_layout_and_reference_crc() {
        for body_len in [0, 1, 7, 8, 9, 64, 300] {
            let body: Vec<u8> = (0..body_len)
                .map(|i| u8::try_from(i % 200).expect("< 200"))
                .collect();
            let mut dst = vec![0xff; record_size(body_len)];
            let fields = RecordFields {
                seq: 0x0102_0304_0506_0708,
                timestamp_ns: 99,
                kind: RecordKind(0x0a0b),
                prev_crc: 0xfeed_f00d,
            };
            let crc = encode_record(&mut dst, fields, &body);
            assert_eq!(crc, crc::reference_record_crc(&dst));
            let header = record_header(&dst);
            assert_eq!(header.crc.get(), crc);
            assert_eq!(header.prev_crc.get(), 0xfeed_f00d);
            assert_eq!(header.body_len.get() as usize, body_len);
            assert_eq!((header.kind.get(), header.reserved.get()), (0x0a0b, 0));
            assert_eq!(
                (header.seq.get(), header.timestamp_ns.get()),
                (fields.seq, 99)
            );
            assert_eq!(&dst[32..32 + body_len], &body[..]);
            assert!(
                dst[32 + body_len..].iter().all(|&b| b == 0),
                "padding zeroed"
            );
        }
    }

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(segment_file_name(42), "00000000000000000042.seg");
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.seg"), None);
        assert_eq!(parse_segment_file_name(META_FILE_NAME), None);
    }

    #[test]
    fn segment_header_round_trips_and_rejects_flips() {
        let size = SEGMENT_SIZE_BYTES_MIN;
        let mut bytes = vec![0_u8; usize::try_from(size).expect("small")];
        bytes[..64].copy_from_slice(segment_header(3, 77, 0xdead_beef, size).as_bytes());
        let header = parse_segment_header(&bytes).expect("valid header");
        assert_eq!(
            (header.segment_index.get(), header.first_seq.get()),
            (3, 77)
        );
        assert_eq!(header.prev_crc.get(), 0xdead_beef);
        for bit in 0..64 * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(
                parse_segment_header(&flipped).is_err(),
                "bit {bit} flip not detected"
            );
        }
        assert!(parse_segment_header(&bytes[..2048]).is_err());
    }

    /// Found by the `journal_recovery` fuzz target: a 4 KiB segment whose header agreed with
    /// its length was accepted, and the writer that recovered it failed its first append by
    /// rolling onto the same file name.
    #[test]
    fn segment_sizes_outside_the_config_range_are_refused() {
        for size in [4096, SEGMENT_SIZE_BYTES_MIN - 8, SEGMENT_SIZE_BYTES_MIN + 4] {
            let mut bytes = vec![0_u8; usize::try_from(size).expect("small")];
            bytes[..64].copy_from_slice(segment_header(0, 1, 0, size).as_bytes());
            assert_eq!(
                parse_segment_header(&bytes).map(|_| ()),
                Err("segment size out of range"),
                "size {size}"
            );
        }
    }

    #[test]
    fn newest_valid_checkpoint_wins() {
        let mut meta = vec![0_u8; META_SIZE];
        assert_eq!(best_checkpoint(&meta), None);
        let old = Checkpoint {
            generation: 1,
            seq: 10,
            segment_first_seq: 1,
            record_offset: 640,
            record_crc: 7,
        };
        let new = Checkpoint {
            generation: 2,
            seq: 20,
            ..old
        };
        let [slot0, slot1] = META_CHECKPOINT_OFFSETS;
        meta[slot0..slot0 + 64].copy_from_slice(encode_checkpoint(&old).as_bytes());
        meta[slot1..slot1 + 64].copy_from_slice(encode_checkpoint(&new).as_bytes());
        assert_eq!(best_checkpoint(&meta), Some(new));
        meta[slot1 + 9] ^= 0x10;
        assert_eq!(best_checkpoint(&meta), Some(old));
    }
}
