//! The exported tables' rows. Enum fields are their snake-case names, as in the JSON formats.

use protocol::{ExecutionReport, Seq, Side, Trade};

use super::table::row;

row!(
    /// One trade.
    TradeRow {
        seq: u64,
        timestamp_ns: u64,
        trade_id: u64,
        instrument: u32,
        price: i64,
        qty: u64,
        aggressor_side: &'static str,
        maker_order_id: u64,
        taker_order_id: u64,
        maker_account: u32,
        taker_account: u32,
    }
);

row!(
    /// One execution report.
    ExecutionRow {
        seq: u64,
        timestamp_ns: u64,
        order_id: u64,
        client_order_id: u64,
        session: u32,
        account: u32,
        instrument: u32,
        side: &'static str,
        order_type: &'static str,
        time_in_force: &'static str,
        exec_type: &'static str,
        status: &'static str,
        reason: &'static str,
        price: i64,
        order_qty: u64,
        leaves_qty: u64,
        cum_qty: u64,
        last_price: i64,
        last_qty: u64,
        trade_id: u64,
    }
);

row!(
    /// One price level of a periodic L2 snapshot (`level` 0 is the best).
    LevelRow {
        seq: u64,
        timestamp_ns: u64,
        instrument: u32,
        side: &'static str,
        level: u32,
        price: i64,
        qty: u64,
        order_count: u32,
    }
);

/// A side's name.
pub(crate) fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// The snake-case serde name of each value of a protocol enum, computed once (each is leaked
/// once, a few dozen strings in all) so rows can hold `&'static str`.
fn names<T: serde::Serialize>(all: &[T], key: impl Fn(&T) -> u16) -> Vec<(u16, &'static str)> {
    all.iter()
        .map(|v| {
            let name = serde_json::to_value(v)
                .ok()
                .and_then(|j| j.as_str().map(str::to_owned))
                .expect("protocol enums serialise as their names");
            (key(v), &*Box::leak(name.into_boxed_str()))
        })
        .collect()
}

macro_rules! name_fn {
    ($fn:ident, $ty:ty, $key:expr) => {
        /// The value's snake-case name, as in the JSON formats.
        pub(crate) fn $fn(value: $ty) -> &'static str {
            static NAMES: std::sync::OnceLock<Vec<(u16, &'static str)>> =
                std::sync::OnceLock::new();
            let key = $key;
            let table = NAMES.get_or_init(|| names(<$ty>::ALL, |v| key(*v)));
            let wanted = key(value);
            table
                .iter()
                .find(|(k, _)| *k == wanted)
                .map(|(_, n)| *n)
                .expect("every value is in ALL")
        }
    };
}

name_fn!(
    order_type_name,
    protocol::OrderType,
    |v: protocol::OrderType| u16::from(v.to_u8())
);
name_fn!(
    tif_name,
    protocol::TimeInForce,
    |v: protocol::TimeInForce| u16::from(v.to_u8())
);
name_fn!(
    exec_type_name,
    protocol::ExecType,
    |v: protocol::ExecType| u16::from(v.to_u8())
);
name_fn!(
    status_name,
    protocol::OrderStatus,
    |v: protocol::OrderStatus| u16::from(v.to_u8())
);
name_fn!(
    reason_name,
    protocol::RejectReason,
    |v: protocol::RejectReason| v.to_u16()
);

impl TradeRow {
    pub(crate) fn new(seq: Seq, t: &Trade) -> Self {
        Self {
            seq: seq.0,
            timestamp_ns: t.timestamp.0,
            trade_id: t.trade_id.0,
            instrument: t.instrument.0,
            price: t.price.0,
            qty: t.qty.0,
            aggressor_side: side_name(t.aggressor_side),
            maker_order_id: t.maker_order_id.0,
            taker_order_id: t.taker_order_id.0,
            maker_account: t.maker_account.0,
            taker_account: t.taker_account.0,
        }
    }
}

impl ExecutionRow {
    pub(crate) fn new(seq: Seq, r: &ExecutionReport) -> Self {
        Self {
            seq: seq.0,
            timestamp_ns: r.timestamp.0,
            order_id: r.order_id.0,
            client_order_id: r.client_order_id.0,
            session: r.session.0,
            account: r.account.0,
            instrument: r.instrument.0,
            side: side_name(r.side),
            order_type: order_type_name(r.order_type),
            time_in_force: tif_name(r.time_in_force),
            exec_type: exec_type_name(r.exec_type),
            status: status_name(r.status),
            reason: r.reason.map_or("", reason_name),
            price: r.price.0,
            order_qty: r.order_qty.0,
            leaves_qty: r.leaves_qty.0,
            cum_qty: r.cum_qty.0,
            last_price: r.last_price.0,
            last_qty: r.last_qty.0,
            trade_id: r.trade_id.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_names_are_the_serde_names() {
        assert_eq!(
            exec_type_name(protocol::ExecType::PartialFill),
            "partial_fill"
        );
        assert_eq!(
            status_name(protocol::OrderStatus::PendingTrigger),
            "pending_trigger"
        );
        assert_eq!(tif_name(protocol::TimeInForce::Gtd), "gtd");
        assert_eq!(
            order_type_name(protocol::OrderType::StopLimit),
            "stop_limit"
        );
        assert_eq!(
            reason_name(protocol::RejectReason::RiskMaxOrderQty),
            "risk_max_order_qty"
        );
    }
}
