//! What a run simulates: the shape of the workload and the fault probabilities, drawn from the
//! seed ("swarm testing": each seed gets its own mix, from none of a fault to a lot of it).

use workload::SplitMix64;

use crate::net::LinkFaults;

/// Faults other than the network's, per step of 100 us of virtual time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessFaults {
    /// A node (sequencer, primary or backup) is cut off from every other.
    pub partition: f64,
    /// Longest partition.
    pub partition_ns_max: u64,
    /// A process (sequencer or either replica) crashes.
    pub crash: f64,
    /// Of the sequencer's crashes, the share that are a power loss of its disk during a
    /// sync (the rest are process crashes, which lose nothing under mmap).
    pub power_loss: f64,
    /// Of power losses, the share that tear un-synced sectors (the rest lose them all).
    pub torn: f64,
    /// Of power losses, the share that also flip one bit of a durable record before the last.
    pub bit_flip: f64,
    /// Longest time a crashed process stays down.
    pub restart_ns_max: u64,
    /// Replicas hold liveness links to the sequencer (a crash is reported at once).
    pub liveness_links: bool,
    /// A live replica's link breaks (and comes back), per step.
    pub link_break: f64,
}

impl ProcessFaults {
    /// None at all.
    #[must_use]
    pub fn none() -> Self {
        Self {
            partition: 0.0,
            partition_ns_max: 0,
            crash: 0.0,
            power_loss: 0.0,
            torn: 0.0,
            bit_flip: 0.0,
            restart_ns_max: 0,
            liveness_links: false,
            link_break: 0.0,
        }
    }
}

/// Deliberate breakage, to show the checker catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// Replica 2's engine is perturbed right after it applies this seq.
    DivergeReplica { seq: u64 },
    /// A client silently drops its n-th execution report (from 1).
    DropReport { client: u32, nth: usize },
    /// The gateway hands the n-th egress event it accepts for a session (from 1) over twice.
    DuplicateEvent { nth: usize },
}

/// One run's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    /// FIX clients (sessions 1..=clients).
    pub clients: u32,
    /// Workload commands (orders and cancels) over all clients.
    pub commands: usize,
    pub links: LinkFaults,
    pub processes: ProcessFaults,
    /// Faults start only before this virtual time.
    pub fault_window_ns: u64,
    /// Once every fault has healed, the workload must finish within this much virtual time.
    pub liveness_ns_max: u64,
    pub sabotage: Option<Sabotage>,
}

fn pick<T: Copy>(rng: &mut SplitMix64, options: &[T]) -> T {
    options[rng.index(options.len())]
}

impl SimConfig {
    /// The configuration seed `seed` runs with.
    #[must_use]
    pub fn for_seed(seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed ^ 0x5eed_c0f1_6000_0000);
        let delay_ns_max = pick(&mut rng, &[50_000, 500_000, 3_000_000]);
        Self {
            seed,
            clients: pick(&mut rng, &[2, 3, 4]),
            commands: 40 + rng.index(120),
            links: LinkFaults {
                loss: pick(&mut rng, &[0.0, 0.01, 0.05, 0.2]),
                duplication: pick(&mut rng, &[0.0, 0.01, 0.05]),
                delay_ns_min: 10_000,
                delay_ns_max,
            },
            processes: ProcessFaults {
                partition: pick(&mut rng, &[0.0, 0.0005, 0.002]),
                partition_ns_max: 20_000_000,
                crash: pick(&mut rng, &[0.0, 0.0005, 0.002]),
                power_loss: 0.5,
                torn: 0.5,
                bit_flip: pick(&mut rng, &[0.0, 0.2]),
                restart_ns_max: 20_000_000,
                liveness_links: pick(&mut rng, &[true, false]),
                link_break: pick(&mut rng, &[0.0, 0.0005]),
            },
            fault_window_ns: 50_000_000 + rng.below(200_000_000),
            liveness_ns_max: 2_000_000_000,
            sabotage: None,
        }
    }

    /// A run with no fault at all.
    #[must_use]
    pub fn calm(seed: u64) -> Self {
        Self {
            links: LinkFaults::none(),
            processes: ProcessFaults::none(),
            ..Self::for_seed(seed)
        }
    }
}
