//! The gateway's duty cycle: a TCP acceptor and its connections (non-blocking, read when epoll
//! says they are readable, no thread per session), each a FIX [`Session`] and an order [`Translator`], bridged to the
//! cluster's streams: commands out on ingress, events in from egress (with the consumers'
//! cursor: older terms and repeats dropped), acknowledgements out on acks. With a store
//! ([`StoreConfig`]) it survives its own restart: see [`crate::store`] and `persist.rs`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;

use protocol::{AccountId, Command, EgressCursor, Seq, SessionId};
use transport::{Inbound, Outbound, StreamError};

use crate::fix::Decoder;
use crate::orders::{Instrument, Translator};
use crate::session::{SentStore, SeqNums, Session, SessionConfig};
use crate::store::{Store, StoreError};

mod conn;
mod persist;
mod sockets;

use conn::{Conn, ReadBuf};
use sockets::{Ready, Sockets};
/// Commands waiting for the ingress stream per session; past this, the session's socket is
/// not read until they are out.
const PENDING_COMMANDS_MAX: usize = 256;
/// Commands sent and not answered yet, kept per session to send again to a new sequencer;
/// past this, the session's socket is not read until answers come.
const UNANSWERED_MAX: usize = 65_536;
/// Egress messages taken per duty cycle.
const EGRESS_POLL_MAX: usize = 256;

/// One configured FIX session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    pub fix: SessionConfig,
    /// The session id and account its commands carry.
    pub session: SessionId,
    pub account: AccountId,
    /// Application messages a second the session may send (0: no limit); past it they get a
    /// BusinessMessageReject and go nowhere.
    pub throttle_per_second: u32,
    /// When a logged-on connection drops, cancel every open order of the session.
    pub cancel_on_disconnect: bool,
}

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub sessions: Vec<SessionEntry>,
    pub instruments: Vec<Instrument>,
    pub connections_max: usize,
    pub orders_max: usize,
    /// Bytes queued for one client before it is dropped as not reading.
    pub send_buffer_max: usize,
    /// The consumer id this gateway acknowledges egress under.
    pub consumer: u32,
    /// Where the sessions' state is kept across restarts (none: in memory only).
    pub store: Option<StoreConfig>,
}

/// The gateway's store file and its durability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub path: PathBuf,
    /// fdatasync on every write: survives a machine crash, not only a process crash.
    pub sync: bool,
    /// Past this size the file is rewritten as the sessions' state alone (compaction).
    pub compact_bytes: u64,
}

/// Why the gateway could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("gateway: listening: {0}")]
    Listen(#[source] std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "gateway store {path}: session {session}: {reason}; move the file aside to start the sessions afresh"
    )]
    StoreState {
        path: std::path::PathBuf,
        session: u32,
        reason: String,
    },
    #[error("gateway: a cluster stream: {0}")]
    Stream(#[from] StreamError),
}

/// A configured session and what outlives its connections.
#[derive(Debug)]
struct Slot {
    entry: SessionEntry,
    translator: Translator,
    seq: SeqNums,
    connection: Option<usize>,
    pending: VecDeque<Command>,
    /// Commands sent to the sequencer with no answer yet, oldest first: sent again when the
    /// ingress stream reconnects (a sequencer restarted; the new one drops what it has).
    unanswered: VecDeque<Command>,
    throttle: Throttle,
    /// Application messages sent, for resend requests; lent to the session while connected.
    sent: Option<SentStore>,
    /// What the store has: the session's numbers and its last application message sent.
    stored: SeqNums,
    stored_out: u64,
}

/// A token bucket: `per_second` tokens a second, at most `per_second` saved up.
#[derive(Debug, Clone, Copy)]
struct Throttle {
    per_second: u32,
    /// Tokens, in billionths.
    nano_tokens: u64,
    last_ns: u64,
}

impl Throttle {
    fn new(per_second: u32) -> Self {
        Self {
            per_second,
            nano_tokens: u64::from(per_second) * 1_000_000_000,
            last_ns: 0,
        }
    }

    /// Takes a token at `now_ns`; `false` if there is none (always `true` without a limit).
    fn take(&mut self, now_ns: u64) -> bool {
        if self.per_second == 0 {
            return true;
        }
        let full = u64::from(self.per_second) * 1_000_000_000;
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = now_ns;
        let refill = elapsed.saturating_mul(u64::from(self.per_second));
        self.nano_tokens = self.nano_tokens.saturating_add(refill).min(full);
        if self.nano_tokens < 1_000_000_000 {
            return false;
        }
        self.nano_tokens -= 1_000_000_000;
        true
    }
}

/// A connection and, once it logged on, its session.
#[derive(Debug)]
struct Client {
    conn: Conn,
    slot: Option<usize>,
    fix: Option<Session>,
    /// Bytes read before the Logon told which session this is.
    early: Vec<u8>,
}

/// Counters for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct GatewayStats {
    pub accepted: u64,
    pub commands: u64,
    pub reports: u64,
    /// Times the store was rewritten as the sessions' state alone.
    pub compactions: u64,
    /// Gaps found in egress (see [`protocol::EgressCursor::skips`]): events lost between the
    /// primary and here. Each is repaired: the gateway takes nothing more and asks the primary
    /// for the events after its last complete command again, as after a restart.
    pub egress_gaps: u64,
    /// Gaps a replay could not fill, found right after the primary's answer (it no longer had
    /// the events: its buffer overflowed, see `engine.buffer_events_max`). Those events'
    /// reports were never sent; the gateway goes on rather than asking again.
    pub egress_lost: u64,
}

/// The gateway's requests for egress again, after a restart or a gap.
#[derive(Debug, Default)]
struct Replay {
    /// Waiting for the primary's answer: (the point asked from, when the request last went
    /// out). Nothing is taken meanwhile, so nothing newer gets ahead of what was lost.
    waiting: Option<(Seq, Option<u64>)>,
    /// The primary answered, and no event was taken since: a gap now means that the events
    /// are gone from its buffer, and asking again would only loop.
    answered: bool,
}

/// The gateway: see the module documentation.
#[derive(Debug)]
pub struct Gateway<I, O, A> {
    config: GatewayConfig,
    sockets: Sockets,
    /// Scratch: what the sockets' poll found in a duty cycle.
    ready: Ready,
    slots: Vec<Slot>,
    clients: BTreeMap<usize, Client>,
    next_client: usize,
    /// Scratch: the clients served in a duty cycle.
    client_ids: Vec<usize>,
    ingress: O,
    egress: I,
    acks: A,
    cursor: EgressCursor,
    acked: Seq,
    /// Re-reads the application messages the sessions deliver (one field table, reused).
    decoder: Decoder,
    read_buf: Box<ReadBuf>,
    stats: GatewayStats,
    store: Option<Store>,
    stored_cursor: EgressCursor,
    /// The store's size that triggers its next compaction.
    compact_at: u64,
    /// Replay requests to the primary, after a restart or a gap in egress.
    replay: Replay,
    /// Scratch for the events of one egress poll (kept: a poll's worth is 40 KB).
    egress_events: Vec<protocol::EgressEvent>,
    recovered: Option<crate::store::Recovered>,
    /// Whether the ingress stream had a subscriber at the last duty cycle.
    ingress_connected: bool,
}

impl<I: Inbound, O: Outbound, A: Outbound> Gateway<I, O, A> {
    /// Binds the listener and recovers the store; `streams` are (egress in, ingress out,
    /// acks out).
    pub fn bind(config: GatewayConfig, streams: (I, O, A)) -> Result<Self, GatewayError> {
        let sockets = Sockets::bind(config.listen).map_err(GatewayError::Listen)?;
        let slots = config
            .sessions
            .iter()
            .map(|entry| Slot {
                translator: Translator::new(
                    entry.session,
                    entry.account,
                    &config.instruments,
                    1,
                    config.orders_max,
                ),
                entry: entry.clone(),
                seq: SeqNums {
                    next_in: 1,
                    next_out: 1,
                },
                connection: None,
                pending: VecDeque::new(),
                unanswered: VecDeque::new(),
                throttle: Throttle::new(entry.throttle_per_second),
                sent: Some(SentStore::new(entry.fix.sent_kept_max)),
                stored: SeqNums {
                    next_in: 1,
                    next_out: 1,
                },
                stored_out: 0,
            })
            .collect();
        let (egress, ingress, acks) = streams;
        let mut gateway = Self {
            config,
            sockets,
            ready: Ready::default(),
            slots,
            clients: BTreeMap::new(),
            next_client: 0,
            client_ids: Vec::new(),
            ingress,
            egress,
            acks,
            cursor: EgressCursor::default(),
            acked: Seq(0),
            decoder: Decoder::new(),
            read_buf: Box::new([0; 16 * 1024]),
            stats: GatewayStats::default(),
            store: None,
            stored_cursor: EgressCursor::default(),
            compact_at: u64::MAX,
            replay: Replay::default(),
            egress_events: Vec::with_capacity(EGRESS_POLL_MAX),
            recovered: None,
            ingress_connected: false,
        };
        gateway.recover()?;
        Ok(gateway)
    }

    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.sockets.local_addr()
    }

    #[must_use]
    pub fn stats(&self) -> GatewayStats {
        self.stats
    }

    /// One duty cycle at `now_ns`; returns the work done. What it recorded is written to the
    /// store before anything leaves: FIX bytes, commands, acknowledgements.
    pub fn do_work(&mut self, now_ns: u64) -> Result<usize, GatewayError> {
        let mut work = 0;
        self.sockets.poll(&mut self.ready);
        for &id in &self.ready.readable {
            if let Some(client) = self.clients.get_mut(&id) {
                client.conn.mark_readable();
            }
        }
        if self.ready.accept {
            work += self.accept();
        }
        let mut ids = std::mem::take(&mut self.client_ids);
        ids.clear();
        ids.extend(self.clients.keys().copied());
        for &id in &ids {
            work += self.serve(id, now_ns);
        }
        self.client_ids = ids;
        work += self.request_replay(now_ns)?;
        work += self.take_egress(now_ns)?;
        self.commit()?;
        self.acknowledge()?;
        self.resend_unanswered();
        work += self.send_pending()?;
        for client in self.clients.values_mut() {
            work += client.conn.flush();
            if client.conn.shutting && !client.conn.closed {
                client.conn.shut();
            }
        }
        self.reap();
        Ok(work)
    }

    fn accept(&mut self) -> usize {
        let mut work = 0;
        while let Some(stream) = self.sockets.accept(self.next_client) {
            work += 1;
            if self.clients.len() >= self.config.connections_max {
                self.sockets.forget(&stream);
                drop(stream); // over the limit: closed at once
                continue;
            }
            let Ok(conn) = Conn::new(stream, self.config.send_buffer_max) else {
                continue;
            };
            self.stats.accepted += 1;
            self.clients.insert(
                self.next_client,
                Client {
                    conn,
                    slot: None,
                    fix: None,
                    early: Vec::new(),
                },
            );
            self.next_client += 1;
        }
        work
    }
}

mod serve;
