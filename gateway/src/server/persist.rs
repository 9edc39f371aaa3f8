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

use std::sync::Arc;

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
    let kept = fix.sent_after(slot.stored_out);
    let stored = (&mut slot.stored, &mut slot.stored_out);
    record_kept(store, session, stored, fix.seq_nums(), kept);
}

/// Records the messages kept after what the store has (`stored`: its numbers and its last
/// message), then the numbers if they moved.
fn record_kept<'a>(
    store: &mut Store,
    session: protocol::SessionId,
    (stored, stored_out): (&mut SeqNums, &mut u64),
    seq: SeqNums,
    kept: impl Iterator<Item = &'a crate::session::Sent>,
) {
    for sent in kept {
        store.append(&Record::Sent {
            session,
            seq: sent.seq,
            bytes: &sent.bytes,
        });
        *stored_out = sent.seq;
    }
    if seq != *stored {
        store.append(&Record::SeqNums {
            session,
            next_in: seq.next_in,
            next_out: seq.next_out,
        });
        *stored = seq;
    }
}

/// A message for a session with no connection: numbered and kept as if sent, and recorded,
/// as FIX engines do. The client finds the gap when it logs on again and asks for a resend,
/// which answers with the kept copies (PossDup), across a gateway restart too.
pub(super) fn send_offline(
    store: &mut Option<Store>,
    slot: &mut Slot,
    now_ns: u64,
    message: &crate::orders::FixMessage,
) {
    let fix = &slot.entry.fix;
    let sent = slot
        .sent
        .get_or_insert_with(|| crate::session::SentStore::new(fix.sent_kept_max));
    let kept = crate::session::keep_next(
        &mut crate::fix::MessageBuilder::new(),
        fix,
        &mut slot.seq.next_out,
        sent,
        now_ns,
        message.msg_type,
        |b| message.write(b),
    );
    // As `send_application` does: a message that cannot be built is not sent.
    if kept.is_ok()
        && let Some(store) = store
    {
        let kept = sent.range(slot.stored_out.saturating_add(1), u64::MAX);
        let stored = (&mut slot.stored, &mut slot.stored_out);
        record_kept(store, slot.entry.session, stored, slot.seq, kept);
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
    /// The parts of a translation snapshot read so far.
    snapshot: Vec<u8>,
    /// The first record that could not be applied.
    error: Option<String>,
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
            if let Some(reason) = rebuilt.error {
                return Err(GatewayError::StoreState {
                    path: config.path.clone(),
                    session: slot.entry.session.0,
                    reason,
                });
            }
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
        self.compact_at = config.compact_bytes;
        if found.records > 0 {
            self.replay.waiting = Some((self.cursor.complete_through(), None));
        }
        self.recovered = Some(found);
        self.store = Some(store);
        Ok(())
    }

    /// Asks the primary for the events after the stored cursor until one answers.
    pub(super) fn request_replay(&mut self, now_ns: u64) -> Result<usize, StreamError> {
        let Some((after, last_ns)) = self.replay.waiting else {
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
            self.replay.waiting = Some((after, Some(now_ns)));
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
        let due = !store.compacting() && store.size_bytes() > self.compact_at;
        self.finish_compaction(false)?;
        if due {
            self.begin_compaction()?;
        }
        Ok(())
    }

    /// Rewrites the store as what it amounts to now: per session its numbers, its translation
    /// state, the sent messages kept for resends and the commands with no answer yet; then the
    /// egress cursor. Recovery from it gives the same sessions as from the whole history.
    ///
    /// Runs by itself once `compact_bytes` have been written since the last compaction, or as
    /// much as the compacted file, if that is more (so rewriting a large state costs at most
    /// as much again as the history it replaces); the file stays within twice the sessions'
    /// state plus `compact_bytes`. By itself, the duty cycle only gathers the state (sharing
    /// the kept messages): a helper thread encodes, writes and syncs the new file, and a later
    /// cycle appends what was committed meanwhile and puts it in place. Called, it compacts now
    /// and returns when the new file is in place (a clean shutdown does, so the next start
    /// reads no history). Without a store it does nothing.
    pub fn compact_store(&mut self) -> Result<(), GatewayError> {
        self.finish_compaction(true)?;
        self.begin_compaction()?;
        self.finish_compaction(true)
    }

    /// Puts a compaction's new file in place if its helper is done (or, with `wait`, once it
    /// is), and sets when the next one is due.
    fn finish_compaction(&mut self, wait: bool) -> Result<(), GatewayError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let Some(size) = store.poll_compaction(wait)? else {
            return Ok(());
        };
        let history = self
            .config
            .store
            .as_ref()
            .map_or(u64::MAX, |c| c.compact_bytes);
        self.compact_at = size.saturating_add(history.max(size));
        self.stats.compactions += 1;
        Ok(())
    }

    /// Hands the sessions' state as of the last commit to the store's helper, which encodes
    /// and writes it.
    fn begin_compaction(&mut self) -> Result<(), GatewayError> {
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let states: Vec<(protocol::SessionId, SessionState)> = self
            .slots
            .iter()
            .map(|slot| {
                let fix = slot
                    .connection
                    .and_then(|c| self.clients.get(&c))
                    .and_then(|c| c.fix.as_ref());
                (slot.entry.session, SessionState::of(slot, fix))
            })
            .collect();
        let (term, last) = self.stored_cursor.parts();
        store.compact_in_background(move |out| {
            for (session, state) in &states {
                state.records(*session).for_each(|r| out.push(&r));
            }
            out.push(&Record::Cursor(CursorParts { term, last }));
        })?;
        Ok(())
    }

    /// Whether the gateway waits for the primary to answer its replay request.
    #[must_use]
    pub fn awaiting_replay(&self) -> bool {
        self.replay.waiting.is_some()
    }

    /// What opening the store found (none without a store).
    #[must_use]
    pub fn recovered(&self) -> Option<crate::store::Recovered> {
        self.recovered
    }
}

/// One session's state as the compacted store writes it, owned by the store's helper thread
/// (the kept messages shared with the session).
struct SessionState {
    seq: SeqNums,
    translator: Vec<u8>,
    sent: Vec<(u64, Arc<[u8]>)>,
    commands: Vec<Vec<u8>>,
}

/// Translation snapshot bytes per record: well under the store's record limit.
const SNAPSHOT_PART_BYTES: usize = crate::store::RECORD_SIZE_MAX / 2;

impl SessionState {
    /// What the store has of `slot` (whose FIX session is `fix` while connected).
    fn of(slot: &Slot, fix: Option<&Session>) -> Self {
        let sent: Vec<&crate::session::Sent> = match (fix, &slot.sent) {
            (Some(fix), _) => fix.sent_after(0).collect(),
            (None, Some(sent)) => sent.range(0, u64::MAX).collect(),
            (None, None) => Vec::new(),
        };
        Self {
            seq: slot.stored,
            translator: slot.translator.export(),
            sent: sent
                .into_iter()
                .filter(|s| s.seq <= slot.stored_out)
                .map(|s| (s.seq, Arc::clone(&s.bytes)))
                .collect(),
            commands: (slot.unanswered.iter().chain(&slot.pending))
                .map(Command::encode_to_vec)
                .collect(),
        }
    }

    fn records(&self, session: protocol::SessionId) -> impl Iterator<Item = Record<'_>> {
        let numbers = Record::SeqNums {
            session,
            next_in: self.seq.next_in,
            next_out: self.seq.next_out,
        };
        let parts = self.translator.chunks(SNAPSHOT_PART_BYTES);
        let count = parts.len();
        let translator = parts.enumerate().map(move |(i, bytes)| Record::Translator {
            session,
            last: i + 1 == count,
            bytes,
        });
        let sent = self.sent.iter().map(move |(seq, bytes)| Record::Sent {
            session,
            seq: *seq,
            bytes,
        });
        let commands = self
            .commands
            .iter()
            .map(move |bytes| Record::Unanswered { session, bytes });
        std::iter::once(numbers)
            .chain(translator)
            .chain(sent)
            .chain(commands)
    }
}

fn session_of(r: &Record<'_>) -> Option<protocol::SessionId> {
    match *r {
        Record::SeqNums { session, .. }
        | Record::Sent { session, .. }
        | Record::Inbound { session, .. }
        | Record::Event { session, .. }
        | Record::Translator { session, .. }
        | Record::Unanswered { session, .. }
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
                sent.push(seq, bytes.into());
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
        Record::Translator { last, bytes, .. } => {
            rebuilt.snapshot.extend_from_slice(bytes);
            if last {
                // The state it stands for replaces whatever came before.
                let snapshot = std::mem::take(&mut rebuilt.snapshot);
                if let Err(e) = slot.translator.import(&snapshot) {
                    rebuilt.error.get_or_insert(e.to_string());
                }
                rebuilt.commands.clear();
                rebuilt.answered = 0;
            }
        }
        Record::Unanswered { bytes, .. } => match Command::decode(bytes) {
            Ok(command) => rebuilt.commands.push(command),
            Err(e) => {
                rebuilt
                    .error
                    .get_or_insert(format!("an unanswered command: {e}"));
            }
        },
        Record::Cursor(_) => {}
    }
}
