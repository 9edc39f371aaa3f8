//! The media driver: the process (or in-process component) that owns the term buffers,
//! sockets and flow control. Clients talk to it through files in its *aeron directory*.
//!
//! [`MediaDriver::launch`] embeds one in this process on its own threads; a standalone
//! `aeronmd` works just as well, and clients then only need its directory
//! ([`crate::Client::connect`]).

use crate::channel::{TERM_LENGTH_MAX, TERM_LENGTH_MIN};
use crate::idle::IdleConfig;
use rusteron_media_driver::bindings::aeron_threading_mode_enum;
use rusteron_media_driver::{AeronCError, AeronDriver, AeronDriverContext, IntoCString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Term length for UDP and IPC publications unless configured otherwise: 256 KiB, so a
/// publication's log is 768 KiB of `/dev/shm` instead of Aeron's 48 MiB (UDP) or
/// 192 MiB (IPC), and a whole test cluster fits a small `/dev/shm`. The largest message is
/// a term / 8 = 32 KiB.
pub const TERM_LENGTH_DEFAULT: u32 = 256 * 1024;

const _: () = assert!(TERM_LENGTH_DEFAULT.is_power_of_two());
const _: () =
    assert!(TERM_LENGTH_MIN <= TERM_LENGTH_DEFAULT && TERM_LENGTH_DEFAULT <= TERM_LENGTH_MAX);

/// Counter values buffer of the embedded driver: 1 MiB (Aeron's minimum) holds 8192 counters,
/// plenty for a cluster, where Aeron's 8 MiB default (plus 4x that in metadata) makes
/// `cnc.dat` 46 MiB. With it `cnc.dat` is about 11 MiB (the 4 MiB error log is Aeron's
/// minimum).
pub const COUNTERS_BUFFER_LENGTH_DEFAULT: usize = 1024 * 1024;

/// The shortest client liveness timeout accepted: four of the clients' 500 ms keepalives.
const CLIENT_LIVENESS_MIN_NS: u64 = 2_000_000_000;

/// How the driver spreads its three agents (conductor, sender, receiver) over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriverThreading {
    /// One thread runs all three agents: the right choice on 2 cores (the default).
    #[default]
    Shared,
    /// The conductor on one thread, sender and receiver sharing another.
    SharedNetwork,
    /// Three threads: Aeron's default, for machines with cores to spare.
    Dedicated,
}

/// How to start an embedded media driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverConfig {
    /// The aeron directory. `None` creates a unique one (see [`unique_aeron_dir`]).
    pub dir: Option<PathBuf>,
    /// Default term length of UDP publications (`aeron.term.buffer.length`); a channel's
    /// `term-length` parameter overrides it per publication.
    pub term_length: u32,
    /// Default term length of IPC publications (`aeron.ipc.term.buffer.length`).
    pub ipc_term_length: u32,
    /// MTU of UDP publications, header included (Aeron's default 1408 when `None`).
    pub mtu: Option<usize>,
    /// Bytes of counter values in `cnc.dat` (at least 1 MiB; metadata adds 4x this).
    pub counters_buffer_length: usize,
    /// How the driver's agents map to threads.
    pub threading: DriverThreading,
    /// What the driver's threads do when idle. [`IdleConfig::BusySpin`] here costs a whole
    /// core per driver thread.
    pub idle: IdleConfig,
    /// Delete the directory when the driver closes (and any stale one at start).
    pub delete_dir_on_shutdown: bool,
    /// How long a client (a process) may go without a keepalive before the driver drops it
    /// and its publications and subscriptions. A dead subscriber holds an IPC publication
    /// back until then (unless it is untethered), so in a cluster this bounds the stall after
    /// a process dies. Clients keep alive every 500 ms. `None`: Aeron's 10 s.
    pub client_liveness_timeout: Option<std::time::Duration>,
    /// How often the driver's conductor checks its resources: client liveness, and untethered
    /// subscribers that fell a window behind (see `docs/transport.md`). It bounds how late
    /// those timeouts fire. `None`: Aeron's 1 s.
    pub timer_interval: Option<std::time::Duration>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            dir: None,
            term_length: TERM_LENGTH_DEFAULT,
            ipc_term_length: TERM_LENGTH_DEFAULT,
            mtu: None,
            counters_buffer_length: COUNTERS_BUFFER_LENGTH_DEFAULT,
            threading: DriverThreading::Shared,
            idle: IdleConfig::Backoff,
            delete_dir_on_shutdown: true,
            client_liveness_timeout: None,
            timer_interval: None,
        }
    }
}

/// Why an embedded media driver did not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The directory path is not UTF-8 (the C driver takes a C string).
    #[error("aeron directory {0:?} is not valid UTF-8")]
    DirNotUtf8(PathBuf),
    /// A term length outside Aeron's rules.
    #[error("term length {0} is not a power of two in {TERM_LENGTH_MIN}..={TERM_LENGTH_MAX}")]
    BadTermLength(u32),
    /// A zero (or absurdly long) driver timer interval.
    #[error("driver timer interval {0:?} must be positive")]
    BadTimerInterval(std::time::Duration),
    /// A client liveness timeout too short for the clients' keepalives.
    #[error("client liveness timeout {0:?} is below 2 s (four client keepalives)")]
    BadLiveness(std::time::Duration),
    /// The driver context rejected a setting.
    #[error("setting {setting} on the driver context: {source}")]
    Config {
        /// Which setting.
        setting: &'static str,
        /// Aeron's error.
        source: AeronCError,
    },
    /// `aeron_driver_init` failed: typically another live driver in the same directory, or
    /// the directory cannot be created.
    #[error("initialising the media driver in {dir:?}: {source}")]
    Init {
        /// The aeron directory.
        dir: PathBuf,
        /// Aeron's error.
        source: AeronCError,
    },
    /// `aeron_driver_start` failed to start the agent threads.
    #[error("starting the media driver in {dir:?}: {source}")]
    Start {
        /// The aeron directory.
        dir: PathBuf,
        /// Aeron's error.
        source: AeronCError,
    },
    /// The directory was to be deleted on shutdown but is still there.
    #[error("removing aeron directory {dir:?} on shutdown: {source}")]
    RemoveDir {
        /// The aeron directory.
        dir: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// A media driver running inside this process on its own thread(s) (one with
/// [`DriverThreading::Shared`]). Dropping it stops the threads and, if configured, deletes
/// the directory; [`MediaDriver::close`] does the same and reports errors.
///
/// Close clients before their driver: a client whose driver is gone reports a driver
/// timeout to its error log after the driver timeout (10 s by default).
#[derive(Debug)]
pub struct MediaDriver {
    dir: PathBuf,
    delete_dir_on_shutdown: bool,
    // Dropped first: stops and joins the agent threads (`aeron_driver_close`).
    driver: Option<AeronDriver>,
    // Dropped last: `aeron_driver_context_close` deletes the directory if configured.
    context: Option<AeronDriverContext>,
}

impl MediaDriver {
    /// Start a driver with `config`; returns once its threads are running and clients can
    /// connect.
    pub fn launch(config: &DriverConfig) -> Result<Self, DriverError> {
        let dir = match &config.dir {
            Some(dir) => dir.clone(),
            None => unique_aeron_dir("driver"),
        };
        let context = configure_context(&dir, config)?;
        let driver = AeronDriver::new(&context).map_err(|source| DriverError::Init {
            dir: dir.clone(),
            source: source.capture_errmsg(),
        })?;
        driver.start(false).map_err(|source| DriverError::Start {
            dir: dir.clone(),
            source: source.capture_errmsg(),
        })?;
        Ok(Self {
            dir,
            delete_dir_on_shutdown: config.delete_dir_on_shutdown,
            driver: Some(driver),
            context: Some(context),
        })
    }

    /// The aeron directory clients connect to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stop the driver's threads, release its context and, if configured, check that the
    /// directory is gone (removing what the C driver left).
    pub fn close(mut self) -> Result<(), DriverError> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> Result<(), DriverError> {
        drop(self.driver.take());
        drop(self.context.take());
        if self.delete_dir_on_shutdown && self.dir.exists() {
            std::fs::remove_dir_all(&self.dir).map_err(|source| DriverError::RemoveDir {
                dir: self.dir.clone(),
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for MediaDriver {
    fn drop(&mut self) {
        // Errors are reported by `close`; a drop can only do its best.
        let _ = self.shut_down();
    }
}

fn check_term_length(bytes: u32) -> Result<usize, DriverError> {
    if !bytes.is_power_of_two() || !(TERM_LENGTH_MIN..=TERM_LENGTH_MAX).contains(&bytes) {
        return Err(DriverError::BadTermLength(bytes));
    }
    usize::try_from(bytes).map_err(|_| DriverError::BadTermLength(bytes))
}

fn configure_context(dir: &Path, config: &DriverConfig) -> Result<AeronDriverContext, DriverError> {
    let set = |setting: &'static str, result: Result<i32, AeronCError>| {
        result.map(drop).map_err(|source| DriverError::Config {
            setting,
            source: source.capture_errmsg(),
        })
    };
    let dir_str = dir
        .to_str()
        .ok_or_else(|| DriverError::DirNotUtf8(dir.to_owned()))?;
    let context = AeronDriverContext::new().map_err(|source| DriverError::Config {
        setting: "context",
        source: source.capture_errmsg(),
    })?;
    set("dir", context.set_dir(&dir_str.into_c_string()))?;
    set(
        "dir_delete_on_start",
        context.set_dir_delete_on_start(config.delete_dir_on_shutdown),
    )?;
    set(
        "dir_delete_on_shutdown",
        context.set_dir_delete_on_shutdown(config.delete_dir_on_shutdown),
    )?;
    let term = check_term_length(config.term_length)?;
    set("term_buffer_length", context.set_term_buffer_length(term))?;
    let ipc_term = check_term_length(config.ipc_term_length)?;
    set(
        "ipc_term_buffer_length",
        context.set_ipc_term_buffer_length(ipc_term),
    )?;
    if let Some(mtu) = config.mtu {
        set("mtu_length", context.set_mtu_length(mtu))?;
    }
    set(
        "counters_buffer_length",
        context.set_counters_buffer_length(config.counters_buffer_length),
    )?;
    let mode = match config.threading {
        DriverThreading::Shared => aeron_threading_mode_enum::AERON_THREADING_MODE_SHARED,
        DriverThreading::SharedNetwork => {
            aeron_threading_mode_enum::AERON_THREADING_MODE_SHARED_NETWORK
        }
        DriverThreading::Dedicated => aeron_threading_mode_enum::AERON_THREADING_MODE_DEDICATED,
    };
    set("threading_mode", context.set_threading_mode(mode))?;
    if let Some(timeout) = config.client_liveness_timeout {
        let ns =
            u64::try_from(timeout.as_nanos()).map_err(|_| DriverError::BadLiveness(timeout))?;
        if ns < CLIENT_LIVENESS_MIN_NS {
            return Err(DriverError::BadLiveness(timeout));
        }
        set(
            "client_liveness_timeout",
            context.set_client_liveness_timeout_ns(ns),
        )?;
    }
    if let Some(interval) = config.timer_interval {
        let ns = u64::try_from(interval.as_nanos())
            .ok()
            .filter(|&ns| ns > 0)
            .ok_or(DriverError::BadTimerInterval(interval))?;
        set("timer_interval", context.set_timer_interval_ns(ns))?;
    }
    set_driver_idle(&context, config.idle)?;
    Ok(context)
}

/// Give every driver agent the same idle strategy, as Aeron names it (`backoff`, `spin`,
/// `yield`, `sleeping` with its period in ns). Init arguments go first: the C loader checks
/// them when the strategy is set.
fn set_driver_idle(context: &AeronDriverContext, idle: IdleConfig) -> Result<(), DriverError> {
    let (name, args) = match idle {
        IdleConfig::Backoff => ("backoff", "10-20-1000-1000000".to_owned()),
        IdleConfig::BusySpin => ("spin", String::new()),
        IdleConfig::Yield => ("yield", String::new()),
        IdleConfig::Sleep(period) => ("sleeping", period.as_nanos().to_string()),
    };
    let (name, args) = (name.into_c_string(), args.into_c_string());
    let set = |setting: &'static str, result: Result<i32, AeronCError>| {
        result.map(drop).map_err(|source| DriverError::Config {
            setting,
            source: source.capture_errmsg(),
        })
    };
    set(
        "shared_idle_args",
        context.set_shared_idle_strategy_init_args(&args),
    )?;
    set("shared_idle", context.set_shared_idle_strategy(&name))?;
    set(
        "sharednetwork_idle_args",
        context.set_sharednetwork_idle_strategy_init_args(&args),
    )?;
    set(
        "sharednetwork_idle",
        context.set_sharednetwork_idle_strategy(&name),
    )?;
    set(
        "conductor_idle_args",
        context.set_conductor_idle_strategy_init_args(&args),
    )?;
    set("conductor_idle", context.set_conductor_idle_strategy(&name))?;
    set(
        "sender_idle_args",
        context.set_sender_idle_strategy_init_args(&args),
    )?;
    set("sender_idle", context.set_sender_idle_strategy(&name))?;
    set(
        "receiver_idle_args",
        context.set_receiver_idle_strategy_init_args(&args),
    )?;
    set("receiver_idle", context.set_receiver_idle_strategy(&name))?;
    Ok(())
}

/// A fresh aeron directory path: under `/dev/shm` when it exists (Aeron's default home on
/// Linux, memory-backed), else the temp dir; named from `label`, the process id, a
/// per-process counter and the clock, so parallel tests never share one.
pub fn unique_aeron_dir(label: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let seq = NEXT.fetch_add(1, Ordering::Relaxed);
    base.join(format!(
        "lockstep-aeron-{label}-{}-{seq}-{nanos}",
        std::process::id()
    ))
}
