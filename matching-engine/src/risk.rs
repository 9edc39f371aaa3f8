//! Accounts: pre-trade risk limits, the self-trade prevention mode, and the open-order count.

use protocol::{AccountId, Price, Qty, RejectReason, StpMode};

use crate::hash::Hasher128;
use crate::table::Table;

/// An account's limits; zero means "no limit" for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub(crate) max_open_orders: u32,
    pub(crate) max_order_qty: Qty,
    pub(crate) max_notional: u64,
    pub(crate) price_band: u64,
    pub(crate) stp_mode: StpMode,
}

impl Limits {
    pub(crate) const NONE: Self = Self {
        max_open_orders: 0,
        max_order_qty: Qty(0),
        max_notional: 0,
        price_band: 0,
        stp_mode: StpMode::Off,
    };
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Account {
    pub(crate) id: AccountId,
    pub(crate) limits: Limits,
    /// Derived (recounted on restore): open orders of this account.
    pub(crate) open_orders: u32,
}

impl Account {
    fn hash(&self) -> u128 {
        let l = &self.limits;
        let mut h = Hasher128::new(0x0061_6363_6f75_6e74);
        h.word(u64::from(self.id.0))
            .word(u64::from(l.max_open_orders))
            .word(l.max_order_qty.0)
            .word(l.max_notional)
            .word(l.price_band)
            .word(u64::from(l.stp_mode.to_u8()));
        h.finish()
    }
}

/// What the risk checks need to know about an order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RiskCheck {
    pub(crate) qty: Qty,
    /// The price for notional: the limit price, the stop price, or the reference (market).
    pub(crate) notional_price: Price,
    /// The price checked against the band, if the order has one.
    pub(crate) band_price: Option<Price>,
    pub(crate) reference: Price,
    /// Whether the order adds to the open-order count (it can rest).
    pub(crate) opens: bool,
}

impl Limits {
    /// No limit set (STP mode aside): every risk check passes.
    pub(crate) fn is_unlimited(&self) -> bool {
        self.max_open_orders == 0
            && self.max_order_qty.0 == 0
            && self.max_notional == 0
            && self.price_band == 0
    }
}

impl Account {
    #[inline]
    pub(crate) fn check(&self, c: &RiskCheck) -> Result<(), RejectReason> {
        let l = &self.limits;
        if l.is_unlimited() {
            return Ok(());
        }
        if l.max_order_qty.0 != 0 && c.qty > l.max_order_qty {
            return Err(RejectReason::RiskMaxOrderQty);
        }
        let notional = u128::from(c.notional_price.0.unsigned_abs()) * u128::from(c.qty.0);
        if l.max_notional != 0 && notional > u128::from(l.max_notional) {
            return Err(RejectReason::RiskMaxNotional);
        }
        if l.max_open_orders != 0 && c.opens && self.open_orders >= l.max_open_orders {
            return Err(RejectReason::RiskMaxOpenOrders);
        }
        if let Some(price) = c.band_price {
            let distance = (i128::from(price.0) - i128::from(c.reference.0)).unsigned_abs();
            if l.price_band != 0 && distance > u128::from(l.price_band) {
                return Err(RejectReason::RiskPriceBand);
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct Accounts {
    pub(crate) list: Vec<Account>,
    ids: Table<u32>,
    capacity: u32,
    hash_sum: u128,
}

impl Accounts {
    pub(crate) fn new(capacity: u32) -> Self {
        Self {
            list: Vec::with_capacity(capacity as usize),
            ids: Table::new(capacity),
            capacity,
            hash_sum: 0,
        }
    }

    pub(crate) fn hash_sum(&self) -> u128 {
        self.hash_sum
    }

    #[inline]
    pub(crate) fn get(&self, id: AccountId) -> Option<u32> {
        self.ids.get(id.0)
    }

    /// The account's slot, creating it with no limits; `None` when the table is full.
    pub(crate) fn get_or_insert(&mut self, id: AccountId) -> Option<u32> {
        if let Some(slot) = self.ids.get(id.0) {
            return Some(slot);
        }
        if self.list.len() >= self.capacity as usize {
            return None;
        }
        let slot = u32::try_from(self.list.len()).expect("capacity fits u32");
        let account = Account {
            id,
            limits: Limits::NONE,
            open_orders: 0,
        };
        self.hash_sum = self.hash_sum.wrapping_add(account.hash());
        self.list.push(account);
        self.ids.insert(id.0, slot);
        Some(slot)
    }

    pub(crate) fn set_limits(&mut self, slot: u32, limits: Limits) {
        let account = &mut self.list[slot as usize];
        self.hash_sum = self.hash_sum.wrapping_sub(account.hash());
        account.limits = limits;
        self.hash_sum = self.hash_sum.wrapping_add(account.hash());
    }

    pub(crate) fn hash_sum_recomputed(&self) -> u128 {
        self.list
            .iter()
            .fold(0u128, |s, a| s.wrapping_add(a.hash()))
    }
}
