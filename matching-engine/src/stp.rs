//! Self-trade prevention: what happens when the incoming order meets a resting order of its own
//! account, by the account's mode.

use protocol::{Event, ExecType, OrderStatus, Qty, RejectReason, RequestId, StpMode};

use crate::engine::{Ctx, Engine};
use crate::events::{Report, execution_report, open_status};
use crate::pool::Order;

impl Engine {
    /// Applies the mode to the incoming order `taker` (held outside the pool while it matches)
    /// meeting maker `m`; true when matching continues.
    pub(crate) fn self_trade(
        &mut self,
        ctx: Ctx,
        taker: &mut Order,
        m: u32,
        mode: StpMode,
        request_id: RequestId,
        out: &mut Vec<Event>,
    ) -> bool {
        match mode {
            StpMode::Off => unreachable!("matching only calls STP when a mode is set"),
            StpMode::CancelResting => {
                self.cancel_for_stp(ctx, m, out);
                true
            }
            StpMode::CancelIncoming => false,
            StpMode::CancelBoth => {
                self.cancel_for_stp(ctx, m, out);
                false
            }
            StpMode::Decrement => self.decrement(ctx, taker, m, request_id, out),
        }
    }

    fn cancel_for_stp(&mut self, ctx: Ctx, slot: u32, out: &mut Vec<Event>) {
        let report = Report::new(ExecType::Cancelled, OrderStatus::Cancelled, RequestId(0))
            .reason(RejectReason::SelfTradePrevented);
        self.close(ctx, slot, report, out);
    }

    /// Both orders lose the smaller of the taker's leaves and the maker's shown quantity, with
    /// no trade. An order left with nothing is cancelled; otherwise it is restated.
    fn decrement(
        &mut self,
        ctx: Ctx,
        taker: &mut Order,
        m: u32,
        request_id: RequestId,
        out: &mut Vec<Event>,
    ) -> bool {
        let qty = taker.leaves.min(self.pool.get(m).visible);
        let book = self.pool.slots[m as usize].links.book();
        let resting = *self.pool.get(m);
        let index = self.books[book as usize].instrument.index(resting.price);
        self.mark_dirty(book, resting.side, index);
        // The total quantity (`cum + leaves`) shrinks with the leaves.
        let shrink = |o: &mut crate::pool::Order| o.leaves = Qty(o.leaves.0 - qty.0);
        let instrument = self.book_instruments[book as usize];
        let maker = self.pool.modify(m, |o| {
            shrink(o);
            o.visible = Qty(o.visible.0 - qty.0);
            *o
        });
        self.books[book as usize]
            .side_mut(maker.side)
            .reduce(index, qty);
        if maker.leaves.0 == 0 {
            self.cancel_for_stp(ctx, m, out);
        } else {
            let r = Report::new(ExecType::Restated, open_status(&maker), RequestId(0))
                .reason(RejectReason::SelfTradePrevented);
            out.push(execution_report(&maker, instrument, r, ctx));
            if maker.visible.0 == 0 {
                self.refresh(m);
            }
        }
        shrink(taker);
        if taker.leaves.0 == 0 {
            return false;
        }
        let r = Report::new(ExecType::Restated, open_status(taker), request_id)
            .reason(RejectReason::SelfTradePrevented);
        out.push(execution_report(taker, instrument, r, ctx));
        true
    }
}
