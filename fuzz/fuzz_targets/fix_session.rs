//! Arbitrary bytes into two FIX acceptor sessions, one waiting for its Logon and one already
//! logged on, in chunks and at virtual times the input chooses; application messages go through
//! the order translator into a matching engine and its events back to the client, as the
//! gateway does. Never panics, and checks on every output:
//! - every frame sent decodes (BodyLength and CheckSum right) and carries our CompIDs;
//! - MsgSeqNum of what is sent goes up by one, except PossDup resends of numbers already sent,
//!   and the session's own count agrees;
//! - nothing is delivered before a Logon was accepted, deliveries are in MsgSeqNum order, and
//!   nothing at all comes after a Disconnect;
//! - commands take request ids one by one (a retry reuses an earlier one).
//!
//! Input: a flags byte, eight schedule bytes (each: a chunk length in the low five bits, a time
//! step in the high three), then the stream. With flag bit 0 the stream is message bodies
//! ("35=D|34=2|...", `|` for SOH) separated by newlines, framed by the harness with BodyLength
//! and CheckSum, so the fuzzer explores the session rather than the checksum.
#![no_main]

use gateway::fix::{Decoder, Header, MessageBuilder, checksum, tag};
use gateway::orders::{Inbound, Instrument, Translator};
use gateway::session::{Output, SendError, SeqNums, Session, SessionConfig, format_utc};
use libfuzzer_sys::fuzz_target;
use matching_engine::{Engine, EngineConfig};
use protocol::{
    AccountId, Command, DefineInstrument, InstrumentId, Origin, Price, Qty, RequestId, Seq,
    Sequenced, SessionId, Symbol, TimestampNs,
};

const S: u64 = 1_000_000_000;
/// 2026-11-30T09:30:00Z, the clock's start: seeds stamp SendingTime(52) with it.
const T0: u64 = 1_796_031_000 * S;
const TIME_STEPS_NS: [u64; 8] = [0, 1_000_000, 100_000_000, S, 5 * S, 31 * S, 61 * S, 0];
const SESSION: SessionId = SessionId(7);

fn config() -> SessionConfig {
    SessionConfig {
        credentials: Some((b"trader".to_vec(), b"secret".to_vec())),
        sent_kept_max: 64,
        ..SessionConfig::new(b"LOCKSTEP", b"CLIENT")
    }
}

fn number(frame: &gateway::fix::Frame<'_>, wanted: u32) -> u64 {
    let text = frame.get(wanted).expect("tag present");
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .expect("a number")
}

/// One session under test and what its outputs must agree with.
struct Checked {
    session: Session,
    translator: Translator,
    engine: Engine,
    next_seq: u64,
    expected_out: u64,
    logged_on: bool,
    closed: bool,
    last_delivered: u64,
}

impl Checked {
    fn new(now: u64) -> Self {
        let instrument = Instrument {
            symbol: b"LOCK-USD".to_vec(),
            id: InstrumentId(1),
            price_decimals: 2,
        };
        let mut engine = Engine::new(EngineConfig {
            orders_max: 256,
            instruments_max: 2,
            accounts_max: 16,
            price_levels_max: 8192,
        });
        let define = Command::DefineInstrument(DefineInstrument {
            origin: Origin {
                session: SessionId(u32::MAX),
                account: AccountId(0),
                request_id: RequestId(1),
            },
            symbol: Symbol::new("LOCK-USD").expect("valid"),
            tick_size: 1,
            lot_size: 1,
            min_price: Price(1),
            max_price: Price(2000),
            min_qty: Qty(1),
            max_qty: Qty(1_000_000),
            reference_price: Price(1000),
            instrument: InstrumentId(1),
        });
        let mut events = Vec::new();
        let sequenced = Sequenced {
            seq: Seq(1),
            timestamp: TimestampNs(now),
            command: define,
        };
        engine.apply(&sequenced, &mut events);
        Self {
            session: Session::new(
                config(),
                SeqNums {
                    next_in: 1,
                    next_out: 1,
                },
                now,
            ),
            translator: Translator::new(SESSION, AccountId(7), &[instrument], 1, 256),
            engine,
            next_seq: 2,
            expected_out: 1,
            logged_on: false,
            closed: false,
            last_delivered: 0,
        }
    }

    fn on_bytes(&mut self, now: u64, bytes: &[u8]) {
        self.session.on_bytes(now, bytes);
        self.drain(now);
    }

    fn on_tick(&mut self, now: u64) {
        self.session.on_tick(now);
        self.drain(now);
    }

    fn drain(&mut self, now: u64) {
        while let Some(output) = self.session.poll_output() {
            assert!(!self.closed, "output after Disconnect: {output:?}");
            match output {
                Output::Send(bytes) => self.sent(&bytes),
                Output::Deliver(bytes) => self.delivered(now, &bytes),
                Output::Disconnect(_) => self.closed = true,
            }
        }
        assert_eq!(self.session.seq_nums().next_out, self.expected_out);
        assert_eq!(self.session.is_closed(), self.closed);
    }

    fn sent(&mut self, bytes: &[u8]) {
        let mut decoder = Decoder::new();
        let Ok(Some((frame, used))) = decoder.decode(bytes) else {
            panic!("sent a frame that does not decode: {bytes:?}");
        };
        assert_eq!(used, bytes.len(), "one frame per Send");
        assert_eq!(frame.get(tag::SENDER_COMP_ID), Some(&b"LOCKSTEP"[..]));
        assert_eq!(frame.get(tag::TARGET_COMP_ID), Some(&b"CLIENT"[..]));
        let seq = number(&frame, tag::MSG_SEQ_NUM);
        if frame.get(tag::POSS_DUP_FLAG) == Some(b"Y") {
            assert!(seq < self.expected_out, "resent {seq}, never sent");
        } else {
            assert_eq!(seq, self.expected_out, "MsgSeqNum skipped or repeated");
            self.expected_out += 1;
        }
        if frame.msg_type() == b"A" {
            self.logged_on = true;
        }
    }

    fn delivered(&mut self, now: u64, bytes: &[u8]) {
        assert!(self.logged_on, "delivered before a Logon was accepted");
        let mut decoder = Decoder::new();
        let Ok(Some((frame, _))) = decoder.decode(bytes) else {
            panic!("delivered a frame that does not decode");
        };
        let seq = number(&frame, tag::MSG_SEQ_NUM);
        assert!(
            seq > self.last_delivered,
            "delivered {seq} after {}",
            self.last_delivered
        );
        self.last_delivered = seq;
        let next_request = self.translator.next_request();
        match self.translator.inbound(&frame, now) {
            Inbound::Command(command) => {
                assert_eq!(command.origin().request_id, RequestId(next_request));
                assert_eq!(self.translator.next_request(), next_request + 1);
                self.execute(now, command);
            }
            Inbound::Retry(command) => {
                assert!(command.origin().request_id.0 < next_request);
                assert_eq!(self.translator.next_request(), next_request);
            }
            Inbound::Answer(message) => self.send(now, &message),
        }
    }

    /// The command sequenced and applied; the session's events back to the client.
    fn execute(&mut self, now: u64, command: Command) {
        let encoded = command.encode_to_vec();
        assert_eq!(Command::decode(&encoded), Ok(command));
        let seq = Seq(self.next_seq);
        self.next_seq += 1;
        let mut events = Vec::new();
        let sequenced = Sequenced {
            seq,
            timestamp: TimestampNs(now),
            command,
        };
        self.engine.apply(&sequenced, &mut events);
        for (index, event) in events.iter().enumerate() {
            let index = u32::try_from(index).expect("few events");
            if let Some(message) = self.translator.outbound(seq, index, event) {
                self.send(now, &message);
            }
        }
    }

    fn send(&mut self, now: u64, message: &gateway::orders::FixMessage) {
        match self
            .session
            .send_application(now, message.msg_type, |b| message.write(b))
        {
            Ok(()) => {}
            Err(SendError::NotLoggedOn) => assert!(!self.session.is_active()),
            Err(error) => panic!("could not send {message:?}: {error}"),
        }
    }
}

/// The client's Logon, MsgSeqNum 1.
fn logon(now: u64) -> Vec<u8> {
    let time = format_utc(now);
    let header = Header {
        sender_comp_id: b"CLIENT",
        target_comp_id: b"LOCKSTEP",
        msg_seq_num: 1,
        sending_time: &time,
        poss_dup: None,
    };
    let mut builder = MessageBuilder::new();
    builder
        .start(b"A", &header)
        .and_then(|b| b.field(98, b"0"))
        .and_then(|b| b.field(108, b"30"))
        .and_then(|b| b.field(553, b"trader"))
        .and_then(|b| b.field(554, b"secret"))
        .expect("valid logon");
    builder.finish().to_vec()
}

/// Frames each newline-separated body ("35=...|...|", `|` for SOH) with BeginString,
/// BodyLength and CheckSum.
fn framed(stream: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stream.len() * 2);
    for body in stream.split(|&b| b == b'\n') {
        let body: Vec<u8> = body
            .iter()
            .map(|&b| if b == b'|' { 1 } else { b })
            .collect();
        let start = out.len();
        out.extend_from_slice(b"8=FIX.4.4\x019=");
        out.extend_from_slice(body.len().to_string().as_bytes());
        out.push(1);
        out.extend_from_slice(&body);
        let sum = checksum(&out[start..]);
        out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 9 {
        return;
    }
    let (flags, schedule, stream) = (data[0], &data[1..9], &data[9..]);
    let stream = if flags & 1 != 0 {
        framed(stream)
    } else {
        stream.to_vec()
    };
    let mut now = T0;
    let mut waiting = Checked::new(now);
    let mut active = Checked::new(now);
    active.on_bytes(now, &logon(now));
    assert!(active.session.is_active() && active.logged_on);
    let mut at = 0;
    for step in schedule.iter().cycle() {
        if at >= stream.len() {
            break;
        }
        let len = usize::from(step & 31) + 1;
        let chunk = &stream[at..stream.len().min(at + len)];
        at += chunk.len();
        waiting.on_bytes(now, chunk);
        active.on_bytes(now, chunk);
        now += TIME_STEPS_NS[usize::from(step >> 5)];
        waiting.on_tick(now);
        active.on_tick(now);
    }
    // Time alone: heartbeats, test requests, timeouts.
    for _ in 0..4 {
        now += 31 * S;
        waiting.on_tick(now);
        active.on_tick(now);
    }
});
