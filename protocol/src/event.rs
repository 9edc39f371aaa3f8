//! Events: what the matching engine emits for each command. Template ids 100..=199 are events.
//!
//! Private events ([`ExecutionReport`], [`CancelReject`], [`MassCancelReport`], [`AdminReply`]) go
//! to one session; public events ([`Trade`], [`BookLevel`], [`TopOfBook`]) are market data.

use crate::types::{
    AccountId, CancelRejectTo, ClientOrderId, ExecType, InstrumentId, MassCancelScope, OrderId,
    OrderStatus, OrderType, Price, Qty, RejectReason, RequestId, SessionId, Side, TimeInForce,
    TimestampNs, TradeId,
};
use crate::wire::{message_enum, wire_message};

wire_message!(
    /// The state of one order after something happened to it (FIX `ExecutionReport`).
    ExecutionReport / ExecutionReportWire, template = 100, size = 120, reserved = 5, {
        /// Zero for an order rejected before it got an id.
        order_id: OrderId,
        client_order_id: ClientOrderId,
        /// The previous client id, on `replaced` and `cancelled` reports of requests.
        orig_client_order_id: ClientOrderId,
        /// The request this report answers (zero when unsolicited: fills of resting orders).
        request_id: RequestId,
        /// The order's limit price (zero for market orders).
        price: Price,
        /// Total order quantity.
        order_qty: Qty,
        /// Open quantity left.
        leaves_qty: Qty,
        /// Quantity filled so far.
        cum_qty: Qty,
        /// Price of this fill (zero when not a fill).
        last_price: Price,
        /// Quantity of this fill (zero when not a fill).
        last_qty: Qty,
        /// This fill's trade (zero when not a fill).
        trade_id: TradeId,
        /// The sequencer time of the command that caused this report.
        timestamp: TimestampNs,
        session: SessionId,
        account: AccountId,
        instrument: InstrumentId,
        /// Set when `exec_type` is `rejected`, or a cancel was forced (STP, no liquidity).
        reason: Option<RejectReason>,
        exec_type: ExecType,
        status: OrderStatus,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
    }
);

wire_message!(
    /// A trade between a resting (maker) and an incoming (taker) order.
    Trade / TradeWire, template = 101, size = 64, reserved = 3, {
        trade_id: TradeId,
        price: Price,
        qty: Qty,
        maker_order_id: OrderId,
        taker_order_id: OrderId,
        timestamp: TimestampNs,
        maker_account: AccountId,
        taker_account: AccountId,
        instrument: InstrumentId,
        aggressor_side: Side,
    }
);

wire_message!(
    /// An L2 price level changed: the new total quantity and order count (zero: level gone).
    BookLevel / BookLevelWire, template = 102, size = 32, reserved = 3, {
        price: Price,
        qty: Qty,
        order_count: u32,
        /// Reserved for flags; zero.
        flags: u32,
        instrument: InstrumentId,
        side: Side,
    }
);

wire_message!(
    /// The best bid and offer changed. A side with no orders has zero price and quantity.
    TopOfBook / TopOfBookWire, template = 103, size = 40, reserved = 4, {
        bid_price: Price,
        bid_qty: Qty,
        ask_price: Price,
        ask_qty: Qty,
        instrument: InstrumentId,
    }
);

wire_message!(
    /// A cancel or replace could not be done (FIX `OrderCancelReject`).
    CancelReject / CancelRejectWire, template = 104, size = 56, reserved = 1, {
        order_id: OrderId,
        client_order_id: ClientOrderId,
        orig_client_order_id: ClientOrderId,
        request_id: RequestId,
        timestamp: TimestampNs,
        session: SessionId,
        account: AccountId,
        instrument: InstrumentId,
        reason: Option<RejectReason>,
        response_to: CancelRejectTo,
    }
);

wire_message!(
    /// The outcome of a mass cancel (FIX `OrderMassCancelReport`).
    MassCancelReport / MassCancelReportWire, template = 105, size = 40, reserved = 3, {
        request_id: RequestId,
        cancelled_count: u64,
        timestamp: TimestampNs,
        session: SessionId,
        account: AccountId,
        instrument: InstrumentId,
        scope: MassCancelScope,
    }
);

wire_message!(
    /// The outcome of an administrative command (instrument definition, risk limits).
    AdminReply / AdminReplyWire, template = 106, size = 24, reserved = 6, {
        request_id: RequestId,
        session: SessionId,
        /// Template id of the command answered.
        command_template: u32,
        /// Why it was refused; `None` when it took effect.
        reason: Option<RejectReason>,
    }
);

message_enum!(
    /// An event emitted by the matching engine.
    Event, kind = "event", {
        ExecutionReport(ExecutionReport / ExecutionReportWire),
        Trade(Trade / TradeWire),
        BookLevel(BookLevel / BookLevelWire),
        TopOfBook(TopOfBook / TopOfBookWire),
        CancelReject(CancelReject / CancelRejectWire),
        MassCancelReport(MassCancelReport / MassCancelReportWire),
        AdminReply(AdminReply / AdminReplyWire),
    }
);

/// Bytes of the largest event on the wire, header included.
pub const EVENT_SIZE_MAX: usize = crate::wire::HEADER_SIZE + ExecutionReport::BODY_SIZE;
