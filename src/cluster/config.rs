//! Cluster configuration: embedded TOML defaults (`defaults.toml`), a file merged over them key
//! by key, then command-line overrides. Every problem is reported with where it came from, the
//! key and the reason; nothing here panics on outside input.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use protocol::NodeId;
use serde::Deserialize;
use transport::{Channel, IdleConfig, StreamId};

/// The embedded defaults, printed by `lockstep config`.
pub(crate) const DEFAULTS: &str = include_str!("defaults.toml");

/// A configuration problem: where (a file, the defaults, or a command-line flag), which key, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigError {
    pub(crate) origin: String,
    pub(crate) key: Option<String>,
    pub(crate) reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "config {}: key `{key}`: {}", self.origin, self.reason),
            None => write!(f, "config {}: {}", self.origin, self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}

/// One stream: a channel and a stream id on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamSettings {
    pub(crate) channel: Channel,
    pub(crate) stream_id: StreamId,
}

/// The five streams of a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Streams {
    pub(crate) ingress: StreamSettings,
    pub(crate) sequenced: StreamSettings,
    pub(crate) status: StreamSettings,
    pub(crate) egress: StreamSettings,
    pub(crate) acks: StreamSettings,
}

/// The whole, validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClusterConfig {
    pub(crate) aeron_dir: PathBuf,
    pub(crate) embedded_driver: bool,
    pub(crate) driver_timeout: Duration,
    pub(crate) client_liveness_timeout: Duration,
    pub(crate) driver_timer_interval: Duration,
    pub(crate) streams: Streams,
    pub(crate) journal_dir: PathBuf,
    pub(crate) journal: journal::Config,
    pub(crate) replicas: Vec<NodeId>,
    pub(crate) replica_timeout: Duration,
    /// Where the sequencer takes the engines' liveness links (`None`: no links).
    pub(crate) liveness: Option<std::net::SocketAddr>,
    pub(crate) start_grace: Duration,
    pub(crate) timer_interval: Duration,
    pub(crate) republish: u64,
    pub(crate) snapshot_interval: u64,
    pub(crate) hash_interval: u64,
    pub(crate) heartbeat_interval: Duration,
    /// With `{node}` still in it: see [`ClusterConfig::snapshots_dir`].
    snapshots_dir: String,
    pub(crate) journal_catch_up: bool,
    pub(crate) idle: IdleConfig,
    pub(crate) log_level: tracing::Level,
    pub(crate) gateway: super::gateway::GatewaySettings,
}

impl ClusterConfig {
    /// The snapshot directory of engine `node`.
    pub(crate) fn snapshots_dir(&self, node: NodeId) -> PathBuf {
        PathBuf::from(self.snapshots_dir.replace("{node}", &node.0.to_string()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    aeron: RawAeron,
    streams: RawStreams,
    journal: RawJournal,
    sequencer: RawSequencer,
    engine: RawEngine,
    run: RawRun,
    gateway: super::gateway::RawGateway,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAeron {
    dir: PathBuf,
    embedded_driver: bool,
    driver_timeout: String,
    client_liveness_timeout: String,
    timer_interval: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    channel: String,
    stream_id: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStreams {
    ingress: RawStream,
    sequenced: RawStream,
    status: RawStream,
    egress: RawStream,
    acks: RawStream,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJournal {
    dir: PathBuf,
    durability: String,
    group_records_max: u32,
    group_delay: String,
    segment_size_bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSequencer {
    replicas: Vec<u32>,
    replica_timeout: String,
    liveness: String,
    start_grace: String,
    timer_interval: String,
    snapshot_interval: u64,
    republish: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEngine {
    hash_interval: u64,
    heartbeat_interval: String,
    snapshots_dir: String,
    journal_catch_up: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    idle: String,
    log_level: String,
}

/// A command-line override: the dotted key it sets, the flag's name, and the value.
#[derive(Debug, Clone)]
pub(crate) struct Override {
    pub(crate) key: &'static str,
    pub(crate) flag: &'static str,
    pub(crate) value: toml::Value,
}

/// Loads the defaults, merges `file` over them, applies `overrides`, and validates the result.
pub(crate) fn load(
    file: Option<&Path>,
    overrides: &[Override],
) -> Result<ClusterConfig, ConfigError> {
    let defaults: toml::Table = toml::from_str(DEFAULTS).map_err(|e| ConfigError {
        origin: "defaults".into(),
        key: None,
        reason: e.to_string(),
    })?;
    let mut merged = defaults.clone();
    let mut origin = "defaults".to_owned();
    if let Some(path) = file {
        origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            origin: origin.clone(),
            key: None,
            reason: format!("cannot read: {e}"),
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| ConfigError {
            origin: origin.clone(),
            key: None,
            reason: e.to_string().trim_end().to_owned(),
        })?;
        check_shape(&table, &defaults, "", &origin)?;
        merge(&mut merged, table);
    }
    for o in overrides {
        let flag = format!("flag --{}", o.flag);
        set_key(&mut merged, o.key, o.value.clone(), &defaults, &flag)?;
    }
    let raw = Raw::deserialize(toml::Value::Table(merged)).map_err(|e| ConfigError {
        origin: origin.clone(),
        key: None,
        reason: e.to_string().trim_end().to_owned(),
    })?;
    validate(raw, &origin)
}

/// Every key of `table` must exist in `defaults` with a value of the same type.
fn check_shape(
    table: &toml::Table,
    defaults: &toml::Table,
    prefix: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let error = |reason: String| ConfigError {
            origin: origin.to_owned(),
            key: Some(key.clone()),
            reason,
        };
        let Some(expected) = defaults.get(name) else {
            return Err(error("unknown key".into()));
        };
        if expected.type_str() != value.type_str() {
            let reason = format!(
                "expected {}, found {}",
                expected.type_str(),
                value.type_str()
            );
            return Err(error(reason));
        }
        if let (toml::Value::Table(inner), toml::Value::Table(expected)) = (value, expected) {
            check_shape(inner, expected, &key, origin)?;
        }
    }
    Ok(())
}

/// Merges `over` into `base`, table by table.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (name, value) in over {
        match (base.get_mut(&name), value) {
            (Some(toml::Value::Table(base)), toml::Value::Table(over)) => merge(base, over),
            (_, value) => {
                base.insert(name, value);
            }
        }
    }
}

fn set_key(
    merged: &mut toml::Table,
    key: &str,
    value: toml::Value,
    defaults: &toml::Table,
    origin: &str,
) -> Result<(), ConfigError> {
    let mut over = toml::Table::new();
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().expect("keys are not empty");
    let mut leaf = toml::Table::new();
    leaf.insert(last.to_owned(), value);
    let mut table = leaf;
    for part in parts.iter().rev() {
        let mut outer = toml::Table::new();
        outer.insert((*part).to_owned(), toml::Value::Table(table));
        table = outer;
    }
    over.extend(table);
    check_shape(&over, defaults, "", origin)?;
    merge(merged, over);
    Ok(())
}

fn validate(raw: Raw, origin: &str) -> Result<ClusterConfig, ConfigError> {
    let err = |key: &str, reason: String| ConfigError {
        origin: origin.to_owned(),
        key: Some(key.to_owned()),
        reason,
    };
    let duration = |key: &str, text: &str| parse_duration(text).map_err(|r| err(key, r));
    let replicas =
        validate_replicas(&raw.sequencer.replicas).map_err(|r| err("sequencer.replicas", r))?;
    let replica_timeout = duration("sequencer.replica_timeout", &raw.sequencer.replica_timeout)?;
    let heartbeat_interval = duration("engine.heartbeat_interval", &raw.engine.heartbeat_interval)?;
    let positive = |key: &str, text: &str| {
        let value = duration(key, text)?;
        if value.is_zero() {
            return Err(err(key, "must be positive".into()));
        }
        Ok(value)
    };
    let liveness = |text: &str| {
        let key = "aeron.client_liveness_timeout";
        let timeout = duration(key, text)?;
        if timeout < Duration::from_secs(2) {
            return Err(err(
                key,
                "must be at least 2s (four client keepalives)".into(),
            ));
        }
        Ok(timeout)
    };
    if replica_timeout.is_zero() {
        return Err(err("sequencer.replica_timeout", "must be positive".into()));
    }
    if heartbeat_interval.is_zero() || heartbeat_interval >= replica_timeout {
        let reason = "must be positive and shorter than sequencer.replica_timeout".into();
        return Err(err("engine.heartbeat_interval", reason));
    }
    if raw.engine.hash_interval == 0 {
        return Err(err("engine.hash_interval", "must be at least 1".into()));
    }
    Ok(ClusterConfig {
        aeron_dir: raw.aeron.dir,
        embedded_driver: raw.aeron.embedded_driver,
        driver_timeout: duration("aeron.driver_timeout", &raw.aeron.driver_timeout)?,
        client_liveness_timeout: liveness(&raw.aeron.client_liveness_timeout)?,
        driver_timer_interval: positive("aeron.timer_interval", &raw.aeron.timer_interval)?,
        streams: validate_streams(raw.streams).map_err(|(key, r)| err(&key, r))?,
        journal_dir: raw.journal.dir.clone(),
        journal: validate_journal(&raw.journal).map_err(|(key, r)| err(key, r))?,
        replicas,
        replica_timeout,
        liveness: validate_liveness(&raw.sequencer.liveness)
            .map_err(|r| err("sequencer.liveness", r))?,
        timer_interval: duration("sequencer.timer_interval", &raw.sequencer.timer_interval)?,
        republish: raw.sequencer.republish,
        start_grace: duration("sequencer.start_grace", &raw.sequencer.start_grace)?,
        snapshot_interval: raw.sequencer.snapshot_interval,
        hash_interval: raw.engine.hash_interval,
        heartbeat_interval,
        snapshots_dir: raw.engine.snapshots_dir,
        journal_catch_up: raw.engine.journal_catch_up,
        idle: IdleConfig::from_str(&raw.run.idle).map_err(|e| err("run.idle", e.to_string()))?,
        log_level: tracing::Level::from_str(&raw.run.log_level).map_err(|_| {
            err(
                "run.log_level",
                "expected error, warn, info, debug or trace".into(),
            )
        })?,
        gateway: super::gateway::validate(raw.gateway).map_err(|(key, r)| err(&key, r))?,
    })
}

fn validate_liveness(text: &str) -> Result<Option<std::net::SocketAddr>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let address: std::net::SocketAddr = text.parse().map_err(|_| {
        format!("{text:?}: expected an IP address and port, like 127.0.0.1:9879, or \"\"")
    })?;
    if address.port() == 0 {
        return Err(format!(
            "{text:?}: engines must know the port; 0 is not one"
        ));
    }
    Ok(Some(address))
}

fn validate_replicas(nodes: &[u32]) -> Result<Vec<NodeId>, String> {
    if !(1..=sequencer::REPLICAS_MAX).contains(&nodes.len()) {
        return Err(format!("name 1 to {} replicas", sequencer::REPLICAS_MAX));
    }
    for (i, &node) in nodes.iter().enumerate() {
        if node == 0 {
            return Err("node 0 is reserved (it means \"no backup\")".into());
        }
        if nodes[..i].contains(&node) {
            return Err(format!("node {node} is named twice"));
        }
    }
    Ok(nodes.iter().map(|&n| NodeId(n)).collect())
}

fn validate_streams(raw: RawStreams) -> Result<Streams, (String, String)> {
    let one = |name: &str, raw: RawStream| {
        let channel = Channel::from_str(&raw.channel)
            .map_err(|e| (format!("streams.{name}.channel"), e.to_string()))?;
        Ok::<_, (String, String)>(StreamSettings {
            channel,
            stream_id: StreamId(raw.stream_id),
        })
    };
    let streams = Streams {
        ingress: one("ingress", raw.ingress)?,
        sequenced: one("sequenced", raw.sequenced)?,
        status: one("status", raw.status)?,
        egress: one("egress", raw.egress)?,
        acks: one("acks", raw.acks)?,
    };
    let named = [
        ("ingress", &streams.ingress),
        ("sequenced", &streams.sequenced),
        ("status", &streams.status),
        ("egress", &streams.egress),
        ("acks", &streams.acks),
    ];
    for (i, (name, a)) in named.iter().enumerate() {
        if let Some((other, _)) = named[..i].iter().find(|(_, b)| *b == *a) {
            let reason = format!("same channel and stream id as streams.{other}");
            return Err((format!("streams.{name}.stream_id"), reason));
        }
    }
    Ok(streams)
}

fn validate_journal(raw: &RawJournal) -> Result<journal::Config, (&'static str, String)> {
    let durability = match raw.durability.as_str() {
        "none" => journal::Durability::None,
        "every" => journal::Durability::Every,
        "group" => {
            if raw.group_records_max == 0 {
                return Err(("journal.group_records_max", "must be at least 1".into()));
            }
            let delay = parse_duration(&raw.group_delay).map_err(|r| ("journal.group_delay", r))?;
            journal::Durability::Group {
                records_max: raw.group_records_max,
                delay_ns_max: u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX),
            }
        }
        other => {
            let reason = format!("{other:?}: expected none, group or every");
            return Err(("journal.durability", reason));
        }
    };
    let size = raw.segment_size_bytes;
    let range = journal::SEGMENT_SIZE_BYTES_MIN..=journal::SEGMENT_SIZE_BYTES_MAX;
    if !range.contains(&size) || !size.is_multiple_of(8) {
        let reason = format!("{size}: a multiple of 8 in {range:?} bytes");
        return Err(("journal.segment_size_bytes", reason));
    }
    Ok(journal::Config {
        segment_size_bytes: size,
        durability,
        ..journal::Config::default()
    })
}

/// `<integer><ns|us|ms|s>`, e.g. `500ms`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?}: expected <integer><ns|us|ms|s>, e.g. 500ms");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().map_err(|_| bad())?;
    match unit {
        "ns" => Ok(Duration::from_nanos(value)),
        "us" => Ok(Duration::from_micros(value)),
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        _ => Err(bad()),
    }
}

/// Nanoseconds, saturating (no configured duration comes near 584 years).
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<ClusterConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cluster.toml");
        std::fs::write(&path, text).unwrap();
        load(Some(&path), &[]).map_err(|mut e| {
            e.origin = "F".into();
            e
        })
    }

    fn key_of(text: &str) -> Option<String> {
        load_text(text).unwrap_err().key
    }

    #[test]
    fn the_defaults_load_and_validate() {
        let config = load(None, &[]).unwrap();
        assert!(config.embedded_driver);
        assert_eq!(config.idle, IdleConfig::Backoff);
        assert_eq!(config.replicas, vec![NodeId(1), NodeId(2)]);
        assert_eq!(config.streams.egress.stream_id, StreamId(1004));
        assert_eq!(config.liveness, Some("127.0.0.1:9879".parse().unwrap()));
        let off = load_text("[sequencer]\nliveness = \"\"\n").unwrap();
        assert_eq!(off.liveness, None);
        assert_eq!(
            config.snapshots_dir(NodeId(2)),
            PathBuf::from("lockstep-data/snapshots-2")
        );
    }

    #[test]
    fn a_file_overrides_only_the_keys_it_names() {
        let config = load_text("[journal]\ndurability = \"every\"\n").unwrap();
        assert_eq!(config.journal.durability, journal::Durability::Every);
        assert_eq!(config.streams.ingress.stream_id, StreamId(1001));
    }

    #[test]
    fn flags_override_the_file() {
        let o = Override {
            key: "run.idle",
            flag: "idle",
            value: toml::Value::String("yield".into()),
        };
        assert_eq!(load(None, &[o]).unwrap().idle, IdleConfig::Yield);
    }

    #[test]
    fn bad_configs_name_the_key_and_the_reason() {
        assert_eq!(
            key_of("[journal]\ndurabilty = \"none\"\n").as_deref(),
            Some("journal.durabilty")
        );
        assert_eq!(
            key_of("[journal]\ndurability = 3\n").as_deref(),
            Some("journal.durability")
        );
        assert_eq!(
            key_of("[journal]\ndurability = \"x\"\n").as_deref(),
            Some("journal.durability")
        );
        assert_eq!(
            key_of("[run]\nidle = \"spinny\"\n").as_deref(),
            Some("run.idle")
        );
        assert_eq!(
            key_of("[sequencer]\nreplicas = [1, 1]\n").as_deref(),
            Some("sequencer.replicas")
        );
        assert_eq!(
            key_of("[sequencer]\nreplica_timeout = \"soon\"\n").as_deref(),
            Some("sequencer.replica_timeout")
        );
        for bad in ["localhost:9879", "127.0.0.1", "127.0.0.1:0"] {
            assert_eq!(
                key_of(&format!("[sequencer]\nliveness = {bad:?}\n")).as_deref(),
                Some("sequencer.liveness"),
                "{bad}"
            );
        }
        assert_eq!(
            key_of("[streams.acks]\nstream_id = 1001\n").as_deref(),
            Some("streams.acks.stream_id")
        );
        assert_eq!(
            key_of("[streams.acks]\nchannel = \"tcp://x\"\n").as_deref(),
            Some("streams.acks.channel")
        );
        assert_eq!(
            key_of("[aeron]\nclient_liveness_timeout = \"500ms\"\n").as_deref(),
            Some("aeron.client_liveness_timeout")
        );
        assert_eq!(
            key_of("[gateway]\nstore_compact_bytes = 4096\n").as_deref(),
            Some("gateway.store_compact_bytes")
        );
        let syntax = load_text("[journal\n").unwrap_err();
        assert!(syntax.to_string().starts_with("config F: "), "{syntax}");
        let missing = load(Some(Path::new("/nonexistent/cluster.toml")), &[]).unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
    }
}
