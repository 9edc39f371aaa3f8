//! Replicas fed the same stream: roles, failover without loss, snapshots, divergence.

use protocol::{
    Command, EgressEvent, NodeId, Origin, ReferenceHash, ReplicaRole, ReplicaStatus, RoleChange,
    Seq, Sequenced, SnapshotMarker, StateDigest, Term, TimestampNs,
};
use workload::{Flow, FlowConfig};

use crate::{
    Applied, AuditError, AuditOutput, Auditor, AuditorConfig, Divergence, Output,
    REFERENCES_PENDING_MAX, Replica, ReplicaConfig, ReplicaError,
};

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

/// A backup catching up hears consumers' acks for commands it has yet to apply: it keeps
/// none of their events, so a promotion re-publishes only what consumers may lack (a restarted
/// engine once re-published its whole catch-up, and the first new event waited behind it).
#[test]
fn a_catching_up_backup_keeps_no_events_consumers_acknowledged() {
    let mut s = stream(2_000);
    let mut backup = Replica::new(config(2));
    backup.on_ack(Seq(1_500));
    for x in &s {
        backup.apply(x).unwrap();
    }
    drain(&mut backup);
    let promotion = Sequenced {
        seq: Seq(s.len() as u64 + 1),
        timestamp: TimestampNs(u64::MAX / 2),
        command: role_change(2, 2, 1),
    };
    s.push(promotion);
    backup.apply(&promotion).unwrap();
    let republished = egress(&drain(&mut backup));
    assert!(!republished.is_empty());
    assert!(
        republished.iter().all(|e| e.prefix.seq > Seq(1_500)),
        "only events of commands after the acknowledged one"
    );
    assert_eq!(
        republished.first().map(|e| e.prefix.seq),
        Some(Seq(1_501)),
        "from the first command after it"
    );
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
    let mut tail = stream(400);
    tail[350].command = Command::SnapshotMarker(SnapshotMarker {
        origin: Origin::default(),
        snapshot_id: 1,
    });
    for x in tail.iter().skip(301) {
        primary.apply(x).unwrap();
    }
    let outputs = drain(&mut primary);
    assert!(
        egress(&outputs).is_empty(),
        "a diverged primary publishes nothing"
    );
    assert!(
        !outputs.iter().any(|o| matches!(o, Output::Snapshot { .. })),
        "nor snapshots its wrong state"
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

/// The state hash at every checkpoint of `s`, as a clean replica (the truth) computes it.
fn truth(s: &[Sequenced]) -> Vec<(Seq, StateDigest)> {
    let mut replica = Replica::new(config(3));
    let mut outputs = Vec::new();
    for x in s {
        replica.apply(x).unwrap();
        outputs.extend(drain(&mut replica));
    }
    checkpoints(&outputs)
}

fn statuses(outputs: &[Output]) -> Vec<ReplicaStatus> {
    outputs
        .iter()
        .filter_map(|o| {
            if let Output::Status(s) = o {
                Some(*s)
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn a_reference_that_arrives_before_its_checkpoint_is_compared_when_the_replica_gets_there() {
    let s = stream(500);
    let truth = truth(&s);
    let (mut good, mut bad) = (Replica::new(config(2)), Replica::new(config(2)));
    // Both lag the auditor: every reference is there before the checkpoint it is for.
    for &(seq, digest) in &truth {
        assert!(!good.on_reference_hash(seq, digest));
        let wrong = if seq == Seq(300) {
            StateDigest(!digest.0)
        } else {
            digest
        };
        assert!(!bad.on_reference_hash(seq, wrong), "nothing to compare yet");
    }
    let mut out = Vec::new();
    for x in &s {
        good.apply(x).unwrap();
        bad.apply(x).unwrap();
        drain(&mut good);
        out.extend(drain(&mut bad));
        let expect = if x.seq >= Seq(300) {
            ReplicaRole::Diverged
        } else {
            ReplicaRole::Backup
        };
        assert_eq!(bad.role(), expect, "at seq {:?}", x.seq);
    }
    assert_eq!(good.role(), ReplicaRole::Backup);
    assert_eq!(good.diverged_at(), None);
    let mine_at_300 = truth.iter().find(|c| c.0 == Seq(300)).unwrap().1;
    assert_eq!(bad.diverged_at(), Some((Seq(300), mine_at_300)));
    // It says so at the checkpoint, and keeps naming that checkpoint in every later heartbeat.
    let beats = statuses(&out);
    let first = beats
        .iter()
        .position(|b| b.role == ReplicaRole::Diverged)
        .unwrap();
    assert_eq!(
        (beats[first].hash_seq, beats[first].applied_seq),
        (Seq(300), Seq(300))
    );
    assert!(beats[first..].iter().all(|b| b.hash_seq == Seq(300)));
    bad.on_tick(0);
    assert_eq!(bad.status().hash_seq, Seq(300));
}

#[test]
fn a_late_reference_is_compared_while_its_checkpoint_is_kept() {
    let s = stream(1_000);
    let config = ReplicaConfig {
        hash_interval: 10,
        ..config(1)
    };
    let mut replica = Replica::new(config);
    let mut outputs = Vec::new();
    for x in &s {
        replica.apply(x).unwrap();
        outputs.extend(drain(&mut replica));
    }
    let truth = checkpoints(&outputs);
    // The replica is at 1,001: it keeps its last 64 checkpoints, 370 ..= 1,000.
    let (old_seq, old) = truth[35];
    assert_eq!(old_seq, Seq(360));
    assert!(
        !replica.on_reference_hash(old_seq, StateDigest(!old.0)),
        "a checkpoint no longer kept cannot be compared"
    );
    assert!(
        !replica.on_reference_hash(Seq(375), StateDigest(1)),
        "not a checkpoint"
    );
    let (seq, digest) = truth[36];
    assert!(!replica.on_reference_hash(seq, digest), "agreeing");
    assert!(replica.on_reference_hash(seq, StateDigest(!digest.0)));
    assert_eq!(replica.diverged_at(), Some((Seq(370), digest)));
    assert!(
        !replica.on_reference_hash(seq, StateDigest(!digest.0)),
        "once"
    );
}

/// A replica far behind the auditor keeps the lowest pending references: the ones it reaches
/// first. The others are dropped (the auditor's later references cover the same ground).
#[test]
fn pending_references_are_bounded_and_the_lowest_kept() {
    let config = ReplicaConfig {
        hash_interval: 10,
        ..config(2)
    };
    let n = REFERENCES_PENDING_MAX as u64 + 1;
    let s = stream(usize::try_from(n * 10).unwrap());
    let mut replica = Replica::new(config);
    // Wrong references for every checkpoint: only the first `REFERENCES_PENDING_MAX` are kept.
    for k in (1..=n).rev() {
        replica.on_reference_hash(Seq(k * 10), StateDigest(k.into()));
    }
    for x in &s {
        replica.apply(x).unwrap();
    }
    assert_eq!(replica.diverged_at().map(|d| d.0), Some(Seq(10)));
}

/// A catch-up queues checkpoints behind thousands of events: each is still reported, in order;
/// but once the replica diverged, none that says otherwise goes out (a diverged primary must
/// never look healthy again).
#[test]
fn checkpoints_leave_in_order_and_a_diverged_replica_never_says_otherwise() {
    let s = stream(500);
    let truth = truth(&s);
    let mut replica = Replica::new(config(1));
    for x in &s {
        replica.apply(x).unwrap();
    }
    // A heartbeat sent meanwhile (the agent's, while egress is parked) repeats the newest
    // checkpoint already reported, never one still waiting: checkpoints leave in order.
    assert_eq!(replica.status().hash_seq, Seq(0));
    let queued = statuses(&drain(&mut replica));
    let reported: Vec<_> = queued.iter().map(|b| (b.hash_seq, b.state_hash)).collect();
    assert_eq!(reported, truth, "every checkpoint once, in order");
    assert!(queued.iter().all(|b| b.applied_seq == b.hash_seq));
    assert_eq!(replica.status().hash_seq, Seq(500));

    let mut replica = Replica::new(config(1));
    for x in &s {
        replica.apply(x).unwrap();
    }
    let (seq, digest) = truth[1];
    assert!(replica.on_reference_hash(seq, StateDigest(!digest.0)));
    let after = statuses(&drain(&mut replica));
    assert_eq!(
        after.len(),
        1,
        "the queued checkpoints are dropped: {after:?}"
    );
    let beat = after[0];
    assert_eq!(
        (beat.role, beat.hash_seq, beat.applied_seq),
        (ReplicaRole::Diverged, seq, Seq(501))
    );
}

#[test]
fn a_reference_hash_is_a_cluster_message() {
    let reference = ReferenceHash {
        seq: Seq(1024),
        state_hash: StateDigest(7),
    };
    let bytes = protocol::ClusterMessage::ReferenceHash(reference).encode_to_vec();
    assert_eq!(
        protocol::ClusterMessage::decode(&bytes),
        Ok(protocol::ClusterMessage::ReferenceHash(reference))
    );
}

/// `lockstep engine --fault-diverge-at`: the engine alone changes; no event does.
#[test]
fn injected_fault_changes_the_state_hash_from_that_seq_on_and_no_event() {
    let s = stream(400);
    let (mut clean, mut faulty) = (Replica::new(config(1)), Replica::new(config(1)));
    faulty.fault_inject_divergence_at(Seq(200));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for x in &s {
        clean.apply(x).unwrap();
        faulty.apply(x).unwrap();
        a.extend(drain(&mut clean));
        b.extend(drain(&mut faulty));
    }
    let (ca, cb) = (checkpoints(&a), checkpoints(&b));
    assert_eq!(ca[0], cb[0], "seq 100 agrees");
    assert_eq!(ca[1].0, Seq(200));
    assert_ne!(
        ca[1], cb[1],
        "the checkpoint at the fault's seq already differs"
    );
    assert_ne!(ca[3], cb[3]);
    assert!(egress(&a) == egress(&b), "the same events");
}

/// Feeds `s` to an auditor as journal records.
fn audit(auditor: &mut Auditor, s: &[Sequenced]) -> Vec<AuditOutput> {
    let mut out = Vec::new();
    for x in s {
        let body = x.command.encode_to_vec();
        auditor.on_record(x.seq.0, x.timestamp.0, &body).unwrap();
        out.extend(std::iter::from_fn(|| auditor.poll_output()));
    }
    out
}

fn auditor() -> Auditor {
    Auditor::new(AuditorConfig {
        hash_interval: 100,
        ..AuditorConfig::default()
    })
}

#[test]
fn the_auditor_sends_a_reference_at_every_checkpoint_equal_to_a_clean_replicas() {
    let s = stream(450);
    let mut auditor = auditor();
    let out = audit(&mut auditor, &s);
    let references: Vec<_> = out
        .iter()
        .map(|o| match o {
            AuditOutput::Reference(r) => (r.seq, r.state_hash),
            AuditOutput::Divergence(d) => panic!("nobody reported anything: {d:?}"),
        })
        .collect();
    assert_eq!(references, truth(&s));
    assert_eq!(references.len(), 4);
    assert_eq!(auditor.applied(), Seq(451));
    let body = s[0].command.encode_to_vec();
    assert_eq!(auditor.on_record(3, 0, &body), Ok(()), "a duplicate");
    assert_eq!(
        auditor.on_record(453, 0, &body),
        Err(AuditError::Gap {
            expected: 452,
            got: 453
        })
    );
    assert!(matches!(
        auditor.on_record(452, 0, &[1, 2, 3]),
        Err(AuditError::Body { seq: 452, .. })
    ));
}

#[test]
fn the_auditor_reports_a_diverged_replica_once_with_the_exact_seq_even_when_it_lags() {
    let s = stream(600);
    let mut faulty = Replica::new(config(2));
    faulty.fault_inject_divergence_at(Seq(250));
    let mut beats = Vec::new();
    for x in &s {
        faulty.apply(x).unwrap();
        beats.extend(statuses(&drain(&mut faulty)));
    }
    let truth = truth(&s);
    let divergences = |out: Vec<AuditOutput>| -> Vec<Divergence> {
        out.into_iter()
            .filter_map(|o| match o {
                AuditOutput::Divergence(d) => Some(d),
                AuditOutput::Reference(_) => None,
            })
            .collect()
    };
    let expected = vec![Divergence {
        node: NodeId(2),
        seq: Seq(300),
        expected: truth[2].1,
        reported: checkpoints(&beats.iter().map(|b| Output::Status(*b)).collect::<Vec<_>>())[2].1,
    }];
    // The auditor ahead of the replica: each heartbeat is compared as it comes.
    let mut ahead = auditor();
    audit(&mut ahead, &s);
    for beat in &beats {
        ahead.on_status(beat);
    }
    let found = divergences(std::iter::from_fn(|| ahead.poll_output()).collect());
    assert_eq!(
        found, expected,
        "one report, at the first checkpoint after the fault"
    );
    // The auditor behind: the heartbeats wait for it.
    let mut behind = auditor();
    for beat in &beats {
        behind.on_status(beat);
    }
    assert_eq!(divergences(audit(&mut behind, &s)), expected);
    assert_ne!(expected[0].expected, expected[0].reported);

    // Told by the references, the replica names the checkpoint where it went wrong.
    for &(seq, digest) in &truth {
        faulty.on_reference_hash(seq, digest);
    }
    let diverged = faulty.status();
    assert_eq!(
        (diverged.role, diverged.hash_seq),
        (ReplicaRole::Diverged, Seq(300))
    );
    // An auditor that has seen that checkpoint go by does not report it again.
    ahead.on_status(&diverged);
    assert_eq!(ahead.poll_output(), None);
    // One started late sees a later checkpoint disagree first, then learns the exact one.
    let mut late = auditor();
    audit(&mut late, &s);
    for beat in beats.iter().filter(|b| b.hash_seq >= Seq(500)) {
        late.on_status(beat);
    }
    late.on_status(&diverged);
    late.on_status(&diverged);
    let found = divergences(std::iter::from_fn(|| late.poll_output()).collect());
    let seqs: Vec<_> = found.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, [Seq(500), Seq(300)]);
    assert_eq!(found[1], expected[0]);
}

/// A consumer restarted and lost events after its cursor: the primary's replay re-sends every
/// buffered event after the point, ahead of the events it had queued and not yet handed out,
/// so a consumer taking events only after the marker gets each once and in order.
#[test]
fn an_egress_replay_resends_after_the_point_ahead_of_queued_events() {
    let s = stream(300);
    let (mut primary, mut backup) = (Replica::new(config(1)), Replica::new(config(2)));
    let mut handed_out = Vec::new();
    for command in &s[..200] {
        primary.apply(command).unwrap();
        backup.apply(command).unwrap();
        handed_out.extend(egress(&drain(&mut primary)));
    }
    drain(&mut backup);
    primary.on_ack(Seq(50));
    // Applied, but not handed out yet when the request comes.
    for command in &s[200..] {
        primary.apply(command).unwrap();
        backup.apply(command).unwrap();
    }
    assert!(
        !backup.on_egress_replay(Seq(120), 9),
        "a backup does not answer"
    );
    assert!(primary.on_egress_replay(Seq(120), 9));
    let outputs = drain(&mut primary);
    let start = outputs
        .iter()
        .position(|o| matches!(o, Output::ReplayStart(r) if r.after == Seq(120) && r.consumer == 9))
        .expect("a replay start");
    assert!(
        egress(&outputs[..start]).is_empty(),
        "nothing queued ahead of it"
    );
    let replayed = egress(&outputs[start..]);
    let keys = |events: &[EgressEvent]| -> Vec<(Seq, u32)> {
        events
            .iter()
            .map(|e| (e.prefix.seq, e.prefix.index))
            .collect()
    };
    let mut expected: Vec<_> = keys(&handed_out)
        .into_iter()
        .filter(|(seq, _)| *seq > Seq(120))
        .collect();
    let mut rest = Replica::new(config(1)); // the same primary, undisturbed
    for command in &s {
        rest.apply(command).unwrap();
    }
    let all = egress(&drain(&mut rest));
    expected.extend(keys(&all).into_iter().filter(|(seq, _)| *seq > Seq(200)));
    assert_eq!(keys(&replayed), expected);
    assert!(replayed.iter().all(|e| e.prefix.term == primary.term()));
}
