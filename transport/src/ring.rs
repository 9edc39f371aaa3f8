//! An Aeron IPC ring: the raw-transport baseline the benchmarks compare against. Node 0 stamps
//! a message, relays `1..hops` forward it from link to link (each on its own thread and
//! client), and node 0 times the round trip when it comes back. `hops = 2` is classic
//! ping-pong (A->B->A); `hops = 3` is A->B->C->A, the cluster's client -> sequencer -> engine
//! -> client path with nothing done at each stop.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::{
    Agent, AgentRunner, Channel, Client, ClientConfig, Idle, IdleConfig, IdleStrategy as _,
    Publication, StopFlag, StreamId, Subscription,
};

/// Bytes of each message (the first 8 are the send time).
pub const RING_MESSAGE_LENGTH: usize = 32;
const SETUP_TIMEOUT: Duration = Duration::from_secs(10);
const ROUND_TRIP_TIMEOUT: Duration = Duration::from_secs(5);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a ring run failed.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("a ring needs at least 2 hops, not {0}")]
    TooFewHops(usize),
    #[error("setting the ring up: {0}")]
    Setup(BoxError),
    #[error("a message was lost in the ring")]
    Lost,
}

impl RingError {
    fn setup(e: impl Into<BoxError>) -> Self {
        Self::Setup(e.into())
    }
}

/// The shape of a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    pub hops: usize,
    /// Every node's idle strategy (node 0's included).
    pub idle: IdleConfig,
    /// Link `k` (node `k` to node `k + 1`) is stream `first_stream + k`.
    pub first_stream: i32,
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
            // One message is in flight, so the ring never pushes back for long; retrying here
            // keeps the relay from dropping it.
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

fn link(config: &RingConfig, k: usize) -> Result<StreamId, RingError> {
    let k = i32::try_from(k).map_err(RingError::setup)?;
    Ok(StreamId(config.first_stream + k))
}

fn start_relay(
    dir: &Path,
    node: usize,
    config: RingConfig,
    stop: &StopFlag,
) -> Result<AgentRunner, RingError> {
    let name = format!("relay-{node}");
    let (inbound, outbound) = (link(&config, node - 1)?, link(&config, node % config.hops)?);
    let dir = dir.to_owned();
    AgentRunner::start(&name.clone(), config.idle, stop, move || {
        let client = Client::connect(&dir, &ClientConfig::default())?;
        let inbound = client.add_subscription(&Channel::ipc(), inbound, SETUP_TIMEOUT)?;
        let outbound = client.add_publication(&Channel::ipc(), outbound, SETUP_TIMEOUT)?;
        Ok::<_, BoxError>(Relay {
            name,
            inbound,
            outbound,
            pending: Vec::with_capacity(RING_MESSAGE_LENGTH),
            _client: client,
        })
    })
    .map_err(RingError::setup)
}

/// Node 0: stamps, sends and times round trips.
struct Pinger {
    outbound: Publication,
    inbound: Subscription,
    epoch: Instant,
    idle: Idle,
}

impl Pinger {
    fn round_trip(&mut self) -> Result<u64, RingError> {
        let mut message = [0u8; RING_MESSAGE_LENGTH];
        loop {
            // Stamp each attempt, so time spent back-pressured is not counted as a round trip.
            let sent_ns = self.now_ns();
            message[..8].copy_from_slice(&sent_ns.to_le_bytes());
            if self
                .outbound
                .offer(&message)
                .map_err(RingError::setup)?
                .is_published()
            {
                break;
            }
            self.idle.idle(0);
        }
        let deadline = Instant::now() + ROUND_TRIP_TIMEOUT;
        let epoch = self.epoch;
        let mut rtt = None;
        while rtt.is_none() {
            let fragments = self
                .inbound
                .poll(
                    |reply| {
                        let sent = u64::from_le_bytes(reply[..8].try_into().expect("8 bytes"));
                        let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
                        rtt = Some(now.saturating_sub(sent).max(1));
                    },
                    1,
                )
                .map_err(RingError::setup)?;
            self.idle.idle(fragments);
            if rtt.is_none() && Instant::now() > deadline {
                return Err(RingError::Lost);
            }
        }
        Ok(rtt.unwrap_or(1))
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Runs a ring on the driver in `dir`: `warmup` round trips, then `messages` more, each one's
/// time in nanoseconds handed to `record`.
pub fn run_ring(
    dir: &Path,
    config: RingConfig,
    warmup: u64,
    messages: u64,
    mut record: impl FnMut(u64),
) -> Result<(), RingError> {
    if config.hops < 2 {
        return Err(RingError::TooFewHops(config.hops));
    }
    let stop = StopFlag::new();
    let relays = (1..config.hops)
        .map(|node| start_relay(dir, node, config, &stop))
        .collect::<Result<Vec<_>, _>>()?;
    let client = Client::connect(dir, &ClientConfig::default()).map_err(RingError::setup)?;
    let ipc = Channel::ipc();
    let mut pinger = Pinger {
        outbound: client
            .add_publication(&ipc, link(&config, 0)?, SETUP_TIMEOUT)
            .map_err(RingError::setup)?,
        inbound: client
            .add_subscription(&ipc, link(&config, config.hops - 1)?, SETUP_TIMEOUT)
            .map_err(RingError::setup)?,
        epoch: Instant::now(),
        idle: config.idle.build(),
    };
    pinger
        .outbound
        .wait_connected(SETUP_TIMEOUT)
        .map_err(RingError::setup)?;
    pinger
        .inbound
        .wait_for_image(SETUP_TIMEOUT)
        .map_err(RingError::setup)?;
    for _ in 0..warmup {
        pinger.round_trip()?;
    }
    for _ in 0..messages {
        record(pinger.round_trip()?);
    }
    stop.stop();
    for relay in relays {
        relay.close().map_err(RingError::setup)?;
    }
    Ok(())
}
