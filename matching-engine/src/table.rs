//! A fixed-capacity open-addressing map from small keys to `u32` slots: linear probing with
//! backward-shift deletion, so there are no tombstones and lookups stay short. It never grows and
//! is never iterated, so its layout can't leak into anything observable.

use crate::hash::mix64;

/// A key that hashes itself deterministically.
pub(crate) trait Key: Copy + Eq + Default {
    fn hash64(self) -> u64;
}

/// Keys that arrive in runs (engine order ids) keep runs of 8 in neighbouring buckets, so recent
/// orders share cache lines; the blocks themselves are scattered, and short blocks keep probe runs
/// short.
fn blocked(key: u64, salt: u64) -> u64 {
    mix64((key >> 3).wrapping_add(salt)) ^ (key & 7)
}

impl Key for u64 {
    fn hash64(self) -> u64 {
        blocked(self, 0)
    }
}

/// Instrument and account ids: one multiply (Fibonacci hashing), the high half folded into the
/// low bits that pick the bucket. These lookups are on every new order's path.
impl Key for u32 {
    #[inline]
    fn hash64(self) -> u64 {
        let h = u64::from(self).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 32)
    }
}

const EMPTY: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) struct Table<K: Key> {
    /// (key, value, home bucket): the home is kept so deletion never rehashes.
    entries: Vec<(K, u32, u32)>,
    mask: usize,
    len: usize,
    capacity: usize,
}

impl<K: Key> Table<K> {
    /// A table holding up to `capacity` entries at a load factor of at most one half.
    pub(crate) fn new(capacity: u32) -> Self {
        let capacity = capacity as usize;
        let buckets = (capacity * 2).next_power_of_two().max(8);
        Self {
            entries: vec![(K::default(), EMPTY, 0); buckets],
            mask: buckets - 1,
            len: 0,
            capacity,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, key: K) -> usize {
        // Truncation is the point: the low bits pick the bucket.
        #[allow(clippy::cast_possible_truncation)]
        let h = key.hash64() as usize;
        h & self.mask
    }

    #[inline]
    fn find(&self, key: K) -> Option<usize> {
        let mut i = self.home(key);
        loop {
            if self.entries[i].1 == EMPTY {
                return None;
            }
            if self.entries[i].0 == key {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: K) -> Option<u32> {
        self.find(key).map(|i| self.entries[i].1)
    }

    /// Inserts a new key. The caller checks capacity and absence first.
    pub(crate) fn insert(&mut self, key: K, value: u32) {
        assert!(value != EMPTY);
        assert!(
            self.len < self.capacity,
            "table capacity is checked by the caller"
        );
        let home = self.home(key);
        let mut i = home;
        while self.entries[i].1 != EMPTY {
            assert!(self.entries[i].0 != key, "table keys are unique");
            i = (i + 1) & self.mask;
        }
        self.entries[i] = (key, value, u32::try_from(home).expect("buckets fit u32"));
        self.len += 1;
    }

    pub(crate) fn remove(&mut self, key: K) -> Option<u32> {
        let mut hole = self.find(key)?;
        let value = self.entries[hole].1;
        self.len -= 1;
        // Backward shift: pull later entries of the probe run into the hole.
        let mut i = (hole + 1) & self.mask;
        while self.entries[i].1 != EMPTY {
            let home = self.entries[i].2 as usize;
            let distance_i = i.wrapping_sub(home) & self.mask;
            let distance_hole = hole.wrapping_sub(home) & self.mask;
            if distance_hole <= distance_i {
                self.entries[hole] = self.entries[i];
                hole = i;
            }
            i = (i + 1) & self.mask;
        }
        self.entries[hole] = (K::default(), EMPTY, 0);
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((0u64..64, any::<bool>()), 0..400)) {
            let mut table = Table::<u64>::new(64);
            let mut model = BTreeMap::new();
            for (n, (key, insert)) in ops.into_iter().enumerate() {
                let value = u32::try_from(n).unwrap();
                if insert && !model.contains_key(&key) {
                    table.insert(key, value);
                    model.insert(key, value);
                } else {
                    prop_assert_eq!(table.remove(key), model.remove(&key));
                }
                prop_assert_eq!(table.len(), model.len());
                for k in 0..64 {
                    prop_assert_eq!(table.get(k), model.get(&k).copied());
                }
            }
        }
    }
}
