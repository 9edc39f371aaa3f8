//! `cargo bench -p transport --bench ping_pong [-- --hops N --messages M --warmup W
//! --idle busy-spin --hgrm PATH]`: the raw Aeron baseline the cluster benchmark compares
//! against. A ring of `hops` IPC links on one embedded driver (`transport::run_ring`): node 0
//! stamps a 32-byte message, relays 1..hops-1 forward it, and node 0 records the round trip
//! when it comes back (hops = 2 is classic ping-pong, A->B->A; hops = 3 is A->B->C->A, the
//! cluster's client -> sequencer -> engine -> client path).
//!
//! Every node busy-spins unless `--idle` says otherwise: that is what the figure is for, and
//! with hops = 3 on a 2-core machine it means three spinning threads on two cores, so the
//! tail measures the scheduler as much as Aeron (the report prints the idle strategy used).
//! The driver itself is not on an IPC data path and keeps its back-off.
//!
//! The last line is `RESULT aeron_ping_pong rtt_p50_us=.. rtt_p99_us=.. hops=N`.
#![allow(clippy::print_stdout)]

use hdrhistogram::Histogram;
use std::error::Error;
use std::path::PathBuf;
use transport::{DriverConfig, IdleConfig, MediaDriver, RING_MESSAGE_LENGTH, RingConfig, run_ring};

type BoxError = Box<dyn Error + Send + Sync>;

const FIRST_STREAM_ID: i32 = 7000;
/// One histogram bucket range for every run: 1 ns to 10 s, 3 significant digits.
const RTT_NS_MAX: u64 = 10_000_000_000;

#[derive(Debug)]
struct Options {
    hops: usize,
    messages: u64,
    warmup: u64,
    idle: IdleConfig,
    hgrm: Option<PathBuf>,
}

fn parse_options() -> Result<Options, BoxError> {
    let mut options = Options {
        hops: 2,
        messages: 200_000,
        warmup: 20_000,
        idle: IdleConfig::BusySpin,
        hgrm: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--hops" => options.hops = value()?.parse()?,
            "--messages" => options.messages = value()?.parse()?,
            "--warmup" => options.warmup = value()?.parse()?,
            "--idle" => options.idle = value()?.parse()?,
            "--hgrm" => options.hgrm = Some(PathBuf::from(value()?)),
            // `cargo bench` passes `--bench`; a filter may follow. Neither applies here.
            _ => {}
        }
    }
    if options.hops < 2 {
        return Err("--hops must be at least 2 (A->B->A)".into());
    }
    Ok(options)
}

fn run(options: &Options) -> Result<Histogram<u64>, BoxError> {
    let driver = MediaDriver::launch(&DriverConfig {
        ipc_term_length: 1024 * 1024,
        ..DriverConfig::default()
    })?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, RTT_NS_MAX, 3)?;
    let config = RingConfig {
        hops: options.hops,
        idle: options.idle,
        first_stream: FIRST_STREAM_ID,
    };
    run_ring(
        driver.dir(),
        config,
        options.warmup,
        options.messages,
        |ns| {
            histogram.saturating_record(ns);
        },
    )?;
    driver.close()?;
    Ok(histogram)
}

fn us(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1_000.0
}

/// HdrHistogram's percentile-distribution text (`.hgrm`), values in microseconds, readable
/// by the usual plotters.
fn write_hgrm(histogram: &Histogram<u64>, path: &PathBuf) -> std::io::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    for v in histogram.iter_quantiles(5) {
        let quantile = v.quantile_iterated_to();
        let inverse = if quantile < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - quantile))
        } else {
            format!("{:>14}", "inf")
        };
        let _ = writeln!(
            text,
            "{:12.3} {:14.12} {:10} {inverse}",
            v.value_iterated_to() as f64 / 1_000.0,
            quantile,
            v.count_since_last_iteration(),
        );
    }
    let _ = writeln!(
        text,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]",
        histogram.mean() / 1_000.0,
        histogram.stdev() / 1_000.0,
        histogram.max() as f64 / 1_000.0,
        histogram.len(),
    );
    std::fs::write(path, text)
}

fn main() -> Result<(), BoxError> {
    let options = parse_options()?;
    println!(
        "aeron ipc ring: hops={} messages={} warmup={} idle={} message={RING_MESSAGE_LENGTH}B",
        options.hops, options.messages, options.warmup, options.idle
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if options.idle == IdleConfig::BusySpin && options.hops > cores {
        println!(
            "warning: {} busy-spinning threads on {cores} cores: the figure measures the \
             scheduler; compare with --idle yield or --idle backoff",
            options.hops
        );
    }
    let histogram = run(&options)?;
    println!(
        "rtt us: min={:.2} p50={:.2} p90={:.2} p99={:.2} p999={:.2} max={:.2} mean={:.2}",
        histogram.min() as f64 / 1_000.0,
        us(&histogram, 0.50),
        us(&histogram, 0.90),
        us(&histogram, 0.99),
        us(&histogram, 0.999),
        histogram.max() as f64 / 1_000.0,
        histogram.mean() / 1_000.0,
    );
    if let Some(path) = &options.hgrm {
        write_hgrm(&histogram, path)?;
        println!("wrote {}", path.display());
    }
    println!(
        "RESULT aeron_ping_pong rtt_p50_us={:.2} rtt_p99_us={:.2} hops={}",
        us(&histogram, 0.50),
        us(&histogram, 0.99),
        options.hops
    );
    Ok(())
}
