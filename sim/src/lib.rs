//! Lockstep's deterministic simulator: the real sequencer agent, two real engine (replica)
//! agents and the gateway's real FIX session and order translation, with simulated FIX
//! clients, all on one thread in virtual time, every choice drawn from one `u64` seed.
//!
//! The network ([`net`]) loses, duplicates, reorders and delays messages and partitions nodes;
//! processes crash and restart from what their storage durably holds; the sequencer's disk
//! ([`SimDisk`], over `journal::MemStorage`) loses power mid-sync, tearing or dropping the
//! un-synced tail, and sometimes has a bit flipped in a durable record. The replicas' liveness
//! links report crashes to the sequencer, and sometimes break while both ends live. After every step the
//! checker holds the run to the invariants of [`Invariant`]; a failing seed prints a one-line
//! reproduction (`lockstep sim --seed S`). See `docs/simulation.md`.

mod check;
mod client;
mod config;
mod disk;
mod gateway;
mod links;
pub mod net;
mod trace;
mod world;

pub use check::{Invariant, Violation};
pub use config::{ProcessFaults, Sabotage, SimConfig};
pub use disk::SimDisk;
pub use net::LinkFaults;
pub use trace::Trace;
pub use world::{Outcome, RunStats, STEP_NS, Verdict, run, run_seed};

/// The totals of a batch of seeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub seeds: u64,
    pub passed: u64,
    pub corruption_detected: u64,
    /// The failing outcomes.
    pub violations: Vec<Outcome>,
}

impl Summary {
    /// Adds one outcome.
    pub fn add(&mut self, outcome: Outcome) {
        self.seeds += 1;
        match outcome.verdict {
            Verdict::Passed => self.passed += 1,
            Verdict::CorruptionDetected(_) => self.corruption_detected += 1,
            Verdict::Violated(_) => self.violations.push(outcome),
        }
    }
}

/// The command that reproduces a seed.
#[must_use]
pub fn reproduction(seed: u64) -> String {
    format!("lockstep sim --seed {seed}")
}

/// Runs seeds `start..start + count` on `threads` threads (each run is single-threaded and
/// independent) and gathers the outcomes in seed order.
#[must_use]
pub fn run_seeds(start: u64, count: u64, threads: usize) -> Summary {
    let threads = threads.clamp(1, 64) as u64;
    let mut outcomes: Vec<Outcome> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (start + t..start + count)
                        .step_by(threads as usize)
                        .map(run_seed)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a simulation thread panicked"))
            .collect()
    });
    outcomes.sort_by_key(|o| o.seed);
    let mut summary = Summary::default();
    for outcome in outcomes {
        summary.add(outcome);
    }
    summary
}
