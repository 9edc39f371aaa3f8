//! The sequencer under virtual time.

use proptest::prelude::*;

use crate::{Ingress, IngressError, Sequencer, SequencerConfig};
use protocol::{
    AccountId, ClientOrderId, ClusterMessage, Command, InstrumentId, NewOrder, NodeId, OrderType,
    Origin, PostOnly, Price, Qty, ReplicaRole, ReplicaStatus, RequestId, Seq, Sequenced, SessionId,
    Side, StateDigest, Term, TimeInForce, Timer, TimestampNs,
};

const MS: u64 = 1_000_000;

fn config() -> SequencerConfig {
    SequencerConfig {
        sessions_max: 4,
        pending_max: 8,
        timer_interval_ns: 10 * MS,
        snapshot_interval: 0,
        replica_timeout_ns: 5 * MS,
        start_grace_ns: 0,
        replicas: vec![NodeId(1), NodeId(2)],
    }
}

fn order(session: u32, request_id: u64) -> Vec<u8> {
    Command::NewOrder(NewOrder {
        origin: Origin {
            session: SessionId(session),
            account: AccountId(session),
            request_id: RequestId(request_id),
        },
        instrument: InstrumentId(1),
        side: Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        post_only: PostOnly::Off,
        client_order_id: ClientOrderId(request_id),
        price: Price(100),
        stop_price: Price(0),
        qty: Qty(1),
        display_qty: Qty(0),
        expire_time: TimestampNs(0),
    })
    .encode_to_vec()
}

fn heartbeat(node: u32, role: ReplicaRole) -> Vec<u8> {
    ClusterMessage::ReplicaStatus(ReplicaStatus {
        term: Term(1),
        applied_seq: Seq(0),
        hash_seq: Seq(0),
        state_hash: StateDigest(0),
        acked_seq: Seq(0),
        node: NodeId(node),
        role,
    })
    .encode_to_vec()
}

fn drain(sequencer: &mut Sequencer) -> Vec<Sequenced> {
    std::iter::from_fn(|| sequencer.poll_output()).collect()
}

fn role_changes(out: &[Sequenced]) -> Vec<(u64, u32, u32)> {
    out.iter()
        .filter_map(|s| match s.command {
            Command::RoleChange(r) => Some((r.term.0, r.primary.0, r.backup.0)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_fresh_cluster_starts_with_the_configured_roles_then_a_timer() {
    let mut sequencer = Sequencer::new(config());
    assert_eq!(sequencer.on_tick(100), 2);
    let out = drain(&mut sequencer);
    assert_eq!(role_changes(&out), [(1, 1, 2)]);
    assert_eq!(out[0].seq, Seq(1));
    assert!(matches!(out[1].command, Command::Timer(_)));
    assert_eq!(out[1].seq, Seq(2));
}

#[test]
fn the_first_ingress_also_assigns_roles_first() {
    let mut sequencer = Sequencer::new(config());
    assert_eq!(
        sequencer.on_ingress(5, &order(1, 1)),
        Ok(Ingress::Sequenced(Seq(2)))
    );
    let out = drain(&mut sequencer);
    assert_eq!(role_changes(&out), [(1, 1, 2)]);
}

#[test]
fn timestamps_never_go_backwards_even_when_the_clock_does() {
    let mut sequencer = Sequencer::new(config());
    sequencer.on_ingress(1000, &order(1, 1)).unwrap();
    sequencer.on_ingress(400, &order(1, 2)).unwrap();
    sequencer.on_ingress(1200, &order(1, 3)).unwrap();
    let stamps: Vec<_> = drain(&mut sequencer)
        .iter()
        .map(|s| s.timestamp.0)
        .collect();
    assert_eq!(stamps, [1000, 1000, 1000, 1200]);
}

#[test]
fn a_request_that_skips_ids_waits_for_the_ones_before_it() {
    let mut sequencer = Sequencer::new(config());
    for id in 1..=5 {
        assert!(matches!(
            sequencer.on_ingress(1, &order(1, id)),
            Ok(Ingress::Sequenced(_))
        ));
    }
    let _ = drain(&mut sequencer);
    // 6 and 7 were read by a sequencer that died before journaling them: 8 must not go first,
    // or the resent 6 and 7 would look like retries of something already sequenced.
    assert_eq!(
        sequencer.on_ingress(2, &order(1, 8)),
        Err(IngressError::RequestGap {
            session: 1,
            expected: 6,
            got: 8
        })
    );
    for (now, id) in [(3, 6), (4, 7), (5, 8)] {
        assert!(matches!(
            sequencer.on_ingress(now, &order(1, id)),
            Ok(Ingress::Sequenced(_))
        ));
    }
}

/// Found by the simulator: a session's first request was taken whatever its id, so when
/// request 1 was lost or overtaken, request 2 went first and the resent 1 was dropped as a
/// retry of something already sequenced: an order silently never executed.
#[test]
fn a_first_request_overtaken_by_the_second_still_executes() {
    let mut sequencer = Sequencer::new(config());
    assert_eq!(
        sequencer.on_ingress(1, &order(1, 2)),
        Err(IngressError::RequestGap {
            session: 1,
            expected: 1,
            got: 2
        })
    );
    assert!(matches!(
        sequencer.on_ingress(2, &order(1, 1)),
        Ok(Ingress::Sequenced(_))
    ));
    assert!(matches!(
        sequencer.on_ingress(3, &order(1, 2)),
        Ok(Ingress::Sequenced(_))
    ));
}

#[test]
fn a_retry_is_sequenced_at_most_once() {
    let mut sequencer = Sequencer::new(config());
    for id in 1..=6 {
        sequencer.on_ingress(0, &order(1, id)).unwrap();
        sequencer.on_ingress(0, &order(2, id)).unwrap();
        let _ = drain(&mut sequencer);
    }
    assert_eq!(
        sequencer.on_ingress(1, &order(1, 7)),
        Ok(Ingress::Sequenced(Seq(14)))
    );
    let retry = sequencer.on_ingress(2, &order(1, 7));
    assert_eq!(
        retry,
        Ok(Ingress::Duplicate {
            session: SessionId(1),
            request_id: RequestId(7),
            last: RequestId(7)
        })
    );
    assert!(matches!(
        sequencer.on_ingress(3, &order(1, 6)),
        Ok(Ingress::Duplicate { .. })
    ));
    assert_eq!(
        sequencer.on_ingress(4, &order(2, 7)),
        Ok(Ingress::Sequenced(Seq(15)))
    );
    assert_eq!(
        sequencer.on_ingress(5, &order(1, 8)),
        Ok(Ingress::Sequenced(Seq(16)))
    );
}

#[test]
fn bad_ingress_is_refused_with_a_reason() {
    let mut sequencer = Sequencer::new(config());
    assert!(matches!(
        sequencer.on_ingress(1, &[1, 2, 3]),
        Err(IngressError::Malformed(_))
    ));
    let timer = Command::Timer(Timer {
        origin: Origin::default(),
    })
    .encode_to_vec();
    assert_eq!(
        sequencer.on_ingress(1, &timer),
        Err(IngressError::SystemCommand("Timer"))
    );
    assert_eq!(
        sequencer.on_ingress(1, &order(0, 1)),
        Err(IngressError::SystemSession)
    );
    assert_eq!(sequencer.pending(), 0, "nothing was sequenced");
}

#[test]
fn a_full_queue_pushes_back_without_losing_anything() {
    let mut sequencer = Sequencer::new(config());
    for request in 1..=7 {
        sequencer.on_ingress(1, &order(1, request)).unwrap();
    }
    assert_eq!(sequencer.pending(), 8, "role change + 7 orders");
    assert_eq!(
        sequencer.on_ingress(1, &order(1, 8)),
        Err(IngressError::Backpressure(8))
    );
    sequencer.poll_output();
    assert_eq!(
        sequencer.on_ingress(1, &order(1, 8)),
        Ok(Ingress::Sequenced(Seq(9)))
    );
    let seqs: Vec<_> = drain(&mut sequencer).iter().map(|s| s.seq.0).collect();
    assert_eq!(seqs, (2..=9).collect::<Vec<_>>(), "no gap, no duplicate");
}

#[test]
fn the_session_table_is_bounded() {
    let mut sequencer = Sequencer::new(config());
    for session in 1..=4 {
        sequencer.on_ingress(1, &order(session, 1)).unwrap();
    }
    assert_eq!(
        sequencer.on_ingress(1, &order(5, 1)),
        Err(IngressError::SessionsFull(4))
    );
    assert!(
        sequencer.on_ingress(1, &order(4, 2)).is_ok(),
        "known sessions go on"
    );
}

#[test]
fn timers_are_sequenced_at_the_interval() {
    let mut sequencer = Sequencer::new(config());
    let mut timers = 0;
    for now in (0..100 * MS).step_by(usize::try_from(MS).unwrap()) {
        sequencer
            .on_replica_status(now, &heartbeat(1, ReplicaRole::Primary))
            .unwrap();
        sequencer
            .on_replica_status(now, &heartbeat(2, ReplicaRole::Backup))
            .unwrap();
        sequencer.on_tick(now);
        timers += drain(&mut sequencer)
            .iter()
            .filter(|s| matches!(s.command, Command::Timer(_)))
            .count();
    }
    assert_eq!(timers, 10);
}

/// Ticks every millisecond up to `until`, with heartbeats from the `alive` nodes.
fn run(sequencer: &mut Sequencer, from: u64, until: u64, alive: &[(u32, ReplicaRole)]) {
    let mut now = from;
    while now <= until {
        for &(node, role) in alive {
            sequencer
                .on_replica_status(now, &heartbeat(node, role))
                .unwrap();
        }
        sequencer.on_tick(now);
        now += MS;
    }
}

#[test]
fn snapshot_markers_follow_every_interval_of_commands_and_survive_a_restart() {
    let config = SequencerConfig {
        snapshot_interval: 3,
        timer_interval_ns: 0,
        ..config()
    };
    let mut sequencer = Sequencer::new(config.clone());
    let mut out = Vec::new();
    for request in 1..=7 {
        sequencer.on_ingress(request, &order(1, request)).unwrap();
        sequencer.on_tick(request);
        out.extend(drain(&mut sequencer));
    }
    let markers = |out: &[Sequenced]| -> Vec<(u64, u64)> {
        out.iter()
            .filter_map(|s| match s.command {
                Command::SnapshotMarker(m) => Some((s.seq.0, m.snapshot_id)),
                _ => None,
            })
            .collect()
    };
    // seq 1 is the role change: a marker once three commands were sequenced, then again
    // three later. A restart recovers both the count (two since) and the next id.
    assert_eq!(markers(&out), [(4, 1), (8, 2)]);
    let mut restarted = Sequencer::new(config);
    for s in &out {
        restarted.recover(s);
    }
    restarted.on_ingress(8, &order(1, 8)).unwrap();
    restarted.on_ingress(9, &order(1, 9)).unwrap();
    restarted.on_tick(10);
    assert_eq!(
        markers(&drain(&mut restarted)),
        [(13, 3)],
        "ids and counts carry on"
    );
}

#[test]
fn a_silent_primary_is_replaced_by_the_backup_once() {
    let mut sequencer = Sequencer::new(config());
    let both = [(1, ReplicaRole::Primary), (2, ReplicaRole::Backup)];
    run(&mut sequencer, 0, 20 * MS, &both);
    assert_eq!(role_changes(&drain(&mut sequencer)), [(1, 1, 2)]);
    // Node 1 dies: after the 5 ms timeout node 2 is promoted, and only once.
    run(
        &mut sequencer,
        21 * MS,
        60 * MS,
        &[(2, ReplicaRole::Backup)],
    );
    let out = drain(&mut sequencer);
    assert_eq!(role_changes(&out), [(2, 2, 1)]);
    let promoted = out
        .iter()
        .find(|s| matches!(s.command, Command::RoleChange(_)))
        .unwrap();
    let silence = promoted.timestamp.0 - 20 * MS;
    assert!(
        silence > 5 * MS && silence <= 7 * MS,
        "promoted {silence} ns after the last beat"
    );
    // Node 1 restarts: it is already the backup of term 2; nothing changes.
    let back = [(1, ReplicaRole::Backup), (2, ReplicaRole::Primary)];
    run(&mut sequencer, 61 * MS, 100 * MS, &back);
    assert_eq!(role_changes(&drain(&mut sequencer)), []);
}

#[test]
fn a_primary_that_starts_late_is_given_a_full_timeout_from_the_first_heartbeat() {
    let mut sequencer = Sequencer::new(config());
    // Engines start after the sequencer: for 50 ms (ten timeouts) nobody speaks.
    run(&mut sequencer, 0, 50 * MS, &[]);
    // The backup is up first; the primary follows 4 ms later, inside its timeout.
    run(
        &mut sequencer,
        51 * MS,
        54 * MS,
        &[(2, ReplicaRole::Backup)],
    );
    let both = [(1, ReplicaRole::Primary), (2, ReplicaRole::Backup)];
    run(&mut sequencer, 55 * MS, 80 * MS, &both);
    assert_eq!(role_changes(&drain(&mut sequencer)), [(1, 1, 2)]);
    // Had it not come up, the backup would have taken over a timeout after the first beat.
    let mut other = Sequencer::new(config());
    run(&mut other, 0, 50 * MS, &[]);
    run(&mut other, 51 * MS, 60 * MS, &[(2, ReplicaRole::Backup)]);
    assert_eq!(role_changes(&drain(&mut other)), [(1, 1, 2), (2, 2, 1)]);
}

#[test]
fn an_engine_never_heard_gets_the_start_grace_instead_of_the_timeout() {
    let config = SequencerConfig {
        start_grace_ns: 30 * MS,
        ..config()
    };
    let mut sequencer = Sequencer::new(config.clone());
    // The primary starts 20 ms after the backup: four timeouts, but inside the grace.
    run(&mut sequencer, 0, 19 * MS, &[(2, ReplicaRole::Backup)]);
    let both = [(1, ReplicaRole::Primary), (2, ReplicaRole::Backup)];
    run(&mut sequencer, 20 * MS, 40 * MS, &both);
    assert_eq!(role_changes(&drain(&mut sequencer)), [(1, 1, 2)]);
    // Once heard, the timeout applies.
    run(
        &mut sequencer,
        41 * MS,
        60 * MS,
        &[(2, ReplicaRole::Backup)],
    );
    assert_eq!(role_changes(&drain(&mut sequencer)), [(2, 2, 1)]);
    // One that never comes is replaced when the grace is over.
    let mut other = Sequencer::new(config);
    run(&mut other, 0, 29 * MS, &[(2, ReplicaRole::Backup)]);
    assert_eq!(role_changes(&drain(&mut other)), [(1, 1, 2)]);
    run(&mut other, 30 * MS, 40 * MS, &[(2, ReplicaRole::Backup)]);
    assert_eq!(role_changes(&drain(&mut other)), [(2, 2, 1)]);
}

#[test]
fn no_promotion_without_a_healthy_backup() {
    let mut sequencer = Sequencer::new(config());
    run(&mut sequencer, 0, 50 * MS, &[]);
    assert_eq!(
        role_changes(&drain(&mut sequencer)),
        [(1, 1, 2)],
        "nobody to promote"
    );
}

#[test]
fn a_diverged_primary_is_replaced_at_once() {
    let mut sequencer = Sequencer::new(config());
    run(
        &mut sequencer,
        0,
        3 * MS,
        &[(1, ReplicaRole::Primary), (2, ReplicaRole::Backup)],
    );
    run(
        &mut sequencer,
        4 * MS,
        4 * MS,
        &[(1, ReplicaRole::Diverged), (2, ReplicaRole::Backup)],
    );
    assert_eq!(role_changes(&drain(&mut sequencer)), [(1, 1, 2), (2, 2, 1)]);
}

#[test]
fn a_primary_whose_link_closes_is_replaced_at_the_next_tick_despite_late_heartbeats() {
    let mut sequencer = Sequencer::new(config());
    let both = [(1, ReplicaRole::Primary), (2, ReplicaRole::Backup)];
    for node in [1, 2] {
        sequencer.on_replica_link(NodeId(node), true).unwrap();
    }
    run(&mut sequencer, 0, 3 * MS, &both);
    sequencer.on_replica_link(NodeId(1), false).unwrap();
    // A heartbeat node 1 sent before it died arrives after its link closed: it changes nothing.
    sequencer
        .on_replica_status(3 * MS, &heartbeat(1, ReplicaRole::Primary))
        .unwrap();
    sequencer.on_tick(3 * MS);
    let out = drain(&mut sequencer);
    assert_eq!(role_changes(&out), [(1, 1, 2), (2, 2, 1)]);
    // Still no second change while node 1 is down, heartbeats or not.
    run(&mut sequencer, 4 * MS, 10 * MS, &both);
    assert_eq!(role_changes(&drain(&mut sequencer)), []);
}

#[test]
fn a_relinked_replica_is_healthy_again_and_can_be_promoted() {
    let mut sequencer = Sequencer::new(config());
    let both = [(1, ReplicaRole::Primary), (2, ReplicaRole::Backup)];
    run(&mut sequencer, 0, 3 * MS, &both);
    // The backup's link drops (a broken connection, the process alive): no role change, the
    // primary is fine.
    sequencer.on_replica_link(NodeId(2), false).unwrap();
    run(&mut sequencer, 4 * MS, 5 * MS, &both);
    assert_eq!(role_changes(&drain(&mut sequencer)), [(1, 1, 2)]);
    // The primary dies while the backup is unlinked: nobody healthy to promote.
    sequencer.on_replica_link(NodeId(1), false).unwrap();
    run(&mut sequencer, 6 * MS, 7 * MS, &[(2, ReplicaRole::Backup)]);
    assert_eq!(role_changes(&drain(&mut sequencer)), []);
    // The backup links again: promoted at once.
    sequencer.on_replica_link(NodeId(2), true).unwrap();
    run(&mut sequencer, 8 * MS, 8 * MS, &[(2, ReplicaRole::Backup)]);
    assert_eq!(role_changes(&drain(&mut sequencer)), [(2, 2, 1)]);
}

#[test]
fn a_link_from_a_stranger_is_refused() {
    let mut sequencer = Sequencer::new(config());
    assert!(sequencer.on_replica_link(NodeId(9), true).is_err());
}

#[test]
fn heartbeats_from_strangers_are_refused() {
    let mut sequencer = Sequencer::new(config());
    assert!(
        sequencer
            .on_replica_status(1, &heartbeat(9, ReplicaRole::Backup))
            .is_err()
    );
    assert!(sequencer.on_replica_status(1, &order(1, 1)).is_err());
}

#[test]
fn a_recovered_sequencer_continues_without_gap_or_duplicate() {
    let mut first = Sequencer::new(config());
    first.on_tick(MS);
    first.on_ingress(2 * MS, &order(1, 1)).unwrap();
    for id in 1..=5 {
        first.on_ingress(3 * MS, &order(2, id)).unwrap();
    }
    let journal = drain(&mut first);

    let mut second = Sequencer::new(config());
    for record in &journal {
        second.recover(record);
    }
    assert_eq!(second.next_seq(), Seq(9));
    assert_eq!(second.roles(), first.roles());
    assert!(matches!(
        second.on_ingress(4 * MS, &order(2, 5)),
        Ok(Ingress::Duplicate { .. })
    ));
    assert_eq!(
        second.on_ingress(4 * MS, &order(2, 6)),
        Ok(Ingress::Sequenced(Seq(9)))
    );
    let out = drain(&mut second);
    assert_eq!(
        role_changes(&out),
        [],
        "roles come from the journal, not again"
    );
    assert!(out[0].timestamp.0 >= journal.last().unwrap().timestamp.0);
}

/// After a restart, journal timestamps are old: a replica whose heartbeat has not arrived yet is
/// not "silent since the journal's last role change", it gets a full timeout from the restart.
#[test]
fn a_recovered_sequencer_does_not_fail_over_a_primary_it_has_not_heard_yet() {
    let mut first = Sequencer::new(config());
    first.on_tick(MS);
    let journal = drain(&mut first);
    let mut second = Sequencer::new(config());
    for record in &journal {
        second.recover(record);
    }
    let restart = 3_600_000 * MS; // an hour later
    // The backup's heartbeat happens to arrive first.
    second
        .on_replica_status(restart, &heartbeat(2, ReplicaRole::Backup))
        .unwrap();
    second.on_tick(restart);
    second
        .on_replica_status(restart + MS, &heartbeat(1, ReplicaRole::Primary))
        .unwrap();
    run(
        &mut second,
        restart + MS,
        restart + 20 * MS,
        &[(1, ReplicaRole::Primary), (2, ReplicaRole::Backup)],
    );
    assert_eq!(
        role_changes(&drain(&mut second)),
        [],
        "the primary kept its role"
    );
    // A primary that really stays silent after the restart is still replaced.
    run(
        &mut second,
        restart + 21 * MS,
        restart + 40 * MS,
        &[(2, ReplicaRole::Backup)],
    );
    assert_eq!(role_changes(&drain(&mut second)), [(2, 2, 1)]);
}

#[derive(Debug, Clone)]
enum Step {
    Order { session: u32, request_id: u64 },
    Tick,
    Poll,
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (1u32..4, 1u64..12).prop_map(|(session, request_id)| Step::Order { session, request_id }),
        1 => Just(Step::Tick),
        2 => Just(Step::Poll),
        1 => (0u64..3 * MS).prop_map(Step::Advance),
    ]
}

proptest! {
    /// Whatever arrives in whatever order: one contiguous sequence, every request sequenced at
    /// most once, timestamps never decreasing, and nothing accepted is lost.
    #[test]
    fn the_total_order_is_contiguous_and_deduplicated(steps in prop::collection::vec(step(), 1..300)) {
        let mut sequencer = Sequencer::new(config());
        let (mut now, mut out, mut accepted) = (0u64, Vec::new(), 0usize);
        for step in steps {
            match step {
                Step::Order { session, request_id } => {
                    if let Ok(Ingress::Sequenced(_)) = sequencer.on_ingress(now, &order(session, request_id)) {
                        accepted += 1;
                    }
                }
                Step::Tick => { sequencer.on_tick(now); }
                Step::Poll => out.extend(sequencer.poll_output()),
                Step::Advance(ns) => now += ns,
            }
        }
        out.extend(drain(&mut sequencer));
        for (i, s) in out.iter().enumerate() {
            prop_assert_eq!(s.seq.0, i as u64 + 1);
        }
        prop_assert!(out.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        let mut keys: Vec<_> = out.iter()
            .map(|s| *s.command.origin())
            .filter(|o| o.session.0 != 0)
            .map(|o| (o.session, o.request_id))
            .collect();
        prop_assert_eq!(keys.len(), accepted);
        keys.sort();
        keys.dedup();
        prop_assert_eq!(keys.len(), accepted, "a request was sequenced twice");
    }
}
