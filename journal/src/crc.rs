//! Record checksums.
//!
//! A record's CRC32C covers bytes `8..record_size` (the header after the two CRC fields, the
//! body and the zero padding) followed by the 4-byte `prev_crc` link. The covered span is a
//! whole number of 8-byte words, so the hardware path is a plain word loop; the link goes
//! last so consecutive records' CRCs share only one dependent step and overlap in the CPU.
//! The reference definition (used when SSE4.2 is missing, and by the tests) is
//! `crc32c_append(crc32c(&record[8..]), &record[4..8])`.

use crate::scan::RecordInfo;
use crate::sys;

/// The CRC of one encoded record (`record.len()` is a multiple of 8, at least 32).
#[inline]
pub(crate) fn record_crc(record: &[u8]) -> u32 {
    debug_assert!(record.len() >= 32 && record.len().is_multiple_of(8));
    sys::record_crc_hw(record).unwrap_or_else(|| reference_record_crc(record))
}

/// Writes bytes `8..` of a record (header words, body, zero padding) into `dst`, exactly
/// `record_size(body.len())` bytes, and returns the record's CRC: in one pass over the words
/// on the SSE4.2 path, so nothing is read back from the mapping.
#[inline]
pub(crate) fn write_record(dst: &mut [u8], header: [u64; 3], body: &[u8], prev_crc: u32) -> u32 {
    match sys::write_record_hw(dst, header, body, prev_crc) {
        Some(crc) => crc,
        None => write_record_portable(dst, header, body, prev_crc),
    }
}

/// [`write_record`] without SSE4.2.
fn write_record_portable(dst: &mut [u8], header: [u64; 3], body: &[u8], prev_crc: u32) -> u32 {
    for (slot, word) in dst[8..32].chunks_exact_mut(8).zip(header) {
        slot.copy_from_slice(&word.to_le_bytes());
    }
    let (body_dst, padding) = dst[32..].split_at_mut(body.len());
    body_dst.copy_from_slice(body);
    padding.fill(0);
    dst[4..8].copy_from_slice(&prev_crc.to_le_bytes());
    reference_record_crc(dst)
}

/// The CRCs of four encoded records, computed interleaved where the CPU allows.
#[cfg(test)]
pub(crate) fn record_crc4(records: [&[u8]; 4]) -> [u32; 4] {
    sys::record_crc4_hw(records).unwrap_or_else(|| records.map(reference_record_crc))
}

/// The index of the first of `records` (consecutive records of `segment`, shape already
/// checked) whose stored CRC is not the CRC of its bytes; CRCs are computed four at a time,
/// interleaved, where the CPU allows.
#[inline]
pub(crate) fn first_bad_crc(segment: &[u8], records: &[RecordInfo]) -> Option<usize> {
    sys::first_bad_crc_hw(segment, records).unwrap_or_else(|| {
        records.iter().position(|info| {
            reference_record_crc(&segment[info.offset..info.offset + info.size]) != info.crc
        })
    })
}

/// The portable definition, via the `crc32c` crate.
pub(crate) fn reference_record_crc(record: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&record[8..]), &record[4..8])
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::format::RecordKind;

    fn record(len: usize, fill: u8) -> Vec<u8> {
        let mut byte = fill;
        (0..len)
            .map(|_| {
                byte = byte.wrapping_mul(31).wrapping_add(fill);
                byte
            })
            .collect()
    }

    #[test]
    fn hardware_matches_reference() {
        for len in (32..=512).step_by(8) {
            let bytes = record(len, 3);
            assert_eq!(
                record_crc(&bytes),
                reference_record_crc(&bytes),
                "len {len}"
            );
        }
    }

    #[test]
    fn written_records_carry_the_reference_crc_for_every_body_length() {
        let header: [u64; 3] = [0x0001_0000_0000_0040, 77, 123_456];
        for body_len in 0..200 {
            let body = record(body_len, 9);
            let mut written = vec![0xee_u8; (32 + body_len + 7) & !7];
            let crc = write_record(&mut written, header, &body, 0xabcd_ef01);
            written[4..8].copy_from_slice(&0xabcd_ef01_u32.to_le_bytes());
            assert_eq!(crc, reference_record_crc(&written), "len {body_len}");
            assert_eq!(&written[32..32 + body_len], &body[..]);
            assert!(
                written[32 + body_len..].iter().all(|&b| b == 0),
                "padding, len {body_len}"
            );
        }
    }

    #[test]
    fn batch_matches_single() {
        let records = [
            record(32, 1),
            record(96, 2),
            record(200, 3),
            record(1024, 4),
        ];
        let refs = [
            &records[0][..],
            &records[1][..],
            &records[2][..],
            &records[3][..],
        ];
        assert_eq!(record_crc4(refs), refs.map(reference_record_crc));
    }

    proptest! {
        /// The interleaved kernels agree with the sequential reference for any record
        /// lengths, any alignment of the buffer and random bytes, and name exactly the first
        /// record whose stored CRC is wrong.
        #[test]
        fn interleaved_crcs_equal_sequential_crcs(
            words in proptest::collection::vec(0_usize..40, 0..14),
            align in 0_usize..8,
            seed in any::<u64>(),
            corrupt in proptest::option::of((any::<prop::sample::Index>(), 0_u32..32)),
        ) {
            let sizes: Vec<usize> = words.iter().map(|w| 32 + 8 * w).collect();
            let total = align + sizes.iter().sum::<usize>();
            let mut state = seed;
            let segment: Vec<u8> = (0..total)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    (state >> 56) as u8
                })
                .collect();
            let mut infos = Vec::new();
            let mut offset = align;
            for &size in &sizes {
                let bytes = &segment[offset..offset + size];
                let crc = reference_record_crc(bytes);
                prop_assert_eq!(record_crc(bytes), crc);
                infos.push(RecordInfo {
                    offset,
                    size,
                    seq: 1,
                    timestamp_ns: 0,
                    kind: RecordKind(0),
                    body_len: size - 32,
                    crc,
                });
                offset += size;
            }
            prop_assert_eq!(first_bad_crc(&segment, &infos), None);
            if infos.len() >= 4 {
                let bytes = |i: usize| &segment[infos[i].offset..infos[i].offset + infos[i].size];
                let crcs = record_crc4([bytes(0), bytes(1), bytes(2), bytes(3)]);
                prop_assert_eq!(crcs, [0, 1, 2, 3].map(|i| infos[i].crc));
            }
            if let (Some((index, bit)), false) = (corrupt, infos.is_empty()) {
                let bad = index.index(infos.len());
                infos[bad].crc ^= 1 << bit;
                prop_assert_eq!(first_bad_crc(&segment, &infos), Some(bad));
                if bad + 1 < infos.len() {
                    infos[bad + 1].crc ^= 1;
                    prop_assert_eq!(first_bad_crc(&segment, &infos), Some(bad));
                }
            }
        }
    }
}
