//! Requests on open orders: cancel, cancel/replace, mass cancel and cancel-on-disconnect.

use protocol::{
    Cancel, CancelOnDisconnect, CancelReject, CancelRejectTo, ClientOrderId, Event, ExecType,
    InstrumentId, MassCancel, MassCancelReport, MassCancelScope, OrderId, OrderStatus,
    RejectReason, SessionId,
};

use crate::clients::ClientKey;
use crate::engine::{Ctx, Engine};
use crate::events::Report;

/// Who asks about which order: the fields cancel and replace share.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target {
    pub(crate) session: SessionId,
    pub(crate) account: protocol::AccountId,
    pub(crate) order_id: OrderId,
    pub(crate) orig_client_order_id: ClientOrderId,
    pub(crate) client_order_id: ClientOrderId,
    pub(crate) instrument: InstrumentId,
    pub(crate) response_to: CancelRejectTo,
}

impl Target {
    pub(crate) fn reject(&self, ctx: Ctx, reason: RejectReason) -> Event {
        Event::CancelReject(CancelReject {
            order_id: self.order_id,
            client_order_id: self.client_order_id,
            orig_client_order_id: self.orig_client_order_id,
            request_id: ctx.request_id,
            timestamp: ctx.now,
            session: self.session,
            account: self.account,
            instrument: self.instrument,
            reason: Some(reason),
            response_to: self.response_to,
        })
    }
}

impl Engine {
    /// The slot of the order a request names: by order id, or by the session's client order id
    /// when the order id is zero. The instrument, when not zero, must be the order's.
    pub(crate) fn find_target(&self, t: &Target) -> Result<u32, RejectReason> {
        let slot = if t.order_id.0 != 0 {
            self.order_ids.get(t.order_id.0, &self.pool)
        } else {
            let key = ClientKey {
                session: t.session.0,
                client_order_id: t.orig_client_order_id.0,
            };
            self.client_ids.get(key, &self.pool)
        }
        .ok_or(RejectReason::UnknownOrder)?;
        let order = self.pool.get(slot);
        if t.instrument.0 != 0 && t.instrument != self.instrument_of(slot) {
            return Err(RejectReason::UnknownOrder);
        }
        if order.session != t.session {
            return Err(RejectReason::NotOrderOwner);
        }
        Ok(slot)
    }

    pub(crate) fn cancel(&mut self, ctx: Ctx, c: &Cancel, out: &mut Vec<Event>) {
        let target = Target {
            session: c.origin.session,
            account: c.origin.account,
            order_id: c.order_id,
            orig_client_order_id: c.orig_client_order_id,
            client_order_id: c.client_order_id,
            instrument: c.instrument,
            response_to: CancelRejectTo::Cancel,
        };
        match self.find_target(&target) {
            Ok(slot) => {
                let mut report =
                    Report::new(ExecType::Cancelled, OrderStatus::Cancelled, ctx.request_id);
                report.client_ids = Some((c.client_order_id, self.pool.get(slot).client_order_id));
                self.close(ctx, slot, report, out);
            }
            Err(reason) => out.push(target.reject(ctx, reason)),
        }
    }

    #[inline(never)]
    pub(crate) fn mass_cancel(&mut self, ctx: Ctx, c: &MassCancel, out: &mut Vec<Event>) {
        let (session, account, instrument) = (c.origin.session, c.origin.account, c.instrument);
        let slots = self.select_orders(|o, order_instrument| {
            let in_scope = match c.scope {
                MassCancelScope::Session => o.session == session,
                MassCancelScope::Account => o.account == account,
                MassCancelScope::Instrument => true,
            };
            in_scope && (instrument.0 == 0 || order_instrument == instrument)
        });
        self.cancel_all(ctx, &slots, out);
        out.push(Event::MassCancelReport(MassCancelReport {
            request_id: ctx.request_id,
            cancelled_count: slots.len() as u64,
            timestamp: ctx.now,
            session,
            account,
            instrument,
            scope: c.scope,
        }));
        self.scratch = slots;
    }

    #[inline(never)]
    pub(crate) fn cancel_on_disconnect(
        &mut self,
        ctx: Ctx,
        c: &CancelOnDisconnect,
        out: &mut Vec<Event>,
    ) {
        let slots = self.select_orders(|o, _| o.session == c.session);
        self.cancel_all(ctx, &slots, out);
        out.push(Event::MassCancelReport(MassCancelReport {
            request_id: ctx.request_id,
            cancelled_count: slots.len() as u64,
            timestamp: ctx.now,
            session: c.session,
            account: c.origin.account,
            instrument: InstrumentId(0),
            scope: MassCancelScope::Session,
        }));
        self.scratch = slots;
    }

    fn cancel_all(&mut self, ctx: Ctx, slots: &[(u64, u32)], out: &mut Vec<Event>) {
        for &(_, slot) in slots {
            let report = Report::new(ExecType::Cancelled, OrderStatus::Cancelled, ctx.request_id);
            self.close(ctx, slot, report, out);
        }
    }
}
