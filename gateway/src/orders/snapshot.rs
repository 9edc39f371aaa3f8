//! A session's translation state as bytes, for the store's compaction: written in place of the
//! inbound messages and events it was rebuilt from, and read back into a fresh translator.
//! Everything is written in a fixed order (B-tree order, or the order things were remembered),
//! never in hash-map order, so equal states give equal bytes. Layout: `docs/gateway.md`.

use protocol::{ClientOrderId, Command, InstrumentId, OrderId, OrderStatus, RequestId, Side};

use super::table::{Order, OrderTable};
use super::{Pending, Translator};

/// Format version, first in the bytes.
const VERSION: u8 = 1;

/// Why bytes are not a translator snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("translator snapshot: {0}")]
pub struct SnapshotError(&'static str);

impl Translator {
    /// The state that inbound messages and events built up (not the configuration: session,
    /// account, instruments and limits come from the config again).
    #[must_use]
    pub fn export(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.push(VERSION);
        put_u64(&mut w, self.next_request);
        self.table.export(&mut w);
        put_u64(&mut w, self.pending.len() as u64);
        for (internal, p) in &self.pending {
            put_u64(&mut w, internal.0);
            put_u64(&mut w, p.orig.0);
            put_bytes(&mut w, &p.cl_ord_id);
        }
        put_u64(&mut w, self.mass.len() as u64);
        for (request, cl_ord_id) in &self.mass {
            put_u64(&mut w, request.0);
            put_bytes(&mut w, cl_ord_id);
        }
        put_u64(&mut w, self.sent_order.len() as u64);
        for cl_ord_id in &self.sent_order {
            put_bytes(&mut w, cl_ord_id);
            put_bytes(&mut w, &self.sent[cl_ord_id].encode_to_vec());
        }
        w
    }

    /// Replaces the state with an [`Self::export`]ed one. On error the translator is unchanged.
    pub fn import(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return Err(SnapshotError("unknown version"));
        }
        let next_request = r.u64()?;
        let table = OrderTable::import(&mut r, self.table.orders_max())?;
        let mut pending = std::collections::BTreeMap::new();
        for _ in 0..r.count()? {
            let internal = ClientOrderId(r.u64()?);
            let orig = ClientOrderId(r.u64()?);
            let cl_ord_id = r.bytes()?.to_vec();
            pending.insert(internal, Pending { cl_ord_id, orig });
        }
        let mut mass = std::collections::BTreeMap::new();
        for _ in 0..r.count()? {
            let request = RequestId(r.u64()?);
            mass.insert(request, r.bytes()?.to_vec());
        }
        let (mut sent, mut sent_order) = (std::collections::HashMap::new(), Default::default());
        for _ in 0..r.count()? {
            let cl_ord_id = r.bytes()?.to_vec();
            let command =
                Command::decode(r.bytes()?).map_err(|_| SnapshotError("a bad command"))?;
            if sent.insert(cl_ord_id.clone(), command).is_some() {
                return Err(SnapshotError("a ClOrdID sent twice"));
            }
            std::collections::VecDeque::push_back(&mut sent_order, cl_ord_id);
        }
        if !r.0.is_empty() {
            return Err(SnapshotError("bytes after the end"));
        }
        self.next_request = next_request;
        self.table = table;
        self.pending = pending;
        self.mass = mass;
        self.sent = sent;
        self.sent_order = sent_order;
        Ok(())
    }
}

impl OrderTable {
    fn export(&self, w: &mut Vec<u8>) {
        put_u64(w, self.open_orders().count() as u64);
        for o in self.open_orders() {
            put_bytes(w, &o.cl_ord_id);
            for v in [
                o.internal.0,
                o.request.0,
                o.order_id.0,
                u64::from(o.instrument.0),
            ] {
                put_u64(w, v);
            }
            w.push(o.side.to_u8());
            put_u64(w, o.price.cast_unsigned());
            put_u64(w, o.qty);
            put_u64(w, o.cum_qty);
            w.extend_from_slice(&o.notional.to_le_bytes());
            w.push(o.status.to_u8());
        }
        put_u64(w, self.done_ids().count() as u64);
        for cl_ord_id in self.done_ids() {
            put_bytes(w, cl_ord_id);
        }
    }

    fn import(r: &mut Reader<'_>, orders_max: usize) -> Result<Self, SnapshotError> {
        let mut table = OrderTable::new(orders_max);
        for _ in 0..r.count()? {
            let cl_ord_id = r.bytes()?.to_vec();
            let internal = ClientOrderId(r.u64()?);
            let request = RequestId(r.u64()?);
            let order_id = OrderId(r.u64()?);
            let instrument = u32::try_from(r.u64()?).map_err(|_| SnapshotError("instrument"))?;
            let side = Side::from_u8(r.u8()?).ok_or(SnapshotError("side"))?;
            let order = Order {
                cl_ord_id,
                internal,
                request,
                order_id,
                instrument: InstrumentId(instrument),
                side,
                price: r.u64()?.cast_signed(),
                qty: r.u64()?,
                cum_qty: r.u64()?,
                notional: i128::from_le_bytes(r.take(16)?.try_into().expect("16 bytes")),
                status: OrderStatus::from_u8(r.u8()?).ok_or(SnapshotError("status"))?,
            };
            table
                .add(order)
                .map_err(|_| SnapshotError("an open order duplicated or over the limit"))?;
        }
        for _ in 0..r.count()? {
            table.remember_done(r.bytes()?.to_vec());
        }
        Ok(table)
    }
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_bytes(w: &mut Vec<u8>, b: &[u8]) {
    put_u64(w, b.len() as u64);
    w.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.0.len() < n {
            return Err(SnapshotError("cut short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A length that must fit in what is left (every item takes at least a byte).
    fn count(&mut self) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        usize::try_from(n)
            .ok()
            .filter(|&n| n <= self.0.len())
            .ok_or(SnapshotError("a count past the end"))
    }

    fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.count()?;
        self.take(n)
    }
}
