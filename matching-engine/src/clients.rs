//! (session, client order id) -> slot, for the open orders: duplicate checks on every new order,
//! and requests that name an order by its client id.
//!
//! Clients number their orders in sequence (the gateway uses its request ids), so this is a
//! direct-mapped ring like the order id ring (`ids.rs`): a key's position is its client id plus
//! an offset drawn from its session, modulo the ring's length. A session's new orders write the
//! ring sequentially, and the duplicate check of a new id usually reads only the occupancy bits
//! (a small array), since the position was last used a whole ring of ids ago. Each position keeps
//! the slot and a 32-bit tag of the key, and a tag match is confirmed against the order itself
//! (same session, same client id).
//!
//! An open order at the position a new key needs (it outlived a ring of its session's ids, or
//! another session's run of ids reached it) moves to an overflow table, and the position is
//! marked as having displaced orders (with a count), so lookups consult the overflow only for
//! such positions. Retiring an order (or replacing its client id) clears one bit, or removes it
//! from the overflow; it reads the ring entry only at positions with displaced orders.
//!
//! Derived state: never iterated, never hashed, rebuilt on restore.

use crate::hash::mix64;
use crate::ids::{Bits, DISPLACED, OCCUPIED};
use crate::pool::OrderPool;
use crate::table::{Key, Table};

/// A session's client order id: unique among the session's open orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ClientKey {
    pub(crate) session: u32,
    pub(crate) client_order_id: u64,
}

impl ClientKey {
    /// The key's place on the ring, before the modulo: ids of one session are consecutive.
    #[inline]
    fn ring_id(self) -> u64 {
        // One multiply: sessions start their runs far apart.
        let base = u64::from(self.session).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.client_order_id.wrapping_add(base)
    }
}

/// Overflow keys: hashed whole; never in the table's direct array.
impl Key for ClientKey {
    fn hash64(self) -> u64 {
        mix64(self.client_order_id ^ u64::from(self.session).rotate_left(40))
    }

    fn to_u64(self) -> u64 {
        u64::MAX
    }
}

/// A key found absent: where [`ClientIds::insert_vacant`] puts it. Valid until the table next
/// changes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vacant {
    key: ClientKey,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The key's tag: equal tags are confirmed against the order.
    tag: u32,
    slot: u32,
}

#[derive(Debug)]
pub(crate) struct ClientIds {
    /// The open order whose key maps to each position (valid where `OCCUPIED`).
    ring: Vec<Entry>,
    /// Per position: holds an open order (`OCCUPIED`); has displaced orders (`DISPLACED`).
    bits: Bits,
    mask: u64,
    /// Open orders displaced from the ring by a newer key at the same position.
    overflow: Table<ClientKey>,
    /// How many displaced orders each position has in the overflow; saturated counts stay
    /// (the position then stays marked, which costs lookups there an overflow probe, no more).
    displaced_count: Vec<u16>,
}

impl ClientIds {
    /// An index for up to `capacity` open orders: four positions per order, so that a session's
    /// run of ids rarely meets an order still open from its previous lap.
    pub(crate) fn new(capacity: u32) -> Self {
        let positions = (capacity as usize * 4).next_power_of_two().max(64);
        Self {
            // Written now (not zeroed lazily by the OS): sessions write the ring sequentially,
            // which would otherwise page-fault every 512 orders.
            ring: vec![
                Entry {
                    tag: u32::MAX,
                    slot: u32::MAX,
                };
                positions
            ],
            bits: Bits(vec![[0; 2]; positions / 64]),
            mask: positions as u64 - 1,
            overflow: Table::new(capacity),
            displaced_count: vec![0; positions],
        }
    }

    fn position(&self, key: ClientKey) -> usize {
        // Truncation is the point: the low bits pick the position.
        #[allow(clippy::cast_possible_truncation)]
        let p = (key.ring_id() & self.mask) as usize;
        p
    }

    fn tag(key: ClientKey) -> u32 {
        // Truncation is fine: equal tags are confirmed against the order.
        #[allow(clippy::cast_possible_truncation)]
        let tag = (key.client_order_id >> 32) as u32 ^ key.client_order_id as u32 ^ key.session;
        tag
    }

    /// The slot of the open order with this key.
    #[inline]
    pub(crate) fn get(&self, key: ClientKey, pool: &OrderPool) -> Option<u32> {
        self.find(key, pool).ok()
    }

    /// The slot of the open order with this key, or where the key would be inserted.
    #[inline(always)]
    pub(crate) fn find(&self, key: ClientKey, pool: &OrderPool) -> Result<u32, Vacant> {
        let p = self.position(key);
        if self.bits.get(OCCUPIED, p) {
            let e = self.ring[p];
            if e.tag == Self::tag(key)
                && pool.get(e.slot).session.0 == key.session
                && pool.get(e.slot).client_order_id.0 == key.client_order_id
            {
                return Ok(e.slot);
            }
        }
        if self.bits.get(DISPLACED, p)
            && let Some(slot) = self.overflow.get(key)
        {
            return Ok(slot);
        }
        Err(Vacant { key })
    }

    /// Indexes the open order in `slot` under `key`, which the order already holds. The caller
    /// checks that no other open order has the key.
    #[inline(always)]
    pub(crate) fn insert(&mut self, key: ClientKey, slot: u32, pool: &OrderPool) {
        debug_assert!(pool.get(slot).client_order_id.0 == key.client_order_id);
        let p = self.position(key);
        let entry = Entry {
            tag: Self::tag(key),
            slot,
        };
        if self.bits.get(OCCUPIED, p) {
            // The open order there moves to the overflow; the ring keeps the newer key.
            let other = self.ring[p].slot;
            let o = pool.get(other);
            let other_key = ClientKey {
                session: o.session.0,
                client_order_id: o.client_order_id.0,
            };
            assert!(other_key != key, "client keys are unique among open orders");
            self.overflow.insert(other_key, other);
            self.displaced_count[p] = self.displaced_count[p].saturating_add(1);
            self.bits.set(DISPLACED, p);
        }
        self.ring[p] = entry;
        self.bits.set(OCCUPIED, p);
    }

    /// As [`Self::insert`], for a key that [`Self::find`] found absent with no change to the table
    /// since.
    #[inline]
    pub(crate) fn insert_vacant(&mut self, v: Vacant, slot: u32, pool: &OrderPool) {
        self.insert(v.key, slot, pool);
    }

    /// Forgets the open order in `slot`, indexed under `key`.
    #[inline(always)]
    pub(crate) fn remove(&mut self, key: ClientKey, slot: u32) {
        let p = self.position(key);
        if self.bits.in_overflow(p, || self.ring[p].slot == slot) {
            let removed = self.overflow.remove(key);
            assert!(
                removed == Some(slot),
                "displaced orders are in the overflow"
            );
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
        /// Opens, closes and re-keys orders (keys reused, slots reused, keys colliding on the
        /// ring within and across sessions, so orders are displaced into the overflow) and checks
        /// every lookup against a map of the open orders.
        #[test]
        fn lookups_are_exact(
            ops in proptest::collection::vec((0u32..3, 0u64..200, 0u8..3), 0..600)
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
                        match ids.find(key, &pool) {
                            Ok(_) => prop_assert!(false, "absent key found"),
                            Err(v) => ids.insert_vacant(v, slot, &pool),
                        }
                        model.insert((session, client_order_id), slot);
                    }
                    (Some(slot), 0) => {
                        ids.remove(key, slot);
                        pool.remove(slot);
                        model.remove(&(session, client_order_id));
                    }
                    (Some(slot), 1) => {
                        // Re-key to an unused id of the same session.
                        let new = (0..64).map(|i| client_order_id + 64 + i)
                            .find(|&c| !model.contains_key(&(session, c)))
                            .expect("an unused id");
                        ids.remove(key, slot);
                        pool.modify(slot, |o| o.client_order_id = ClientOrderId(new));
                        ids.insert(ClientKey { session, client_order_id: new }, slot, &pool);
                        model.remove(&(session, client_order_id));
                        model.insert((session, new), slot);
                    }
                    _ => {}
                }
                pool.settle(&[InstrumentId(1)]);
            }
            for (&(session, client_order_id), &slot) in &model {
                prop_assert_eq!(ids.get(ClientKey { session, client_order_id }, &pool), Some(slot));
            }
        }
    }
}
