//! `lockstep gateway`: the FIX 4.4 acceptor over the cluster's Aeron streams, until a signal.
//! Its settings are the `[gateway]` section of the cluster configuration.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::Args;
use gateway::orders::Instrument;
use gateway::server::{Gateway, GatewayConfig, SessionEntry, StoreConfig};
use gateway::session::SessionConfig;
use protocol::{AccountId, InstrumentId, SessionId};
use serde::Deserialize;
use transport::{Clock as _, IdleStrategy as _, SystemClock};

use super::config::{ClusterConfig, Override};
use super::{CommonArgs, connect, init_tracing, publication, stop_on_signals, subscription};

/// The smallest `store_compact_bytes`: below it the store would be rewritten all the time.
const STORE_COMPACT_BYTES_MIN: u64 = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    listen: String,
    connections_max: usize,
    orders_max: usize,
    send_buffer_bytes_max: usize,
    consumer: u32,
    store: String,
    store_sync: bool,
    store_compact_bytes: u64,
    sessions: Vec<RawSession>,
    instruments: Vec<RawInstrument>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSession {
    sender_comp_id: String,
    target_comp_id: String,
    session: u32,
    account: u32,
    username: String,
    password: String,
    /// Application messages a second (0: no limit).
    #[serde(default)]
    throttle_per_second: u32,
    #[serde(default)]
    cancel_on_disconnect: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInstrument {
    symbol: String,
    id: u32,
    price_decimals: u32,
}

/// The validated `[gateway]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GatewaySettings {
    listen: SocketAddr,
    sessions: Vec<SessionEntry>,
    instruments: Vec<Instrument>,
    connections_max: usize,
    orders_max: usize,
    send_buffer_max: usize,
    consumer: u32,
    store: StoreConfig,
}

pub(crate) fn validate(raw: RawGateway) -> Result<GatewaySettings, (String, String)> {
    let listen = raw
        .listen
        .parse()
        .map_err(|e| ("gateway.listen".to_owned(), format!("not an address: {e}")))?;
    let mut seen = std::collections::BTreeSet::new();
    for s in &raw.sessions {
        if s.session == 0 || !seen.insert(s.session) || s.sender_comp_id.is_empty() {
            let reason = format!(
                "session {} of {:?}: ids must be unique and not 0, CompIDs set",
                s.session, s.sender_comp_id
            );
            return Err(("gateway.sessions".to_owned(), reason));
        }
    }
    let decimals = gateway::orders::decimal::PRICE_DECIMALS_MAX;
    if let Some(bad) = raw
        .instruments
        .iter()
        .find(|i| i.price_decimals > decimals || i.symbol.is_empty())
    {
        let reason = format!(
            "{:?}: a symbol and price_decimals 0..={decimals}",
            bad.symbol
        );
        return Err(("gateway.instruments".to_owned(), reason));
    }
    if raw.connections_max == 0 || raw.orders_max == 0 || raw.send_buffer_bytes_max < 64 * 1024 {
        let reason =
            "connections_max and orders_max at least 1, send_buffer_bytes_max at least 64 KiB";
        return Err(("gateway".to_owned(), reason.to_owned()));
    }
    if raw.store.is_empty() {
        let reason = "a file path for the gateway's store".to_owned();
        return Err(("gateway.store".to_owned(), reason));
    }
    if raw.store_compact_bytes < STORE_COMPACT_BYTES_MIN {
        let reason = format!("at least {STORE_COMPACT_BYTES_MIN} bytes");
        return Err(("gateway.store_compact_bytes".to_owned(), reason));
    }
    Ok(GatewaySettings {
        store: StoreConfig {
            path: raw.store.into(),
            sync: raw.store_sync,
            compact_bytes: raw.store_compact_bytes,
        },
        listen,
        sessions: raw.sessions.into_iter().map(session_entry).collect(),
        instruments: raw
            .instruments
            .into_iter()
            .map(|i| Instrument {
                symbol: i.symbol.into_bytes(),
                id: InstrumentId(i.id),
                price_decimals: i.price_decimals,
            })
            .collect(),
        connections_max: raw.connections_max,
        orders_max: raw.orders_max,
        send_buffer_max: raw.send_buffer_bytes_max,
        consumer: raw.consumer,
    })
}

fn session_entry(s: RawSession) -> SessionEntry {
    let credentials =
        (!s.username.is_empty()).then(|| (s.username.into_bytes(), s.password.into_bytes()));
    SessionEntry {
        fix: SessionConfig {
            credentials,
            ..SessionConfig::new(s.target_comp_id.as_bytes(), s.sender_comp_id.as_bytes())
        },
        session: SessionId(s.session),
        account: AccountId(s.account),
        throttle_per_second: s.throttle_per_second,
        cancel_on_disconnect: s.cancel_on_disconnect,
    }
}

impl GatewaySettings {
    fn gateway_config(&self) -> GatewayConfig {
        let sessions = self.sessions.clone();
        GatewayConfig {
            listen: self.listen,
            sessions,
            instruments: self.instruments.clone(),
            connections_max: self.connections_max,
            orders_max: self.orders_max,
            send_buffer_max: self.send_buffer_max,
            consumer: self.consumer,
            store: Some(self.store.clone()),
        }
    }
}

/// `lockstep gateway`.
#[derive(Debug, Args)]
pub(crate) struct GatewayArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// gateway.listen: the address FIX clients connect to.
    #[arg(long)]
    listen: Option<String>,
}

pub(crate) fn run(args: &GatewayArgs) -> anyhow::Result<()> {
    let mut extra = Vec::new();
    if let Some(listen) = &args.listen {
        extra.push(Override {
            key: "gateway.listen",
            flag: "listen",
            value: toml::Value::String(listen.clone()),
        });
    }
    let config = args.common.load(extra)?;
    init_tracing(config.log_level);
    let stop = stop_on_signals()?;
    serve(&config, &stop)
}

fn serve(config: &ClusterConfig, stop: &transport::StopFlag) -> anyhow::Result<()> {
    let client = connect(config, "lockstep-gateway")?;
    let s = &config.streams;
    let streams = (
        subscription(&client, &s.egress, "egress")?,
        publication(&client, &s.ingress, "ingress")?,
        publication(&client, &s.acks, "acks")?,
    );
    let gateway_config = config.gateway.gateway_config();
    let sessions = gateway_config.sessions.len();
    if let Some(parent) = config.gateway.store.path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut gateway = Gateway::bind(gateway_config, streams)
        .with_context(|| format!("starting the gateway on {}", config.gateway.listen))?;
    let found = gateway.recovered().unwrap_or_default();
    tracing::info!(
        listen = %gateway.local_addr()?,
        sessions,
        store = %config.gateway.store.path.display(),
        records = found.records,
        truncated_bytes = found.truncated_bytes,
        "gateway running"
    );
    let mut idle = config.idle.build();
    let (mut gaps, mut lost) = (0, 0);
    while !stop.is_stopped() {
        let work = gateway
            .do_work(SystemClock.now_ns())
            .context("gateway duty cycle")?;
        let stats = gateway.stats();
        if stats.egress_gaps != gaps {
            gaps = stats.egress_gaps;
            tracing::warn!(
                egress_gaps = gaps,
                "egress events were lost before the gateway: asking the primary for them again"
            );
        }
        if stats.egress_lost != lost {
            lost = stats.egress_lost;
            tracing::error!(
                egress_lost = lost,
                "egress events were lost and the primary no longer had them: their reports \
                 were not sent (clients can recover them with OrderStatusRequest)"
            );
        }
        idle.idle(work);
    }
    // A clean stop leaves the store as the sessions' state alone: the next start reads no
    // history.
    gateway
        .compact_store()
        .context("compacting the gateway store")?;
    let stats = gateway.stats();
    tracing::info!(
        accepted = stats.accepted,
        commands = stats.commands,
        reports = stats.reports,
        compactions = stats.compactions,
        egress_gaps = stats.egress_gaps,
        egress_lost = stats.egress_lost,
        "gateway stopped"
    );
    drop(gateway);
    drop(client);
    Ok(())
}
