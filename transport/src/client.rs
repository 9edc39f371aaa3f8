//! A client connection to a media driver (embedded or standalone), and the adding of
//! publications and subscriptions through it.

use crate::channel::{Channel, ChannelError, StreamId};
use crate::idle::{Backoff, IdleStrategy};
use crate::publication::Publication;
use crate::subscription::Subscription;
use rusteron_client::{
    Aeron, AeronAsyncAddExclusivePublication, AeronAsyncAddSubscription, AeronCError, AeronContext,
    Handlers, IntoCString,
};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many asynchronous client errors [`Client::errors`] keeps (the oldest are dropped).
pub const CLIENT_ERRORS_KEPT_MAX: usize = 32;

/// How to connect a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long to wait for the driver's files to appear and answer, and after which a
    /// silent driver is declared dead (Aeron's `driver timeout`, 10 s by default).
    pub driver_timeout: Duration,
    /// A name the driver shows for this client in its counters.
    pub client_name: String,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            driver_timeout: Duration::from_secs(10),
            client_name: "lockstep".to_owned(),
        }
    }
}

/// Why a client could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The directory path is not UTF-8 (the C client takes a C string).
    #[error("aeron directory {0:?} is not valid UTF-8")]
    DirNotUtf8(std::path::PathBuf),
    /// The client context rejected a setting.
    #[error("setting {setting} on the client context: {source}")]
    Config {
        /// Which setting.
        setting: &'static str,
        /// Aeron's error.
        source: AeronCError,
    },
    /// No driver answered in the directory within the driver timeout, or the client could
    /// not start its conductor.
    #[error("connecting to the media driver in {dir}: {source}")]
    Connect {
        /// The aeron directory.
        dir: String,
        /// Aeron's error.
        source: AeronCError,
    },
}

/// Why a publication or subscription could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The channel cannot be handed to the C client.
    #[error(transparent)]
    Channel(#[from] ChannelError),
    /// The driver rejected the registration (bad URI parameter, port in use, ...).
    #[error("adding {what} on {channel} stream {stream_id}: {source}")]
    Rejected {
        /// `"publication"` or `"subscription"`.
        what: &'static str,
        /// The channel URI.
        channel: String,
        /// The stream.
        stream_id: StreamId,
        /// Aeron's error.
        source: AeronCError,
    },
    /// The driver did not answer before the deadline.
    #[error("adding {what} on {channel} stream {stream_id}: no answer within {timeout:?}")]
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
}

/// Errors the C client reported asynchronously (from its conductor thread), kept so that
/// they surface in tests and logs instead of being printed or, as with Aeron's default
/// handler, ending the process.
#[derive(Debug, Default)]
struct ErrorLog {
    total: u64,
    recent: VecDeque<String>,
}

/// A connection to a media driver. Publications and subscriptions it adds keep it alive;
/// it is closed when the last of them and the `Client` itself are dropped.
///
/// Not `Send`: rusteron's handles use non-atomic reference counts unless its
/// `multi-threaded` feature is on, so each thread connects its own client
/// ([`crate::AgentRunner`] builds agents on their thread for this reason).
pub struct Client {
    aeron: Aeron,
    dir: String,
    errors: Arc<Mutex<ErrorLog>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("dir", &self.dir)
            .field("client_id", &self.aeron.client_id())
            .finish()
    }
}

impl Client {
    /// Connect to the driver whose aeron directory is `dir`, waiting up to the configured
    /// driver timeout for it to answer.
    pub fn connect(dir: &Path, config: &ClientConfig) -> Result<Self, ConnectError> {
        let dir = dir
            .to_str()
            .ok_or_else(|| ConnectError::DirNotUtf8(dir.to_owned()))?
            .to_owned();
        let set = |setting: &'static str, result: Result<i32, AeronCError>| {
            result.map(drop).map_err(|source| ConnectError::Config {
                setting,
                source: source.capture_errmsg(),
            })
        };
        let context = AeronContext::new().map_err(|source| ConnectError::Config {
            setting: "context",
            source: source.capture_errmsg(),
        })?;
        set("dir", context.set_dir(&dir.as_str().into_c_string()))?;
        let timeout_ms = u64::try_from(config.driver_timeout.as_millis()).unwrap_or(u64::MAX);
        set(
            "driver_timeout_ms",
            context.set_driver_timeout_ms(timeout_ms),
        )?;
        set(
            "client_name",
            context.set_client_name(&config.client_name.as_str().into_c_string()),
        )?;
        let errors = Arc::new(Mutex::new(ErrorLog::default()));
        let sink = Arc::clone(&errors);
        context
            .set_error_handler(Some(move |code: i32, message: &str| {
                record_error(&sink, code, message);
            }))
            .map_err(|source| ConnectError::Config {
                setting: "error_handler",
                source: source.capture_errmsg(),
            })?;
        let connect_error = |source: AeronCError| ConnectError::Connect {
            dir: dir.clone(),
            source: source.capture_errmsg(),
        };
        let aeron = Aeron::new(&context).map_err(connect_error)?;
        aeron.start().map_err(connect_error)?;
        Ok(Self { aeron, dir, errors })
    }

    /// The aeron directory this client is connected to.
    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The errors the C client reported asynchronously, oldest first (at most
    /// [`CLIENT_ERRORS_KEPT_MAX`]), and how many there were in all.
    pub fn errors(&self) -> (u64, Vec<String>) {
        let log = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        (log.total, log.recent.iter().cloned().collect())
    }

    /// Start adding an exclusive publication without blocking; poll the result from the
    /// agent's duty cycle.
    pub fn start_add_publication(
        &self,
        channel: &Channel,
        stream_id: StreamId,
    ) -> Result<PendingPublication, AddError> {
        let uri = channel.to_c_string()?;
        let rejected = |source: AeronCError| AddError::Rejected {
            what: "publication",
            channel: channel.to_string(),
            stream_id,
            source: source.capture_errmsg(),
        };
        let pending = self
            .aeron
            .async_add_exclusive_publication(&uri, stream_id.0)
            .map_err(rejected)?;
        Ok(PendingPublication {
            pending,
            channel: channel.clone(),
            stream_id,
        })
    }

    /// Add an exclusive publication, waiting up to `timeout` for the driver to create it.
    /// The publication may not be connected to any subscriber yet: see
    /// [`Publication::wait_connected`].
    pub fn add_publication(
        &self,
        channel: &Channel,
        stream_id: StreamId,
        timeout: Duration,
    ) -> Result<Publication, AddError> {
        let pending = self.start_add_publication(channel, stream_id)?;
        wait_for(timeout, || pending.poll())?.ok_or_else(|| AddError::Timeout {
            what: "publication",
            channel: channel.to_string(),
            stream_id,
            timeout,
        })
    }

    /// Start adding a subscription without blocking.
    pub fn start_add_subscription(
        &self,
        channel: &Channel,
        stream_id: StreamId,
    ) -> Result<PendingSubscription, AddError> {
        let uri = channel.to_c_string()?;
        let rejected = |source: AeronCError| AddError::Rejected {
            what: "subscription",
            channel: channel.to_string(),
            stream_id,
            source: source.capture_errmsg(),
        };
        let pending = self
            .aeron
            .async_add_subscription(&uri, stream_id.0, Handlers::NONE, Handlers::NONE)
            .map_err(rejected)?;
        Ok(PendingSubscription {
            pending,
            channel: channel.clone(),
            stream_id,
        })
    }

    /// Add a subscription, waiting up to `timeout` for the driver to create it. Images
    /// (one per connected publication) appear later: see [`Subscription::wait_for_image`].
    pub fn add_subscription(
        &self,
        channel: &Channel,
        stream_id: StreamId,
        timeout: Duration,
    ) -> Result<Subscription, AddError> {
        let pending = self.start_add_subscription(channel, stream_id)?;
        wait_for(timeout, || pending.poll())?.ok_or_else(|| AddError::Timeout {
            what: "subscription",
            channel: channel.to_string(),
            stream_id,
            timeout,
        })
    }
}

fn record_error(log: &Mutex<ErrorLog>, code: i32, message: &str) {
    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
    log.total += 1;
    if log.recent.len() == CLIENT_ERRORS_KEPT_MAX {
        log.recent.pop_front();
    }
    log.recent
        .push_back(format!("aeron error {code}: {message}"));
}

/// Poll `step` with a back-off until it yields a value, fails, or `timeout` passes
/// (`Ok(None)`).
pub(crate) fn wait_for<T, E>(
    timeout: Duration,
    mut step: impl FnMut() -> Result<Option<T>, E>,
) -> Result<Option<T>, E> {
    let deadline = Instant::now() + timeout;
    let mut idle = Backoff::default();
    loop {
        if let Some(value) = step()? {
            return Ok(Some(value));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        idle.idle(0);
    }
}

/// A publication the driver is still creating.
pub struct PendingPublication {
    pending: AeronAsyncAddExclusivePublication,
    channel: Channel,
    stream_id: StreamId,
}

impl std::fmt::Debug for PendingPublication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPublication")
            .field("channel", &self.channel.to_string())
            .field("stream_id", &self.stream_id)
            .finish()
    }
}

impl PendingPublication {
    /// `Some` once the driver has created the publication.
    pub fn poll(&self) -> Result<Option<Publication>, AddError> {
        match self.pending.poll() {
            Ok(Some(publication)) => {
                Publication::new(publication, self.channel.clone(), self.stream_id).map(Some)
            }
            Ok(None) => Ok(None),
            Err(source) => Err(AddError::Rejected {
                what: "publication",
                channel: self.channel.to_string(),
                stream_id: self.stream_id,
                source: source.capture_errmsg(),
            }),
        }
    }
}

/// A subscription the driver is still creating.
pub struct PendingSubscription {
    pending: AeronAsyncAddSubscription,
    channel: Channel,
    stream_id: StreamId,
}

impl std::fmt::Debug for PendingSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSubscription")
            .field("channel", &self.channel.to_string())
            .field("stream_id", &self.stream_id)
            .finish()
    }
}

impl PendingSubscription {
    /// `Some` once the driver has created the subscription.
    pub fn poll(&self) -> Result<Option<Subscription>, AddError> {
        match self.pending.poll() {
            Ok(Some(subscription)) => {
                Subscription::new(subscription, self.channel.clone(), self.stream_id).map(Some)
            }
            Ok(None) => Ok(None),
            Err(source) => Err(AddError::Rejected {
                what: "subscription",
                channel: self.channel.to_string(),
                stream_id: self.stream_id,
                source: source.capture_errmsg(),
            }),
        }
    }
}
