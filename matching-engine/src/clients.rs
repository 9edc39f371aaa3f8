//! (session, client order id) -> slot, for the open orders: duplicate checks on every new order,
//! and requests that name an order by its client id.
//!
//! Open addressing with linear probing. An entry is 8 bytes: 32 bits of the key's hash (whose low
//! bits are the home bucket) and the slot. Keys aren't stored: a hash match is confirmed against
//! the order in the slot (live, same session, same client id). Keys of a session that arrive in a
//! run (client ids counting up) fill runs of 8 neighbouring buckets, one cache line (the buckets
//! are stored as 64-byte aligned lines of 8). The blocks themselves are scattered, so each new
//! block is a cache miss: admission prefetches the session's next block when it checks a new
//! order's id, so that for clients numbering their orders in sequence (the gateway uses its
//! request ids) the line is loaded before it is needed.
//!
//! Deletion is lazy: retiring an order (or replacing its client id) leaves its entry behind, so a
//! retire never touches this table (a random cache line, on a path that is otherwise hot). A stale
//! entry fails the confirmation, because its slot is free or holds an order with another key, so a
//! lookup stays exact: it answers a slot only for a live order with exactly that key, and every
//! live order's entry stays reachable because buckets are only ever emptied all at once. Inserts
//! take the first empty bucket; when used buckets reach half the table, the table is cleared and
//! the live orders re-inserted (amortised: live orders fill at most a quarter of the buckets, so
//! at least a quarter of the buckets of inserts come between rebuilds). Never iterated, never hashed,
//! rebuilt on restore.

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
const EMPTY_ENTRY: Entry = Entry {
    hash: 0,
    slot: EMPTY,
};

/// Where a key found absent would go: its hash and the empty bucket that ended the probe (the
/// bucket an insert takes). Valid until the table next changes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vacant {
    hash: u32,
    bucket: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    hash: u32,
    slot: u32,
}

/// Eight buckets in one cache line: a block of 8 client ids is one line, not two (an unaligned
/// array would split most blocks across two lines).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([Entry; 8]);

const _: () = assert!(size_of::<Line>() == 64);

#[derive(Debug)]
pub(crate) struct ClientIds {
    /// The buckets, eight to a line: bucket `i` is `lines[i / 8].0[i % 8]`.
    lines: Vec<Line>,
    mask: u32,
    /// Buckets not empty: live entries and stale ones.
    used: u32,
    /// Rebuild when `used` passes this.
    used_max: u32,
}

impl ClientIds {
    /// A table for up to `capacity` open orders (buckets: at least four times that).
    pub(crate) fn new(capacity: u32) -> Self {
        let buckets = (capacity as usize * 4).next_power_of_two().max(16);
        let mask = u32::try_from(buckets - 1).expect("capacity is bounded by ORDERS_LIMIT");
        Self {
            lines: vec![Line([EMPTY_ENTRY; 8]); buckets / 8],
            mask,
            used: 0,
            used_max: mask / 2,
        }
    }

    #[inline]
    fn entry(&self, i: u32) -> Entry {
        self.lines[(i / 8) as usize].0[(i % 8) as usize]
    }

    #[inline]
    fn entry_mut(&mut self, i: u32) -> &mut Entry {
        &mut self.lines[(i / 8) as usize].0[(i % 8) as usize]
    }

    fn next(&self, i: u32) -> u32 {
        i.wrapping_add(1) & self.mask
    }

    /// The slot of the open order with this key.
    #[inline]
    pub(crate) fn get(&self, key: ClientKey, pool: &OrderPool) -> Option<u32> {
        self.find(key, pool).ok()
    }

    /// The slot of the open order with this key, or where the key would be inserted.
    #[inline]
    pub(crate) fn find(&self, key: ClientKey, pool: &OrderPool) -> Result<u32, Vacant> {
        let hash = key.hash32();
        let mut i = hash & self.mask;
        // A line at a time: the probe's buckets are read from one line reference.
        loop {
            let line = &self.lines[(i / 8) as usize];
            for b in (i % 8)..8 {
                let e = line.0[b as usize];
                if e.slot == EMPTY {
                    return Err(Vacant {
                        hash,
                        bucket: i & !7 | b,
                    });
                }
                if e.hash == hash
                    && pool.get_live(e.slot).is_some_and(|o| {
                        o.session.0 == key.session && o.client_order_id.0 == key.client_order_id
                    })
                {
                    return Ok(e.slot);
                }
            }
            i = (i | 7).wrapping_add(1) & self.mask;
        }
    }

    /// Starts loading the line where the session's next block of client ids begins (clients
    /// that number their orders in sequence reach it within eight ids), so that it is cached by
    /// then. A hint: it changes nothing.
    #[inline]
    pub(crate) fn prefetch_next_block(&self, key: ClientKey) {
        let next = ClientKey {
            client_order_id: key.client_order_id.wrapping_add(8),
            ..key
        };
        let i = next.hash32() & self.mask;
        crate::prefetch::prefetch(&self.lines[(i / 8) as usize]);
    }

    /// Indexes the open order in `slot` under `key`, which the order already holds. The caller
    /// checks that no other open order has the key.
    #[inline]
    pub(crate) fn insert(&mut self, key: ClientKey, slot: u32, pool: &OrderPool) {
        assert!(slot != EMPTY, "slots are below u32::MAX");
        debug_assert!(pool.get(slot).client_order_id.0 == key.client_order_id);
        if self.used >= self.used_max {
            // Indexes every live order, this one included.
            self.rebuild(pool);
            return;
        }
        self.place(key.hash32(), slot);
    }

    /// As [`Self::insert`], for a key that [`Self::find`] found absent with no change to the table
    /// since: the probe is not repeated.
    #[inline]
    pub(crate) fn insert_vacant(&mut self, v: Vacant, slot: u32, pool: &OrderPool) {
        assert!(slot != EMPTY, "slots are below u32::MAX");
        if self.used >= self.used_max {
            // Indexes every live order, this one included.
            self.rebuild(pool);
            return;
        }
        let e = self.entry_mut(v.bucket);
        assert!(e.slot == EMPTY, "the table changed since the lookup");
        *e = Entry { hash: v.hash, slot };
        self.used += 1;
    }

    fn place(&mut self, hash: u32, slot: u32) {
        let mut i = hash & self.mask;
        while self.entry(i).slot != EMPTY {
            i = self.next(i);
        }
        *self.entry_mut(i) = Entry { hash, slot };
        self.used += 1;
    }

    /// Drops every stale entry: the table then holds the live orders only (at most half full).
    #[cold]
    #[inline(never)]
    fn rebuild(&mut self, pool: &OrderPool) {
        self.lines.fill(Line([EMPTY_ENTRY; 8]));
        self.used = 0;
        for slot in pool.live_slots() {
            let o = pool.get(slot);
            let key = ClientKey {
                session: o.session.0,
                client_order_id: o.client_order_id.0,
            };
            self.place(key.hash32(), slot);
        }
        assert!(
            self.used < self.used_max,
            "live orders fill at most a quarter"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Order, OrderState};
    use proptest::prelude::*;
    use protocol::{
        AccountId, ClientOrderId, InstrumentId, OrderId, OrderType, PostOnly, Price, Qty,
        SessionId, Side, TimeInForce, TimestampNs,
    };
    use std::collections::BTreeMap;

    fn order(session: u32, client_order_id: u64) -> Order {
        Order {
            id: OrderId(1),
            client_order_id: ClientOrderId(client_order_id),
            session: SessionId(session),
            account: AccountId(1),
            side: Side::Buy,
            order_type: OrderType::Limit,
            tif: TimeInForce::Gtc,
            post_only: PostOnly::Off,
            state: OrderState::Active,
            price: Price(1),
            stop_price: Price(0),
            leaves: Qty(1),
            cum: Qty(0),
            display_qty: Qty(0),
            visible: Qty(0),
            expire_time: TimestampNs(0),
            priority: 0,
        }
    }

    proptest! {
        /// Opens, closes and re-keys orders (keys reused, slots reused, many rebuilds) and checks
        /// every lookup against a map of the open orders.
        #[test]
        fn lookups_are_exact_with_lazy_deletion(
            ops in proptest::collection::vec((0u32..2, 0u64..24, 0u8..3), 0..600)
        ) {
            const CAPACITY: u32 = 16;
            let mut pool = crate::pool::OrderPool::new(CAPACITY);
            let mut ids = ClientIds::new(CAPACITY);
            let mut model: BTreeMap<(u32, u64), u32> = BTreeMap::new();
            for (session, client_order_id, action) in ops {
                let key = ClientKey { session, client_order_id };
                let open = model.get(&(session, client_order_id)).copied();
                prop_assert_eq!(ids.get(key, &pool), open);
                match (open, action) {
                    (None, _) if !pool.is_full() => {
                        let slot = pool.insert(order(session, client_order_id), 0, 0);
                        ids.insert(key, slot, &pool);
                        model.insert((session, client_order_id), slot);
                    }
                    (Some(slot), 0) => {
                        pool.remove(slot);
                        model.remove(&(session, client_order_id));
                    }
                    (Some(slot), 1) => {
                        // Re-key to an unused id of the same session.
                        let new = (0..64).map(|i| client_order_id + 100 + i)
                            .find(|&c| !model.contains_key(&(session, c)))
                            .expect("an unused id");
                        pool.modify(slot, |o| o.client_order_id = ClientOrderId(new));
                        ids.insert(ClientKey { session, client_order_id: new }, slot, &pool);
                        model.remove(&(session, client_order_id));
                        model.insert((session, new), slot);
                    }
                    _ => {}
                }
                pool.finalize(&[InstrumentId(1)]);
                prop_assert!((ids.used as usize) < ids.lines.len() * 8);
            }
            for (&(session, client_order_id), &slot) in &model {
                prop_assert_eq!(ids.get(ClientKey { session, client_order_id }, &pool), Some(slot));
            }
        }
    }
}
