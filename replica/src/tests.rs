//! Replicas fed the same stream: roles, failover without loss, snapshots, divergence.

use protocol::{
    Command, EgressEvent, NodeId, Origin, ReplicaRole, RoleChange, Seq, Sequenced, SnapshotMarker,
    StateDigest, Term, TimestampNs,
};
use workload::{Flow, FlowConfig};

use crate::{Applied, Output, Replica, ReplicaConfig, ReplicaError};

fn config(node: u32) -> ReplicaConfig {
    ReplicaConfig {
        hash_interval: 100,
        buffer_events_max: 1 << 16,
        ..ReplicaConfig::new(NodeId(node))
    }
}

fn role_change(term: u64, primary: u32, backup: u32) -> Command {
    Command::RoleChange(RoleChange {
        origin: Origin::default(),
        term: Term(term),
        primary: NodeId(primary),
        backup: NodeId(backup),
    })
}

/// Roles first, then `n` commands of the standard flow.
fn stream(n: usize) -> Vec<Sequenced> {
    std::iter::once(role_change(1, 1, 2))
        .chain(Flow::new(FlowConfig::default()).take(n))
        .enumerate()
        .map(|(i, command)| Sequenced {
            seq: Seq(i as u64 + 1),
            timestamp: TimestampNs(1_000 * (i as u64 + 1)),
            command,
        })
        .collect()
}

fn frame(s: &Sequenced) -> Vec<u8> {
    let mut buf = vec![0u8; protocol::SEQUENCED_FRAME_SIZE_MAX];
    let n = s.encode_into(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn drain(replica: &mut Replica) -> Vec<Output> {
    std::iter::from_fn(|| replica.poll_output()).collect()
}

fn egress(outputs: &[Output]) -> Vec<EgressEvent> {
    outputs
        .iter()
        .filter_map(|o| {
            if let Output::Egress(e) = o {
                Some(*e)
            } else {
                None
            }
        })
        .collect()
}

fn checkpoints(outputs: &[Output]) -> Vec<(Seq, StateDigest)> {
    outputs
        .iter()
        .filter_map(|o| {
            if let Output::Status(s) = o {
                Some((s.hash_seq, s.state_hash))
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn primary_publishes_backup_stays_silent_and_both_agree_on_every_checkpoint() {
    let (mut primary, mut backup) = (Replica::new(config(1)), Replica::new(config(2)));
    let (mut out1, mut out2) = (Vec::new(), Vec::new());
    for s in stream(2_000) {
        assert!(matches!(
            primary.on_sequenced(&frame(&s)),
            Ok(Applied::Command(_))
        ));
        assert!(matches!(
            backup.on_sequenced(&frame(&s)),
            Ok(Applied::Command(_))
        ));
        out1.extend(drain(&mut primary));
        out2.extend(drain(&mut backup));
    }
    assert_eq!(primary.role(), ReplicaRole::Primary);
    assert_eq!(backup.role(), ReplicaRole::Backup);
    assert!(egress(&out1).len() > 2_000, "the primary published");
    assert!(egress(&out2).is_empty(), "the backup published nothing");
    assert_eq!(checkpoints(&out1).len(), 20);
    assert_eq!(checkpoints(&out1), checkpoints(&out2));
    assert_eq!(primary.state_hash(), backup.state_hash());
}

#[test]
fn duplicates_are_ignored_and_gaps_refused() {
    let mut replica = Replica::new(config(1));
    let s = stream(3);
    replica.on_sequenced(&frame(&s[0])).unwrap();
    assert_eq!(
        replica.on_sequenced(&frame(&s[0])),
        Ok(Applied::Duplicate(Seq(1)))
    );
    assert_eq!(
        replica.on_sequenced(&frame(&s[2])),
        Err(ReplicaError::Gap {
            expected: 2,
            got: 3
        })
    );
    assert!(matches!(
        replica.on_sequenced(&[0xff; 12]),
        Err(ReplicaError::Malformed(_))
    ));
    assert_eq!(replica.applied(), Seq(1));
}

/// The old primary dies after publishing events up to command `cut`; consumers acknowledged up
/// to `acked`. The backup is promoted: consumers, deduplicating by (seq, index), end up with
/// every event exactly once and in order.
#[test]
fn failover_loses_and_duplicates_nothing() {
    let mut s = stream(3_000);
    let (cut, acked) = (2_400usize, 2_000u64);
    let promotion = Sequenced {
        seq: Seq(s.len() as u64 + 1),
        timestamp: TimestampNs(u64::MAX / 2),
        command: role_change(2, 2, 1),
    };
    let tail: Vec<_> = stream(3_600)[3_001..]
        .iter()
        .enumerate()
        .map(|(i, x)| Sequenced {
            seq: Seq(promotion.seq.0 + 1 + i as u64),
            ..*x
        })
        .collect();
    s.push(promotion);
    s.extend(tail);

    // The oracle: every event of every command, as the engine emits them.
    let mut engine = matching_engine::Engine::new(config(1).engine);
    let mut expected = Vec::new();
    for x in &s {
        let mut events = Vec::new();
        engine.apply(x, &mut events);
        expected.extend(
            events
                .into_iter()
                .enumerate()
                .map(|(i, e)| (x.seq, u32::try_from(i).unwrap(), e)),
        );
    }

    let (mut old, mut new) = (Replica::new(config(1)), Replica::new(config(2)));
    let mut received = Vec::new();
    for x in &s[..cut] {
        old.apply(x).unwrap();
        received.extend(egress(&drain(&mut old)));
    }
    for x in &s {
        new.apply(x).unwrap();
        if x.seq.0 == acked {
            new.on_ack(Seq(acked));
        }
        received.extend(egress(&drain(&mut new)));
    }
    assert_eq!(new.role(), ReplicaRole::Primary);
    // A consumer: frames of an older term than the newest seen are dropped, and so is any
    // (seq, index) at or before the last one delivered.
    let (mut term, mut last) = (Term(0), None);
    let mut delivered = Vec::new();
    for e in received {
        if e.prefix.term < term {
            continue;
        }
        term = e.prefix.term;
        let key = (e.prefix.seq, e.prefix.index);
        if last.is_some_and(|last| key <= last) {
            continue;
        }
        last = Some(key);
        delivered.push((e.prefix.seq, e.prefix.index, e.event));
    }
    assert_eq!(delivered.len(), expected.len());
    assert!(delivered == expected, "every event exactly once, in order");
}

#[test]
fn a_snapshot_resumes_with_identical_state_and_output() {
    let mut s = stream(1_500);
    let marker_at = 700;
    s[marker_at].command = Command::SnapshotMarker(SnapshotMarker {
        origin: Origin::default(),
        snapshot_id: 9,
    });
    let mut whole = Replica::new(config(2));
    let mut snapshot = None;
    for x in &s {
        whole.apply(x).unwrap();
        for o in drain(&mut whole) {
            if let Output::Snapshot {
                seq,
                snapshot_id,
                bytes,
            } = o
            {
                assert_eq!((seq, snapshot_id), (Seq(marker_at as u64 + 1), 9));
                snapshot = Some(bytes);
            }
        }
    }
    let bytes = snapshot.expect("a snapshot at the marker");
    let mut resumed = Replica::from_snapshot(config(2), &bytes).unwrap();
    assert_eq!(resumed.applied(), Seq(marker_at as u64 + 1));
    assert_eq!(resumed.term(), Term(1));
    for x in &s[marker_at + 1..] {
        resumed.apply(x).unwrap();
    }
    assert_eq!(resumed.state_hash(), whole.state_hash());

    let mut corrupt = bytes.clone();
    corrupt[40] ^= 1;
    assert!(Replica::from_snapshot(config(2), &corrupt).is_err());
    assert!(Replica::from_snapshot(config(2), &bytes[..20]).is_err());
    assert!(Replica::from_snapshot(config(2), b"not a snapshot at all, no").is_err());
}

#[test]
fn a_replica_whose_hash_differs_from_the_reference_stops_serving() {
    let mut primary = Replica::new(config(1));
    for x in stream(300) {
        primary.apply(&x).unwrap();
    }
    let outputs = drain(&mut primary);
    let (seq, digest) = *checkpoints(&outputs).last().unwrap();
    assert!(
        !primary.on_reference_hash(seq, digest),
        "agreeing is not diverging"
    );
    assert!(primary.on_reference_hash(seq, StateDigest(digest.0 ^ 1)));
    assert_eq!(primary.role(), ReplicaRole::Diverged);
    let status = drain(&mut primary);
    assert!(matches!(status.as_slice(), [Output::Status(s)] if s.role == ReplicaRole::Diverged));
    for x in stream(400).iter().skip(301) {
        primary.apply(x).unwrap();
    }
    assert!(
        egress(&drain(&mut primary)).is_empty(),
        "a diverged primary publishes nothing"
    );
}

#[test]
fn heartbeats_follow_the_interval() {
    let mut replica = Replica::new(config(1));
    let mut beats = 0;
    for now in (0..10_000_000u64).step_by(100_000) {
        replica.on_tick(now);
        beats += drain(&mut replica).len();
    }
    assert_eq!(beats, 10);
}
