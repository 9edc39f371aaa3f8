//! A fixed-capacity open-addressing map from small keys to `u32` slots: linear probing with
//! backward-shift deletion, so there are no tombstones and lookups stay short. It never grows and
//! is never iterated, so its layout can't leak into anything observable. Keys below [`DIRECT`]
//! (the usual instrument and account ids) skip the hashing: they index a small fixed array.

/// Keys below this live in the direct array (a power of two: the index is masked, so it needs no
/// bounds check).
const DIRECT: usize = 64;

use crate::hash::mix64;

/// A key that hashes itself deterministically.
pub(crate) trait Key: Copy + Eq + Default {
    fn hash64(self) -> u64;
    /// The key as an integer, to pick the direct array for small keys.
    fn to_u64(self) -> u64;
}

/// The direct array's index for a small key.
#[inline]
fn direct<K: Key>(key: K) -> Option<usize> {
    let k = key.to_u64();
    // Truncation is fine: the value is below DIRECT.
    #[allow(clippy::cast_possible_truncation)]
    (k < DIRECT as u64).then_some(k as usize & (DIRECT - 1))
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

    fn to_u64(self) -> u64 {
        self
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

    #[inline]
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
}

const EMPTY: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) struct Table<K: Key> {
    /// (key, value, home bucket): the home is kept so deletion never rehashes.
    entries: Vec<(K, u32, u32)>,
    /// Values of keys below `DIRECT` (`EMPTY` when absent); such keys are never in `entries`.
    direct: [u32; DIRECT],
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
            direct: [EMPTY; DIRECT],
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
        if let Some(d) = direct(key) {
            let v = self.direct[d];
            return (v != EMPTY).then_some(v);
        }
        self.find(key).map(|i| self.entries[i].1)
    }

    /// Inserts a new key. The caller checks capacity and absence first.
    pub(crate) fn insert(&mut self, key: K, value: u32) {
        assert!(value != EMPTY);
        assert!(
            self.len < self.capacity,
            "table capacity is checked by the caller"
        );
        if let Some(d) = direct(key) {
            assert!(self.direct[d] == EMPTY, "table keys are unique");
            self.direct[d] = value;
            self.len += 1;
            return;
        }
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
        if let Some(d) = direct(key) {
            let v = std::mem::replace(&mut self.direct[d], EMPTY);
            self.len -= usize::from(v != EMPTY);
            return (v != EMPTY).then_some(v);
        }
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
        fn behaves_like_a_map(ops in proptest::collection::vec((0u64..160, any::<bool>()), 0..400)) {
            let mut table = Table::<u64>::new(160);
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
                for k in 0..160 {
                    prop_assert_eq!(table.get(k), model.get(&k).copied());
                }
            }
        }
    }
}
