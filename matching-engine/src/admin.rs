//! Administrative commands: instrument definitions, risk limits, and acknowledgements of role
//! changes and snapshot markers. Each answers with one `AdminReply`.

use protocol::{AdminReply, DefineInstrument, Event, Origin, RejectReason, SetRiskLimits};

use crate::book::{Book, Instrument};
use crate::engine::Engine;
use crate::risk::Limits;

impl Engine {
    #[inline(never)]
    pub(crate) fn define_instrument(&mut self, c: &DefineInstrument, out: &mut Vec<Event>) {
        let reason = self.try_define(Instrument::from_command(c)).err();
        out.push(admin_reply(
            &c.origin,
            DefineInstrument::TEMPLATE_ID,
            reason,
        ));
    }

    /// Defines an instrument; an identical redefinition is accepted and changes nothing.
    pub(crate) fn try_define(&mut self, inst: Instrument) -> Result<(), RejectReason> {
        if let Some(slot) = self.book_slot(inst.id) {
            return if self.books[slot as usize].instrument == inst {
                Ok(())
            } else {
                Err(RejectReason::InstrumentExists)
            };
        }
        let ticks = inst.ticks()?;
        let full = self.books.len() >= self.config.instruments_max as usize
            || self.price_levels_used + ticks > u64::from(self.config.price_levels_max);
        if full {
            return Err(RejectReason::CapacityExceeded);
        }
        self.price_levels_used += ticks;
        let ticks = u32::try_from(ticks).expect("bounded by price_levels_max");
        let slot = u32::try_from(self.books.len()).expect("bounded by instruments_max");
        self.books.push(Book::new(inst, ticks));
        self.book_instruments.push(inst.id);
        self.instrument_ids.insert(inst.id.0, slot);
        Ok(())
    }

    #[inline(never)]
    pub(crate) fn set_risk_limits(&mut self, c: &SetRiskLimits, out: &mut Vec<Event>) {
        let reason = match self.accounts.get_or_insert(c.account) {
            Some(slot) => {
                let limits = Limits {
                    max_open_orders: c.max_open_orders,
                    max_order_qty: c.max_order_qty,
                    max_notional: c.max_notional,
                    price_band: c.price_band,
                    stp_mode: c.stp_mode,
                };
                self.accounts.set_limits(slot, limits);
                None
            }
            None => Some(RejectReason::CapacityExceeded),
        };
        out.push(admin_reply(&c.origin, SetRiskLimits::TEMPLATE_ID, reason));
    }

    #[inline(never)]
    pub(crate) fn acknowledge(&mut self, origin: &Origin, template: u16, out: &mut Vec<Event>) {
        out.push(admin_reply(origin, template, None));
    }
}

fn admin_reply(origin: &Origin, template: u16, reason: Option<RejectReason>) -> Event {
    Event::AdminReply(AdminReply {
        request_id: origin.request_id,
        session: origin.session,
        command_template: u32::from(template),
        reason,
    })
}
