//! The cluster processes: `lockstep sequencer`, `lockstep engine` and `lockstep auditor`. Wiring
//! only: the logic is in the `sequencer` and `replica` crates' agents; this module reads
//! configuration, connects to Aeron, runs a duty cycle until SIGTERM/SIGINT, and logs what an
//! operator needs.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use transport::{Client, ClientConfig, Publication, StopFlag, Subscription};

pub(crate) mod auditor;
pub(crate) mod config;
pub(crate) mod driver;
pub(crate) mod engine;
pub(crate) mod gateway;
pub(crate) mod sentinel;
pub(crate) mod sequencer;
mod streams;

use config::{ClusterConfig, Override, StreamSettings};

/// How long adding a publication or subscription may take.
const ADD_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags every cluster process takes; each overrides the configuration key it names.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// A TOML configuration file, merged over the embedded defaults (`lockstep config`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// aeron.dir: the media driver's directory.
    #[arg(long)]
    aeron_dir: Option<PathBuf>,
    /// journal.dir: the sequencer's journal (engines read it to catch up).
    #[arg(long)]
    journal_dir: Option<PathBuf>,
    /// run.idle: backoff | yield | sleep:<duration> | busy-spin.
    #[arg(long)]
    idle: Option<String>,
    /// run.log_level: error | warn | info | debug | trace.
    #[arg(long)]
    log_level: Option<String>,
}

impl CommonArgs {
    fn overrides(&self) -> Vec<Override> {
        let path = |p: &PathBuf| toml::Value::String(p.display().to_string());
        let mut out = Vec::new();
        push(
            &mut out,
            "aeron.dir",
            "aeron-dir",
            self.aeron_dir.as_ref().map(path),
        );
        push(
            &mut out,
            "journal.dir",
            "journal-dir",
            self.journal_dir.as_ref().map(path),
        );
        push(
            &mut out,
            "run.idle",
            "idle",
            self.idle.clone().map(toml::Value::String),
        );
        let level = self.log_level.clone().map(toml::Value::String);
        push(&mut out, "run.log_level", "log-level", level);
        out
    }

    /// Loads the configuration with `extra` overrides on top of the common ones.
    fn load(&self, extra: Vec<Override>) -> anyhow::Result<ClusterConfig> {
        let mut overrides = self.overrides();
        overrides.extend(extra);
        Ok(config::load(self.config.as_deref(), &overrides)?)
    }
}

fn push(
    out: &mut Vec<Override>,
    key: &'static str,
    flag: &'static str,
    value: Option<toml::Value>,
) {
    if let Some(value) = value {
        out.push(Override { key, flag, value });
    }
}

/// Logs to stderr at the configured level.
fn init_tracing(level: tracing::Level) {
    // A second initialisation (never in the binary) is harmless: keep the first.
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

/// A stop flag raised by SIGINT, SIGTERM or SIGHUP.
///
/// `ctrlc` (with its `termination` feature) runs the handler on a thread of its own, so the
/// handler may do anything; raising an atomic flag is all it does. Already in the lock file
/// through rusteron.
fn stop_on_signals() -> anyhow::Result<StopFlag> {
    let stop = StopFlag::new();
    let raised = stop.clone();
    ctrlc::set_handler(move || raised.stop()).context("installing the signal handler")?;
    Ok(stop)
}

/// Connects a client to the configured driver directory, retrying until `aeron.driver_timeout`
/// while the driver is still starting (the C client fails at once when `cnc.dat` is missing).
fn connect(config: &ClusterConfig, name: &str) -> anyhow::Result<Client> {
    let client_config = ClientConfig {
        driver_timeout: config.driver_timeout,
        client_name: name.to_owned(),
    };
    let deadline = std::time::Instant::now() + config.driver_timeout;
    let mut idle = transport::Backoff::default();
    loop {
        match Client::connect(&config.aeron_dir, &client_config) {
            Ok(client) => return Ok(client),
            Err(error) if std::time::Instant::now() >= deadline => {
                let dir = config.aeron_dir.display();
                return Err(error)
                    .with_context(|| format!("connecting to the media driver in {dir}"));
            }
            Err(_) => transport::IdleStrategy::idle(&mut idle, 0),
        }
    }
}

fn publication(
    client: &Client,
    stream: &StreamSettings,
    what: &str,
) -> anyhow::Result<Publication> {
    client
        .add_publication(&stream.channel, stream.stream_id, ADD_TIMEOUT)
        .with_context(|| format!("adding the {what} publication"))
}

fn subscription(
    client: &Client,
    stream: &StreamSettings,
    what: &str,
) -> anyhow::Result<Subscription> {
    client
        .add_subscription(&stream.channel, stream.stream_id, ADD_TIMEOUT)
        .with_context(|| format!("adding the {what} subscription"))
}
