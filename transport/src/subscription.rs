//! The receiving end of a stream: a subscription whose `poll` hands whole messages to the
//! caller, reassembling those that the publisher split into MTU-sized fragments.

use crate::channel::{Channel, StreamId};
use crate::client::{AddError, wait_for};
use crate::publication::WaitError;
use rusteron_client::{AeronCError, AeronFragmentClosureAssembler, AeronHeader, AeronSubscription};
use std::time::Duration;

/// Where a message came from: which publication (session) and where in its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// The publishing session (one per publication).
    pub session_id: i32,
    /// The stream position just after this message.
    pub position: i64,
}

/// Why a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The C client reported an error while polling.
    #[error("polling {channel} stream {stream_id}: {source}")]
    Aeron {
        /// The channel URI.
        channel: String,
        /// The stream.
        stream_id: StreamId,
        /// Aeron's error.
        source: AeronCError,
    },
}

/// A subscription added by [`crate::Client::add_subscription`]. Not `Sync`: one thread
/// polls it.
pub struct Subscription {
    inner: AeronSubscription,
    assembler: AeronFragmentClosureAssembler,
    channel: Channel,
    stream_id: StreamId,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("channel", &self.channel.to_string())
            .field("stream_id", &self.stream_id)
            .field("images", &self.image_count())
            .finish()
    }
}

type Handler<'a> = &'a mut dyn FnMut(&[u8], MessageInfo);

fn dispatch(handler: &mut Handler<'_>, message: &[u8], header: AeronHeader) {
    let info = MessageInfo {
        session_id: header.session_id().unwrap_or(0),
        position: header.position(),
    };
    handler(message, info);
}

impl Subscription {
    pub(crate) fn new(
        inner: AeronSubscription,
        channel: Channel,
        stream_id: StreamId,
    ) -> Result<Self, AddError> {
        let assembler =
            AeronFragmentClosureAssembler::new().map_err(|source| AddError::Rejected {
                what: "subscription",
                channel: channel.to_string(),
                stream_id,
                source: source.capture_errmsg(),
            })?;
        Ok(Self {
            inner,
            assembler,
            channel,
            stream_id,
        })
    }

    /// Deliver up to `fragment_limit` fragments' worth of whole messages to `handler`, in
    /// stream order per publication. Returns the number of fragments read (the work count
    /// for an idle strategy), which may exceed the number of messages delivered when
    /// large messages are being reassembled.
    pub fn poll(
        &mut self,
        mut handler: impl FnMut(&[u8]),
        fragment_limit: usize,
    ) -> Result<usize, PollError> {
        self.poll_with_info(|message, _| handler(message), fragment_limit)
    }

    /// [`Self::poll`], also telling the handler which session each message came from.
    pub fn poll_with_info(
        &mut self,
        mut handler: impl FnMut(&[u8], MessageInfo),
        fragment_limit: usize,
    ) -> Result<usize, PollError> {
        let mut handler: Handler<'_> = &mut handler;
        let fragments = self
            .assembler
            .poll(&self.inner, &mut handler, dispatch, fragment_limit)
            .map_err(|source| PollError::Aeron {
                channel: self.channel.to_string(),
                stream_id: self.stream_id,
                source: source.capture_errmsg(),
            })?;
        // A negative count would be an error, which `poll` already returned as `Err`.
        Ok(usize::try_from(fragments).unwrap_or(0))
    }

    /// Whether at least one publication's image is connected.
    pub fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    /// How many images (connected publications) this subscription has.
    pub fn image_count(&self) -> usize {
        self.inner
            .image_count()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }

    /// Wait, backing off, until at least `images` images are connected or `timeout` passes.
    pub fn wait_for_images(&self, images: usize, timeout: Duration) -> Result<(), WaitError> {
        let ready = wait_for(timeout, || {
            if self.inner.is_closed() {
                return Err(WaitError::Closed {
                    what: "subscription",
                    channel: self.channel.to_string(),
                    stream_id: self.stream_id,
                });
            }
            Ok((self.image_count() >= images).then_some(()))
        })?;
        ready.ok_or_else(|| WaitError::Timeout {
            what: "subscription",
            channel: self.channel.to_string(),
            stream_id: self.stream_id,
            timeout,
        })
    }

    /// Wait until at least one image is connected.
    pub fn wait_for_image(&self, timeout: Duration) -> Result<(), WaitError> {
        self.wait_for_images(1, timeout)
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
