//! The simulator over many seeds, its determinism, and proof that its checker fails when the
//! cluster is broken on purpose.

use sim::{Invariant, Sabotage, SimConfig, Verdict, run, run_seed};

/// Seeds `cargo test` runs; `lockstep sim --seeds N` runs more.
const SEEDS: u64 = 2_000;

#[test]
fn thousands_of_seeds_hold_every_invariant() {
    let mut summary = sim::Summary::default();
    for seed in 0..SEEDS {
        summary.add(run_seed(seed));
    }
    let failures: Vec<String> = summary
        .violations
        .iter()
        .map(|o| match &o.verdict {
            Verdict::Violated(v) => format!("seed {}: {v} ({})", o.seed, sim::reproduction(o.seed)),
            other => format!("seed {}: {other:?}", o.seed),
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(summary.passed > SEEDS * 9 / 10, "{summary:?}");
    assert!(
        summary.corruption_detected > 0,
        "some seeds flip a durable bit and see it refused"
    );
}

#[test]
fn a_seed_replays_exactly() {
    for seed in [7, 30, 11] {
        let (a, b) = (run_seed(seed), run_seed(seed));
        assert_eq!(a, b, "seed {seed}");
    }
    assert_ne!(run_seed(1).trace, run_seed(2).trace);
}

#[test]
fn faults_really_happen() {
    let mut totals = sim::RunStats::default();
    for seed in 0..200 {
        let s = run_seed(seed).stats;
        totals.lost += s.lost;
        totals.duplicated += s.duplicated;
        totals.partitions += s.partitions;
        totals.crashes += s.crashes;
        totals.power_losses += s.power_losses;
        totals.link_downs += s.link_downs;
        totals.link_breaks += s.link_breaks;
    }
    assert!(totals.lost > 1_000 && totals.duplicated > 100, "{totals:?}");
    assert!(totals.partitions > 20 && totals.crashes > 20, "{totals:?}");
    assert!(totals.power_losses > 5, "{totals:?}");
    assert!(
        totals.link_downs > 10 && totals.link_breaks > 2,
        "{totals:?}"
    );
}

fn violated(config: SimConfig) -> Invariant {
    match run(config).verdict {
        Verdict::Violated(v) => {
            assert!(v.detail.len() > 10, "{v}");
            v.invariant
        }
        other => panic!("expected a violation, got {other:?}"),
    }
}

fn sabotaged(seed: u64, sabotage: Sabotage) -> SimConfig {
    SimConfig {
        sabotage: Some(sabotage),
        ..SimConfig::calm(seed)
    }
}

#[test]
fn a_replica_whose_state_goes_wrong_is_caught_by_its_hash() {
    let config = sabotaged(3, Sabotage::DivergeReplica { seq: 20 });
    assert_eq!(violated(config), Invariant::StateHashesEqual);
}

#[test]
fn a_client_that_loses_a_report_is_caught() {
    let config = sabotaged(3, Sabotage::DropReport { client: 1, nth: 3 });
    assert_eq!(violated(config), Invariant::ReportsExactlyOnceInOrder);
}

#[test]
fn an_event_delivered_twice_is_caught() {
    let config = sabotaged(3, Sabotage::DuplicateEvent { nth: 5 });
    assert_eq!(violated(config), Invariant::ReportsExactlyOnceInOrder);
}

#[test]
fn a_calm_run_passes_and_a_stalled_one_fails_liveness() {
    assert_eq!(run(SimConfig::calm(5)).verdict, Verdict::Passed);
    // Every datagram lost forever: nothing can finish.
    let config = SimConfig {
        links: sim::LinkFaults {
            loss: 1.0,
            ..sim::LinkFaults::none()
        },
        liveness_ns_max: 50_000_000,
        ..SimConfig::calm(5)
    };
    assert_eq!(violated(config), Invariant::Liveness);
}
