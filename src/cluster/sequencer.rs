//! `lockstep sequencer`: the sequencer agent over Aeron, journal first, until a signal.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use liveness::{LinkChange, LivenessListener};
use sequencer::{SequencerAgent, SequencerConfig};
use transport::{IdleStrategy as _, SystemClock};

use super::config::{ClusterConfig, Override, nanos};
use super::streams::RoleChangeLog;
use super::{CommonArgs, connect, init_tracing, publication, stop_on_signals, subscription};

/// How long a stopping sequencer tries to publish what it journaled.
const STOP_PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// `lockstep sequencer`.
#[derive(Debug, Args)]
pub(crate) struct SequencerArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// aeron.embedded_driver: launch a media driver inside this process.
    #[arg(long)]
    embedded_driver: Option<bool>,
    /// journal.durability: none | group | every.
    #[arg(long)]
    durability: Option<String>,
}

pub(crate) fn run(args: &SequencerArgs) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    if let Some(on) = args.embedded_driver {
        extra.push(Override {
            key: "aeron.embedded_driver",
            flag: "embedded-driver",
            value: toml::Value::Boolean(on),
        });
    }
    if let Some(durability) = &args.durability {
        extra.push(Override {
            key: "journal.durability",
            flag: "durability",
            value: toml::Value::String(durability.clone()),
        });
    }
    let config = args.common.load(extra)?;
    init_tracing(config.log_level);
    let stop = stop_on_signals()?;
    let driver = if config.embedded_driver {
        Some(super::driver::launch(&config)?)
    } else {
        None
    };
    let result = serve(&config, &stop);
    if let Some(driver) = driver {
        driver.close().context("closing the media driver")?;
    }
    result
}

/// A replica linked or lost its link: the core fails over a dead primary at its next tick.
fn on_link_change<C, I, S, P>(agent: &mut SequencerAgent<C, I, S, P>, change: LinkChange)
where
    C: transport::Clock,
    I: transport::Inbound,
    S: transport::Inbound,
    P: transport::Outbound,
{
    let (node, up) = (change.node.0, change.up);
    match agent.on_replica_link(change.node, change.up) {
        Ok(()) if up => tracing::info!(node, "liveness link up"),
        Ok(()) => tracing::warn!(node, "liveness link closed: the engine is taken for dead"),
        Err(e) => tracing::warn!(node, error = %e, "liveness link refused"),
    }
}

/// Ingress refusals (a malformed command, a request id gap, a full session table) get no answer
/// on any stream: the log says why, at most once per `REFUSAL_LOG_INTERVAL`, with the count.
#[derive(Debug, Default)]
struct RefusalLog {
    /// When the last line was written, and the refusal count it covered.
    logged: Option<(Instant, u64)>,
    /// The latest refusal not yet logged.
    pending: Option<sequencer::IngressError>,
}

const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(1);

impl RefusalLog {
    fn log<C, I, S, P>(&mut self, agent: &mut SequencerAgent<C, I, S, P>, now: Instant)
    where
        C: transport::Clock,
        I: transport::Inbound,
        S: transport::Inbound,
        P: transport::Outbound,
    {
        if let Some((refused, why)) = self.line(agent.take_refusal(), agent.stats().refused, now) {
            tracing::warn!(refused, reason = %why, "ingress refused (no answer is sent)");
        }
    }

    /// The line due now, if any: refusals since the last line, and the latest reason.
    fn line(
        &mut self,
        refusal: Option<sequencer::IngressError>,
        total: u64,
        now: Instant,
    ) -> Option<(u64, sequencer::IngressError)> {
        if refusal.is_some() {
            self.pending = refusal;
        }
        let (last_at, last_total) = self.logged.unwrap_or((now, 0));
        let due = self.logged.is_none() || now.duration_since(last_at) >= REFUSAL_LOG_INTERVAL;
        if !due {
            return None;
        }
        let why = self.pending.take()?;
        self.logged = Some((now, total));
        Some((total - last_total, why))
    }
}

/// Runs the agent until `stop`; the client and its streams close before the driver does.
fn serve(config: &ClusterConfig, stop: &transport::StopFlag) -> anyhow::Result<()> {
    let client = connect(config, "lockstep-sequencer")?;
    let streams = &config.streams;
    let ingress = subscription(&client, &streams.ingress, "ingress")?;
    let status = subscription(&client, &streams.status, "status")?;
    let sequenced = publication(&client, &streams.sequenced, "sequenced")?;
    // Bound first: a port in use stops the sequencer before it touches the journal.
    let mut links = config
        .liveness
        .map(|address| {
            LivenessListener::bind(address, &config.replicas).with_context(|| {
                format!("listening for liveness links on {address} (sequencer.liveness)")
            })
        })
        .transpose()?;
    let core_config = SequencerConfig {
        timer_interval_ns: nanos(config.timer_interval),
        snapshot_interval: config.snapshot_interval,
        replica_timeout_ns: nanos(config.replica_timeout),
        start_grace_ns: nanos(config.start_grace),
        replicas: config.replicas.clone(),
        ..SequencerConfig::default()
    };
    let mut agent = SequencerAgent::open(
        &config.journal_dir,
        config.journal,
        core_config,
        config.republish,
        SystemClock,
        (ingress, status, RoleChangeLog::new(sequenced)),
    )
    .with_context(|| format!("opening the journal in {}", config.journal_dir.display()))?;
    let roles = agent.core().roles();
    tracing::info!(
        next_seq = agent.core().next_seq().0,
        term = roles.map_or(0, |r| r.term.0),
        primary = roles.map_or(0, |r| r.primary.0),
        journal = %config.journal_dir.display(),
        "sequencer running"
    );
    let mut idle = config.idle.build();
    let mut refusals = RefusalLog::default();
    while !stop.is_stopped() {
        let mut work = agent.do_work().context("sequencer duty cycle")?;
        if let Some(links) = &mut links {
            work += links.poll(|change| on_link_change(&mut agent, change));
        }
        refusals.log(&mut agent, Instant::now());
        idle.idle(work);
    }
    // Publish what is journaled, so engines stop level with the journal (bounded: a stalled
    // stream must not keep a stopping sequencer alive).
    let deadline = Instant::now() + STOP_PUBLISH_TIMEOUT;
    while !agent
        .publish_journaled()
        .context("publishing the journal's tail")?
    {
        if Instant::now() >= deadline {
            tracing::warn!(
                "stopping with journaled records unpublished: engines get them after a restart"
            );
            break;
        }
        idle.idle(0);
    }
    let (stats, next_seq) = (agent.stats(), agent.core().next_seq().0);
    agent.close().context("closing the journal")?;
    tracing::info!(
        next_seq,
        sequenced = stats.sequenced,
        duplicates = stats.duplicates,
        refused = stats.refused,
        published = stats.published,
        "sequencer stopped; journal closed"
    );
    drop(client);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sequencer::IngressError;

    /// The first refusal is logged at once; later ones wait for the interval and are counted.
    #[test]
    fn refusals_are_logged_with_their_reason_at_most_once_an_interval() {
        let mut log = RefusalLog::default();
        let t0 = Instant::now();
        let gap = |got| IngressError::RequestGap {
            session: 3,
            expected: 5,
            got,
        };
        assert_eq!(log.line(None, 0, t0), None);
        assert_eq!(log.line(Some(gap(7)), 1, t0), Some((1, gap(7))));
        let soon = t0 + REFUSAL_LOG_INTERVAL / 2;
        assert_eq!(log.line(Some(gap(8)), 2, soon), None);
        assert_eq!(log.line(Some(IngressError::SessionsFull(4)), 3, soon), None);
        let later = t0 + REFUSAL_LOG_INTERVAL;
        assert_eq!(
            log.line(None, 3, later),
            Some((2, IngressError::SessionsFull(4)))
        );
        // Nothing new: nothing to say, however long it has been.
        assert_eq!(log.line(None, 3, later + REFUSAL_LOG_INTERVAL * 5), None);
        assert_eq!(
            log.line(Some(gap(9)), 4, later + REFUSAL_LOG_INTERVAL * 6),
            Some((1, gap(9)))
        );
    }
}
