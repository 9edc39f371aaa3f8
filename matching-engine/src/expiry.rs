//! Time in force by time: GTD orders expire before any command whose sequencer timestamp is at or
//! past their expiry (earliest expiry first, then order id); day orders expire on end of session.

use protocol::{
    AdminReply, EndOfSession, Event, ExecType, OrderStatus, RejectReason, RequestId, TimeInForce,
    TimestampNs,
};

use crate::engine::{Ctx, Engine};
use crate::events::Report;

impl Engine {
    pub(crate) fn expire_due(&mut self, now: TimestampNs, out: &mut Vec<Event>) {
        let ctx = Ctx {
            now,
            request_id: RequestId(0),
        };
        while let Some((key, slot)) = self.expiries.peek() {
            let expire_time = u64::try_from(key >> 64).expect("high half");
            if expire_time > now.0 {
                return;
            }
            self.expire(ctx, slot, out);
        }
    }

    #[inline(never)]
    fn expire(&mut self, ctx: Ctx, slot: u32, out: &mut Vec<Event>) {
        let report = Report::new(ExecType::Expired, OrderStatus::Expired, RequestId(0));
        self.close(ctx, slot, report, out);
    }

    #[inline(never)]
    pub(crate) fn end_of_session(&mut self, ctx: Ctx, c: &EndOfSession, out: &mut Vec<Event>) {
        let reply = |reason| {
            Event::AdminReply(AdminReply {
                request_id: c.origin.request_id,
                session: c.origin.session,
                command_template: u32::from(EndOfSession::TEMPLATE_ID),
                reason,
            })
        };
        if c.instrument.0 != 0 && self.book_slot(c.instrument).is_none() {
            out.push(reply(Some(RejectReason::UnknownInstrument)));
            return;
        }
        let ctx = Ctx {
            now: ctx.now,
            request_id: RequestId(0),
        };
        let slots = self.select_orders(|o, instrument| {
            o.tif == TimeInForce::Day && (c.instrument.0 == 0 || instrument == c.instrument)
        });
        for &(_, slot) in &slots {
            self.expire(ctx, slot, out);
        }
        self.scratch = slots;
        out.push(reply(None));
    }

    /// Open orders matching `keep` (given the order and its instrument), as (order id, slot) in
    /// order id order. Returns the engine's
    /// scratch vector (give it back through `self.scratch` when done).
    pub(crate) fn select_orders(
        &mut self,
        keep: impl Fn(&crate::pool::Order, protocol::InstrumentId) -> bool,
    ) -> Vec<(u64, u32)> {
        let mut slots = std::mem::take(&mut self.scratch);
        slots.clear();
        slots.extend(
            self.pool
                .live_slots()
                .map(|s| (self.pool.get(s), s))
                .filter(|&(o, s)| keep(o, self.instrument_of(s)))
                .map(|(o, s)| (o.id.0, s)),
        );
        slots.sort_unstable();
        slots
    }
}
