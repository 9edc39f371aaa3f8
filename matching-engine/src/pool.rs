//! The order slab: every open order lives in a preallocated slot. Slots are an internal detail
//! (never observable); orders are named by [`OrderId`] outside.
//!
//! Mutation goes through [`OrderPool::modify`], which keeps the incremental state hash exact: each
//! order's contribution is hashed from its fields (priority stamp included), and the pool keeps the
//! wrapping sum of the contributions of its live orders. Orders changed during a command are
//! listed and rehashed once each by [`OrderPool::finalize`] at the end of the command.

use protocol::{
    AccountId, ClientOrderId, InstrumentId, OrderId, OrderType, PostOnly, Price, Qty, SessionId,
    Side, TimeInForce, TimestampNs,
};

use crate::hash::hash_pairs;

/// "No slot" in links and heap positions.
pub(crate) const NONE: u32 = u32::MAX;

/// Where an open order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderState {
    /// In its book (or the incoming order being matched).
    Active = 1,
    /// A stop order waiting for its trigger.
    PendingStop = 2,
}

/// An open order: every field here is logical state and part of the state hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order {
    pub(crate) id: OrderId,
    pub(crate) client_order_id: ClientOrderId,
    pub(crate) session: SessionId,
    pub(crate) account: AccountId,
    pub(crate) instrument: InstrumentId,
    pub(crate) side: Side,
    /// As entered: a triggered stop keeps `Stop` / `StopLimit` in its reports.
    pub(crate) order_type: OrderType,
    pub(crate) tif: TimeInForce,
    pub(crate) post_only: PostOnly,
    pub(crate) state: OrderState,
    /// Limit price; zero for market and stop (market) orders.
    pub(crate) price: Price,
    pub(crate) stop_price: Price,
    /// Total quantity: always `cum + leaves` while the order is open.
    pub(crate) qty: Qty,
    pub(crate) leaves: Qty,
    pub(crate) cum: Qty,
    /// Iceberg peak size; zero shows the whole order.
    pub(crate) display_qty: Qty,
    /// Quantity shown in the book now (`leaves` for non-icebergs).
    pub(crate) visible: Qty,
    pub(crate) expire_time: TimestampNs,
    /// Queue position: strictly increasing along every price level's queue.
    pub(crate) priority: u64,
}

impl Order {
    /// Filler for slots never used yet.
    const ZERO: Self = Self {
        id: OrderId(0),
        client_order_id: ClientOrderId(0),
        session: SessionId(0),
        account: AccountId(0),
        instrument: InstrumentId(0),
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        post_only: PostOnly::Off,
        state: OrderState::Active,
        price: Price(0),
        stop_price: Price(0),
        qty: Qty(0),
        leaves: Qty(0),
        cum: Qty(0),
        display_qty: Qty(0),
        visible: Qty(0),
        expire_time: TimestampNs(0),
        priority: 0,
    };

    /// Takes liquidity as a market order (no limit price).
    pub(crate) fn is_market(&self) -> bool {
        matches!(self.order_type, OrderType::Market | OrderType::Stop)
    }

    pub(crate) fn hash(&self) -> u128 {
        let flags = u64::from(self.side.to_u8())
            | u64::from(self.order_type.to_u8()) << 8
            | u64::from(self.tif.to_u8()) << 16
            | u64::from(self.post_only.to_u8()) << 24
            | (self.state as u64) << 32;
        hash_pairs(
            0x006f_7264_6572,
            [
                [self.id.0, self.client_order_id.0],
                [
                    u64::from(self.session.0) | u64::from(self.account.0) << 32,
                    u64::from(self.instrument.0),
                ],
                [flags, self.price.0.cast_unsigned()],
                [self.stop_price.0.cast_unsigned(), self.qty.0],
                [self.leaves.0, self.cum.0],
                [self.display_qty.0, self.visible.0],
                [self.expire_time.0, self.priority],
            ],
        )
    }
}

/// Derived, unhashed per-slot data: queue links, heap positions and owner slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links {
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) expiry_pos: u32,
    pub(crate) stop_pos: u32,
    pub(crate) book: u32,
    pub(crate) account: u32,
    /// In a price level's queue.
    pub(crate) resting: bool,
    /// Indexed in the order id overflow table rather than the ring (see `ids.rs`).
    pub(crate) id_overflow: bool,
}

impl Links {
    const EMPTY: Self = Self {
        prev: NONE,
        next: NONE,
        expiry_pos: NONE,
        stop_pos: NONE,
        book: NONE,
        account: NONE,
        resting: false,
        id_overflow: false,
    };
}

/// One slot: the order and its bookkeeping side by side, so touching an order touches adjacent
/// cache lines only.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) order: Order,
    /// This order's contribution to the pool's hash sum (zero until first hashed).
    hash: u128,
    pub(crate) links: Links,
    live: bool,
    /// Listed in `dirty`: changed in the current command, rehashed by `finalize`.
    dirty: bool,
}

#[derive(Debug)]
pub(crate) struct OrderPool {
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    dirty: Vec<u32>,
    len: u32,
    capacity: u32,
    hash_sum: u128,
}

/// An empty vector whose whole capacity has been written once, so that its pages are mapped now
/// rather than one page fault at a time while it grows in steady state (capacities are fixed when
/// the engine is built; the memory is committed then).
pub(crate) fn prefaulted<T: Copy>(capacity: usize, fill: T) -> Vec<T> {
    let mut v = Vec::with_capacity(capacity);
    v.resize(capacity, fill);
    v.clear();
    v
}

impl OrderPool {
    pub(crate) fn new(capacity: u32) -> Self {
        let n = capacity as usize;
        let free_slot = Slot {
            order: Order::ZERO,
            hash: 0,
            links: Links::EMPTY,
            live: false,
            dirty: false,
        };
        Self {
            slots: prefaulted(n, free_slot),
            free: prefaulted(n, 0),
            dirty: Vec::with_capacity(n),
            len: 0,
            capacity,
            hash_sum: 0,
        }
    }

    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity
    }

    /// The wrapping sum of every live order's hash; only between commands (after `finalize`).
    pub(crate) fn hash_sum(&self) -> u128 {
        assert!(self.dirty.is_empty(), "hash read mid-command");
        self.hash_sum
    }

    /// Stores an order in a free slot. The caller checks `is_full` first.
    #[inline]
    pub(crate) fn insert(&mut self, order: Order, book: u32, account: u32) -> u32 {
        assert!(!self.is_full(), "pool capacity is checked by the caller");
        let links = Links {
            book,
            account,
            ..Links::EMPTY
        };
        let index = if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            // A slot freed earlier in this command may still be listed as dirty: keep `dirty`.
            slot.order = order;
            slot.hash = 0;
            slot.links = links;
            slot.live = true;
            index
        } else {
            let index = u32::try_from(self.slots.len()).expect("capacity fits u32");
            self.slots.push(Slot {
                order,
                hash: 0,
                links,
                live: true,
                dirty: false,
            });
            index
        };
        self.len += 1;
        self.mark(index);
        index
    }

    #[inline]
    pub(crate) fn remove(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        assert!(slot.live, "removing a free slot");
        let l = &slot.links;
        assert!(!l.resting && l.expiry_pos == NONE && l.stop_pos == NONE);
        slot.live = false;
        self.hash_sum = self.hash_sum.wrapping_sub(slot.hash);
        slot.hash = 0;
        self.len -= 1;
        self.free.push(index);
    }

    #[inline]
    pub(crate) fn get(&self, index: u32) -> &Order {
        let slot = &self.slots[index as usize];
        assert!(slot.live);
        &slot.order
    }

    /// The order in a slot, if the slot holds one (stale index entries point at free slots).
    #[inline]
    pub(crate) fn get_live(&self, index: u32) -> Option<&Order> {
        let slot = &self.slots[index as usize];
        slot.live.then_some(&slot.order)
    }

    /// Changes an order's fields; its hash contribution is brought up to date by `finalize`.
    #[inline]
    pub(crate) fn modify<R>(&mut self, index: u32, f: impl FnOnce(&mut Order) -> R) -> R {
        f(self.order_mut(index))
    }

    /// An order to change; its hash contribution is brought up to date by `finalize`.
    #[inline]
    pub(crate) fn order_mut(&mut self, index: u32) -> &mut Order {
        assert!(self.slots[index as usize].live);
        self.mark(index);
        &mut self.slots[index as usize].order
    }

    #[inline]
    fn mark(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if !slot.dirty {
            slot.dirty = true;
            self.dirty.push(index);
        }
    }

    /// Rehashes every order changed since the last call, once each: the end of every command.
    pub(crate) fn finalize(&mut self) {
        for &index in &self.dirty {
            let slot = &mut self.slots[index as usize];
            slot.dirty = false;
            if slot.live {
                let h = slot.order.hash();
                self.hash_sum = self.hash_sum.wrapping_sub(slot.hash).wrapping_add(h);
                slot.hash = h;
            }
        }
        self.dirty.clear();
    }

    /// Live slots in slot order (internal use: callers sort by order id before anything is seen).
    pub(crate) fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.live)
            .map(|(i, _)| u32::try_from(i).expect("slots fit u32"))
    }

    /// The sum recomputed from scratch, for tests of the incremental bookkeeping.
    pub(crate) fn hash_sum_recomputed(&self) -> u128 {
        self.live_slots()
            .fold(0u128, |sum, s| sum.wrapping_add(self.get(s).hash()))
    }
}
