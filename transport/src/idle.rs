//! Idle strategies: what a duty cycle does when `do_work()` found nothing to do.
//!
//! Aeron's vocabulary: `idle(work_count)` returns at once (and resets any back-off) when the
//! last cycle did work, otherwise it waits a little. On a 2-core machine the choice matters:
//! a busy-spinning thread owns a whole core, so two spinners (or one spinner plus the media
//! driver) starve everything else. [`Backoff`] is therefore the default everywhere and
//! [`BusySpin`] is an explicit choice for latency benchmarks; `docs/transport.md` has the costs.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What an agent's duty cycle calls after each `do_work()`.
pub trait IdleStrategy {
    /// Wait according to the strategy if `work_count` is zero; return at once (and reset)
    /// otherwise.
    fn idle(&mut self, work_count: usize);
    /// Forget any accumulated back-off, as if work had just been done.
    fn reset(&mut self);
}

/// Spin on the CPU without yielding: lowest wake-up latency, one core at 100%.
#[derive(Debug, Clone, Copy, Default)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            std::hint::spin_loop();
        }
    }

    fn reset(&mut self) {}
}

/// Give the core to another runnable thread when idle (`sched_yield`): still 100% of a core
/// when nothing else wants it, but it lets the driver or a peer run on a 2-core machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct Yielding;

impl IdleStrategy for Yielding {
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            std::thread::yield_now();
        }
    }

    fn reset(&mut self) {}
}

/// Sleep a fixed period when idle: near-zero CPU, wake-up latency of at least the period
/// (plus the kernel's timer slack, typically 50 µs).
#[derive(Debug, Clone, Copy)]
pub struct Sleeping {
    period: Duration,
}

impl Sleeping {
    /// Sleep `period` on every idle cycle.
    pub fn new(period: Duration) -> Self {
        Self { period }
    }

    /// The configured sleep.
    pub fn period(&self) -> Duration {
        self.period
    }
}

impl IdleStrategy for Sleeping {
    fn idle(&mut self, work_count: usize) {
        if work_count == 0 {
            std::thread::sleep(self.period);
        }
    }

    fn reset(&mut self) {}
}

/// Where a [`Backoff`] strategy is in its escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackoffPhase {
    /// The last cycle did work (or the strategy was just reset).
    NotIdle,
    /// Spinning: cheapest wake-up, burns the core.
    Spinning,
    /// Yielding the core to other runnable threads.
    Yielding,
    /// Parking (sleeping) for a period that doubles up to the maximum.
    Parking,
}

/// Limits of a [`Backoff`] strategy, Aeron's `BackoffIdleStrategy` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffParams {
    /// Idle cycles spent spinning before yielding.
    pub spins_max: u32,
    /// Idle cycles spent yielding before parking.
    pub yields_max: u32,
    /// The first park period.
    pub park_min: Duration,
    /// The park period stops doubling here.
    pub park_max: Duration,
}

impl Default for BackoffParams {
    /// Aeron's defaults: 10 spins, 5 yields in Java (20 in C), park 1 µs doubling to 1 ms.
    fn default() -> Self {
        Self {
            spins_max: 10,
            yields_max: 20,
            park_min: Duration::from_micros(1),
            park_max: Duration::from_millis(1),
        }
    }
}

/// Spin, then yield, then park with a doubling period up to a maximum: Aeron's
/// `BackoffIdleStrategy`. Any cycle that did work drops straight back to [`BackoffPhase::NotIdle`].
#[derive(Debug, Clone)]
pub struct Backoff {
    params: BackoffParams,
    phase: BackoffPhase,
    spins: u32,
    yields: u32,
    park_period: Duration,
}

impl Backoff {
    /// A back-off with the given limits.
    pub fn new(params: BackoffParams) -> Self {
        assert!(
            params.park_min <= params.park_max,
            "backoff park_min must not exceed park_max"
        );
        Self {
            params,
            phase: BackoffPhase::NotIdle,
            spins: 0,
            yields: 0,
            park_period: params.park_min,
        }
    }

    /// The current escalation phase.
    pub fn phase(&self) -> BackoffPhase {
        self.phase
    }

    /// How long the next park would last (meaningful in [`BackoffPhase::Parking`]).
    pub fn park_period(&self) -> Duration {
        self.park_period
    }

    /// The configured limits.
    pub fn params(&self) -> BackoffParams {
        self.params
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(BackoffParams::default())
    }
}

impl IdleStrategy for Backoff {
    fn idle(&mut self, work_count: usize) {
        if work_count > 0 {
            self.reset();
            return;
        }
        match self.phase {
            BackoffPhase::NotIdle => {
                self.phase = BackoffPhase::Spinning;
                self.spins = 1;
            }
            BackoffPhase::Spinning => {
                std::hint::spin_loop();
                self.spins += 1;
                if self.spins > self.params.spins_max {
                    self.phase = BackoffPhase::Yielding;
                    self.yields = 0;
                }
            }
            BackoffPhase::Yielding => {
                self.yields += 1;
                if self.yields > self.params.yields_max {
                    self.phase = BackoffPhase::Parking;
                    self.park_period = self.params.park_min;
                } else {
                    std::thread::yield_now();
                }
            }
            BackoffPhase::Parking => {
                std::thread::park_timeout(self.park_period);
                self.park_period = (self.park_period * 2).min(self.params.park_max);
            }
        }
    }

    fn reset(&mut self) {
        self.phase = BackoffPhase::NotIdle;
        self.spins = 0;
        self.yields = 0;
        self.park_period = self.params.park_min;
    }
}

/// An idle strategy chosen by configuration (`"backoff"`, `"busy-spin"`, `"yield"`,
/// `"sleep:1ms"`), for TOML files and command lines. [`IdleConfig::Backoff`] is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IdleConfig {
    /// [`Backoff`] with [`BackoffParams::default`].
    #[default]
    Backoff,
    /// [`BusySpin`]: benchmarks only on a 2-core machine.
    BusySpin,
    /// [`Yielding`].
    Yield,
    /// [`Sleeping`] for the given period.
    Sleep(Duration),
}

impl IdleConfig {
    /// Build the strategy this configuration names.
    pub fn build(self) -> Idle {
        match self {
            IdleConfig::Backoff => Idle::Backoff(Backoff::default()),
            IdleConfig::BusySpin => Idle::BusySpin(BusySpin),
            IdleConfig::Yield => Idle::Yielding(Yielding),
            IdleConfig::Sleep(period) => Idle::Sleeping(Sleeping::new(period)),
        }
    }
}

/// A configured idle strategy: static dispatch over the four kinds.
#[derive(Debug, Clone)]
pub enum Idle {
    /// See [`Backoff`].
    Backoff(Backoff),
    /// See [`BusySpin`].
    BusySpin(BusySpin),
    /// See [`Yielding`].
    Yielding(Yielding),
    /// See [`Sleeping`].
    Sleeping(Sleeping),
}

impl IdleStrategy for Idle {
    fn idle(&mut self, work_count: usize) {
        match self {
            Idle::Backoff(s) => s.idle(work_count),
            Idle::BusySpin(s) => s.idle(work_count),
            Idle::Yielding(s) => s.idle(work_count),
            Idle::Sleeping(s) => s.idle(work_count),
        }
    }

    fn reset(&mut self) {
        match self {
            Idle::Backoff(s) => s.reset(),
            Idle::BusySpin(s) => s.reset(),
            Idle::Yielding(s) => s.reset(),
            Idle::Sleeping(s) => s.reset(),
        }
    }
}

/// Why an idle-strategy name did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdleParseError {
    /// Not one of the known names.
    #[error("unknown idle strategy {0:?}: expected backoff, busy-spin, yield or sleep:<duration>")]
    UnknownName(String),
    /// `sleep:` followed by something that is not `<integer><ns|us|ms|s>`.
    #[error("bad sleep period {0:?}: expected <integer><ns|us|ms|s>, e.g. sleep:1ms")]
    BadPeriod(String),
    /// `sleep:0ms` and the like: a zero sleep is a yield; say `yield`.
    #[error("sleep period must be positive (use \"yield\" for no sleep)")]
    ZeroPeriod,
}

impl FromStr for IdleConfig {
    type Err = IdleParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "backoff" => return Ok(IdleConfig::Backoff),
            "busy-spin" | "busyspin" | "spin" => return Ok(IdleConfig::BusySpin),
            "yield" | "yielding" => return Ok(IdleConfig::Yield),
            _ => {}
        }
        let Some(period) = text.strip_prefix("sleep:") else {
            return Err(IdleParseError::UnknownName(text.to_owned()));
        };
        let period = parse_duration(period)?;
        if period.is_zero() {
            return Err(IdleParseError::ZeroPeriod);
        }
        Ok(IdleConfig::Sleep(period))
    }
}

/// Parse `<integer><unit>` with unit `ns`, `us`, `ms` or `s`.
fn parse_duration(text: &str) -> Result<Duration, IdleParseError> {
    let bad = || IdleParseError::BadPeriod(text.to_owned());
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (digits, unit) = text.split_at(split);
    let value: u64 = digits.parse().map_err(|_| bad())?;
    match unit {
        "ns" => Ok(Duration::from_nanos(value)),
        "us" => Ok(Duration::from_micros(value)),
        "ms" => Ok(Duration::from_millis(value)),
        "s" => Ok(Duration::from_secs(value)),
        _ => Err(bad()),
    }
}

impl fmt::Display for IdleConfig {
    /// The canonical name, which parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleConfig::Backoff => f.write_str("backoff"),
            IdleConfig::BusySpin => f.write_str("busy-spin"),
            IdleConfig::Yield => f.write_str("yield"),
            IdleConfig::Sleep(period) => {
                let nanos = period.as_nanos();
                if nanos % 1_000_000_000 == 0 {
                    write!(f, "sleep:{}s", nanos / 1_000_000_000)
                } else if nanos % 1_000_000 == 0 {
                    write!(f, "sleep:{}ms", nanos / 1_000_000)
                } else if nanos % 1_000 == 0 {
                    write!(f, "sleep:{}us", nanos / 1_000)
                } else {
                    write!(f, "sleep:{nanos}ns")
                }
            }
        }
    }
}
