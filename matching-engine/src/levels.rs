//! One side of a book: a dense array of price levels over the instrument's whole price range
//! (reserved when the instrument is defined), a FIFO queue of order slots per level linked through
//! the pool, and a bitset of occupied levels for finding the next best price.
//!
//! Level indexes grow with price on both sides; "better" means higher for bids, lower for asks.

use protocol::{Qty, Side};

use crate::bitset::Bitset;
use crate::pool::{NONE, OrderPool};

/// Whether level `a` is strictly better than `b` on `side`.
#[inline]
pub(crate) fn better(side: Side, a: u32, b: u32) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Level {
    pub(crate) head: u32,
    pub(crate) tail: u32,
    pub(crate) count: u32,
    /// Already queued for a market-data update in the current command.
    pub(crate) dirty: bool,
    /// Total displayed quantity.
    pub(crate) qty: u64,
}

impl Level {
    const EMPTY: Self = Self {
        head: NONE,
        tail: NONE,
        count: 0,
        dirty: false,
        qty: 0,
    };
}

#[derive(Debug)]
pub(crate) struct BookSide {
    pub(crate) side: Side,
    levels: Vec<Level>,
    occupied: Bitset,
    best: u32,
}

impl BookSide {
    pub(crate) fn new(side: Side, ticks: u32) -> Self {
        Self {
            side,
            levels: vec![Level::EMPTY; ticks as usize],
            occupied: Bitset::new(ticks),
            best: NONE,
        }
    }

    pub(crate) fn best(&self) -> Option<u32> {
        (self.best != NONE).then_some(self.best)
    }

    pub(crate) fn level(&self, idx: u32) -> &Level {
        &self.levels[idx as usize]
    }

    /// Whether level `a` is strictly better than `b` on this side.
    pub(crate) fn better(&self, a: u32, b: u32) -> bool {
        better(self.side, a, b)
    }

    /// The next occupied level after `idx`, going from best to worst.
    pub(crate) fn next_worse(&self, idx: u32) -> Option<u32> {
        match self.side {
            Side::Buy => idx
                .checked_sub(1)
                .and_then(|i| self.occupied.prev_at_or_below(i)),
            Side::Sell => self.occupied.next_at_or_above(idx + 1),
        }
    }

    /// Occupied levels from best to worst.
    pub(crate) fn levels_best_first(&self) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(self.best(), |&i| self.next_worse(i))
    }

    /// Marks a level changed in this command; the first time, its (displayed quantity, order
    /// count) before the change.
    #[inline]
    pub(crate) fn mark_dirty(&mut self, idx: u32) -> Option<(u64, u32)> {
        let level = &mut self.levels[idx as usize];
        (!std::mem::replace(&mut level.dirty, true)).then_some((level.qty, level.count))
    }

    /// Ends a level's marking for this command: its (displayed quantity, order count) now.
    #[inline]
    pub(crate) fn clear_dirty(&mut self, idx: u32) -> (u64, u32) {
        let level = &mut self.levels[idx as usize];
        level.dirty = false;
        (level.qty, level.count)
    }

    /// Appends an order (with `visible` displayed quantity) to the back of a level's queue.
    /// (Inlined: one call site per path, and the call itself cost a fifth of its work.)
    #[inline(always)]
    pub(crate) fn push_back(&mut self, pool: &mut OrderPool, idx: u32, slot: u32, visible: Qty) {
        let level = &mut self.levels[idx as usize];
        let links = &mut pool.slots[slot as usize].links;
        assert!(links.prev == NONE && links.next == NONE);
        links.prev = level.tail;
        if level.tail == NONE {
            level.head = slot;
        } else {
            pool.slots[level.tail as usize].links.next = slot;
        }
        level.tail = slot;
        level.count += 1;
        level.qty = level
            .qty
            .checked_add(visible.0)
            .expect("level qty bounded by QTY_LIMIT");
        if level.count == 1 {
            self.occupied.set(idx);
            if self.best == NONE || self.better(idx, self.best) {
                self.best = idx;
            }
        }
    }

    /// Unlinks an order whose displayed quantity is `visible` from a level's queue.
    #[inline(always)]
    pub(crate) fn unlink(&mut self, pool: &mut OrderPool, idx: u32, slot: u32, visible: Qty) {
        let level = &mut self.levels[idx as usize];
        let links = pool.slots[slot as usize].links;
        if links.prev == NONE {
            assert!(level.head == slot);
            level.head = links.next;
        } else {
            pool.slots[links.prev as usize].links.next = links.next;
        }
        if links.next == NONE {
            assert!(level.tail == slot);
            level.tail = links.prev;
        } else {
            pool.slots[links.next as usize].links.prev = links.prev;
        }
        let l = &mut pool.slots[slot as usize].links;
        l.prev = NONE;
        l.next = NONE;
        level.count -= 1;
        level.qty = level
            .qty
            .checked_sub(visible.0)
            .expect("level qty covers its orders");
        if level.count == 0 {
            assert!(level.qty == 0 && level.head == NONE);
            self.occupied.clear(idx);
            if self.best == idx {
                self.best = self.next_worse(idx).unwrap_or(NONE);
            }
        }
    }

    /// Lowers a level's displayed quantity after a fill or a reduction in place.
    #[inline]
    pub(crate) fn reduce(&mut self, idx: u32, by: Qty) {
        let level = &mut self.levels[idx as usize];
        level.qty = level
            .qty
            .checked_sub(by.0)
            .expect("level qty covers its orders");
    }

    /// The order slots of a level, front to back.
    pub(crate) fn queue<'a>(
        &self,
        pool: &'a OrderPool,
        idx: u32,
    ) -> impl Iterator<Item = u32> + 'a {
        let head = self.levels[idx as usize].head;
        std::iter::successors((head != NONE).then_some(head), move |&s| {
            let next = pool.slots[s as usize].links.next;
            (next != NONE).then_some(next)
        })
    }
}
