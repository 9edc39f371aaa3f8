//! Restoring a snapshot: every read is bounds-checked and every record validated before it touches
//! the engine's asserting internals, so corrupt bytes give a [`SnapshotError`], never a panic.

use protocol::{
    AccountId, ClientOrderId, InstrumentId, OrderType, PostOnly, Price, Qty, SessionId, Side,
    StpMode, Symbol, TimeInForce, TimestampNs,
};

use crate::book::{Instrument, Tob, stop_key};
use crate::clients::ClientKey;
use crate::config::EngineConfig;
use crate::engine::{Counters, Engine};
use crate::pool::{Order, OrderState};
use crate::risk::Limits;
use crate::snapshot::{HEADER_SIZE, SNAPSHOT_MAGIC, SNAPSHOT_VERSION, SnapshotError};

use SnapshotError::Invalid;

/// A bounds-checked little-endian reader.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(SnapshotError::Truncated {
            needed: self.at + n,
            available: self.bytes.len(),
        })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn price(&mut self) -> Result<Price, SnapshotError> {
        Ok(Price(i64::from_le_bytes(self.array()?)))
    }

    fn qty(&mut self) -> Result<Qty, SnapshotError> {
        Ok(Qty(self.u64()?))
    }
}

fn enum_u8<T>(
    value: u8,
    from: fn(u8) -> Option<T>,
    what: &'static str,
) -> Result<T, SnapshotError> {
    from(value).ok_or(Invalid(what))
}

/// Checks the header and checksum; returns the body and the stored state hash.
fn open(bytes: &[u8]) -> Result<(&[u8], u128), SnapshotError> {
    let mut r = Reader { bytes, at: 0 };
    let header = r.take(HEADER_SIZE)?;
    if header[0..8] != SNAPSHOT_MAGIC {
        return Err(SnapshotError::BadMagic);
    }
    let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().expect("4 bytes"));
    let version = word(8);
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            found: version,
            expected: SNAPSHOT_VERSION,
        });
    }
    if word(12) != 0 || word(28) != 0 || header[48..64].iter().any(|&b| b != 0) {
        return Err(SnapshotError::ReservedNotZero);
    }
    let body_len = u64::from_le_bytes(header[16..24].try_into().expect("8 bytes"));
    let body = &bytes[HEADER_SIZE..];
    if body_len != body.len() as u64 {
        return Err(SnapshotError::LengthMismatch {
            header: body_len,
            actual: body.len(),
        });
    }
    let computed = crc32c::crc32c(body);
    if computed != word(24) {
        return Err(SnapshotError::ChecksumMismatch {
            header: word(24),
            computed,
        });
    }
    Ok((
        body,
        u128::from_le_bytes(header[32..48].try_into().expect("16 bytes")),
    ))
}

impl Engine {
    /// Rebuilds an engine from [`Engine::snapshot`] bytes: the same state hash, and the same
    /// output for every future command.
    pub fn restore(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let (body, hash) = open(bytes)?;
        let mut r = Reader { bytes: body, at: 0 };
        let config = EngineConfig {
            orders_max: r.u32()?,
            instruments_max: r.u32()?,
            accounts_max: r.u32()?,
            price_levels_max: r.u32()?,
        };
        if !config.is_valid() {
            return Err(Invalid("engine config"));
        }
        let mut engine = Engine::new(config);
        engine.counters = Counters {
            next_order_id: r.u64()?,
            next_trade_id: r.u64()?,
            next_priority: r.u64()?,
        };
        let c = engine.counters;
        if c.next_order_id == 0 || c.next_trade_id == 0 || c.next_priority == 0 {
            return Err(Invalid("counters"));
        }
        for _ in 0..r.u32()? {
            engine.read_book(&mut r)?;
        }
        for _ in 0..r.u32()? {
            engine.read_account(&mut r)?;
        }
        for _ in 0..r.u32()? {
            engine.read_order(&mut r)?;
        }
        if r.at != body.len() {
            return Err(Invalid("trailing bytes"));
        }
        engine.check_uncrossed()?;
        if engine.state_hash().0 != hash {
            return Err(SnapshotError::HashMismatch);
        }
        Ok(engine)
    }

    fn read_book(&mut self, r: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let id = InstrumentId(r.u32()?);
        let symbol = r.array::<{ Symbol::LEN }>()?;
        if !Symbol::is_valid(&symbol) {
            return Err(Invalid("symbol"));
        }
        let inst = Instrument {
            id,
            symbol: Symbol(symbol),
            tick_size: r.u64()?,
            lot_size: r.u64()?,
            min_price: r.price()?,
            max_price: r.price()?,
            min_qty: r.qty()?,
            max_qty: r.qty()?,
            reference_price: r.price()?,
        };
        if self.book_slot(id).is_some() {
            return Err(Invalid("duplicate instrument"));
        }
        self.try_define(inst)
            .map_err(|_| Invalid("instrument definition"))?;
        let has_last = r.u8()?;
        let last = r.price()?;
        let book = self.books.last_mut().expect("just defined");
        book.last_trade = match (has_last, last) {
            (0, Price(0)) => None,
            (1, p) if inst.check_price(p).is_ok() => Some(p),
            _ => return Err(Invalid("last trade price")),
        };
        book.published = Tob {
            bid_price: r.price()?,
            bid_qty: r.qty()?,
            ask_price: r.price()?,
            ask_qty: r.qty()?,
        };
        Ok(())
    }

    fn read_account(&mut self, r: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let id = AccountId(r.u32()?);
        let limits = Limits {
            max_open_orders: r.u32()?,
            max_order_qty: r.qty()?,
            max_notional: r.u64()?,
            price_band: r.u64()?,
            stp_mode: enum_u8(r.u8()?, StpMode::from_u8, "stp mode")?,
        };
        if self.accounts.get(id).is_some() {
            return Err(Invalid("duplicate account"));
        }
        let slot = self
            .accounts
            .get_or_insert(id)
            .ok_or(Invalid("too many accounts"))?;
        self.accounts.set_limits(slot, limits);
        Ok(())
    }

    fn read_order(&mut self, r: &mut Reader<'_>) -> Result<(), SnapshotError> {
        let (id, client_order_id) = (r.u64()?, r.u64()?);
        let (session, account, instrument) = (r.u32()?, r.u32()?, InstrumentId(r.u32()?));
        let qty;
        let order = Order {
            id: protocol::OrderId(id),
            client_order_id: ClientOrderId(client_order_id),
            session: SessionId(session),
            account: AccountId(account),
            side: enum_u8(r.u8()?, Side::from_u8, "side")?,
            order_type: enum_u8(r.u8()?, OrderType::from_u8, "order type")?,
            tif: enum_u8(r.u8()?, TimeInForce::from_u8, "time in force")?,
            post_only: enum_u8(r.u8()?, PostOnly::from_u8, "post only")?,
            state: match r.u8()? {
                1 => OrderState::Active,
                2 => OrderState::PendingStop,
                _ => return Err(Invalid("order state")),
            },
            price: r.price()?,
            stop_price: r.price()?,
            leaves: {
                qty = r.qty()?;
                r.qty()?
            },
            cum: r.qty()?,
            display_qty: r.qty()?,
            visible: r.qty()?,
            expire_time: TimestampNs(r.u64()?),
            priority: r.u64()?,
        };
        let (book, account) = self.check_order(&order, instrument, qty)?;
        let slot = self.insert_order(order, book, account, None);
        if order.state == OrderState::PendingStop {
            let key = stop_key(order.side, order.stop_price, order.id.0);
            self.books[book as usize]
                .stops_mut(order.side)
                .push(&mut self.pool, key, slot);
            return Ok(());
        }
        let b = &mut self.books[book as usize];
        let index = b.instrument.index(order.price);
        let side = b.side_mut(order.side);
        let tail = side.level(index).tail;
        if tail != crate::pool::NONE && self.pool.get(tail).priority >= order.priority {
            return Err(Invalid("queue out of priority order"));
        }
        side.push_back(&mut self.pool, index, slot, order.visible);
        self.pool.slots[slot as usize].links.resting = true;
        Ok(())
    }

    /// Validates an order record; returns its book and account slots.
    /// `qty` is the record's total quantity (stored, so checked against `cum + leaves`).
    fn check_order(
        &self,
        o: &Order,
        instrument: InstrumentId,
        qty: Qty,
    ) -> Result<(u32, u32), SnapshotError> {
        let book = self
            .book_slot(instrument)
            .ok_or(Invalid("order instrument"))?;
        let account = self
            .accounts
            .get(o.account)
            .ok_or(Invalid("order account"))?;
        let inst = &self.books[book as usize].instrument;
        let key = ClientKey {
            session: o.session.0,
            client_order_id: o.client_order_id.0,
        };
        let unique = o.id.0 != 0
            && o.id.0 < self.counters.next_order_id
            && self.order_ids.get(o.id.0, &self.pool).is_none()
            && self.client_ids.get(key, &self.pool).is_none()
            && !self.pool.is_full();
        let quantities = o.cum.0.checked_add(o.leaves.0) == Some(qty.0)
            && o.leaves.0 > 0
            && qty <= inst.max_qty
            && o.display_qty <= inst.max_qty;
        let expiry = (o.expire_time.0 != 0) == (o.tif == TimeInForce::Gtd)
            && !matches!(o.tif, TimeInForce::Ioc | TimeInForce::Fok);
        let state = match o.state {
            OrderState::Active => {
                let shown = if o.display_qty.0 == 0 {
                    o.leaves
                } else {
                    o.display_qty.min(o.leaves)
                };
                matches!(o.order_type, OrderType::Limit | OrderType::StopLimit)
                    && inst.check_price(o.price).is_ok()
                    && o.visible.0 > 0
                    && o.visible <= shown
                    && o.priority > 0
                    && o.priority < self.counters.next_priority
            }
            OrderState::PendingStop => {
                matches!(o.order_type, OrderType::Stop | OrderType::StopLimit)
                    && inst.check_price(o.stop_price).is_ok()
                    && (o.order_type == OrderType::Stop || inst.check_price(o.price).is_ok())
                    && o.cum.0 == 0
                    && o.visible.0 == 0
                    && o.priority == 0
            }
        };
        if !(unique && quantities && expiry && state) {
            return Err(Invalid("order record"));
        }
        Ok((book, account))
    }

    fn check_uncrossed(&self) -> Result<(), SnapshotError> {
        for b in &self.books {
            if let (Some(bid), Some(ask)) = (b.bids.best(), b.asks.best())
                && bid >= ask
            {
                return Err(Invalid("crossed book"));
            }
        }
        Ok(())
    }
}
