//! Corner cases, one scenario per rule in `docs/matching-engine.md`.

mod common;

use ExecType::*;
use Side::{Buy, Sell};
use common::*;
use protocol::*;

#[test]
fn limit_order_rests_with_ack_level_and_top_of_book() {
    let mut h = Harness::new();
    let events = h.order(limit(Buy, 100, 10));
    assert_eq!(execs(&events), vec![(New, 1, None)]);
    assert_eq!(levels(&events), vec![(Buy, 100, 10, 1)]);
    assert!(matches!(
        events.last(),
        Some(Event::TopOfBook(TopOfBook {
            bid_price: Price(100),
            bid_qty: Qty(10),
            ask_qty: Qty(0),
            ..
        }))
    ));
}

#[test]
fn partial_fills_across_levels_then_rest() {
    let mut h = Harness::new();
    let a = h.rest(by(2, 2, limit(Sell, 101, 5)));
    let b = h.rest(by(2, 2, limit(Sell, 102, 5)));
    h.rest(by(2, 2, limit(Sell, 103, 5)));
    let events = h.order(limit(Buy, 102, 12));
    assert_eq!(trades(&events), vec![(101, 5, a, 4), (102, 5, b, 4)]);
    assert_eq!(
        execs(&events),
        vec![
            (New, 4, None),
            (Fill, a, None),
            (PartialFill, 4, None),
            (Fill, b, None),
            (PartialFill, 4, None)
        ]
    );
    assert_eq!(
        levels(&events),
        vec![(Buy, 102, 2, 1), (Sell, 101, 0, 0), (Sell, 102, 0, 0)]
    );
    let taker = reports(&events)[4];
    assert_eq!(
        (taker.leaves_qty, taker.cum_qty, taker.status),
        (Qty(2), Qty(10), OrderStatus::PartiallyFilled)
    );
}

#[test]
fn time_priority_within_a_level() {
    let mut h = Harness::new();
    let first = h.rest(by(2, 2, limit(Sell, 100, 5)));
    let second = h.rest(by(3, 3, limit(Sell, 100, 5)));
    let events = h.order(limit(Buy, 100, 7));
    assert_eq!(
        trades(&events),
        vec![(100, 5, first, 3), (100, 2, second, 3)]
    );
}

#[test]
fn market_orders_take_what_there_is_and_cancel_the_rest() {
    let mut h = Harness::new();
    let events = h.order(market(Buy, 5));
    assert_eq!(
        execs(&events),
        vec![
            (New, 1, None),
            (Cancelled, 1, Some(RejectReason::NoLiquidity))
        ]
    );
    h.rest(by(2, 2, limit(Sell, 100, 3)));
    let events = h.order(market(Buy, 5));
    assert_eq!(trades(&events).len(), 1);
    assert_eq!(
        execs(&events).last(),
        Some(&(Cancelled, 3, Some(RejectReason::NoLiquidity)))
    );
}

#[test]
fn ioc_cancels_its_remainder_without_a_reason() {
    let mut h = Harness::new();
    h.rest(by(2, 2, limit(Sell, 100, 3)));
    let events = h.order(NewOrder {
        time_in_force: TimeInForce::Ioc,
        ..limit(Buy, 100, 5)
    });
    assert_eq!(execs(&events).last(), Some(&(Cancelled, 2, None)));
    assert_eq!(h.engine.open_orders(), 0);
}

#[test]
fn fok_fills_exactly_or_is_rejected_without_side_effects() {
    let mut h = Harness::new();
    h.rest(by(2, 2, limit(Sell, 100, 3)));
    h.rest(by(2, 2, limit(Sell, 101, 3)));
    let fok = |qty| NewOrder {
        time_in_force: TimeInForce::Fok,
        ..limit(Buy, 101, qty)
    };
    let events = h.order(fok(7));
    assert_eq!(
        execs(&events),
        vec![(Rejected, 0, Some(RejectReason::FokNotFillable))]
    );
    assert!(levels(&events).is_empty());
    let events = h.order(fok(6));
    assert_eq!(trades(&events).len(), 2);
    assert_eq!(execs(&events).last(), Some(&(Fill, 3, None)));
}

#[test]
fn fok_counts_what_self_trade_prevention_would_leave() {
    let mut h = Harness::new();
    h.apply(Command::SetRiskLimits(risk(1, StpMode::CancelResting)));
    h.rest(limit(Sell, 100, 5));
    h.rest(by(2, 2, limit(Sell, 100, 5)));
    let fok = |qty| NewOrder {
        time_in_force: TimeInForce::Fok,
        ..limit(Buy, 100, qty)
    };
    assert_eq!(
        reject_reason(&h.order(fok(6))),
        Some(RejectReason::FokNotFillable)
    );
    let events = h.order(fok(5));
    assert_eq!(
        execs(&events)[1],
        (Cancelled, 1, Some(RejectReason::SelfTradePrevented))
    );
    assert_eq!(
        trades(&events),
        vec![(100, 5, 2, 3)],
        "the rejected FOK took no id"
    );
}

#[test]
fn iceberg_refresh_goes_to_the_back_of_its_level() {
    let mut h = Harness::new();
    let ice = h.rest(by(
        2,
        2,
        NewOrder {
            display_qty: Qty(10),
            ..limit(Sell, 100, 30)
        },
    ));
    let plain = h.rest(by(3, 3, limit(Sell, 100, 10)));
    assert_eq!(ice, 1);
    let events = h.order(limit(Buy, 100, 15));
    assert_eq!(trades(&events), vec![(100, 10, ice, 3), (100, 5, plain, 3)]);
    assert_eq!(levels(&events), vec![(Sell, 100, 15, 2)]);
    let events = h.order(limit(Buy, 100, 10));
    assert_eq!(trades(&events), vec![(100, 5, plain, 4), (100, 5, ice, 4)]);
}

#[test]
fn stops_trigger_in_order_and_cascade() {
    let mut h = Harness::new();
    h.rest(by(2, 2, limit(Sell, 101, 5)));
    h.rest(by(2, 2, limit(Sell, 102, 5)));
    h.rest(by(2, 2, limit(Sell, 103, 5)));
    let stop = |stop_price, qty| NewOrder {
        order_type: OrderType::Stop,
        stop_price: Price(stop_price),
        ..limit(Buy, 0, qty)
    };
    let late = h.order(stop(102, 5));
    assert_eq!(reports(&late)[0].status, OrderStatus::PendingTrigger);
    let early = h.rest(NewOrder {
        order_type: OrderType::StopLimit,
        stop_price: Price(101),
        ..limit(Buy, 102, 5)
    });
    let events = h.order(by(3, 3, limit(Buy, 101, 5)));
    let kinds: Vec<_> = execs(&events)
        .into_iter()
        .map(|(k, id, _)| (k, id))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (New, 6),
            (Fill, 1),
            (Fill, 6),
            (Triggered, early),
            (Fill, 2),
            (Fill, early),
            (Triggered, 4),
            (Fill, 3),
            (Fill, 4),
        ]
    );
}

#[test]
fn stp_cancel_resting_cancel_incoming_cancel_both() {
    for (mode, expect) in [
        (
            StpMode::CancelResting,
            vec![
                (New, 2, None),
                (Cancelled, 1, Some(RejectReason::SelfTradePrevented)),
                (Fill, 3, None),
                (Fill, 2, None),
            ],
        ),
        (
            StpMode::CancelIncoming,
            vec![
                (New, 2, None),
                (Cancelled, 2, Some(RejectReason::SelfTradePrevented)),
            ],
        ),
        (
            StpMode::CancelBoth,
            vec![
                (New, 2, None),
                (Cancelled, 1, Some(RejectReason::SelfTradePrevented)),
                (Cancelled, 2, Some(RejectReason::SelfTradePrevented)),
            ],
        ),
    ] {
        let mut h = Harness::new();
        h.apply(Command::SetRiskLimits(risk(1, mode)));
        h.rest(limit(Sell, 100, 5));
        h.rest(by(2, 2, limit(Sell, 100, 5)));
        let events = h.order(by(3, 1, limit(Buy, 100, 5)));
        let mut got = execs(&events);
        // Order ids: 1 own resting, 2 = other account's, so the taker is 3; remap for the table.
        for e in &mut got {
            e.1 = match e.1 {
                3 => 2,
                2 => 3,
                x => x,
            };
        }
        assert_eq!(got, expect, "{mode:?}");
    }
}

#[test]
fn stp_decrement_restates_and_cancels_the_smaller() {
    let mut h = Harness::new();
    h.apply(Command::SetRiskLimits(risk(1, StpMode::Decrement)));
    h.rest(limit(Sell, 100, 5));
    let events = h.order(limit(Buy, 100, 8));
    assert_eq!(
        execs(&events),
        vec![
            (New, 2, None),
            (Cancelled, 1, Some(RejectReason::SelfTradePrevented)),
            (Restated, 2, Some(RejectReason::SelfTradePrevented))
        ]
    );
    assert!(trades(&events).is_empty());
    let restated = reports(&events)[2];
    assert_eq!((restated.order_qty, restated.leaves_qty), (Qty(3), Qty(3)));
    assert_eq!(levels(&events), vec![(Buy, 100, 3, 1), (Sell, 100, 0, 0)]);
}

#[test]
fn replace_priority_rules() {
    let mut h = Harness::new();
    let a = h.rest(limit(Sell, 100, 10));
    let b = h.rest(by(2, 2, limit(Sell, 100, 10)));
    // Quantity down at the same price keeps priority.
    let events = h.apply(Command::Replace(replace(1, a, 100, 8)));
    assert_eq!(execs(&events), vec![(Replaced, a, None)]);
    assert_eq!(levels(&events), vec![(Sell, 100, 18, 2)]);
    let events = h.order(by(3, 3, limit(Buy, 100, 1)));
    assert_eq!(trades(&events)[0].2, a);
    // Quantity up loses it.
    h.apply(Command::Replace(replace(1, a, 100, 20)));
    let events = h.order(by(3, 3, limit(Buy, 100, 1)));
    assert_eq!(trades(&events)[0].2, b);
    // New total at or below the filled quantity is refused.
    let events = h.apply(Command::Replace(replace(1, a, 100, 1)));
    assert_eq!(reject_reason(&events), Some(RejectReason::InvalidReplace));
    // A price that crosses trades at once.
    h.rest(by(3, 3, limit(Buy, 99, 4)));
    let events = h.apply(Command::Replace(replace(1, a, 99, 20)));
    assert_eq!(trades(&events).len(), 1);
    assert_eq!(execs(&events)[0].0, Replaced);
}

#[test]
fn cancel_rules() {
    let mut h = Harness::new();
    let id = h.rest(limit(Sell, 100, 10));
    assert_eq!(
        reject_reason(&h.apply(Command::Cancel(cancel(2, id)))),
        Some(RejectReason::NotOrderOwner)
    );
    assert_eq!(
        reject_reason(&h.apply(Command::Cancel(cancel(1, 99)))),
        Some(RejectReason::UnknownOrder)
    );
    let by_client_id = Cancel {
        order_id: OrderId(0),
        orig_client_order_id: ClientOrderId(2),
        ..cancel(1, 0)
    };
    let events = h.apply(Command::Cancel(by_client_id));
    assert_eq!(execs(&events), vec![(Cancelled, id, None)]);
    assert_eq!(
        reject_reason(&h.apply(Command::Cancel(cancel(1, id)))),
        Some(RejectReason::UnknownOrder)
    );
}

#[test]
fn each_risk_limit_has_its_reason() {
    let mut h = Harness::new();
    let limits = SetRiskLimits {
        max_open_orders: 1,
        max_order_qty: Qty(100),
        max_notional: 100 * 50,
        price_band: 10,
        ..risk(1, StpMode::Off)
    };
    h.apply(Command::SetRiskLimits(limits));
    let reason = |h: &mut Harness, o| reject_reason(&h.order(o));
    assert_eq!(
        reason(&mut h, limit(Buy, 500, 101)),
        Some(RejectReason::RiskMaxOrderQty)
    );
    assert_eq!(
        reason(&mut h, limit(Buy, 500, 100)),
        Some(RejectReason::RiskMaxNotional)
    );
    assert_eq!(
        reason(&mut h, limit(Buy, 480, 10)),
        Some(RejectReason::RiskPriceBand)
    );
    assert_eq!(reason(&mut h, limit(Buy, 500, 10)), None);
    assert_eq!(
        reason(&mut h, limit(Buy, 500, 10)),
        Some(RejectReason::RiskMaxOpenOrders)
    );
}

#[test]
fn gtd_expires_at_its_time_and_day_at_end_of_session() {
    let mut h = Harness::new();
    let gtd = h.rest(NewOrder {
        time_in_force: TimeInForce::Gtd,
        expire_time: TimestampNs(1_010),
        ..limit(Buy, 100, 1)
    });
    let day = h.rest(NewOrder {
        time_in_force: TimeInForce::Day,
        ..limit(Buy, 99, 1)
    });
    let timer = || {
        Command::Timer(Timer {
            origin: origin(0, 0),
        })
    };
    let mut expired = Vec::new();
    while h.now < 1_010 {
        expired.extend(execs(&h.apply(timer())));
    }
    assert_eq!(expired, vec![(Expired, gtd, None)]);
    let past = NewOrder {
        time_in_force: TimeInForce::Gtd,
        expire_time: TimestampNs(5),
        ..limit(Buy, 100, 1)
    };
    assert_eq!(
        reject_reason(&h.order(past)),
        Some(RejectReason::InvalidExpireTime)
    );
    let events = h.apply(Command::EndOfSession(EndOfSession {
        origin: origin(0, 0),
        instrument: InstrumentId(0),
    }));
    assert_eq!(execs(&events), vec![(Expired, day, None)]);
    assert_eq!(h.engine.open_orders(), 0);
}

#[test]
fn post_only_reject_and_reprice() {
    let mut h = Harness::new();
    h.rest(by(2, 2, limit(Sell, 100, 5)));
    let events = h.order(NewOrder {
        post_only: PostOnly::Reject,
        ..limit(Buy, 100, 5)
    });
    assert_eq!(
        reject_reason(&events),
        Some(RejectReason::PostOnlyWouldTake)
    );
    let events = h.order(NewOrder {
        post_only: PostOnly::Reprice,
        ..limit(Buy, 105, 5)
    });
    assert_eq!(reports(&events)[0].price, Price(99));
    assert!(trades(&events).is_empty());
    let events = h.order(NewOrder {
        post_only: PostOnly::Reject,
        ..limit(Buy, 99, 5)
    });
    assert_eq!(execs(&events)[0].0, New);
}

#[test]
fn mass_cancel_scopes_and_cancel_on_disconnect() {
    let mut h = Harness::new();
    h.apply(Command::DefineInstrument(define(2, 1, 1, 1000)));
    h.rest(limit(Buy, 100, 1));
    h.rest(NewOrder {
        instrument: InstrumentId(2),
        ..limit(Buy, 100, 1)
    });
    h.rest(by(2, 1, limit(Buy, 100, 1)));
    h.rest(by(3, 3, limit(Buy, 100, 1)));
    let mass = |scope, instrument| {
        Command::MassCancel(MassCancel {
            origin: origin(1, 1),
            instrument: InstrumentId(instrument),
            scope,
        })
    };
    let count = |events: &[Event]| {
        events.iter().find_map(|e| match e {
            Event::MassCancelReport(r) => Some(r.cancelled_count),
            _ => None,
        })
    };
    assert_eq!(count(&h.apply(mass(MassCancelScope::Session, 2))), Some(1));
    assert_eq!(count(&h.apply(mass(MassCancelScope::Account, 0))), Some(2));
    let cod = Command::CancelOnDisconnect(CancelOnDisconnect {
        origin: origin(0, 0),
        session: SessionId(3),
    });
    let events = h.apply(cod);
    assert_eq!(execs(&events), vec![(Cancelled, 4, None)]);
    assert_eq!(count(&events), Some(1));
    assert_eq!(h.engine.open_orders(), 0);
}

#[test]
fn capacity_rejects() {
    let config = matching_engine::EngineConfig {
        orders_max: 2,
        instruments_max: 1,
        accounts_max: 2,
        price_levels_max: 1000,
    };
    let mut h = Harness::with_config(config);
    h.rest(limit(Buy, 100, 1));
    h.rest(by(2, 2, limit(Buy, 100, 1)));
    assert_eq!(
        reject_reason(&h.order(limit(Buy, 100, 1))),
        Some(RejectReason::CapacityExceeded)
    );
    let events = h.apply(Command::DefineInstrument(define(2, 1, 1, 10)));
    assert_eq!(reject_reason(&events), Some(RejectReason::CapacityExceeded));
    h.apply(Command::Cancel(cancel(1, 1)));
    assert_eq!(
        reject_reason(&h.order(by(3, 3, limit(Buy, 100, 1)))),
        Some(RejectReason::CapacityExceeded)
    );
    let mut h = Harness::with_config(matching_engine::EngineConfig {
        instruments_max: 2,
        ..config
    });
    let events = h.apply(Command::DefineInstrument(define(2, 1, 1, 10)));
    assert_eq!(
        reject_reason(&events),
        Some(RejectReason::CapacityExceeded),
        "1000 + 10 levels > 1000"
    );
}

#[test]
fn malformed_but_decodable_inputs_are_rejected_with_precise_reasons() {
    let mut h = Harness::new();
    h.apply(Command::DefineInstrument(DefineInstrument {
        lot_size: 10,
        ..define(2, 5, 5, 5000)
    }));
    let on2 = |o: NewOrder| NewOrder {
        instrument: InstrumentId(2),
        ..o
    };
    let cases = [
        (limit(Buy, 100, 0), RejectReason::QtyOutOfRange),
        (limit(Buy, 100, u64::MAX), RejectReason::QtyOutOfRange),
        (limit(Buy, 0, 1), RejectReason::PriceOutOfRange),
        (limit(Buy, i64::MAX, 1), RejectReason::PriceOutOfRange),
        (limit(Buy, i64::MIN, 1), RejectReason::PriceOutOfRange),
        (on2(limit(Buy, 101, 10)), RejectReason::PriceNotOnTick),
        (on2(limit(Buy, 100, 15)), RejectReason::QtyNotOnLot),
        (
            NewOrder {
                instrument: InstrumentId(9),
                ..limit(Buy, 100, 1)
            },
            RejectReason::UnknownInstrument,
        ),
        (
            NewOrder {
                display_qty: Qty(20),
                ..limit(Buy, 100, 10)
            },
            RejectReason::InvalidDisplayQty,
        ),
        (
            NewOrder {
                post_only: PostOnly::Reject,
                ..market(Buy, 1)
            },
            RejectReason::InvalidOrder,
        ),
        (
            NewOrder {
                order_type: OrderType::Stop,
                stop_price: Price(-5),
                ..limit(Buy, 0, 1)
            },
            RejectReason::InvalidStopPrice,
        ),
    ];
    for (order, reason) in cases {
        assert_eq!(reject_reason(&h.order(order)), Some(reason), "{order:?}");
    }
    assert_eq!(
        reject_reason(&h.apply(Command::Replace(replace(1, u64::MAX, 1, 1)))),
        Some(RejectReason::UnknownOrder)
    );
    let huge = DefineInstrument {
        min_price: Price(i64::MIN),
        max_price: Price(i64::MAX),
        ..define(3, 1, 1, 10)
    };
    assert!(reject_reason(&h.apply(Command::DefineInstrument(huge))).is_some());
    let notional = SetRiskLimits {
        max_notional: u64::MAX,
        ..risk(1, StpMode::Off)
    };
    h.apply(Command::SetRiskLimits(notional));
    assert_eq!(reject_reason(&h.order(limit(Buy, 1000, 1_000_000))), None);
}

#[test]
fn duplicate_client_order_ids_among_open_orders() {
    let mut h = Harness::new();
    h.rest(NewOrder {
        client_order_id: ClientOrderId(7),
        ..limit(Buy, 100, 1)
    });
    let dup = NewOrder {
        client_order_id: ClientOrderId(7),
        ..limit(Buy, 101, 1)
    };
    assert_eq!(
        reject_reason(&h.order(dup)),
        Some(RejectReason::DuplicateClientOrderId)
    );
    assert_eq!(
        reject_reason(&h.order(by(2, 2, dup))),
        None,
        "another session may reuse it"
    );
}
