//! Lockstep's transport: the only crate that touches Aeron (through rusteron 0.2.16, Aeron
//! 1.54's C client and media driver compiled in statically).
//!
//! - [`MediaDriver`]: an embedded media driver with small term buffers, shared threading and
//!   a back-off idle strategy by default; or connect to a standalone driver's directory.
//! - [`Client`], [`Publication`], [`Subscription`]: typed errors per operation, and
//!   back-pressure as an explicit [`OfferOutcome`] the caller must handle.
//! - [`Channel`]: channel URIs as configuration (IPC, UDP unicast, MDC, multicast).
//! - [`Agent`], [`AgentRunner`], [`AgentInvoker`] and the [`IdleStrategy`] family: duty
//!   cycles that report work done so idle threads back off (Aeron Cluster's vocabulary).
//! - [`run_ring`]: an IPC ring of relays, the raw baseline benchmarks compare against.
//!
//! Node logic (sequencer, engines) stays sans-IO; agents built on this crate feed it bytes
//! and time. Channels, term lengths, `/dev/shm` sizing and idle costs: `docs/transport.md`.

mod agent;
mod channel;
mod client;
mod driver;
mod idle;
mod io;
mod memory;
mod publication;
mod ring;
mod subscription;

pub use agent::{Agent, AgentInvoker, AgentRunner, RunnerError, StopFlag, run_on_current_thread};
pub use channel::{
    Channel, ChannelError, Media, StreamId, TERM_LENGTH_MAX, TERM_LENGTH_MIN, ephemeral_udp_port,
};
pub use client::{
    AddError, CLIENT_ERRORS_KEPT_MAX, Client, ClientConfig, ConnectError, PendingPublication,
    PendingSubscription,
};
pub use driver::{
    COUNTERS_BUFFER_LENGTH_DEFAULT, DriverConfig, DriverError, DriverThreading, MediaDriver,
    TERM_LENGTH_DEFAULT, unique_aeron_dir,
};
pub use idle::{
    Backoff, BackoffParams, BackoffPhase, BusySpin, Idle, IdleConfig, IdleParseError, IdleStrategy,
    Sleeping, Yielding,
};
pub use io::{Clock, Inbound, Outbound, StreamError, SystemClock};
pub use memory::{MemoryBus, MemoryQueue};
pub use publication::{
    DestinationError, OFFER_PARTS_MAX, OfferError, OfferOutcome, Publication, WaitError,
};
pub use ring::{RING_MESSAGE_LENGTH, RingConfig, RingError, run_ring};
pub use subscription::{MessageInfo, PollError, Subscription};
