//! The seams between the sans-IO cores and the outside world: a clock, messages in, messages
//! out. [`Subscription`] and [`Publication`] implement them over Aeron; a simulator implements
//! them with virtual time and a fake network, so agents run unchanged under both.

use crate::publication::{OfferOutcome, Publication};
use crate::subscription::Subscription;

/// A source of time in nanoseconds.
pub trait Clock {
    /// Nanoseconds since the Unix epoch (or since the simulation's start).
    fn now_ns(&self) -> u64;
}

/// The system wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        u64::try_from(since_epoch).unwrap_or(u64::MAX)
    }
}

/// A stream that failed for good (closed, or the transport reported an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stream failed: {0}")]
pub struct StreamError(pub String);

/// Messages arriving on one stream.
pub trait Inbound {
    /// Hands whole messages to `handler`, in order, reading at most `limit` fragments (so at
    /// most `limit` messages); returns the fragments read.
    fn poll(&mut self, limit: usize, handler: &mut dyn FnMut(&[u8])) -> Result<usize, StreamError>;
}

/// Messages leaving on one stream.
pub trait Outbound {
    /// Sends one message. `Ok(false)` means not now (back-pressure, no subscriber yet, log
    /// rotation): nothing was sent; offer the same bytes again later.
    fn offer(&mut self, bytes: &[u8]) -> Result<bool, StreamError>;

    /// Whether a subscriber is there. A sender that loses its receiver (a sequencer killed and
    /// restarted, say) sends again what had no answer once this turns true again.
    fn is_connected(&self) -> bool {
        true
    }
}

impl Inbound for Subscription {
    fn poll(&mut self, limit: usize, handler: &mut dyn FnMut(&[u8])) -> Result<usize, StreamError> {
        Subscription::poll(self, |bytes| handler(bytes), limit)
            .map_err(|e| StreamError(e.to_string()))
    }
}

impl Outbound for Publication {
    fn offer(&mut self, bytes: &[u8]) -> Result<bool, StreamError> {
        match Publication::offer(self, bytes) {
            Ok(OfferOutcome::Published { .. }) => Ok(true),
            Ok(
                OfferOutcome::BackPressured
                | OfferOutcome::NotConnected
                | OfferOutcome::AdminAction,
            ) => Ok(false),
            Err(e) => Err(StreamError(e.to_string())),
        }
    }

    fn is_connected(&self) -> bool {
        Publication::is_connected(self)
    }
}
