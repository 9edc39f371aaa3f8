//! `lockstep driver`: a standalone media driver in `aeron.dir`, until a signal. Run it when the
//! sequencer must be restartable without taking every process's transport down with it.
//!
//! `aeron.client_liveness_timeout` says how long a killed process's publications and
//! subscriptions (which hold IPC publications back) outlive it. See docs/cluster.md.

use anyhow::Context as _;
use clap::Args;
use transport::{DriverConfig, IdleStrategy as _, MediaDriver};

use super::config::ClusterConfig;
use super::{CommonArgs, init_tracing, stop_on_signals};

/// `lockstep driver`.
#[derive(Debug, Args)]
pub(crate) struct DriverArgs {
    #[command(flatten)]
    common: CommonArgs,
}

pub(crate) fn run(args: &DriverArgs) -> anyhow::Result<()> {
    let config = args.common.load(Vec::new())?;
    init_tracing(config.log_level);
    let stop = stop_on_signals()?;
    let driver = launch(&config)?;
    // The driver runs on its own thread; this one only waits for the signal, idly.
    let mut idle = transport::IdleConfig::Sleep(std::time::Duration::from_millis(10)).build();
    while !stop.is_stopped() {
        idle.idle(0);
    }
    driver.close().context("closing the media driver")?;
    tracing::info!("media driver stopped");
    Ok(())
}

/// Launches a driver in `aeron.dir` with the transport's defaults (small terms, one shared
/// thread, back-off idling) and the configured client liveness timeout.
pub(crate) fn launch(config: &ClusterConfig) -> anyhow::Result<MediaDriver> {
    let dir = &config.aeron_dir;
    let config = DriverConfig {
        dir: Some(dir.clone()),
        client_liveness_timeout: Some(config.client_liveness_timeout),
        timer_interval: Some(config.driver_timer_interval),
        ..DriverConfig::default()
    };
    let driver = MediaDriver::launch(&config)
        .with_context(|| format!("launching the media driver in {}", dir.display()))?;
    tracing::info!(dir = %driver.dir().display(), "media driver running");
    Ok(driver)
}
