//! The engine: its state, and `apply` dispatching each sequenced command to its handler.

use protocol::{Command, Event, RequestId, Sequenced, TimestampNs};

use crate::book::Book;
use crate::clients::ClientIds;
use crate::config::EngineConfig;
use crate::hash::{Hasher128, StateHash};
use crate::heap::{IndexedHeap, PosField};
use crate::ids::OrderIds;
use crate::pool::OrderPool;
use crate::risk::Accounts;
use crate::table::Table;

/// The replicated state machine: a pure function of the sequenced commands applied so far.
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) pool: OrderPool,
    pub(crate) order_ids: OrderIds,
    pub(crate) client_ids: ClientIds,
    pub(crate) books: Vec<Book>,
    /// Each book's instrument id, by book slot (what an order's book slot stands for).
    pub(crate) book_instruments: Vec<protocol::InstrumentId>,
    pub(crate) instrument_ids: Table<u32>,
    pub(crate) accounts: Accounts,
    /// GTD orders by (expire time, order id).
    pub(crate) expiries: IndexedHeap,
    pub(crate) counters: Counters,
    /// Price levels reserved by defined instruments (per side).
    pub(crate) price_levels_used: u64,
    /// Scratch: levels changed by the current command (sort key, book slot, side, level index).
    pub(crate) dirty: Vec<Dirty>,
    /// Scratch: (order id, slot) pairs for mass operations.
    pub(crate) scratch: Vec<(u64, u32)>,
}

/// Identifier and priority counters: the next value each hands out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) next_order_id: u64,
    pub(crate) next_trade_id: u64,
    pub(crate) next_priority: u64,
}

/// A price level changed in this command, with the key that orders its market-data update.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dirty {
    pub(crate) key: u64,
    pub(crate) book: u32,
    pub(crate) index: u32,
    pub(crate) side: protocol::Side,
    /// The level's (displayed quantity, order count) before the command touched it.
    pub(crate) before: (u64, u32),
}

/// Per-command context: the sequencer's time and the request being answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub(crate) now: TimestampNs,
    pub(crate) request_id: RequestId,
}

impl Engine {
    /// An empty engine with the given capacities.
    ///
    /// # Panics
    /// If the configuration is not [`EngineConfig::is_valid`] (a programming error).
    #[must_use]
    pub fn new(config: EngineConfig) -> Self {
        assert!(config.is_valid(), "invalid engine config: {config:?}");
        Self {
            config,
            pool: OrderPool::new(config.orders_max),
            order_ids: OrderIds::new(config.orders_max),
            client_ids: ClientIds::new(config.orders_max),
            books: Vec::with_capacity(config.instruments_max as usize),
            book_instruments: Vec::with_capacity(config.instruments_max as usize),
            instrument_ids: Table::new(config.instruments_max),
            accounts: Accounts::new(config.accounts_max),
            expiries: IndexedHeap::new(PosField::Expiry, config.orders_max as usize),
            counters: Counters {
                next_order_id: 1,
                next_trade_id: 1,
                next_priority: 1,
            },
            price_levels_used: 0,
            dirty: Vec::with_capacity(1024),
            scratch: Vec::new(),
        }
    }

    /// The capacities this engine was built with.
    #[must_use]
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Open orders (resting and pending stops) over all instruments.
    #[must_use]
    pub fn open_orders(&self) -> u32 {
        self.pool.len()
    }

    /// Applies one sequenced command, appending its events to `out` (which is not cleared).
    pub fn apply(&mut self, cmd: &Sequenced, out: &mut Vec<Event>) {
        let ctx = Ctx {
            now: cmd.timestamp,
            request_id: cmd.command.origin().request_id,
        };
        self.expire_due(ctx.now, out);
        match &cmd.command {
            Command::NewOrder(c) => self.new_order(ctx, c, out),
            Command::Cancel(c) => self.cancel(ctx, c, out),
            Command::Replace(c) => self.replace(ctx, c, out),
            Command::MassCancel(c) => self.mass_cancel(ctx, c, out),
            Command::CancelOnDisconnect(c) => self.cancel_on_disconnect(ctx, c, out),
            Command::DefineInstrument(c) => self.define_instrument(c, out),
            Command::SetRiskLimits(c) => self.set_risk_limits(c, out),
            Command::Timer(_) => {}
            Command::EndOfSession(c) => self.end_of_session(ctx, c, out),
            Command::RoleChange(c) => {
                self.acknowledge(&c.origin, protocol::RoleChange::TEMPLATE_ID, out)
            }
            Command::SnapshotMarker(c) => {
                self.acknowledge(&c.origin, protocol::SnapshotMarker::TEMPLATE_ID, out);
            }
        }
        self.flush_market_data(out);
        if self.pool.pending() >= crate::pool::SETTLE_PENDING_MAX {
            self.settle();
        }
    }

    /// The fingerprint of everything that affects future output.
    #[must_use]
    pub fn state_hash(&mut self) -> StateHash {
        self.settle();
        self.peek_state_hash()
    }

    /// [`Self::state_hash`] through a shared reference: orders changed since the last
    /// [`Self::settle`] are hashed by this call and again by the next `settle`.
    #[must_use]
    pub fn peek_state_hash(&self) -> StateHash {
        self.combine(
            self.pool.hash_sum(&self.book_instruments),
            self.accounts.hash_sum(),
        )
    }

    /// Brings the incremental state hash up to date: rehashes each order changed since the
    /// last call, once. [`Self::apply`] settles by itself once a bounded number of orders are
    /// pending, and [`Self::state_hash`] before it reads the hash; the hash is the same either
    /// way.
    pub fn settle(&mut self) {
        self.pool.settle(&self.book_instruments);
    }

    /// Orders changed since the hash was last settled (for tests of the bookkeeping).
    #[doc(hidden)]
    #[must_use]
    pub fn hash_pending(&self) -> usize {
        self.pool.pending()
    }

    /// The state hash recomputed from scratch (for tests of the incremental bookkeeping).
    #[doc(hidden)]
    #[must_use]
    pub fn state_hash_recomputed(&self) -> StateHash {
        self.combine(
            self.pool.hash_sum_recomputed(&self.book_instruments),
            self.accounts.hash_sum_recomputed(),
        )
    }

    fn combine(&self, orders: u128, accounts: u128) -> StateHash {
        let c = &self.counters;
        let mut h = Hasher128::new(0x656e_6769_6e65);
        h.word(c.next_order_id)
            .word(c.next_trade_id)
            .word(c.next_priority);
        let k = &self.config;
        for v in [
            k.orders_max,
            k.instruments_max,
            k.accounts_max,
            k.price_levels_max,
        ] {
            h.word(u64::from(v));
        }
        h.word(u64::from(self.pool.len()))
            .word(self.accounts.list.len() as u64);
        for book in &self.books {
            h.word128(book.hash());
        }
        h.word128(orders).word128(accounts);
        StateHash(h.finish())
    }

    pub(crate) fn book_slot(&self, id: protocol::InstrumentId) -> Option<u32> {
        self.instrument_ids.get(id.0)
    }

    /// The instrument of the order in `slot`.
    #[inline]
    pub(crate) fn instrument_of(&self, slot: u32) -> protocol::InstrumentId {
        self.book_instruments[self.pool.slots[slot as usize].links.book() as usize]
    }
}
