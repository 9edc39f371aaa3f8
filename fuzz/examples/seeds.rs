//! Writes the seed corpora of the `fix_session`, `journal_recovery` and `journal_reader` targets:
//!   cd fuzz && cargo +nightly run --example seeds
//! Seeds are a handful of small, valid-looking inputs; campaigns grow and minimise the rest.

#[path = "../fuzz_targets/journal_model/mod.rs"]
mod journal_model;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use journal_model::{
    FIX_LINKS, FIX_META, FIX_RECORD_CRCS, FIX_SEGMENT_HEADERS, Image, POINT_IN_TIME,
    SEGMENT_HEADER_SIZE, SEGMENT_SIZE_MIN, WITH_META, encode_record, meta_file, record_size,
    segment_header,
};

const TIME: &str = "20261130-09:30:00.000";

fn write(target: &str, name: &str, bytes: &[u8]) {
    if target == "journal_recovery" {
        // journal_reader reads the same images, after a byte that picks where it opens.
        for pick in [0_u8, 2] {
            let mut seed = vec![pick];
            seed.extend_from_slice(bytes);
            write("journal_reader", &format!("{name}-{pick}"), &seed);
        }
    }
    let dir = Path::new("corpus").join(target);
    fs::create_dir_all(&dir).expect("corpus dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

/// A framed-mode `fix_session` input: flags 1, a schedule, then one body per line.
fn session_seed(schedule: [u8; 8], bodies: &[String]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&schedule);
    out.extend_from_slice(bodies.join("\n").as_bytes());
    out
}

fn body(msg_type: &str, seq: u64, fields: &str) -> String {
    format!("35={msg_type}|49=CLIENT|56=LOCKSTEP|34={seq}|52={TIME}|{fields}")
}

fn fix_session() {
    let whole = [31; 8];
    let mixed = [0x1f, 0x03, 0x5f, 0x21, 0x7f, 0x0f, 0xbf, 0xff];
    let logon = body("A", 1, "98=0|108=30|553=trader|554=secret|");
    let buy = |seq, id: &str, qty, price: &str| {
        body(
            "D",
            seq,
            &format!("11={id}|55=LOCK-USD|54=1|38={qty}|40=2|44={price}|59=0|60={TIME}|"),
        )
    };
    let sell = |seq, id: &str, qty, price: &str| {
        body(
            "D",
            seq,
            &format!("11={id}|55=LOCK-USD|54=2|38={qty}|40=2|44={price}|59=0|60={TIME}|"),
        )
    };
    // The session waiting for its Logon: logon, orders, a cancel, a logout.
    let seed = vec![
        logon.clone(),
        buy(2, "b1", 10, "10.00"),
        body(
            "F",
            3,
            &format!("41=b1|11=c1|55=LOCK-USD|54=1|38=10|60={TIME}|"),
        ),
        body("0", 4, ""),
        body("5", 5, "58=bye|"),
    ];
    write(
        "fix_session",
        "logon-order-cancel-logout",
        &session_seed(whole, &seed),
    );
    // The logged-on session: a trade, a replace, a status request, a mass cancel.
    let seed = vec![
        buy(2, "b1", 10, "10.00"),
        sell(3, "s1", 4, "10.00"),
        body(
            "G",
            4,
            &format!("41=b1|11=b2|55=LOCK-USD|54=1|38=20|40=2|44=9.99|60={TIME}|"),
        ),
        body("H", 5, "11=b2|55=LOCK-USD|54=1|"),
        body("q", 6, &format!("11=m1|530=7|60={TIME}|")),
    ];
    write(
        "fix_session",
        "trade-replace-status-mass",
        &session_seed(mixed, &seed),
    );
    // Session-level traffic: test request, resend request, gap fill, sequence too high, PossDup.
    let seed = vec![
        body("1", 2, "112=T1|"),
        body("2", 3, "7=1|16=0|"),
        body("4", 4, "123=Y|36=6|"),
        body("0", 9, ""),
        format!(
            "35=D|49=CLIENT|56=LOCKSTEP|34=6|43=Y|122={TIME}|52={TIME}|11=d1|55=LOCK-USD|54=2|38=1|40=1|59=3|60={TIME}|"
        ),
        body("3", 7, "45=2|"),
    ];
    write(
        "fix_session",
        "admin-resend-gap",
        &session_seed(mixed, &seed),
    );
    // A logon with a reset, then a heartbeat after a long silence (time steps only).
    let seed = vec![
        body("A", 1, "98=0|108=1|141=Y|553=trader|554=secret|"),
        body("0", 2, ""),
    ];
    write(
        "fix_session",
        "reset-heartbeat",
        &session_seed([0xe0, 0xc0, 0xa0, 0x80, 0x60, 0x40, 0x20, 0], &seed),
    );
    // Raw mode: whole messages with their own BodyLength and CheckSum, one garbled.
    let mut raw = vec![0];
    raw.extend_from_slice(&whole);
    raw.extend_from_slice(
        b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x018=FIX.4.4\x019=12\x0135=0\x0134=2\x0110=999\x01",
    );
    write("fix_session", "raw-garbled", &raw);
}

/// Records `first..first + count` into a segment image; returns it and the last record's
/// (offset, crc).
fn segment(index: u64, first: u64, prev_crc: u32, count: u64) -> (Vec<u8>, usize, u32) {
    let len = SEGMENT_SIZE_MIN;
    let mut bytes = vec![0u8; len];
    bytes[..SEGMENT_HEADER_SIZE]
        .copy_from_slice(&segment_header(index, first, prev_crc, len as u64));
    let (mut at, mut crc, mut last_at) = (SEGMENT_HEADER_SIZE, prev_crc, 0);
    for seq in first..first + count {
        let body: Vec<u8> = (0..(seq * 7 % 40 + 1)).map(|i| (seq + i) as u8).collect();
        last_at = at;
        crc = encode_record(&mut bytes[at..], seq, 1_000 * seq, crc, &body);
        at += record_size(body.len());
    }
    (bytes, last_at, crc)
}

fn journal_recovery() {
    let all_fixes = FIX_SEGMENT_HEADERS | FIX_RECORD_CRCS | FIX_LINKS | FIX_META | WITH_META;
    // One clean segment with a checkpoint at its last record.
    let (one, last_at, crc) = segment(0, 1, 0, 6);
    let meta = meta_file(6, &[(1, 6, 1, last_at as u64, crc)]);
    let image = Image {
        flags: all_fixes,
        segments: BTreeMap::from([(1, one.clone())]),
        meta: Some(meta.clone()),
    };
    write("journal_recovery", "clean-checkpointed", &image.to_fuzz());
    // Two segments, no metadata file, no repairs.
    let (first, _, crc) = segment(0, 1, 0, 4);
    let (second, _, _) = segment(1, 5, crc, 4);
    let image = Image {
        flags: 0,
        segments: BTreeMap::from([(1, first.clone()), (5, second.clone())]),
        meta: None,
    };
    write("journal_recovery", "two-segments", &image.to_fuzz());
    // A torn last record.
    let mut torn = one.clone();
    torn[last_at + 20..].fill(0);
    let image = Image {
        flags: WITH_META | POINT_IN_TIME,
        segments: BTreeMap::from([(1, torn)]),
        meta: Some(meta_file(5, &[])),
    };
    write("journal_recovery", "torn-tail", &image.to_fuzz());
    // A flipped bit in the middle: refused.
    let mut flipped = first.clone();
    flipped[SEGMENT_HEADER_SIZE + 40] ^= 4;
    let image = Image {
        flags: 0,
        segments: BTreeMap::from([(1, flipped), (5, second)]),
        meta: None,
    };
    write("journal_recovery", "mid-file-flip", &image.to_fuzz());
    // Non-zero bytes after the end of the data, and a stale checkpoint slot.
    let mut trailing = one;
    let end = 1000;
    trailing[end] = 0x5a;
    let image = Image {
        flags: all_fixes,
        segments: BTreeMap::from([(1, trailing)]),
        meta: Some(meta_file(
            6,
            &[(1, 6, 1, last_at as u64, crc), (2, 9, 1, 4096, 7)],
        )),
    };
    write("journal_recovery", "trailing-data", &image.to_fuzz());
    let _ = meta;
}

fn main() {
    fix_session();
    journal_recovery();
}
