//! Cancel/replace: a new price and/or total quantity for an open order. Quantity down at the same
//! price keeps time priority; any price change or quantity up re-enters the order at the back (and
//! it may match if the new price crosses).

use protocol::{CancelRejectTo, Event, ExecType, PostOnly, Price, Qty, RejectReason, Replace};

use crate::amend::Target;
use crate::clients::ClientKey;
use crate::engine::{Ctx, Engine};
use crate::events::{Report, execution_report, open_status};
use crate::pool::OrderState;
use crate::risk::RiskCheck;

impl Engine {
    #[inline(never)]
    pub(crate) fn replace(&mut self, ctx: Ctx, c: &Replace, out: &mut Vec<Event>) {
        let target = Target {
            session: c.origin.session,
            account: c.origin.account,
            order_id: c.order_id,
            orig_client_order_id: c.orig_client_order_id,
            client_order_id: c.client_order_id,
            instrument: c.instrument,
            response_to: CancelRejectTo::Replace,
        };
        let checked = self
            .find_target(&target)
            .and_then(|slot| self.check_replace(slot, c).map(|price| (slot, price)));
        match checked {
            Ok((slot, price)) => self.apply_replace(ctx, c, slot, price, out),
            Err(reason) => out.push(target.reject(ctx, reason)),
        }
    }

    /// The checks, in order; the price the order will have (post-only may reprice).
    fn check_replace(&self, slot: u32, c: &Replace) -> Result<Price, RejectReason> {
        let order = self.pool.get(slot);
        let links = self.pool.slots[slot as usize].links;
        let b = &self.books[links.book() as usize];
        if order.state == OrderState::PendingStop {
            return Err(RejectReason::InvalidReplace);
        }
        b.instrument.check_price(c.price)?;
        b.instrument.check_qty(c.qty)?;
        if c.qty <= order.cum || (c.price == order.price && c.qty == order.qty()) {
            return Err(RejectReason::InvalidReplace);
        }
        let key = ClientKey {
            session: order.session.0,
            client_order_id: c.client_order_id.0,
        };
        if c.client_order_id != order.client_order_id
            && self.client_ids.get(key, &self.pool).is_some()
        {
            return Err(RejectReason::DuplicateClientOrderId);
        }
        let mut price = c.price;
        if order.post_only != PostOnly::Off {
            price = self.post_only_price(links.book(), order.side, price, order.post_only)?;
        }
        self.accounts.list[links.account as usize].check(&RiskCheck {
            qty: c.qty,
            notional_price: price,
            band_price: Some(price),
            reference: b.reference_price(),
            opens: false,
        })?;
        Ok(price)
    }

    fn apply_replace(
        &mut self,
        ctx: Ctx,
        c: &Replace,
        slot: u32,
        price: Price,
        out: &mut Vec<Event>,
    ) {
        let old = *self.pool.get(slot);
        if c.client_order_id != old.client_order_id {
            let old_key = ClientKey {
                session: old.session.0,
                client_order_id: old.client_order_id.0,
            };
            self.client_ids.remove(old_key, slot);
            self.pool
                .modify(slot, |o| o.client_order_id = c.client_order_id);
            let key = ClientKey {
                session: old.session.0,
                client_order_id: c.client_order_id.0,
            };
            self.client_ids.insert(key, slot, &self.pool);
        }
        let leaves = Qty(c.qty.0 - old.cum.0);
        let book = self.pool.slots[slot as usize].links.book();
        let instrument = self.book_instruments[book as usize];
        let mut report = |order: &crate::pool::Order| {
            let mut r = Report::new(ExecType::Replaced, open_status(order), ctx.request_id);
            r.client_ids = Some((c.client_order_id, old.client_order_id));
            out.push(execution_report(order, instrument, r, ctx));
        };
        if price == old.price && c.qty < old.qty() {
            let order = self.pool.modify(slot, |o| {
                o.client_order_id = c.client_order_id;
                o.leaves = leaves;
                o.visible = o.visible.min(leaves);
                *o
            });
            let index = self.books[book as usize].instrument.index(price);
            self.mark_dirty(book, old.side, index);
            self.books[book as usize]
                .side_mut(old.side)
                .reduce(index, Qty(old.visible.0 - order.visible.0));
            report(&order);
            return;
        }
        self.unrest(slot);
        let order = self.pool.modify(slot, |o| {
            o.client_order_id = c.client_order_id;
            o.price = price;
            o.leaves = leaves;
            *o
        });
        report(&order);
        self.take_and_rest(ctx, slot, ctx.request_id, out);
        self.run_stops(ctx, book, out);
    }
}
