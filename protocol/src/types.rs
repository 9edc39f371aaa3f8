//! Domain value types shared by every component: newtypes for identifiers and quantities, and the
//! closed enums of the order model.
//!
//! Prices are signed fixed-point integers in the instrument's smallest price unit; an instrument's
//! `tick_size` says which multiples of that unit are valid. Quantities are unsigned integers in the
//! smallest unit; `lot_size` says which multiples are valid.

use serde::{Deserialize, Serialize};

macro_rules! newtype {
    ($(#[$meta:meta])* $name:ident($inner:ty)) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        pub struct $name(pub $inner);

        impl $name {
            /// The raw integer.
            #[must_use]
            pub const fn get(self) -> $inner {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

newtype!(
    /// A price in the instrument's smallest price unit (fixed point; may be negative for spreads).
    Price(i64)
);
newtype!(
    /// A quantity in the instrument's smallest quantity unit.
    Qty(u64)
);
newtype!(
    /// An order identifier assigned by the matching engine; unique per engine, never reused.
    OrderId(u64)
);
newtype!(
    /// The client's own identifier for an order (a gateway maps FIX `ClOrdID` strings onto it).
    ClientOrderId(u64)
);
newtype!(
    /// A client request identifier: with the session, the sequencer's deduplication key.
    RequestId(u64)
);
newtype!(
    /// A gateway session (one FIX session, or an operator). Zero is the system itself.
    SessionId(u32)
);
newtype!(
    /// A trading account; risk limits and self-trade prevention are per account.
    AccountId(u32)
);
newtype!(
    /// An instrument (one order book).
    InstrumentId(u32)
);
newtype!(
    /// A position in the total order, assigned by the sequencer; the first command is 1.
    Seq(u64)
);
newtype!(
    /// Nanoseconds since the Unix epoch, stamped by the sequencer.
    TimestampNs(u64)
);
newtype!(
    /// A leadership term: incremented by every role change.
    Term(u64)
);
newtype!(
    /// A cluster node (engine replica). Zero means none.
    NodeId(u32)
);
newtype!(
    /// A trade identifier assigned by the matching engine.
    TradeId(u64)
);
newtype!(
    /// A 128-bit digest of a matching engine's whole state (see `docs/matching-engine.md`).
    StateDigest(u128)
);

/// Declares a closed enum encoded as one byte on the wire. Zero is never a valid value, so a zeroed
/// field is caught as an error rather than read as a default.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(test, derive(proptest_derive::Arbitrary))]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)+
        }

        impl $name {
            /// Every variant, in wire-value order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The wire value.
            #[must_use]
            pub const fn to_u8(self) -> u8 {
                self as u8
            }

            /// The variant for a wire value, if there is one.
            #[must_use]
            pub const fn from_u8(value: u8) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

wire_enum!(
    /// The side of an order.
    Side {
        Buy = 1,
        Sell = 2,
    }
);

impl Side {
    /// The other side.
    #[must_use]
    pub const fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }
}

wire_enum!(
    /// How an order is priced.
    OrderType {
        /// Rests at its limit price.
        Limit = 1,
        /// Takes whatever the book offers; never rests.
        Market = 2,
        /// Becomes a market order when the last trade price reaches the stop price.
        Stop = 3,
        /// Becomes a limit order when the last trade price reaches the stop price.
        StopLimit = 4,
    }
);

wire_enum!(
    /// How long an order lives.
    TimeInForce {
        /// Good till cancelled.
        Gtc = 1,
        /// Until the next sequenced end-of-session command.
        Day = 2,
        /// Good till date: expires when sequencer time reaches `expire_time`.
        Gtd = 3,
        /// Immediate or cancel: fills what it can at arrival, cancels the rest.
        Ioc = 4,
        /// Fill or kill: fills completely at arrival or not at all.
        Fok = 5,
    }
);

wire_enum!(
    /// What a post-only order does when it would take liquidity.
    PostOnly {
        /// Not post-only: the order may take.
        Off = 1,
        /// Rejected if it would take.
        Reject = 2,
        /// Repriced to one tick behind the opposite best, so it rests without taking.
        Reprice = 3,
    }
);

wire_enum!(
    /// Self-trade prevention: what happens when an order would trade against its own account.
    StpMode {
        /// No prevention: the account may trade with itself.
        Off = 1,
        /// Cancel the resting order, continue matching the incoming one.
        CancelResting = 2,
        /// Cancel the incoming order's remainder.
        CancelIncoming = 3,
        /// Cancel both.
        CancelBoth = 4,
        /// Decrement both by the smaller quantity without a trade; cancel whichever reaches zero.
        Decrement = 5,
    }
);

wire_enum!(
    /// The scope of a mass cancel.
    MassCancelScope {
        /// Every order entered by the requesting session.
        Session = 1,
        /// Every order of the requesting account.
        Account = 2,
        /// Every order on the instrument (an operator command).
        Instrument = 3,
    }
);

wire_enum!(
    /// What an execution report reports (FIX `ExecType`).
    ExecType {
        New = 1,
        PartialFill = 2,
        Fill = 3,
        Cancelled = 4,
        Replaced = 5,
        Rejected = 6,
        Expired = 7,
        /// A stop order was triggered and entered the book as a market or limit order.
        Triggered = 8,
        /// An order's quantity was reduced without a trade (self-trade prevention `decrement`).
        Restated = 9,
    }
);

wire_enum!(
    /// The state of an order after the reported event (FIX `OrdStatus`).
    OrderStatus {
        New = 1,
        PartiallyFilled = 2,
        Filled = 3,
        Cancelled = 4,
        Rejected = 5,
        Expired = 6,
        /// A stop order waiting for its trigger.
        PendingTrigger = 7,
        Replaced = 8,
    }
);

wire_enum!(
    /// What a replica is doing, as it reports in its heartbeats.
    ReplicaRole {
        /// Applies the stream and publishes events to clients.
        Primary = 1,
        /// Applies the stream, buffers its events, publishes nothing to clients.
        Backup = 2,
        /// Loading a snapshot or replaying the journal; not yet at the live stream.
        Recovering = 3,
        /// Its state hash disagreed with the cluster's: it has stopped serving.
        Diverged = 4,
    }
);

wire_enum!(
    /// What a cancel reject answers.
    CancelRejectTo {
        Cancel = 1,
        Replace = 2,
    }
);

/// Why a command was rejected. Encoded as `u16`; zero on the wire means "no reason" (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(test, derive(proptest_derive::Arbitrary))]
#[repr(u16)]
pub enum RejectReason {
    UnknownInstrument = 1,
    InstrumentHalted = 2,
    /// The price is not a multiple of the tick size.
    PriceNotOnTick = 3,
    /// The price is outside the instrument's min/max price.
    PriceOutOfRange = 4,
    /// The quantity is not a multiple of the lot size.
    QtyNotOnLot = 5,
    /// The quantity is outside the instrument's min/max quantity.
    QtyOutOfRange = 6,
    /// An order type / time in force / field combination that is not allowed.
    InvalidOrder = 7,
    /// The display quantity of an iceberg is zero, above the order quantity, or off lot.
    InvalidDisplayQty = 8,
    /// A GTD order whose expiry time has already passed, or a GTD without an expiry.
    InvalidExpireTime = 9,
    /// The stop price is missing or invalid.
    InvalidStopPrice = 10,
    RiskMaxOrderQty = 11,
    RiskMaxNotional = 12,
    RiskMaxOpenOrders = 13,
    RiskPriceBand = 14,
    /// A post-only order (reject mode) would have taken liquidity.
    PostOnlyWouldTake = 15,
    /// A fill-or-kill order could not be filled completely at arrival.
    FokNotFillable = 16,
    /// The order to cancel or replace is not known (or no longer open).
    UnknownOrder = 17,
    /// The order belongs to another session.
    NotOrderOwner = 18,
    /// The client order id is already in use by an open order of this session.
    DuplicateClientOrderId = 19,
    /// A bounded capacity (orders, price levels, instruments, accounts) is full.
    CapacityExceeded = 20,
    /// A market order found no liquidity.
    NoLiquidity = 21,
    /// The instrument is already defined with different parameters.
    InstrumentExists = 22,
    /// An instrument definition or risk limit that is inconsistent.
    InvalidDefinition = 23,
    /// Self-trade prevention cancelled the order.
    SelfTradePrevented = 24,
    /// A replace that changes nothing, changes the side, or reduces below the filled quantity.
    InvalidReplace = 25,
}

impl RejectReason {
    /// Every variant, in wire-value order.
    pub const ALL: &'static [Self] = &[
        Self::UnknownInstrument,
        Self::InstrumentHalted,
        Self::PriceNotOnTick,
        Self::PriceOutOfRange,
        Self::QtyNotOnLot,
        Self::QtyOutOfRange,
        Self::InvalidOrder,
        Self::InvalidDisplayQty,
        Self::InvalidExpireTime,
        Self::InvalidStopPrice,
        Self::RiskMaxOrderQty,
        Self::RiskMaxNotional,
        Self::RiskMaxOpenOrders,
        Self::RiskPriceBand,
        Self::PostOnlyWouldTake,
        Self::FokNotFillable,
        Self::UnknownOrder,
        Self::NotOrderOwner,
        Self::DuplicateClientOrderId,
        Self::CapacityExceeded,
        Self::NoLiquidity,
        Self::InstrumentExists,
        Self::InvalidDefinition,
        Self::SelfTradePrevented,
        Self::InvalidReplace,
    ];

    /// The wire value.
    #[must_use]
    pub const fn to_u16(self) -> u16 {
        self as u16
    }

    /// The variant for a wire value, if there is one.
    #[must_use]
    pub fn from_u16(value: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.to_u16() == value)
    }
}

/// A fixed-size ASCII symbol, NUL-padded on the right.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Symbol(pub [u8; Symbol::LEN]);

impl Symbol {
    /// Bytes on the wire.
    pub const LEN: usize = 16;

    /// A symbol from text: printable ASCII without spaces, 1 to 16 bytes.
    pub fn new(text: &str) -> Result<Self, SymbolError> {
        let bytes = text.as_bytes();
        if bytes.is_empty() || bytes.len() > Self::LEN {
            return Err(SymbolError::Length(bytes.len()));
        }
        if !bytes.iter().all(|b| b.is_ascii_graphic()) {
            return Err(SymbolError::NotPrintable);
        }
        let mut out = [0u8; Self::LEN];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Self(out))
    }

    /// The text without padding. Valid symbols are ASCII; anything else shows as `?`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(Self::LEN);
        std::str::from_utf8(&self.0[..end]).unwrap_or("?")
    }

    /// Whether the bytes form a valid symbol: graphic ASCII, then NUL padding only.
    #[must_use]
    pub fn is_valid(bytes: &[u8; Self::LEN]) -> bool {
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(Self::LEN);
        end > 0
            && bytes[..end].iter().all(u8::is_ascii_graphic)
            && bytes[end..].iter().all(|&b| b == 0)
    }
}

impl std::fmt::Debug for Symbol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Symbol({:?})", self.as_str())
    }
}

impl Serialize for Symbol {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Symbol::new(&text).map_err(serde::de::Error::custom)
    }
}

/// Why text is not a valid symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("symbol must be 1 to 16 bytes, got {0}")]
    Length(usize),
    #[error("symbol must be printable ASCII without spaces")]
    NotPrintable,
}

#[cfg(test)]
impl proptest::arbitrary::Arbitrary for Symbol {
    type Parameters = ();
    type Strategy = proptest::strategy::BoxedStrategy<Self>;
    fn arbitrary_with((): ()) -> Self::Strategy {
        use proptest::strategy::Strategy;
        "[!-~]{1,16}"
            .prop_map(|s| Symbol::new(&s).expect("generated valid symbol"))
            .boxed()
    }
}
