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
const K1: u64 = 0xc2b2_ae3d_27d4_eb4f;
const K2: u64 = 0x1656_67b1_9e37_79f9;
const K3: u64 = 0xd6e8_feb8_6659_fd93;

/// Two independent 64-bit lanes fed the same words, finalised with a strong mixer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hasher128 {
    a: u64,
    b: u64,
}

impl Hasher128 {
    /// A hasher with a domain tag, so different kinds of records never collide by layout.
    pub(crate) fn new(domain: u64) -> Self {
        Self {
            a: K0 ^ domain,
            b: K1.wrapping_add(domain),
        }
    }

    pub(crate) fn word(&mut self, w: u64) -> &mut Self {
        self.a = (self.a ^ w).wrapping_mul(K2).rotate_left(29);
        self.b = (self.b.wrapping_add(w)).wrapping_mul(K3).rotate_left(33) ^ self.a;
        self
    }

    pub(crate) fn word128(&mut self, w: u128) -> &mut Self {
        let bytes = w.to_le_bytes();
        let (lo, hi) = bytes.split_at(8);
        self.word(u64::from_le_bytes(lo.try_into().expect("8 bytes")));
        self.word(u64::from_le_bytes(hi.try_into().expect("8 bytes")))
    }

    pub(crate) fn finish(&self) -> u128 {
        let a = mix64(self.a ^ self.b.rotate_left(17));
        let b = mix64(self.b ^ K0);
        (u128::from(a) << 64) | u128::from(b)
    }
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
}
