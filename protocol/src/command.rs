//! Commands: what gateways and operators ask for. The sequencer orders them; the matching engine
//! applies them. Template ids 1..=99 are commands.
//!
//! Every command starts with an [`Origin`], so the sequencer can deduplicate client retries by
//! `(session, request_id)` without knowing the command's type.

use serde::{Deserialize, Serialize};
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::FieldError;
use crate::types::{
    AccountId, ClientOrderId, InstrumentId, MassCancelScope, NodeId, OrderId, OrderType, PostOnly,
    Price, Qty, RequestId, SessionId, Side, StpMode, Symbol, Term, TimeInForce, TimestampNs,
};
use crate::wire::{WireField, message_enum, wire_message};

/// Who sent a command: the sequencer's deduplication key is `(session, request_id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
pub struct Origin {
    /// The gateway session (zero for the system: timers, role changes).
    pub session: SessionId,
    /// The account the command acts for.
    pub account: AccountId,
    /// Unique per session, increasing; a retry reuses it.
    pub request_id: RequestId,
}

/// The wire layout of [`Origin`]: 16 bytes.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct OriginWire {
    session: U32,
    account: U32,
    request_id: U64,
}
const _: () = assert!(size_of::<OriginWire>() == 16);

impl WireField for Origin {
    type Wire = OriginWire;
    fn to_wire(&self) -> OriginWire {
        OriginWire {
            session: self.session.to_wire(),
            account: self.account.to_wire(),
            request_id: self.request_id.to_wire(),
        }
    }
    fn from_wire(wire: &OriginWire) -> Result<Self, FieldError> {
        Ok(Self {
            session: SessionId::from_wire(&wire.session)?,
            account: AccountId::from_wire(&wire.account)?,
            request_id: RequestId::from_wire(&wire.request_id)?,
        })
    }
}

wire_message!(
    /// Enter an order.
    NewOrder / NewOrderWire, template = 1, size = 72, reserved = 0, {
        origin: Origin,
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        time_in_force: TimeInForce,
        post_only: PostOnly,
        client_order_id: ClientOrderId,
        /// Limit price (ignored for market and stop orders).
        price: Price,
        /// Trigger price for stop and stop-limit orders (ignored otherwise).
        stop_price: Price,
        qty: Qty,
        /// Iceberg: the quantity shown in the book; zero shows the whole order.
        display_qty: Qty,
        /// GTD: expiry in sequencer time (ignored for other times in force).
        expire_time: TimestampNs,
    }
);

wire_message!(
    /// Cancel an open order, named by `order_id`, or when that is zero by `orig_client_order_id`.
    Cancel / CancelWire, template = 2, size = 48, reserved = 4, {
        origin: Origin,
        order_id: OrderId,
        orig_client_order_id: ClientOrderId,
        /// The client's id for this cancel request.
        client_order_id: ClientOrderId,
        instrument: InstrumentId,
    }
);

wire_message!(
    /// Change an open order's price and/or total quantity (FIX cancel/replace). Quantity down at
    /// the same price keeps time priority; a price change or quantity up loses it.
    Replace / ReplaceWire, template = 3, size = 64, reserved = 4, {
        origin: Origin,
        order_id: OrderId,
        orig_client_order_id: ClientOrderId,
        /// The order's new client id.
        client_order_id: ClientOrderId,
        price: Price,
        /// New total order quantity (filled quantity included), as in FIX `OrderQty`.
        qty: Qty,
        instrument: InstrumentId,
    }
);

wire_message!(
    /// Cancel every open order in a scope, optionally on one instrument only.
    MassCancel / MassCancelWire, template = 4, size = 24, reserved = 3, {
        origin: Origin,
        /// Zero means every instrument.
        instrument: InstrumentId,
        scope: MassCancelScope,
    }
);

wire_message!(
    /// A gateway lost a session that asked for cancel-on-disconnect: cancel all its orders.
    CancelOnDisconnect / CancelOnDisconnectWire, template = 5, size = 24, reserved = 4, {
        origin: Origin,
        /// The session whose orders are cancelled.
        session: SessionId,
    }
);

wire_message!(
    /// Define an instrument (an order book) and its trading parameters.
    DefineInstrument / DefineInstrumentWire, template = 10, size = 96, reserved = 4, {
        origin: Origin,
        symbol: Symbol,
        /// Valid prices are multiples of this (in price units); at least 1.
        tick_size: u64,
        /// Valid quantities are multiples of this; at least 1.
        lot_size: u64,
        min_price: Price,
        max_price: Price,
        min_qty: Qty,
        max_qty: Qty,
        /// The reference for price bands until the first trade.
        reference_price: Price,
        instrument: InstrumentId,
    }
);

wire_message!(
    /// Set an account's pre-trade risk limits and self-trade prevention mode.
    SetRiskLimits / SetRiskLimitsWire, template = 11, size = 56, reserved = 7, {
        origin: Origin,
        account: AccountId,
        /// Most open orders at once; zero means no limit.
        max_open_orders: u32,
        /// Largest quantity of one order; zero means no limit.
        max_order_qty: Qty,
        /// Largest price x quantity of one order (absolute price); zero means no limit.
        max_notional: u64,
        /// Largest distance in price units from the reference price; zero means no band.
        price_band: u64,
        stp_mode: StpMode,
    }
);

wire_message!(
    /// A clock tick: time-based behaviour (GTD expiry) happens at the sequencer's stamp.
    Timer / TimerWire, template = 12, size = 16, reserved = 0, {
        origin: Origin,
    }
);

wire_message!(
    /// End of a trading session: day orders expire.
    EndOfSession / EndOfSessionWire, template = 13, size = 24, reserved = 4, {
        origin: Origin,
        /// Zero means every instrument.
        instrument: InstrumentId,
    }
);

wire_message!(
    /// A change of roles: from this point of the total order, `primary` serves clients.
    RoleChange / RoleChangeWire, template = 14, size = 32, reserved = 0, {
        origin: Origin,
        term: Term,
        primary: NodeId,
        /// Zero when there is no backup.
        backup: NodeId,
    }
);

wire_message!(
    /// Every replica snapshots its state at this point of the total order.
    SnapshotMarker / SnapshotMarkerWire, template = 15, size = 24, reserved = 0, {
        origin: Origin,
        snapshot_id: u64,
    }
);

message_enum!(
    /// A command, as sequenced and applied.
    Command, kind = "command", {
        NewOrder(NewOrder / NewOrderWire),
        Cancel(Cancel / CancelWire),
        Replace(Replace / ReplaceWire),
        MassCancel(MassCancel / MassCancelWire),
        CancelOnDisconnect(CancelOnDisconnect / CancelOnDisconnectWire),
        DefineInstrument(DefineInstrument / DefineInstrumentWire),
        SetRiskLimits(SetRiskLimits / SetRiskLimitsWire),
        Timer(Timer / TimerWire),
        EndOfSession(EndOfSession / EndOfSessionWire),
        RoleChange(RoleChange / RoleChangeWire),
        SnapshotMarker(SnapshotMarker / SnapshotMarkerWire),
    }
);

impl Command {
    /// Who sent the command.
    #[must_use]
    pub fn origin(&self) -> &Origin {
        match self {
            Self::NewOrder(c) => &c.origin,
            Self::Cancel(c) => &c.origin,
            Self::Replace(c) => &c.origin,
            Self::MassCancel(c) => &c.origin,
            Self::CancelOnDisconnect(c) => &c.origin,
            Self::DefineInstrument(c) => &c.origin,
            Self::SetRiskLimits(c) => &c.origin,
            Self::Timer(c) => &c.origin,
            Self::EndOfSession(c) => &c.origin,
            Self::RoleChange(c) => &c.origin,
            Self::SnapshotMarker(c) => &c.origin,
        }
    }
}

/// Bytes of the largest command on the wire, header included.
pub const COMMAND_SIZE_MAX: usize = crate::wire::HEADER_SIZE + DefineInstrument::BODY_SIZE;
