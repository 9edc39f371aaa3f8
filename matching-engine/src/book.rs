//! An instrument: its trading parameters and its order book (two dense sides, the last trade
//! price, the last published top of book, and its pending stop orders).

use protocol::{DefineInstrument, InstrumentId, Price, Qty, RejectReason, Side, Symbol};

use crate::hash::Hasher128;
use crate::heap::{IndexedHeap, PosField};
use crate::levels::BookSide;

/// An instrument's trading parameters, as defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Instrument {
    pub(crate) id: InstrumentId,
    pub(crate) symbol: Symbol,
    pub(crate) tick_size: u64,
    pub(crate) lot_size: u64,
    pub(crate) min_price: Price,
    pub(crate) max_price: Price,
    pub(crate) min_qty: Qty,
    pub(crate) max_qty: Qty,
    pub(crate) reference_price: Price,
}

impl Instrument {
    pub(crate) fn from_command(c: &DefineInstrument) -> Self {
        Self {
            id: c.instrument,
            symbol: c.symbol,
            tick_size: c.tick_size,
            lot_size: c.lot_size,
            min_price: c.min_price,
            max_price: c.max_price,
            min_qty: c.min_qty,
            max_qty: c.max_qty,
            reference_price: c.reference_price,
        }
    }

    /// Price levels per side, or why the definition is refused.
    pub(crate) fn ticks(&self) -> Result<u64, RejectReason> {
        let tick = i128::from(self.tick_size);
        let (min, max) = (i128::from(self.min_price.0), i128::from(self.max_price.0));
        let valid = self.id.0 != 0
            && self.tick_size >= 1
            && self.tick_size <= i64::MAX.unsigned_abs()
            && self.lot_size >= 1
            && min <= max
            && min % tick == 0
            && max % tick == 0
            && (min..=max).contains(&i128::from(self.reference_price.0))
            && self.min_qty.0 <= self.max_qty.0
            && self.max_qty.0 >= 1
            && self.max_qty.0 <= crate::config::QTY_LIMIT;
        if !valid {
            return Err(RejectReason::InvalidDefinition);
        }
        u64::try_from((max - min) / tick + 1).map_err(|_| RejectReason::InvalidDefinition)
    }

    /// Checks a limit or stop price against range and tick.
    #[inline]
    pub(crate) fn check_price(&self, price: Price) -> Result<(), RejectReason> {
        if price < self.min_price || price > self.max_price {
            return Err(RejectReason::PriceOutOfRange);
        }
        // Most instruments tick in units: skip the division.
        if self.tick_size != 1
            && !price
                .0
                .abs_diff(self.min_price.0)
                .is_multiple_of(self.tick_size)
        {
            return Err(RejectReason::PriceNotOnTick);
        }
        Ok(())
    }

    #[inline]
    pub(crate) fn check_qty(&self, qty: Qty) -> Result<(), RejectReason> {
        if qty.0 == 0 || qty < self.min_qty || qty > self.max_qty {
            return Err(RejectReason::QtyOutOfRange);
        }
        if self.lot_size != 1 && !qty.0.is_multiple_of(self.lot_size) {
            return Err(RejectReason::QtyNotOnLot);
        }
        Ok(())
    }

    /// The level index of a price that passed [`Self::check_price`].
    #[inline]
    pub(crate) fn index(&self, price: Price) -> u32 {
        debug_assert!(price >= self.min_price);
        let offset = price.0.abs_diff(self.min_price.0);
        let offset = if self.tick_size == 1 {
            offset
        } else {
            offset / self.tick_size
        };
        u32::try_from(offset).expect("checked prices index the book")
    }

    #[inline]
    pub(crate) fn price(&self, index: u32) -> Price {
        // A level's offset from `min_price` is at most `max_price - min_price`, so the sum is
        // exact in wrapping arithmetic; the assert catches an index past the book.
        let p = self
            .min_price
            .0
            .wrapping_add_unsigned(u64::from(index).wrapping_mul(self.tick_size));
        assert!(
            p >= self.min_price.0 && p <= self.max_price.0,
            "level within the book"
        );
        Price(p)
    }

    fn hash_into(&self, h: &mut Hasher128) {
        let sym = self.symbol.0;
        h.word(u64::from(self.id.0))
            .word(u64::from_le_bytes(sym[..8].try_into().expect("8 bytes")))
            .word(u64::from_le_bytes(sym[8..].try_into().expect("8 bytes")))
            .word(self.tick_size)
            .word(self.lot_size)
            .word(self.min_price.0.cast_unsigned())
            .word(self.max_price.0.cast_unsigned())
            .word(self.min_qty.0)
            .word(self.max_qty.0)
            .word(self.reference_price.0.cast_unsigned());
    }
}

/// Best bid and offer as last published (zero price and quantity for an empty side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Tob {
    pub(crate) bid_price: Price,
    pub(crate) bid_qty: Qty,
    pub(crate) ask_price: Price,
    pub(crate) ask_qty: Qty,
}

#[derive(Debug)]
pub(crate) struct Book {
    pub(crate) instrument: Instrument,
    pub(crate) bids: BookSide,
    pub(crate) asks: BookSide,
    pub(crate) last_trade: Option<Price>,
    pub(crate) published: Tob,
    /// A level at or better than a side's best changed in the current command: the top of book
    /// may differ from `published` (derived, reset by the market-data flush).
    pub(crate) top_dirty: bool,
    /// Pending buy stops, lowest stop price first, then arrival.
    pub(crate) buy_stops: IndexedHeap,
    /// Pending sell stops, highest stop price first, then arrival.
    pub(crate) sell_stops: IndexedHeap,
}

impl Book {
    pub(crate) fn new(instrument: Instrument, ticks: u32) -> Self {
        Self {
            instrument,
            bids: BookSide::new(Side::Buy, ticks),
            asks: BookSide::new(Side::Sell, ticks),
            last_trade: None,
            published: Tob::default(),
            top_dirty: false,
            buy_stops: IndexedHeap::new(PosField::Stop, 0),
            sell_stops: IndexedHeap::new(PosField::Stop, 0),
        }
    }

    pub(crate) fn side(&self, side: Side) -> &BookSide {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    pub(crate) fn side_mut(&mut self, side: Side) -> &mut BookSide {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    pub(crate) fn stops_mut(&mut self, side: Side) -> &mut IndexedHeap {
        match side {
            Side::Buy => &mut self.buy_stops,
            Side::Sell => &mut self.sell_stops,
        }
    }

    pub(crate) fn has_stops(&self) -> bool {
        !(self.buy_stops.is_empty() && self.sell_stops.is_empty())
    }

    /// The reference for price bands and market-order notional: last trade, else the definition's.
    pub(crate) fn reference_price(&self) -> Price {
        self.last_trade.unwrap_or(self.instrument.reference_price)
    }

    #[inline]
    pub(crate) fn tob(&self) -> Tob {
        let best = |s: &BookSide| {
            s.best().map_or((Price(0), Qty(0)), |i| {
                (self.instrument.price(i), Qty(s.level(i).qty))
            })
        };
        let (bid_price, bid_qty) = best(&self.bids);
        let (ask_price, ask_qty) = best(&self.asks);
        Tob {
            bid_price,
            bid_qty,
            ask_price,
            ask_qty,
        }
    }

    pub(crate) fn hash(&self) -> u128 {
        let mut h = Hasher128::new(0x626f_6f6b);
        self.instrument.hash_into(&mut h);
        let last = self.last_trade.map_or(0, |p| p.0.cast_unsigned());
        h.word(u64::from(self.last_trade.is_some()))
            .word(last)
            .word(self.published.bid_price.0.cast_unsigned())
            .word(self.published.bid_qty.0)
            .word(self.published.ask_price.0.cast_unsigned())
            .word(self.published.ask_qty.0);
        h.finish()
    }
}

/// The heap key of a pending stop: buy stops pop lowest stop first, sell stops highest first;
/// ties go to the earlier order.
pub(crate) fn stop_key(side: Side, stop_price: Price, order_id: u64) -> u128 {
    let biased = stop_price.0.cast_unsigned() ^ (1 << 63);
    let ordered = match side {
        Side::Buy => biased,
        Side::Sell => !biased,
    };
    (u128::from(ordered) << 64) | u128::from(order_id)
}

/// Whether a stop on `side` at `stop_price` triggers at last trade price `last`.
pub(crate) fn stop_triggers(side: Side, stop_price: Price, last: Price) -> bool {
    match side {
        Side::Buy => last >= stop_price,
        Side::Sell => last <= stop_price,
    }
}
