//! The matching loop: an active order takes liquidity from the opposite side, best price first and
//! oldest first within a price, until it is filled, its limit stops crossing, the book is empty, or
//! self-trade prevention stops it. Also the FOK pre-check, which walks the same path read-only.

use protocol::{
    AccountId, Event, ExecType, InstrumentId, OrderStatus, Price, Qty, RequestId, Side, StpMode,
    Trade, TradeId,
};

use crate::engine::{Ctx, Engine};
use crate::events::{Fill, Report, execution_report};
use crate::pool::{Order, OrderState};

/// How matching left the incoming order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Remainder {
    Filled,
    /// Self-trade prevention cancels what is left.
    StpCancelled,
    /// Quantity left and nothing more to take.
    Open,
}

/// The execution report of one fill of an active order.
#[inline(always)]
fn fill_report(
    order: &Order,
    instrument: InstrumentId,
    fill: Fill,
    request_id: RequestId,
    ctx: Ctx,
) -> Event {
    debug_assert!(order.state == OrderState::Active && order.cum.0 > 0);
    let (exec_type, status) = if order.leaves.0 == 0 {
        (ExecType::Fill, OrderStatus::Filled)
    } else {
        (ExecType::PartialFill, OrderStatus::PartiallyFilled)
    };
    let mut r = Report::new(exec_type, status, request_id);
    r.fill = Some(fill);
    execution_report(order, instrument, r, ctx)
}

/// Whether a resting level at `best` is within an incoming order's limit level.
pub(crate) fn crosses(side: Side, limit: u32, best: u32) -> bool {
    match side {
        Side::Buy => best <= limit,
        Side::Sell => best >= limit,
    }
}

/// The incoming order being matched, and what every one of its fills shares. The order is
/// held outside the pool while it matches: a new order gets a slot only if it rests, and an order
/// from the pool (a triggered stop, a repriced order) is copied out of its slot and back.
#[derive(Debug)]
struct Taker<'a> {
    order: &'a mut Order,
    book: u32,
    instrument: InstrumentId,
    /// The side it takes from.
    makers: Side,
    request_id: RequestId,
    /// Its account's self-trade prevention mode.
    stp: StpMode,
}

impl Engine {
    /// Matches `order`, an active order in book slot `book` of the account in slot `account`,
    /// changing it as it fills; the order is in no book and no index meanwhile.
    pub(crate) fn match_order(
        &mut self,
        ctx: Ctx,
        order: &mut Order,
        (book, account): (u32, u32),
        request_id: RequestId,
        out: &mut Vec<Event>,
    ) -> Remainder {
        debug_assert!(order.state == OrderState::Active);
        let side = order.side;
        let b = &self.books[book as usize];
        let limit = (!order.is_market()).then(|| b.instrument.index(order.price));
        let mut taker = Taker {
            book,
            instrument: b.instrument.id,
            makers: side.opposite(),
            request_id,
            stp: self.accounts.list[account as usize].limits.stp_mode,
            order,
        };
        while taker.order.leaves.0 > 0 {
            let b = &self.books[book as usize];
            let Some(best) = b.side(taker.makers).best() else {
                return Remainder::Open;
            };
            if limit.is_some_and(|l| !crosses(side, l, best)) {
                return Remainder::Open;
            }
            let price = b.instrument.price(best);
            // The level changes with every fill in it: marked once, before the first.
            self.mark_dirty(book, taker.makers, best);
            if !self.take_level(ctx, &mut taker, best, price, out) {
                return Remainder::StpCancelled;
            }
        }
        Remainder::Filled
    }

    /// Takes from level `index` (at `price`), oldest order first, until the level is empty or
    /// the incoming order is filled; false when self-trade prevention cancelled the incoming
    /// order.
    fn take_level(
        &mut self,
        ctx: Ctx,
        taker: &mut Taker<'_>,
        index: u32,
        price: Price,
        out: &mut Vec<Event>,
    ) -> bool {
        loop {
            let maker = self.books[taker.book as usize]
                .side(taker.makers)
                .level(index)
                .head;
            if maker == crate::pool::NONE {
                return true;
            }
            if taker.stp != StpMode::Off && self.pool.get(maker).account == taker.order.account {
                let (mode, request_id) = (taker.stp, taker.request_id);
                if !self.self_trade(ctx, taker.order, maker, mode, request_id, out) {
                    return false;
                }
            } else {
                self.fill(ctx, taker, maker, index, price, out);
            }
            if taker.order.leaves.0 == 0 {
                return true;
            }
        }
    }

    /// One trade between the incoming order and the maker `m` at the head of level `index`
    /// (marked changed by the caller), at `price`.
    fn fill(
        &mut self,
        ctx: Ctx,
        taking: &mut Taker<'_>,
        m: u32,
        index: u32,
        price: Price,
        out: &mut Vec<Event>,
    ) {
        let (book, maker_side) = (taking.book, taking.makers);
        let trade_id = TradeId(self.counters.next_trade_id);
        self.counters.next_trade_id += 1;
        // The order behind the maker is the next maker if this one fills, and its links are
        // written when this one leaves the queue: start loading it now, behind this fill's events.
        let next = self.pool.slots[m as usize].links.next;
        if next != crate::pool::NONE {
            self.pool.prefetch(next);
        }
        // Listed for rehashing below, if it stays open.
        let maker = self.pool.order_mut_unmarked(m);
        let taker = &mut *taking.order;
        let qty = taker.leaves.min(maker.visible);
        assert!(qty.0 > 0);
        maker.leaves = Qty(maker.leaves.0 - qty.0);
        maker.cum = Qty(maker.cum.0 + qty.0);
        maker.visible = Qty(maker.visible.0 - qty.0);
        taker.leaves = Qty(taker.leaves.0 - qty.0);
        taker.cum = Qty(taker.cum.0 + qty.0);
        out.push(Event::Trade(Trade {
            trade_id,
            price,
            qty,
            maker_order_id: maker.id,
            taker_order_id: taker.id,
            timestamp: ctx.now,
            maker_account: maker.account,
            taker_account: taker.account,
            instrument: taking.instrument,
            aggressor_side: taker.side,
        }));
        let fill = Fill {
            price,
            qty,
            trade_id,
        };
        out.push(fill_report(
            maker,
            taking.instrument,
            fill,
            RequestId(0),
            ctx,
        ));
        out.push(fill_report(
            taker,
            taking.instrument,
            fill,
            taking.request_id,
            ctx,
        ));
        let (maker_leaves, maker_visible) = (maker.leaves, maker.visible);
        let b = &mut self.books[book as usize];
        b.side_mut(maker_side).reduce(index, qty);
        b.last_trade = Some(price);
        if maker_leaves.0 == 0 {
            // The level is already marked changed: take the maker off its queue directly. A
            // removed order needs no rehash: its settled hash leaves the sum with it.
            self.pool.slots[m as usize].links.resting = false;
            self.books[book as usize]
                .side_mut(maker_side)
                .unlink(&mut self.pool, index, m, Qty(0));
            self.retire(m);
        } else {
            self.pool.mark(m);
            if maker_visible.0 == 0 {
                self.refresh(m);
            }
        }
    }

    /// An iceberg whose shown slice is gone shows the next slice from the back of its level.
    pub(crate) fn refresh(&mut self, slot: u32) {
        self.unrest(slot);
        self.rest(slot);
    }

    /// The quantity an FOK order would trade at arrival, stopping early once `qty` is reached.
    ///
    /// Hidden iceberg quantity counts (it refreshes within the level), except in a level where
    /// self-trade prevention would stop the order: there only the shown quantity ahead of the
    /// first own order counts, and the walk ends. With `CancelResting`, own orders are skipped.
    pub(crate) fn fok_available(
        &self,
        book: u32,
        side: Side,
        limit: Option<Price>,
        account: AccountId,
        stp: StpMode,
        qty: Qty,
    ) -> Qty {
        let b = &self.books[book as usize];
        let limit = limit.map(|p| b.instrument.index(p));
        let opposite = b.side(side.opposite());
        let mut available = 0u64;
        for index in opposite.levels_best_first() {
            if limit.is_some_and(|l| !crosses(side, l, index)) || available >= qty.0 {
                break;
            }
            let (mut shown, mut total) = (0u64, 0u64);
            for s in opposite.queue(&self.pool, index) {
                let o = self.pool.get(s);
                if stp != StpMode::Off && o.account == account {
                    if stp == StpMode::CancelResting {
                        continue;
                    }
                    return Qty(available + shown);
                }
                shown += o.visible.0;
                total += o.leaves.0;
            }
            available += total;
        }
        Qty(available)
    }
}
