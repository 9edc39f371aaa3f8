//! A FIX load: sessions (one thread each) keep a window of NewOrderSingles in flight through a
//! gateway and time each from sending to its first execution report. The orders are IOC buys
//! at the flow's mid price with nothing to match, so each is acknowledged and then cancelled
//! and nothing rests (the session's open-order limit never bites).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use gateway::client::{ClientError, FixClient};
use hdrhistogram::Histogram;

/// How long any one answer may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// What a load run measured.
#[derive(Debug)]
pub struct LoadReport {
    /// Order -> first execution report, nanoseconds.
    pub histogram: Histogram<u64>,
    pub orders: u64,
    pub elapsed: Duration,
}

impl LoadReport {
    /// Orders acknowledged per second over the run.
    #[must_use]
    #[allow(clippy::cast_precision_loss, reason = "a displayed rate")]
    pub fn orders_per_s(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `orders` orders in each of the sessions `senders` (configured in the gateway with
/// TargetCompID `target`), `window` in flight per session, all at once.
pub fn run(
    addr: SocketAddr,
    senders: &[String],
    target: &str,
    orders: u64,
    window: usize,
) -> anyhow::Result<LoadReport> {
    run_paced(addr, senders, target, orders, window, 0)
}

/// [`run`], each session sending at most `rate_per_s` orders a second (0: as fast as the
/// window allows).
pub fn run_paced(
    addr: SocketAddr,
    senders: &[String],
    target: &str,
    orders: u64,
    window: usize,
    rate_per_s: u64,
) -> anyhow::Result<LoadReport> {
    let start = Instant::now();
    let threads: Vec<_> = senders
        .iter()
        .map(|sender| {
            let (sender, target) = (sender.clone(), target.to_owned());
            let pace = Pace {
                orders,
                window,
                rate_per_s,
            };
            std::thread::spawn(move || session(addr, &sender, &target, pace))
        })
        .collect();
    let mut histogram = Histogram::new_with_bounds(1, 60_000_000_000, 3)?;
    for thread in threads {
        let part = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))??;
        histogram.add(part)?;
    }
    Ok(LoadReport {
        orders: histogram.len(),
        histogram,
        elapsed: start.elapsed(),
    })
}

/// How much one session sends, and how fast.
#[derive(Debug, Clone, Copy)]
struct Pace {
    orders: u64,
    window: usize,
    rate_per_s: u64,
}

impl Pace {
    /// When order `n` may go, from the start.
    fn due(&self, n: u64) -> Duration {
        if self.rate_per_s == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(n.saturating_mul(1_000_000_000) / self.rate_per_s)
    }
}

fn session(
    addr: SocketAddr,
    sender: &str,
    target: &str,
    pace: Pace,
) -> anyhow::Result<Histogram<u64>> {
    let Pace { orders, window, .. } = pace;
    let mut client = FixClient::connect(addr, sender, target, 1)
        .with_context(|| format!("{sender} connecting"))?;
    client
        .logon(30, ANSWER_TIMEOUT)
        .with_context(|| format!("{sender} logging on"))?;
    let mut histogram = Histogram::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut in_flight: VecDeque<(String, Instant)> = VecDeque::with_capacity(window);
    let mut sent = 0u64;
    let start = Instant::now();
    let mut waiting_since = Instant::now();
    while histogram.len() < orders {
        while !client.has_input()
            && in_flight.len() < window.max(1)
            && sent < orders
            && start.elapsed() >= pace.due(sent)
        {
            let id = format!("{sender}-{sent}");
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
            let time = gateway::session::format_utc(u64::try_from(now.as_nanos())?);
            let time = std::str::from_utf8(&time)?;
            let order = [
                (60, time),
                (11, id.as_str()),
                (55, "LOCK-USD"),
                (54, "1"),
                (38, "1"),
                (40, "2"),
                (44, "10000.00"),
                (59, "3"),
            ];
            client.queue(b"D", &order)?;
            in_flight.push_back((id, Instant::now()));
            sent += 1;
        }
        client.flush()?;
        // Paced, wake up for the next order's time; otherwise wait for an answer.
        let wait = if pace.rate_per_s == 0 {
            ANSWER_TIMEOUT
        } else {
            Duration::from_millis(1)
        };
        let message = match client.next_message(Instant::now() + wait) {
            Ok(m) => m,
            Err(ClientError::Timeout(_))
                if in_flight.front().is_none_or(|(_, at)| {
                    at.elapsed().min(waiting_since.elapsed()) < ANSWER_TIMEOUT
                }) =>
            {
                continue;
            }
            Err(ClientError::Timeout(_)) => bail!("{sender}: no answer for {ANSWER_TIMEOUT:?}"),
            Err(e) => return Err(e.into()),
        };
        waiting_since = Instant::now();
        if message.msg_type != "8" {
            bail!("{sender}: unexpected {message:?}");
        }
        // The first report of the oldest order in flight: reports come in order per session.
        if in_flight
            .front()
            .is_some_and(|(id, _)| id == message.get(11))
        {
            let (_, at) = in_flight.pop_front().unwrap_or_else(|| unreachable!());
            let ns = u64::try_from(at.elapsed().as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            histogram.saturating_record(ns);
        }
    }
    Ok(histogram)
}
