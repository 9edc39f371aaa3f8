//! Idle strategies: the back-off escalates spin -> yield -> park with a doubling period up to
//! its maximum and resets on work; configuration names parse and print back.

use std::time::Duration;
use transport::{
    Backoff, BackoffParams, BackoffPhase, Idle, IdleConfig, IdleParseError, IdleStrategy,
};

fn small_backoff() -> Backoff {
    Backoff::new(BackoffParams {
        spins_max: 3,
        yields_max: 2,
        park_min: Duration::from_nanos(1_000),
        park_max: Duration::from_nanos(8_000),
    })
}

#[test]
fn backoff_escalates_spin_yield_park_and_the_park_period_doubles_to_its_max() {
    let mut idle = small_backoff();
    assert_eq!(idle.phase(), BackoffPhase::NotIdle);
    idle.idle(0);
    assert_eq!(idle.phase(), BackoffPhase::Spinning);
    for _ in 0..2 {
        idle.idle(0);
        assert_eq!(idle.phase(), BackoffPhase::Spinning);
    }
    idle.idle(0);
    assert_eq!(
        idle.phase(),
        BackoffPhase::Yielding,
        "after spins_max spins"
    );
    for _ in 0..2 {
        idle.idle(0);
        assert_eq!(idle.phase(), BackoffPhase::Yielding);
    }
    idle.idle(0);
    assert_eq!(
        idle.phase(),
        BackoffPhase::Parking,
        "after yields_max yields"
    );
    assert_eq!(idle.park_period(), Duration::from_nanos(1_000));
    let mut periods = Vec::new();
    for _ in 0..5 {
        idle.idle(0);
        periods.push(idle.park_period().as_nanos());
    }
    assert_eq!(periods, [2_000, 4_000, 8_000, 8_000, 8_000]);
}

#[test]
fn backoff_resets_on_work_and_on_reset() {
    let mut idle = small_backoff();
    for _ in 0..12 {
        idle.idle(0);
    }
    assert_eq!(idle.phase(), BackoffPhase::Parking);
    assert!(idle.park_period() > Duration::from_nanos(1_000));
    idle.idle(3);
    assert_eq!(idle.phase(), BackoffPhase::NotIdle);
    assert_eq!(idle.park_period(), Duration::from_nanos(1_000));
    for _ in 0..12 {
        idle.idle(0);
    }
    idle.reset();
    assert_eq!(idle.phase(), BackoffPhase::NotIdle);
    idle.idle(0);
    assert_eq!(
        idle.phase(),
        BackoffPhase::Spinning,
        "escalation starts over"
    );
}

#[test]
fn default_backoff_matches_aerons_parameters() {
    let params = Backoff::default().params();
    assert_eq!(params.spins_max, 10);
    assert_eq!(params.yields_max, 20);
    assert_eq!(params.park_min, Duration::from_micros(1));
    assert_eq!(params.park_max, Duration::from_millis(1));
    assert_eq!(IdleConfig::default(), IdleConfig::Backoff);
}

#[test]
fn idle_names_parse_and_print_back() {
    let cases = [
        ("backoff", IdleConfig::Backoff),
        ("busy-spin", IdleConfig::BusySpin),
        ("yield", IdleConfig::Yield),
        ("sleep:1ms", IdleConfig::Sleep(Duration::from_millis(1))),
        ("sleep:250us", IdleConfig::Sleep(Duration::from_micros(250))),
        ("sleep:2s", IdleConfig::Sleep(Duration::from_secs(2))),
        (
            "sleep:1500ns",
            IdleConfig::Sleep(Duration::from_nanos(1_500)),
        ),
    ];
    for (text, config) in cases {
        assert_eq!(text.parse::<IdleConfig>(), Ok(config), "{text}");
        assert_eq!(config.to_string(), text, "{config:?} prints as it parses");
    }
    assert_eq!(" yield ".parse::<IdleConfig>(), Ok(IdleConfig::Yield));
    assert_eq!("spin".parse::<IdleConfig>(), Ok(IdleConfig::BusySpin));
}

#[test]
fn bad_idle_names_are_typed_errors() {
    let cases = [
        ("fast", IdleParseError::UnknownName("fast".into())),
        ("", IdleParseError::UnknownName(String::new())),
        ("sleep:", IdleParseError::BadPeriod(String::new())),
        ("sleep:ms", IdleParseError::BadPeriod("ms".into())),
        ("sleep:5", IdleParseError::BadPeriod("5".into())),
        ("sleep:5h", IdleParseError::BadPeriod("5h".into())),
        ("sleep:-1ms", IdleParseError::BadPeriod("-1ms".into())),
        (
            "sleep:99999999999999999999ms",
            IdleParseError::BadPeriod("99999999999999999999ms".into()),
        ),
        ("sleep:0ms", IdleParseError::ZeroPeriod),
    ];
    for (text, error) in cases {
        assert_eq!(text.parse::<IdleConfig>(), Err(error), "{text:?}");
    }
}

#[test]
fn configured_strategies_build_the_named_kind() {
    assert!(matches!(IdleConfig::Backoff.build(), Idle::Backoff(_)));
    assert!(matches!(IdleConfig::BusySpin.build(), Idle::BusySpin(_)));
    assert!(matches!(IdleConfig::Yield.build(), Idle::Yielding(_)));
    let Idle::Sleeping(sleeping) = IdleConfig::Sleep(Duration::from_micros(50)).build() else {
        panic!("sleep builds Sleeping");
    };
    assert_eq!(sleeping.period(), Duration::from_micros(50));
    // Work done never waits, whatever the strategy.
    for config in [
        IdleConfig::Backoff,
        IdleConfig::Yield,
        IdleConfig::Sleep(Duration::from_secs(60)),
    ] {
        let mut idle = config.build();
        idle.idle(1);
        idle.reset();
    }
}
