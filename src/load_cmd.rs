//! `lockstep load`: drives FIX sessions through a gateway at a fixed window of orders in
//! flight and reports order -> acknowledgement latency (HDR percentiles, optionally `.hgrm`)
//! and throughput.

use std::net::SocketAddr;
use std::path::PathBuf;

use lockstep::local::fix_load;
use lockstep::local::latency::{micros, write_hgrm};

/// Options of `lockstep load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// The gateway's address.
    #[arg(long, default_value = "127.0.0.1:9878")]
    addr: SocketAddr,
    /// SenderCompIDs of the sessions to drive, comma-separated (configured in the gateway).
    #[arg(long, default_value = "CLIENT1", value_delimiter = ',')]
    sessions: Vec<String>,
    /// The gateway's CompID.
    #[arg(long, default_value = "LOCKSTEP")]
    target: String,
    /// Orders per session.
    #[arg(long, default_value_t = 10_000)]
    orders: u64,
    /// Orders in flight per session.
    #[arg(long, default_value_t = 1)]
    window: usize,
    /// Write the latency histogram here (`.hgrm`, microseconds).
    #[arg(long)]
    hgrm: Option<PathBuf>,
}

pub(crate) fn run(args: &LoadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.window > 0 && args.orders > 0,
        "--window and --orders must be positive"
    );
    let report = fix_load::run(
        args.addr,
        &args.sessions,
        &args.target,
        args.orders,
        args.window,
    )?;
    let h = &report.histogram;
    say(&format!(
        "{} orders from {} session(s), window {}: {:.0} orders/s; order -> ack p50 {:.1} us, p90 {:.1} us, p99 {:.1} us, max {:.1} us",
        report.orders,
        args.sessions.len(),
        args.window,
        report.orders_per_s(),
        micros(h, 0.5),
        micros(h, 0.9),
        micros(h, 0.99),
        micros(h, 1.0)
    ));
    if let Some(path) = &args.hgrm {
        write_hgrm(h, path)?;
    }
    Ok(())
}

#[allow(clippy::print_stdout, reason = "the load tool's output is its report")]
fn say(line: &str) {
    println!("{line}");
}
