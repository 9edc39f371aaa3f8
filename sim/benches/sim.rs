//! Runs a batch of simulator seeds and prints the throughput: `cargo bench -p sim`.
//! `SIM_SEEDS` sets how many (default 2,000). Prints the `RESULT` line last.

use std::time::Instant;

#[allow(clippy::print_stdout)]
fn main() {
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let start = Instant::now();
    let summary = sim::run_seeds(0, seeds, threads);
    let elapsed = start.elapsed().as_secs_f64();
    for outcome in &summary.violations {
        if let sim::Verdict::Violated(v) = &outcome.verdict {
            println!("seed {} FAILED: {v}", outcome.seed);
            println!("  reproduce: {}", sim::reproduction(outcome.seed));
        }
    }
    println!(
        "seeds {} passed {} corruption_detected {} in {elapsed:.1} s ({threads} threads)",
        summary.seeds, summary.passed, summary.corruption_detected
    );
    #[allow(clippy::cast_precision_loss)]
    let per_s = summary.seeds as f64 / elapsed;
    println!(
        "RESULT sim seeds={} seeds_per_s={per_s:.1} violations={}",
        summary.seeds,
        summary.violations.len()
    );
}
