//! Every `unsafe` operation of the journal, in one small module: mapping files, atomics that
//! live in mapped memory, and the SSE4.2 CRC kernels.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{Mmap, MmapMut, MmapOptions};

/// Maps `file` writable and shared.
pub(crate) fn map_mut(file: &File) -> io::Result<MmapMut> {
    // SAFETY: the journal's files are only ever written through the journal: segment and
    // metadata files are preallocated and never shortened while mapped, so the mapping cannot
    // fault on a truncated page. Concurrent readers in other processes only read bytes the
    // writer published with a Release store (see `store_release`).
    unsafe { MmapMut::map_mut(file) }
}

/// Maps `file` read-only and shared, with its pages mapped up front (`MAP_POPULATE`): one
/// call instead of a minor fault per 4 KiB page on first read.
pub(crate) fn map_read(file: &File) -> io::Result<Mmap> {
    // SAFETY: as for `map_mut`: files are never shortened while mapped. The bytes may change
    // under the map (a live writer appends), which is why readers only look at records at or
    // below the published `committed_seq`, which the writer finished before publishing.
    unsafe { MmapOptions::new().populate().map(file) }
}

fn atomic_at(base: *const u8, len: usize, offset: usize) -> *mut u64 {
    assert!(offset + 8 <= len, "atomic slot outside the mapping");
    let ptr = base.wrapping_add(offset);
    assert_eq!(ptr as usize % 8, 0, "atomic slot not 8-byte aligned");
    ptr.cast_mut().cast::<u64>()
}

/// Release-stores `value` at `offset` of a writable mapping.
#[inline]
pub(crate) fn store_release(map: &mut MmapMut, offset: usize, value: u64) {
    let ptr = atomic_at(map.as_ptr(), map.len(), offset);
    // SAFETY: `ptr` is in bounds and 8-byte aligned (checked above) and the mapping outlives
    // this call. Every access to this slot, in any process, is atomic.
    unsafe { AtomicU64::from_ptr(ptr) }.store(value, Ordering::Release);
}

/// Acquire-loads the `u64` at `offset` of a read-only mapping.
pub(crate) fn load_acquire(map: &Mmap, offset: usize) -> u64 {
    let ptr = atomic_at(map.as_ptr(), map.len(), offset);
    // SAFETY: in bounds and aligned (checked above), the mapping outlives this call, and the
    // only writer of this slot uses atomic stores. We only load.
    unsafe { AtomicU64::from_ptr(ptr) }.load(Ordering::Acquire)
}

#[cfg(target_arch = "x86_64")]
mod hw {
    use std::arch::x86_64::{_mm_crc32_u32, _mm_crc32_u64};

    use crate::scan::RecordInfo;

    #[inline]
    fn word(bytes: &[u8]) -> u64 {
        u64::from_le_bytes(bytes.try_into().expect("8-byte chunk"))
    }

    #[inline]
    fn link(record: &[u8]) -> u32 {
        u32::from_le_bytes(record[4..8].try_into().expect("4-byte link"))
    }

    #[inline]
    #[target_feature(enable = "sse4.2")]
    fn words(mut state: u64, bytes: &[u8]) -> u64 {
        for chunk in bytes.chunks_exact(8) {
            state = _mm_crc32_u64(state, word(chunk));
        }
        state
    }

    /// The low 32 bits: a CRC32 state after `_mm_crc32_u64` (the upper bits are zero).
    #[inline]
    #[allow(clippy::cast_possible_truncation)]
    fn low32(state: u64) -> u32 {
        state as u32
    }

    #[inline]
    #[target_feature(enable = "sse4.2")]
    fn finish(state: u64, record: &[u8]) -> u32 {
        !_mm_crc32_u32(low32(state), link(record))
    }

    #[inline]
    #[target_feature(enable = "sse4.2")]
    pub(super) fn record_crc(record: &[u8]) -> u32 {
        finish(words(0xffff_ffff, &record[8..]), record)
    }

    /// Copies `body` into `slots` (its length rounded up to 8 bytes) word by word, the last
    /// word zero-padded, feeding each word to the CRC `state`: evaluates to the new state. A
    /// macro so that it expands inside each SSE4.2 function.
    macro_rules! write_words {
        ($state:expr, $body:expr, $slots:expr) => {{
            let (mut state, body, slots): (u64, &[u8], &mut [u8]) = ($state, $body, $slots);
            let chunks = body.chunks_exact(8);
            let tail = chunks.remainder();
            let mut slots = slots.chunks_exact_mut(8);
            for (chunk, slot) in chunks.zip(&mut slots) {
                let word = word(chunk);
                state = _mm_crc32_u64(state, word);
                slot.copy_from_slice(&word.to_le_bytes());
            }
            if let Some(slot) = slots.next() {
                // The body's last bytes and the zero padding: exactly one word.
                let mut last = [0_u8; 8];
                last[..tail.len()].copy_from_slice(tail);
                state = _mm_crc32_u64(state, u64::from_le_bytes(last));
                slot.copy_from_slice(&last);
            }
            state
        }};
    }

    /// Writes a record's bytes `8..` (header words, body, zero padding) into `dst` and
    /// returns its CRC, in one pass: each word is loaded once, fed to the CRC and stored.
    #[target_feature(enable = "sse4.2")]
    pub(super) fn write_record(
        dst: &mut [u8],
        header: [u64; 3],
        body: &[u8],
        prev_crc: u32,
    ) -> u32 {
        let (head, rest) = dst.split_at_mut(32);
        let mut state = 0xffff_ffff_u64;
        for (slot, word) in head[8..].chunks_exact_mut(8).zip(header) {
            state = _mm_crc32_u64(state, word);
            slot.copy_from_slice(&word.to_le_bytes());
        }
        let state = write_words!(state, body, rest);
        !_mm_crc32_u32(low32(state), prev_crc)
    }

    /// The CRC states of four spans (each a whole number of words), interleaved: four
    /// independent chains of `crc32` instructions over the spans' common length, then each
    /// span's remaining words alone. A macro so that it expands inside each SSE4.2 function
    /// (a `#[target_feature]` helper is not reliably inlined).
    macro_rules! states4 {
        ($a:expr, $b:expr, $c:expr, $d:expr) => {{
            let (a, b, c, d): (&[u8], &[u8], &[u8], &[u8]) = ($a, $b, $c, $d);
            let common = a.len().min(b.len()).min(c.len()).min(d.len()) & !7;
            let mut state = [0xffff_ffff_u64; 4];
            let chunks = a.chunks_exact(8).zip(b.chunks_exact(8));
            let chunks = chunks.zip(c.chunks_exact(8)).zip(d.chunks_exact(8));
            for (((wa, wb), wc), wd) in chunks {
                state[0] = _mm_crc32_u64(state[0], word(wa));
                state[1] = _mm_crc32_u64(state[1], word(wb));
                state[2] = _mm_crc32_u64(state[2], word(wc));
                state[3] = _mm_crc32_u64(state[3], word(wd));
            }
            for (state, span) in state.iter_mut().zip([a, b, c, d]) {
                for chunk in span[common..].chunks_exact(8) {
                    *state = _mm_crc32_u64(*state, word(chunk));
                }
            }
            state
        }};
    }

    #[cfg(test)]
    #[target_feature(enable = "sse4.2")]
    pub(super) fn record_crc4(records: [&[u8]; 4]) -> [u32; 4] {
        let [a, b, c, d] = records;
        let state = states4!(&a[8..], &b[8..], &c[8..], &d[8..]);
        [
            finish(state[0], a),
            finish(state[1], b),
            finish(state[2], c),
            finish(state[3], d),
        ]
    }

    /// The index of the first record in `records` whose stored CRC differs from the CRC of
    /// its bytes in `segment`, computing four records' CRCs interleaved.
    #[target_feature(enable = "sse4.2")]
    pub(super) fn first_bad_crc(segment: &[u8], records: &[RecordInfo]) -> Option<usize> {
        let bytes = |info: &RecordInfo| &segment[info.offset..info.offset + info.size];
        let mut groups = records.chunks_exact(4);
        for (group_index, group) in (&mut groups).enumerate() {
            let size = group[0].size;
            let equal = group.iter().all(|info| info.size == size)
                && group[3].offset == group[0].offset + 3 * size;
            if equal {
                // The common case (records of one size, back to back): one bounds check,
                // no tails.
                let span = &segment[group[0].offset..group[0].offset + 4 * size];
                let (a, rest) = span.split_at(size);
                let (b, rest) = rest.split_at(size);
                let (c, d) = rest.split_at(size);
                let mut state = [0xffff_ffff_u64; 4];
                let chunks = a[8..].chunks_exact(8).zip(b[8..].chunks_exact(8));
                let chunks = chunks
                    .zip(c[8..].chunks_exact(8))
                    .zip(d[8..].chunks_exact(8));
                for (((wa, wb), wc), wd) in chunks {
                    state[0] = _mm_crc32_u64(state[0], word(wa));
                    state[1] = _mm_crc32_u64(state[1], word(wb));
                    state[2] = _mm_crc32_u64(state[2], word(wc));
                    state[3] = _mm_crc32_u64(state[3], word(wd));
                }
                let bad = (finish(state[0], a) != group[0].crc) as u8
                    | ((finish(state[1], b) != group[1].crc) as u8) << 1
                    | ((finish(state[2], c) != group[2].crc) as u8) << 2
                    | ((finish(state[3], d) != group[3].crc) as u8) << 3;
                if bad != 0 {
                    return Some(group_index * 4 + bad.trailing_zeros() as usize);
                }
                continue;
            }
            let [a, b, c, d] = [
                bytes(&group[0]),
                bytes(&group[1]),
                bytes(&group[2]),
                bytes(&group[3]),
            ];
            let state = states4!(&a[8..], &b[8..], &c[8..], &d[8..]);
            let good = [
                finish(state[0], a) == group[0].crc,
                finish(state[1], b) == group[1].crc,
                finish(state[2], c) == group[2].crc,
                finish(state[3], d) == group[3].crc,
            ];
            if good != [true; 4] {
                let bad = good.iter().position(|good| !good).unwrap_or(0);
                return Some(group_index * 4 + bad);
            }
        }
        let done = records.len() - groups.remainder().len();
        groups
            .remainder()
            .iter()
            .position(|info| record_crc(bytes(info)) != info.crc)
            .map(|i| done + i)
    }
}

#[inline]
fn sse42() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("sse4.2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The record CRC on the SSE4.2 path, or `None` when the CPU lacks it.
#[inline]
pub(crate) fn record_crc_hw(record: &[u8]) -> Option<u32> {
    if !sse42() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `sse42()` confirmed at run time that the CPU supports SSE4.2.
        Some(unsafe { hw::record_crc(record) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = record;
        None
    }
}

/// [`hw::write_record`] on the SSE4.2 path, or `None` (nothing written) when the CPU lacks it.
#[inline]
pub(crate) fn write_record_hw(
    dst: &mut [u8],
    header: [u64; 3],
    body: &[u8],
    prev_crc: u32,
) -> Option<u32> {
    if !sse42() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `sse42()` confirmed at run time that the CPU supports SSE4.2.
        Some(unsafe { hw::write_record(dst, header, body, prev_crc) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (dst, header, body, prev_crc);
        None
    }
}

/// Four record CRCs interleaved on the SSE4.2 path, or `None` when the CPU lacks it.
#[cfg(test)]
pub(crate) fn record_crc4_hw(records: [&[u8]; 4]) -> Option<[u32; 4]> {
    if !sse42() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `sse42()` confirmed at run time that the CPU supports SSE4.2.
        Some(unsafe { hw::record_crc4(records) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = records;
        None
    }
}

/// [`hw::first_bad_crc`] on the SSE4.2 path; the outer `None` when the CPU lacks it.
#[inline]
pub(crate) fn first_bad_crc_hw(
    segment: &[u8],
    records: &[crate::scan::RecordInfo],
) -> Option<Option<usize>> {
    if !sse42() {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `sse42()` confirmed at run time that the CPU supports SSE4.2.
        Some(unsafe { hw::first_bad_crc(segment, records) })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (segment, records);
        None
    }
}
