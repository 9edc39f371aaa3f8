//! Record checksums.
//!
//! A record's CRC32C covers bytes `8..record_size` (the header after the two CRC fields, the
//! body and the zero padding) followed by the 4-byte `prev_crc` link. The covered span is a
//! whole number of 8-byte words, so the hardware path is a plain word loop; the link goes
//! last so consecutive records' CRCs share only one dependent step and overlap in the CPU.
//! The reference definition (used when SSE4.2 is missing, and by the tests) is
//! `crc32c_append(crc32c(&record[8..]), &record[4..8])`.

use crate::sys;

/// The CRC of one encoded record (`record.len()` is a multiple of 8, at least 32).
#[inline]
pub(crate) fn record_crc(record: &[u8]) -> u32 {
    debug_assert!(record.len() >= 32 && record.len().is_multiple_of(8));
    sys::record_crc_hw(record).unwrap_or_else(|| reference_record_crc(record))
}

/// The CRC of the record being encoded, from its parts: the header words at bytes 8..32,
/// the body (zero-padded to 8 bytes) and the link. Equal to `record_crc` of the encoding;
/// computed from registers so the writer never reads back what it just stored.
#[inline]
pub(crate) fn record_crc_parts(header: [u64; 3], body: &[u8], prev_crc: u32) -> u32 {
    sys::record_crc_parts_hw(header, body, prev_crc).unwrap_or_else(|| {
        let mut crc = 0;
        for word in header {
            crc = crc32c::crc32c_append(crc, &word.to_le_bytes());
        }
        crc = crc32c::crc32c_append(crc, body);
        let padding = [0_u8; 8];
        crc = crc32c::crc32c_append(crc, &padding[..(8 - body.len() % 8) % 8]);
        crc32c::crc32c_append(crc, &prev_crc.to_le_bytes())
    })
}

/// The CRCs of four encoded records, computed interleaved where the CPU allows.
#[inline]
pub(crate) fn record_crc4(records: [&[u8]; 4]) -> [u32; 4] {
    sys::record_crc4_hw(records).unwrap_or_else(|| records.map(reference_record_crc))
}

/// The portable definition, via the `crc32c` crate.
pub(crate) fn reference_record_crc(record: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&record[8..]), &record[4..8])
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn parts_match_the_encoded_record_for_every_body_length() {
        let header: [u64; 3] = [0x0001_0000_0000_0040, 77, 123_456];
        for body_len in 0..200 {
            let body = record(body_len, 9);
            let size = (32 + body_len + 7) & !7;
            let mut encoded = vec![0_u8; size];
            encoded[4..8].copy_from_slice(&0xabcd_ef01_u32.to_le_bytes());
            for (slot, word) in encoded[8..32].chunks_exact_mut(8).zip(header) {
                slot.copy_from_slice(&word.to_le_bytes());
            }
            encoded[32..32 + body_len].copy_from_slice(&body);
            let expected = reference_record_crc(&encoded);
            assert_eq!(
                record_crc_parts(header, &body, 0xabcd_ef01),
                expected,
                "len {body_len}"
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
}
