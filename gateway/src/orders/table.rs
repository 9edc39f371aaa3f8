//! One FIX session's orders as the gateway knows them: FIX ClOrdIDs (strings) to the engine's
//! client order ids (numbers the gateway assigns), and what the execution reports said.

use std::collections::{BTreeMap, HashSet, VecDeque};

use protocol::{ClientOrderId, InstrumentId, OrderId, OrderStatus, RequestId, Side};

/// Bytes of a ClOrdID.
pub const CL_ORD_ID_LEN_MAX: usize = 64;
/// Finished ClOrdIDs remembered so that a reused one is refused.
pub const DONE_KEPT_MAX: usize = 65_536;

/// An order the session placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub cl_ord_id: Vec<u8>,
    pub internal: ClientOrderId,
    /// The request that placed it: a resend of the same ClOrdID reuses it, so the sequencer
    /// recognises the retry.
    pub request: RequestId,
    pub order_id: OrderId,
    pub instrument: InstrumentId,
    pub side: Side,
    pub price: i64,
    pub qty: u64,
    pub cum_qty: u64,
    /// Sum of fill price x fill quantity, for the average price.
    pub notional: i128,
    pub status: OrderStatus,
}

/// Why an order could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("ClOrdID is already in use in this session")]
    Duplicate,
    #[error("this session has {0} open orders, the most it may")]
    Full(usize),
}

/// The session's open orders (and recently finished ClOrdIDs).
#[derive(Debug)]
pub struct OrderTable {
    open: BTreeMap<Vec<u8>, Order>,
    by_internal: BTreeMap<ClientOrderId, Vec<u8>>,
    done: VecDeque<Vec<u8>>,
    /// For lookups only, never iterated (the gateway's output does not depend on its order):
    /// a hash set, since a B-tree of byte strings cost 6% of the gateway in comparisons.
    done_set: HashSet<Vec<u8>>,
    orders_max: usize,
}

impl OrderTable {
    #[must_use]
    pub fn new(orders_max: usize) -> Self {
        Self {
            open: BTreeMap::new(),
            by_internal: BTreeMap::new(),
            done: VecDeque::new(),
            done_set: HashSet::new(),
            orders_max,
        }
    }

    /// Adds a new open order.
    pub fn add(&mut self, order: Order) -> Result<(), TableError> {
        if self.open.contains_key(&order.cl_ord_id) || self.done_set.contains(&order.cl_ord_id) {
            return Err(TableError::Duplicate);
        }
        if self.open.len() >= self.orders_max {
            return Err(TableError::Full(self.orders_max));
        }
        self.by_internal
            .insert(order.internal, order.cl_ord_id.clone());
        self.open.insert(order.cl_ord_id.clone(), order);
        Ok(())
    }

    #[must_use]
    pub fn get(&self, cl_ord_id: &[u8]) -> Option<&Order> {
        self.open.get(cl_ord_id)
    }

    /// The order the engine knows by `internal`.
    pub fn by_internal_mut(&mut self, internal: ClientOrderId) -> Option<&mut Order> {
        let key = self.by_internal.get(&internal)?;
        self.open.get_mut(key)
    }

    /// A replace gave the order a new ClOrdID (and a new internal id).
    pub fn rename(&mut self, old: ClientOrderId, new_id: &[u8], new_internal: ClientOrderId) {
        let Some(key) = self.by_internal.remove(&old) else {
            return;
        };
        let Some(mut order) = self.open.remove(&key) else {
            return;
        };
        self.remember_done(key);
        order.cl_ord_id = new_id.to_vec();
        order.internal = new_internal;
        self.by_internal
            .insert(new_internal, order.cl_ord_id.clone());
        self.open.insert(order.cl_ord_id.clone(), order);
    }

    /// The order is finished: forget it, but not its ClOrdID.
    pub fn finish(&mut self, internal: ClientOrderId) {
        if let Some(key) = self.by_internal.remove(&internal) {
            self.open.remove(&key);
            self.remember_done(key);
        }
    }

    pub(super) fn remember_done(&mut self, key: Vec<u8>) {
        if self.done.len() == DONE_KEPT_MAX
            && let Some(old) = self.done.pop_front()
        {
            self.done_set.remove(&old);
        }
        self.done_set.insert(key.clone());
        self.done.push_back(key);
    }

    /// The ClOrdID of `internal`, if it is an open order of this session.
    #[must_use]
    pub fn cl_ord_id(&self, internal: ClientOrderId) -> Option<&[u8]> {
        self.by_internal.get(&internal).map(Vec::as_slice)
    }

    /// Open orders, by ClOrdID.
    pub(super) fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.open.values()
    }

    /// Finished ClOrdIDs remembered, oldest first.
    pub(super) fn done_ids(&self) -> impl Iterator<Item = &[u8]> {
        self.done.iter().map(Vec::as_slice)
    }

    /// The most open orders the session may have.
    pub(super) fn orders_max(&self) -> usize {
        self.orders_max
    }

    /// Open orders.
    #[must_use]
    pub fn len(&self) -> usize {
        self.open.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}
