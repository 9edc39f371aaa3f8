//! `lockstep sim`: runs the deterministic simulator over many seeds (or one), prints every
//! failing seed with the command that reproduces it, and a `RESULT` line.

use std::time::Instant;

/// Options of `lockstep sim`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1_000)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Run this one seed and describe its run (overrides --seeds and --start).
    #[arg(long)]
    seed: Option<u64>,
    /// Threads (default: the machine's cores).
    #[arg(long)]
    threads: Option<usize>,
}

#[allow(clippy::print_stdout, reason = "the simulator's output is its report")]
pub(crate) fn run(args: &SimArgs) -> anyhow::Result<()> {
    let start_time = Instant::now();
    let summary = if let Some(seed) = args.seed {
        let config = sim::SimConfig::for_seed(seed);
        println!("seed {seed}: {config:?}");
        let outcome = sim::run(config);
        println!(
            "seed {seed}: {:?} after {} steps, {} ms of virtual time, trace {:016x}",
            outcome.verdict,
            outcome.steps,
            outcome.virtual_ns / 1_000_000,
            outcome.trace
        );
        println!("  {:?}", outcome.stats);
        let mut summary = sim::Summary::default();
        summary.add(outcome);
        summary
    } else {
        let threads = args.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
        });
        sim::run_seeds(args.start, args.seeds, threads)
    };
    let elapsed = start_time.elapsed().as_secs_f64();
    for outcome in &summary.violations {
        if let sim::Verdict::Violated(violation) = &outcome.verdict {
            println!("FAIL seed {}: {violation}", outcome.seed);
            println!("  reproduce: {}", sim::reproduction(outcome.seed));
        }
    }
    println!(
        "{} seeds: {} passed, {} stopped on detected journal corruption, {} violations",
        summary.seeds,
        summary.passed,
        summary.corruption_detected,
        summary.violations.len()
    );
    #[allow(clippy::cast_precision_loss)]
    let per_s = summary.seeds as f64 / elapsed.max(1e-9);
    println!(
        "RESULT sim seeds={} seeds_per_s={per_s:.1} violations={}",
        summary.seeds,
        summary.violations.len()
    );
    anyhow::ensure!(summary.violations.is_empty(), "invariants broken");
    Ok(())
}
