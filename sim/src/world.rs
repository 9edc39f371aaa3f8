//! One run: the cluster, its clients and the faults, stepped in virtual time.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use journal::{
    CorruptReason, CrashMode, MemReader, ReadError, SEGMENT_HEADER_SIZE, record_size,
    segment_file_name,
};
use matching_engine::EngineConfig;
use protocol::{Command, NodeId, Price};
use replica::{AgentPaths, AgentStreams, ReplicaAgent, ReplicaConfig};
use sequencer::{SequencerAgent, SequencerConfig};
use transport::Clock;
use workload::{ADMIN_SESSION, Flow, FlowConfig, SplitMix64};

use crate::check::{Broken, Checker, Invariant, ReplicaView, Violation};
use crate::client::FixClient;
use crate::config::{Sabotage, SimConfig};
use crate::disk::SimDisk;
use crate::gateway::{Accepted, SimGateway};
use crate::links::{LINK_DELAY_NS_MAX, Links, RELINK_NS_MAX};
use crate::net::{Net, NetHandle, Node, SimIn, SimOut, Stream, chance};

/// Virtual time per step.
pub const STEP_NS: u64 = 100_000;
const MS: u64 = 1_000_000;
/// The operator resends set-up commands not yet journaled this often.
const OPERATOR_RETRY_NS: u64 = 5 * MS;

#[derive(Debug, Clone, Default)]
pub(crate) struct VirtualClock(Rc<Cell<u64>>);

impl Clock for VirtualClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

type Sequencer = SequencerAgent<VirtualClock, SimIn, SimIn, SimOut, SimDisk>;
type Replica = ReplicaAgent<VirtualClock, SimIn, SimIn, SimOut, SimOut, SimDisk>;

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The workload finished and every invariant held throughout.
    Passed,
    /// A bit flip in durable journal bytes was found and refused (by the sequencer's recovery
    /// or an engine's catch-up) with this error, naming the flipped record; nothing wrong was
    /// applied before. The simulated operator stops the cluster there: a corrupt journal
    /// needs a human (restore the record from a replica's copy), so the run ends.
    CorruptionDetected(String),
    /// An invariant broke.
    Violated(Violation),
}

/// A run's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub seed: u64,
    pub verdict: Verdict,
    pub steps: u64,
    pub virtual_ns: u64,
    /// Digest of every delivery and fault: equal for two runs of one seed.
    pub trace: u64,
    pub stats: RunStats,
}

/// What happened in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub journaled: u64,
    pub reports: u64,
    pub messages: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub partitions: u64,
    pub crashes: u64,
    /// Closed liveness links the sequencer was told of (crashes and breaks).
    pub link_downs: u64,
    /// Links broken while both ends lived.
    pub link_breaks: u64,
    pub power_losses: u64,
    pub bit_flips: u64,
}

struct World {
    config: SimConfig,
    rng: SplitMix64,
    clock: VirtualClock,
    net: NetHandle,
    disk: SimDisk,
    sequencer: Option<Sequencer>,
    replicas: [Option<Replica>; 2],
    gateway: SimGateway,
    clients: Vec<FixClient>,
    from_clients: Vec<Vec<u8>>,
    to_clients: Vec<Vec<u8>>,
    setup: Vec<Command>,
    operator_next_ns: u64,
    checker: Checker,
    restarts: BTreeMap<Node, u64>,
    links: Links,
    /// When the last fault healed (a partition ended, a process came back).
    healed_ns: u64,
    /// The seq whose bytes were flipped, once one was.
    flipped: Option<u64>,
    /// The disk lost power and the sequencer has not recovered the journal yet: nothing may
    /// read it (engines wait).
    recovery_pending: bool,
    stats: RunStats,
    step: u64,
}

fn sequencer_config() -> SequencerConfig {
    SequencerConfig {
        timer_interval_ns: MS,
        replica_timeout_ns: 5 * MS,
        start_grace_ns: 20 * MS,
        replicas: vec![NodeId(1), NodeId(2)],
        ..SequencerConfig::default()
    }
}

/// Capacities far above what a run uses, small enough that starting an engine is cheap: the
/// replicas and the checker's oracle share them (they are part of the state hash).
pub(crate) fn engine_config() -> EngineConfig {
    EngineConfig {
        orders_max: 4096,
        instruments_max: 4,
        accounts_max: 64,
        price_levels_max: 1 << 15,
    }
}

/// The instrument's price band around the workload's starting mid, in ticks: far beyond the
/// random walk of a run's few hundred orders.
const PRICE_BAND_TICKS: i64 = 5_000;

fn journal_config() -> journal::Config {
    journal::Config {
        segment_size_bytes: journal::SEGMENT_SIZE_BYTES_MIN,
        // Publish only what is durable: the mode in which a power loss loses nothing
        // published (the sequencer publishes durable records only under `Every`).
        durability: journal::Durability::Every,
        ..journal::Config::default()
    }
}

impl World {
    fn new(config: SimConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        let net = Rc::new(RefCell::new(Net::new(config.links, rng.next_u64())));
        let flow = FlowConfig {
            seed: rng.next_u64(),
            sessions: config.clients,
            ..FlowConfig::default()
        };
        let mut flow = Flow::new(flow);
        let mut setup = Vec::new();
        let mut per_client = vec![Vec::new(); config.clients as usize];
        let mut trading = 0;
        while trading < config.commands {
            let command = flow.next().expect("the flow is endless");
            let session = command.origin().session;
            if let Command::DefineInstrument(mut define) = command {
                let mid = FlowConfig::default().mid_start.0;
                define.min_price = Price(mid - PRICE_BAND_TICKS);
                define.max_price = Price(mid + PRICE_BAND_TICKS);
                setup.push(Command::DefineInstrument(define));
            } else if session == ADMIN_SESSION {
                setup.push(command);
            } else {
                per_client[session.0 as usize - 1].push(command);
                trading += 1;
            }
        }
        let clients: Vec<FixClient> = per_client
            .iter()
            .zip(1..)
            .map(|(commands, session)| {
                let mut client = FixClient::new(session, commands, rng.next_u64());
                if let Some(Sabotage::DropReport { client: c, nth }) = config.sabotage
                    && c == session
                {
                    client.drop_report = Some(nth);
                }
                client
            })
            .collect();
        let streams = (
            SimIn::new(&net, Stream::Egress, Node::Gateway),
            SimOut::new(&net, Stream::Ingress, Node::Gateway),
            SimOut::new(&net, Stream::Acks, Node::Gateway),
        );
        let mut gateway = SimGateway::new(config.clients, 0, streams);
        if let Some(Sabotage::DuplicateEvent { nth }) = config.sabotage {
            gateway.duplicate_event = Some(nth);
        }
        let n = clients.len();
        let mut world = Self {
            checker: Checker::new(config.clients),
            config,
            rng,
            clock: VirtualClock::default(),
            net,
            disk: SimDisk::default(),
            sequencer: None,
            replicas: [None, None],
            gateway,
            clients,
            from_clients: vec![Vec::new(); n],
            to_clients: vec![Vec::new(); n],
            setup,
            operator_next_ns: 0,
            restarts: BTreeMap::new(),
            links: Links::default(),
            healed_ns: 0,
            flipped: None,
            recovery_pending: false,
            stats: RunStats::default(),
            step: 0,
        };
        world.start_sequencer().expect("a fresh journal opens");
        world.start_replica(0).expect("a fresh replica opens");
        world.start_replica(1).expect("a fresh replica opens");
        world
    }

    fn now(&self) -> u64 {
        self.clock.0.get()
    }

    fn start_sequencer(&mut self) -> Result<(), Broken> {
        let streams = (
            SimIn::new(&self.net, Stream::Ingress, Node::Sequencer),
            SimIn::new(&self.net, Stream::Status, Node::Sequencer),
            SimOut::new(&self.net, Stream::Sequenced, Node::Sequencer),
        );
        let republish = self.rng.below(4);
        let agent = SequencerAgent::open_with(
            self.disk.clone(),
            journal_config(),
            sequencer_config(),
            republish,
            self.clock.clone(),
            streams,
        )
        .map_err(|e| (Invariant::NoUnexpectedFailure, format!("sequencer: {e}")))?;
        self.sequencer = Some(agent);
        self.recovery_pending = false;
        for i in 0..2 {
            if self.replicas[i].is_some() {
                self.link_change(i, true);
            }
        }
        self.net.borrow_mut().restarted(Node::Sequencer);
        self.checker.after_restart(&self.disk)
    }

    fn start_replica(&mut self, i: usize) -> Result<(), Broken> {
        let node = [Node::Replica1, Node::Replica2][i];
        let config = ReplicaConfig {
            hash_interval: 16,
            buffer_events_max: 4096,
            engine: engine_config(),
            ..ReplicaConfig::new(NodeId([1, 2][i]))
        };
        let paths = AgentPaths {
            journal: Some(self.disk.clone()),
            snapshots: None,
        };
        let streams = AgentStreams {
            sequenced: SimIn::new(&self.net, Stream::Sequenced, node),
            acks: SimIn::new(&self.net, Stream::Acks, node),
            egress: SimOut::new(&self.net, Stream::Egress, node),
            status: SimOut::new(&self.net, Stream::Status, node),
        };
        let mut agent =
            ReplicaAgent::open(config, paths, self.clock.clone(), streams).map_err(|e| {
                (
                    Invariant::NoUnexpectedFailure,
                    format!("{node:?} start: {e}"),
                )
            })?;
        if let Some(Sabotage::DivergeReplica { seq }) = self.config.sabotage
            && i == 1
        {
            agent.fault_inject_divergence_at(protocol::Seq(seq));
        }
        self.replicas[i] = Some(agent);
        self.link_change(i, true);
        self.net.borrow_mut().restarted(node);
        Ok(())
    }

    /// Replica `i`'s link comes up or closes, reaching the sequencer after a short delay (if
    /// links are on and the sequencer runs).
    fn link_change(&mut self, i: usize, up: bool) {
        if !self.config.processes.liveness_links || self.sequencer.is_none() {
            return;
        }
        let at = self.now() + self.rng.below(LINK_DELAY_NS_MAX);
        self.links.push(at, NodeId([1, 2][i]), up);
    }

    /// A live replica's link breaks while it lives, and comes back.
    fn break_a_link(&mut self) {
        let i = self.rng.index(2);
        if self.replicas[i].is_none() || self.sequencer.is_none() {
            return;
        }
        self.link_change(i, false);
        self.stats.link_breaks += 1;
        let back = self.now() + 1 + self.rng.below(RELINK_NS_MAX);
        self.links.push(back, NodeId([1, 2][i]), true);
    }

    fn schedule_restart(&mut self, node: Node) {
        let down_ns = 1 + self.rng.below(self.config.processes.restart_ns_max.max(1));
        let at = self.now() + down_ns;
        self.restarts.insert(node, at);
        match node {
            Node::Sequencer => self.links.sequencer_down(),
            Node::Replica1 => self.link_change(0, false),
            Node::Replica2 => self.link_change(1, false),
            Node::Gateway | Node::Operator => {}
        }
        self.net.borrow_mut().crashed(node);
        self.stats.crashes += 1;
    }

    /// The faults of this step, drawn from the seed.
    fn inject_faults(&mut self) {
        let now = self.now();
        let faults = self.config.processes;
        if now >= self.config.fault_window_ns {
            return;
        }
        if chance(&mut self.rng, faults.partition) {
            let node = [
                Node::Sequencer,
                Node::Replica1,
                Node::Replica2,
                Node::Gateway,
            ][self.rng.index(4)];
            let until = now + 1 + self.rng.below(faults.partition_ns_max);
            self.net.borrow_mut().partition(node, until);
            self.healed_ns = self.healed_ns.max(until);
            self.stats.partitions += 1;
        }
        if faults.liveness_links && chance(&mut self.rng, faults.link_break) {
            self.break_a_link();
        }
        if chance(&mut self.rng, faults.crash) {
            match self.rng.index(3) {
                0 if self.sequencer.is_some() && !self.disk.failing() => {
                    if chance(&mut self.rng, faults.power_loss) {
                        // The crash happens at the next sync, mid-append.
                        self.disk.fail_next_sync();
                    } else {
                        self.sequencer = None;
                        self.schedule_restart(Node::Sequencer);
                    }
                }
                i @ (1 | 2) if self.replicas[i - 1].is_some() => {
                    self.replicas[i - 1] = None;
                    self.schedule_restart([Node::Replica1, Node::Replica2][i - 1]);
                }
                _ => {}
            }
        }
    }

    /// The sequencer died in a sync: its disk keeps what a power loss leaves.
    fn power_loss(&mut self) {
        self.sequencer = None;
        let faults = self.config.processes;
        let mode = if chance(&mut self.rng, faults.torn) {
            CrashMode::TornSectors {
                seed: self.rng.next_u64(),
            }
        } else {
            CrashMode::DropUnsynced
        };
        self.disk.mem.power_loss(mode);
        self.disk.power_restored();
        self.recovery_pending = true;
        // The engines share the host (they read its journal): they go down with it, and come
        // back only after the sequencer's recovery has repaired the journal's tail.
        for (i, node) in [Node::Replica1, Node::Replica2].into_iter().enumerate() {
            if self.replicas[i].take().is_some() {
                self.schedule_restart(node);
            }
        }
        self.checker.disk_lost_power();
        self.stats.power_losses += 1;
        if self.flipped.is_none() && chance(&mut self.rng, faults.bit_flip) {
            self.flip_a_durable_bit();
        }
        self.schedule_restart(Node::Sequencer);
    }

    /// Flips one bit of a durable record before the last one, in the first segment.
    fn flip_a_durable_bit(&mut self) {
        let Ok(mut reader) = MemReader::open_at(&self.disk.mem, 1) else {
            return;
        };
        let mut records = Vec::new();
        let mut offset = SEGMENT_HEADER_SIZE;
        let segment_size =
            usize::try_from(journal_config().segment_size_bytes).expect("a segment fits memory");
        let durable = reader.durable_seq().unwrap_or(0);
        while let Ok(Some(record)) = reader.next() {
            let size = record_size(record.body.len());
            if record.seq > durable || offset + size > segment_size {
                break;
            }
            records.push((
                record.seq,
                offset,
                journal::RECORD_HEADER_SIZE + record.body.len(),
            ));
            offset += size;
        }
        if records.len() < 2 {
            return;
        }
        let (seq, at, len) = records[self.rng.index(records.len() - 1)];
        let byte = at + self.rng.index(len);
        let mask = 1u8 << self.rng.below(8);
        self.disk.mem.corrupt(&segment_file_name(1), byte, mask);
        self.flipped = Some(seq);
        self.stats.bit_flips += 1;
    }

    /// A process found corruption: the expected outcome after a flip, else a violation.
    fn corruption(&self, who: &str, error: &ReadError) -> Result<String, Broken> {
        let message = format!("{who}: {error}");
        match (self.flipped, error) {
            (Some(seq), ReadError::Corrupt(e)) if e.seq == seq => Ok(message),
            // A reader that hopped over the flipped record (opening mid-journal checks links,
            // not CRCs) finds the flipped CRC disagreeing with the next record's link.
            (Some(seq), ReadError::Corrupt(e))
                if e.seq == seq + 1 && matches!(e.reason, CorruptReason::ChainLink { .. }) =>
            {
                Ok(message)
            }
            (Some(seq), ReadError::Corrupt(e)) => Err((
                Invariant::NoUnexpectedFailure,
                format!("{message} (the flipped record is seq {seq}, not {})", e.seq),
            )),
            _ => Err((Invariant::NoUnexpectedFailure, message)),
        }
    }

    fn run_sequencer(&mut self) -> Result<Option<String>, Broken> {
        let Some(agent) = self.sequencer.as_mut() else {
            return Ok(None);
        };
        while let Some((node, up)) = self.links.pop_due(self.clock.0.get()) {
            self.stats.link_downs += u64::from(!up);
            agent
                .on_replica_link(node, up)
                .map_err(|e| (Invariant::NoUnexpectedFailure, format!("link: {e}")))?;
        }
        match agent.do_work() {
            Ok(_) => Ok(None),
            Err(_) if self.disk.failing() => {
                self.power_loss();
                Ok(None)
            }
            Err(sequencer::AgentError::JournalRead(e)) => {
                self.corruption("sequencer", &e).map(Some)
            }
            Err(e) => Err((Invariant::NoUnexpectedFailure, format!("sequencer: {e}"))),
        }
    }

    fn run_replica(&mut self, i: usize) -> Result<Option<String>, Broken> {
        let Some(agent) = self.replicas[i].as_mut() else {
            return Ok(None);
        };
        match agent.do_work() {
            Ok(_) => Ok(None),
            Err(replica::AgentError::Journal(e)) => {
                self.corruption(&format!("replica {}", i + 1), &e).map(Some)
            }
            Err(e) => Err((
                Invariant::NoUnexpectedFailure,
                format!("replica {}: {e}", i + 1),
            )),
        }
    }

    fn run_operator(&mut self) {
        let now = self.now();
        if now < self.operator_next_ns {
            return;
        }
        self.operator_next_ns = now + OPERATOR_RETRY_NS;
        let done = self.checker.last_request(ADMIN_SESSION);
        let mut ingress = SimOut::new(&self.net, Stream::Ingress, Node::Operator);
        for command in &self.setup {
            if command.origin().request_id.0 > done {
                let _ = transport::Outbound::offer(&mut ingress, &command.encode_to_vec());
            }
        }
    }

    fn setup_done(&self) -> bool {
        self.checker.last_request(ADMIN_SESSION) >= self.setup.len() as u64
    }

    fn run_clients(&mut self) {
        if !self.setup_done() {
            return;
        }
        let now = self.now();
        for (i, client) in self.clients.iter_mut().enumerate() {
            let incoming = std::mem::take(&mut self.to_clients[i]);
            client.step(now, &incoming, &mut self.from_clients[i]);
        }
    }

    fn run_gateway(&mut self) -> Result<(), Broken> {
        let mut accepted: Vec<Accepted> = Vec::new();
        let now = self.now();
        self.gateway.do_work(
            now,
            &mut self.from_clients,
            &mut self.to_clients,
            &mut accepted,
        );
        for a in &accepted {
            self.checker.check_event(a.seq, a.index, &a.event)?;
        }
        Ok(())
    }

    fn check(&mut self) -> Result<(), Broken> {
        self.checker.observe_journal()?;
        for (i, agent) in self.replicas.iter().enumerate() {
            let Some(agent) = agent else { continue };
            let r = agent.replica();
            self.checker.check_replica(ReplicaView {
                node: [Node::Replica1, Node::Replica2][i],
                applied: r.applied(),
                hash: r.state_hash().0,
                role: r.role(),
                term: r.term().0,
            })?;
        }
        for client in &mut self.clients {
            if let Some(problem) = client.problems.pop() {
                return Err(problem);
            }
            self.checker
                .check_reports(client.session, &client.reports)?;
        }
        Ok(())
    }

    fn finished(&self) -> bool {
        let replicas_level = self.replicas.iter().all(|r| {
            r.as_ref()
                .is_some_and(|r| r.replica().applied().0 >= self.checker.last_request_seq)
        });
        self.setup_done()
            && self.sequencer.is_some()
            && replicas_level
            && self.clients.iter().all(|c| {
                c.finished()
                    && c.reports.len()
                        == self.checker.expected_reports[c.session as usize - 1].len()
            })
    }

    /// One step; `Some` when the run is over.
    fn step(&mut self) -> Result<Option<Verdict>, Broken> {
        self.step += 1;
        let now = self.now() + STEP_NS;
        self.clock.0.set(now);
        self.net.borrow_mut().set_now(now);
        self.inject_faults();
        let due: Vec<Node> = self
            .restarts
            .iter()
            .filter(|&(_, &at)| at <= now)
            .map(|(&node, _)| node)
            .collect();
        for node in due {
            if node != Node::Sequencer && self.recovery_pending {
                self.restarts.insert(node, now + STEP_NS);
                continue;
            }
            self.restarts.remove(&node);
            self.healed_ns = self.healed_ns.max(now);
            match node {
                Node::Sequencer => {
                    if let Err(broken) = self.start_sequencer() {
                        if let Some(seq) = self.flipped
                            && broken.1.contains(&format!("seq {seq}"))
                        {
                            return Ok(Some(Verdict::CorruptionDetected(broken.1)));
                        }
                        return Err(broken);
                    }
                }
                Node::Replica1 => self.start_replica(0)?,
                Node::Replica2 => self.start_replica(1)?,
                Node::Gateway | Node::Operator => unreachable!("never crashed"),
            }
        }
        let mut order = [0u8, 1, 2, 3, 4, 5];
        for i in (1..order.len()).rev() {
            order.swap(i, self.rng.index(i + 1));
        }
        for part in order {
            let detected = match part {
                0 => self.run_sequencer()?,
                1 => self.run_replica(0)?,
                2 => self.run_replica(1)?,
                3 => {
                    self.run_gateway()?;
                    None
                }
                4 => {
                    self.run_clients();
                    None
                }
                _ => {
                    self.run_operator();
                    None
                }
            };
            if let Some(error) = detected {
                return Ok(Some(Verdict::CorruptionDetected(error)));
            }
        }
        self.check()?;
        if self.finished() {
            return Ok(Some(Verdict::Passed));
        }
        let quiet_since = self
            .healed_ns
            .max(self.config.fault_window_ns)
            .max(self.net.borrow().partitions_end_ns());
        if self.restarts.is_empty()
            && !self.disk.failing()
            && now > quiet_since + self.config.liveness_ns_max
        {
            return Err((
                Invariant::Liveness,
                format!(
                    "the workload has not finished {} ms after the last fault healed ({})",
                    self.config.liveness_ns_max / MS,
                    self.progress()
                ),
            ));
        }
        Ok(None)
    }

    fn progress(&self) -> String {
        let clients: Vec<String> = self
            .clients
            .iter()
            .map(|c| {
                format!(
                    "client {}: {}/{} reports{}",
                    c.session,
                    c.reports.len(),
                    self.checker.expected_reports[c.session as usize - 1].len(),
                    if c.finished() {
                        ""
                    } else {
                        ", requests unanswered"
                    }
                )
            })
            .collect();
        let replicas: Vec<String> = self
            .replicas
            .iter()
            .map(|r| {
                r.as_ref().map_or("down".into(), |r| {
                    let r = r.replica();
                    format!("{:?} t{} @{}", r.role(), r.term().0, r.applied().0)
                })
            })
            .collect();
        format!(
            "journal {} (last request at {}), replicas [{}], {}",
            self.checker.journal_len(),
            self.checker.last_request_seq,
            replicas.join(", "),
            clients.join(", ")
        )
    }

    fn outcome(&self, verdict: Verdict) -> Outcome {
        let net = self.net.borrow();
        let mut stats = self.stats;
        stats.journaled = self.checker.journal_len();
        stats.reports = self.clients.iter().map(|c| c.reports.len() as u64).sum();
        (stats.messages, stats.lost, stats.duplicated) = (net.sent, net.lost, net.duplicated);
        Outcome {
            seed: self.config.seed,
            verdict,
            steps: self.step,
            virtual_ns: self.now(),
            trace: net.trace().digest(),
            stats,
        }
    }
}

/// Runs one configuration to its verdict.
#[must_use]
pub fn run(config: SimConfig) -> Outcome {
    let mut world = World::new(config);
    loop {
        match world.step() {
            Ok(None) => {}
            Ok(Some(verdict)) => return world.outcome(verdict),
            Err((invariant, detail)) => {
                let violation = Violation {
                    invariant,
                    step: world.step,
                    now_ns: world.now(),
                    detail,
                };
                return world.outcome(Verdict::Violated(violation));
            }
        }
    }
}

/// Runs seed `seed` with the faults it draws.
#[must_use]
pub fn run_seed(seed: u64) -> Outcome {
    run(SimConfig::for_seed(seed))
}
