//! The gateway as the simulator runs it: the real FIX [`Session`] and order [`Translator`] of
//! every configured session, bridged to the cluster's streams as `gateway::server` bridges
//! them (commands out on ingress; events in from egress through the consumers'
//! [`EgressCursor`]; acknowledgements out), but with in-memory byte pipes to the clients
//! instead of TCP sockets.

use std::collections::VecDeque;

use gateway::fix::Decoder;
use gateway::orders::{Inbound as Translated, Instrument, Translator};
use gateway::session::{Output, SeqNums, Session, SessionConfig};
use protocol::{
    AccountId, ClusterMessage, Command, EgressAck, EgressCursor, EgressEvent, Event, InstrumentId,
    Seq, SessionId,
};
use transport::{Inbound, Outbound};

use crate::client::{GATEWAY_COMP_ID, SYMBOL, comp_id};
use crate::net::{SimIn, SimOut};

/// The consumer id the gateway acknowledges egress under.
const CONSUMER: u32 = 1;
const ORDERS_MAX: usize = 4096;

#[derive(Debug)]
struct Slot {
    session: SessionId,
    translator: Translator,
    fix: Session,
    pending: VecDeque<Command>,
}

/// An egress event the gateway's cursor accepted, for the checker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Accepted {
    pub(crate) seq: Seq,
    pub(crate) index: u32,
    pub(crate) event: Event,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct SimGateway {
    slots: Vec<Slot>,
    cursor: EgressCursor,
    acked: Seq,
    egress: SimIn,
    ingress: SimOut,
    acks: SimOut,
    decoder: Decoder,
    /// Sabotage for tests: hand the n-th accepted event for a session (from 1) over twice.
    pub(crate) duplicate_event: Option<usize>,
    accepted_count: usize,
}

/// The instrument the workload defines, as FIX clients name it.
pub(crate) fn instrument() -> Instrument {
    Instrument {
        symbol: SYMBOL.as_bytes().to_vec(),
        id: InstrumentId(1),
        price_decimals: 0,
    }
}

impl SimGateway {
    pub(crate) fn new(sessions: u32, now_ns: u64, streams: (SimIn, SimOut, SimOut)) -> Self {
        let instruments = [instrument()];
        let slots = (1..=sessions)
            .map(|n| Slot {
                session: SessionId(n),
                translator: Translator::new(
                    SessionId(n),
                    AccountId(n),
                    &instruments,
                    1,
                    ORDERS_MAX,
                ),
                fix: Session::new(
                    SessionConfig::new(GATEWAY_COMP_ID, &comp_id(n)),
                    SeqNums {
                        next_in: 1,
                        next_out: 1,
                    },
                    now_ns,
                ),
                pending: VecDeque::new(),
            })
            .collect();
        let (egress, ingress, acks) = streams;
        Self {
            slots,
            cursor: EgressCursor::default(),
            acked: Seq(0),
            egress,
            ingress,
            acks,
            decoder: Decoder::new(),
            duplicate_event: None,
            accepted_count: 0,
        }
    }

    /// One duty cycle. `from_clients[i]` are the bytes client `i + 1` sent; what the gateway
    /// sends each client is appended to `to_clients[i]`. Accepted egress events are appended
    /// to `accepted`.
    pub(crate) fn do_work(
        &mut self,
        now_ns: u64,
        from_clients: &mut [Vec<u8>],
        to_clients: &mut [Vec<u8>],
        accepted: &mut Vec<Accepted>,
    ) {
        for (i, bytes) in from_clients.iter_mut().enumerate() {
            let slot = &mut self.slots[i];
            slot.fix.on_bytes(now_ns, bytes);
            bytes.clear();
            slot.fix.on_tick(now_ns);
            Self::drain(slot, &mut self.decoder, now_ns, &mut to_clients[i]);
        }
        self.take_egress(now_ns, to_clients, accepted);
        self.send_pending();
    }

    fn drain(slot: &mut Slot, decoder: &mut Decoder, now_ns: u64, out: &mut Vec<u8>) {
        while let Some(output) = slot.fix.poll_output() {
            match output {
                Output::Send(bytes) => out.extend_from_slice(&bytes),
                Output::Deliver(bytes) => {
                    let Ok(Some((frame, _))) = decoder.decode(&bytes) else {
                        continue;
                    };
                    match slot.translator.inbound(&frame, now_ns) {
                        Translated::Command(c) | Translated::Retry(c) => slot.pending.push_back(c),
                        Translated::Answer(m) => {
                            let _ = slot
                                .fix
                                .send_application(now_ns, m.msg_type, |b| m.write(b));
                        }
                    }
                }
                Output::Disconnect(reason) => {
                    panic!("the gateway disconnected a simulated client: {reason}")
                }
            }
        }
    }

    fn take_egress(&mut self, now_ns: u64, to_clients: &mut [Vec<u8>], out: &mut Vec<Accepted>) {
        let mut events = Vec::new();
        let cursor = &mut self.cursor;
        let _ = self.egress.poll(usize::MAX, &mut |bytes| {
            if let Ok(e) = EgressEvent::decode(bytes)
                && cursor.accept(&e.prefix)
            {
                events.push(e);
            }
        });
        for e in &events {
            if session_of(&e.event).is_some() {
                self.accepted_count += 1;
            }
            let copies = if session_of(&e.event).is_some()
                && self.duplicate_event == Some(self.accepted_count)
            {
                2
            } else {
                1
            };
            for _ in 0..copies {
                out.push(Accepted {
                    seq: e.prefix.seq,
                    index: e.prefix.index,
                    event: e.event,
                });
                let Some(session) = session_of(&e.event) else {
                    continue;
                };
                let Some(i) = self.slots.iter().position(|s| s.session == session) else {
                    continue;
                };
                let slot = &mut self.slots[i];
                let Some(message) =
                    slot.translator
                        .outbound(e.prefix.seq, e.prefix.index, &e.event)
                else {
                    continue;
                };
                // Sent if logged on; else numbered and kept for the client's resend request
                // after its Logon, as `gateway::server` does.
                let _ = slot
                    .fix
                    .hold(now_ns, message.msg_type, |b| message.write(b));
                Self::drain(slot, &mut self.decoder, now_ns, &mut to_clients[i]);
            }
        }
        let complete = self.cursor.complete_through();
        if complete > self.acked {
            let ack = ClusterMessage::EgressAck(EgressAck {
                seq: complete,
                consumer: CONSUMER,
            });
            let _ = self.acks.offer(&ack.encode_to_vec());
            self.acked = complete;
        }
    }

    fn send_pending(&mut self) {
        for slot in &mut self.slots {
            while let Some(command) = slot.pending.pop_front() {
                let _ = self.ingress.offer(&command.encode_to_vec());
            }
        }
    }
}

fn session_of(event: &Event) -> Option<SessionId> {
    match event {
        Event::ExecutionReport(r) => Some(r.session),
        Event::CancelReject(r) => Some(r.session),
        Event::MassCancelReport(r) => Some(r.session),
        _ => None,
    }
}
