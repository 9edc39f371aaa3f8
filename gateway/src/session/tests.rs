//! The session against the scenarios of the QuickFIX acceptance suite that concern an
//! acceptor: logon, sequence too high and too low, gap fill, resend of application messages,
//! garbled messages, wrong credentials, heartbeat timeout, rejects.

use super::*;
use crate::fix::{Decoder, tag};

const S: u64 = 1_000_000_000;
/// 2026-11-30T09:30:00Z
const T0: u64 = 1_796_031_000 * S;

/// The client's side: builds its messages and reads the session's.
struct Client {
    next: u64,
    builder: MessageBuilder,
}

impl Client {
    fn new() -> Self {
        Self {
            next: 1,
            builder: MessageBuilder::new(),
        }
    }

    fn build(
        &mut self,
        seq: u64,
        now: u64,
        msg_type: &[u8],
        fields: &[(u32, &str)],
        dup: bool,
    ) -> Vec<u8> {
        let time = format_utc(now);
        let original = format_utc(now - S);
        let header = crate::fix::Header {
            sender_comp_id: b"CLIENT",
            target_comp_id: b"LOCKSTEP",
            msg_seq_num: seq,
            sending_time: &time,
            poss_dup: dup.then_some(&original[..]),
        };
        self.builder.start(msg_type, &header).unwrap();
        for (tag, value) in fields {
            self.builder.field(*tag, value.as_bytes()).unwrap();
        }
        self.builder.finish().to_vec()
    }

    /// The next message in sequence.
    fn next(&mut self, now: u64, msg_type: &[u8], fields: &[(u32, &str)]) -> Vec<u8> {
        let seq = self.next;
        self.next += 1;
        self.build(seq, now, msg_type, fields, false)
    }
}

fn config() -> SessionConfig {
    SessionConfig {
        credentials: Some((b"trader".to_vec(), b"secret".to_vec())),
        ..SessionConfig::new(b"LOCKSTEP", b"CLIENT")
    }
}

const LOGON: [(u32, &str); 4] = [(98, "0"), (108, "30"), (553, "trader"), (554, "secret")];

/// What the session output, decoded: `(MsgType, fields)` per message sent, then deliveries and
/// a disconnect as pseudo-types.
fn drain(session: &mut Session) -> Vec<(String, Vec<(u32, String)>)> {
    let mut out = Vec::new();
    while let Some(output) = session.poll_output() {
        let (kind, bytes) = match output {
            Output::Send(bytes) => ("send", bytes.to_vec()),
            Output::Deliver(bytes) => ("deliver", bytes),
            Output::Disconnect(reason) => {
                out.push(("disconnect".to_owned(), vec![(58, reason)]));
                continue;
            }
        };
        let mut decoder = Decoder::new();
        let (frame, _) = decoder.decode(&bytes).unwrap().unwrap();
        let fields = frame
            .fields()
            .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
            .collect();
        let msg_type = String::from_utf8_lossy(frame.msg_type()).into_owned();
        out.push((
            if kind == "send" {
                msg_type
            } else {
                format!("deliver {msg_type}")
            },
            fields,
        ));
    }
    out
}

fn field(message: &(String, Vec<(u32, String)>), tag: u32) -> Option<&str> {
    message
        .1
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, v)| v.as_str())
}

fn types(out: &[(String, Vec<(u32, String)>)]) -> Vec<&str> {
    out.iter().map(|(t, _)| t.as_str()).collect()
}

/// A new session (numbers 1 and 1) on `config()`, waiting for its Logon at `T0`.
fn fresh() -> Session {
    Session::new(
        config(),
        SeqNums {
            next_in: 1,
            next_out: 1,
        },
        T0,
    )
}

fn logged_on() -> (Session, Client) {
    let mut session = fresh();
    let mut client = Client::new();
    session.on_bytes(T0, &client.next(T0, b"A", &LOGON));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["A"]);
    assert_eq!(field(&out[0], 108), Some("30"));
    assert!(session.is_active());
    (session, client)
}

#[test]
fn a_logon_is_answered_and_application_messages_are_delivered_in_order() {
    let (mut session, mut client) = logged_on();
    let order = client.next(T0, b"D", &[(11, "o-1"), (55, "X")]);
    session.on_bytes(T0, &order[..10]);
    assert!(drain(&mut session).is_empty(), "half a message waits");
    session.on_bytes(T0, &order[10..]);
    let out = drain(&mut session);
    assert_eq!(types(&out), ["deliver D"]);
    assert_eq!(field(&out[0], 11), Some("o-1"));
    assert_eq!(
        session.seq_nums(),
        SeqNums {
            next_in: 3,
            next_out: 2
        }
    );
}

#[test]
fn wrong_credentials_or_comp_ids_get_a_logout_and_a_disconnect() {
    for fields in [
        vec![(98, "0"), (108, "30"), (553, "trader"), (554, "guess")],
        vec![(98, "0"), (108, "0"), (553, "trader"), (554, "secret")],
    ] {
        let mut session = fresh();
        session.on_bytes(T0, &Client::new().next(T0, b"A", &fields));
        let out = drain(&mut session);
        assert_eq!(types(&out), ["5", "disconnect"], "{fields:?}");
        assert!(session.is_closed());
    }
    let mut other = Session::new(
        SessionConfig::new(b"LOCKSTEP", b"SOMEONE"),
        SeqNums {
            next_in: 1,
            next_out: 1,
        },
        T0,
    );
    other.on_bytes(T0, &Client::new().next(T0, b"A", &LOGON));
    assert_eq!(types(&drain(&mut other)), ["5", "disconnect"]);
}

#[test]
fn nothing_before_a_logon() {
    let mut session = fresh();
    session.on_bytes(T0, &Client::new().next(T0, b"D", &[(11, "o-1")]));
    assert_eq!(types(&drain(&mut session)), ["disconnect"]);
    assert_eq!(
        session.send_application(T0, b"8", |_| Ok(())),
        Err(SendError::NotLoggedOn)
    );
}

#[test]
fn a_sequence_too_high_gets_a_resend_request_and_a_gap_fill_closes_it() {
    let (mut session, mut client) = logged_on();
    client.next = 5;
    session.on_bytes(T0, &client.next(T0, b"D", &[(11, "o-5")]));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["2"], "no delivery out of order");
    assert_eq!(
        (field(&out[0], 7), field(&out[0], 16)),
        (Some("2"), Some("0"))
    );
    // The client gap-fills 2..4 and resends 5 as a possible duplicate.
    let fill = client.build(2, T0, b"4", &[(123, "Y"), (36, "5")], true);
    let resent = client.build(5, T0, b"D", &[(11, "o-5")], true);
    session.on_bytes(T0, &[fill, resent].concat());
    assert_eq!(types(&drain(&mut session)), ["deliver D"]);
    assert_eq!(session.seq_nums().next_in, 6);
}

#[test]
fn a_sequence_too_low_logs_out_unless_it_is_a_possible_duplicate() {
    let (mut session, mut client) = logged_on();
    session.on_bytes(T0, &client.next(T0, b"D", &[(11, "o-1")]));
    drain(&mut session);
    session.on_bytes(T0, &client.build(2, T0, b"D", &[(11, "o-1")], true));
    assert!(
        drain(&mut session).is_empty(),
        "a PossDup below the expected number is ignored"
    );
    session.on_bytes(T0, &client.build(2, T0, b"D", &[(11, "o-1")], false));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["5", "disconnect"]);
    assert_eq!(
        field(&out[0], 58),
        Some("MsgSeqNum too low, expecting 3 but received 2")
    );
}

#[test]
fn a_garbled_message_is_ignored_and_not_counted() {
    let (mut session, mut client) = logged_on();
    let mut bad = client.next(T0, b"D", &[(11, "o-1")]);
    let n = bad.len();
    bad[n - 3] ^= 1; // the checksum no longer matches
    session.on_bytes(T0, &bad);
    assert!(drain(&mut session).is_empty());
    client.next -= 1; // the client resends it under the same number
    session.on_bytes(T0, &client.next(T0, b"D", &[(11, "o-1")]));
    assert_eq!(types(&drain(&mut session)), ["deliver D"]);
}

#[test]
fn resend_requests_get_possible_duplicates_and_gap_fills_for_session_messages() {
    let (mut session, mut client) = logged_on();
    for id in ["e-1", "e-2"] {
        session
            .send_application(T0, b"8", |b| b.field(17, id.as_bytes()).map(drop))
            .unwrap();
    }
    session.on_tick(T0 + 30 * S); // a heartbeat: seq 4
    session
        .send_application(T0 + 30 * S, b"8", |b| b.field(17, b"e-3").map(drop))
        .unwrap();
    drain(&mut session);
    session.on_bytes(
        T0 + 31 * S,
        &client.next(T0 + 31 * S, b"2", &[(7, "1"), (16, "0")]),
    );
    let out = drain(&mut session);
    assert_eq!(types(&out), ["4", "8", "8", "4", "8"]);
    let seqs: Vec<_> = out
        .iter()
        .map(|m| field(m, tag::MSG_SEQ_NUM).unwrap())
        .collect();
    assert_eq!(seqs, ["1", "2", "3", "4", "5"]);
    assert!(
        out.iter()
            .all(|m| field(m, tag::POSS_DUP_FLAG) == Some("Y"))
    );
    assert_eq!(field(&out[1], 17), Some("e-1"));
    assert_eq!(
        field(&out[1], tag::ORIG_SENDING_TIME),
        Some("20261130-09:30:00.000")
    );
    assert_eq!(
        (field(&out[0], 36), field(&out[3], 36)),
        (Some("2"), Some("5"))
    );
    assert_eq!(
        session.seq_nums().next_out,
        6,
        "a resend takes no new numbers"
    );
}

/// Both sides have a gap: the client's ResendRequest comes with a number past one the session
/// never got. It is answered all the same (else each side would wait for the other's answer),
/// then the session asks for its own gap, and carries on once the client fills it.
#[test]
fn a_resend_request_past_a_gap_is_answered_then_the_gap_asked_for() {
    let (mut session, mut client) = logged_on();
    session
        .send_application(T0, b"8", |b| b.field(17, b"e-1").map(drop))
        .unwrap();
    drain(&mut session);
    client.next += 1; // message 2 is lost on the way
    session.on_bytes(T0, &client.next(T0, b"2", &[(7, "1"), (16, "0")]));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["4", "8", "2"]);
    assert_eq!(field(&out[1], 17), Some("e-1"));
    assert_eq!(field(&out[1], tag::POSS_DUP_FLAG), Some("Y"));
    assert_eq!(
        (field(&out[2], 7), field(&out[2], 16)),
        (Some("2"), Some("0")),
        "then its own request, from the gap"
    );
    // The client fills 2..=3 (its ResendRequest is a session message: a gap fill too).
    let fill = client.build(2, T0, b"4", &[(123, "Y"), (36, "4")], true);
    session.on_bytes(T0, &fill);
    session.on_bytes(T0, &client.next(T0, b"D", &[(11, "o-1")]));
    assert_eq!(types(&drain(&mut session)), ["deliver D"]);
    assert_eq!(session.seq_nums().next_in, 5);
}

#[test]
fn silence_brings_a_test_request_then_a_logout() {
    let (mut session, mut client) = logged_on();
    session.on_tick(T0 + 30 * S);
    assert_eq!(types(&drain(&mut session)), ["0"], "our heartbeat");
    session.on_tick(T0 + 37 * S);
    let out = drain(&mut session);
    assert_eq!(types(&out), ["1"]);
    let id = field(&out[0], 112).unwrap().to_owned();
    // Answered: all is well.
    session.on_bytes(T0 + 38 * S, &client.next(T0 + 38 * S, b"0", &[(112, &id)]));
    session.on_tick(T0 + 60 * S);
    assert!(
        drain(&mut session).is_empty(),
        "the TestRequest at 37 s was our last message"
    );
    session.on_tick(T0 + 67 * S);
    assert_eq!(types(&drain(&mut session)), ["0"]);
    // Not answered: logout.
    session.on_tick(T0 + 75 * S);
    assert_eq!(types(&drain(&mut session)), ["1"]);
    session.on_tick(T0 + 106 * S);
    assert_eq!(types(&drain(&mut session)), ["5", "disconnect"]);
}

#[test]
fn a_test_request_is_answered_with_its_id() {
    let (mut session, mut client) = logged_on();
    session.on_bytes(T0, &client.next(T0, b"1", &[(112, "ping")]));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["0"]);
    assert_eq!(field(&out[0], 112), Some("ping"));
}

#[test]
fn bad_messages_are_rejected_and_the_session_survives_or_ends_as_the_rules_say() {
    let (mut session, mut client) = logged_on();
    session.on_bytes(T0, &client.next(T0, b"Z", &[(58, "?")]));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["3"]);
    assert_eq!(
        (field(&out[0], 373), field(&out[0], 45)),
        (Some("11"), Some("2"))
    );
    assert!(
        session.is_active(),
        "an unknown MsgType does not end the session"
    );
    // SendingTime ten minutes off: reject, then logout.
    let late = client.next(T0 + 600 * S, b"D", &[(11, "o")]);
    session.on_bytes(T0, &late);
    let out = drain(&mut session);
    assert_eq!(types(&out), ["3", "5", "disconnect"]);
    assert_eq!(field(&out[0], 373), Some("10"));
}

#[test]
fn a_sequence_reset_moves_the_expected_number_and_a_logout_is_answered() {
    let (mut session, mut client) = logged_on();
    session.on_bytes(T0, &client.build(1, T0, b"4", &[(36, "10")], false));
    assert!(drain(&mut session).is_empty());
    assert_eq!(session.seq_nums().next_in, 10);
    client.next = 10;
    session.on_bytes(T0, &client.next(T0, b"5", &[]));
    assert_eq!(types(&drain(&mut session)), ["5", "disconnect"]);
}

#[test]
fn a_reconnect_continues_the_numbers_or_resets_them_when_asked() {
    let seq = SeqNums {
        next_in: 7,
        next_out: 9,
    };
    let mut session = Session::new(config(), seq, T0);
    let mut client = Client::new();
    client.next = 7;
    session.on_bytes(T0, &client.next(T0, b"A", &LOGON));
    let out = drain(&mut session);
    assert_eq!(field(&out[0], tag::MSG_SEQ_NUM), Some("9"));
    assert_eq!(
        session.seq_nums(),
        SeqNums {
            next_in: 8,
            next_out: 10
        }
    );
    let mut reset = Session::new(config(), seq, T0);
    let fields = [LOGON.as_slice(), &[(141, "Y")]].concat();
    reset.on_bytes(T0, &Client::new().next(T0, b"A", &fields));
    let out = drain(&mut reset);
    assert_eq!(
        (field(&out[0], 141), field(&out[0], tag::MSG_SEQ_NUM)),
        (Some("Y"), Some("1"))
    );
}

/// A report for a connection not logged on yet is numbered and kept, not sent: the Logon's
/// answer comes after it, the client asks for the gap and gets the report as a PossDup copy.
/// Once logged on, `hold` sends.
#[test]
fn a_held_message_is_numbered_then_resent_after_the_logon() {
    let mut session = fresh();
    session
        .hold(T0, b"8", |b| b.field(17, b"e-1").map(drop))
        .unwrap();
    assert!(drain(&mut session).is_empty(), "nothing on the wire");
    assert_eq!(session.seq_nums().next_out, 2);
    let mut client = Client::new();
    session.on_bytes(T0, &client.next(T0, b"A", &LOGON));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["A"]);
    assert_eq!(field(&out[0], tag::MSG_SEQ_NUM), Some("2"));
    session.on_bytes(T0, &client.next(T0, b"2", &[(7, "1"), (16, "1")]));
    let out = drain(&mut session);
    assert_eq!(types(&out), ["8"]);
    assert_eq!(
        (
            field(&out[0], tag::MSG_SEQ_NUM),
            field(&out[0], tag::POSS_DUP_FLAG),
            field(&out[0], 17)
        ),
        (Some("1"), Some("Y"), Some("e-1"))
    );
    session
        .hold(T0, b"8", |b| b.field(17, b"e-2").map(drop))
        .unwrap();
    let out = drain(&mut session);
    assert_eq!(types(&out), ["8"]);
    assert_eq!(field(&out[0], tag::MSG_SEQ_NUM), Some("3"));
}
