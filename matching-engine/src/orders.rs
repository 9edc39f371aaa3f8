//! New orders: admission (validation, duplicate ids, post-only, risk, capacity, FOK), then entry:
//! the acknowledgement, matching, and resting or cancelling the remainder.

use protocol::{
    ExecType, NewOrder, OrderId, OrderStatus, OrderType, PostOnly, Price, Qty, RejectReason,
    RequestId, Side, TimeInForce, TimestampNs,
};

use crate::book::stop_key;
use crate::clients::{ClientKey, Vacant};
use crate::engine::{Ctx, Engine};
use crate::events::{Report, execution_report, reject_new};
use crate::matching::Remainder;
use crate::pool::{Order, OrderState};
use crate::risk::{Limits, RiskCheck};
use crate::validate::{check_new_order, is_immediate, is_stop};

/// What admission found: the book, and the price the order enters with (post-only may reprice).
#[derive(Debug, Clone, Copy)]
struct Admitted {
    book: u32,
    price: Price,
    /// The account's slot, if the account is known yet.
    account: Option<u32>,
    /// Where the client order id goes in the client id table.
    client_id: Vacant,
}

impl Engine {
    pub(crate) fn new_order(&mut self, ctx: Ctx, c: &NewOrder, out: &mut Vec<protocol::Event>) {
        match self.admit(ctx, c) {
            Ok(admitted) => match admitted
                .account
                .or_else(|| self.accounts.get_or_insert(c.origin.account))
            {
                Some(account) => self.enter(ctx, c, admitted, account, out),
                None => out.push(reject_new(c, RejectReason::CapacityExceeded, ctx)),
            },
            Err(reason) => out.push(reject_new(c, reason, ctx)),
        }
    }

    fn admit(&self, ctx: Ctx, c: &NewOrder) -> Result<Admitted, RejectReason> {
        let book = self
            .book_slot(c.instrument)
            .ok_or(RejectReason::UnknownInstrument)?;
        let b = &self.books[book as usize];
        check_new_order(&b.instrument, c, ctx.now)?;
        let key = ClientKey {
            session: c.origin.session.0,
            client_order_id: c.client_order_id.0,
        };
        let client_id = self
            .client_ids
            .find(key, &self.pool)
            .err()
            .ok_or(RejectReason::DuplicateClientOrderId)?;
        let mut price = c.price;
        if c.post_only != PostOnly::Off {
            price = self.post_only_price(book, c.side, price, c.post_only)?;
        }
        let account_slot = self.accounts.get(c.origin.account);
        let (limits, open_orders) = account_slot.map_or((Limits::NONE, 0), |slot| {
            let a = &self.accounts.list[slot as usize];
            (a.limits, a.open_orders)
        });
        let account = crate::risk::Account {
            id: c.origin.account,
            limits,
            open_orders,
        };
        // Most accounts trade without limits: skip working out what the checks would need.
        if !limits.is_unlimited() {
            account.check(&RiskCheck {
                qty: c.qty,
                notional_price: match c.order_type {
                    OrderType::Limit | OrderType::StopLimit => price,
                    OrderType::Stop => c.stop_price,
                    OrderType::Market => b.reference_price(),
                },
                band_price: match c.order_type {
                    OrderType::Limit | OrderType::StopLimit => Some(price),
                    OrderType::Stop => Some(c.stop_price),
                    OrderType::Market => None,
                },
                reference: b.reference_price(),
                opens: !is_immediate(c.order_type, c.time_in_force),
            })?;
        }
        if self.pool.is_full() {
            return Err(RejectReason::CapacityExceeded);
        }
        if c.time_in_force == TimeInForce::Fok {
            let limit = (c.order_type == OrderType::Limit).then_some(price);
            let available = self.fok_available(
                book,
                c.side,
                limit,
                c.origin.account,
                limits.stp_mode,
                c.qty,
            );
            if available < c.qty {
                return Err(RejectReason::FokNotFillable);
            }
        }
        Ok(Admitted {
            book,
            price,
            account: account_slot,
            client_id,
        })
    }

    /// The price a post-only order may rest at: unchanged when it doesn't cross, one tick behind
    /// the opposite best when repricing, else refused.
    pub(crate) fn post_only_price(
        &self,
        book: u32,
        side: Side,
        price: Price,
        mode: PostOnly,
    ) -> Result<Price, RejectReason> {
        let b = &self.books[book as usize];
        let Some(best) = b.side(side.opposite()).best() else {
            return Ok(price);
        };
        let index = b.instrument.index(price);
        let crosses = match side {
            Side::Buy => index >= best,
            Side::Sell => index <= best,
        };
        if !crosses {
            return Ok(price);
        }
        let behind = match side {
            Side::Buy => best.checked_sub(1),
            Side::Sell => best
                .checked_add(1)
                .filter(|&i| i <= b.instrument.index(b.instrument.max_price)),
        };
        match (mode, behind) {
            (PostOnly::Reprice, Some(i)) => Ok(b.instrument.price(i)),
            _ => Err(RejectReason::PostOnlyWouldTake),
        }
    }

    fn enter(
        &mut self,
        ctx: Ctx,
        c: &NewOrder,
        a: Admitted,
        account: u32,
        out: &mut Vec<protocol::Event>,
    ) {
        let id = OrderId(self.counters.next_order_id);
        self.counters.next_order_id += 1;
        let stop = is_stop(c.order_type);
        let immediate = is_immediate(c.order_type, c.time_in_force);
        let order = Order {
            id,
            client_order_id: c.client_order_id,
            session: c.origin.session,
            account: c.origin.account,
            side: c.side,
            order_type: c.order_type,
            tif: c.time_in_force,
            post_only: c.post_only,
            state: if stop {
                OrderState::PendingStop
            } else {
                OrderState::Active
            },
            price: if matches!(c.order_type, OrderType::Limit | OrderType::StopLimit) {
                a.price
            } else {
                Price(0)
            },
            stop_price: if stop { c.stop_price } else { Price(0) },
            leaves: c.qty,
            cum: Qty(0),
            display_qty: c.display_qty,
            visible: Qty(0),
            expire_time: if c.time_in_force == TimeInForce::Gtd && !immediate {
                c.expire_time
            } else {
                TimestampNs(0)
            },
            priority: 0,
        };
        let status = if stop {
            OrderStatus::PendingTrigger
        } else {
            OrderStatus::New
        };
        let report = Report::new(ExecType::New, status, ctx.request_id);
        // The command's instrument is the order's book's (admission found the book by it).
        out.push(execution_report(&order, c.instrument, report, ctx));
        if stop {
            let slot = self.insert_order(order, a.book, account, Some(a.client_id));
            let key = stop_key(c.side, c.stop_price, id.0);
            self.books[a.book as usize]
                .stops_mut(c.side)
                .push(&mut self.pool, key, slot);
            // It triggers at once if the last trade is already through its stop price.
            self.run_stops(ctx, a.book, out);
        } else if !immediate && !self.would_take(a.book, c.side, a.price) {
            // A limit order that finds nothing to take rests at once: the matching loop would
            // stop at its first check, after setting up for the fills that don't come. With no
            // trade, no stop can trigger: each one the last trade price triggers was triggered
            // by the command that traded at it.
            let slot = self.insert_order(order, a.book, account, Some(a.client_id));
            self.rest(slot);
            debug_assert!(self.next_triggered(a.book).is_none());
        } else {
            // It gets a slot only if it rests: most such orders fill or are cancelled at once.
            let mut order = order;
            let remainder =
                self.match_order(ctx, &mut order, (a.book, account), ctx.request_id, out);
            if self.rests_after_matching(ctx, &order, a.book, remainder, ctx.request_id, out) {
                let slot = self.insert_order(order, a.book, account, Some(a.client_id));
                self.rest(slot);
            }
            if self.books[a.book as usize].has_stops() {
                self.run_stops(ctx, a.book, out);
            }
        }
    }

    /// Whether a limit order at `price` on `side` crosses the opposite side's best level.
    #[inline]
    fn would_take(&self, book: u32, side: Side, price: Price) -> bool {
        let b = &self.books[book as usize];
        b.side(side.opposite())
            .best()
            .is_some_and(|best| crate::matching::crosses(side, b.instrument.index(price), best))
    }

    /// Registers an order in the pool and every index; `client_id` is where its client order id
    /// goes, if known from the duplicate check.
    #[inline]
    pub(crate) fn insert_order(
        &mut self,
        order: Order,
        book: u32,
        account: u32,
        client_id: Option<Vacant>,
    ) -> u32 {
        let slot = self.register(order, book, account);
        self.index(slot, client_id);
        slot
    }

    /// Stores an order in the pool, counts it to its account and lists it for expiry; the id
    /// indexes are left to [`Self::index`].
    #[inline(always)]
    fn register(&mut self, order: Order, book: u32, account: u32) -> u32 {
        let slot = self.pool.insert(order, book, account);
        self.accounts.list[account as usize].open_orders += 1;
        if order.expire_time.0 != 0 {
            let key = u128::from(order.expire_time.0) << 64 | u128::from(order.id.0);
            self.expiries.push(&mut self.pool, key, slot);
        }
        slot
    }

    /// Makes a registered order findable by its order id and its client order id.
    #[inline(always)]
    fn index(&mut self, slot: u32, client_id: Option<Vacant>) {
        let o = self.pool.get(slot);
        let key = ClientKey {
            session: o.session.0,
            client_order_id: o.client_order_id.0,
        };
        self.order_ids.insert(o.id.0, slot, &self.pool);
        match client_id {
            Some(v) => self.client_ids.insert_vacant(v, slot, &self.pool),
            None => self.client_ids.insert(key, slot, &self.pool),
        }
    }

    /// Matches the active order in `slot` (a triggered stop, a repriced order), then rests its
    /// remainder or cancels it (market, IOC, FOK, STP).
    pub(crate) fn take_and_rest(
        &mut self,
        ctx: Ctx,
        slot: u32,
        request_id: RequestId,
        out: &mut Vec<protocol::Event>,
    ) {
        let links = self.pool.slots[slot as usize].links;
        assert!(!links.resting, "a resting order does not take");
        let mut order = *self.pool.get(slot);
        let remainder = self.match_order(
            ctx,
            &mut order,
            (links.book(), links.account),
            request_id,
            out,
        );
        *self.pool.order_mut(slot) = order;
        if self.rests_after_matching(ctx, &order, links.book(), remainder, request_id, out) {
            self.rest(slot);
        } else {
            self.retire(slot);
        }
    }

    /// Whether an order that has matched rests what it has left. A filled order doesn't; the
    /// remainder of a market, IOC or FOK order, or of one self-trade prevention stopped, is
    /// reported cancelled.
    fn rests_after_matching(
        &self,
        ctx: Ctx,
        order: &Order,
        book: u32,
        remainder: Remainder,
        request_id: RequestId,
        out: &mut Vec<protocol::Event>,
    ) -> bool {
        let reason = match remainder {
            Remainder::Filled => return false,
            Remainder::StpCancelled => Some(RejectReason::SelfTradePrevented),
            Remainder::Open if order.is_market() => Some(RejectReason::NoLiquidity),
            Remainder::Open if is_immediate(order.order_type, order.tif) => None,
            Remainder::Open => return true,
        };
        let mut r = Report::new(ExecType::Cancelled, OrderStatus::Cancelled, request_id);
        r.reason = reason;
        let instrument = self.book_instruments[book as usize];
        out.push(execution_report(order, instrument, r, ctx));
        false
    }

    /// Puts an active order at the back of its price level with a fresh priority stamp.
    pub(crate) fn rest(&mut self, slot: u32) {
        let priority = self.counters.next_priority;
        self.counters.next_priority += 1;
        let s = self.pool.slot_mut(slot);
        let o = &mut s.order;
        o.visible = if o.display_qty.0 == 0 {
            o.leaves
        } else {
            o.display_qty.min(o.leaves)
        };
        o.priority = priority;
        assert!(o.state == OrderState::Active && o.leaves.0 > 0 && !o.is_market());
        let (side, price, visible) = (o.side, o.price, o.visible);
        s.links.resting = true;
        let book = s.links.book();
        let b = &mut self.books[book as usize];
        let index = b.instrument.index(price);
        crate::events::mark_level(&mut self.dirty, b, book, side, index);
        b.side_mut(side)
            .push_back(&mut self.pool, index, slot, visible);
    }

    /// Takes a resting order out of its level (its queue position is lost).
    pub(crate) fn unrest(&mut self, slot: u32) {
        let s = &mut self.pool.slots[slot as usize];
        assert!(s.links.resting);
        s.links.resting = false;
        let (book, side, price, visible) =
            (s.links.book(), s.order.side, s.order.price, s.order.visible);
        let index = self.books[book as usize].instrument.index(price);
        self.mark_dirty(book, side, index);
        self.books[book as usize]
            .side_mut(side)
            .unlink(&mut self.pool, index, slot, visible);
    }

    /// Removes an order that is no longer open from every index and frees its slot.
    #[inline(always)]
    pub(crate) fn retire(&mut self, slot: u32) {
        let links = self.pool.slots[slot as usize].links;
        if links.resting {
            self.unrest(slot);
        }
        let o = self.pool.get(slot);
        let (id, side) = (o.id.0, o.side);
        let key = ClientKey {
            session: o.session.0,
            client_order_id: o.client_order_id.0,
        };
        // Only GTD and stop orders can be in a heap: read the side array for those only.
        if o.expire_time.0 != 0 || o.state == OrderState::PendingStop {
            let [expiry_pos, stop_pos] = self.pool.heap_pos[slot as usize];
            if expiry_pos != crate::pool::NONE {
                self.expiries.remove(&mut self.pool, slot);
            }
            if stop_pos != crate::pool::NONE {
                self.books[links.book() as usize]
                    .stops_mut(side)
                    .remove(&mut self.pool, slot);
            }
        }
        self.order_ids.remove(id, slot);
        self.client_ids.remove(key, slot);
        self.accounts.list[links.account as usize].open_orders -= 1;
        self.pool.remove(slot);
    }

    /// Reports and retires an order (cancel, expiry): the report shows the order as it was.
    pub(crate) fn close(
        &mut self,
        ctx: Ctx,
        slot: u32,
        report: Report,
        out: &mut Vec<protocol::Event>,
    ) {
        self.report(ctx, slot, report, out);
        self.retire(slot);
    }
}
