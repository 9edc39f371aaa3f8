//! The sending end of a stream: an Aeron exclusive publication (one writer thread, which is
//! what every Lockstep publisher is), with back-pressure as an explicit outcome.

use crate::channel::{Channel, ChannelError, StreamId};
use crate::client::wait_for;
use rusteron_client::{AeronCError, AeronExclusivePublication, AeronOfferError, MAX_OFFER_PARTS};
use std::time::Duration;

/// Most parts [`Publication::offer_parts`] gathers into one message.
pub const OFFER_PARTS_MAX: usize = MAX_OFFER_PARTS;

/// What happened to an offer that did not fail outright. Everything but
/// [`OfferOutcome::Published`] means *the message was not sent*: the caller keeps it and
/// retries later or pushes back on whoever produced it. Nothing is dropped silently.
#[must_use = "an offer that was not published must be retried or pushed back"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferOutcome {
    /// In the log; `position` is the stream position after the message.
    Published {
        /// Stream position just after this message.
        position: i64,
    },
    /// A subscriber is slower than the publication window (or the term is full): retry
    /// after letting consumers catch up.
    BackPressured,
    /// No subscriber is connected: retry once one is (see [`Publication::wait_connected`]).
    NotConnected,
    /// The log is rotating to its next term: retry at once.
    AdminAction,
}

impl OfferOutcome {
    /// Whether the message went out.
    pub fn is_published(self) -> bool {
        matches!(self, OfferOutcome::Published { .. })
    }
}

/// An offer that can never succeed on this publication.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    /// The publication was closed.
    #[error("publication on {channel} stream {stream_id} is closed")]
    Closed {
        /// The channel URI.
        channel: String,
        /// The stream.
        stream_id: StreamId,
    },
    /// The stream reached its maximum position (term length × 2³¹): a new publication
    /// (a new session) is needed.
    #[error("publication on {channel} stream {stream_id} reached its maximum position")]
    MaxPositionExceeded {
        /// The channel URI.
        channel: String,
        /// The stream.
        stream_id: StreamId,
    },
    /// Larger than the largest message the publication can carry (term length / 8, capped
    /// at 16 MiB).
    #[error("message of {length} bytes exceeds the publication's maximum of {max}")]
    MessageTooLong {
        /// The message's length.
        length: usize,
        /// The publication's maximum message length.
        max: usize,
    },
    /// More than [`OFFER_PARTS_MAX`] parts given to [`Publication::offer_parts`].
    #[error("{0} parts given to offer_parts; at most {OFFER_PARTS_MAX}")]
    TooManyParts(usize),
    /// Any other error from the C client.
    #[error("offer failed: {0}")]
    Aeron(AeronCError),
}

/// Why waiting for a publication or subscription to connect ended without it.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed.
    #[error("{what} on {channel} stream {stream_id} not connected within {timeout:?}")]
    Timeout {
        /// `"publication"` or `"subscription"`.
        what: &'static str,
        /// The channel URI.
        channel: String,
        /// The stream.
        stream_id: StreamId,
        /// How long was waited.
        timeout: Duration,
    },
    /// The handle was closed while waiting.
    #[error("{what} on {channel} stream {stream_id} closed while waiting to connect")]
    Closed {
        /// `"publication"` or `"subscription"`.
        what: &'static str,
        /// The channel URI.
        channel: String,
        /// The stream.
        stream_id: StreamId,
    },
}

/// Why adding a destination to a manual multi-destination-cast publication failed.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    /// The destination cannot be handed to the C client.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The driver rejected it, or did not answer in time.
    #[error("adding destination {destination}: {source}")]
    Aeron {
        /// The destination URI.
        destination: String,
        /// Aeron's error.
        source: AeronCError,
    },
}

/// A publication added by [`crate::Client::add_publication`].
pub struct Publication {
    inner: AeronExclusivePublication,
    channel: Channel,
    stream_id: StreamId,
    max_message_length: usize,
    max_payload_length: usize,
    term_length: usize,
    session_id: i32,
}

impl std::fmt::Debug for Publication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publication")
            .field("channel", &self.channel.to_string())
            .field("stream_id", &self.stream_id)
            .field("session_id", &self.session_id())
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Publication {
    pub(crate) fn new(
        inner: AeronExclusivePublication,
        channel: Channel,
        stream_id: StreamId,
    ) -> Result<Self, crate::client::AddError> {
        let constants =
            inner
                .get_constants()
                .map_err(|source| crate::client::AddError::Rejected {
                    what: "publication",
                    channel: channel.to_string(),
                    stream_id,
                    source: source.capture_errmsg(),
                })?;
        Ok(Self {
            max_message_length: constants.max_message_length(),
            max_payload_length: constants.max_payload_length(),
            term_length: constants.term_buffer_length(),
            session_id: constants.session_id(),
            inner,
            channel,
            stream_id,
        })
    }

    /// Offer one message. Messages longer than [`Self::max_payload_length`] are fragmented
    /// and reassembled by the subscriber.
    pub fn offer(&self, message: &[u8]) -> Result<OfferOutcome, OfferError> {
        self.check_length(message.len())?;
        self.outcome(self.inner.offer(message))
    }

    /// Offer the concatenation of `parts` (e.g. a header and a body) as one message,
    /// copied straight into the log without an intermediate buffer.
    pub fn offer_parts(&self, parts: &[&[u8]]) -> Result<OfferOutcome, OfferError> {
        if parts.len() > OFFER_PARTS_MAX {
            return Err(OfferError::TooManyParts(parts.len()));
        }
        self.check_length(parts.iter().map(|p| p.len()).sum())?;
        self.outcome(self.inner.offer_parts(parts))
    }

    fn check_length(&self, length: usize) -> Result<(), OfferError> {
        if length > self.max_message_length {
            return Err(OfferError::MessageTooLong {
                length,
                max: self.max_message_length,
            });
        }
        Ok(())
    }

    fn outcome(&self, result: Result<i64, AeronOfferError>) -> Result<OfferOutcome, OfferError> {
        match result {
            Ok(position) => Ok(OfferOutcome::Published { position }),
            Err(AeronOfferError::BackPressured) => Ok(OfferOutcome::BackPressured),
            Err(AeronOfferError::NotConnected) => Ok(OfferOutcome::NotConnected),
            Err(AeronOfferError::AdminAction) => Ok(OfferOutcome::AdminAction),
            Err(AeronOfferError::Closed) => Err(OfferError::Closed {
                channel: self.channel.to_string(),
                stream_id: self.stream_id,
            }),
            Err(AeronOfferError::MaxPositionExceeded) => Err(OfferError::MaxPositionExceeded {
                channel: self.channel.to_string(),
                stream_id: self.stream_id,
            }),
            Err(AeronOfferError::TooManyParts) => {
                Err(OfferError::TooManyParts(OFFER_PARTS_MAX + 1))
            }
            Err(AeronOfferError::Error(source)) => Err(OfferError::Aeron(source.capture_errmsg())),
        }
    }

    /// Whether at least one subscriber is connected (for UDP: has sent a status message
    /// recently).
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// Whether the publication has been closed.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Wait, backing off, until a subscriber is connected or `timeout` passes.
    pub fn wait_connected(&self, timeout: Duration) -> Result<(), WaitError> {
        let connected = wait_for(timeout, || {
            if self.is_closed() {
                return Err(WaitError::Closed {
                    what: "publication",
                    channel: self.channel.to_string(),
                    stream_id: self.stream_id,
                });
            }
            Ok(self.is_connected().then_some(()))
        })?;
        connected.ok_or_else(|| WaitError::Timeout {
            what: "publication",
            channel: self.channel.to_string(),
            stream_id: self.stream_id,
            timeout,
        })
    }

    /// Add a destination to a manual MDC publication ([`Channel::mdc_manual_publication`]),
    /// e.g. `Channel::udp("127.0.0.1:40001")`, waiting up to `timeout` for the driver.
    pub fn add_destination(
        &self,
        destination: &Channel,
        timeout: Duration,
    ) -> Result<(), DestinationError> {
        let uri = destination.to_c_string()?;
        self.inner
            .add_destination(&uri, timeout)
            .map_err(|source| DestinationError::Aeron {
                destination: destination.to_string(),
                source: source.capture_errmsg(),
            })
    }

    /// The largest message [`Self::offer`] accepts.
    pub fn max_message_length(&self) -> usize {
        self.max_message_length
    }

    /// The largest message sent in one fragment (MTU minus the 32-byte frame header).
    pub fn max_payload_length(&self) -> usize {
        self.max_payload_length
    }

    /// The stream position after the last published message.
    pub fn position(&self) -> i64 {
        self.inner.position()
    }

    /// The session id that tells this publication's image apart at subscribers.
    pub fn session_id(&self) -> i32 {
        self.session_id
    }

    /// The term length the driver gave this publication's log (three terms).
    pub fn term_length(&self) -> usize {
        self.term_length
    }

    /// The stream.
    pub fn stream_id(&self) -> StreamId {
        self.stream_id
    }

    /// The channel it was added on.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Close now rather than on drop.
    pub fn close(self) -> Result<(), AeronCError> {
        self.inner.close()
    }
}
