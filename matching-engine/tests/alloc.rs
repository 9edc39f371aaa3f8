//! Steady-state matching does not allocate: a counting global allocator watches a mixed flow
//! (adds, cancels, replaces, market sweeps) after warm-up.

mod common;

use common::*;
use matching_engine::{Engine, EngineConfig};
use protocol::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<std::alloc::System> = &INSTRUMENTED_SYSTEM;

fn flow(n: u64) -> Vec<Sequenced> {
    let mut state = 7u64;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    let mut cmds = vec![Command::DefineInstrument(define(1, 1, 1, 1000))];
    cmds.push(Command::SetRiskLimits(risk(2, StpMode::Decrement)));
    for i in 0..n {
        let side = if next() % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = 480 + (next() % 40) as i64;
        let session = 1 + (next() % 3) as u32;
        let command = match next() % 10 {
            0..=5 => Command::NewOrder(NewOrder {
                client_order_id: ClientOrderId(i + 1),
                display_qty: Qty(if i % 7 == 0 { 5 } else { 0 }),
                ..by(session, session, limit(side, price, 1 + next() % 50))
            }),
            6 | 7 => Command::Cancel(Cancel {
                origin: origin(session, session),
                ..cancel(session, 1 + next() % (i + 1))
            }),
            8 => Command::Replace(replace(
                session,
                1 + next() % (i + 1),
                price,
                1 + next() % 50,
            )),
            _ => Command::NewOrder(NewOrder {
                client_order_id: ClientOrderId(i + 1),
                ..by(session, session, market(side, 1 + next() % 200))
            }),
        };
        cmds.push(command);
    }
    cmds.into_iter()
        .zip(1u64..)
        .map(|(command, seq)| Sequenced {
            seq: Seq(seq),
            timestamp: TimestampNs(seq),
            command,
        })
        .collect()
}

#[test]
fn no_allocation_per_operation_in_steady_state() {
    let config = EngineConfig {
        orders_max: 4096,
        instruments_max: 2,
        accounts_max: 8,
        price_levels_max: 2000,
    };
    let mut engine = Engine::new(config);
    let cmds = flow(20_000);
    let (warm, steady) = cmds.split_at(5_000);
    let mut out = Vec::with_capacity(1024);
    for cmd in warm {
        out.clear();
        engine.apply(cmd, &mut out);
    }
    let region = Region::new(GLOBAL);
    let mut events = 0;
    for cmd in steady {
        out.clear();
        engine.apply(cmd, &mut out);
        events += out.len();
    }
    let stats = region.change();
    assert!(events > steady.len(), "the flow does something");
    assert_eq!(
        (stats.allocations, stats.reallocations),
        (0, 0),
        "{stats:?}"
    );
}
