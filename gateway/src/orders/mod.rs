//! FIX application messages to the sequencer's commands and the engine's events back to FIX,
//! for one session (sans-IO). The gateway assigns each request the session's next request id
//! and each order an internal client order id; a resent NewOrderSingle (same ClOrdID) reuses
//! its request id, so the sequencer's deduplication makes sure it executes once.

use std::collections::{BTreeMap, HashMap, VecDeque};

use protocol::{
    AccountId, Cancel, ClientOrderId, Command, InstrumentId, MassCancel, MassCancelScope, NewOrder,
    OrderId, OrderStatus, OrderType, Origin, PostOnly, Price, Qty, Replace, RequestId, SessionId,
    Side, TimeInForce, TimestampNs,
};

use crate::fix::Frame;

pub mod decimal;
mod outbound;
mod snapshot;
pub mod table;

pub use snapshot::SnapshotError;

pub use outbound::FixMessage;
use table::{CL_ORD_ID_LEN_MAX, Order, OrderTable};

/// An instrument as FIX clients name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instrument {
    pub symbol: Vec<u8>,
    pub id: InstrumentId,
    /// Prices are integers in units of `10^-price_decimals`.
    pub price_decimals: u32,
}

/// What to do with a client's application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// Send this command to the sequencer.
    Command(Command),
    /// A retry of a request already sent: send it again as it was (the sequencer dedupes).
    Retry(Command),
    /// Answer the client at once (a reject, or an order status).
    Answer(FixMessage),
}

/// Cancel and replace requests on their way: the new internal id to its ClOrdID.
#[derive(Debug, Clone)]
struct Pending {
    cl_ord_id: Vec<u8>,
    orig: ClientOrderId,
}

/// One session's translation state.
#[derive(Debug)]
pub struct Translator {
    session: SessionId,
    account: AccountId,
    instruments: BTreeMap<Vec<u8>, Instrument>,
    by_id: BTreeMap<InstrumentId, Vec<u8>>,
    next_request: u64,
    table: OrderTable,
    pending: BTreeMap<ClientOrderId, Pending>,
    mass: BTreeMap<RequestId, Vec<u8>>,
    /// Commands sent, by ClOrdID, for PossDup retries: looked up, never iterated (a hash map:
    /// B-tree comparisons of byte strings were 3% of the gateway), oldest dropped first.
    sent: HashMap<Vec<u8>, Command>,
    sent_order: VecDeque<Vec<u8>>,
}

impl Translator {
    /// A session trading for `account`; its next request id is `next_request`.
    #[must_use]
    pub fn new(
        session: SessionId,
        account: AccountId,
        instruments: &[Instrument],
        next_request: u64,
        orders_max: usize,
    ) -> Self {
        Self {
            session,
            account,
            instruments: instruments
                .iter()
                .map(|i| (i.symbol.clone(), i.clone()))
                .collect(),
            by_id: instruments
                .iter()
                .map(|i| (i.id, i.symbol.clone()))
                .collect(),
            next_request,
            table: OrderTable::new(orders_max),
            pending: BTreeMap::new(),
            mass: BTreeMap::new(),
            sent: HashMap::new(),
            sent_order: VecDeque::new(),
        }
    }

    /// Whether the session has no open orders.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The request id the next command gets (persist it with the session's numbers).
    #[must_use]
    pub fn next_request(&self) -> u64 {
        self.next_request
    }

    fn origin(&mut self) -> Origin {
        let request_id = RequestId(self.next_request);
        self.next_request += 1;
        Origin {
            session: self.session,
            account: self.account,
            request_id,
        }
    }

    /// The command that cancels every open order of the session (its connection dropped).
    pub fn cancel_on_disconnect(&mut self) -> Command {
        let origin = self.origin();
        Command::CancelOnDisconnect(protocol::CancelOnDisconnect {
            origin,
            session: self.session,
        })
    }

    /// The answer to a message refused by the session's throttle.
    #[must_use]
    pub fn throttled(frame: &Frame<'_>, limit: u32) -> FixMessage {
        let seq = frame.get(34).unwrap_or(b"0");
        let text = format!("throttle exceeded: at most {limit} messages a second");
        FixMessage::business_reject(seq, frame.msg_type(), 0, &text)
    }

    /// A client's application message (already in sequence and logged on).
    pub fn inbound(&mut self, frame: &Frame<'_>, now_ns: u64) -> Inbound {
        let seq = frame.get(34).unwrap_or(b"0").to_vec();
        let result = match frame.msg_type() {
            b"D" => self.new_order(frame, now_ns),
            b"F" | b"G" => self.amend(frame, now_ns),
            b"q" => self.mass_cancel(frame),
            b"H" => self.status(frame, now_ns),
            other => Err(FixMessage::business_reject(
                &seq,
                other,
                3,
                "unsupported message",
            )),
        };
        result.unwrap_or_else(Inbound::Answer)
    }

    fn required<'a>(frame: &Frame<'a>, tag: u32, what: &str) -> Result<&'a [u8], FixMessage> {
        frame.get(tag).ok_or_else(|| {
            let seq = frame.get(34).unwrap_or(b"0");
            FixMessage::business_reject(seq, frame.msg_type(), 5, &format!("{what}({tag}) missing"))
        })
    }

    fn instrument(&self, frame: &Frame<'_>) -> Result<&Instrument, &'static str> {
        let symbol = frame.get(55).ok_or("Symbol(55) missing")?;
        self.instruments.get(symbol).ok_or("unknown Symbol(55)")
    }

    fn new_order(&mut self, frame: &Frame<'_>, now_ns: u64) -> Result<Inbound, FixMessage> {
        let cl_ord_id = Self::required(frame, 11, "ClOrdID")?;
        if let Some(command) = self.sent.get(cl_ord_id)
            && frame.get(43) == Some(b"Y")
        {
            return Ok(Inbound::Retry(*command));
        }
        let reject = |text: &str| FixMessage::order_reject(frame, now_ns, "99", text);
        if cl_ord_id.len() > CL_ORD_ID_LEN_MAX {
            return Err(reject("ClOrdID(11) longer than 64 bytes"));
        }
        let instrument = self
            .instrument(frame)
            .map_err(|text| FixMessage::order_reject(frame, now_ns, "1", text))?
            .clone();
        let side = match frame.get(54) {
            Some(b"1") => Side::Buy,
            Some(b"2") => Side::Sell,
            _ => return Err(reject("Side(54) must be 1 (buy) or 2 (sell)")),
        };
        let qty = frame
            .get(38)
            .and_then(decimal::parse_qty)
            .filter(|q| *q > 0);
        let qty = qty.ok_or_else(|| reject("OrderQty(38) must be a positive whole number"))?;
        let (order_type, price, stop) =
            order_type(frame, instrument.price_decimals).map_err(reject)?;
        let (time_in_force, expire) = time_in_force(frame).map_err(reject)?;
        let post_only = if frame
            .get(18)
            .is_some_and(|v| v.split(|b| *b == b' ').any(|i| i == b"6"))
        {
            PostOnly::Reject
        } else {
            PostOnly::Off
        };
        let origin = self.origin();
        let internal = ClientOrderId(origin.request_id.0);
        let order = Order {
            cl_ord_id: cl_ord_id.to_vec(),
            internal,
            request: origin.request_id,
            order_id: OrderId(0),
            instrument: instrument.id,
            side,
            price,
            qty,
            cum_qty: 0,
            notional: 0,
            status: OrderStatus::New,
        };
        if let Err(e) = self.table.add(order) {
            self.next_request -= 1; // nothing was sent: the id stays free
            let code = if e == table::TableError::Duplicate {
                "6"
            } else {
                "99"
            };
            return Err(FixMessage::order_reject(
                frame,
                now_ns,
                code,
                &e.to_string(),
            ));
        }
        let command = Command::NewOrder(NewOrder {
            origin,
            instrument: instrument.id,
            side,
            order_type,
            time_in_force,
            post_only,
            client_order_id: internal,
            price: Price(price),
            stop_price: Price(stop),
            qty: Qty(qty),
            display_qty: Qty(frame.get(111).and_then(decimal::parse_qty).unwrap_or(0)),
            expire_time: TimestampNs(expire),
        });
        self.remember_sent(cl_ord_id, command);
        Ok(Inbound::Command(command))
    }

    fn remember_sent(&mut self, cl_ord_id: &[u8], command: Command) {
        if self.sent.len() >= table::DONE_KEPT_MAX
            && let Some(oldest) = self.sent_order.pop_front()
        {
            self.sent.remove(&oldest);
        }
        if self.sent.insert(cl_ord_id.to_vec(), command).is_none() {
            self.sent_order.push_back(cl_ord_id.to_vec());
        }
    }

    /// OrderCancelRequest (F) and OrderCancelReplaceRequest (G).
    fn amend(&mut self, frame: &Frame<'_>, now_ns: u64) -> Result<Inbound, FixMessage> {
        let replace = frame.msg_type() == b"G";
        let cl_ord_id = Self::required(frame, 11, "ClOrdID")?;
        let orig = Self::required(frame, 41, "OrigClOrdID")?;
        if let Some(command) = self.sent.get(cl_ord_id)
            && frame.get(43) == Some(b"Y")
        {
            return Ok(Inbound::Retry(*command));
        }
        let cancel_reject = |text: &str| FixMessage::cancel_reject(frame, now_ns, replace, text);
        if cl_ord_id.len() > CL_ORD_ID_LEN_MAX || self.pending.len() >= table::DONE_KEPT_MAX {
            return Err(cancel_reject(
                "ClOrdID(11) too long, or too many requests pending",
            ));
        }
        let Some(order) = self.table.get(orig).cloned() else {
            return Err(cancel_reject("unknown order"));
        };
        let origin = self.origin();
        let internal = ClientOrderId(origin.request_id.0);
        let command = if replace {
            let decimals = self
                .by_id
                .get(&order.instrument)
                .and_then(|s| self.instruments.get(s));
            let decimals = decimals.map_or(0, |i| i.price_decimals);
            let price = frame
                .get(44)
                .and_then(|p| decimal::parse_price(p, decimals))
                .unwrap_or(order.price);
            let qty = frame
                .get(38)
                .and_then(decimal::parse_qty)
                .unwrap_or(order.qty);
            Command::Replace(Replace {
                origin,
                order_id: order.order_id,
                orig_client_order_id: order.internal,
                client_order_id: internal,
                price: Price(price),
                qty: Qty(qty),
                instrument: order.instrument,
            })
        } else {
            Command::Cancel(Cancel {
                origin,
                order_id: order.order_id,
                orig_client_order_id: order.internal,
                client_order_id: internal,
                instrument: order.instrument,
            })
        };
        self.pending.insert(
            internal,
            Pending {
                cl_ord_id: cl_ord_id.to_vec(),
                orig: order.internal,
            },
        );
        self.remember_sent(cl_ord_id, command);
        Ok(Inbound::Command(command))
    }

    /// OrderMassCancelRequest (q): 530=1 one instrument, 530=7 everything of the session.
    fn mass_cancel(&mut self, frame: &Frame<'_>) -> Result<Inbound, FixMessage> {
        let cl_ord_id = Self::required(frame, 11, "ClOrdID")?.to_vec();
        let seq = frame.get(34).unwrap_or(b"0").to_vec();
        let instrument = match frame.get(530) {
            Some(b"7") => InstrumentId(0),
            Some(b"1") => {
                self.instrument(frame)
                    .map_err(|text| FixMessage::business_reject(&seq, b"q", 2, text))?
                    .id
            }
            _ => {
                let text = "MassCancelRequestType(530) must be 1 or 7";
                return Err(FixMessage::business_reject(&seq, b"q", 0, text));
            }
        };
        let origin = self.origin();
        if self.mass.len() >= table::DONE_KEPT_MAX {
            self.mass.pop_first();
        }
        self.mass.insert(origin.request_id, cl_ord_id);
        Ok(Inbound::Command(Command::MassCancel(MassCancel {
            origin,
            instrument,
            scope: MassCancelScope::Session,
        })))
    }

    /// OrderStatusRequest (H): answered from what the execution reports said.
    fn status(&mut self, frame: &Frame<'_>, now_ns: u64) -> Result<Inbound, FixMessage> {
        let cl_ord_id = Self::required(frame, 11, "ClOrdID")?;
        let Some(order) = self.table.get(cl_ord_id) else {
            return Err(FixMessage::order_reject(
                frame,
                now_ns,
                "5",
                "unknown order",
            ));
        };
        let symbol = self
            .by_id
            .get(&order.instrument)
            .cloned()
            .unwrap_or_default();
        let decimals = self
            .instruments
            .get(&symbol)
            .map_or(0, |i| i.price_decimals);
        Ok(Inbound::Answer(FixMessage::status(
            order, &symbol, decimals, now_ns,
        )))
    }
}

/// OrdType(40) with Price(44) and StopPx(99) as the engine wants them.
fn order_type(frame: &Frame<'_>, decimals: u32) -> Result<(OrderType, i64, i64), &'static str> {
    let price = |tag| {
        frame
            .get(tag)
            .and_then(|p| decimal::parse_price(p, decimals))
    };
    match frame.get(40) {
        Some(b"1") => Ok((OrderType::Market, 0, 0)),
        Some(b"2") => Ok((
            OrderType::Limit,
            price(44).ok_or("Price(44) missing or malformed")?,
            0,
        )),
        Some(b"3") => Ok((
            OrderType::Stop,
            0,
            price(99).ok_or("StopPx(99) missing or malformed")?,
        )),
        Some(b"4") => Ok((
            OrderType::StopLimit,
            price(44).ok_or("Price(44) missing or malformed")?,
            price(99).ok_or("StopPx(99) missing or malformed")?,
        )),
        _ => Err("OrdType(40) must be 1, 2, 3 or 4"),
    }
}

/// TimeInForce(59), with ExpireTime(126) for GTD.
fn time_in_force(frame: &Frame<'_>) -> Result<(TimeInForce, u64), &'static str> {
    match frame.get(59).unwrap_or(b"0") {
        b"0" => Ok((TimeInForce::Day, 0)),
        b"1" => Ok((TimeInForce::Gtc, 0)),
        b"3" => Ok((TimeInForce::Ioc, 0)),
        b"4" => Ok((TimeInForce::Fok, 0)),
        b"6" => {
            let expire = frame.get(126).and_then(crate::session::parse_utc);
            Ok((
                TimeInForce::Gtd,
                expire.ok_or("ExpireTime(126) missing or malformed")?,
            ))
        }
        _ => Err("TimeInForce(59) must be 0, 1, 3, 4 or 6"),
    }
}

#[cfg(test)]
mod tests;
