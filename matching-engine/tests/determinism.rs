//! Determinism: the same stream gives the same event bytes and hashes; a snapshot taken at any
//! point and restored continues identically; corrupt snapshots are refused without panicking.

mod common;

use common::{define, encode, origin};
use matching_engine::{Engine, EngineConfig, SnapshotError};
use proptest::prelude::*;
use protocol::*;

fn config() -> EngineConfig {
    EngineConfig {
        orders_max: 256,
        instruments_max: 4,
        accounts_max: 8,
        price_levels_max: 1000,
    }
}

/// Every order type and time in force, icebergs, post-only, GTD, plus cancels, replaces and
/// session/timer commands.
fn command() -> impl Strategy<Value = Command> {
    let order = (
        (1u32..=3, any::<bool>(), 0u8..4, 0u8..5, 0u8..3),
        (90i64..=110, 90i64..=110, 1u64..=20, 0u64..=8, 0u64..=30),
    )
        .prop_map(
            |((s, buy, kind, tif, post), (price, stop, qty, display, expire))| {
                Command::NewOrder(NewOrder {
                    origin: origin(s, s),
                    instrument: InstrumentId(1),
                    side: if buy { Side::Buy } else { Side::Sell },
                    order_type: OrderType::ALL[usize::from(kind)],
                    time_in_force: TimeInForce::ALL[usize::from(tif)],
                    post_only: PostOnly::ALL[usize::from(post)],
                    client_order_id: ClientOrderId(0),
                    price: Price(price),
                    stop_price: Price(stop),
                    qty: Qty(qty),
                    display_qty: Qty(display),
                    expire_time: TimestampNs(1_000 + expire * 3),
                })
            },
        );
    let other = (1u32..=3, 0u64..30, 90i64..=110, 1u64..=20, 0u8..8).prop_map(
        |(s, id, price, qty, kind)| match kind {
            0..=2 => Command::Cancel(Cancel {
                origin: origin(s, s),
                order_id: OrderId(id),
                orig_client_order_id: ClientOrderId(0),
                client_order_id: ClientOrderId(0),
                instrument: InstrumentId(0),
            }),
            3..=5 => Command::Replace(Replace {
                origin: origin(s, s),
                order_id: OrderId(id),
                orig_client_order_id: ClientOrderId(0),
                client_order_id: ClientOrderId(1_000 + id),
                price: Price(price),
                qty: Qty(qty),
                instrument: InstrumentId(0),
            }),
            6 => Command::Timer(Timer {
                origin: origin(0, 0),
            }),
            _ => Command::EndOfSession(EndOfSession {
                origin: origin(0, 0),
                instrument: InstrumentId(0),
            }),
        },
    );
    prop_oneof![3 => order, 1 => other]
}

fn stream() -> impl Strategy<Value = Vec<Sequenced>> {
    proptest::collection::vec(command(), 1..150).prop_map(|commands| {
        let setup = [
            Command::DefineInstrument(define(1, 1, 1, 200)),
            Command::SetRiskLimits(common::risk(2, StpMode::Decrement)),
            Command::SetRiskLimits(SetRiskLimits {
                price_band: 15,
                max_open_orders: 20,
                ..common::risk(3, StpMode::CancelBoth)
            }),
        ];
        setup
            .into_iter()
            .chain(commands)
            .enumerate()
            .map(|(i, mut command)| {
                let seq = i as u64 + 1;
                if let Command::NewOrder(o) = &mut command {
                    o.client_order_id = ClientOrderId(seq);
                    o.origin.request_id = RequestId(seq);
                }
                Sequenced {
                    seq: Seq(seq),
                    timestamp: TimestampNs(1_000 + 2 * seq),
                    command,
                }
            })
            .collect()
    })
}

fn run(engine: &mut Engine, cmds: &[Sequenced]) -> Vec<(Vec<u8>, u128)> {
    cmds.iter()
        .map(|cmd| {
            let mut out = Vec::new();
            engine.apply(cmd, &mut out);
            let hash = engine.peek_state_hash();
            assert_eq!(hash, engine.state_hash_recomputed());
            if cmd.seq.0.is_multiple_of(3) {
                assert_eq!(engine.state_hash(), hash);
            }
            (encode(&out), hash.0)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn same_stream_same_bytes_and_hashes(cmds in stream()) {
        let first = run(&mut Engine::new(config()), &cmds);
        let second = run(&mut Engine::new(config()), &cmds);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn snapshot_and_restore_continue_identically(cmds in stream(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(cmds.len() + 1);
        let mut engine = Engine::new(config());
        let expected = run(&mut engine, &cmds);
        let mut engine = Engine::new(config());
        run(&mut engine, &cmds[..cut]);
        let mut bytes = Vec::new();
        engine.snapshot(&mut bytes);
        let mut restored = Engine::restore(&bytes).expect("own snapshot restores");
        prop_assert_eq!(restored.state_hash(), engine.state_hash());
        let mut again = Vec::new();
        restored.snapshot(&mut again);
        prop_assert_eq!(&again, &bytes, "snapshot bytes depend on the logical state only");
        let continued = run(&mut restored, &cmds[cut..]);
        prop_assert_eq!(&continued[..], &expected[cut..]);
    }
}

/// A snapshot of a book with resting orders of every kind.
fn sample_snapshot() -> Vec<u8> {
    let cmds = stream();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let cmds = proptest::strategy::ValueTree::current(&cmds.new_tree(&mut runner).unwrap());
    let mut engine = Engine::new(config());
    run(&mut engine, &cmds);
    let mut bytes = Vec::new();
    engine.snapshot(&mut bytes);
    bytes
}

#[test]
fn corrupt_snapshots_are_refused_without_panicking() {
    let bytes = sample_snapshot();
    assert!(Engine::restore(&bytes).is_ok());
    for len in 0..bytes.len() {
        assert!(
            Engine::restore(&bytes[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for at in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[at] ^= 0x5a;
        assert!(Engine::restore(&bad).is_err(), "flipped byte {at}");
        // Also with a recomputed checksum, so the content checks themselves are exercised.
        let crc = crc32c_of(&bad[64..]);
        bad[24..28].copy_from_slice(&crc.to_le_bytes());
        if at >= 64 {
            assert!(
                Engine::restore(&bad).is_err(),
                "flipped body byte {at} with a valid checksum"
            );
        }
    }
    let mut wrong_version = bytes.clone();
    wrong_version[8] = 9;
    assert_eq!(
        Engine::restore(&wrong_version).unwrap_err(),
        SnapshotError::UnsupportedVersion {
            found: 9,
            expected: 1
        }
    );
}

/// CRC-32C (Castagnoli), bitwise: independent of the engine's implementation.
fn crc32c_of(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Nobody reads the hash for many thousands of changed orders: `apply` settles by itself once
/// `SETTLE_PENDING_MAX` (4096) are pending, so the pending list stays bounded, and the hash read
/// at the end, with or without settling, is the one recomputed from scratch.
#[test]
fn the_hash_settles_by_itself_when_nobody_reads_it() {
    let mut engine = Engine::new(EngineConfig {
        orders_max: 16_384,
        instruments_max: 1,
        accounts_max: 4,
        price_levels_max: 1_000,
    });
    let mut out = Vec::new();
    let mut seq = 0;
    let mut apply = |engine: &mut Engine, command: Command| {
        seq += 1;
        let cmd = Sequenced {
            seq: Seq(seq),
            timestamp: TimestampNs(seq),
            command,
        };
        out.clear();
        engine.apply(&cmd, &mut out);
    };
    apply(
        &mut engine,
        Command::DefineInstrument(define(1, 1, 1, 1_000)),
    );
    let mut pending_max = 0;
    for i in 0..10_000u64 {
        let mut order = common::limit(Side::Buy, 100 + (i % 300) as i64, 1 + i % 7);
        order.client_order_id = ClientOrderId(i + 1);
        apply(&mut engine, Command::NewOrder(order));
        pending_max = pending_max.max(engine.hash_pending());
    }
    // Fills change resting orders too: sell into the bids.
    for i in 0..2_000u64 {
        let mut order = common::market(Side::Sell, 3);
        order.client_order_id = ClientOrderId(20_000 + i);
        apply(&mut engine, Command::NewOrder(order));
        pending_max = pending_max.max(engine.hash_pending());
    }
    assert!(pending_max >= 4_000, "the pending list grew: {pending_max}");
    assert!(pending_max <= 4_096, "and was bounded: {pending_max}");
    assert!(engine.hash_pending() > 0);
    let recomputed = engine.state_hash_recomputed();
    assert_eq!(engine.peek_state_hash(), recomputed);
    assert_eq!(engine.state_hash(), recomputed);
    assert_eq!(engine.hash_pending(), 0);
}
