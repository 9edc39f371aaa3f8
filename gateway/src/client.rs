//! A small FIX 4.4 initiator for tests, demos and load tools: blocking, one session. It keeps
//! the session's rules itself: it answers TestRequests, checks the gateway's MsgSeqNums (a gap
//! gets a ResendRequest, PossDup repeats are dropped, gap fills move it on), answers the
//! gateway's ResendRequests with PossDup copies of its application messages, and can reconnect
//! keeping its numbers. It hands every other message to the caller, each once and in order.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::fix::{Decoder, Header, MessageBuilder, tag};
use crate::session::format_utc;

/// A received message: its type and fields in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub msg_type: String,
    pub fields: Vec<(u32, String)>,
}

impl Received {
    /// The first value of `tag`, or "".
    #[must_use]
    pub fn get(&self, tag: u32) -> &str {
        self.fields
            .iter()
            .find(|(t, _)| *t == tag)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Why the client gave up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("no {0} within the timeout")]
    Timeout(String),
    #[error("the gateway closed the connection")]
    Closed,
    #[error("building a message: {0}")]
    Encode(#[from] crate::fix::EncodeError),
    #[error("the gateway's MsgSeqNum {got} is below the {expected} expected, without PossDup")]
    SeqTooLow { expected: u64, got: u64 },
}

/// Application messages kept to answer the gateway's resend requests.
const SENT_KEPT_MAX: usize = 100_000;
/// Bytes of taken messages left at the front of the inbox before they are dropped.
const INBOX_TAKEN_MAX: usize = 64 * 1024;

/// An application message as sent: number, type, fields, SendingTime.
#[derive(Debug)]
struct Sent {
    seq: u64,
    msg_type: Vec<u8>,
    fields: Vec<(u32, String)>,
    sending_time: [u8; 21],
}

fn is_admin(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A")
}

/// One FIX session from the client's side.
#[derive(Debug)]
pub struct FixClient {
    stream: TcpStream,
    sender: Vec<u8>,
    target: Vec<u8>,
    next: u64,
    /// The gateway's MsgSeqNum expected next.
    expected_in: u64,
    /// A ResendRequest is out for the gap up to this number: messages past the gap are dropped
    /// (the resend brings them again) and no second request goes out until it is filled.
    resend_until: Option<u64>,
    sent: VecDeque<Sent>,
    /// Bytes received; those before `inbox_at` are taken already.
    inbox: Vec<u8>,
    inbox_at: usize,
    /// Messages queued, not yet written (see [`FixClient::queue`]).
    outbox: Vec<u8>,
    builder: MessageBuilder,
    decoder: Decoder,
}

fn open(addr: SocketAddr) -> Result<TcpStream, ClientError> {
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(20)))?;
    Ok(stream)
}

fn now_ns() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

impl FixClient {
    /// Connects as `sender` to the gateway's `target` CompID; messages start at `next_seq`.
    pub fn connect(
        addr: SocketAddr,
        sender: &str,
        target: &str,
        next_seq: u64,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            stream: open(addr)?,
            sender: sender.as_bytes().to_vec(),
            target: target.as_bytes().to_vec(),
            next: next_seq,
            expected_in: 1,
            resend_until: None,
            sent: VecDeque::new(),
            inbox: Vec::new(),
            inbox_at: 0,
            outbox: Vec::new(),
            builder: MessageBuilder::new(),
            decoder: Decoder::new(),
        })
    }

    /// A new connection (to a restarted gateway, say) for the same session: the numbers and
    /// the messages kept for resends carry on. Log on again with [`FixClient::logon`].
    pub fn reconnect(&mut self, addr: SocketAddr) -> Result<(), ClientError> {
        self.stream = open(addr)?;
        self.inbox.clear();
        self.inbox_at = 0;
        self.outbox.clear();
        self.decoder = Decoder::new();
        self.resend_until = None;
        Ok(())
    }

    /// The MsgSeqNum the next message sent gets, and the gateway's expected next.
    #[must_use]
    pub fn seq_nums(&self) -> (u64, u64) {
        (self.next, self.expected_in)
    }

    /// Sends one message; returns its MsgSeqNum. Application messages are kept for resends.
    pub fn send(&mut self, msg_type: &[u8], fields: &[(u32, &str)]) -> Result<u64, ClientError> {
        let seq = self.queue(msg_type, fields)?;
        self.flush()?;
        Ok(seq)
    }

    /// Queues one message to go out with the next [`FixClient::flush`] (or send, or wait for a
    /// message): a burst of orders leaves in one write, not one system call each.
    pub fn queue(&mut self, msg_type: &[u8], fields: &[(u32, &str)]) -> Result<u64, ClientError> {
        let seq = self.next;
        let time = format_utc(now_ns());
        self.write(seq, msg_type, fields, &time, None)?;
        self.next += 1;
        if !is_admin(msg_type) {
            if self.sent.len() == SENT_KEPT_MAX {
                self.sent.pop_front();
            }
            self.sent.push_back(Sent {
                seq,
                msg_type: msg_type.to_vec(),
                fields: fields.iter().map(|(t, v)| (*t, (*v).to_owned())).collect(),
                sending_time: time,
            });
        }
        Ok(seq)
    }

    fn write(
        &mut self,
        seq: u64,
        msg_type: &[u8],
        fields: &[(u32, &str)],
        time: &[u8],
        original: Option<&[u8]>,
    ) -> Result<(), ClientError> {
        let header = Header {
            sender_comp_id: &self.sender,
            target_comp_id: &self.target,
            msg_seq_num: seq,
            sending_time: time,
            poss_dup: original,
        };
        self.builder.start(msg_type, &header)?;
        for (tag, value) in fields {
            self.builder.field(*tag, value.as_bytes())?;
        }
        self.outbox.extend_from_slice(self.builder.finish());
        Ok(())
    }

    /// Whether bytes received are still to be taken (a message, or part of one): a load tool
    /// takes every answer it has before it sends again, so its orders go out in bursts.
    #[must_use]
    pub fn has_input(&self) -> bool {
        self.inbox_at < self.inbox.len()
    }

    /// Writes every queued message.
    pub fn flush(&mut self) -> Result<(), ClientError> {
        if !self.outbox.is_empty() {
            self.stream.write_all(&self.outbox)?;
            self.outbox.clear();
        }
        Ok(())
    }

    /// Answers the gateway's ResendRequest for `begin..=end` (0: everything): kept application
    /// messages again as PossDup copies, the rest as gap fills.
    fn resend(&mut self, begin: u64, end: u64) -> Result<(), ClientError> {
        let end = if end == 0 { self.next - 1 } else { end };
        let time = format_utc(now_ns());
        let mut at = begin;
        let copies: Vec<usize> = (0..self.sent.len())
            .filter(|&i| (begin..=end).contains(&self.sent[i].seq))
            .collect();
        for i in copies {
            let seq = self.sent[i].seq;
            if seq > at {
                self.gap_fill(at, seq, &time)?;
            }
            let sent = &self.sent[i];
            let (msg_type, original) = (sent.msg_type.clone(), sent.sending_time);
            let fields: Vec<(u32, String)> = sent.fields.clone();
            let fields: Vec<(u32, &str)> = fields.iter().map(|(t, v)| (*t, v.as_str())).collect();
            self.write(seq, &msg_type, &fields, &time, Some(&original))?;
            at = seq + 1;
        }
        if at <= end {
            self.gap_fill(at, end + 1, &time)?;
        }
        Ok(())
    }

    fn gap_fill(&mut self, seq: u64, new_seq: u64, time: &[u8]) -> Result<(), ClientError> {
        let new_seq = new_seq.to_string();
        let fields = [(123, "Y"), (36, new_seq.as_str())];
        self.write(seq, b"4", &fields, time, Some(time))
    }

    /// Logs on with a heartbeat interval and waits for the Logon back. A client starting at
    /// sequence number 1 asks for a reset (ResetSeqNumFlag), so the gateway's numbers for the
    /// session start again too.
    pub fn logon(&mut self, heartbeat_s: u32, timeout: Duration) -> Result<Received, ClientError> {
        let hb = heartbeat_s.to_string();
        if self.next == 1 {
            (self.expected_in, self.resend_until) = (1, None);
            self.sent.clear();
            self.send(b"A", &[(98, "0"), (108, &hb), (141, "Y")])?;
        } else {
            self.send(b"A", &[(98, "0"), (108, &hb)])?;
        }
        self.expect("A", timeout)
    }

    /// The next message of `msg_type`, skipping heartbeats and answering TestRequests.
    pub fn expect(&mut self, msg_type: &str, timeout: Duration) -> Result<Received, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next_message(deadline)?;
            if message.msg_type == msg_type {
                return Ok(message);
            }
        }
    }

    /// The next message in sequence that is not a session matter handled here: heartbeats,
    /// TestRequests, resend requests, sequence resets, repeats, and messages past a gap
    /// (asked for again) are not returned.
    pub fn next_message(&mut self, deadline: Instant) -> Result<Received, ClientError> {
        self.flush()?;
        loop {
            if let Some(message) = self.take()?
                && let Some(message) = self.in_sequence(message)?
            {
                match message.msg_type.as_str() {
                    "0" | "4" => continue,
                    "1" => {
                        let id = message.get(112).to_owned();
                        self.send(b"0", &[(112, &id)])?;
                        continue;
                    }
                    "2" => {
                        let number = |tag| message.get(tag).parse::<u64>().unwrap_or(0);
                        self.resend(number(7), number(16))?;
                        self.flush()?;
                        continue;
                    }
                    _ => return Ok(message),
                }
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout("message".into()));
            }
            let mut buf = [0u8; 16 * 1024];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.inbox.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The MsgSeqNum rules: the message if it is the next expected (or a Logon, which may
    /// come with a higher number: the gap is asked for), `None` for what is dropped.
    fn in_sequence(&mut self, message: Received) -> Result<Option<Received>, ClientError> {
        let seq = message.get(tag::MSG_SEQ_NUM).parse::<u64>().unwrap_or(0);
        let poss_dup = message.get(43) == "Y";
        let new = message.get(36).parse::<u64>().unwrap_or(0);
        if message.msg_type == "4" && message.get(123) != "Y" {
            self.expected_in = new; // a reset: the numbers start there, whatever came before
            return Ok(None);
        }
        if message.msg_type == "4" && seq == self.expected_in {
            self.expected_in = new.max(seq + 1); // a gap fill
            return Ok(None);
        }
        if seq < self.expected_in {
            return if poss_dup {
                Ok(None)
            } else {
                Err(ClientError::SeqTooLow {
                    expected: self.expected_in,
                    got: seq,
                })
            };
        }
        if seq > self.expected_in {
            if self
                .resend_until
                .is_none_or(|until| self.expected_in > until)
            {
                let begin = self.expected_in.to_string();
                self.send(b"2", &[(7, begin.as_str()), (16, "0")])?;
                self.resend_until = Some(seq);
            }
            // A Logon is taken at once (its number is the gateway's; the gap is filled next), and
            // so is a ResendRequest, to be answered: the gateway may have a gap too, and would
            // wait for that answer while this side waits for the fill of its own gap.
            return Ok(matches!(message.msg_type.as_str(), "A" | "2").then_some(message));
        }
        self.expected_in += 1;
        Ok(Some(message))
    }

    fn take(&mut self) -> Result<Option<Received>, ClientError> {
        let taken = match self.decoder.decode(&self.inbox[self.inbox_at..]) {
            Ok(Some((frame, used))) => {
                let fields = frame
                    .fields()
                    .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                    .collect();
                let msg_type = String::from_utf8_lossy(frame.msg_type()).into_owned();
                debug_assert!(frame.get(tag::MSG_SEQ_NUM).is_some());
                Some((Received { msg_type, fields }, used))
            }
            Ok(None) => None,
            Err(_) => return Err(ClientError::Closed),
        };
        Ok(taken.map(|(message, used)| {
            // Taken bytes are skipped, and dropped once all are taken (or many are): draining
            // each message off the front moved the rest of a 16 KiB read every time.
            self.inbox_at += used;
            if self.inbox_at == self.inbox.len() {
                self.inbox.clear();
                self.inbox_at = 0;
            } else if self.inbox_at >= INBOX_TAKEN_MAX {
                self.inbox.drain(..self.inbox_at);
                self.inbox_at = 0;
            }
            message
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A gateway's side of one connection: writes messages, reads the client's.
    struct Peer {
        stream: TcpStream,
        builder: MessageBuilder,
        inbox: Vec<u8>,
    }

    impl Peer {
        fn send(&mut self, seq: u64, msg_type: &[u8], fields: &[(u32, &str)]) {
            let time = format_utc(now_ns());
            let header = Header {
                sender_comp_id: b"LOCKSTEP",
                target_comp_id: b"CLIENT",
                msg_seq_num: seq,
                sending_time: &time,
                poss_dup: None,
            };
            self.builder.start(msg_type, &header).unwrap();
            for (tag, value) in fields {
                self.builder.field(*tag, value.as_bytes()).unwrap();
            }
            self.stream.write_all(self.builder.finish()).unwrap();
        }

        /// The client's next message: (MsgType, MsgSeqNum, NewSeqNo if any).
        fn next(&mut self) -> (String, u64, Option<u64>) {
            let mut decoder = Decoder::new();
            loop {
                if let Some((frame, used)) = decoder.decode(&self.inbox).unwrap() {
                    let number = |tag| {
                        frame
                            .get(tag)
                            .map(|v| String::from_utf8_lossy(v).parse::<u64>().unwrap())
                    };
                    let message = (
                        String::from_utf8_lossy(frame.msg_type()).into_owned(),
                        number(tag::MSG_SEQ_NUM).unwrap(),
                        number(36),
                    );
                    self.inbox.drain(..used);
                    return message;
                }
                let mut buf = [0u8; 4096];
                let n = self.stream.read(&mut buf).unwrap();
                assert!(n > 0, "the client closed the connection");
                self.inbox.extend_from_slice(&buf[..n]);
            }
        }
    }

    /// Both sides have a gap, as after a gateway restart with messages lost both ways: the
    /// gateway's Logon and its ResendRequest both come past the number the client expects. The
    /// client asks for its gap and answers the ResendRequest all the same, so that neither side
    /// waits for the other for ever.
    #[test]
    fn a_resend_request_past_a_gap_is_answered() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let gateway = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut peer = Peer {
                stream,
                builder: MessageBuilder::new(),
                inbox: Vec::new(),
            };
            assert_eq!(peer.next(), ("A".into(), 5, None));
            peer.send(3, b"A", &[(98, "0"), (108, "30")]);
            peer.send(4, b"2", &[(7, "1"), (16, "0")]);
            // The client's request for 1.., then its answer to ours: nothing it sent is an
            // application message, so one gap fill over all of it.
            assert_eq!(peer.next(), ("2".into(), 6, None));
            assert_eq!(peer.next(), ("4".into(), 1, Some(7)));
            // Open until the client is done with it.
            let rest = peer.stream.read(&mut [0u8; 64]).unwrap();
            assert_eq!(rest, 0, "nothing more from the client");
        });
        // The client has sent 4 messages already (its numbers go on) and has seen none.
        let mut client = FixClient::connect(addr, "CLIENT", "LOCKSTEP", 5).unwrap();
        client.logon(30, Duration::from_secs(10)).unwrap();
        let quiet = client.next_message(Instant::now() + Duration::from_millis(200));
        assert!(matches!(quiet, Err(ClientError::Timeout(_))), "{quiet:?}");
        drop(client);
        gateway.join().unwrap();
    }
}
