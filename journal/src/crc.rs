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
}
