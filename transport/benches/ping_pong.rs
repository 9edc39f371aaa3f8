//! `cargo bench -p transport --bench ping_pong [-- --hops N --messages M --warmup W
//! --idle busy-spin --hgrm PATH]`: the raw Aeron baseline the cluster benchmark compares
//! against. A ring of `hops` IPC links on one embedded driver: node 0 stamps a 32-byte
//! message, relays 1..hops-1 forward it, and node 0 records the round trip when it comes
//! back (hops = 2 is classic ping-pong, A->B->A; hops = 3 is A->B->C->A, the cluster's
//! client -> sequencer -> engine -> client path).
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
use std::time::{Duration, Instant};
use transport::{
    Agent, AgentRunner, Channel, Client, ClientConfig, DriverConfig, IdleConfig, IdleStrategy,
    MediaDriver, Publication, StopFlag, StreamId, Subscription,
};

type BoxError = Box<dyn Error + Send + Sync>;

const MESSAGE_LENGTH: usize = 32;
const FIRST_STREAM_ID: i32 = 7000;
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);
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

/// Link `k` carries node `k`'s output to node `(k + 1) % hops`.
fn link(k: usize) -> Result<StreamId, BoxError> {
    Ok(StreamId(FIRST_STREAM_ID + i32::try_from(k)?))
}

/// Forwards every message from its inbound link to its outbound link.
struct Relay {
    name: String,
    inbound: Subscription,
    outbound: Publication,
    pending: Vec<u8>,
    _client: Client,
}

impl Agent for Relay {
    fn do_work(&mut self) -> usize {
        let pending = &mut self.pending;
        let fragments = self
            .inbound
            .poll(|message| pending.extend_from_slice(message), 1)
            .expect("relay poll");
        if !self.pending.is_empty() {
            // Ping-pong keeps one message in flight, so the ring never pushes back for long;
            // retrying here keeps the relay from dropping it.
            while !self
                .outbound
                .offer(&self.pending)
                .expect("relay offer")
                .is_published()
            {
                std::hint::spin_loop();
            }
            self.pending.clear();
        }
        fragments
    }

    fn name(&self) -> &str {
        &self.name
    }
}

fn start_relay(
    dir: PathBuf,
    node: usize,
    hops: usize,
    idle: IdleConfig,
    stop: &StopFlag,
) -> Result<AgentRunner, BoxError> {
    let name = format!("relay-{node}");
    let runner = AgentRunner::start(&name.clone(), idle, stop, move || {
        let client = Client::connect(&dir, &ClientConfig::default())?;
        let inbound = client.add_subscription(&Channel::ipc(), link(node - 1)?, SETUP_TIMEOUT)?;
        let outbound =
            client.add_publication(&Channel::ipc(), link(node % hops)?, SETUP_TIMEOUT)?;
        Ok::<_, BoxError>(Relay {
            name,
            inbound,
            outbound,
            pending: Vec::with_capacity(MESSAGE_LENGTH),
            _client: client,
        })
    })?;
    Ok(runner)
}

/// Node 0: stamps, sends and times round trips.
struct Pinger {
    outbound: Publication,
    inbound: Subscription,
    epoch: Instant,
    idle: transport::Idle,
}

impl Pinger {
    fn round_trip(&mut self, histogram: &mut Histogram<u64>) -> Result<(), BoxError> {
        let mut message = [0u8; MESSAGE_LENGTH];
        loop {
            // Stamp each attempt, so time spent back-pressured is not counted as RTT.
            let sent_ns = u64::try_from(self.epoch.elapsed().as_nanos())?;
            message[..8].copy_from_slice(&sent_ns.to_le_bytes());
            if self.outbound.offer(&message)?.is_published() {
                break;
            }
            self.idle.idle(0);
        }
        let deadline = Instant::now() + ROUND_TRIP_TIMEOUT;
        let epoch = self.epoch;
        let mut done = false;
        while !done {
            let fragments = self.inbound.poll(
                |reply| {
                    let sent = u64::from_le_bytes(reply[..8].try_into().expect("8-byte stamp"));
                    let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    histogram.saturating_record(now.saturating_sub(sent).max(1));
                    done = true;
                },
                1,
            )?;
            self.idle.idle(fragments);
            if !done && Instant::now() > deadline {
                return Err("a message was lost in the ring".into());
            }
        }
        Ok(())
    }
}

fn run(options: &Options) -> Result<Histogram<u64>, BoxError> {
    let driver = MediaDriver::launch(&DriverConfig {
        ipc_term_length: 1024 * 1024,
        ..DriverConfig::default()
    })?;
    let stop = StopFlag::new();
    let relays = (1..options.hops)
        .map(|node| {
            start_relay(
                driver.dir().to_owned(),
                node,
                options.hops,
                options.idle,
                &stop,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let client = Client::connect(driver.dir(), &ClientConfig::default())?;
    let mut pinger = Pinger {
        outbound: client.add_publication(&Channel::ipc(), link(0)?, SETUP_TIMEOUT)?,
        inbound: client.add_subscription(
            &Channel::ipc(),
            link(options.hops - 1)?,
            SETUP_TIMEOUT,
        )?,
        epoch: Instant::now(),
        idle: options.idle.build(),
    };
    pinger.outbound.wait_connected(SETUP_TIMEOUT)?;
    pinger.inbound.wait_for_image(SETUP_TIMEOUT)?;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, RTT_NS_MAX, 3)?;
    for _ in 0..options.warmup {
        pinger.round_trip(&mut histogram)?;
    }
    histogram.reset();
    for _ in 0..options.messages {
        pinger.round_trip(&mut histogram)?;
    }
    stop.stop();
    for relay in relays {
        relay.close()?;
    }
    drop(pinger);
    drop(client);
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
        "aeron ipc ring: hops={} messages={} warmup={} idle={} message={MESSAGE_LENGTH}B",
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
