//! Event construction: execution reports from orders, rejects from commands, and the end-of-command
//! market data (L2 level updates in a fixed order, then top of book where it changed).

use protocol::{
    BookLevel, ClientOrderId, Event, ExecType, ExecutionReport, InstrumentId, NewOrder, OrderId,
    OrderStatus, Price, Qty, RejectReason, RequestId, Side, TopOfBook, TradeId,
};

use crate::book::Book;
use crate::engine::{Ctx, Dirty, Engine};
use crate::levels::better;
use crate::pool::{Order, OrderState};

/// A fill to show on an execution report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fill {
    pub(crate) price: Price,
    pub(crate) qty: Qty,
    pub(crate) trade_id: TradeId,
}

/// The status of an open order from its fields.
pub(crate) fn open_status(order: &Order) -> OrderStatus {
    match (order.state, order.cum.0) {
        (OrderState::PendingStop, _) => OrderStatus::PendingTrigger,
        (OrderState::Active, 0) => OrderStatus::New,
        (OrderState::Active, _) if order.leaves.0 == 0 => OrderStatus::Filled,
        (OrderState::Active, _) => OrderStatus::PartiallyFilled,
    }
}

/// What an execution report says beyond the order's own fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Report {
    pub(crate) exec_type: ExecType,
    pub(crate) status: OrderStatus,
    pub(crate) reason: Option<RejectReason>,
    pub(crate) request_id: RequestId,
    pub(crate) fill: Option<Fill>,
    /// For cancels and replaces requested by the client: (new client id, original client id).
    pub(crate) client_ids: Option<(ClientOrderId, ClientOrderId)>,
}

impl Report {
    pub(crate) fn new(exec_type: ExecType, status: OrderStatus, request_id: RequestId) -> Self {
        Self {
            exec_type,
            status,
            reason: None,
            request_id,
            fill: None,
            client_ids: None,
        }
    }

    pub(crate) fn reason(mut self, reason: RejectReason) -> Self {
        self.reason = Some(reason);
        self
    }
}

#[inline(always)]
pub(crate) fn execution_report(
    order: &Order,
    instrument: InstrumentId,
    r: Report,
    ctx: Ctx,
) -> Event {
    let (client_order_id, orig_client_order_id) = r
        .client_ids
        .unwrap_or((order.client_order_id, ClientOrderId(0)));
    let fill = r.fill.unwrap_or(Fill {
        price: Price(0),
        qty: Qty(0),
        trade_id: TradeId(0),
    });
    let closed = matches!(r.status, OrderStatus::Cancelled | OrderStatus::Expired);
    Event::ExecutionReport(ExecutionReport {
        order_id: order.id,
        client_order_id,
        orig_client_order_id,
        request_id: r.request_id,
        price: order.price,
        order_qty: order.qty(),
        leaves_qty: if closed { Qty(0) } else { order.leaves },
        cum_qty: order.cum,
        last_price: fill.price,
        last_qty: fill.qty,
        trade_id: fill.trade_id,
        timestamp: ctx.now,
        session: order.session,
        account: order.account,
        instrument,
        reason: r.reason,
        exec_type: r.exec_type,
        status: r.status,
        side: order.side,
        order_type: order.order_type,
        time_in_force: order.tif,
    })
}

/// The report for a new order refused before it got an id.
pub(crate) fn reject_new(c: &NewOrder, reason: RejectReason, ctx: Ctx) -> Event {
    Event::ExecutionReport(ExecutionReport {
        order_id: OrderId(0),
        client_order_id: c.client_order_id,
        orig_client_order_id: ClientOrderId(0),
        request_id: c.origin.request_id,
        price: c.price,
        order_qty: c.qty,
        leaves_qty: Qty(0),
        cum_qty: Qty(0),
        last_price: Price(0),
        last_qty: Qty(0),
        trade_id: TradeId(0),
        timestamp: ctx.now,
        session: c.origin.session,
        account: c.origin.account,
        instrument: c.instrument,
        reason: Some(reason),
        exec_type: ExecType::Rejected,
        status: OrderStatus::Rejected,
        side: c.side,
        order_type: c.order_type,
        time_in_force: c.time_in_force,
    })
}

/// Records that a level of `b` (in book slot `book`) changed in this command, once per level,
/// with the key that orders its market-data update.
#[inline(always)]
pub(crate) fn mark_level(dirty: &mut Vec<Dirty>, b: &mut Book, book: u32, side: Side, index: u32) {
    let s = match side {
        Side::Buy => &mut b.bids,
        Side::Sell => &mut b.asks,
    };
    // A change can move the top of book only at or better than the side's best level.
    if s.best().is_none_or(|best| !better(side, best, index)) {
        b.top_dirty = true;
    }
    let Some(before) = s.mark_dirty(index) else {
        return;
    };
    // Per instrument: bids best (highest) first, then asks best (lowest) first.
    let order = match side {
        Side::Buy => (1 << 31) - 1 - u64::from(index),
        Side::Sell => 1 << 31 | u64::from(index),
    };
    dirty.push(Dirty {
        key: u64::from(b.instrument.id.0) << 32 | order,
        book,
        index,
        side,
        before,
    });
}

// Market-data sort keys: (instrument id, side, level from best) in 32 + 1 + 31 bits.
const _: () = assert!(crate::config::PRICE_LEVELS_LIMIT <= 1 << 31);

impl Engine {
    /// Appends an execution report about the order in `slot`.
    #[inline(always)]
    pub(crate) fn report(&self, ctx: Ctx, slot: u32, r: Report, out: &mut Vec<Event>) {
        let instrument = self.instrument_of(slot);
        out.push(execution_report(self.pool.get(slot), instrument, r, ctx));
    }

    /// Records that a level changed in this command (once per level).
    #[inline(always)]
    pub(crate) fn mark_dirty(&mut self, book: u32, side: Side, index: u32) {
        mark_level(
            &mut self.dirty,
            &mut self.books[book as usize],
            book,
            side,
            index,
        );
    }

    /// Emits one `BookLevel` per level whose displayed quantity or order count differs from before
    /// the command (a level touched but restored shows nothing), then `TopOfBook` per instrument whose best bid or
    /// offer changed since last published. Instruments in id order.
    pub(crate) fn flush_market_data(&mut self, out: &mut Vec<Event>) {
        if self.dirty.is_empty() {
            return;
        }
        if self.dirty.len() > 1 {
            self.dirty.sort_unstable_by_key(|d| d.key);
        }
        for d in &self.dirty {
            let book = &mut self.books[d.book as usize];
            let (qty, order_count) = book.side_mut(d.side).clear_dirty(d.index);
            if (qty, order_count) == d.before {
                continue;
            }
            out.push(Event::BookLevel(BookLevel {
                price: book.instrument.price(d.index),
                qty: Qty(qty),
                order_count,
                flags: 0,
                instrument: book.instrument.id,
                side: d.side,
            }));
        }
        let mut previous = u32::MAX;
        for i in 0..self.dirty.len() {
            let slot = self.dirty[i].book;
            if slot == previous {
                continue;
            }
            previous = slot;
            let book = &mut self.books[slot as usize];
            if !std::mem::replace(&mut book.top_dirty, false) {
                continue;
            }
            let tob = book.tob();
            if tob != book.published {
                book.published = tob;
                out.push(Event::TopOfBook(TopOfBook {
                    bid_price: tob.bid_price,
                    bid_qty: tob.bid_qty,
                    ask_price: tob.ask_price,
                    ask_qty: tob.ask_qty,
                    instrument: book.instrument.id,
                }));
            }
        }
        self.dirty.clear();
    }
}
