//! The gateway's side of its store: what it records as it works, and how `bind` rebuilds the
//! sessions from it after a restart.
//!
//! Recovery replays the records in order: sequence numbers and the application messages sent
//! (for resend requests) come back as they were; each session's order translation is rebuilt
//! by handing it the same inbound messages and egress events again, so ClOrdIDs, open orders
//! and the next request id are exactly what they were. Commands whose request ids have no
//! answer among the events on file may not have reached the sequencer: they are sent again
//! (the sequencer drops those it has, by request id). Last, the primary is asked to publish
//! again the events after the stored cursor (lost in flight when the gateway stopped).

use protocol::{ClusterMessage, Command, EgressCursor, EgressEvent, EgressReplay, Event};
use transport::{Inbound, Outbound, StreamError};

use super::{Gateway, GatewayError, Slot};
use crate::fix::Decoder;
use crate::orders::Inbound as Translated;
use crate::session::{SeqNums, Session};
use crate::store::{CursorParts, Record, Store};

/// How often a replay request is repeated until a primary answers.
const REPLAY_REPEAT_NS: u64 = 100_000_000;

/// Buffers a record for the next commit (nothing without a store).
pub(super) fn record(store: &mut Option<Store>, record: &Record<'_>) {
    if let Some(store) = store {
        store.append(record);
    }
}

/// Records what changed in a session after it ran: a reset, new application messages sent,
/// its sequence numbers.
pub(super) fn record_session(store: &mut Option<Store>, slot: &mut Slot, fix: &mut Session) {
    let Some(store) = store else {
        return;
    };
    let session = slot.entry.session;
    if fix.take_reset() {
        let reset = SeqNums {
            next_in: 1,
            next_out: 1,
        };
        store.append(&Record::SeqNums {
            session,
            next_in: 1,
            next_out: 1,
        });
        (slot.stored, slot.stored_out) = (reset, 0);
    }
    for sent in fix.sent_after(slot.stored_out) {
        store.append(&Record::Sent {
            session,
            seq: sent.seq,
            bytes: &sent.bytes,
        });
        slot.stored_out = sent.seq;
    }
    let seq = fix.seq_nums();
    if seq != slot.stored {
        store.append(&Record::SeqNums {
            session,
            next_in: seq.next_in,
            next_out: seq.next_out,
        });
        slot.stored = seq;
    }
}

/// The request id an event answers, if it answers one.
pub(super) fn answers(event: &Event) -> Option<u64> {
    let id = match event {
        Event::ExecutionReport(r) => r.request_id,
        Event::CancelReject(r) => r.request_id,
        Event::MassCancelReport(r) => r.request_id,
        _ => return None,
    };
    (id.0 != 0).then_some(id.0)
}

/// What recovery gathers per session besides the slot itself.
#[derive(Default)]
struct Rebuilt {
    commands: Vec<Command>,
    answered: u64,
}

impl<I: Inbound, O: Outbound, A: Outbound> Gateway<I, O, A> {
    /// Opens the store and rebuilds the sessions from it (see the module documentation).
    pub(super) fn recover(&mut self) -> Result<(), GatewayError> {
        let Some(config) = self.config.store.clone() else {
            return Ok(());
        };
        let mut rebuilt: Vec<Rebuilt> = self.slots.iter().map(|_| Rebuilt::default()).collect();
        let (slots, cursor) = (&mut self.slots, &mut self.cursor);
        let mut decoder = Decoder::new();
        let (store, found) = Store::open(&config.path, config.sync, |r| {
            if let Record::Cursor(CursorParts { term, last }) = r {
                *cursor = EgressCursor::resume(term, last);
                return;
            }
            let Some(index) = slots
                .iter()
                .position(|s| Some(s.entry.session) == session_of(&r))
            else {
                return; // a session no longer configured
            };
            replay_record(&mut slots[index], &mut rebuilt[index], &mut decoder, r);
        })?;
        for (slot, rebuilt) in self.slots.iter_mut().zip(rebuilt) {
            // Sent again once the ingress is connected (see `resend_unanswered`).
            let mut last = rebuilt.answered;
            for command in rebuilt.commands {
                let id = command.origin().request_id.0;
                if id > last {
                    slot.unanswered.push_back(command);
                    last = id;
                }
            }
            slot.stored = slot.seq;
            slot.stored_out = slot.sent.as_ref().and_then(|s| s.last_seq()).unwrap_or(0);
        }
        self.stored_cursor = self.cursor;
        if found.records > 0 {
            self.replay = Some((self.cursor.complete_through(), None));
        }
        self.recovered = Some(found);
        self.store = Some(store);
        Ok(())
    }

    /// Asks the primary for the events after the stored cursor until one answers.
    pub(super) fn request_replay(&mut self, now_ns: u64) -> Result<usize, StreamError> {
        let Some((after, last_ns)) = self.replay else {
            return Ok(0);
        };
        if last_ns.is_some_and(|t| now_ns.saturating_sub(t) < REPLAY_REPEAT_NS) {
            return Ok(0);
        }
        let request = ClusterMessage::EgressReplay(EgressReplay {
            after,
            consumer: self.config.consumer,
        });
        if self.acks.offer(&request.encode_to_vec())? {
            self.replay = Some((after, Some(now_ns)));
            return Ok(1);
        }
        Ok(0)
    }

    /// Writes what this duty cycle recorded, with the egress cursor if it moved.
    pub(super) fn commit(&mut self) -> Result<(), GatewayError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        if self.cursor != self.stored_cursor {
            let (term, last) = self.cursor.parts();
            store.append(&Record::Cursor(CursorParts { term, last }));
            self.stored_cursor = self.cursor;
        }
        store.commit()?;
        Ok(())
    }

    /// Whether the gateway waits for the primary to answer its replay request.
    #[must_use]
    pub fn awaiting_replay(&self) -> bool {
        self.replay.is_some()
    }

    /// What opening the store found (none without a store).
    #[must_use]
    pub fn recovered(&self) -> Option<crate::store::Recovered> {
        self.recovered
    }
}

fn session_of(r: &Record<'_>) -> Option<protocol::SessionId> {
    match *r {
        Record::SeqNums { session, .. }
        | Record::Sent { session, .. }
        | Record::Inbound { session, .. }
        | Record::Event { session, .. }
        | Record::Disconnect { session } => Some(session),
        Record::Cursor(_) => None,
    }
}

/// Applies one stored record to its session.
fn replay_record(slot: &mut Slot, rebuilt: &mut Rebuilt, decoder: &mut Decoder, r: Record<'_>) {
    let kept = slot.entry.fix.sent_kept_max;
    let sent = slot
        .sent
        .get_or_insert_with(|| crate::session::SentStore::new(kept));
    match r {
        Record::SeqNums {
            next_in, next_out, ..
        } => {
            slot.seq = SeqNums { next_in, next_out };
            sent.forget_from(next_out);
        }
        Record::Sent { seq, bytes, .. } => {
            if sent.last_seq().is_none_or(|last| last < seq) {
                sent.push(seq, bytes.to_vec());
            }
        }
        Record::Inbound { now_ns, bytes, .. } => {
            if let Ok(Some((frame, _))) = decoder.decode(bytes) {
                match slot.translator.inbound(&frame, now_ns) {
                    Translated::Command(c) | Translated::Retry(c) => rebuilt.commands.push(c),
                    Translated::Answer(_) => {}
                }
            }
        }
        Record::Event { bytes, .. } => {
            if let Ok(e) = EgressEvent::decode(bytes) {
                if let Some(id) = answers(&e.event) {
                    rebuilt.answered = rebuilt.answered.max(id);
                }
                let _ = slot
                    .translator
                    .outbound(e.prefix.seq, e.prefix.index, &e.event);
            }
        }
        Record::Disconnect { .. } => {
            rebuilt
                .commands
                .push(slot.translator.cancel_on_disconnect());
        }
        Record::Cursor(_) => {}
    }
}
