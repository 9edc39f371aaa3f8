//! Stop and stop-limit orders: pending until the instrument's last trade price reaches the stop
//! (buy: last >= stop; sell: last <= stop). Triggering is a loop, not recursion: after anything
//! that may trade, the engine triggers one order at a time, re-reading the last trade price each
//! time: buy stops first (lowest stop price, then earliest order), then sell stops (highest stop
//! price, then earliest order). Each triggered order matches and rests like a new order with
//! fresh time priority, and may move the price to trigger more.

use protocol::{Event, ExecType, OrderStatus, RequestId, Side};

use crate::book::stop_triggers;
use crate::engine::{Ctx, Engine};
use crate::events::{Report, execution_report};
use crate::pool::OrderState;

impl Engine {
    pub(crate) fn run_stops(&mut self, ctx: Ctx, book: u32, out: &mut Vec<Event>) {
        while let Some((side, slot)) = self.next_triggered(book) {
            self.books[book as usize]
                .stops_mut(side)
                .remove(&mut self.pool, slot);
            let order = self.pool.modify(slot, |o| {
                o.state = OrderState::Active;
                *o
            });
            let report = Report::new(ExecType::Triggered, OrderStatus::New, RequestId(0));
            let instrument = self.book_instruments[book as usize];
            out.push(execution_report(&order, instrument, report, ctx));
            self.take_and_rest(ctx, slot, RequestId(0), out);
        }
    }

    pub(crate) fn next_triggered(&self, book: u32) -> Option<(Side, u32)> {
        let b = &self.books[book as usize];
        let last = b.last_trade?;
        [(Side::Buy, &b.buy_stops), (Side::Sell, &b.sell_stops)]
            .into_iter()
            .find_map(|(side, heap)| {
                let (_, slot) = heap.peek()?;
                stop_triggers(side, self.pool.get(slot).stop_price, last).then_some((side, slot))
            })
    }
}
