//! The whole cluster logic in one thread: the real sequencer agent and two real replica agents
//! over a real journal, with in-memory streams and a virtual clock. A consumer deduplicates the
//! egress stream as gateways will. Checked against an engine replaying the journal offline.

use std::cell::Cell;
use std::rc::Rc;

use matching_engine::{Engine, EngineConfig};
use protocol::{
    ClusterMessage, Command, EgressAck, EgressCursor, EgressEvent, Event, NodeId, Seq, Sequenced,
    Term, TimestampNs,
};
use replica::{
    AgentPaths, AgentStreams, AuditorAgent, AuditorConfig, AuditorStreams, ReplicaAgent,
    ReplicaConfig,
};
use sequencer::{SequencerAgent, SequencerConfig};
use transport::{Clock, Inbound, MemoryBus, MemoryQueue, Outbound};
use workload::{Flow, FlowConfig};

const MS: u64 = 1_000_000;

#[derive(Clone, Default)]
struct VirtualClock(Rc<Cell<u64>>);
impl Clock for VirtualClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

type Replica = ReplicaAgent<VirtualClock, Queue, Queue, Bus, Bus>;
type Bus = MemoryBus;
type Queue = MemoryQueue;
type Sequencer = SequencerAgent<VirtualClock, Queue, Queue, Bus>;

struct Cluster {
    dir: tempfile::TempDir,
    clock: VirtualClock,
    ingress: Bus,
    sequenced: Bus,
    status: Bus,
    egress: Bus,
    acks: Bus,
    sequencer: Sequencer,
    replicas: Vec<Option<Replica>>,
    /// Each replica's view of the sequenced stream (shared with it), to lose frames on.
    sequenced_in: Vec<Option<Queue>>,
    /// While set, this replica (index) loses every sequenced frame.
    losing: Option<usize>,
    consumer: Consumer,
    egress_in: Queue,
}

/// A gateway-like consumer: the egress protocol's cursor decides what is new.
#[derive(Default)]
struct Consumer {
    cursor: EgressCursor,
    delivered: Vec<(Seq, u32, Event)>,
}

impl Consumer {
    fn take(&mut self, frame: &[u8]) {
        let e = EgressEvent::decode(frame).expect("egress frames decode");
        if self.cursor.accept(&e.prefix) {
            self.delivered.push((e.prefix.seq, e.prefix.index, e.event));
        }
    }
}

impl Cluster {
    fn new() -> Self {
        Self::with_timer(MS)
    }

    /// A cluster whose sequencer sequences a timer every `timer_ns` (0: never).
    fn with_timer(timer_ns: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = VirtualClock::default();
        let (ingress, sequenced, status, egress, acks) = (
            Bus::default(),
            Bus::default(),
            Bus::default(),
            Bus::default(),
            Bus::default(),
        );
        let config = SequencerConfig {
            replica_timeout_ns: 5 * MS,
            timer_interval_ns: timer_ns,
            ..SequencerConfig::default()
        };
        let journal = journal::Config {
            segment_size_bytes: 4 << 20,
            durability: journal::Durability::None,
            ..journal::Config::default()
        };
        let streams = (ingress.subscribe(), status.subscribe(), sequenced.clone());
        let sequencer = SequencerAgent::open(
            &dir.path().join("journal"),
            journal,
            config,
            0,
            clock.clone(),
            streams,
        )
        .unwrap();
        let egress_in = egress.subscribe();
        let mut cluster = Self {
            dir,
            clock,
            ingress,
            sequenced,
            status,
            egress,
            acks,
            sequencer,
            replicas: vec![None, None],
            sequenced_in: vec![None, None],
            losing: None,
            consumer: Consumer::default(),
            egress_in,
        };
        cluster.start_replica(1);
        cluster.start_replica(2);
        cluster
    }

    fn start_replica(&mut self, node: u32) {
        let config = ReplicaConfig {
            hash_interval: 64,
            ..ReplicaConfig::new(NodeId(node))
        };
        let paths = AgentPaths {
            journal: Some(self.dir.path().join("journal")),
            snapshots: Some(self.dir.path().join(format!("snapshots-{node}"))),
        };
        let sequenced = self.sequenced.subscribe();
        self.sequenced_in[node as usize - 1] = Some(sequenced.clone());
        let streams = AgentStreams {
            sequenced,
            acks: self.acks.subscribe(),
            egress: self.egress.clone(),
            status: self.status.clone(),
        };
        let agent = ReplicaAgent::open(config, paths, self.clock.clone(), streams).unwrap();
        self.replicas[node as usize - 1] = Some(agent);
    }

    fn kill(&mut self, node: u32) {
        self.replicas[node as usize - 1] = None;
    }

    /// One round: every live agent does one duty cycle, the consumer reads and acks.
    fn step(&mut self) {
        self.clock.0.set(self.clock.0.get() + 100_000);
        self.sequencer.do_work().unwrap();
        if let Some(queue) = self.losing.and_then(|i| self.sequenced_in[i].as_ref()) {
            let _lost = queue.drain();
        }
        for replica in self.replicas.iter_mut().flatten() {
            replica.do_work().unwrap();
        }
        let consumer = &mut self.consumer;
        self.egress_in
            .poll(usize::MAX, &mut |frame| consumer.take(frame))
            .unwrap();
        if let Some((seq, _, _)) = consumer.delivered.last() {
            let ack = ClusterMessage::EgressAck(EgressAck {
                seq: Seq(seq.0.saturating_sub(1)),
                consumer: 1,
            });
            self.acks.offer(&ack.encode_to_vec()).unwrap();
        }
    }

    fn submit(&mut self, commands: impl IntoIterator<Item = Command>) {
        for command in commands {
            self.ingress.offer(&command.encode_to_vec()).unwrap();
        }
    }

    fn settle(&mut self, rounds: usize) {
        for _ in 0..rounds {
            self.step();
        }
    }

    fn replica(&self, node: u32) -> &Replica {
        self.replicas[node as usize - 1]
            .as_ref()
            .expect("replica is running")
    }

    /// Every event of every journaled command, from an engine replaying the journal offline.
    fn offline_replay(&self) -> (Vec<(Seq, u32, Event)>, u128) {
        let mut reader = journal::Reader::open(&self.dir.path().join("journal")).unwrap();
        let mut engine = Engine::new(EngineConfig::default());
        let mut all = Vec::new();
        while let Some(record) = reader.next().unwrap() {
            let command = Command::decode(record.body).unwrap();
            let sequenced = Sequenced {
                seq: Seq(record.seq),
                timestamp: TimestampNs(record.timestamp_ns),
                command,
            };
            let mut events = Vec::new();
            engine.apply(&sequenced, &mut events);
            all.extend(
                events
                    .into_iter()
                    .enumerate()
                    .map(|(i, e)| (sequenced.seq, u32::try_from(i).unwrap(), e)),
            );
        }
        (all, engine.state_hash().0)
    }
}

fn flow(n: usize) -> impl Iterator<Item = Command> {
    Flow::new(FlowConfig::default()).take(n)
}

#[test]
fn replicas_agree_and_the_consumer_gets_every_event_once() {
    let mut cluster = Cluster::new();
    cluster.submit(flow(3_000));
    cluster.settle(200);
    let (expected, hash) = cluster.offline_replay();
    assert_eq!(cluster.replica(1).replica().state_hash().0, hash);
    assert_eq!(cluster.replica(2).replica().state_hash().0, hash);
    assert_eq!(cluster.consumer.delivered.len(), expected.len());
    assert!(cluster.consumer.delivered == expected);
    assert_eq!(
        cluster.replica(2).stats().published,
        0,
        "the backup publishes nothing"
    );
    let trades = expected
        .iter()
        .filter(|(_, _, e)| matches!(e, Event::Trade(_)))
        .count();
    let rejects = expected
        .iter()
        .filter(|(_, _, e)| {
            matches!(e, Event::ExecutionReport(r) if r.exec_type == protocol::ExecType::Rejected)
        })
        .count();
    assert!(trades > 500, "the flow really trades: {trades} trades");
    assert_eq!(rejects, 0, "set-up took effect, so no order is rejected");
}

#[test]
fn killing_the_primary_promotes_the_backup_with_nothing_lost_or_duplicated() {
    let mut cluster = Cluster::new();
    let mut commands = flow(6_000);
    cluster.submit(commands.by_ref().take(3_000));
    cluster.settle(20);
    cluster.kill(1);
    cluster.submit(commands);
    cluster.settle(400);
    let promoted = cluster.replica(2).replica();
    assert_eq!(promoted.role(), protocol::ReplicaRole::Primary);
    assert_eq!(promoted.term(), Term(2));
    let (expected, hash) = cluster.offline_replay();
    assert_eq!(promoted.state_hash().0, hash);
    assert_eq!(
        cluster.consumer.delivered.len(),
        expected.len(),
        "every event exactly once"
    );
    assert!(cluster.consumer.delivered == expected, "and in order");

    // The old primary restarts: it catches up from the journal and rejoins as backup.
    cluster.start_replica(1);
    cluster.settle(50);
    let rejoined = cluster.replica(1).replica();
    assert_eq!(rejoined.role(), protocol::ReplicaRole::Backup);
    assert_eq!(rejoined.state_hash().0, hash);
}

#[test]
fn a_late_replica_catches_up_from_the_journal_and_joins_the_live_stream() {
    let mut cluster = Cluster::new();
    cluster.kill(2);
    let mut commands = flow(4_000);
    cluster.submit(commands.by_ref().take(2_000));
    cluster.settle(100);
    cluster.start_replica(2);
    assert!(cluster.replica(2).is_catching_up());
    cluster.submit(commands);
    cluster.settle(200);
    let (_, hash) = cluster.offline_replay();
    let late = cluster.replica(2);
    assert!(!late.is_catching_up());
    assert!(late.stats().applied_from_journal > 2_000);
    assert!(late.stats().applied_live > 0, "it joined the live stream");
    assert_eq!(late.replica().state_hash().0, hash);
}

#[test]
fn a_consumer_that_stops_reading_holds_the_primary_back_without_a_failover() {
    let mut cluster = Cluster::new();
    cluster.submit(flow(2_000));
    cluster.settle(2);
    cluster.egress.set_blocked(true);
    // 50 ms of virtual time: ten replica timeouts.
    cluster.settle(500);
    let primary = cluster.replica(1);
    assert_eq!(
        (primary.replica().role(), primary.replica().term()),
        (protocol::ReplicaRole::Primary, Term(1)),
        "it kept heartbeating, so nobody took over"
    );
    let held = primary.replica().applied();
    let journaled = cluster.sequencer.core().next_seq().0 - 1;
    assert!(
        held.0 < journaled,
        "it stopped applying behind the parked frame ({} of {journaled})",
        held.0
    );
    cluster.egress.set_blocked(false);
    cluster.settle(200);
    let (expected, hash) = cluster.offline_replay();
    assert_eq!(cluster.replica(1).replica().state_hash().0, hash);
    assert!(
        cluster.consumer.delivered == expected,
        "every event once, in order"
    );
}

#[test]
fn a_replica_that_lost_the_stream_tail_catches_up_from_the_journal_when_it_goes_quiet() {
    // No timers: after the last command nothing more is published, so no later frame would
    // reveal the gap (as for an engine dropped from the untethered stream and rejoining).
    let mut cluster = Cluster::with_timer(0);
    cluster.submit(flow(500));
    cluster.settle(20);
    cluster.submit(flow(1_500).skip(500));
    cluster.step();
    // Replica 2 loses everything published from here on, until the sequencer has published
    // all it journaled.
    cluster.losing = Some(1);
    loop {
        let (stats, next) = (
            cluster.sequencer.stats(),
            cluster.sequencer.core().next_seq(),
        );
        if stats.sequenced == 1_500 && stats.published == next.0 - 1 {
            break;
        }
        cluster.step();
    }
    cluster.losing = None;
    cluster.settle(300); // 30 ms of virtual time: quiet for longer than the check interval
    let (_, hash) = cluster.offline_replay();
    let behind = cluster.replica(2);
    assert!(
        behind.stats().applied_from_journal > 0,
        "it went to the journal"
    );
    assert_eq!(behind.replica().state_hash().0, hash);
}

/// A live frame that does not decode (as an untethered subscriber rejoining can read while
/// the publisher rewrites the term) is not fatal: the replica reads the journal instead.
#[test]
fn a_garbled_live_frame_is_read_again_from_the_journal() {
    let mut cluster = Cluster::with_timer(0);
    cluster.submit(flow(500));
    cluster.step();
    let queue = cluster.sequenced_in[1].as_ref().unwrap();
    queue.push(&[0u8; 48]);
    cluster.submit(flow(1_000).skip(500));
    cluster.settle(300);
    let (_, hash) = cluster.offline_replay();
    let garbled = cluster.replica(2);
    assert_eq!(garbled.stats().malformed_frames, 1);
    assert!(garbled.stats().applied_from_journal > 0);
    assert_eq!(garbled.replica().state_hash().0, hash);
    assert_eq!(cluster.replica(1).replica().state_hash().0, hash);
}

/// The auditor replays the journal beside the cluster; the primary's state goes wrong after
/// seq 1,000. It is caught at the next checkpoint (1,024) by itself (reference hash) and by the
/// auditor (its heartbeat), stops publishing, and the backup takes over in term 2.
#[test]
fn the_auditor_catches_a_corrupted_primary_and_the_backup_takes_over() {
    let mut cluster = Cluster::new();
    let streams = AuditorStreams {
        status: cluster.status.subscribe(),
        references: cluster.acks.clone(),
    };
    let config = AuditorConfig {
        hash_interval: 64,
        ..AuditorConfig::default()
    };
    let mut auditor = AuditorAgent::new(config, cluster.dir.path().join("journal"), streams);
    cluster.replicas[0]
        .as_mut()
        .unwrap()
        .fault_inject_divergence_at(Seq(1_000));
    cluster.submit(flow(3_000));
    let mut found = Vec::new();
    for _ in 0..300 {
        cluster.step();
        auditor.do_work().unwrap();
        found.extend(std::iter::from_fn(|| auditor.take_divergence()));
    }
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].node, found[0].seq), (NodeId(1), Seq(1_024)));
    let diverged = cluster.replica(1).replica();
    assert_eq!(diverged.role(), protocol::ReplicaRole::Diverged);
    assert_eq!(diverged.diverged_at().map(|d| d.0), Some(Seq(1_024)));
    let promoted = cluster.replica(2).replica();
    assert_eq!(
        (promoted.role(), promoted.term()),
        (protocol::ReplicaRole::Primary, Term(2))
    );
    let (expected, hash) = cluster.offline_replay();
    assert_eq!(promoted.state_hash().0, hash);
    assert_eq!(auditor.auditor().state_hash().0, hash);
    // The fault touched only an account no command uses, so what the diverged primary
    // published before it was caught was right: across the failover, every event once.
    assert!(
        cluster.consumer.delivered == expected,
        "every event once, in order"
    );
}
