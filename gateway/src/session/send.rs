//! What the session sends: its own admin messages, the application's messages (kept for
//! resends), resends, and what time alone makes it send.

use std::sync::Arc;

use super::{Output, RejectReason, SentStore, Session, SessionConfig, State, format_utc, t};
use crate::fix::{Decoder, EncodeError, Header, MessageBuilder, tag};

/// Header tags a resend rebuilds rather than copies.
const HEADER_TAGS: [u32; 7] = [
    tag::MSG_TYPE,
    tag::SENDER_COMP_ID,
    tag::TARGET_COMP_ID,
    tag::MSG_SEQ_NUM,
    tag::SENDING_TIME,
    tag::POSS_DUP_FLAG,
    tag::ORIG_SENDING_TIME,
];

fn header<'a>(
    config: &'a SessionConfig,
    seq: u64,
    now: &'a [u8; 21],
    original: Option<&'a [u8]>,
) -> Header<'a> {
    Header {
        sender_comp_id: &config.our_comp_id,
        target_comp_id: &config.their_comp_id,
        msg_seq_num: seq,
        sending_time: now,
        poss_dup: original,
    }
}

/// A message numbered `seq`, stamped `now_ns`, from `config`'s CompIDs: what the session sends
/// as its next message (and what the gateway keeps for a client that is away).
pub(crate) fn build_message(
    builder: &mut MessageBuilder,
    config: &SessionConfig,
    seq: u64,
    now_ns: u64,
    msg_type: &[u8],
    fields: impl FnOnce(&mut MessageBuilder) -> Result<(), EncodeError>,
) -> Result<Arc<[u8]>, EncodeError> {
    let now = format_utc(now_ns);
    builder
        .start(msg_type, &header(config, seq, &now, None))
        .and_then(fields)
        .map(|()| Arc::from(builder.finish()))
}

/// Numbers a message `*next_out`, builds it and keeps it in `sent` for resend requests,
/// without sending it: what a session holds for a connection not logged on, and what the
/// gateway keeps for a client that is away.
pub(crate) fn keep_next(
    builder: &mut MessageBuilder,
    config: &SessionConfig,
    next_out: &mut u64,
    sent: &mut SentStore,
    now_ns: u64,
    msg_type: &[u8],
    fields: impl FnOnce(&mut MessageBuilder) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let seq = *next_out;
    let bytes = build_message(builder, config, seq, now_ns, msg_type, fields)?;
    *next_out += 1;
    sent.push(seq, bytes);
    Ok(())
}

impl Session {
    fn header<'a>(&'a self, seq: u64, now: &'a [u8; 21], original: Option<&'a [u8]>) -> Header<'a> {
        header(&self.config, seq, now, original)
    }

    /// Builds with the next outgoing sequence number and sends; returns the bytes.
    fn send_next(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        fields: impl FnOnce(&mut MessageBuilder) -> Result<(), EncodeError>,
    ) -> Result<Arc<[u8]>, EncodeError> {
        let mut builder = std::mem::take(&mut self.builder);
        let built = build_message(
            &mut builder,
            &self.config,
            self.next_out,
            now_ns,
            msg_type,
            fields,
        );
        self.builder = builder;
        let bytes = built?;
        self.next_out += 1;
        self.last_sent_ns = now_ns;
        self.output(Output::Send(Arc::clone(&bytes)));
        Ok(bytes)
    }

    /// Sends a session message made of `fields`.
    pub(super) fn send_admin(&mut self, now_ns: u64, msg_type: &[u8], fields: &[(u32, Vec<u8>)]) {
        self.send_next(now_ns, msg_type, |b| {
            for (tag, value) in fields {
                b.field(*tag, value)?;
            }
            Ok(())
        })
        .expect("session messages are built from valid values");
    }

    /// Sends an application message (an ExecutionReport, ...) whose body `fields` writes; it
    /// is kept for resend requests. Refused while the client is not logged on.
    pub fn send_application(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        fields: impl FnOnce(&mut MessageBuilder) -> Result<(), EncodeError>,
    ) -> Result<(), SendError> {
        if self.state != State::Active {
            return Err(SendError::NotLoggedOn);
        }
        let seq = self.next_out;
        let bytes = self.send_next(now_ns, msg_type, fields)?;
        self.sent.push(seq, bytes);
        Ok(())
    }

    /// Numbers an application message and keeps it for resend requests without sending it:
    /// for a connection that is not logged on (closing after a bad first message, or waiting
    /// for its Logon). As with messages kept while the client was away, the client finds the
    /// gap when it logs on and asks for a resend, which brings this copy (PossDup); the gateway
    /// records it like any message sent, so it survives a gateway restart too. A logged-on
    /// session sends it.
    pub fn hold(
        &mut self,
        now_ns: u64,
        msg_type: &[u8],
        fields: impl FnOnce(&mut MessageBuilder) -> Result<(), EncodeError>,
    ) -> Result<(), SendError> {
        if self.state == State::Active {
            return self.send_application(now_ns, msg_type, fields);
        }
        Ok(keep_next(
            &mut self.builder,
            &self.config,
            &mut self.next_out,
            &mut self.sent,
            now_ns,
            msg_type,
            fields,
        )?)
    }

    pub(super) fn reject(
        &mut self,
        now_ns: u64,
        ref_seq: u64,
        ref_type: &[u8],
        reason: RejectReason,
        text: &str,
    ) {
        let mut fields = vec![(t::REF_SEQ_NUM, ref_seq.to_string().into_bytes())];
        if !ref_type.is_empty() {
            fields.push((t::REF_MSG_TYPE, ref_type.to_vec()));
        }
        fields.push((
            t::SESSION_REJECT_REASON,
            (reason as u8).to_string().into_bytes(),
        ));
        fields.push((t::TEXT, text.as_bytes().to_vec()));
        self.send_admin(now_ns, b"3", &fields);
    }

    /// Sends a Logout with `text` and waits for the client's (see [`Session::on_tick`]).
    pub(super) fn logout(&mut self, now_ns: u64, text: &str) {
        self.send_admin(now_ns, b"5", &[(t::TEXT, text.as_bytes().to_vec())]);
        self.state = State::LoggingOut { since_ns: now_ns };
    }

    /// Asks for everything from the next expected number on, once per gap.
    pub(super) fn request_resend(&mut self, now_ns: u64, seen: u64) {
        if self.resend_until.is_some_and(|until| until >= seen) {
            return;
        }
        self.resend_until = Some(seen);
        let begin = self.next_in.to_string().into_bytes();
        self.send_admin(
            now_ns,
            b"2",
            &[(t::BEGIN_SEQ_NO, begin), (t::END_SEQ_NO, b"0".to_vec())],
        );
    }

    /// Resends `begin..=end`: kept application messages as PossDup copies, everything else
    /// (session messages, messages no longer kept) as gap fills.
    pub(super) fn resend(&mut self, now_ns: u64, begin: u64, end: u64) {
        let copies: Vec<(u64, Arc<[u8]>)> = self
            .sent
            .range(begin, end)
            .map(|s| (s.seq, s.bytes.clone()))
            .collect();
        let mut next = begin;
        for (seq, bytes) in copies {
            if seq > next {
                self.gap_fill(now_ns, next, seq);
            }
            self.resend_copy(now_ns, seq, &bytes);
            next = seq + 1;
        }
        if next <= end {
            self.gap_fill(now_ns, next, end + 1);
        }
        self.last_sent_ns = now_ns;
    }

    fn gap_fill(&mut self, now_ns: u64, seq: u64, new_seq: u64) {
        let now = format_utc(now_ns);
        let header = self.header(seq, &now, Some(&now));
        let mut builder = MessageBuilder::new();
        builder
            .start(b"4", &header)
            .and_then(|b| b.field(t::GAP_FILL_FLAG, b"Y"))
            .expect("valid values");
        builder.field_u64(t::NEW_SEQ_NO, new_seq);
        self.output(Output::Send(Arc::from(builder.finish())));
    }

    fn resend_copy(&mut self, now_ns: u64, seq: u64, original: &[u8]) {
        let mut decoder = Decoder::new();
        let Ok(Some((frame, _))) = decoder.decode(original) else {
            unreachable!("a kept message is one this session built");
        };
        let now = format_utc(now_ns);
        let sent_at = frame.get(tag::SENDING_TIME).unwrap_or(&now);
        let header = self.header(seq, &now, Some(sent_at));
        let mut builder = MessageBuilder::new();
        builder
            .start(frame.msg_type(), &header)
            .expect("valid header");
        for (tag, value) in frame.fields().filter(|(t, _)| !HEADER_TAGS.contains(t)) {
            builder
                .field(tag, value)
                .expect("copied from a valid message");
        }
        self.output(Output::Send(Arc::from(builder.finish())));
    }

    /// Lets time pass: heartbeats, test requests, and the timeouts of logon, heartbeat and
    /// logout.
    pub fn on_tick(&mut self, now_ns: u64) {
        match self.state {
            State::AwaitingLogon { since_ns } => {
                if now_ns.saturating_sub(since_ns) > self.config.logon_timeout_ns {
                    self.close("no Logon in time".into());
                }
            }
            State::LoggingOut { since_ns } => {
                if now_ns.saturating_sub(since_ns) > self.heartbeat_ns.max(1_000_000_000) {
                    self.close("the client did not answer the Logout".into());
                }
            }
            State::Active => self.tick_active(now_ns),
            State::Closed => {}
        }
    }

    fn tick_active(&mut self, now_ns: u64) {
        let interval = self.heartbeat_ns;
        if let Some((sent_at, _)) = self.test_request
            && now_ns.saturating_sub(sent_at) > interval
        {
            let reason = "heartbeat timeout: no answer to a TestRequest".to_owned();
            self.logout(now_ns, &reason);
            self.close(reason);
            return;
        }
        let silent = now_ns.saturating_sub(self.last_received_ns);
        if self.test_request.is_none() && silent > interval + interval / 5 {
            self.test_requests_sent += 1;
            let id = self.test_requests_sent;
            self.test_request = Some((now_ns, id));
            self.send_admin(
                now_ns,
                b"1",
                &[(t::TEST_REQ_ID, format!("TEST-{id}").into_bytes())],
            );
        }
        if now_ns.saturating_sub(self.last_sent_ns) >= interval {
            self.send_admin(now_ns, b"0", &[]);
        }
    }
}

/// Why an application message was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the client is not logged on")]
    NotLoggedOn,
    #[error(transparent)]
    Encode(#[from] EncodeError),
}
