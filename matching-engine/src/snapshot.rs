//! Snapshots: the engine's logical state in a versioned, checksummed byte format (see
//! `docs/matching-engine.md` for the diagram). Derived state (indexes, heaps, levels, open-order
//! counts) is not stored; restore rebuilds it and checks the result against the stored state hash.
//!
//! Orders are written book by book, bids then asks, best level first and front of queue first,
//! then pending stops in order id order, so a snapshot's bytes depend on the logical state only.

use protocol::{InstrumentId, Price};

use crate::book::Book;
use crate::engine::Engine;
use crate::pool::{Order, OrderState};
use crate::risk::Account;

/// The first eight bytes of every snapshot.
pub const SNAPSHOT_MAGIC: [u8; 8] = *b"LKSTPME\0";
/// The format version this build writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;
/// Bytes of the fixed header.
pub(crate) const HEADER_SIZE: usize = 64;
/// Bytes of one order record.
pub(crate) const ORDER_RECORD_SIZE: usize = 105;
/// Bytes of one instrument record.
pub(crate) const INSTRUMENT_RECORD_SIZE: usize = 117;
/// Bytes of one account record.
pub(crate) const ACCOUNT_RECORD_SIZE: usize = 33;

/// Why bytes are not a snapshot this build can restore. Restoring never panics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot truncated: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("not a matching-engine snapshot (bad magic)")]
    BadMagic,
    #[error("unsupported snapshot version {found} (this build reads {expected})")]
    UnsupportedVersion { found: u32, expected: u32 },
    #[error("header says {header} body bytes, found {actual}")]
    LengthMismatch { header: u64, actual: usize },
    #[error("body checksum mismatch: header {header:#010x}, computed {computed:#010x}")]
    ChecksumMismatch { header: u32, computed: u32 },
    #[error("reserved bytes are not zero")]
    ReservedNotZero,
    #[error("invalid snapshot content: {0}")]
    Invalid(&'static str),
    #[error("restored state hash does not match the header")]
    HashMismatch,
}

impl Engine {
    /// Appends a snapshot of the engine's state to `out`.
    pub fn snapshot(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.resize(start + HEADER_SIZE, 0);
        let body_start = out.len();
        self.write_body(out);
        let body = &out[body_start..];
        let body_len = body.len() as u64;
        let crc = crc32c::crc32c(body);
        let header = &mut out[start..body_start];
        header[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        header[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        header[16..24].copy_from_slice(&body_len.to_le_bytes());
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        header[32..48].copy_from_slice(&self.peek_state_hash().0.to_le_bytes());
    }

    fn write_body(&self, out: &mut Vec<u8>) {
        let c = &self.config;
        for v in [
            c.orders_max,
            c.instruments_max,
            c.accounts_max,
            c.price_levels_max,
        ] {
            put_u32(out, v);
        }
        let k = &self.counters;
        for v in [k.next_order_id, k.next_trade_id, k.next_priority] {
            put_u64(out, v);
        }
        put_len(out, self.books.len());
        for book in &self.books {
            write_book(out, book);
        }
        put_len(out, self.accounts.list.len());
        for account in &self.accounts.list {
            write_account(out, account);
        }
        put_u32(out, self.pool.len());
        for book in &self.books {
            for side in [&book.bids, &book.asks] {
                for index in side.levels_best_first() {
                    for slot in side.queue(&self.pool, index) {
                        write_order(out, self.pool.get(slot), book.instrument.id);
                    }
                }
            }
        }
        let mut stops: Vec<(&Order, InstrumentId)> = self
            .pool
            .live_slots()
            .map(|s| (self.pool.get(s), self.instrument_of(s)))
            .filter(|(o, _)| o.state == OrderState::PendingStop)
            .collect();
        stops.sort_unstable_by_key(|(o, _)| o.id);
        for (order, instrument) in stops {
            write_order(out, order, instrument);
        }
    }
}

fn write_book(out: &mut Vec<u8>, book: &Book) {
    let start = out.len();
    let i = &book.instrument;
    put_u32(out, i.id.0);
    out.extend_from_slice(&i.symbol.0);
    put_u64(out, i.tick_size);
    put_u64(out, i.lot_size);
    put_i64(out, i.min_price);
    put_i64(out, i.max_price);
    put_u64(out, i.min_qty.0);
    put_u64(out, i.max_qty.0);
    put_i64(out, i.reference_price);
    out.push(u8::from(book.last_trade.is_some()));
    put_i64(out, book.last_trade.unwrap_or(Price(0)));
    let t = &book.published;
    put_i64(out, t.bid_price);
    put_u64(out, t.bid_qty.0);
    put_i64(out, t.ask_price);
    put_u64(out, t.ask_qty.0);
    debug_assert_eq!(out.len() - start, INSTRUMENT_RECORD_SIZE);
}

fn write_account(out: &mut Vec<u8>, a: &Account) {
    let start = out.len();
    let l = &a.limits;
    put_u32(out, a.id.0);
    put_u32(out, l.max_open_orders);
    put_u64(out, l.max_order_qty.0);
    put_u64(out, l.max_notional);
    put_u64(out, l.price_band);
    out.push(l.stp_mode.to_u8());
    debug_assert_eq!(out.len() - start, ACCOUNT_RECORD_SIZE);
}

fn write_order(out: &mut Vec<u8>, o: &Order, instrument: InstrumentId) {
    let start = out.len();
    put_u64(out, o.id.0);
    put_u64(out, o.client_order_id.0);
    put_u32(out, o.session.0);
    put_u32(out, o.account.0);
    put_u32(out, instrument.0);
    out.extend_from_slice(&[
        o.side.to_u8(),
        o.order_type.to_u8(),
        o.tif.to_u8(),
        o.post_only.to_u8(),
        o.state as u8,
    ]);
    put_i64(out, o.price);
    put_i64(out, o.stop_price);
    for q in [o.qty(), o.leaves, o.cum, o.display_qty, o.visible] {
        put_u64(out, q.0);
    }
    put_u64(out, o.expire_time.0);
    put_u64(out, o.priority);
    debug_assert_eq!(out.len() - start, ORDER_RECORD_SIZE);
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_i64(out: &mut Vec<u8>, v: Price) {
    out.extend_from_slice(&v.0.to_le_bytes());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    put_u32(
        out,
        u32::try_from(n).expect("counts are bounded by u32 capacities"),
    );
}
