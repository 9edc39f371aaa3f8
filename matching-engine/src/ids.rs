//! Order id -> slot. Order ids are handed out 1, 2, 3, ..., so a direct-mapped ring indexed by the
//! id's low bits finds almost every open order in one read, and new orders write the ring
//! sequentially. A bitset says which ring positions hold an open order; each position keeps the
//! slot and 32 more bits of the id (the "lap"), so a lookup of a closed order's id usually ends
//! without touching any order, and a match is confirmed against the order's own id.
//!
//! An order still open when a newer id needs its position (it outlived a whole ring of ids) moves
//! to an overflow table, and its position is marked as having displaced orders (with a count), so
//! lookups consult the overflow only for such positions. Retiring an order clears one bit (or
//! removes it from the overflow): it reads the ring entry only at positions with displaced orders,
//! to tell whether the order is the ring's or the overflow's (the order keeps no flag for it).
//!
//! Like every index here it is derived state: never iterated, never hashed, rebuilt on restore.

use crate::pool::OrderPool;
use crate::table::Table;

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The id's lap, truncated: equal laps are confirmed against the order's id.
    lap: u32,
    slot: u32,
}

/// Two bits per ring position, `OCCUPIED` and `DISPLACED`, kept as a pair of words per 64
/// positions so that a lookup, which may test both, reads one cache line.
#[derive(Debug)]
pub(crate) struct Bits(pub(crate) Vec<[u64; 2]>);

pub(crate) const OCCUPIED: usize = 0;
pub(crate) const DISPLACED: usize = 1;

impl Bits {
    pub(crate) fn get(&self, which: usize, p: usize) -> bool {
        self.0[p / 64][which] & (1 << (p % 64)) != 0
    }

    pub(crate) fn set(&mut self, which: usize, p: usize) {
        self.0[p / 64][which] |= 1 << (p % 64);
    }

    pub(crate) fn clear(&mut self, which: usize, p: usize) {
        self.0[p / 64][which] &= !(1 << (p % 64));
    }

    /// Whether an order at position `p` lives in the overflow: the position has displaced
    /// orders and the ring's entry there is not this order (`ring_holds_it`, asked only then:
    /// the ring holds distinct live slots only while occupied).
    #[inline]
    pub(crate) fn in_overflow(&self, p: usize, ring_holds_it: impl FnOnce() -> bool) -> bool {
        self.get(DISPLACED, p) && !(self.get(OCCUPIED, p) && ring_holds_it())
    }

    /// One displaced order fewer at `p`. Counts saturate: a position that reached `u16::MAX`
    /// keeps its mark (its lookups just also check the overflow).
    #[inline]
    pub(crate) fn undisplace(&mut self, counts: &mut [u16], p: usize) {
        let count = &mut counts[p];
        if *count != u16::MAX {
            *count -= 1;
            if *count == 0 {
                self.clear(DISPLACED, p);
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct OrderIds {
    /// The open order whose id maps to each position (valid where `OCCUPIED`).
    ring: Vec<Entry>,
    /// Per position: holds an open order (`OCCUPIED`); has displaced orders (`DISPLACED`).
    bits: Bits,
    mask: u64,
    /// log2 of the ring's length: an id's lap is `id >> lap_shift`.
    lap_shift: u32,
    /// Open orders displaced from the ring by a newer id at the same position.
    overflow: Table<u64>,
    /// How many displaced orders each position has in the overflow.
    /// Saturating: a saturated position stays marked (lookups there probe the overflow, no more).
    displaced_count: Vec<u16>,
}

impl OrderIds {
    /// An index for up to `capacity` open orders: four positions per order, so that few orders
    /// are still open a whole ring of ids later.
    pub(crate) fn new(capacity: u32) -> Self {
        let positions = (capacity as usize * 4).next_power_of_two().max(64);
        Self {
            // Written now (not zeroed lazily by the OS): new ids write the ring sequentially, which
            // would otherwise page-fault every 512 orders.
            ring: vec![
                Entry {
                    lap: u32::MAX,
                    slot: u32::MAX,
                };
                positions
            ],
            bits: Bits(vec![[0; 2]; positions / 64]),
            mask: positions as u64 - 1,
            lap_shift: positions.trailing_zeros(),
            overflow: Table::new(capacity),
            displaced_count: vec![0; positions],
        }
    }

    fn position(&self, id: u64) -> usize {
        // Truncation is the point: the low bits pick the position.
        #[allow(clippy::cast_possible_truncation)]
        let p = (id & self.mask) as usize;
        p
    }

    fn lap(&self, id: u64) -> u32 {
        // Truncation is fine: equal laps are confirmed against the order's id.
        #[allow(clippy::cast_possible_truncation)]
        let lap = (id >> self.lap_shift) as u32;
        lap
    }

    /// The slot of the open order with this id.
    #[inline]
    pub(crate) fn get(&self, id: u64, pool: &OrderPool) -> Option<u32> {
        let p = self.position(id);
        if self.bits.get(OCCUPIED, p) {
            let e = self.ring[p];
            if e.lap == self.lap(id) && pool.get(e.slot).id.0 == id {
                return Some(e.slot);
            }
        }
        if self.bits.get(DISPLACED, p) {
            self.overflow.get(id)
        } else {
            None
        }
    }

    /// Indexes a new open order (its id is not indexed yet).
    #[inline]
    pub(crate) fn insert(&mut self, id: u64, slot: u32, pool: &OrderPool) {
        let p = self.position(id);
        let entry = Entry {
            lap: self.lap(id),
            slot,
        };
        if !self.bits.get(OCCUPIED, p) {
            self.ring[p] = entry;
            self.bits.set(OCCUPIED, p);
            return;
        }
        let other = self.ring[p].slot;
        let other_id = pool.get(other).id.0;
        assert!(other_id != id, "order ids are unique");
        // The ring keeps the newer order; the older one has outlived a ring of ids.
        let (old_id, old_slot) = if other_id < id {
            self.ring[p] = entry;
            (other_id, other)
        } else {
            (id, slot)
        };
        self.overflow.insert(old_id, old_slot);
        self.displaced_count[p] = self.displaced_count[p].saturating_add(1);
        self.bits.set(DISPLACED, p);
    }

    /// Forgets an open order that is being retired.
    #[inline]
    pub(crate) fn remove(&mut self, id: u64, slot: u32) {
        let p = self.position(id);
        if self.bits.in_overflow(p, || self.ring[p].slot == slot) {
            self.overflow
                .remove(id)
                .expect("displaced orders are in the overflow");
            self.bits.undisplace(&mut self.displaced_count, p);
            return;
        }
        debug_assert!(self.bits.get(OCCUPIED, p) && self.ring[p].slot == slot);
        self.bits.clear(OCCUPIED, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Order, OrderPool};
    use proptest::prelude::*;
    use protocol::OrderId;
    use std::collections::BTreeMap;

    /// Orders open through several rings of ids are displaced into the overflow, found there, and
    /// removed from it, and their positions are unmarked once empty.
    #[test]
    fn long_lived_orders_are_displaced_and_found() {
        let capacity = 16;
        let mut pool = OrderPool::new(capacity);
        let mut ids = OrderIds::new(capacity);
        let positions = ids.mask + 1;
        let mut open: Vec<(u64, u32)> = Vec::new();
        for next_id in 1..=3 * positions {
            let order = Order {
                id: OrderId(next_id),
                ..crate::pool::Order::ZERO
            };
            let slot = pool.insert(order, 0, 0);
            ids.insert(next_id, slot, &pool);
            open.push((next_id, slot));
            // Keep the first eight orders open throughout; retire each later one at once.
            if open.len() > 8 {
                let (id, slot) = open.pop().expect("just pushed");
                assert_eq!(ids.get(id, &pool), Some(slot));
                ids.remove(id, slot);
                pool.remove(slot);
                assert_eq!(ids.get(id, &pool), None);
            }
            pool.settle(&[protocol::InstrumentId(1)]);
        }
        assert!(ids.displaced_count.iter().any(|&c| c > 0));
        for &(id, slot) in &open {
            assert_eq!(ids.get(id, &pool), Some(slot), "id {id}");
        }
        for (id, slot) in open {
            ids.remove(id, slot);
            pool.remove(slot);
            assert_eq!(ids.get(id, &pool), None);
        }
        assert!(ids.displaced_count.iter().all(|&c| c == 0));
        assert!(ids.bits.0.iter().all(|w| *w == [0, 0]));
    }

    proptest! {
        /// Opens and retires orders with ids handed out in sequence, some living through many
        /// rings of ids (so they are displaced into the overflow), and checks every lookup,
        /// closed ids included, against a map of the open orders.
        #[test]
        fn lookups_match_a_map(ops in proptest::collection::vec((0u8..4, 0usize..64), 1..600)) {
            let capacity = 40;
            let mut pool = OrderPool::new(capacity);
            let mut ids = OrderIds::new(capacity);
            let mut model: BTreeMap<u64, u32> = BTreeMap::new();
            let mut next_id = 1u64;
            for (op, pick) in ops {
                if op < 3 && !pool.is_full() {
                    let order = Order { id: OrderId(next_id), ..crate::pool::Order::ZERO };
                    let slot = pool.insert(order, 0, 0);
                    ids.insert(next_id, slot, &pool);
                    model.insert(next_id, slot);
                    next_id += 1;
                } else if let Some((&id, &slot)) = model.iter().nth(pick % model.len().max(1)) {
                    // Retire mostly recent orders, so old ones outlive rings of ids.
                    if pick % 4 != 0 || model.len() > 30 {
                        ids.remove(id, slot);
                        pool.remove(slot);
                        model.remove(&id);
                    }
                }
                pool.settle(&[protocol::InstrumentId(1)]);
            }
            for id in 1..next_id {
                prop_assert_eq!(ids.get(id, &pool), model.get(&id).copied(), "id {}", id);
            }
        }
    }
}
