//! A small, fast, deterministic 128-bit hash for state fingerprints (not cryptographic).

/// A 128-bit fingerprint of the engine's state: equal states have equal hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StateHash(pub u128);

impl std::fmt::Display for StateHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const MUL: u64 = 0xd6e8_feb8_6659_fd93;

/// Per-position offsets, so equal words in different positions hash differently.
const KEYS: [u64; 16] = {
    let mut keys = [0u64; 16];
    let mut i = 0;
    while i < 16 {
        keys[i] = mix64(K0.wrapping_mul(i as u64 + 1));
        i += 1;
    }
    keys
};

/// Each word, offset by a per-position key, is multiplied into 128 bits by an odd constant (an
/// injective step); the halves are summed in two lanes. The products don't depend on each other,
/// so a record of a dozen words hashes in a few cycles per word; the finish mixes the lanes
/// non-linearly, which matters because records are combined by addition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hasher128 {
    lo: u64,
    hi: u64,
    n: u64,
    domain: u64,
}

impl Hasher128 {
    /// A hasher with a domain tag, so different kinds of records never collide by layout.
    pub(crate) fn new(domain: u64) -> Self {
        Self {
            lo: 0,
            hi: 0,
            n: 0,
            domain,
        }
    }

    pub(crate) fn word(&mut self, w: u64) -> &mut Self {
        let key = KEYS[(self.n & 15) as usize] ^ (self.n >> 4).wrapping_mul(K0);
        let m = u128::from(w.wrapping_add(key)) * u128::from(MUL);
        let [lo, hi] = split(m);
        self.lo = self.lo.wrapping_add(lo);
        self.hi = self.hi.wrapping_add(hi);
        self.n += 1;
        self
    }

    pub(crate) fn word128(&mut self, w: u128) -> &mut Self {
        let [lo, hi] = split(w);
        self.word(lo).word(hi)
    }

    pub(crate) fn finish(&self) -> u128 {
        let a = mix64(self.lo ^ self.hi.rotate_left(32) ^ mix64(self.domain ^ self.n));
        let b = mix64(self.hi.wrapping_add(a) ^ self.domain.wrapping_mul(K0));
        (u128::from(a) << 64) | u128::from(b)
    }
}

/// A fixed-size record of word pairs, hashed NH-style: each pair, offset by per-position keys, is
/// multiplied into 128 bits and the products are summed; the finish mixes the sum non-linearly (as
/// [`Hasher128::finish`] does), which matters because records are combined by addition. One
/// multiply per two words: the per-order hash is on every command's path.
#[inline]
pub(crate) fn hash_pairs<const N: usize>(domain: u64, pairs: [[u64; 2]; N]) -> u128 {
    let mut sum = 0u128;
    for (i, [a, b]) in pairs.into_iter().enumerate() {
        let (ka, kb) = (KEYS[(2 * i) % 16], KEYS[(2 * i + 1) % 16]);
        sum = sum.wrapping_add(u128::from(a.wrapping_add(ka)) * u128::from(b.wrapping_add(kb)));
    }
    let [lo, hi] = split(sum);
    let a = mix64(lo ^ hi.rotate_left(32) ^ mix64(domain ^ (2 * N as u64)));
    let b = mix64(hi.wrapping_add(a) ^ domain.wrapping_mul(K0));
    (u128::from(a) << 64) | u128::from(b)
}

/// The low and high halves.
fn split(w: u128) -> [u64; 2] {
    let bytes = w.to_le_bytes();
    let (lo, hi) = bytes.split_at(8);
    [
        u64::from_le_bytes(lo.try_into().expect("8 bytes")),
        u64::from_le_bytes(hi.try_into().expect("8 bytes")),
    ]
}

/// The SplitMix64 finaliser: a bijective avalanche of one word.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_domains_change_the_hash() {
        let h = |d: u64, ws: &[u64]| {
            let mut h = Hasher128::new(d);
            for &w in ws {
                h.word(w);
            }
            h.finish()
        };
        assert_ne!(h(1, &[1, 2]), h(1, &[2, 1]));
        assert_ne!(h(1, &[1, 2]), h(2, &[1, 2]));
        assert_ne!(h(1, &[0]), h(1, &[0, 0]));
        assert_eq!(h(3, &[7, 8, 9]), h(3, &[7, 8, 9]));
    }

    #[test]
    fn every_word_of_a_pair_record_changes_the_hash() {
        let base = [[1u64, 2], [3, 4], [5, 6]];
        let h0 = hash_pairs(9, base);
        assert_eq!(h0, hash_pairs(9, base));
        assert_ne!(h0, hash_pairs(8, base));
        assert_ne!(h0, hash_pairs(9, [[2, 1], [3, 4], [5, 6]]));
        assert_ne!(h0, hash_pairs(9, [[3, 4], [1, 2], [5, 6]]));
        for i in 0..3 {
            for j in 0..2 {
                for delta in [1u64, 1 << 63, u64::MAX] {
                    let mut changed = base;
                    changed[i][j] = changed[i][j].wrapping_add(delta);
                    assert_ne!(h0, hash_pairs(9, changed), "word {i}.{j} + {delta}");
                }
            }
        }
    }
}
