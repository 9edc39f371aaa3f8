//! FIX application messages the gateway sends: execution reports and cancel rejects made from
//! the engine's events, and the gateway's own answers (rejects, order status).

use protocol::{
    CancelReject, CancelRejectTo, Event, ExecType, ExecutionReport, MassCancelReport, OrderId,
    OrderStatus, OrderType, RejectReason, Seq, Side,
};

use super::Translator;
use super::decimal::format_price;
use super::table::Order;
use crate::fix::{EncodeError, Frame, MessageBuilder};
use crate::session::format_utc;

/// A FIX application message: its MsgType and body fields, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixMessage {
    pub msg_type: &'static [u8],
    /// (tag, end of its value in `values`), in order; each value starts where the previous
    /// ends. One buffer for all values: a report is built with two allocations, not twenty.
    fields: Vec<(u32, u32)>,
    values: Vec<u8>,
}

impl FixMessage {
    fn new(msg_type: &'static [u8]) -> Self {
        Self {
            msg_type,
            fields: Vec::with_capacity(24),
            values: Vec::with_capacity(256),
        }
    }

    fn with(mut self, tag: u32, value: impl AsRef<[u8]>) -> Self {
        let value = value.as_ref();
        if !value.is_empty() {
            self.values.extend_from_slice(value);
            let end = u32::try_from(self.values.len()).expect("a message's values fit u32");
            self.fields.push((tag, end));
        }
        self
    }

    /// Each field's tag and value, in order.
    fn iter(&self) -> impl Iterator<Item = (u32, &[u8])> {
        let mut start = 0;
        self.fields.iter().map(move |&(tag, end)| {
            let value = &self.values[start..end as usize];
            start = end as usize;
            (tag, value)
        })
    }

    /// The value of `tag`, if set.
    #[must_use]
    pub fn get(&self, tag: u32) -> Option<&[u8]> {
        self.iter().find(|(t, _)| *t == tag).map(|(_, v)| v)
    }

    /// Writes the body into a message being built.
    pub fn write(&self, builder: &mut MessageBuilder) -> Result<(), EncodeError> {
        for (tag, value) in self.iter() {
            builder.field(tag, value)?;
        }
        Ok(())
    }

    /// BusinessMessageReject (j): 380 is the BusinessRejectReason.
    pub(super) fn business_reject(seq: &[u8], msg_type: &[u8], reason: u8, text: &str) -> Self {
        Self::new(b"j")
            .with(45, seq)
            .with(372, msg_type)
            .with(380, reason.to_string())
            .with(58, text)
    }

    /// A rejected ExecutionReport for an order the gateway refused itself.
    /// `reason` is OrdRejReason (103): 1 unknown symbol, 6 duplicate order, 99 other.
    pub(super) fn order_reject(frame: &Frame<'_>, now_ns: u64, reason: &str, text: &str) -> Self {
        let mut m = Self::new(b"8")
            .with(37, "NONE")
            .with(11, frame.get(11).unwrap_or(b"NONE"))
            .with(
                17,
                format!(
                    "R-{}",
                    frame.get(34).map_or("0".into(), String::from_utf8_lossy)
                ),
            )
            .with(150, "8")
            .with(39, "8");
        for tag in [55, 54, 38] {
            if let Some(v) = frame.get(tag) {
                m = m.with(tag, v);
            }
        }
        m.with(151, "0")
            .with(14, "0")
            .with(6, "0")
            .with(103, reason)
            .with(58, text)
            .with(60, format_utc(now_ns))
    }

    /// An OrderCancelReject (9) for a request the gateway refused itself.
    pub(super) fn cancel_reject(frame: &Frame<'_>, now_ns: u64, replace: bool, text: &str) -> Self {
        Self::new(b"9")
            .with(37, "NONE")
            .with(11, frame.get(11).unwrap_or(b"NONE"))
            .with(41, frame.get(41).unwrap_or(b"NONE"))
            .with(39, "8")
            .with(434, if replace { "2" } else { "1" })
            .with(102, "1")
            .with(58, text)
            .with(60, format_utc(now_ns))
    }

    /// An order status ExecutionReport (150=I) from what the gateway knows.
    pub(super) fn status(order: &Order, symbol: &[u8], decimals: u32, now_ns: u64) -> Self {
        Self::new(b"8")
            .with(37, order.order_id.0.to_string())
            .with(11, &order.cl_ord_id)
            .with(17, format!("S-{}", order.internal.0))
            .with(150, "I")
            .with(39, ord_status(order.status))
            .with(55, symbol)
            .with(54, side(order.side))
            .with(38, order.qty.to_string())
            .with(44, format_price(order.price, decimals))
            .with(151, order.qty.saturating_sub(order.cum_qty).to_string())
            .with(14, order.cum_qty.to_string())
            .with(6, avg_px(order, decimals))
            .with(60, format_utc(now_ns))
    }
}

/// OrderID(37): the engine's id, or NONE for an order that never got one.
fn order_id(id: OrderId) -> String {
    if id.0 == 0 {
        "NONE".into()
    } else {
        id.0.to_string()
    }
}

fn side(side: Side) -> &'static str {
    match side {
        Side::Buy => "1",
        Side::Sell => "2",
    }
}

fn exec_type(t: ExecType) -> &'static str {
    match t {
        ExecType::New => "0",
        ExecType::PartialFill | ExecType::Fill => "F",
        ExecType::Cancelled => "4",
        ExecType::Replaced => "5",
        ExecType::Rejected => "8",
        ExecType::Expired => "C",
        ExecType::Triggered => "L",
        ExecType::Restated => "D",
    }
}

fn ord_status(s: OrderStatus) -> &'static str {
    match s {
        OrderStatus::New | OrderStatus::PendingTrigger => "0",
        OrderStatus::PartiallyFilled => "1",
        OrderStatus::Filled => "2",
        OrderStatus::Cancelled => "4",
        OrderStatus::Replaced => "5",
        OrderStatus::Rejected => "8",
        OrderStatus::Expired => "C",
    }
}

fn ord_type(t: OrderType) -> &'static str {
    match t {
        OrderType::Market => "1",
        OrderType::Limit => "2",
        OrderType::Stop => "3",
        OrderType::StopLimit => "4",
    }
}

/// OrdRejReason (103): 1 unknown symbol, 3 order exceeds limit, 6 duplicate order, 99 other.
fn ord_rej_reason(reason: Option<RejectReason>) -> &'static str {
    match reason {
        Some(RejectReason::UnknownInstrument) => "1",
        Some(RejectReason::InstrumentHalted) => "2",
        Some(
            RejectReason::RiskMaxOrderQty
            | RejectReason::RiskMaxNotional
            | RejectReason::RiskMaxOpenOrders
            | RejectReason::RiskPriceBand,
        ) => "3",
        Some(RejectReason::DuplicateClientOrderId) => "6",
        _ => "99",
    }
}

fn avg_px(order: &Order, decimals: u32) -> String {
    if order.cum_qty == 0 {
        return "0".into();
    }
    let avg = order.notional / i128::from(order.cum_qty);
    format_price(i64::try_from(avg).unwrap_or(i64::MAX), decimals)
}

impl Translator {
    /// The FIX message an engine event becomes for this session, if any (market data and
    /// other sessions' events become none). `seq` and `index` make the ExecID, which is the
    /// same whichever engine published the event.
    pub fn outbound(&mut self, seq: Seq, index: u32, event: &Event) -> Option<FixMessage> {
        match event {
            Event::ExecutionReport(r) if r.session == self.session => {
                Some(self.report(seq, index, r))
            }
            Event::CancelReject(r) if r.session == self.session => Some(self.cancel_rejected(r)),
            Event::MassCancelReport(r) if r.session == self.session => Some(self.mass_report(r)),
            _ => None,
        }
    }

    fn symbol_of(&self, r: &ExecutionReport) -> (Vec<u8>, u32) {
        let symbol = self.by_id.get(&r.instrument).cloned().unwrap_or_default();
        let decimals = self
            .instruments
            .get(&symbol)
            .map_or(0, |i| i.price_decimals);
        (symbol, decimals)
    }

    fn report(&mut self, seq: Seq, index: u32, r: &ExecutionReport) -> FixMessage {
        let pending = self.pending.remove(&r.client_order_id);
        // The ClOrdID the request replaced or cancelled, before a replace renames it.
        let orig = pending
            .as_ref()
            .and_then(|p| self.table.cl_ord_id(p.orig).map(<[u8]>::to_vec));
        if let (Some(p), ExecType::Replaced) = (&pending, r.exec_type) {
            self.table.rename(p.orig, &p.cl_ord_id, r.client_order_id);
        }
        let cl_ord_id = pending
            .as_ref()
            .map(|p| p.cl_ord_id.clone())
            .or_else(|| self.table.cl_ord_id(r.client_order_id).map(<[u8]>::to_vec))
            .unwrap_or_else(|| r.client_order_id.0.to_string().into_bytes());
        let (symbol, decimals) = self.symbol_of(r);
        let key = if r.exec_type == ExecType::Cancelled {
            pending.as_ref().map_or(r.client_order_id, |p| p.orig)
        } else {
            r.client_order_id
        };
        let order = self.table.by_internal_mut(key).map(|o| {
            o.order_id = r.order_id;
            o.status = r.status;
            o.cum_qty = r.cum_qty.0;
            o.notional += i128::from(r.last_price.0) * i128::from(r.last_qty.0);
            o.clone()
        });
        let message = FixMessage::new(b"8")
            .with(37, order_id(r.order_id))
            .with(11, cl_ord_id)
            .with(41, orig.unwrap_or_default())
            .with(17, format!("{}-{index}", seq.0))
            .with(150, exec_type(r.exec_type))
            .with(39, ord_status(r.status))
            .with(55, symbol)
            .with(54, side(r.side))
            .with(40, ord_type(r.order_type))
            .with(38, r.order_qty.0.to_string())
            .with(44, format_price(r.price.0, decimals))
            .with(151, r.leaves_qty.0.to_string())
            .with(14, r.cum_qty.0.to_string())
            .with(
                6,
                order.as_ref().map_or("0".into(), |o| avg_px(o, decimals)),
            )
            .with(31, format_price(r.last_price.0, decimals))
            .with(32, r.last_qty.0.to_string())
            .with(60, format_utc(r.timestamp.0));
        let message = match r.exec_type {
            ExecType::Rejected => message
                .with(103, ord_rej_reason(r.reason))
                .with(58, r.reason.map_or("rejected".into(), |x| format!("{x:?}"))),
            _ => message,
        };
        if matches!(
            r.status,
            OrderStatus::Filled
                | OrderStatus::Cancelled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        ) {
            self.table.finish(key);
        }
        message
    }

    fn cancel_rejected(&mut self, r: &CancelReject) -> FixMessage {
        let pending = self.pending.remove(&r.client_order_id);
        let cl_ord_id = pending.as_ref().map_or_else(
            || r.client_order_id.0.to_string().into_bytes(),
            |p| p.cl_ord_id.clone(),
        );
        let orig = pending
            .as_ref()
            .and_then(|p| self.table.cl_ord_id(p.orig).map(<[u8]>::to_vec));
        let status = pending
            .as_ref()
            .and_then(|p| self.table.by_internal_mut(p.orig).map(|o| o.status));
        let too_late_or_unknown = if status.is_some() { "0" } else { "1" };
        FixMessage::new(b"9")
            .with(37, order_id(r.order_id))
            .with(11, cl_ord_id)
            .with(41, orig.unwrap_or_else(|| b"NONE".to_vec()))
            .with(39, status.map_or("8", ord_status))
            .with(
                434,
                if r.response_to == CancelRejectTo::Replace {
                    "2"
                } else {
                    "1"
                },
            )
            .with(102, too_late_or_unknown)
            .with(58, r.reason.map_or("refused".into(), |x| format!("{x:?}")))
    }

    fn mass_report(&mut self, r: &MassCancelReport) -> FixMessage {
        let cl_ord_id = self
            .mass
            .remove(&r.request_id)
            .unwrap_or_else(|| r.request_id.0.to_string().into_bytes());
        let whole_session = r.instrument.0 == 0;
        FixMessage::new(b"r")
            .with(11, cl_ord_id)
            .with(37, format!("M-{}", r.request_id.0))
            .with(530, if whole_session { "7" } else { "1" })
            .with(531, if whole_session { "7" } else { "1" })
            .with(533, r.cancelled_count.to_string())
            .with(60, format_utc(r.timestamp.0))
    }
}
