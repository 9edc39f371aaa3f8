//! FIX in, through the real matching engine, FIX out.

use matching_engine::{Engine, EngineConfig};
use protocol::{
    AccountId, Command, DefineInstrument, Event, InstrumentId, Origin, Price, Qty, RequestId, Seq,
    Sequenced, SessionId, SetRiskLimits, StpMode, Symbol, TimestampNs,
};

use super::*;
use crate::fix::{Decoder, Header, MessageBuilder};

const T0: u64 = 1_796_031_000_000_000_000;

fn instruments() -> Vec<Instrument> {
    vec![Instrument {
        symbol: b"LOCK-USD".to_vec(),
        id: InstrumentId(1),
        price_decimals: 2,
    }]
}

/// A matching engine with the instrument defined and two accounts allowed to trade.
struct Venue {
    engine: Engine,
    seq: u64,
    /// The last command's seq and events.
    last: (Seq, Vec<Event>),
}

impl Venue {
    fn new() -> Self {
        let mut venue = Self {
            engine: Engine::new(EngineConfig::default()),
            seq: 0,
            last: (Seq(0), Vec::new()),
        };
        let admin = |n| Origin {
            session: SessionId(u32::MAX),
            account: AccountId(0),
            request_id: RequestId(n),
        };
        venue.apply(Command::DefineInstrument(DefineInstrument {
            origin: admin(1),
            symbol: Symbol::new("LOCK-USD").unwrap(),
            tick_size: 1,
            lot_size: 1,
            min_price: Price(1),
            max_price: Price(1_000_000),
            min_qty: Qty(1),
            max_qty: Qty(1_000_000),
            reference_price: Price(10_000),
            instrument: InstrumentId(1),
        }));
        for account in [1, 2] {
            venue.apply(Command::SetRiskLimits(SetRiskLimits {
                origin: admin(1 + u64::from(account)),
                account: AccountId(account),
                max_open_orders: 0,
                max_order_qty: Qty(0),
                max_notional: 0,
                price_band: 0,
                stp_mode: StpMode::Off,
            }));
        }
        venue
    }

    /// Applies a command; returns `(seq, events)`.
    fn apply(&mut self, command: Command) -> (Seq, Vec<Event>) {
        self.seq += 1;
        let mut events = Vec::new();
        let sequenced = Sequenced {
            seq: Seq(self.seq),
            timestamp: TimestampNs(T0 + self.seq),
            command,
        };
        self.engine.apply(&sequenced, &mut events);
        self.last = (Seq(self.seq), events.clone());
        (Seq(self.seq), events)
    }

    /// Sends what `translator` made of `fields` through the engine; returns the FIX answers.
    fn send(
        &mut self,
        t: &mut Translator,
        msg_type: &[u8],
        fields: &[(u32, &str)],
    ) -> Vec<FixMessage> {
        self.send_with(t, msg_type, fields, false)
    }

    fn send_with(
        &mut self,
        t: &mut Translator,
        msg_type: &[u8],
        fields: &[(u32, &str)],
        dup: bool,
    ) -> Vec<FixMessage> {
        let bytes = client_message(msg_type, fields, dup);
        let mut decoder = Decoder::new();
        let (frame, _) = decoder.decode(&bytes).unwrap().unwrap();
        match t.inbound(&frame, T0) {
            Inbound::Answer(answer) => vec![answer],
            Inbound::Retry(_) => vec![],
            Inbound::Command(command) => {
                let (seq, events) = self.apply(command);
                events
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| t.outbound(seq, u32::try_from(i).unwrap(), e))
                    .collect()
            }
        }
    }
}

fn client_message(msg_type: &[u8], fields: &[(u32, &str)], dup: bool) -> Vec<u8> {
    let mut builder = MessageBuilder::new();
    let header = Header {
        sender_comp_id: b"CLIENT",
        target_comp_id: b"LOCKSTEP",
        msg_seq_num: 5,
        sending_time: b"20261130-09:30:00.000",
        poss_dup: dup.then_some(&b"20261130-09:29:00.000"[..]),
    };
    builder.start(msg_type, &header).unwrap();
    for (tag, value) in fields {
        builder.field(*tag, value.as_bytes()).unwrap();
    }
    builder.finish().to_vec()
}

fn session(n: u32) -> Translator {
    Translator::new(SessionId(n), AccountId(n), &instruments(), 1, 100)
}

fn s(m: &FixMessage, tag: u32) -> &str {
    std::str::from_utf8(m.get(tag).unwrap_or(b"")).unwrap()
}

fn limit(id: &str, side: &str, qty: &str, price: &str) -> Vec<(u32, &'static str)> {
    let leak = |v: &str| -> &'static str { Box::leak(v.to_owned().into_boxed_str()) };
    vec![
        (11, leak(id)),
        (55, "LOCK-USD"),
        (54, leak(side)),
        (38, leak(qty)),
        (40, "2"),
        (44, leak(price)),
        (59, "1"),
    ]
}

#[test]
fn an_order_is_acknowledged_and_filled_with_fix_fields() {
    let (mut venue, mut alice, mut bob) = (Venue::new(), session(1), session(2));
    let ack = venue.send(&mut alice, b"D", &limit("a-1", "1", "10", "101.25"));
    assert_eq!(ack.len(), 1);
    let ack = &ack[0];
    assert_eq!(
        (ack.msg_type, s(ack, 150), s(ack, 39)),
        (&b"8"[..], "0", "0")
    );
    assert_eq!(
        (s(ack, 11), s(ack, 44), s(ack, 55), s(ack, 151)),
        ("a-1", "101.25", "LOCK-USD", "10")
    );
    let fills = venue.send(&mut bob, b"D", &limit("b-1", "2", "4", "101.00"));
    let bob_fill = fills.iter().find(|m| s(m, 150) == "F").expect("bob's fill");
    assert_eq!(
        (
            s(bob_fill, 11),
            s(bob_fill, 31),
            s(bob_fill, 32),
            s(bob_fill, 39)
        ),
        ("b-1", "101.25", "4", "2")
    );
    assert!(
        fills.iter().all(|m| s(m, 11) != "a-1"),
        "alice's fill goes to alice's session only"
    );
    // Alice's translator turns the same events into her partial fill.
    let (seq, events) = venue.last.clone();
    let mine: Vec<_> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| alice.outbound(seq, u32::try_from(i).unwrap(), e))
        .collect();
    assert_eq!(mine.len(), 1);
    let fill = &mine[0];
    let got = (
        s(fill, 11),
        s(fill, 150),
        s(fill, 39),
        s(fill, 14),
        s(fill, 151),
        s(fill, 6),
    );
    assert_eq!(got, ("a-1", "F", "1", "4", "6", "101.25"));
    let index = events
        .iter()
        .position(|e| matches!(e, Event::ExecutionReport(r) if r.session == SessionId(1)))
        .unwrap();
    assert_eq!(
        s(fill, 17),
        format!("{}-{index}", seq.0),
        "ExecID: seq-index, the same on any engine"
    );
}

#[test]
fn cancel_and_replace_map_client_order_ids_both_ways() {
    let (mut venue, mut alice) = (Venue::new(), session(1));
    venue.send(&mut alice, b"D", &limit("a-1", "1", "10", "100"));
    let replaced = venue.send(
        &mut alice,
        b"G",
        &[
            (11, "a-2"),
            (41, "a-1"),
            (55, "LOCK-USD"),
            (54, "1"),
            (38, "12"),
            (40, "2"),
            (44, "99.5"),
        ],
    );
    let r = replaced
        .iter()
        .find(|m| s(m, 150) == "5")
        .expect("a replaced report");
    assert_eq!(
        (s(r, 11), s(r, 41), s(r, 44), s(r, 38)),
        ("a-2", "a-1", "99.50", "12")
    );
    let cancelled = venue.send(
        &mut alice,
        b"F",
        &[(11, "a-3"), (41, "a-2"), (55, "LOCK-USD"), (54, "1")],
    );
    let c = cancelled
        .iter()
        .find(|m| s(m, 150) == "4")
        .expect("a cancelled report");
    assert_eq!((s(c, 11), s(c, 41), s(c, 39)), ("a-3", "a-2", "4"));
    // The order is gone: cancelling it again is refused by the gateway itself.
    let again = venue.send(
        &mut alice,
        b"F",
        &[(11, "a-4"), (41, "a-2"), (55, "LOCK-USD"), (54, "1")],
    );
    assert_eq!(
        (again[0].msg_type, s(&again[0], 102), s(&again[0], 434)),
        (&b"9"[..], "1", "1")
    );
}

#[test]
fn bad_orders_get_rejects_with_reasons() {
    let (mut venue, mut alice) = (Venue::new(), session(1));
    venue.send(&mut alice, b"D", &limit("a-1", "1", "10", "100"));
    let cases: [(Vec<(u32, &str)>, &str); 4] = [
        (limit("a-1", "1", "10", "100"), "6"),
        (
            vec![(11, "a-2"), (55, "NOPE"), (54, "1"), (38, "1"), (40, "1")],
            "1",
        ),
        (limit("a-3", "1", "10", "100.001"), "99"),
        (limit("a-4", "7", "10", "100"), "99"),
    ];
    for (fields, reason) in cases {
        let out = venue.send(&mut alice, b"D", &fields);
        assert_eq!(
            (out[0].msg_type, s(&out[0], 150), s(&out[0], 103)),
            (&b"8"[..], "8", reason),
            "{fields:?}"
        );
    }
    let out = venue.send(&mut alice, b"D", &[(55, "LOCK-USD")]);
    assert_eq!((out[0].msg_type, s(&out[0], 380)), (&b"j"[..], "5"));
    // The engine's own rejects come back as rejected reports too: a price outside the band.
    let out = venue.send(&mut alice, b"D", &limit("a-5", "1", "10", "20000"));
    assert_eq!((s(&out[0], 150), s(&out[0], 11)), ("8", "a-5"));
}

#[test]
fn a_resent_order_reuses_its_request_so_the_sequencer_drops_it() {
    let (mut venue, mut alice) = (Venue::new(), session(1));
    let fields = limit("a-1", "1", "10", "100");
    let bytes = client_message(b"D", &fields, false);
    let mut decoder = Decoder::new();
    let (frame, _) = decoder.decode(&bytes).unwrap().unwrap();
    let Inbound::Command(first) = alice.inbound(&frame, T0) else {
        panic!("a command")
    };
    venue.apply(first);
    let bytes = client_message(b"D", &fields, true);
    let (frame, _) = decoder.decode(&bytes).unwrap().unwrap();
    assert_eq!(
        alice.inbound(&frame, T0),
        Inbound::Retry(first),
        "same request id, same command"
    );
    assert_eq!(alice.next_request(), 2);
}

#[test]
fn status_and_mass_cancel() {
    let (mut venue, mut alice) = (Venue::new(), session(1));
    venue.send(&mut alice, b"D", &limit("a-1", "1", "10", "100"));
    venue.send(&mut alice, b"D", &limit("a-2", "1", "5", "99"));
    let status = venue.send(
        &mut alice,
        b"H",
        &[(11, "a-2"), (55, "LOCK-USD"), (54, "1")],
    );
    assert_eq!(
        (s(&status[0], 150), s(&status[0], 39), s(&status[0], 151)),
        ("I", "0", "5")
    );
    let out = venue.send(&mut alice, b"q", &[(11, "m-1"), (530, "7")]);
    let report = out
        .iter()
        .find(|m| m.msg_type == b"r")
        .expect("a mass cancel report");
    assert_eq!((s(report, 11), s(report, 533)), ("m-1", "2"));
    assert_eq!(out.iter().filter(|m| s(m, 150) == "4").count(), 2);
}

/// Whatever a translator holds (open and finished orders, a replace and a mass cancel still
/// on their way, retries remembered) comes back from its snapshot: the same bytes again, and
/// the same answers to what follows.
#[test]
fn a_snapshot_restores_the_translation_state() {
    let (mut venue, mut alice, mut bob) = (Venue::new(), session(1), session(2));
    venue.send(&mut alice, b"D", &limit("a-1", "1", "10", "100"));
    venue.send(&mut alice, b"D", &limit("a-2", "1", "5", "99"));
    venue.send(&mut alice, b"D", &limit("a-3", "1", "7", "98"));
    venue.send(&mut bob, b"D", &limit("b-1", "2", "4", "100"));
    venue.send(
        &mut alice,
        b"F",
        &[(11, "a-4"), (41, "a-3"), (55, "LOCK-USD"), (54, "1")],
    );
    // A replace and a mass cancel taken but not yet answered.
    let mut decoder = Decoder::new();
    let mut take = |t: &mut Translator, msg_type: &[u8], fields: &[(u32, &str)]| {
        let bytes = client_message(msg_type, fields, false);
        let (frame, _) = decoder.decode(&bytes).unwrap().unwrap();
        match t.inbound(&frame, T0) {
            Inbound::Command(c) => c,
            other => panic!("{other:?}"),
        }
    };
    let replace = [
        (11, "a-5"),
        (41, "a-2"),
        (55, "LOCK-USD"),
        (54, "1"),
        (38, "6"),
        (40, "2"),
        (44, "99"),
    ];
    let replace = take(&mut alice, b"G", &replace);
    let mass = take(&mut alice, b"q", &[(11, "m-1"), (530, "7")]);
    let bytes = alice.export();
    let mut restored = session(1);
    restored.import(&bytes).unwrap();
    assert_eq!(restored.export(), bytes, "the same state, the same bytes");
    assert_eq!(restored.next_request(), alice.next_request());
    // The events that answer them, applied once, handed to both translators.
    let answered = [venue.apply(replace), venue.apply(mass)];
    let mut answers = Vec::new();
    for t in [&mut alice, &mut restored] {
        let mut out = Vec::new();
        for (seq, events) in &answered {
            out.extend(
                events
                    .iter()
                    .enumerate()
                    .filter_map(|(i, e)| t.outbound(*seq, u32::try_from(i).unwrap(), e)),
            );
        }
        // A retry of a remembered order, a reused ClOrdID, a status request (answered by the
        // translator itself: no venue needed).
        let mut v = Venue::new();
        assert!(matches!(
            t.inbound(
                &Decoder::new()
                    .decode(&client_message(b"D", &limit("a-1", "1", "10", "100"), true))
                    .unwrap()
                    .unwrap()
                    .0,
                T0
            ),
            Inbound::Retry(_)
        ));
        out.extend(v.send(t, b"D", &limit("a-3", "1", "1", "100")));
        out.extend(v.send(t, b"H", &[(11, "a-5"), (55, "LOCK-USD"), (54, "1")]));
        answers.push(out.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>());
    }
    assert!(answers[0].len() >= 4, "{:?}", answers[0]);
    assert_eq!(answers[0], answers[1]);
}

/// Damaged snapshot bytes are refused, never a panic, and leave the translator as it was.
#[test]
fn a_damaged_snapshot_is_refused() {
    let (mut venue, mut alice) = (Venue::new(), session(1));
    venue.send(&mut alice, b"D", &limit("a-1", "1", "10", "100"));
    venue.send(
        &mut alice,
        b"F",
        &[(11, "a-2"), (41, "a-1"), (55, "LOCK-USD"), (54, "1")],
    );
    venue.send(&mut alice, b"D", &limit("a-3", "1", "10", "100"));
    let bytes = alice.export();
    let mut fresh = session(1);
    let empty = fresh.export();
    for cut in 0..bytes.len() {
        assert!(fresh.import(&bytes[..cut]).is_err(), "cut at {cut}");
        assert_eq!(fresh.export(), empty);
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(fresh.import(&longer).is_err());
    let mut version = bytes.clone();
    version[0] = 9;
    assert!(fresh.import(&version).is_err());
}
