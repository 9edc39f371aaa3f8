//! The codec against hand-written messages, and round-trips of arbitrary ones.

use proptest::prelude::*;

use super::*;

fn header(seq: u64) -> Header<'static> {
    Header {
        sender_comp_id: b"CLIENT",
        target_comp_id: b"LOCKSTEP",
        msg_seq_num: seq,
        sending_time: b"20261130-09:30:00.000",
        poss_dup: None,
    }
}

/// `|` stands for SOH.
fn soh(text: &str) -> Vec<u8> {
    text.bytes()
        .map(|b| if b == b'|' { SOH } else { b })
        .collect()
}

fn heartbeat(seq: u64) -> Vec<u8> {
    let mut builder = MessageBuilder::new();
    builder.start(b"0", &header(seq)).unwrap();
    builder.finish().to_vec()
}

#[test]
fn a_built_message_is_standard_fix() {
    let mut builder = MessageBuilder::new();
    builder.start(b"D", &header(7)).unwrap();
    builder.field(11, b"order-1").unwrap().field_u64(38, 100);
    let bytes = builder.finish().to_vec();
    let body = "35=D|49=CLIENT|56=LOCKSTEP|34=7|52=20261130-09:30:00.000|11=order-1|38=100|";
    let head = format!("8=FIX.4.4|9={}|", body.len());
    let sum = checksum(&soh(&format!("{head}{body}")));
    assert_eq!(bytes, soh(&format!("{head}{body}10={sum:03}|")));
}

#[test]
fn a_message_decodes_with_its_fields_in_order() {
    let bytes = heartbeat(3);
    let mut decoder = Decoder::new();
    let (frame, used) = decoder.decode(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(frame.msg_type(), b"0");
    assert_eq!(frame.get(tag::MSG_SEQ_NUM), Some(&b"3"[..]));
    let tags: Vec<u32> = frame.fields().map(|(t, _)| t).collect();
    assert_eq!(tags, [35, 49, 56, 34, 52]);
}

#[test]
fn every_prefix_of_a_message_asks_for_more() {
    let bytes = heartbeat(1);
    let mut decoder = Decoder::new();
    for n in 0..bytes.len() {
        assert!(
            matches!(decoder.decode(&bytes[..n]), Ok(None)),
            "prefix of {n}"
        );
    }
}

#[test]
fn messages_back_to_back_decode_one_after_the_other() {
    let mut stream = heartbeat(1);
    stream.extend(heartbeat(2));
    let mut decoder = Decoder::new();
    let (first, used) = decoder.decode(&stream).unwrap().unwrap();
    assert_eq!(first.get(tag::MSG_SEQ_NUM), Some(&b"1"[..]));
    let (second, _) = decoder.decode(&stream[used..]).unwrap().unwrap();
    assert_eq!(second.get(tag::MSG_SEQ_NUM), Some(&b"2"[..]));
}

fn garbled(bytes: &[u8]) -> (Garbled, usize) {
    match Decoder::new().decode(bytes) {
        Err(FrameError::Garbled { reason, skip }) => (reason, skip),
        other => panic!("expected garbled, got {other:?}"),
    }
}

#[test]
fn a_wrong_checksum_is_garbled_and_skipped_to_the_next_message() {
    let mut bytes = heartbeat(1);
    let n = bytes.len();
    bytes[n - 2] = if bytes[n - 2] == b'9' { b'0' } else { b'9' };
    let first = bytes.len();
    bytes.extend(heartbeat(2));
    let (reason, skip) = garbled(&bytes);
    assert!(matches!(reason, Garbled::CheckSum { .. }), "{reason}");
    assert_eq!(skip, first, "resynchronised on the next 8=FIX");
    assert!(Decoder::new().decode(&bytes[skip..]).unwrap().is_some());
}

#[test]
fn framing_errors_are_garbled_with_a_reason() {
    assert_eq!(
        garbled(&soh("8=FIX.4.2|9=5|35=0|10=000|")).0,
        Garbled::BeginString
    );
    assert_eq!(garbled(&soh("garbage")).0, Garbled::BeginString);
    assert_eq!(garbled(&soh("8=FIX.4.4|9=x|")).0, Garbled::BodyLength);
    assert_eq!(garbled(&soh("8=FIX.4.4|9=1234567")).0, Garbled::BodyLength);
    // BodyLength one short: the trailer is not where it says.
    let bytes = heartbeat(1);
    let text = String::from_utf8(bytes.clone()).unwrap();
    let length: usize = text.split('\u{1}').nth(1).unwrap()[2..].parse().unwrap();
    let shorter = text.replacen(&format!("9={length}"), &format!("9={}", length - 1), 1);
    assert_eq!(garbled(shorter.as_bytes()).0, Garbled::Trailer);
}

#[test]
fn the_body_must_be_tag_value_fields_starting_with_msg_type() {
    let frame = |body: &str| {
        let body = soh(body);
        let mut bytes = soh(&format!("8=FIX.4.4|9={}|", body.len()));
        bytes.extend(&body);
        let sum = checksum(&bytes);
        bytes.extend(soh(&format!("10={sum:03}|")));
        bytes
    };
    assert_eq!(garbled(&frame("49=A|35=0|")).0, Garbled::MsgType);
    assert_eq!(garbled(&frame("35=0|=x|")).0, Garbled::Field);
    assert_eq!(garbled(&frame("35=0|49=|")).0, Garbled::Field);
    assert_eq!(garbled(&frame("35=0|4x=1|")).0, Garbled::Field);
    assert_eq!(garbled(&frame("35=0|0=1|")).0, Garbled::Field);
    assert_eq!(garbled(&frame("35=0|49")).0, Garbled::Field);
    let many: String = (0..FIELDS_MAX).map(|i| format!("{}=1|", 100 + i)).collect();
    assert_eq!(
        garbled(&frame(&format!("35=0|{many}"))).0,
        Garbled::TooManyFields
    );
    assert!(
        Decoder::new()
            .decode(&frame("35=0|58=a=b|"))
            .unwrap()
            .is_some(),
        "= in a value"
    );
}

#[test]
fn an_oversized_message_is_refused_before_it_is_buffered() {
    let bytes = soh(&format!("8=FIX.4.4|9={}|35=", MESSAGE_SIZE_MAX));
    assert!(matches!(
        Decoder::new().decode(&bytes),
        Err(FrameError::TooLarge(_))
    ));
}

#[test]
fn values_with_soh_or_empty_are_refused() {
    let mut builder = MessageBuilder::new();
    builder.start(b"D", &header(1)).unwrap();
    assert_eq!(
        builder.field(58, b"a\x01b").unwrap_err(),
        EncodeError::BadValue(58)
    );
    assert_eq!(
        builder.field(58, b"").unwrap_err(),
        EncodeError::BadValue(58)
    );
}

#[test]
fn a_resend_carries_poss_dup_and_the_original_time() {
    let mut builder = MessageBuilder::new();
    let resend = Header {
        poss_dup: Some(b"20261130-09:00:00.000"),
        ..header(4)
    };
    builder.start(b"8", &resend).unwrap();
    let bytes = builder.finish().to_vec();
    let mut decoder = Decoder::new();
    let (frame, _) = decoder.decode(&bytes).unwrap().unwrap();
    assert_eq!(frame.get(tag::POSS_DUP_FLAG), Some(&b"Y"[..]));
    assert_eq!(
        frame.get(tag::ORIG_SENDING_TIME),
        Some(&b"20261130-09:00:00.000"[..])
    );
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>().prop_filter("no SOH", |b| *b != SOH), 1..24)
}

fn body_field() -> impl Strategy<Value = (u32, Vec<u8>)> {
    (
        (11u32..100_000).prop_filter("not a header tag", |t| {
            ![
                tag::MSG_SEQ_NUM,
                tag::POSS_DUP_FLAG,
                tag::SENDER_COMP_ID,
                tag::SENDING_TIME,
            ]
            .contains(t)
                && ![tag::TARGET_COMP_ID, tag::ORIG_SENDING_TIME].contains(t)
        }),
        value(),
    )
}

proptest! {
    #[test]
    fn built_messages_decode_to_what_was_built(
        msg_type in prop::collection::vec(b'0'..=b'z', 1..3),
        sender in value(),
        seq in 1u64..u64::MAX,
        fields in prop::collection::vec(body_field(), 0..40),
    ) {
        let head = Header { sender_comp_id: &sender, ..header(seq) };
        let mut builder = MessageBuilder::new();
        builder.start(&msg_type, &head).unwrap();
        for (t, v) in &fields {
            builder.field(*t, v).unwrap();
        }
        let bytes = builder.finish().to_vec();
        let mut decoder = Decoder::new();
        let (frame, used) = decoder.decode(&bytes).unwrap().unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(frame.msg_type(), &msg_type[..]);
        prop_assert_eq!(frame.get(tag::SENDER_COMP_ID), Some(&sender[..]));
        let seq_text = seq.to_string();
        prop_assert_eq!(frame.get(tag::MSG_SEQ_NUM), Some(seq_text.as_bytes()));
        let body: Vec<(u32, Vec<u8>)> = frame.fields().skip(5).map(|(t, v)| (t, v.to_vec())).collect();
        prop_assert_eq!(body, fields);
    }

    #[test]
    fn any_bytes_either_frame_ask_for_more_or_say_how_far_to_skip(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut decoder = Decoder::new();
        match decoder.decode(&bytes) {
            Ok(Some((_, used))) => prop_assert!(used > 0 && used <= bytes.len()),
            Ok(None) => {}
            Err(FrameError::Garbled { skip, .. }) => prop_assert!(skip > 0 && skip <= bytes.len()),
            Err(FrameError::TooLarge(n)) => prop_assert!(n > MESSAGE_SIZE_MAX),
        }
    }
}
