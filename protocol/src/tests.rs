//! Codec properties: every message round-trips, encoding is canonical, and no input panics.

use proptest::prelude::*;

use crate::wire::{HEADER_SIZE, MessageHeader, SCHEMA_VERSION};
use crate::{
    Command, DecodeError, Event, FieldError, MESSAGE_SIZE_MAX, NewOrder, RejectReason, Symbol,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn command_round_trips(command in any::<Command>()) {
        let bytes = command.encode_to_vec();
        prop_assert_eq!(bytes.len(), command.encoded_len());
        prop_assert!(bytes.len() <= MESSAGE_SIZE_MAX);
        prop_assert_eq!(Command::decode(&bytes), Ok(command));
    }

    #[test]
    fn event_round_trips(event in any::<Event>()) {
        let bytes = event.encode_to_vec();
        prop_assert_eq!(bytes.len(), event.encoded_len());
        prop_assert_eq!(Event::decode(&bytes), Ok(event));
    }

    #[test]
    fn sequenced_frames_round_trip(sequenced in any::<crate::Sequenced>()) {
        let mut buf = [0u8; crate::SEQUENCED_FRAME_SIZE_MAX];
        let n = sequenced.encode_into(&mut buf).unwrap();
        prop_assert_eq!(crate::Sequenced::decode(&buf[..n]), Ok(sequenced));
        prop_assert!(crate::Sequenced::decode(&buf[..n - 1]).is_err());
    }

    #[test]
    fn egress_frames_round_trip(prefix in any::<crate::EgressPrefix>(), event in any::<Event>().boxed()) {
        let egress = crate::EgressEvent { prefix, event };
        let mut buf = [0u8; crate::EGRESS_FRAME_SIZE_MAX];
        let n = egress.encode_into(&mut buf).unwrap();
        prop_assert_eq!(crate::EgressEvent::decode(&buf[..n]), Ok(egress));
    }

    #[test]
    fn cluster_messages_round_trip(message in any::<crate::ClusterMessage>()) {
        prop_assert_eq!(crate::ClusterMessage::decode(&message.encode_to_vec()), Ok(message));
    }

    #[test]
    fn command_json_round_trips(command in any::<Command>()) {
        let json = serde_json::to_string(&command).unwrap();
        prop_assert_eq!(serde_json::from_str::<Command>(&json).unwrap(), command);
    }

    /// Whatever decodes re-encodes to the same bytes: there is one encoding per message.
    #[test]
    fn decoding_arbitrary_bytes_never_panics_and_is_canonical(
        bytes in proptest::collection::vec(any::<u8>(), 0..200)
    ) {
        if let Ok((command, used)) = Command::decode_prefix(&bytes) {
            prop_assert_eq!(&command.encode_to_vec()[..], &bytes[..used]);
        }
        if let Ok((event, used)) = Event::decode_prefix(&bytes) {
            prop_assert_eq!(&event.encode_to_vec()[..], &bytes[..used]);
        }
    }

    /// Flipping any single bit of a valid message either fails to decode or gives a message that
    /// re-encodes to exactly the flipped bytes: never a panic, never a silent normalisation.
    #[test]
    fn single_bit_flips_are_decoded_exactly_or_refused(
        command in any::<Command>(), bit in any::<prop::sample::Index>()
    ) {
        let mut bytes = command.encode_to_vec();
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(decoded) = Command::decode(&bytes) {
            prop_assert_eq!(decoded.encode_to_vec(), bytes);
        }
    }

    #[test]
    fn every_truncation_is_refused(command in any::<Command>(), cut in any::<prop::sample::Index>()) {
        let bytes = command.encode_to_vec();
        let cut = cut.index(bytes.len());
        let is_truncated = matches!(
            Command::decode(&bytes[..cut]),
            Err(DecodeError::Truncated { .. })
        );
        prop_assert!(is_truncated);
    }
}

fn sample_order() -> Command {
    let json = r#"{"type":"new_order","origin":{"session":7,"account":3,"request_id":11},
        "instrument":1,"side":"buy","order_type":"limit","time_in_force":"gtc","post_only":"off",
        "client_order_id":99,"price":10050,"stop_price":0,"qty":100,"display_qty":0,
        "expire_time":0}"#;
    serde_json::from_str(json).expect("sample parses")
}

#[test]
fn new_order_layout_is_pinned() {
    // The first bytes of the wire form, by hand: a change here is a schema change.
    let bytes = sample_order().encode_to_vec();
    assert_eq!(bytes.len(), HEADER_SIZE + NewOrder::BODY_SIZE);
    assert_eq!(
        &bytes[0..8],
        &[1, 0, 1, 0, 72, 0, 0, 0],
        "version 1, template 1, body 72"
    );
    assert_eq!(&bytes[8..12], &7u32.to_le_bytes(), "session");
    assert_eq!(&bytes[12..16], &3u32.to_le_bytes(), "account");
    assert_eq!(&bytes[16..24], &11u64.to_le_bytes(), "request id");
    assert_eq!(&bytes[24..28], &1u32.to_le_bytes(), "instrument");
    assert_eq!(
        &bytes[28..32],
        &[1, 1, 1, 1],
        "side, type, time in force, post-only"
    );
    assert_eq!(&bytes[32..40], &99u64.to_le_bytes(), "client order id");
    assert_eq!(&bytes[40..48], &10050i64.to_le_bytes(), "price");
}

#[test]
fn wrong_version_is_refused() {
    let mut bytes = sample_order().encode_to_vec();
    bytes[0] = 2;
    assert_eq!(
        Command::decode(&bytes),
        Err(DecodeError::UnsupportedVersion {
            found: 2,
            expected: SCHEMA_VERSION
        })
    );
}

#[test]
fn unknown_template_is_refused() {
    let mut bytes = sample_order().encode_to_vec();
    bytes[2] = 99;
    assert!(matches!(
        Command::decode(&bytes),
        Err(DecodeError::UnknownTemplate {
            template_id: 99,
            ..
        })
    ));
    // An event template is not a command.
    bytes[2] = 100;
    assert!(matches!(
        Command::decode(&bytes),
        Err(DecodeError::UnknownTemplate { .. })
    ));
}

#[test]
fn zero_enum_value_is_refused_with_the_field_name() {
    let mut bytes = sample_order().encode_to_vec();
    bytes[28] = 0; // side
    assert_eq!(
        Command::decode(&bytes),
        Err(DecodeError::InvalidField {
            template: "NewOrder",
            field: "side",
            reason: FieldError::Enum(0)
        })
    );
}

#[test]
fn reserved_bytes_must_be_zero() {
    let mut bytes = sample_order().encode_to_vec();
    bytes[6] = 1; // header reserved
    assert!(matches!(
        Command::decode(&bytes),
        Err(DecodeError::ReservedNotZero { .. })
    ));
}

#[test]
fn body_length_must_match_the_template() {
    let mut bytes = sample_order().encode_to_vec();
    bytes[4] = 71;
    assert!(matches!(
        Command::decode(&bytes[..HEADER_SIZE + 71]),
        Err(DecodeError::BodyLength {
            found: 71,
            expected: 72,
            ..
        })
    ));
}

#[test]
fn trailing_bytes_are_refused_by_decode_but_not_decode_prefix() {
    let mut bytes = sample_order().encode_to_vec();
    let len = bytes.len();
    bytes.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        Command::decode(&bytes),
        Err(DecodeError::TrailingBytes { extra: 3, .. })
    ));
    assert_eq!(
        Command::decode_prefix(&bytes).map(|(_, used)| used),
        Ok(len)
    );
}

#[test]
fn encode_into_a_small_buffer_is_an_error() {
    let mut buf = [0u8; 10];
    assert!(sample_order().encode_into(&mut buf).is_err());
}

#[test]
fn every_reject_reason_round_trips_through_u16() {
    for &reason in RejectReason::ALL {
        assert_eq!(RejectReason::from_u16(reason.to_u16()), Some(reason));
    }
    assert_eq!(RejectReason::from_u16(0), None);
}

#[test]
fn symbols_are_checked() {
    assert_eq!(Symbol::new("BTC-USD").unwrap().as_str(), "BTC-USD");
    assert!(Symbol::new("").is_err());
    assert!(Symbol::new("has space").is_err());
    assert!(Symbol::new("SEVENTEEN-CHARSXX").is_err());
    assert!(!Symbol::is_valid(&[
        b'A', 0, b'B', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    ]));
}

#[test]
fn header_is_eight_bytes() {
    assert_eq!(size_of::<MessageHeader>(), 8);
}

/// `docs/protocol.md` carries the byte layout of every message, generated from the schema. When
/// the schema changes, run `UPDATE_DOCS=1 cargo test -p protocol` and review the diff.
#[test]
fn docs_protocol_md_matches_the_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/protocol.md");
    let doc = std::fs::read_to_string(&path).expect("docs/protocol.md exists");
    let (begin, end) = ("<!-- layout:begin -->\n", "<!-- layout:end -->");
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    let expected = render_layouts();
    if doc[start..stop] != expected {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{expected}{}", &doc[..start], &doc[stop..]);
            std::fs::write(&path, updated).expect("write docs/protocol.md");
        } else {
            panic!("docs/protocol.md is stale: run UPDATE_DOCS=1 cargo test -p protocol");
        }
    }
}

fn render_layouts() -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let kinds = [
        ("Commands", Command::LAYOUTS),
        ("Events", Event::LAYOUTS),
        ("Cluster messages", crate::ClusterMessage::LAYOUTS),
    ];
    for (kind, layouts) in kinds {
        writeln!(out, "### {kind}\n").unwrap();
        for (name, template_id, layout) in layouts {
            let body: usize = layout.iter().map(|f| f.2).sum();
            writeln!(
                out,
                "#### {name} (template {template_id}, body {body} bytes)\n"
            )
            .unwrap();
            writeln!(out, "| offset | bytes | field | type |").unwrap();
            writeln!(out, "|---:|---:|---|---|").unwrap();
            let mut offset = HEADER_SIZE;
            for (field, ty, size) in layout.iter().filter(|f| f.2 > 0) {
                writeln!(
                    out,
                    "| {offset} | {size} | `{field}` | {} |",
                    wire_type(ty, *size)
                )
                .unwrap();
                offset += size;
            }
            writeln!(out).unwrap();
        }
    }
    render_enums(&mut out);
    out
}

fn render_enums(out: &mut String) {
    use crate::types::*;
    use std::fmt::Write;
    fn values<T: std::fmt::Debug + Copy>(all: &[T], code: impl Fn(T) -> u16) -> String {
        all.iter()
            .map(|&v| format!("{} = `{v:?}`", code(v)))
            .collect::<Vec<_>>()
            .join(", ")
    }
    writeln!(out, "### Enum values\n").unwrap();
    writeln!(out, "| enum | values |").unwrap();
    writeln!(out, "|---|---|").unwrap();
    let rows = [
        ("Side", values(Side::ALL, |v| v.to_u8().into())),
        ("OrderType", values(OrderType::ALL, |v| v.to_u8().into())),
        (
            "TimeInForce",
            values(TimeInForce::ALL, |v| v.to_u8().into()),
        ),
        ("PostOnly", values(PostOnly::ALL, |v| v.to_u8().into())),
        ("StpMode", values(StpMode::ALL, |v| v.to_u8().into())),
        (
            "MassCancelScope",
            values(MassCancelScope::ALL, |v| v.to_u8().into()),
        ),
        ("ExecType", values(ExecType::ALL, |v| v.to_u8().into())),
        (
            "OrderStatus",
            values(OrderStatus::ALL, |v| v.to_u8().into()),
        ),
        (
            "CancelRejectTo",
            values(CancelRejectTo::ALL, |v| v.to_u8().into()),
        ),
        (
            "RejectReason (u16, 0 = none)",
            values(RejectReason::ALL, RejectReason::to_u16),
        ),
    ];
    for (name, values) in rows {
        writeln!(out, "| `{name}` | {values} |").unwrap();
    }
    writeln!(out).unwrap();
}

/// How a domain type appears on the wire.
fn wire_type(ty: &str, size: usize) -> String {
    match (ty, size) {
        ("Price", 8) => "i64 LE (price units)".into(),
        ("Origin", 16) => "session u32, account u32, request_id u64 (LE)".into(),
        ("StateDigest", 16) => "u128 LE".into(),
        ("Symbol", 16) => "ASCII, NUL-padded".into(),
        ("Option<RejectReason>", 2) => "u16 LE, 0 = none".into(),
        ("zero", _) => "reserved, zero".into(),
        (ty, 1) => format!("u8 enum `{ty}`"),
        (ty, n) => format!("u{} LE `{ty}`", n * 8),
    }
}

#[test]
fn the_egress_cursor_delivers_each_event_once_across_a_failover() {
    use crate::{EgressCursor, Seq};
    let mut cursor = EgressCursor::default();
    assert_eq!(cursor.complete_through(), Seq(0));
    assert!(cursor.accept(&frame(1, 5, 0, 2)));
    assert_eq!(
        cursor.complete_through(),
        Seq(4),
        "seq 5 has another event to come"
    );
    assert!(cursor.accept(&frame(1, 5, 1, 2)));
    assert_eq!(cursor.complete_through(), Seq(5));
    assert!(!cursor.accept(&frame(1, 5, 1, 2)), "a repeat");
    // The backup, promoted in term 2, re-publishes from seq 4: only the new part passes.
    assert!(!cursor.accept(&frame(2, 4, 0, 1)));
    assert!(!cursor.accept(&frame(2, 5, 0, 2)));
    assert!(cursor.accept(&frame(2, 6, 0, 1)));
    // A late frame from the deposed primary is stale, even if it looks new.
    assert!(!cursor.accept(&frame(1, 7, 0, 1)));
    assert!(cursor.accept(&frame(2, 7, 0, 1)));
}

#[test]
fn the_egress_cursor_tells_a_lost_event_from_a_command_without_events() {
    use crate::EgressCursor;
    let mut cursor = EgressCursor::default();
    assert!(!cursor.skips(&frame(1, 5, 1, 3)), "joining mid-command");
    assert!(cursor.accept(&frame(1, 5, 1, 3)));
    assert!(
        cursor.skips(&frame(1, 6, 0, 1)),
        "seq 5's last event is missing"
    );
    assert!(!cursor.skips(&frame(1, 5, 2, 3)));
    assert!(cursor.accept(&frame(1, 5, 2, 3)));
    assert!(!cursor.skips(&frame(1, 9, 0, 2)), "seqs 6-8 had no events");
    assert!(
        cursor.skips(&frame(1, 9, 1, 2)),
        "seq 9's first event is missing"
    );
    assert!(cursor.accept(&frame(1, 9, 0, 2)));
    assert!(
        cursor.skips(&frame(1, 9, 2, 4)),
        "an index skipped within seq 9"
    );
    assert!(!cursor.skips(&frame(1, 9, 0, 2)), "a repeat skips nothing");
    assert!(!cursor.skips(&frame(0, 12, 3, 4)), "nor a stale frame");
    // A promoted backup re-publishes seq 9 whole: the repeat is dropped, the rest follows.
    assert!(!cursor.skips(&frame(2, 9, 0, 2)));
    assert!(!cursor.skips(&frame(2, 9, 1, 2)));
    assert!(cursor.accept(&frame(2, 9, 1, 2)));
    assert!(!cursor.skips(&frame(2, 10, 0, 1)));
}

/// An egress frame's prefix: term, seq, index within the command, the command's event count.
fn frame(term: u64, seq: u64, index: u32, count: u32) -> crate::EgressPrefix {
    crate::EgressPrefix {
        term: crate::Term(term),
        seq: crate::Seq(seq),
        index,
        count,
    }
}
