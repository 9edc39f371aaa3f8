//! Round-trip latency as a client sees it: from when a command was due to be sent (open loop,
//! so a stall counts against every command that waited behind it: no coordinated omission)
//! to the first event answering it, and HdrHistogram's `.hgrm` text for plotting.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use protocol::{Event, Origin, RequestId, SessionId};

/// Slowest round trip recorded: longer ones are clamped to it.
const LATENCY_MAX_NS: u64 = 60_000_000_000;

/// The request an event answers, if it answers one (market data and fills of resting orders
/// answer nothing).
#[must_use]
pub fn answer_of(event: &Event) -> Option<(SessionId, RequestId)> {
    let (session, request) = match event {
        Event::ExecutionReport(r) => (r.session, r.request_id),
        Event::CancelReject(r) => (r.session, r.request_id),
        Event::MassCancelReport(r) => (r.session, r.request_id),
        Event::AdminReply(r) => (r.session, r.request_id),
        Event::Trade(_) | Event::BookLevel(_) | Event::TopOfBook(_) => return None,
    };
    (request.0 != 0).then_some((session, request))
}

#[derive(Debug, Default)]
struct Session {
    /// Requests sent and not yet answered, oldest first, with when each was due.
    pending: VecDeque<(RequestId, Instant)>,
    last_answered: RequestId,
}

/// Outstanding requests by session, and the round trips of those answered.
#[derive(Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
    sessions: BTreeMap<SessionId, Session>,
    outstanding: usize,
    /// Requests answered by nothing (a later request of the session was answered first).
    pub unanswered: u64,
}

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    #[must_use]
    pub fn new() -> Self {
        Self {
            histogram: Histogram::new_with_bounds(1, LATENCY_MAX_NS, 3)
                .expect("static histogram bounds are valid"),
            sessions: BTreeMap::new(),
            outstanding: 0,
            unanswered: 0,
        }
    }

    /// A request went out; it was due at `due`.
    pub fn sent(&mut self, origin: &Origin, due: Instant) {
        let session = self.sessions.entry(origin.session).or_default();
        session.pending.push_back((origin.request_id, due));
        self.outstanding += 1;
    }

    /// An event arrived at `now`: the first one answering a request records its round trip.
    pub fn on_event(&mut self, event: &Event, now: Instant) {
        let Some((session, request)) = answer_of(event) else {
            return;
        };
        let Some(track) = self.sessions.get_mut(&session) else {
            return;
        };
        if request <= track.last_answered {
            return; // a later event of an answered request
        }
        track.last_answered = request;
        while let Some(&(id, due)) = track.pending.front() {
            if id > request {
                break;
            }
            track.pending.pop_front();
            self.outstanding -= 1;
            if id < request {
                self.unanswered += 1;
                continue;
            }
            let ns = u64::try_from(now.saturating_duration_since(due).as_nanos())
                .unwrap_or(LATENCY_MAX_NS);
            self.histogram
                .saturating_record(ns.clamp(1, LATENCY_MAX_NS));
        }
    }

    /// The round trips so far, which start again from none (outstanding requests stay).
    pub fn take_histogram(&mut self) -> Histogram<u64> {
        let empty = Histogram::new_from(&self.histogram);
        std::mem::replace(&mut self.histogram, empty)
    }

    /// Requests sent and not answered yet.
    #[must_use]
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }

    /// The round trips so far, in nanoseconds.
    #[must_use]
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }
}

/// The value at `quantile`, in microseconds.
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "a displayed figure")]
pub fn micros(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1_000.0
}

/// Writes HdrHistogram's percentile-distribution text (`.hgrm`) for a histogram of
/// nanoseconds, values in microseconds, readable by the usual plotters.
#[allow(clippy::cast_precision_loss, reason = "displayed figures")]
pub fn write_hgrm(histogram: &Histogram<u64>, path: &Path) -> anyhow::Result<()> {
    use std::fmt::Write as _;
    let mut text = String::from("       Value     Percentile TotalCount 1/(1-Percentile)\n\n");
    let mut total = 0u64;
    for v in histogram.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let quantile = v.quantile_iterated_to();
        let inverse = if quantile < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - quantile))
        } else {
            format!("{:>14}", "inf")
        };
        let value = v.value_iterated_to() as f64 / 1_000.0;
        let _ = writeln!(text, "{value:12.3} {quantile:14.12} {total:10} {inverse}");
    }
    let _ = writeln!(
        text,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]",
        histogram.mean() / 1_000.0,
        histogram.stdev() / 1_000.0,
        histogram.max() as f64 / 1_000.0,
        histogram.len(),
    );
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use protocol::{
        AccountId, AdminReply, InstrumentId, OrderId, Price, Qty, Side, TimestampNs, Trade, TradeId,
    };

    fn reply(session: u32, request: u64) -> Event {
        Event::AdminReply(AdminReply {
            request_id: RequestId(request),
            session: SessionId(session),
            command_template: 0,
            reason: None,
        })
    }

    fn trade() -> Event {
        Event::Trade(Trade {
            trade_id: TradeId(1),
            price: Price(10),
            qty: Qty(1),
            maker_order_id: OrderId(1),
            taker_order_id: OrderId(2),
            timestamp: TimestampNs(0),
            maker_account: AccountId(1),
            taker_account: AccountId(2),
            instrument: InstrumentId(1),
            aggressor_side: Side::Buy,
        })
    }

    fn origin(session: u32, request: u64) -> Origin {
        Origin {
            session: SessionId(session),
            account: AccountId(session),
            request_id: RequestId(request),
        }
    }

    #[test]
    fn the_first_answer_counts_from_when_the_request_was_due() {
        let start = Instant::now();
        let mut latency = Latency::new();
        latency.sent(&origin(1, 1), start);
        latency.sent(&origin(1, 2), start + Duration::from_millis(1));
        latency.sent(&origin(2, 1), start);
        latency.on_event(&trade(), start);
        assert_eq!(latency.outstanding(), 3, "market data answers nothing");
        latency.on_event(&reply(1, 1), start + Duration::from_millis(5));
        latency.on_event(&reply(1, 1), start + Duration::from_millis(9));
        assert_eq!(
            latency.outstanding(),
            2,
            "a second event of request 1 is not an answer"
        );
        // Session 1's request 2 is answered only by... request 3's answer: 2 went unanswered.
        latency.sent(&origin(1, 3), start);
        latency.on_event(&reply(1, 3), start + Duration::from_millis(2));
        assert_eq!((latency.outstanding(), latency.unanswered), (1, 1));
        let h = latency.histogram();
        assert_eq!(h.len(), 2);
        assert!((micros(h, 0.0) - 2_000.0).abs() < 5.0, "{}", micros(h, 0.0));
        assert!(
            (micros(h, 1.0) - 5_000.0).abs() < 10.0,
            "{}",
            micros(h, 1.0)
        );
    }
}
