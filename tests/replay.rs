//! Replay against the cluster: the real sequencer agent and two real replica agents over a real
//! journal (in-memory streams, a virtual clock, as in `cluster_in_memory.rs`), then `replay`
//! re-executes the journal they wrote and must reach the live engines' state hash, match every
//! snapshot they wrote, and regenerate exactly the events the consumer received.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use matching_engine::EngineConfig;
use protocol::{ClusterMessage, Command, EgressAck, EgressCursor, EgressEvent, Event, NodeId, Seq};
use replay::{NoProgress, VerifyOptions};
use replica::{AgentPaths, AgentStreams, ReplicaAgent, ReplicaConfig};
use sequencer::{SequencerAgent, SequencerConfig};
use transport::{Clock, Inbound, MemoryBus, MemoryQueue, Outbound};
use workload::{Flow, FlowConfig};

#[derive(Clone, Default)]
struct VirtualClock(Rc<Cell<u64>>);
impl Clock for VirtualClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

type Replica = ReplicaAgent<VirtualClock, MemoryQueue, MemoryQueue, MemoryBus, MemoryBus>;

struct Cluster {
    dir: tempfile::TempDir,
    clock: VirtualClock,
    ingress: MemoryBus,
    sequenced: MemoryBus,
    status: MemoryBus,
    egress: MemoryBus,
    acks: MemoryBus,
    sequencer: SequencerAgent<VirtualClock, MemoryQueue, MemoryQueue, MemoryBus>,
    replicas: Vec<Option<Replica>>,
    cursor: EgressCursor,
    delivered: Vec<(Seq, Vec<Event>)>,
    egress_in: MemoryQueue,
}

impl Cluster {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = VirtualClock::default();
        let buses: [MemoryBus; 5] = Default::default();
        let [ingress, sequenced, status, egress, acks] = buses;
        let config = SequencerConfig {
            replica_timeout_ns: 5_000_000,
            snapshot_interval: 1_000,
            ..SequencerConfig::default()
        };
        let journal = journal::Config {
            segment_size_bytes: 1 << 20,
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
            cursor: EgressCursor::default(),
            delivered: Vec::new(),
            egress_in,
        };
        cluster.start_replica(1);
        cluster.start_replica(2);
        cluster
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_replica(&mut self, node: u32) {
        let paths = AgentPaths {
            journal: Some(self.path("journal")),
            snapshots: Some(self.path(&format!("snapshots-{node}"))),
        };
        let streams = AgentStreams {
            sequenced: self.sequenced.subscribe(),
            acks: self.acks.subscribe(),
            egress: self.egress.clone(),
            status: self.status.clone(),
        };
        let config = ReplicaConfig::new(NodeId(node));
        let agent = ReplicaAgent::open(config, paths, self.clock.clone(), streams).unwrap();
        self.replicas[node as usize - 1] = Some(agent);
    }

    fn step(&mut self) {
        self.clock.0.set(self.clock.0.get() + 100_000);
        self.sequencer.do_work().unwrap();
        for replica in self.replicas.iter_mut().flatten() {
            replica.do_work().unwrap();
        }
        let (cursor, delivered) = (&mut self.cursor, &mut self.delivered);
        let mut take = |frame: &[u8]| {
            let e = EgressEvent::decode(frame).expect("egress frames decode");
            if cursor.accept(&e.prefix) {
                match delivered.last_mut() {
                    Some((seq, events)) if *seq == e.prefix.seq => events.push(e.event),
                    _ => delivered.push((e.prefix.seq, vec![e.event])),
                }
            }
        };
        self.egress_in.poll(usize::MAX, &mut take).unwrap();
        if let Some((seq, _)) = self.delivered.last() {
            let ack = ClusterMessage::EgressAck(EgressAck {
                seq: Seq(seq.0.saturating_sub(1)),
                consumer: 1,
            });
            self.acks.offer(&ack.encode_to_vec()).unwrap();
        }
    }

    fn run(&mut self, commands: impl IntoIterator<Item = Command>, rounds: usize) {
        for command in commands {
            self.ingress.offer(&command.encode_to_vec()).unwrap();
        }
        for _ in 0..rounds {
            self.step();
        }
    }

    /// What the consumer received, written as an events recording.
    fn write_recording(&self, path: &Path) {
        let mut out = Vec::new();
        for (seq, events) in &self.delivered {
            replay::record::write_events(&mut out, *seq, events).unwrap();
        }
        std::fs::write(path, out).unwrap();
    }

    fn replica_hash(&self, node: u32) -> u128 {
        let agent = self.replicas[node as usize - 1].as_ref().unwrap();
        agent.replica().state_hash().0
    }
}

fn options(cluster: &Cluster, snapshots: &str) -> VerifyOptions {
    VerifyOptions {
        journal: cluster.path("journal"),
        snapshots: Some(cluster.path(snapshots)),
        events: Some(cluster.path("events.jsonl")),
        from_snapshot: None,
        engine: EngineConfig::default(),
        hash_interval: replay::HASH_INTERVAL_DEFAULT,
    }
}

#[test]
fn replay_of_the_clusters_journal_reaches_the_live_hash_snapshots_and_events() {
    let mut cluster = Cluster::new();
    cluster.run(Flow::new(FlowConfig::default()).take(4_000), 300);
    cluster.write_recording(&cluster.path("events.jsonl"));
    let report = replay::verify(&options(&cluster, "snapshots-1"), &mut NoProgress).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.final_digest.0, cluster.replica_hash(1));
    assert_eq!(report.final_digest.0, cluster.replica_hash(2));
    assert!(
        report.last_seq.0 > 4_000,
        "every command and the cluster's own"
    );
    assert!(
        !report.snapshots_matched.is_empty(),
        "the replicas wrote snapshots: {report:?}"
    );
    assert!(report.commands_compared > 4_000);

    // Starting from the backup's newest snapshot reaches the same state.
    let snapshots = replay::list_snapshots(&cluster.path("snapshots-2")).unwrap();
    let (_, newest) = snapshots.last().unwrap();
    let mut resumed = options(&cluster, "snapshots-2");
    resumed.from_snapshot = Some(newest.clone());
    let report = replay::verify(&resumed, &mut NoProgress).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.final_digest.0, cluster.replica_hash(2));
}

#[test]
fn replay_after_a_failover_reaches_the_promoted_backups_hash() {
    let mut cluster = Cluster::new();
    let mut commands = Flow::new(FlowConfig::default()).take(5_000);
    cluster.run(commands.by_ref().take(2_500), 20);
    cluster.replicas[0] = None;
    cluster.run(commands, 400);
    cluster.write_recording(&cluster.path("events.jsonl"));
    let report = replay::verify(&options(&cluster, "snapshots-2"), &mut NoProgress).unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.final_digest.0, cluster.replica_hash(2));
}
