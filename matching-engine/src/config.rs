//! Bounded capacities. Every table, slab and book is sized from an [`EngineConfig`] when the engine
//! is built (or, for price levels, when an instrument is defined), so steady-state matching never
//! allocates. A command that would exceed a capacity is rejected with `CapacityExceeded`.

/// The largest quantity an instrument may allow (`max_qty`): 2^40 units.
pub const QTY_LIMIT: u64 = 1 << 40;

/// The largest `orders_max` a configuration may ask for: 2^23 orders.
pub const ORDERS_LIMIT: u32 = 1 << 23;

// Sums of displayed quantity over any set of orders (a price level, an FOK walk) fit a u64.
const _: () = assert!((QTY_LIMIT as u128) * (ORDERS_LIMIT as u128) <= u64::MAX as u128);
// Order slots, instrument slots and price-level indexes are u32 with u32::MAX as "none".
const _: () = assert!(ORDERS_LIMIT < u32::MAX);

/// The largest `instruments_max` a configuration may ask for.
pub const INSTRUMENTS_LIMIT: u32 = 1 << 16;
/// The largest `accounts_max` a configuration may ask for.
pub const ACCOUNTS_LIMIT: u32 = 1 << 24;
/// The largest `price_levels_max` a configuration may ask for (48 bytes per level, both sides).
pub const PRICE_LEVELS_LIMIT: u32 = 1 << 25;

/// Default capacity of open orders (resting, pending stops, and the one incoming order).
pub const ORDERS_MAX_DEFAULT: u32 = 1 << 20;
/// Default number of instruments (order books).
pub const INSTRUMENTS_MAX_DEFAULT: u32 = 64;
/// Default number of distinct accounts ever seen.
pub const ACCOUNTS_MAX_DEFAULT: u32 = 1 << 16;
/// Default total price levels (ticks between min and max price) over all instruments.
pub const PRICE_LEVELS_MAX_DEFAULT: u32 = 1 << 22;

const _: () = assert!(ORDERS_MAX_DEFAULT <= ORDERS_LIMIT);
const _: () = assert!(INSTRUMENTS_MAX_DEFAULT <= INSTRUMENTS_LIMIT);
const _: () = assert!(ACCOUNTS_MAX_DEFAULT <= ACCOUNTS_LIMIT);
const _: () = assert!(PRICE_LEVELS_MAX_DEFAULT <= PRICE_LEVELS_LIMIT);
const _: () = assert!(PRICE_LEVELS_LIMIT < u32::MAX && ACCOUNTS_LIMIT < u32::MAX);
const _: () = assert!(INSTRUMENTS_MAX_DEFAULT >= 1 && ACCOUNTS_MAX_DEFAULT >= 1);
const _: () = assert!(PRICE_LEVELS_MAX_DEFAULT >= INSTRUMENTS_MAX_DEFAULT);

/// The engine's capacities. All are hard limits: nothing grows past them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Open orders at once, over all instruments (at most [`ORDERS_LIMIT`]).
    pub orders_max: u32,
    /// Instruments that can be defined.
    pub instruments_max: u32,
    /// Accounts that can be known (an account is known from its first order or risk limits on).
    pub accounts_max: u32,
    /// Price levels over all books: an instrument needs `(max_price - min_price) / tick_size + 1`
    /// levels per side, reserved when it is defined.
    pub price_levels_max: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            orders_max: ORDERS_MAX_DEFAULT,
            instruments_max: INSTRUMENTS_MAX_DEFAULT,
            accounts_max: ACCOUNTS_MAX_DEFAULT,
            price_levels_max: PRICE_LEVELS_MAX_DEFAULT,
        }
    }
}

impl EngineConfig {
    /// Whether the configuration is within the engine's limits.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.orders_max >= 1
            && self.orders_max <= ORDERS_LIMIT
            && self.instruments_max >= 1
            && self.instruments_max <= INSTRUMENTS_LIMIT
            && self.accounts_max >= 1
            && self.accounts_max <= ACCOUNTS_LIMIT
            && self.price_levels_max >= 1
            && self.price_levels_max <= PRICE_LEVELS_LIMIT
    }
}
