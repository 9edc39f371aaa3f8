//! The cluster as real processes over a real media driver (`lockstep::local`): `lockstep
//! sequencer` and two `lockstep engine`s, driven through Aeron as a gateway drives them, with
//! the driver in a `lockstep driver` process of its own so the sequencer can be killed without
//! it. Each test has its own Aeron directory, stream ids and temp dir.

use std::collections::BTreeMap;

use lockstep::local::{LocalCluster, Replay, Settings, journal_commands};
use protocol::{
    AccountId, Command, Event, Origin, ReplicaRole, RequestId, SessionId, SnapshotMarker, Term,
};
use workload::{Flow, FlowConfig};

/// A cluster in a temp dir (kept alive alongside it).
struct Fixture {
    cluster: LocalCluster,
    _dir: tempfile::TempDir,
}

fn cluster(label: &str, stream_base: i32) -> Fixture {
    cluster_with(label, stream_base, |_| {})
}

fn cluster_with(label: &str, stream_base: i32, adjust: impl FnOnce(&mut Settings)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(
        env!("CARGO_BIN_EXE_lockstep").into(),
        transport::unique_aeron_dir(label),
        stream_base,
    );
    adjust(&mut settings);
    let cluster = LocalCluster::start(settings, dir.path()).unwrap();
    Fixture { cluster, _dir: dir }
}

/// `n` commands of the default flow (set-up from the flow's admin session, then trading).
fn flow(n: usize) -> Vec<Command> {
    Flow::new(FlowConfig::default()).take(n).collect()
}

fn assert_every_event_once_in_order(cluster: &LocalCluster, replay: &Replay) {
    assert_eq!(
        cluster.consumer.delivered.len(),
        replay.events.len(),
        "every event once"
    );
    assert!(cluster.consumer.delivered == replay.events, "and in order");
}

#[test]
fn engines_agree_with_the_journal_and_the_consumer_gets_every_event_once() {
    let Fixture { mut cluster, _dir } = cluster("procs-a", 3100);
    let commands = flow(2_000);
    cluster.submit(&commands).unwrap();
    cluster.wait_journaled(commands.len()).unwrap();
    let (replay, finals) = cluster.finish().unwrap();
    let trades = replay
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::Trade(_)))
        .count();
    assert!(trades > 100, "the flow trades ({trades} trades)");
    assert_eq!(finals[&1].role, "Primary");
    assert_eq!(finals[&2].role, "Backup");
    assert_every_event_once_in_order(&cluster, &replay);
}

/// Kills engine 1, the primary, once `before` commands are in and half of them journaled;
/// sends `during` more while node 2 is promoted in term 2; restarts engine 1 (it catches up
/// from the journal and rejoins as backup), sends the rest, and checks both engines' ends and
/// the consumer's events.
fn kill_the_primary_then_rejoin(
    cluster: &mut LocalCluster,
    commands: &[Command],
    before: usize,
    during: usize,
) {
    cluster.submit(&commands[..before]).unwrap();
    cluster.wait_journaled(before / 2).unwrap();
    assert_eq!(cluster.statuses[&1].role, ReplicaRole::Primary);
    cluster.kill_engine(1).unwrap();
    cluster.submit(&commands[before..before + during]).unwrap();
    cluster
        .wait_until("the backup is promoted in term 2", |c| {
            let s = c.statuses[&2];
            Ok(s.role == ReplicaRole::Primary && s.term == Term(2))
        })
        .unwrap();
    cluster.start_engine(1).unwrap();
    cluster.submit(&commands[before + during..]).unwrap();
    cluster.wait_journaled(commands.len()).unwrap();
    let (replay, finals) = cluster.finish().unwrap();
    assert_eq!((finals[&2].term, finals[&2].role.as_str()), (2, "Primary"));
    assert_eq!((finals[&1].term, finals[&1].role.as_str()), (2, "Backup"));
    assert_every_event_once_in_order(cluster, &replay);
}

#[test]
fn killing_the_primary_engine_promotes_the_backup_with_nothing_lost_or_duplicated() {
    let Fixture { mut cluster, _dir } = cluster("procs-b", 3200);
    kill_the_primary_then_rejoin(&mut cluster, &flow(4_000), 2_000, 1_000);
}

/// With a heartbeat timeout far longer than any wait here, only the killed primary's liveness
/// link (closed by its sentinel) can explain the failover (docs/cluster.md, "Failure
/// detection"); the restarted engine links again and rejoins as backup.
#[test]
fn a_killed_primary_is_found_by_its_liveness_link_long_before_the_timeout() {
    let Fixture { mut cluster, _dir } = cluster_with("procs-l", 4500, |s| {
        s.replica_timeout = "3600s".into();
    });
    kill_the_primary_then_rejoin(&mut cluster, &flow(2_000), 1_000, 0);
}

/// The children of process `pid` (over all its threads: the sentinel keeper is a thread).
fn children(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// A sentinel killed while its engine lives closes the link: that costs a role change (the
/// engine is taken for dead), and the engine starts another sentinel, whose link is the only
/// way the next failover can reach this engine within the one-hour timeout.
#[test]
fn a_killed_sentinel_is_replaced_and_its_engine_can_be_promoted_again() {
    let Fixture { mut cluster, _dir } = cluster_with("procs-s", 4600, |s| {
        s.replica_timeout = "3600s".into();
    });
    let commands = flow(1_500);
    cluster.submit(&commands[..500]).unwrap();
    cluster.wait_journaled(500).unwrap();
    let engine = cluster.engines[&1].pid();
    let mut sentinel = Vec::new();
    cluster
        .wait_until("engine 1 has its sentinel", |_| {
            sentinel = children(engine);
            Ok(sentinel.len() == 1)
        })
        .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &sentinel[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    cluster
        .wait_until("node 2 is promoted in term 2", |c| {
            Ok(c.statuses[&2].role == ReplicaRole::Primary && c.statuses[&2].term == Term(2))
        })
        .unwrap();
    cluster
        .wait_until("engine 1 has a new sentinel", |_| {
            let now = children(engine);
            Ok(now.len() == 1 && now != sentinel)
        })
        .unwrap();
    cluster.submit(&commands[500..1_000]).unwrap();
    cluster.wait_journaled(1_000).unwrap();
    cluster.kill_engine(2).unwrap();
    cluster
        .wait_until("node 1 is promoted in term 3", |c| {
            Ok(c.statuses[&1].role == ReplicaRole::Primary && c.statuses[&1].term == Term(3))
        })
        .unwrap();
    cluster.start_engine(2).unwrap();
    cluster.submit(&commands[1_000..]).unwrap();
    cluster.wait_journaled(commands.len()).unwrap();
    let (replay, finals) = cluster.finish().unwrap();
    assert_eq!((finals[&1].term, finals[&1].role.as_str()), (3, "Primary"));
    assert_every_event_once_in_order(&cluster, &replay);
}

#[test]
fn a_killed_sequencer_restarts_and_the_journal_continues_without_a_gap() {
    let Fixture { mut cluster, _dir } = cluster("procs-c", 3300);
    let commands = flow(4_000);
    cluster.submit(&commands[..2_000]).unwrap();
    cluster.wait_journaled(2_000).unwrap();
    cluster.submit(&commands[2_000..3_000]).unwrap();
    cluster.kill_sequencer().unwrap();
    let before_kill = journal_commands(&cluster.journal_dir()).unwrap();
    // Until the driver declares the killed client dead, its subscription still takes offers
    // that nobody will read: a gateway resends once it sees the ingress disconnected. The
    // restarted sequencer may first read requests the dead one left in the stream; it refuses
    // those whose session skipped ids (see docs/cluster.md), so the resent ones keep their order.
    cluster
        .wait_until("the driver dropped the killed sequencer", |c| {
            Ok(!c.ingress_connected())
        })
        .unwrap();
    cluster.start_sequencer().unwrap();
    // A gateway sends again everything it has no answer for; the restarted sequencer drops
    // what it already journaled (same session, request id not above the last).
    cluster.submit(&commands[2_000..]).unwrap();
    cluster.wait_journaled(commands.len()).unwrap();
    let (replay, finals) = cluster.finish().unwrap();
    assert!(
        replay.commands.starts_with(&before_kill),
        "every command journaled before the kill is still there, unchanged"
    );
    // Exactly once and in order within each session. Across sessions the restarted sequencer
    // may choose another order than the first sends had: requests the dead one read but never
    // journaled come back only with the gateway's resend, while other sessions' requests left
    // in the ingress log are taken first (see docs/cluster.md).
    let by_session = |origins: &mut dyn Iterator<Item = &Origin>| {
        let mut sessions: BTreeMap<SessionId, Vec<RequestId>> = BTreeMap::new();
        for o in origins.filter(|o| o.session != SessionId(0)) {
            sessions.entry(o.session).or_default().push(o.request_id);
        }
        sessions
    };
    let journaled = by_session(&mut replay.commands.iter().map(|s| s.command.origin()));
    let sent = by_session(&mut commands.iter().map(Command::origin));
    for (session, sent) in &sent {
        let got = journaled.get(session).map_or(&[][..], Vec::as_slice);
        let at = got.iter().zip(sent).take_while(|(g, s)| g == s).count();
        assert!(
            got == sent.as_slice(),
            "session {}: every request journaled exactly once, in order; {} journaled, {} sent, \
             first difference at {at}: journaled {:?}, sent {:?}",
            session.0,
            got.len(),
            sent.len(),
            got.get(at),
            sent.get(at),
        );
    }
    assert_eq!(
        journaled.len(),
        sent.len(),
        "no request from another session"
    );
    for f in finals.values() {
        assert_eq!(f.term, 1, "a sequencer restart is not a failover");
    }
    assert!(
        cluster.consumer.delivered == replay.events,
        "every event once, in order"
    );
}

#[test]
fn a_late_engine_loads_its_snapshot_and_catches_up_from_the_journal() {
    let Fixture { mut cluster, _dir } = cluster("procs-d", 3400);
    let commands = flow(6_000);
    cluster.submit(&commands[..2_000]).unwrap();
    // An operator asks for a snapshot: both engines take one at that point of the order.
    let operator = Origin {
        session: SessionId(u32::MAX - 1),
        account: AccountId(0),
        request_id: RequestId(1),
    };
    let marker = Command::SnapshotMarker(SnapshotMarker {
        origin: operator,
        snapshot_id: 1,
    });
    cluster.submit(&[marker]).unwrap();
    cluster.wait_journaled(2_001).unwrap();
    let marker_seq = journal_commands(&cluster.journal_dir())
        .unwrap()
        .iter()
        .find(|s| matches!(s.command, Command::SnapshotMarker(_)))
        .map(|s| s.seq.0)
        .unwrap();
    // Snapshots are written in the background: wait for the file, not just the marker.
    let snapshot = _dir
        .path()
        .join("snapshots-2")
        .join(format!("{marker_seq:020}.snapshot"));
    cluster
        .wait_until("the backup stored its snapshot", |c| {
            Ok(c.statuses[&2].applied_seq.0 >= marker_seq && snapshot.exists())
        })
        .unwrap();
    cluster.kill_engine(2).unwrap();
    // It misses 2,000 commands, then starts again while 2,000 more arrive.
    cluster.submit(&commands[2_000..4_000]).unwrap();
    cluster.wait_journaled(4_001).unwrap();
    cluster.start_engine(2).unwrap();
    cluster.submit(&commands[4_000..]).unwrap();
    cluster.wait_journaled(commands.len() + 1).unwrap();
    let (replay, finals) = cluster.finish().unwrap();
    assert_eq!(finals[&2].role, "Backup");
    let log = std::fs::read_to_string(_dir.path().join("engine-2.err")).unwrap();
    let restart = log
        .lines()
        .filter(|l| l.contains("engine running"))
        .nth(1)
        .expect("two starts logged");
    assert!(
        restart.contains(&format!("applied_seq={marker_seq}")),
        "the restart began from the snapshot at seq {marker_seq}: {restart}"
    );
    assert_every_event_once_in_order(&cluster, &replay);
}
