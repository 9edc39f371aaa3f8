//! A naive reference order book: every open order in one `Vec`, the best maker found by scanning,
//! market data by diffing the whole L2 book before and after each command. Slow and obviously
//! correct; it models limit and market orders, GTC/IOC/FOK, cancel, replace, mass cancel and
//! self-trade prevention (all modes), and must emit byte-identical events to the engine.

use std::collections::BTreeMap;

use protocol::*;

#[derive(Debug, Clone)]
struct Order {
    id: u64,
    clid: u64,
    session: u32,
    account: u32,
    instrument: u32,
    side: Side,
    order_type: OrderType,
    tif: TimeInForce,
    price: i64,
    qty: u64,
    leaves: u64,
    cum: u64,
    priority: u64,
}

#[derive(Debug, Clone)]
struct Book {
    def: DefineInstrument,
    last_trade: Option<i64>,
    published: (i64, u64, i64, u64),
}

#[derive(Debug, Clone, Default)]
pub struct Naive {
    books: Vec<Book>,
    /// Resting orders, any instrument, any order.
    orders: Vec<Order>,
    stp: BTreeMap<u32, StpMode>,
    next_order_id: u64,
    next_trade_id: u64,
    next_priority: u64,
    now: u64,
}

type L2 = BTreeMap<(u32, u8, i64), (u64, u32)>;

impl Naive {
    pub fn new() -> Self {
        Self {
            next_order_id: 1,
            next_trade_id: 1,
            next_priority: 1,
            ..Self::default()
        }
    }

    pub fn apply(&mut self, cmd: &Sequenced) -> Vec<Event> {
        self.now = cmd.timestamp.0;
        let before = self.l2();
        let mut out = Vec::new();
        match &cmd.command {
            Command::DefineInstrument(c) => {
                let reason = if self.books.iter().any(|b| b.def.instrument == c.instrument) {
                    Some(RejectReason::InstrumentExists)
                } else {
                    self.books.push(Book {
                        def: *c,
                        last_trade: None,
                        published: (0, 0, 0, 0),
                    });
                    None
                };
                out.push(admin(&c.origin, DefineInstrument::TEMPLATE_ID, reason));
            }
            Command::SetRiskLimits(c) => {
                self.stp.insert(c.account.0, c.stp_mode);
                out.push(admin(&c.origin, SetRiskLimits::TEMPLATE_ID, None));
            }
            Command::NewOrder(c) => self.new_order(c, &mut out),
            Command::Cancel(c) => self.cancel(c, &mut out),
            Command::Replace(c) => self.replace(c, &mut out),
            Command::MassCancel(c) => self.mass_cancel(c, &mut out),
            other => panic!("the naive book does not model {other:?}"),
        }
        self.market_data(&before, &mut out);
        out
    }

    fn book(&self, instrument: u32) -> Option<&Book> {
        self.books.iter().find(|b| b.def.instrument.0 == instrument)
    }

    fn check_price(d: &DefineInstrument, price: i64) -> Option<RejectReason> {
        if price < d.min_price.0 || price > d.max_price.0 {
            Some(RejectReason::PriceOutOfRange)
        } else if price.rem_euclid(d.tick_size as i64) != 0 {
            Some(RejectReason::PriceNotOnTick)
        } else {
            None
        }
    }

    fn check_qty(d: &DefineInstrument, qty: u64) -> Option<RejectReason> {
        if qty == 0 || qty < d.min_qty.0 || qty > d.max_qty.0 {
            Some(RejectReason::QtyOutOfRange)
        } else if !qty.is_multiple_of(d.lot_size) {
            Some(RejectReason::QtyNotOnLot)
        } else {
            None
        }
    }

    fn clid_taken(&self, session: u32, clid: u64) -> bool {
        self.orders
            .iter()
            .any(|o| o.session == session && o.clid == clid)
    }

    fn admit(&self, c: &NewOrder) -> Option<RejectReason> {
        let Some(book) = self.book(c.instrument.0) else {
            return Some(RejectReason::UnknownInstrument);
        };
        let d = &book.def;
        let qty_or_price = Self::check_qty(d, c.qty.0).or_else(|| {
            (c.order_type == OrderType::Limit)
                .then(|| Self::check_price(d, c.price.0))
                .flatten()
        });
        if qty_or_price.is_some() {
            return qty_or_price;
        }
        if self.clid_taken(c.origin.session.0, c.client_order_id.0) {
            return Some(RejectReason::DuplicateClientOrderId);
        }
        if c.time_in_force == TimeInForce::Fok {
            // Simulate on a copy: fillable means filled completely by trades.
            let mut copy = self.clone();
            let mut taker = copy.taker(c, 0);
            copy.match_order(&mut taker, 0, &mut Vec::new());
            if taker.cum != c.qty.0 {
                return Some(RejectReason::FokNotFillable);
            }
        }
        None
    }

    fn taker(&mut self, c: &NewOrder, id: u64) -> Order {
        Order {
            id,
            clid: c.client_order_id.0,
            session: c.origin.session.0,
            account: c.origin.account.0,
            instrument: c.instrument.0,
            side: c.side,
            order_type: c.order_type,
            tif: c.time_in_force,
            price: if c.order_type == OrderType::Limit {
                c.price.0
            } else {
                0
            },
            qty: c.qty.0,
            leaves: c.qty.0,
            cum: 0,
            priority: 0,
        }
    }

    fn new_order(&mut self, c: &NewOrder, out: &mut Vec<Event>) {
        if let Some(reason) = self.admit(c) {
            out.push(Event::ExecutionReport(ExecutionReport {
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
                timestamp: TimestampNs(self.now),
                session: c.origin.session,
                account: c.origin.account,
                instrument: c.instrument,
                reason: Some(reason),
                exec_type: ExecType::Rejected,
                status: OrderStatus::Rejected,
                side: c.side,
                order_type: c.order_type,
                time_in_force: c.time_in_force,
            }));
            return;
        }
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut taker = self.taker(c, id);
        out.push(self.report(
            &taker,
            ExecType::New,
            None,
            c.origin.request_id.0,
            None,
            None,
        ));
        self.take_and_rest(taker.clone(), c.origin.request_id.0, out);
        let _ = &mut taker;
    }

    fn take_and_rest(&mut self, mut taker: Order, request: u64, out: &mut Vec<Event>) {
        let stp_stopped = self.match_order(&mut taker, request, out);
        if taker.leaves == 0 && !stp_stopped {
            return;
        }
        let reason = if stp_stopped {
            Some(RejectReason::SelfTradePrevented)
        } else if taker.order_type == OrderType::Market {
            Some(RejectReason::NoLiquidity)
        } else if matches!(taker.tif, TimeInForce::Ioc | TimeInForce::Fok) {
            None
        } else {
            taker.priority = self.next_priority;
            self.next_priority += 1;
            self.orders.push(taker);
            return;
        };
        out.push(self.report(&taker, ExecType::Cancelled, reason, request, None, None));
    }

    /// The best resting maker for a taker: best price, then oldest.
    fn best_maker(&self, taker: &Order) -> Option<usize> {
        let side = taker.side.opposite();
        let candidates = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.instrument == taker.instrument && o.side == side);
        let better = |a: &Order, b: &Order| {
            let price = if side == Side::Sell {
                a.price.cmp(&b.price)
            } else {
                b.price.cmp(&a.price)
            };
            price.then(a.priority.cmp(&b.priority))
        };
        let (i, best) = candidates.min_by(|a, b| better(a.1, b.1))?;
        let crosses = taker.order_type == OrderType::Market
            || if taker.side == Side::Buy {
                best.price <= taker.price
            } else {
                best.price >= taker.price
            };
        crosses.then_some(i)
    }

    /// Matches; true when self-trade prevention cancels the taker's remainder.
    fn match_order(&mut self, taker: &mut Order, request: u64, out: &mut Vec<Event>) -> bool {
        let stp = self
            .stp
            .get(&taker.account)
            .copied()
            .unwrap_or(StpMode::Off);
        while taker.leaves > 0 {
            let Some(i) = self.best_maker(taker) else {
                return false;
            };
            if stp != StpMode::Off && self.orders[i].account == taker.account {
                let stp_reason = Some(RejectReason::SelfTradePrevented);
                match stp {
                    StpMode::CancelResting | StpMode::CancelBoth => {
                        let m = self.orders.remove(i);
                        out.push(self.report(&m, ExecType::Cancelled, stp_reason, 0, None, None));
                        if stp == StpMode::CancelBoth {
                            return true;
                        }
                    }
                    StpMode::CancelIncoming => return true,
                    StpMode::Decrement => {
                        let q = taker.leaves.min(self.orders[i].leaves);
                        let m = &mut self.orders[i];
                        m.qty -= q;
                        m.leaves -= q;
                        let m = m.clone();
                        if m.leaves == 0 {
                            self.orders.remove(i);
                            out.push(self.report(
                                &m,
                                ExecType::Cancelled,
                                stp_reason,
                                0,
                                None,
                                None,
                            ));
                        } else {
                            out.push(self.report(
                                &m,
                                ExecType::Restated,
                                stp_reason,
                                0,
                                None,
                                None,
                            ));
                        }
                        taker.qty -= q;
                        taker.leaves -= q;
                        if taker.leaves == 0 {
                            return true;
                        }
                        out.push(self.report(
                            taker,
                            ExecType::Restated,
                            stp_reason,
                            request,
                            None,
                            None,
                        ));
                    }
                    StpMode::Off => unreachable!(),
                }
                continue;
            }
            self.fill(taker, i, request, out);
        }
        false
    }

    fn fill(&mut self, taker: &mut Order, i: usize, request: u64, out: &mut Vec<Event>) {
        let q = taker.leaves.min(self.orders[i].leaves);
        let price = self.orders[i].price;
        let trade_id = self.next_trade_id;
        self.next_trade_id += 1;
        let m = &mut self.orders[i];
        m.leaves -= q;
        m.cum += q;
        let m = m.clone();
        out.push(Event::Trade(Trade {
            trade_id: TradeId(trade_id),
            price: Price(price),
            qty: Qty(q),
            maker_order_id: OrderId(m.id),
            taker_order_id: OrderId(taker.id),
            timestamp: TimestampNs(self.now),
            maker_account: AccountId(m.account),
            taker_account: AccountId(taker.account),
            instrument: InstrumentId(taker.instrument),
            aggressor_side: taker.side,
        }));
        self.books
            .iter_mut()
            .find(|b| b.def.instrument.0 == taker.instrument)
            .unwrap()
            .last_trade = Some(price);
        let fill = Some((price, q, trade_id));
        let kind = |o: &Order| {
            if o.leaves == 0 {
                ExecType::Fill
            } else {
                ExecType::PartialFill
            }
        };
        out.push(self.report(&m, kind(&m), None, 0, fill, None));
        if m.leaves == 0 {
            self.orders.remove(i);
        }
        taker.leaves -= q;
        taker.cum += q;
        out.push(self.report(taker, kind(taker), None, request, fill, None));
    }

    fn find(
        &self,
        session: u32,
        order_id: u64,
        orig: u64,
        instrument: u32,
    ) -> Result<usize, RejectReason> {
        let i = self
            .orders
            .iter()
            .position(|o| {
                if order_id != 0 {
                    o.id == order_id
                } else {
                    o.session == session && o.clid == orig
                }
            })
            .ok_or(RejectReason::UnknownOrder)?;
        if instrument != 0 && self.orders[i].instrument != instrument {
            return Err(RejectReason::UnknownOrder);
        }
        if self.orders[i].session != session {
            return Err(RejectReason::NotOrderOwner);
        }
        Ok(i)
    }

    fn cancel(&mut self, c: &Cancel, out: &mut Vec<Event>) {
        let o = &c.origin;
        match self.find(
            o.session.0,
            c.order_id.0,
            c.orig_client_order_id.0,
            c.instrument.0,
        ) {
            Ok(i) => {
                let order = self.orders.remove(i);
                let ids = Some((c.client_order_id.0, order.clid));
                out.push(self.report(&order, ExecType::Cancelled, None, o.request_id.0, None, ids));
            }
            Err(reason) => out.push(cancel_reject(
                o,
                c.order_id,
                c.client_order_id,
                c.orig_client_order_id,
                c.instrument,
                reason,
                CancelRejectTo::Cancel,
                self.now,
            )),
        }
    }

    fn check_replace(&self, c: &Replace) -> Result<usize, RejectReason> {
        let o = &c.origin;
        let i = self.find(
            o.session.0,
            c.order_id.0,
            c.orig_client_order_id.0,
            c.instrument.0,
        )?;
        let order = &self.orders[i];
        let d = &self.book(order.instrument).unwrap().def;
        if let Some(r) = Self::check_price(d, c.price.0).or_else(|| Self::check_qty(d, c.qty.0)) {
            return Err(r);
        }
        if c.qty.0 <= order.cum || (c.price.0 == order.price && c.qty.0 == order.qty) {
            return Err(RejectReason::InvalidReplace);
        }
        if c.client_order_id.0 != order.clid && self.clid_taken(order.session, c.client_order_id.0)
        {
            return Err(RejectReason::DuplicateClientOrderId);
        }
        Ok(i)
    }

    fn replace(&mut self, c: &Replace, out: &mut Vec<Event>) {
        let i = match self.check_replace(c) {
            Ok(i) => i,
            Err(reason) => {
                let o = &c.origin;
                out.push(cancel_reject(
                    o,
                    c.order_id,
                    c.client_order_id,
                    c.orig_client_order_id,
                    c.instrument,
                    reason,
                    CancelRejectTo::Replace,
                    self.now,
                ));
                return;
            }
        };
        let old = self.orders[i].clone();
        let ids = Some((c.client_order_id.0, old.clid));
        let request = c.origin.request_id.0;
        let keeps_priority = c.price.0 == old.price && c.qty.0 < old.qty;
        let mut order = if keeps_priority {
            self.orders[i].clone()
        } else {
            self.orders.remove(i)
        };
        order.clid = c.client_order_id.0;
        order.price = c.price.0;
        order.qty = c.qty.0;
        order.leaves = c.qty.0 - order.cum;
        out.push(self.report(&order, ExecType::Replaced, None, request, None, ids));
        if keeps_priority {
            self.orders[i] = order;
        } else {
            self.take_and_rest(order, request, out);
        }
    }

    fn mass_cancel(&mut self, c: &MassCancel, out: &mut Vec<Event>) {
        let o = c.origin;
        let mut hit: Vec<Order> = self
            .orders
            .iter()
            .filter(|x| match c.scope {
                MassCancelScope::Session => x.session == o.session.0,
                MassCancelScope::Account => x.account == o.account.0,
                MassCancelScope::Instrument => true,
            } && (c.instrument.0 == 0 || x.instrument == c.instrument.0))
            .cloned()
            .collect();
        hit.sort_by_key(|x| x.id);
        self.orders.retain(|x| !hit.iter().any(|h| h.id == x.id));
        for x in &hit {
            out.push(self.report(x, ExecType::Cancelled, None, o.request_id.0, None, None));
        }
        out.push(Event::MassCancelReport(MassCancelReport {
            request_id: o.request_id,
            cancelled_count: hit.len() as u64,
            timestamp: TimestampNs(self.now),
            session: o.session,
            account: o.account,
            instrument: c.instrument,
            scope: c.scope,
        }));
    }

    fn report(
        &self,
        o: &Order,
        exec_type: ExecType,
        reason: Option<RejectReason>,
        request: u64,
        fill: Option<(i64, u64, u64)>,
        ids: Option<(u64, u64)>,
    ) -> Event {
        let status = match exec_type {
            ExecType::Cancelled => OrderStatus::Cancelled,
            _ if o.leaves == 0 => OrderStatus::Filled,
            _ if o.cum > 0 => OrderStatus::PartiallyFilled,
            _ => OrderStatus::New,
        };
        let (clid, orig) = ids.unwrap_or((o.clid, 0));
        let (last_price, last_qty, trade_id) = fill.unwrap_or((0, 0, 0));
        Event::ExecutionReport(ExecutionReport {
            order_id: OrderId(o.id),
            client_order_id: ClientOrderId(clid),
            orig_client_order_id: ClientOrderId(orig),
            request_id: RequestId(request),
            price: Price(o.price),
            order_qty: Qty(o.qty),
            leaves_qty: Qty(if status == OrderStatus::Cancelled {
                0
            } else {
                o.leaves
            }),
            cum_qty: Qty(o.cum),
            last_price: Price(last_price),
            last_qty: Qty(last_qty),
            trade_id: TradeId(trade_id),
            timestamp: TimestampNs(self.now),
            session: SessionId(o.session),
            account: AccountId(o.account),
            instrument: InstrumentId(o.instrument),
            reason,
            exec_type,
            status,
            side: o.side,
            order_type: o.order_type,
            time_in_force: o.tif,
        })
    }

    fn l2(&self) -> L2 {
        let mut l2 = L2::new();
        for o in &self.orders {
            let e = l2
                .entry((o.instrument, o.side.to_u8(), o.price))
                .or_default();
            e.0 += o.leaves;
            e.1 += 1;
        }
        l2
    }

    fn market_data(&mut self, before: &L2, out: &mut Vec<Event>) {
        let after = self.l2();
        let mut keys: Vec<_> = before.keys().chain(after.keys()).copied().collect();
        // Instrument, bids before asks, best price first.
        keys.sort_by_key(|&(i, s, p)| (i, s, if s == Side::Buy.to_u8() { -p } else { p }));
        keys.dedup();
        for key in keys {
            let (old, new) = (before.get(&key), after.get(&key));
            if old != new {
                let (qty, count) = new.copied().unwrap_or((0, 0));
                out.push(Event::BookLevel(BookLevel {
                    price: Price(key.2),
                    qty: Qty(qty),
                    order_count: count,
                    flags: 0,
                    instrument: InstrumentId(key.0),
                    side: Side::from_u8(key.1).unwrap(),
                }));
            }
        }
        let mut ids: Vec<u32> = self.books.iter().map(|b| b.def.instrument.0).collect();
        ids.sort_unstable();
        for id in ids {
            let best = |side: Side| {
                let levels =
                    after.range((id, side.to_u8(), i64::MIN)..=(id, side.to_u8(), i64::MAX));
                let level = if side == Side::Buy {
                    levels.last()
                } else {
                    levels.into_iter().next()
                };
                level.map_or((0, 0), |(k, v)| (k.2, v.0))
            };
            let ((bp, bq), (ap, aq)) = (best(Side::Buy), best(Side::Sell));
            let book = self
                .books
                .iter_mut()
                .find(|b| b.def.instrument.0 == id)
                .unwrap();
            if book.published != (bp, bq, ap, aq) {
                book.published = (bp, bq, ap, aq);
                out.push(Event::TopOfBook(TopOfBook {
                    bid_price: Price(bp),
                    bid_qty: Qty(bq),
                    ask_price: Price(ap),
                    ask_qty: Qty(aq),
                    instrument: InstrumentId(id),
                }));
            }
        }
    }
}

fn admin(origin: &Origin, template: u16, reason: Option<RejectReason>) -> Event {
    Event::AdminReply(AdminReply {
        request_id: origin.request_id,
        session: origin.session,
        command_template: u32::from(template),
        reason,
    })
}

#[allow(clippy::too_many_arguments)]
fn cancel_reject(
    o: &Origin,
    order_id: OrderId,
    clid: ClientOrderId,
    orig: ClientOrderId,
    instrument: InstrumentId,
    reason: RejectReason,
    to: CancelRejectTo,
    now: u64,
) -> Event {
    Event::CancelReject(CancelReject {
        order_id,
        client_order_id: clid,
        orig_client_order_id: orig,
        request_id: o.request_id,
        timestamp: TimestampNs(now),
        session: o.session,
        account: o.account,
        instrument,
        reason: Some(reason),
        response_to: to,
    })
}
