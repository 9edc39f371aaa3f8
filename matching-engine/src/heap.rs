//! An indexed binary min-heap of order slots by a `u128` key, with removal from the middle: each
//! order records its heap position in the pool's side array [`OrderPool::heap_pos`]. Used for GTD expiries
//! (key: expire time, order id) and pending stops (key: trigger price order, order id). Keys are
//! unique (they end in the order id), so the pop order is total and deterministic.

use crate::pool::{NONE, OrderPool};

/// Which position field of an order's links a heap owns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PosField {
    Expiry = 0,
    Stop = 1,
}

impl PosField {
    fn get(self, pool: &OrderPool, slot: u32) -> u32 {
        pool.heap_pos[slot as usize][self as usize]
    }

    fn set(self, pool: &mut OrderPool, slot: u32, pos: u32) {
        pool.heap_pos[slot as usize][self as usize] = pos;
    }
}

#[derive(Debug)]
pub(crate) struct IndexedHeap {
    entries: Vec<(u128, u32)>,
    field: PosField,
}

impl IndexedHeap {
    pub(crate) fn new(field: PosField, capacity: usize) -> Self {
        Self {
            entries: Vec::with_capacity(capacity),
            field,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn peek(&self) -> Option<(u128, u32)> {
        self.entries.first().copied()
    }

    pub(crate) fn push(&mut self, pool: &mut OrderPool, key: u128, slot: u32) {
        assert!(self.field.get(pool, slot) == NONE);
        self.entries.push((key, slot));
        let pos = self.entries.len() - 1;
        self.place(pool, pos);
        self.sift_up(pool, pos);
    }

    pub(crate) fn remove(&mut self, pool: &mut OrderPool, slot: u32) {
        let pos = self.field.get(pool, slot);
        assert!(pos != NONE, "order is in the heap");
        let pos = pos as usize;
        assert!(self.entries[pos].1 == slot);
        self.field.set(pool, slot, NONE);
        let last = self.entries.pop().expect("heap holds the order");
        if pos < self.entries.len() {
            self.entries[pos] = last;
            self.place(pool, pos);
            let pos = self.sift_up(pool, pos);
            self.sift_down(pool, pos);
        }
    }

    fn place(&self, pool: &mut OrderPool, pos: usize) {
        let slot = self.entries[pos].1;
        let pos = u32::try_from(pos).expect("heap positions fit u32");
        self.field.set(pool, slot, pos);
    }

    fn swap(&mut self, pool: &mut OrderPool, a: usize, b: usize) {
        self.entries.swap(a, b);
        self.place(pool, a);
        self.place(pool, b);
    }

    fn sift_up(&mut self, pool: &mut OrderPool, mut pos: usize) -> usize {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.entries[parent].0 <= self.entries[pos].0 {
                break;
            }
            self.swap(pool, parent, pos);
            pos = parent;
        }
        pos
    }

    fn sift_down(&mut self, pool: &mut OrderPool, mut pos: usize) {
        loop {
            let left = 2 * pos + 1;
            if left >= self.entries.len() {
                return;
            }
            let right = left + 1;
            let child =
                if right < self.entries.len() && self.entries[right].0 < self.entries[left].0 {
                    right
                } else {
                    left
                };
            if self.entries[pos].0 <= self.entries[child].0 {
                return;
            }
            self.swap(pool, pos, child);
            pos = child;
        }
    }
}
