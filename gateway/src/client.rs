//! A small FIX 4.4 initiator for tests, demos and load tools: blocking, one session, it
//! answers TestRequests itself and hands every application message to the caller.

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
}

/// One FIX session from the client's side.
#[derive(Debug)]
pub struct FixClient {
    stream: TcpStream,
    sender: Vec<u8>,
    target: Vec<u8>,
    next: u64,
    inbox: Vec<u8>,
    builder: MessageBuilder,
    decoder: Decoder,
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
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_millis(20)))?;
        Ok(Self {
            stream,
            sender: sender.as_bytes().to_vec(),
            target: target.as_bytes().to_vec(),
            next: next_seq,
            inbox: Vec::new(),
            builder: MessageBuilder::new(),
            decoder: Decoder::new(),
        })
    }

    /// Sends one message; returns its MsgSeqNum.
    pub fn send(&mut self, msg_type: &[u8], fields: &[(u32, &str)]) -> Result<u64, ClientError> {
        let seq = self.next;
        let time = format_utc(now_ns());
        let header = Header {
            sender_comp_id: &self.sender,
            target_comp_id: &self.target,
            msg_seq_num: seq,
            sending_time: &time,
            poss_dup: None,
        };
        self.builder.start(msg_type, &header)?;
        for (tag, value) in fields {
            self.builder.field(*tag, value.as_bytes())?;
        }
        self.stream.write_all(self.builder.finish())?;
        self.next += 1;
        Ok(seq)
    }

    /// Logs on with a heartbeat interval and waits for the Logon back. A client starting at
    /// sequence number 1 asks for a reset (ResetSeqNumFlag), so the gateway's numbers for the
    /// session start again too.
    pub fn logon(&mut self, heartbeat_s: u32, timeout: Duration) -> Result<Received, ClientError> {
        let hb = heartbeat_s.to_string();
        if self.next == 1 {
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

    /// The next message that is not a heartbeat (TestRequests are answered here).
    pub fn next_message(&mut self, deadline: Instant) -> Result<Received, ClientError> {
        loop {
            if let Some(message) = self.take()? {
                match message.msg_type.as_str() {
                    "0" => continue,
                    "1" => {
                        let id = message.get(112).to_owned();
                        self.send(b"0", &[(112, &id)])?;
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

    fn take(&mut self) -> Result<Option<Received>, ClientError> {
        let taken = match self.decoder.decode(&self.inbox) {
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
            self.inbox.drain(..used);
            message
        }))
    }
}
