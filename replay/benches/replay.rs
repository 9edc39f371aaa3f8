//! Replay throughput: a journal of the engine benchmark's flow (`workload`, seed 42) replayed
//! through the engine, against the same commands applied to an in-memory engine in the same run.
//!
//! `cargo bench -p replay --bench replay -- [--commands N]` (default 10M). The journal is
//! written first (not timed). Then, best of three runs each:
//! - in-memory: commands pre-decoded in chunks of `CHUNK` (generation not timed), applied to an
//!   engine with a state hash checkpoint every `HASH_INTERVAL_DEFAULT` commands, as the
//!   cluster's engines and replay take them (and as the engine benchmark measures the engine);
//! - replay: `JournalCommands` (mapped reads, CRC and chain verified, bodies decoded) applied
//!   through a `Replayer` (checkpoints every 1024), without progress reporting;
//! - replay with progress: the same with a progress sink called every `PROGRESS_INTERVAL`
//!   commands, to show what reporting costs;
//! - replay prefetched: the journal read, verified and decoded ahead on a second thread
//!   (`Prefetched`); its engine thread's CPU time and its wall time are printed beside the others.
//!
//! On the shared VM this was written on, the same in-memory pass measured 3.4-6.1 M/s within
//! one bench run: compare ratios over several runs, not single figures.
//!
//! Times are this thread's CPU time (the machine is shared: waiting for a core is not charged),
//! except for the prefetched replay, whose two threads are timed by the wall clock against the
//! in-memory run's wall time. The last line, `RESULT replay cmds_per_s=<>
//! ratio_vs_in_memory_engine=<x>`, is the prefetched replay: what `lockstep replay` does.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::path::Path;
use std::time::{Duration, Instant};

use matching_engine::{Engine, EngineConfig};
use protocol::{Event, Seq, Sequenced, TimestampNs};
use replay::{HASH_INTERVAL_DEFAULT, JournalCommands, NoProgress, Prefetched, Progress, Replayer};
use workload::{Flow, FlowConfig};

const COMMANDS_DEFAULT: u64 = 10_000_000;
const CHUNK: usize = 1 << 20;
const RUNS: usize = 4;

fn commands_arg() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--commands")
        .and_then(|i| args.get(i + 1))
        .map_or(COMMANDS_DEFAULT, |n| {
            n.parse().expect("--commands takes a number")
        })
}

fn sequenced(flow: &mut Flow, i: u64) -> Sequenced {
    Sequenced {
        seq: Seq(i + 1),
        timestamp: TimestampNs(1_700_000_000_000_000_000 + i * 100),
        command: flow.next().expect("the flow is endless"),
    }
}

fn write_journal(dir: &Path, n: u64) {
    let config = journal::Config {
        durability: journal::Durability::None,
        ..journal::Config::default()
    };
    let mut writer = journal::Writer::open(dir, config).unwrap();
    let mut flow = Flow::new(FlowConfig::default());
    for i in 0..n {
        let c = sequenced(&mut flow, i);
        let body = c.command.encode_to_vec();
        let _receipt = writer
            .append_at(c.seq.0, c.timestamp.0, journal::RecordKind::COMMAND, &body)
            .unwrap();
    }
    writer.close().unwrap();
}

/// Applies every command to a fresh engine, taking the replay's hash checkpoints; only the
/// applying is timed.
fn in_memory(n: u64) -> (Duration, Duration, u128) {
    let mut engine = Engine::new(EngineConfig::default());
    let mut flow = Flow::new(FlowConfig::default());
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut out: Vec<Event> = Vec::with_capacity(1024);
    let (mut elapsed, mut wall) = (Duration::ZERO, Duration::ZERO);
    let mut i = 0;
    while i < n {
        chunk.clear();
        while chunk.len() < CHUNK && i < n {
            chunk.push(sequenced(&mut flow, i));
            i += 1;
        }
        let start = Clock::start();
        for c in &chunk {
            out.clear();
            engine.apply(c, &mut out);
            if c.seq.0.is_multiple_of(HASH_INTERVAL_DEFAULT) {
                std::hint::black_box(engine.state_hash());
            }
        }
        elapsed += start.elapsed();
        wall += start.wall();
    }
    (elapsed, wall, engine.state_hash().0)
}

/// A progress sink that does what a progress bar does: remember the position and, now and then,
/// format a line (discarded here, so the measurement is of the reporting, not the terminal).
#[derive(Default)]
struct Formatting {
    lines: u64,
    bytes: usize,
}

impl Progress for Formatting {
    fn update(&mut self, applied: Seq, end: u64) {
        self.lines += 1;
        self.bytes += format!("{applied}/{end}").len();
    }
}

/// Opens the journal and replays it; the engine is built before the clock starts, as in
/// [`in_memory`] (building prefaults its order pool: a fixed cost, not a per-command one).
fn replay_journal(dir: &Path, progress: &mut dyn Progress) -> (Duration, Duration, u128) {
    let mut replayer = Replayer::new(EngineConfig::default(), HASH_INTERVAL_DEFAULT);
    let start = Clock::start();
    let mut commands = JournalCommands::open(dir, Seq(1)).unwrap();
    let end = commands.committed_seq();
    while let Some(c) = commands.next().unwrap() {
        replayer.apply(&c).unwrap();
        if c.seq.0.is_multiple_of(replay::PROGRESS_INTERVAL) {
            progress.update(c.seq, end);
        }
    }
    progress.finish();
    (start.elapsed(), start.wall(), replayer.digest().0)
}

/// The same replay with the journal read ahead on a second thread ([`Prefetched`]).
fn replay_prefetched(dir: &Path) -> (Duration, Duration, u128) {
    let mut replayer = Replayer::new(EngineConfig::default(), HASH_INTERVAL_DEFAULT);
    let start = Clock::start();
    let mut commands = Prefetched::spawn(JournalCommands::open(dir, Seq(1)).unwrap()).unwrap();
    while let Some(c) = commands.next().unwrap() {
        replayer.apply(c).unwrap();
    }
    (start.elapsed(), start.wall(), replayer.digest().0)
}

/// This thread's time on a CPU (`/proc/thread-self/schedstat`, ns): on a machine shared with
/// other work, time spent waiting for a core is not charged to the code measured.
fn cpu_now() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("Linux schedstat (the bench measures thread CPU time)");
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("schedstat starts with the CPU time in ns");
    Duration::from_nanos(ns)
}

/// This thread's CPU time and the wall time since it started.
struct Clock(Duration, Instant);

impl Clock {
    fn start() -> Self {
        Self(cpu_now(), Instant::now())
    }
    fn elapsed(&self) -> Duration {
        cpu_now() - self.0
    }
    fn wall(&self) -> Duration {
        self.1.elapsed()
    }
}

type Run = (Duration, Duration, u128);

/// The best run by CPU time (`wall` false) or by wall time.
fn best(runs: &[Run], wall: bool) -> Run {
    *runs
        .iter()
        .min_by_key(|(cpu, w, _)| if wall { *w } else { *cpu })
        .expect("at least one run")
}

fn main() {
    let n = commands_arg();
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal");
    let started = Instant::now();
    write_journal(&journal, n);
    println!(
        "wrote {n} commands in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let per_s = |d: Duration| n as f64 / d.as_secs_f64();
    let (mut mem, mut plain, mut with_progress, mut ahead) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        // Alternate which replay goes first: the first pass after the in-memory run measured
        // consistently slower, whichever it was.
        mem.push(in_memory(n));
        if run % 2 == 0 {
            plain.push(replay_journal(&journal, &mut NoProgress));
            with_progress.push(replay_journal(&journal, &mut Formatting::default()));
        } else {
            with_progress.push(replay_journal(&journal, &mut Formatting::default()));
            plain.push(replay_journal(&journal, &mut NoProgress));
        }
        ahead.push(replay_prefetched(&journal));
        println!(
            "run {run}: cpu in-memory {:.0}/s, replay {:.0}/s, with progress {:.0}/s, \
             prefetched (engine thread) {:.0}/s; wall in-memory {:.0}/s, replay {:.0}/s, \
             prefetched {:.0}/s",
            per_s(mem[run].0),
            per_s(plain[run].0),
            per_s(with_progress[run].0),
            per_s(ahead[run].0),
            per_s(mem[run].1),
            per_s(plain[run].1),
            per_s(ahead[run].1)
        );
    }
    let hashes: Vec<u128> = [&mem, &plain, &with_progress, &ahead]
        .iter()
        .flat_map(|runs| runs.iter().map(|r| r.2))
        .collect();
    assert!(
        hashes.iter().all(|h| *h == hashes[0]),
        "every replay reaches the in-memory engine's state"
    );
    let (mem_cpu, plain_cpu) = (best(&mem, false).0, best(&plain, false).0);
    let overhead = best(&with_progress, false).0.as_secs_f64() / plain_cpu.as_secs_f64() - 1.0;
    println!(
        "progress reporting overhead: {:+.2}% (cpu)",
        overhead * 100.0
    );
    let (mem_wall, plain_wall, ahead_wall) = (
        best(&mem, true).1,
        best(&plain, true).1,
        best(&ahead, true).1,
    );
    println!(
        "wall, best of {RUNS}: in-memory {:.0}/s, replay {:.0}/s ({:.2}x), prefetched on two \
         threads {:.0}/s ({:.2}x)",
        per_s(mem_wall),
        per_s(plain_wall),
        mem_wall.as_secs_f64() / plain_wall.as_secs_f64(),
        per_s(ahead_wall),
        mem_wall.as_secs_f64() / ahead_wall.as_secs_f64()
    );
    println!(
        "single thread (cpu), best of {RUNS}: in-memory {:.0}/s, replay {:.0}/s ({:.2}x)",
        per_s(mem_cpu),
        per_s(plain_cpu),
        mem_cpu.as_secs_f64() / plain_cpu.as_secs_f64()
    );
    // The RESULT is what the `replay` commands do: read ahead on a second thread, by wall time.
    println!(
        "RESULT replay cmds_per_s={:.0} ratio_vs_in_memory_engine={:.2}",
        per_s(ahead_wall),
        mem_wall.as_secs_f64() / ahead_wall.as_secs_f64()
    );
}
