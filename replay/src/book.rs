//! `replay book`: the order book of one instrument at a point of the journal, L2 (levels) and
//! L3 (orders in queue order), as text or JSON.

use std::io::Write;
use std::path::Path;

use matching_engine::{BookView, Engine, LevelView, OrderView};
use protocol::{InstrumentId, Seq, TimestampNs};
use serde::Serialize;

use crate::error::ReplayError;
use crate::prefetch::Prefetched;
use crate::range::Start;
use crate::replayer::{HASH_INTERVAL_DEFAULT, Replayer};

/// A point of the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// After applying this command.
    Seq(Seq),
    /// After applying every command stamped at or before this time.
    Time(TimestampNs),
}

/// Replays the journal up to `at`; returns the replayer there and the time of its last command.
pub fn replay_to(
    journal: &Path,
    at: At,
    start: Start<'_>,
) -> Result<(Replayer, TimestampNs), ReplayError> {
    let mut replayer = start.replayer(HASH_INTERVAL_DEFAULT)?;
    let mut commands = Prefetched::open(journal, Seq(replayer.applied().0 + 1))?;
    let mut last_time = TimestampNs(0);
    if let At::Seq(seq) = at
        && seq < replayer.applied()
    {
        return Err(ReplayError::Gap {
            expected: replayer.applied().0,
            got: seq.0,
        });
    }
    loop {
        let done = match at {
            At::Seq(seq) => replayer.applied() >= seq,
            At::Time(_) => false,
        };
        if done {
            break;
        }
        let Some(command) = commands.next()? else {
            break;
        };
        if matches!(at, At::Time(t) if command.timestamp > t) {
            break;
        }
        replayer.apply(command)?;
        last_time = command.timestamp;
    }
    Ok((replayer, last_time))
}

/// An instrument named by its id (digits) or its symbol.
#[must_use]
pub fn find_instrument(engine: &Engine, name: &str) -> Option<InstrumentId> {
    let instruments = engine.instruments();
    if let Ok(id) = name.parse::<u32>() {
        return instruments.iter().find(|(i, _)| i.0 == id).map(|(i, _)| *i);
    }
    instruments
        .iter()
        .find(|(_, symbol)| symbol.as_str() == name)
        .map(|(i, _)| *i)
}

/// A price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Level {
    pub price: i64,
    pub qty: u64,
    pub order_count: u32,
}

/// A resting order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RestingOrder {
    pub order_id: u64,
    pub client_order_id: u64,
    pub session: u32,
    pub account: u32,
    pub price: i64,
    pub visible_qty: u64,
    pub leaves_qty: u64,
    pub cum_qty: u64,
}

/// One book at one point, ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookReport {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub instrument: u32,
    pub symbol: String,
    pub last_trade: Option<i64>,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub bid_orders: Vec<RestingOrder>,
    pub ask_orders: Vec<RestingOrder>,
    pub pending_stops: u32,
}

impl BookReport {
    /// The report of a book view taken after command `seq` stamped `timestamp`.
    #[must_use]
    pub fn new(view: &BookView, seq: Seq, timestamp: TimestampNs) -> Self {
        let level = |l: &LevelView| Level {
            price: l.price.0,
            qty: l.qty.0,
            order_count: l.order_count,
        };
        let order = |o: &OrderView| RestingOrder {
            order_id: o.order_id.0,
            client_order_id: o.client_order_id.0,
            session: o.session.0,
            account: o.account.0,
            price: o.price.0,
            visible_qty: o.visible_qty.0,
            leaves_qty: o.leaves_qty.0,
            cum_qty: o.cum_qty.0,
        };
        Self {
            seq: seq.0,
            timestamp_ns: timestamp.0,
            instrument: view.instrument.0,
            symbol: view.symbol.as_str().to_owned(),
            last_trade: view.last_trade.map(|p| p.0),
            bids: view.bids.iter().map(level).collect(),
            asks: view.asks.iter().map(level).collect(),
            bid_orders: view.bid_orders.iter().map(order).collect(),
            ask_orders: view.ask_orders.iter().map(order).collect(),
            pending_stops: view.pending_stops,
        }
    }

    /// Human-readable: a header, the L2 ladder (asks above bids), then the L3 queues.
    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        let last = self.last_trade.map_or("none".to_owned(), |p| p.to_string());
        writeln!(
            out,
            "book {} (instrument {}) after seq {} at {} ns; last trade {last}; {} pending stops",
            self.symbol, self.instrument, self.seq, self.timestamp_ns, self.pending_stops
        )?;
        writeln!(
            out,
            "L2 {:>6} {:>20} {:>14}",
            "side", "price", "qty (orders)"
        )?;
        for l in self.asks.iter().rev() {
            writeln!(
                out,
                "   {:>6} {:>20} {:>8} ({})",
                "ask", l.price, l.qty, l.order_count
            )?;
        }
        for l in &self.bids {
            writeln!(
                out,
                "   {:>6} {:>20} {:>8} ({})",
                "bid", l.price, l.qty, l.order_count
            )?;
        }
        writeln!(
            out,
            "L3 {:>6} {:>20} {:>10} {:>8} {:>8} {:>10} {:>10} {:>10}",
            "side", "price", "order_id", "session", "account", "visible", "leaves", "cum"
        )?;
        for (side, orders) in [("ask", &self.ask_orders), ("bid", &self.bid_orders)] {
            for o in orders {
                writeln!(
                    out,
                    "   {side:>6} {:>20} {:>10} {:>8} {:>8} {:>10} {:>10} {:>10}",
                    o.price,
                    o.order_id,
                    o.session,
                    o.account,
                    o.visible_qty,
                    o.leaves_qty,
                    o.cum_qty
                )?;
            }
        }
        Ok(())
    }
}
