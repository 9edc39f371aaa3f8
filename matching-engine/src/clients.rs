//! (session, client order id) -> slot, for the open orders: duplicate checks on every new order,
//! and requests that name an order by its client id.
//!
//! Open addressing with linear probing and backward-shift deletion, at most half full. An entry is
//! 8 bytes: 32 bits of the key's hash (whose low bits are the home bucket, so deletion never
//! rehashes) and the slot. Keys aren't stored: a hash match is confirmed against the order in the
//! slot, and removal looks for the slot itself. Keys of a session that arrive in a run (client
//! ids counting up) fill runs of 8 neighbouring buckets, one cache line. Never iterated, never
//! hashed, rebuilt on restore.

use crate::pool::OrderPool;

/// A session's client order id: unique among the session's open orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientKey {
    pub(crate) session: u32,
    pub(crate) client_order_id: u64,
}

impl ClientKey {
    #[inline]
    fn hash32(self) -> u32 {
        // One multiply: the block of 8 ids and the session, mixed, then folded; the id's low 3
        // bits pick the bucket within the block.
        let block = (self.client_order_id >> 3) ^ u64::from(self.session).rotate_left(40);
        let m = block.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let h = (m ^ (m >> 29)) << 3 ^ (self.client_order_id & 7);
        // Truncation is the point: 32 bits of the hash are kept.
        #[allow(clippy::cast_possible_truncation)]
        let h = h as u32;
        h
    }
}

const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u32,
    slot: u32,
}

#[derive(Debug)]
pub(crate) struct ClientIds {
    entries: Vec<Entry>,
    mask: u32,
    len: u32,
    capacity: u32,
}

impl ClientIds {
    /// A table for up to `capacity` open orders (buckets: at least twice that).
    pub(crate) fn new(capacity: u32) -> Self {
        let buckets = (capacity as usize * 2).next_power_of_two().max(16);
        let mask = u32::try_from(buckets - 1).expect("capacity is bounded by ORDERS_LIMIT");
        let empty = Entry {
            hash: 0,
            slot: EMPTY,
        };
        Self {
            entries: vec![empty; buckets],
            mask,
            len: 0,
            capacity,
        }
    }

    fn next(&self, i: u32) -> u32 {
        i.wrapping_add(1) & self.mask
    }

    /// The slot of the open order with this key.
    #[inline]
    pub(crate) fn get(&self, key: ClientKey, pool: &OrderPool) -> Option<u32> {
        let hash = key.hash32();
        let mut i = hash & self.mask;
        loop {
            let e = self.entries[i as usize];
            if e.slot == EMPTY {
                return None;
            }
            if e.hash == hash {
                let o = pool.get(e.slot);
                if o.session.0 == key.session && o.client_order_id.0 == key.client_order_id {
                    return Some(e.slot);
                }
            }
            i = self.next(i);
        }
    }

    /// Indexes an open order under its key. The caller checks the key is not indexed yet.
    #[inline]
    pub(crate) fn insert(&mut self, key: ClientKey, slot: u32) {
        assert!(
            slot != EMPTY && self.len < self.capacity,
            "capacity is checked by the caller"
        );
        let hash = key.hash32();
        let mut i = hash & self.mask;
        while self.entries[i as usize].slot != EMPTY {
            i = self.next(i);
        }
        self.entries[i as usize] = Entry { hash, slot };
        self.len += 1;
    }

    /// Forgets the order in `slot`, indexed under `key`.
    #[inline]
    pub(crate) fn remove(&mut self, key: ClientKey, slot: u32) {
        let mut hole = key.hash32() & self.mask;
        while self.entries[hole as usize].slot != slot {
            assert!(
                self.entries[hole as usize].slot != EMPTY,
                "open orders are indexed"
            );
            hole = self.next(hole);
        }
        self.len -= 1;
        // Backward shift: pull later entries of the probe run into the hole.
        let mut i = self.next(hole);
        loop {
            let e = self.entries[i as usize];
            if e.slot == EMPTY {
                break;
            }
            let home = e.hash & self.mask;
            if hole.wrapping_sub(home) & self.mask <= i.wrapping_sub(home) & self.mask {
                self.entries[hole as usize] = e;
                hole = i;
            }
            i = self.next(i);
        }
        self.entries[hole as usize].slot = EMPTY;
    }
}
