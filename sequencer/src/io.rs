//! The seams between the sans-IO cores and the outside world: a clock, messages in, messages
//! out. Aeron implements them in the processes; a simulator implements them with virtual time
//! and a fake network.

/// A source of time in nanoseconds. The processes use the wall clock; a simulator its own.
pub trait Clock {
    /// Nanoseconds since the Unix epoch (or the simulation's start).
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

/// Messages arriving on one stream.
pub trait Inbound {
    /// Hands at most `limit` whole messages to `handler`, in order; returns how many.
    fn poll(&mut self, limit: usize, handler: &mut dyn FnMut(&[u8])) -> usize;
}

/// Messages leaving on one stream.
pub trait Outbound {
    /// Sends one message. `Ok(false)` means back-pressure: nothing was sent, offer it again
    /// later. Errors are for a stream that cannot send at all (closed, not connected for good).
    fn offer(&mut self, bytes: &[u8]) -> Result<bool, OutboundError>;
}

/// A stream that cannot send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("outbound stream failed: {0}")]
pub struct OutboundError(pub String);
