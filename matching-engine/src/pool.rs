//! The order slab: every open order lives in a preallocated slot. Slots are an internal detail
//! (never observable); orders are named by [`OrderId`] outside.
//!
//! Mutation goes through [`OrderPool::modify`], which keeps the incremental state hash exact: each
//! order's contribution is hashed from its fields (priority stamp included), and the pool keeps the
//! wrapping sum of the contributions of its live orders. Orders changed since the last
//! [`OrderPool::settle`] are listed once each and rehashed only when the hash is asked for (or
//! when [`SETTLE_PENDING_MAX`] are listed): an order that opens and closes between two checkpoints
//! is never hashed, and one filled many times is hashed once.

use protocol::{
    AccountId, ClientOrderId, InstrumentId, OrderId, OrderType, PostOnly, Price, Qty, SessionId,
    Side, TimeInForce, TimestampNs,
};

use crate::hash::hash_pairs;

/// "No slot" in links and heap positions.
pub(crate) const NONE: u32 = u32::MAX;

/// The most slots listed as changed before [`crate::Engine::apply`] settles the hash by itself:
/// bounds what [`OrderPool::hash_sum`] computes for a caller that never settles.
pub(crate) const SETTLE_PENDING_MAX: usize = 4096;

/// Where an open order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderState {
    /// In its book (or the incoming order being matched).
    Active = 1,
    /// A stop order waiting for its trigger.
    PendingStop = 2,
}

/// An open order: every field here is logical state and part of the state hash. Two logical
/// fields are derived rather than stored, to keep a slot at two cache lines: the instrument is the
/// order's book's ([`Links::book`]), the total quantity is `cum + leaves` ([`Order::qty`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Order {
    /// Zero in a free slot (order ids start at 1).
    pub(crate) id: OrderId,
    pub(crate) client_order_id: ClientOrderId,
    pub(crate) session: SessionId,
    pub(crate) account: AccountId,
    pub(crate) side: Side,
    /// As entered: a triggered stop keeps `Stop` / `StopLimit` in its reports.
    pub(crate) order_type: OrderType,
    pub(crate) tif: TimeInForce,
    pub(crate) post_only: PostOnly,
    pub(crate) state: OrderState,
    /// Limit price; zero for market and stop (market) orders.
    pub(crate) price: Price,
    pub(crate) stop_price: Price,
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
    pub(crate) const ZERO: Self = Self {
        id: OrderId(0),
        client_order_id: ClientOrderId(0),
        session: SessionId(0),
        account: AccountId(0),
        side: Side::Buy,
        order_type: OrderType::Limit,
        tif: TimeInForce::Gtc,
        post_only: PostOnly::Off,
        state: OrderState::Active,
        price: Price(0),
        stop_price: Price(0),
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

    /// Total quantity: filled plus open.
    #[inline]
    pub(crate) fn qty(&self) -> Qty {
        Qty(self.cum.0 + self.leaves.0)
    }

    /// The order's hash; `instrument` is its book's.
    pub(crate) fn hash(&self, instrument: InstrumentId) -> u128 {
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
                    u64::from(instrument.0),
                ],
                [flags, self.price.0.cast_unsigned()],
                [self.stop_price.0.cast_unsigned(), self.qty().0],
                [self.leaves.0, self.cum.0],
                [self.display_qty.0, self.visible.0],
                [self.expire_time.0, self.priority],
            ],
        )
    }
}

/// Derived, unhashed per-slot data: queue links and owner slots.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links {
    pub(crate) prev: u32,
    pub(crate) next: u32,
    pub(crate) account: u32,
    /// The book's slot (`INSTRUMENTS_LIMIT` fits 16 bits); see [`Links::book`].
    book: u16,
    /// In a price level's queue.
    pub(crate) resting: bool,
    /// Listed in the pool's `dirty`: changed since the last `settle`, which rehashes it.
    dirty: bool,
}

const _: () = assert!(crate::config::INSTRUMENTS_LIMIT <= 1 << 16);

impl Links {
    const EMPTY: Self = Self {
        prev: NONE,
        next: NONE,
        account: NONE,
        book: u16::MAX,
        resting: false,
        dirty: false,
    };

    /// The order's book slot.
    #[inline]
    pub(crate) fn book(&self) -> u32 {
        u32::from(self.book)
    }
}

/// One slot: the order and its bookkeeping in 128 bytes aligned to a cache-line pair, so touching
/// an order touches two adjacent lines (one pair the prefetcher fetches together). Heap positions,
/// used by GTD and stop orders only, live in a side array ([`OrderPool::heap_pos`]); whether a
/// slot is live is `order.id != 0`.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub(crate) order: Order,
    /// This order's contribution to the pool's hash sum (zero until first hashed).
    hash: u128,
    pub(crate) links: Links,
}

const _: () = assert!(size_of::<Slot>() == 128);

impl Slot {
    /// The order's hash now (`None` for a free slot); `instruments` maps book slots to ids.
    fn rehash(&self, instruments: &[InstrumentId]) -> Option<u128> {
        (self.order.id.0 != 0).then(|| self.order.hash(instruments[self.links.book as usize]))
    }
}

#[derive(Debug)]
pub(crate) struct OrderPool {
    pub(crate) slots: Vec<Slot>,
    /// Per slot: the order's positions in the expiry heap and in its book's stop heap (`NONE`
    /// when not in one). Touched only for GTD and stop orders.
    pub(crate) heap_pos: Vec<[u32; 2]>,
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
        };
        Self {
            slots: prefaulted(n, free_slot),
            heap_pos: vec![[NONE; 2]; n],
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

    /// The wrapping sum of every live order's hash, counting the orders changed since the last
    /// [`Self::settle`] as they are now (hashed here, and again by the next `settle`).
    pub(crate) fn hash_sum(&self, instruments: &[InstrumentId]) -> u128 {
        self.dirty.iter().fold(self.hash_sum, |sum, &index| {
            let slot = &self.slots[index as usize];
            slot.rehash(instruments)
                .map_or(sum, |h| sum.wrapping_sub(slot.hash).wrapping_add(h))
        })
    }

    /// Slots changed since the last [`Self::settle`].
    pub(crate) fn pending(&self) -> usize {
        self.dirty.len()
    }

    /// Stores an order in a free slot. The caller checks `is_full` first.
    #[inline(always)]
    pub(crate) fn insert(&mut self, order: Order, book: u32, account: u32) -> u32 {
        assert!(!self.is_full(), "pool capacity is checked by the caller");
        assert!(order.id.0 != 0, "order ids start at 1");
        let links = Links {
            book: u16::try_from(book).expect("book slots fit u16"),
            account,
            ..Links::EMPTY
        };
        let index = if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            // A slot freed since the last settle may still be listed as dirty: keep `dirty`.
            let dirty = slot.links.dirty;
            slot.order = order;
            slot.hash = 0;
            slot.links = Links { dirty, ..links };
            index
        } else {
            let index = u32::try_from(self.slots.len()).expect("capacity fits u32");
            self.slots.push(Slot {
                order,
                hash: 0,
                links,
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
        assert!(slot.order.id.0 != 0, "removing a free slot");
        assert!(!slot.links.resting);
        if slot.order.expire_time.0 != 0 || slot.order.state == OrderState::PendingStop {
            assert!(self.heap_pos[index as usize] == [NONE; 2]);
        }
        slot.order.id = OrderId(0);
        self.hash_sum = self.hash_sum.wrapping_sub(slot.hash);
        slot.hash = 0;
        self.len -= 1;
        self.free.push(index);
    }

    #[inline]
    pub(crate) fn get(&self, index: u32) -> &Order {
        let slot = &self.slots[index as usize];
        assert!(slot.order.id.0 != 0);
        &slot.order
    }

    /// Changes an order's fields; its hash contribution is brought up to date by `settle`.
    #[inline]
    pub(crate) fn modify<R>(&mut self, index: u32, f: impl FnOnce(&mut Order) -> R) -> R {
        f(self.order_mut(index))
    }

    /// An order to change; its hash contribution is brought up to date by `settle`.
    #[inline]
    pub(crate) fn order_mut(&mut self, index: u32) -> &mut Order {
        &mut self.slot_mut(index).order
    }

    /// A live order's slot to change (order and links); its hash contribution is brought up
    /// to date by `settle`.
    #[inline]
    pub(crate) fn slot_mut(&mut self, index: u32) -> &mut Slot {
        self.mark(index);
        let slot = &mut self.slots[index as usize];
        assert!(slot.order.id.0 != 0);
        slot
    }

    /// A live order to change without listing it as changed: the caller [`Self::mark`]s it if
    /// it stays open. (An order removed before the next `settle` needs no mark: its settled hash
    /// leaves the sum with it.)
    #[inline]
    pub(crate) fn order_mut_unmarked(&mut self, index: u32) -> &mut Order {
        let order = &mut self.slots[index as usize].order;
        assert!(order.id.0 != 0);
        order
    }

    /// Starts loading a slot that is about to be used.
    #[inline]
    pub(crate) fn prefetch(&self, index: u32) {
        let slot = &self.slots[index as usize];
        crate::prefetch::prefetch(&slot.order);
        crate::prefetch::prefetch(&slot.links);
    }

    /// Lists a slot as changed since the last `settle`, which rehashes it.
    #[inline]
    pub(crate) fn mark(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if !slot.links.dirty {
            slot.links.dirty = true;
            self.dirty.push(index);
        }
    }

    /// Rehashes every order changed since the last call, once each. `instruments` maps book
    /// slots to instrument ids.
    pub(crate) fn settle(&mut self, instruments: &[InstrumentId]) {
        for &index in &self.dirty {
            let slot = &mut self.slots[index as usize];
            slot.links.dirty = false;
            if let Some(h) = slot.rehash(instruments) {
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
            .filter(|(_, slot)| slot.order.id.0 != 0)
            .map(|(i, _)| u32::try_from(i).expect("slots fit u32"))
    }

    /// The sum recomputed from scratch, for tests of the incremental bookkeeping.
    pub(crate) fn hash_sum_recomputed(&self, instruments: &[InstrumentId]) -> u128 {
        self.live_slots().fold(0u128, |sum, s| {
            let book = self.slots[s as usize].links.book();
            sum.wrapping_add(self.get(s).hash(instruments[book as usize]))
        })
    }
}
