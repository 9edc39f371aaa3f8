//! An open-loop client: commands are due at fixed times (a rate), each is offered once due
//! (again and again while the ingress pushes back), and its round trip counts from when it
//! was due, so a stall is charged to every command behind it (no coordinated omission).

use std::time::{Duration, Instant};

use protocol::{Command, EgressEvent};
use workload::Flow;

use super::LocalCluster;
use super::latency::Latency;

/// Offers a flow at a fixed rate and tracks the answers.
#[derive(Debug)]
pub struct OpenLoop {
    flow: Flow,
    next: Option<Command>,
    interval_ns: u64,
    total: u64,
    sent: u64,
    /// Commands sent before this phase began.
    base: u64,
    start: Instant,
    latency: Latency,
}

impl OpenLoop {
    /// `total` commands of `flow` at `rate` per second, the first due now.
    ///
    /// # Panics
    /// If `rate` is zero.
    #[must_use]
    pub fn new(mut flow: Flow, rate: u64, total: u64) -> Self {
        assert!(rate > 0, "a rate of zero commands per second");
        Self {
            next: flow.next(),
            flow,
            interval_ns: 1_000_000_000 / rate,
            total,
            sent: 0,
            base: 0,
            start: Instant::now(),
            latency: Latency::new(),
        }
    }

    fn due(&self, i: u64) -> Instant {
        self.start + Duration::from_nanos((i - self.base) * self.interval_ns)
    }

    /// Offers every command due by now, stopping at the first the ingress refuses (it stays
    /// due). Returns how many went out.
    pub fn offer_due(&mut self, cluster: &mut LocalCluster) -> anyhow::Result<usize> {
        let mut work = 0;
        let now = Instant::now();
        while self.sent < self.total && self.due(self.sent) <= now {
            let Some(command) = &self.next else { break };
            if !cluster.offer(command)? {
                break;
            }
            self.latency.sent(command.origin(), self.due(self.sent));
            self.sent += 1;
            self.next = self.flow.next();
            work += 1;
        }
        Ok(work)
    }

    /// An event reached the client at `now`.
    pub fn on_event(&mut self, event: &EgressEvent, now: Instant) {
        self.latency.on_event(&event.event, now);
    }

    /// Every command sent and answered (or the flow ran out).
    #[must_use]
    pub fn is_done(&self) -> bool {
        (self.sent == self.total || self.next.is_none()) && self.latency.outstanding() == 0
    }

    /// Commands sent so far.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Half the commands have gone out.
    #[must_use]
    pub fn is_halfway(&self) -> bool {
        self.sent >= self.total / 2
    }

    /// When the last command is due: the run cannot end before.
    #[must_use]
    pub fn last_due(&self) -> Instant {
        self.due(self.total)
    }

    /// Sends nothing more: the run ends once what went out is answered.
    pub fn stop_sending(&mut self) {
        self.total = self.sent;
    }

    /// Another phase: `more` commands at `rate` per second, the first due now. The flow and
    /// the outstanding requests carry on.
    ///
    /// # Panics
    /// If `rate` is zero.
    pub fn continue_at(&mut self, rate: u64, more: u64) {
        assert!(rate > 0, "a rate of zero commands per second");
        self.interval_ns = 1_000_000_000 / rate;
        self.base = self.sent;
        self.total = self.sent + more;
        self.start = Instant::now();
    }

    /// The round trips so far, which start again from none.
    pub fn take_histogram(&mut self) -> hdrhistogram::Histogram<u64> {
        self.latency.take_histogram()
    }

    /// Since the first command was due.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The round trips measured.
    #[must_use]
    pub fn latency(&self) -> &Latency {
        &self.latency
    }
}
