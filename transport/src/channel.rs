//! Channel URIs as configuration: typed constructors for the shapes Lockstep uses (IPC, UDP
//! unicast, multi-destination-cast, multicast), and a parser for URIs read from a config file.
//!
//! A channel says *how* bytes travel (`aeron:ipc`, `aeron:udp?endpoint=...`); a
//! [`StreamId`] says *which* stream on it. The same channel carries many streams.

use std::ffi::CString;
use std::fmt;
use std::str::FromStr;

/// Which Aeron stream on a channel. Publications and subscriptions meet on
/// `(channel, stream id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub i32);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Aeron's smallest term buffer (64 KiB).
pub const TERM_LENGTH_MIN: u32 = 64 * 1024;
/// Aeron's largest term buffer (1 GiB).
pub const TERM_LENGTH_MAX: u32 = 1024 * 1024 * 1024;

const _: () = assert!(TERM_LENGTH_MIN.is_power_of_two() && TERM_LENGTH_MAX.is_power_of_two());
const _: () = assert!(TERM_LENGTH_MIN < TERM_LENGTH_MAX);

/// The transport medium of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// Shared memory between processes on one host (`aeron:ipc`).
    Ipc,
    /// UDP: unicast, multicast or multi-destination-cast (`aeron:udp`).
    Udp,
}

/// Why a channel could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// The URI does not start with `aeron:ipc` or `aeron:udp`.
    #[error("channel {0:?} must start with aeron:ipc or aeron:udp")]
    UnknownMedia(String),
    /// A parameter is not `key=value` or has an empty key.
    #[error("channel parameter {0:?} is not key=value")]
    BadParam(String),
    /// Characters that cannot appear in a URI handed to the C client.
    #[error("channel {0:?} contains a NUL, '|', '=' or '?' where a value was expected")]
    BadCharacter(String),
    /// Aeron accepts only a power of two between 64 KiB and 1 GiB.
    #[error("term length {0} is not a power of two in {TERM_LENGTH_MIN}..={TERM_LENGTH_MAX}")]
    BadTermLength(u32),
}

/// An Aeron channel URI: a medium and ordered `key=value` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    media: Media,
    params: Vec<(String, String)>,
}

impl Channel {
    /// `aeron:ipc`: shared memory on this host, the fastest path between processes.
    pub fn ipc() -> Self {
        Self {
            media: Media::Ipc,
            params: Vec::new(),
        }
    }

    /// `aeron:udp?endpoint=HOST:PORT`: unicast to one subscriber, which binds `endpoint`.
    pub fn udp(endpoint: &str) -> Self {
        Self::bare_udp().with("endpoint", endpoint)
    }

    /// `aeron:udp?endpoint=GROUP:PORT|interface=IFACE`: IP multicast to every subscriber
    /// that joins `group` (an address in 224.0.0.0/4) on `interface` (an address or
    /// `address/prefix` naming the NIC, e.g. `127.0.0.1` for loopback).
    pub fn multicast(group_endpoint: &str, interface: &str) -> Self {
        Self::bare_udp()
            .with("endpoint", group_endpoint)
            .with("interface", interface)
    }

    /// `aeron:udp?control=HOST:PORT|control-mode=dynamic`: a multi-destination-cast
    /// publication that unicasts to every subscriber that registers with its control
    /// endpoint (see [`Channel::mdc_subscription`]).
    pub fn mdc_publication(control: &str) -> Self {
        Self::bare_udp()
            .with("control", control)
            .with("control-mode", "dynamic")
    }

    /// `aeron:udp?endpoint=HOST:PORT|control=HOST:PORT`: the subscriber side of dynamic
    /// MDC. `endpoint` is this subscriber's own receive address, `control` the publication's.
    pub fn mdc_subscription(endpoint: &str, control: &str) -> Self {
        Self::bare_udp()
            .with("endpoint", endpoint)
            .with("control", control)
    }

    /// `aeron:udp?control-mode=manual`: an MDC publication whose destinations the owner
    /// adds explicitly ([`crate::Publication::add_destination`]); subscribers use plain
    /// [`Channel::udp`] on the destination endpoint.
    pub fn mdc_manual_publication() -> Self {
        Self::bare_udp().with("control-mode", "manual")
    }

    fn bare_udp() -> Self {
        Self {
            media: Media::Udp,
            params: Vec::new(),
        }
    }

    /// Set (or replace) a parameter, e.g. `with("linger", "0")`.
    pub fn with(mut self, key: &str, value: &str) -> Self {
        match self.params.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_owned(),
            None => self.params.push((key.to_owned(), value.to_owned())),
        }
        self
    }

    /// Set the `term-length` parameter: the publication's log is three terms, so this
    /// sizes its file in the driver directory (see `docs/transport.md`). Only the first
    /// publication of a session sets it; subscribers ignore it.
    pub fn term_length(self, bytes: u32) -> Result<Self, ChannelError> {
        if !bytes.is_power_of_two() || !(TERM_LENGTH_MIN..=TERM_LENGTH_MAX).contains(&bytes) {
            return Err(ChannelError::BadTermLength(bytes));
        }
        Ok(self.with("term-length", &bytes.to_string()))
    }

    /// Set the `mtu` parameter: the largest frame (header included) the publication sends.
    pub fn mtu(self, bytes: u32) -> Self {
        self.with("mtu", &bytes.to_string())
    }

    /// The medium.
    pub fn media(&self) -> Media {
        self.media
    }

    /// A parameter's value, if set.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The URI as a C string for the Aeron client.
    pub(crate) fn to_c_string(&self) -> Result<CString, ChannelError> {
        let uri = self.to_string();
        let bad_value = self
            .params
            .iter()
            .any(|(k, v)| k.is_empty() || v.contains(['|', '=', '?']) || k.contains(['|', '=']));
        if bad_value {
            return Err(ChannelError::BadCharacter(uri));
        }
        CString::new(uri.clone()).map_err(|_| ChannelError::BadCharacter(uri))
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.media {
            Media::Ipc => "aeron:ipc",
            Media::Udp => "aeron:udp",
        })?;
        for (i, (key, value)) in self.params.iter().enumerate() {
            let sep = if i == 0 { '?' } else { '|' };
            write!(f, "{sep}{key}={value}")?;
        }
        Ok(())
    }
}

impl FromStr for Channel {
    type Err = ChannelError;

    /// Parse `aeron:ipc` / `aeron:udp` with optional `?k=v|k=v` parameters.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.contains('\0') {
            return Err(ChannelError::BadCharacter(text.to_owned()));
        }
        let (head, query) = match text.split_once('?') {
            Some((head, query)) => (head, Some(query)),
            None => (text, None),
        };
        let mut channel = match head {
            "aeron:ipc" => Self::ipc(),
            "aeron:udp" => Self::bare_udp(),
            _ => return Err(ChannelError::UnknownMedia(text.to_owned())),
        };
        for param in query.into_iter().flat_map(|q| q.split('|')) {
            let Some((key, value)) = param.split_once('=') else {
                return Err(ChannelError::BadParam(param.to_owned()));
            };
            if key.is_empty() || value.contains(['=', '?']) {
                return Err(ChannelError::BadParam(param.to_owned()));
            }
            channel = channel.with(key, value);
        }
        Ok(channel)
    }
}

/// A UDP port on `127.0.0.1` that was free a moment ago (bound to port 0, then released),
/// for tests that need unique endpoints. Another process may take it in between; tests
/// that get a bind error should pick again.
pub fn ephemeral_udp_port() -> std::io::Result<u16> {
    let socket = std::net::UdpSocket::bind(("127.0.0.1", 0))?;
    Ok(socket.local_addr()?.port())
}
