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

/// One bit per ring position.
#[derive(Debug)]
struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, p: usize) -> bool {
        self.0[p / 64] & (1 << (p % 64)) != 0
    }

    fn set(&mut self, p: usize) {
        self.0[p / 64] |= 1 << (p % 64);
    }

    fn clear(&mut self, p: usize) {
        self.0[p / 64] &= !(1 << (p % 64));
    }
}

#[derive(Debug)]
pub(crate) struct OrderIds {
    /// The open order whose id maps to each position (valid where `occupied`).
    ring: Vec<Entry>,
    occupied: Bits,
    mask: u64,
    /// log2 of the ring's length: an id's lap is `id >> bits`.
    bits: u32,
    /// Open orders displaced from the ring by a newer id at the same position.
    overflow: Table<u64>,
    /// Positions with displaced orders in the overflow, and how many each.
    displaced: Bits,
    displaced_count: Vec<u32>,
}

impl OrderIds {
    /// An index for up to `capacity` open orders.
    pub(crate) fn new(capacity: u32) -> Self {
        let positions = (capacity as usize * 2).next_power_of_two().max(64);
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
            occupied: Bits(vec![0; positions / 64]),
            mask: positions as u64 - 1,
            bits: positions.trailing_zeros(),
            overflow: Table::new(capacity),
            displaced: Bits(vec![0; positions / 64]),
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
        let lap = (id >> self.bits) as u32;
        lap
    }

    /// The slot of the open order with this id.
    #[inline]
    pub(crate) fn get(&self, id: u64, pool: &OrderPool) -> Option<u32> {
        let p = self.position(id);
        if self.occupied.get(p) {
            let e = self.ring[p];
            if e.lap == self.lap(id) && pool.get(e.slot).id.0 == id {
                return Some(e.slot);
            }
        }
        if self.displaced.get(p) {
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
        if !self.occupied.get(p) {
            self.ring[p] = entry;
            self.occupied.set(p);
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
        self.displaced_count[p] += 1;
        self.displaced.set(p);
    }

    /// Forgets an open order that is being retired.
    #[inline]
    pub(crate) fn remove(&mut self, id: u64, slot: u32) {
        let p = self.position(id);
        // An order is in the overflow iff its position has displaced orders and the ring's entry
        // there is not this order (the ring holds distinct live slots only while occupied).
        let in_overflow =
            self.displaced.get(p) && !(self.occupied.get(p) && self.ring[p].slot == slot);
        if in_overflow {
            self.overflow
                .remove(id)
                .expect("displaced orders are in the overflow");
            self.displaced_count[p] -= 1;
            if self.displaced_count[p] == 0 {
                self.displaced.clear(p);
            }
            return;
        }
        debug_assert!(self.occupied.get(p) && self.ring[p].slot == slot);
        self.occupied.clear(p);
    }
}
