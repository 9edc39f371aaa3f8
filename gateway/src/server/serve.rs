//! The gateway's per-connection and per-stream work.

use protocol::{ClusterMessage, EgressAck, EgressCursor, EgressEvent, Event, SessionId};
use transport::{Inbound, Outbound, StreamError};

use super::persist::{record, record_session};
use super::{EGRESS_POLL_MAX, Gateway, GatewayStats, PENDING_COMMANDS_MAX, Replay, UNANSWERED_MAX};
use crate::fix::{Decoder, tag};
use crate::orders::{Inbound as Translated, Translator};
use crate::session::{Output, RECEIVE_BUFFER_MAX, SentStore, Session};
use crate::store::Record;

impl<I: Inbound, O: Outbound, A: Outbound> Gateway<I, O, A> {
    /// Reads a connection, runs its session, and queues what it says.
    pub(super) fn serve(&mut self, id: usize, now_ns: u64) -> usize {
        let Some(client) = self.clients.get_mut(&id) else {
            return 0;
        };
        let held = client.slot.is_some_and(|s| {
            let slot = &self.slots[s];
            slot.pending.len() >= PENDING_COMMANDS_MAX || slot.unanswered.len() >= UNANSWERED_MAX
        });
        let n = if held {
            0
        } else {
            client.conn.read(&mut self.read_buf)
        };
        if client.fix.is_none() {
            client.early.extend_from_slice(&self.read_buf[..n]);
            if client.early.len() > RECEIVE_BUFFER_MAX {
                client.conn.closed = true;
            }
            self.identify(id, now_ns);
        } else if let Some(fix) = client.fix.as_mut() {
            fix.on_bytes(now_ns, &self.read_buf[..n]);
        }
        if let Some(fix) = self.clients.get_mut(&id).and_then(|c| c.fix.as_mut()) {
            fix.on_tick(now_ns);
        }
        self.drain(id, now_ns);
        n
    }

    /// The first message names the session (SenderCompID/TargetCompID): bind the connection
    /// to it, or drop the connection if no free session matches.
    fn identify(&mut self, id: usize, now_ns: u64) {
        let early = &self.clients.get(&id).expect("serving a known client").early;
        let mut decoder = Decoder::new();
        let slot = match decoder.decode(early) {
            Ok(None) => return,
            Ok(Some((frame, _))) => {
                let (sender, target) = (
                    frame.get(tag::SENDER_COMP_ID),
                    frame.get(tag::TARGET_COMP_ID),
                );
                let clients = &self.clients;
                // Free, or held by a connection already closed (not yet reaped).
                let free = |holder: Option<usize>| {
                    holder.is_none_or(|c| clients.get(&c).is_none_or(|c| c.conn.closed))
                };
                self.slots.iter().position(|s| {
                    Some(s.entry.fix.their_comp_id.as_slice()) == sender
                        && Some(s.entry.fix.our_comp_id.as_slice()) == target
                        && free(s.connection)
                })
            }
            Err(_) => None,
        };
        let client = self.clients.get_mut(&id).expect("serving a known client");
        let Some(slot) = slot else {
            client.conn.closed = true; // unknown session, already connected, or garbage
            return;
        };
        let state = &mut self.slots[slot];
        if let Some(old) = state
            .connection
            .and_then(|c| self.clients.get_mut(&c))
            .and_then(|c| c.fix.as_mut())
        {
            state.seq = old.seq_nums();
            state.sent = Some(old.take_sent());
        }
        state.connection = Some(id);
        let client = self.clients.get_mut(&id).expect("serving a known client");
        let kept = state.entry.fix.sent_kept_max;
        let sent = state.sent.take().unwrap_or_else(|| SentStore::new(kept));
        let mut fix = Session::resume(state.entry.fix.clone(), state.seq, sent, now_ns);
        fix.on_bytes(now_ns, &std::mem::take(&mut client.early));
        client.fix = Some(fix);
        client.slot = Some(slot);
    }

    /// Carries out what the session output.
    fn drain(&mut self, id: usize, now_ns: u64) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let (Some(fix), Some(slot)) = (client.fix.as_mut(), client.slot) else {
            return;
        };
        let slot = &mut self.slots[slot];
        let (decoder, store) = (&mut self.decoder, &mut self.store);
        while let Some(output) = fix.poll_output() {
            match output {
                Output::Send(bytes) => {
                    client.conn.queue(&bytes);
                }
                Output::Deliver(bytes) => {
                    let Ok(Some((frame, _))) = decoder.decode(&bytes) else {
                        continue;
                    };
                    if !slot.throttle.take(now_ns) {
                        let limit = slot.entry.throttle_per_second;
                        let m = Translator::throttled(&frame, limit);
                        let _ = fix.send_application(now_ns, m.msg_type, |b| m.write(b));
                        continue;
                    }
                    let session = slot.entry.session;
                    record(
                        store,
                        &Record::Inbound {
                            session,
                            now_ns,
                            bytes: &bytes,
                        },
                    );
                    match slot.translator.inbound(&frame, now_ns) {
                        Translated::Command(c) | Translated::Retry(c) => slot.pending.push_back(c),
                        Translated::Answer(m) => {
                            let _ = fix.send_application(now_ns, m.msg_type, |b| m.write(b));
                        }
                    }
                }
                Output::Disconnect(_) => client.conn.shut_after_flush(),
            }
        }
        slot.seq = fix.seq_nums();
        record_session(store, slot, fix);
    }

    /// Events from the primary: each to its session, as FIX.
    pub(super) fn take_egress(&mut self, now_ns: u64) -> Result<usize, StreamError> {
        let mut events = std::mem::take(&mut self.egress_events);
        events.clear();
        let (cursor, replay, stats) = (&mut self.cursor, &mut self.replay, &mut self.stats);
        let consumer = self.config.consumer;
        let work = self.egress.poll(EGRESS_POLL_MAX, &mut |bytes| {
            if let Some(e) = take_frame(bytes, cursor, replay, consumer, stats) {
                events.push(e);
            }
        })?;
        for e in &events {
            let Some(session) = session_of(&e.event) else {
                continue;
            };
            let Some(index) = self.slots.iter().position(|s| s.entry.session == session) else {
                continue;
            };
            let slot = &mut self.slots[index];
            if let Some(answered) = super::persist::answers(&e.event) {
                while slot
                    .unanswered
                    .front()
                    .is_some_and(|c| c.origin().request_id.0 <= answered)
                {
                    slot.unanswered.pop_front();
                }
            }
            if self.store.is_some() {
                let mut frame = [0u8; protocol::EGRESS_FRAME_SIZE_MAX];
                let n = e.encode_into(&mut frame).expect("a frame fits any event");
                record(
                    &mut self.store,
                    &Record::Event {
                        session,
                        bytes: &frame[..n],
                    },
                );
            }
            let Some(message) = slot
                .translator
                .outbound(e.prefix.seq, e.prefix.index, &e.event)
            else {
                continue;
            };
            self.stats.reports += 1;
            let client = slot.connection.and_then(|c| self.clients.get_mut(&c));
            match client.and_then(|c| c.fix.as_mut()) {
                // Sent if logged on; else numbered and kept for the resend after the Logon
                // (recorded by `drain`, below).
                Some(fix) => {
                    let _ = fix.hold(now_ns, message.msg_type, |b| message.write(b));
                }
                None => super::persist::send_offline(&mut self.store, slot, now_ns, &message),
            }
            if let Some(id) = slot.connection {
                self.drain(id, now_ns);
            }
        }
        self.egress_events = events;
        Ok(work)
    }

    /// Acknowledges what the store has (call after [`Gateway::commit`]).
    pub(super) fn acknowledge(&mut self) -> Result<(), StreamError> {
        let complete = self.cursor.complete_through();
        if complete > self.acked {
            let ack = ClusterMessage::EgressAck(EgressAck {
                seq: complete,
                consumer: self.config.consumer,
            });
            if self.acks.offer(&ack.encode_to_vec())? {
                self.acked = complete;
            }
        }
        Ok(())
    }

    /// Commands to the sequencer, in order per session, while the stream takes them.
    pub(super) fn send_pending(&mut self) -> Result<usize, StreamError> {
        let mut work = 0;
        for slot in &mut self.slots {
            while let Some(command) = slot.pending.front() {
                let mut frame = [0u8; protocol::COMMAND_SIZE_MAX];
                let n = command
                    .encode_into(&mut frame)
                    .expect("a frame fits any command");
                if !self.ingress.offer(&frame[..n])? {
                    return Ok(work);
                }
                if let Some(sent) = slot.pending.pop_front() {
                    slot.unanswered.push_back(sent);
                }
                self.stats.commands += 1;
                work += 1;
            }
        }
        Ok(work)
    }

    /// When the ingress stream gets a subscriber again (a new sequencer), every command with no
    /// answer goes again, ahead of the rest, in order: the dead one may have lost them, and the
    /// new one drops those it journaled (same session, request id not above its last).
    pub(super) fn resend_unanswered(&mut self) {
        let connected = self.ingress.is_connected();
        if connected && !self.ingress_connected {
            for slot in &mut self.slots {
                let mut again = std::mem::take(&mut slot.unanswered);
                again.append(&mut slot.pending);
                slot.pending = again;
            }
        }
        self.ingress_connected = connected;
    }

    /// Forgets closed connections; their sessions keep their numbers for the next logon.
    pub(super) fn reap(&mut self) {
        let closed: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.conn.closed)
            .map(|(id, _)| *id)
            .collect();
        for id in closed {
            let Some(client) = self.clients.remove(&id) else {
                continue;
            };
            self.sockets.forget(client.conn.stream());
            if let Some(slot) = client.slot
                && self.slots[slot].connection == Some(id)
            {
                let slot = &mut self.slots[slot];
                slot.connection = None;
                if let Some(mut fix) = client.fix {
                    slot.seq = fix.seq_nums();
                    slot.sent = Some(fix.take_sent());
                }
                if slot.entry.cancel_on_disconnect && !slot.translator.is_empty() {
                    let session = slot.entry.session;
                    record(&mut self.store, &Record::Disconnect { session });
                    let command = slot.translator.cancel_on_disconnect();
                    slot.pending.push_back(command);
                }
            }
        }
    }
}

/// The session an event is for, if it is for one.
fn session_of(event: &Event) -> Option<SessionId> {
    match event {
        Event::ExecutionReport(r) => Some(r.session),
        Event::CancelReject(r) => Some(r.session),
        Event::MassCancelReport(r) => Some(r.session),
        _ => None,
    }
}

/// One egress frame: the event to take, if any. Waiting for a replay, only the primary's
/// answer counts: what comes first may be newer than what was lost (see `EgressReplay`). A
/// gap starts a replay from the last complete command: the primary keeps every event until
/// this gateway acknowledges it, and the acknowledgements stop before the gap. A gap right
/// after the answer means the primary no longer has the events: they are counted as lost and
/// the gateway goes on.
fn take_frame(
    bytes: &[u8],
    cursor: &mut EgressCursor,
    replay: &mut Replay,
    consumer: u32,
    stats: &mut GatewayStats,
) -> Option<EgressEvent> {
    if let Some((after, _)) = replay.waiting {
        if let Ok(ClusterMessage::EgressReplayStart(start)) = ClusterMessage::decode(bytes)
            && (start.consumer, start.after) == (consumer, after)
        {
            replay.waiting = None;
            replay.answered = true;
        }
        return None;
    }
    let e = EgressEvent::decode(bytes).ok()?;
    if cursor.skips(&e.prefix) {
        if !replay.answered {
            stats.egress_gaps += 1;
            replay.waiting = Some((cursor.complete_through(), None));
            return None;
        }
        stats.egress_lost += 1;
    }
    if !cursor.accept(&e.prefix) {
        return None;
    }
    replay.answered = false;
    Some(e)
}
