//! The FIX 4.4 session layer, acceptor side, as a sans-IO state machine: bytes and time in
//! ([`Session::on_bytes`], [`Session::on_tick`]), bytes to send, application messages to
//! deliver and a disconnect out ([`Session::poll_output`]). The gateway's event loop owns the
//! socket; this owns the protocol: Logon checked against the configured CompIDs and
//! credentials, MsgSeqNum checks (too low: logout; too high: resend request), heartbeats and
//! test requests, resend requests answered with PossDup copies and gap fills, sequence resets,
//! SendingTime accuracy, session-level Rejects, Logout.

use std::collections::VecDeque;

use crate::fix::{Decoder, Frame, FrameError, MessageBuilder};

mod sent;
pub mod time;

pub(crate) use send::keep_next;
pub(crate) use sent::{Sent, SentStore};
pub use time::{format_utc, parse_utc};

/// Bytes of a session's receive buffer: a peer that sends more without completing a message
/// is disconnected.
pub const RECEIVE_BUFFER_MAX: usize = 64 * 1024;
/// Outputs waiting for the caller: more means the caller stopped polling (a bug).
const OUTPUTS_MAX: usize = 4096;

/// Tags of the session messages.
mod t {
    pub(super) const BEGIN_SEQ_NO: u32 = 7;
    pub(super) const END_SEQ_NO: u32 = 16;
    pub(super) const NEW_SEQ_NO: u32 = 36;
    pub(super) const REF_SEQ_NUM: u32 = 45;
    pub(super) const TEXT: u32 = 58;
    pub(super) const ENCRYPT_METHOD: u32 = 98;
    pub(super) const HEART_BT_INT: u32 = 108;
    pub(super) const TEST_REQ_ID: u32 = 112;
    pub(super) const GAP_FILL_FLAG: u32 = 123;
    pub(super) const RESET_SEQ_NUM_FLAG: u32 = 141;
    pub(super) const REF_MSG_TYPE: u32 = 372;
    pub(super) const SESSION_REJECT_REASON: u32 = 373;
    pub(super) const USERNAME: u32 = 553;
    pub(super) const PASSWORD: u32 = 554;
}

/// SessionRejectReason (373) values used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    RequiredTagMissing = 1,
    ValueIncorrect = 5,
    CompIdProblem = 9,
    SendingTimeAccuracy = 10,
    InvalidMsgType = 11,
}

/// Who the session is with, and its limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    /// SenderCompID(49) on what the gateway sends; the client's TargetCompID.
    pub our_comp_id: Vec<u8>,
    /// The client's SenderCompID.
    pub their_comp_id: Vec<u8>,
    /// Username(553) and Password(554) the Logon must carry, if set.
    pub credentials: Option<(Vec<u8>, Vec<u8>)>,
    /// Largest HeartBtInt(108) accepted, in seconds.
    pub heartbeat_max_s: u64,
    /// How far SendingTime(52) may be from the gateway's clock.
    pub sending_time_tolerance_ns: u64,
    /// A connection that has not logged on within this long is dropped.
    pub logon_timeout_ns: u64,
    /// Application messages kept for resend requests.
    pub sent_kept_max: usize,
    /// Message types delivered to the application (the rest get a Reject).
    pub application_types: Vec<Vec<u8>>,
}

impl SessionConfig {
    /// A session between `ours` and `theirs`, no credentials, with defaults for the rest.
    #[must_use]
    pub fn new(ours: &[u8], theirs: &[u8]) -> Self {
        Self {
            our_comp_id: ours.to_vec(),
            their_comp_id: theirs.to_vec(),
            credentials: None,
            heartbeat_max_s: 3600,
            sending_time_tolerance_ns: 120_000_000_000,
            logon_timeout_ns: 10_000_000_000,
            sent_kept_max: 100_000,
            application_types: [&b"D"[..], b"F", b"G", b"q", b"H"]
                .iter()
                .map(|t| t.to_vec())
                .collect(),
        }
    }
}

/// What the caller must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the connection. An application message's bytes are the copy kept
    /// for resends, shared rather than copied again.
    Send(std::sync::Arc<[u8]>),
    /// An application message from the client, in sequence (its whole bytes).
    Deliver(Vec<u8>),
    /// Close the connection (after writing what was output before).
    Disconnect(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingLogon { since_ns: u64 },
    Active,
    LoggingOut { since_ns: u64 },
    Closed,
}

/// One FIX session: see the module documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    state: State,
    next_in: u64,
    next_out: u64,
    heartbeat_ns: u64,
    last_received_ns: u64,
    last_sent_ns: u64,
    test_request: Option<(u64, u64)>,
    test_requests_sent: u64,
    /// A resend was requested up to (at least) this sequence number.
    resend_until: Option<u64>,
    sent: SentStore,
    /// The Logon reset the numbers and the kept messages (see [`Session::take_reset`]).
    reset: bool,
    inbox: Vec<u8>,
    decoder: Decoder,
    builder: MessageBuilder,
    outputs: VecDeque<Output>,
}

/// The numbers a session resumes from: persist them to survive a gateway restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqNums {
    pub next_in: u64,
    pub next_out: u64,
}

impl Session {
    /// A connection accepted at `now_ns`, waiting for its Logon; the session's sequence numbers
    /// continue from `seq` (1 and 1 for a new session).
    #[must_use]
    pub fn new(config: SessionConfig, seq: SeqNums, now_ns: u64) -> Self {
        Self {
            sent: SentStore::new(config.sent_kept_max),
            config,
            state: State::AwaitingLogon { since_ns: now_ns },
            next_in: seq.next_in,
            next_out: seq.next_out,
            heartbeat_ns: 30_000_000_000,
            last_received_ns: now_ns,
            last_sent_ns: now_ns,
            test_request: None,
            test_requests_sent: 0,
            resend_until: None,
            reset: false,
            inbox: Vec::new(),
            decoder: Decoder::new(),
            builder: MessageBuilder::new(),
            outputs: VecDeque::new(),
        }
    }

    /// [`Session::new`] for a session whose application messages sent so far (for resend
    /// requests) outlive its connections: the gateway keeps them between connections.
    #[must_use]
    pub(crate) fn resume(
        config: SessionConfig,
        seq: SeqNums,
        sent: SentStore,
        now_ns: u64,
    ) -> Self {
        let mut session = Self::new(config, seq, now_ns);
        session.sent = sent;
        session
    }

    /// Hands back the messages kept for resend requests (the connection is gone).
    pub(crate) fn take_sent(&mut self) -> SentStore {
        std::mem::replace(&mut self.sent, SentStore::new(self.config.sent_kept_max))
    }

    /// The application messages sent after number `seq`, in order.
    pub(crate) fn sent_after(&self, seq: u64) -> impl Iterator<Item = &Sent> {
        self.sent.range(seq.saturating_add(1), u64::MAX)
    }

    /// Whether the Logon reset the sequence numbers (once: the flag is cleared).
    pub(crate) fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset)
    }

    /// Whether the client is logged on.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }

    /// Whether the connection is to be closed (a `Disconnect` was output).
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The sequence numbers to persist.
    #[must_use]
    pub fn seq_nums(&self) -> SeqNums {
        SeqNums {
            next_in: self.next_in,
            next_out: self.next_out,
        }
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn output(&mut self, output: Output) {
        assert!(
            self.outputs.len() < OUTPUTS_MAX,
            "the caller stopped polling outputs"
        );
        self.outputs.push_back(output);
    }

    fn close(&mut self, reason: String) {
        if self.state != State::Closed {
            self.state = State::Closed;
            self.output(Output::Disconnect(reason));
        }
    }

    /// Bytes read from the connection at `now_ns`.
    pub fn on_bytes(&mut self, now_ns: u64, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if self.inbox.len() + bytes.len() > RECEIVE_BUFFER_MAX {
            self.close(format!(
                "more than {RECEIVE_BUFFER_MAX} bytes without a whole message"
            ));
            return;
        }
        self.inbox.extend_from_slice(bytes);
        let inbox = std::mem::take(&mut self.inbox);
        let mut decoder = std::mem::take(&mut self.decoder);
        let mut at = 0;
        while at < inbox.len() && self.state != State::Closed {
            match decoder.decode(&inbox[at..]) {
                Ok(Some((frame, used))) => {
                    self.on_frame(now_ns, &frame);
                    at += used;
                }
                Ok(None) => break,
                // Garbled: ignored and not counted; the sender resends what we then miss.
                Err(FrameError::Garbled { skip, .. }) => at += skip,
                Err(e @ FrameError::TooLarge(_)) => self.close(e.to_string()),
            }
        }
        self.inbox = inbox;
        self.inbox.drain(..at.min(self.inbox.len()));
        self.decoder = decoder;
    }

    fn on_frame(&mut self, now_ns: u64, frame: &Frame<'_>) {
        self.last_received_ns = now_ns;
        match self.state {
            State::AwaitingLogon { .. } => self.on_logon(now_ns, frame),
            State::Active | State::LoggingOut { .. } => self.on_message(now_ns, frame),
            State::Closed => {}
        }
    }
}

mod handle;
mod send;

pub use send::SendError;

#[cfg(test)]
mod tests;
