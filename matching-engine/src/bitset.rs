//! A two-level bitset over a book side's price levels: which levels hold orders. Finding the next
//! occupied level scans at most one word per level of the hierarchy plus the summary words between.

#[derive(Debug, Clone)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    summary: Vec<u64>,
}

impl Bitset {
    pub(crate) fn new(bits: u32) -> Self {
        let words = (bits as usize).div_ceil(64);
        Self {
            words: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
        }
    }

    #[cfg(test)]
    pub(crate) fn get(&self, i: u32) -> bool {
        let i = i as usize;
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub(crate) fn set(&mut self, i: u32) {
        let i = i as usize;
        self.words[i / 64] |= 1 << (i % 64);
        self.summary[i / 4096] |= 1 << ((i / 64) % 64);
    }

    pub(crate) fn clear(&mut self, i: u32) {
        let i = i as usize;
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        if self.words[w] == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
    }

    /// The lowest set bit at or above `i`.
    pub(crate) fn next_at_or_above(&self, i: u32) -> Option<u32> {
        let i = i as usize;
        let w = i / 64;
        if w >= self.words.len() {
            return None;
        }
        let here = self.words[w] & (u64::MAX << (i % 64));
        if here != 0 {
            return Some(to_u32(w * 64 + here.trailing_zeros() as usize));
        }
        let next_word = w + 1;
        let mut s = next_word / 64;
        if s >= self.summary.len() {
            return None;
        }
        let mut bits = if next_word.is_multiple_of(64) {
            self.summary[s]
        } else {
            self.summary[s] & (u64::MAX << (next_word % 64))
        };
        loop {
            if bits != 0 {
                let w = s * 64 + bits.trailing_zeros() as usize;
                return Some(to_u32(w * 64 + self.words[w].trailing_zeros() as usize));
            }
            s += 1;
            if s >= self.summary.len() {
                return None;
            }
            bits = self.summary[s];
        }
    }

    /// The highest set bit at or below `i`.
    pub(crate) fn prev_at_or_below(&self, i: u32) -> Option<u32> {
        let i = i as usize;
        let w = i / 64;
        let here = self.words[w] & (u64::MAX >> (63 - i % 64));
        if here != 0 {
            return Some(to_u32(w * 64 + 63 - here.leading_zeros() as usize));
        }
        if w == 0 {
            return None;
        }
        let prev_word = w - 1;
        let mut s = prev_word / 64;
        let mut bits = self.summary[s] & (u64::MAX >> (63 - prev_word % 64));
        loop {
            if bits != 0 {
                let w = s * 64 + 63 - bits.leading_zeros() as usize;
                return Some(to_u32(w * 64 + 63 - self.words[w].leading_zeros() as usize));
            }
            if s == 0 {
                return None;
            }
            s -= 1;
            bits = self.summary[s];
        }
    }
}

fn to_u32(i: usize) -> u32 {
    u32::try_from(i).expect("level indexes fit u32")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #[test]
        fn finds_neighbours_like_a_sorted_set(
            ops in proptest::collection::vec((0u32..20_000, any::<bool>()), 0..300),
            probes in proptest::collection::vec(0u32..20_000, 1..20),
        ) {
            let mut bits = Bitset::new(20_000);
            let mut model = BTreeSet::new();
            for (i, set) in ops {
                if set { bits.set(i); model.insert(i); } else { bits.clear(i); model.remove(&i); }
            }
            for p in probes {
                prop_assert_eq!(bits.get(p), model.contains(&p));
                prop_assert_eq!(bits.next_at_or_above(p), model.range(p..).next().copied());
                prop_assert_eq!(bits.prev_at_or_below(p), model.range(..=p).next_back().copied());
            }
        }
    }
}
