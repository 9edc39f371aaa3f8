//! Agents on their own threads (built there, stopped by a shared flag) and invoked from the
//! caller's loop; an echo agent that owns Aeron handles on its runner thread.

mod common;

use common::{WAIT, client};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;
use transport::{
    Agent, AgentInvoker, AgentRunner, Channel, Client, ClientConfig, IdleConfig, Publication,
    RunnerError, StopFlag, StreamId, Subscription,
};

/// Counts its cycles; reports work on every other one.
struct Counter {
    cycles: Arc<AtomicU64>,
    closed: Arc<AtomicBool>,
}

impl Agent for Counter {
    fn do_work(&mut self) -> usize {
        let n = self.cycles.fetch_add(1, Ordering::Relaxed);
        usize::from(n.is_multiple_of(2))
    }

    fn name(&self) -> &str {
        "counter"
    }

    fn on_close(&mut self) {
        self.closed.store(true, Ordering::Release);
    }
}

fn counter() -> (Counter, Arc<AtomicU64>, Arc<AtomicBool>) {
    let cycles = Arc::new(AtomicU64::new(0));
    let closed = Arc::new(AtomicBool::new(false));
    let agent = Counter {
        cycles: Arc::clone(&cycles),
        closed: Arc::clone(&closed),
    };
    (agent, cycles, closed)
}

fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    let mut idle = transport::Backoff::default();
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        transport::IdleStrategy::idle(&mut idle, 0);
    }
}

#[test]
fn a_runner_runs_its_agent_until_closed_then_calls_on_close() {
    let (agent, cycles, closed) = counter();
    let stop = StopFlag::new();
    let runner = AgentRunner::start("counter", IdleConfig::Backoff, &stop, move || {
        Ok::<_, std::io::Error>(agent)
    })
    .expect("starts");
    assert_eq!(runner.name(), "counter");
    wait_until("100 cycles", || cycles.load(Ordering::Relaxed) >= 100);
    assert!(!closed.load(Ordering::Acquire));
    let ran = runner.close().expect("closes cleanly");
    assert!(ran >= 100);
    assert!(closed.load(Ordering::Acquire), "on_close ran");
    assert!(stop.is_stopped(), "closing raises the shared flag");
}

#[test]
fn one_stop_flag_stops_every_runner_sharing_it() {
    let stop = StopFlag::new();
    let (a, _, a_closed) = counter();
    let (b, _, b_closed) = counter();
    let ra = AgentRunner::start("a", IdleConfig::Yield, &stop, move || {
        Ok::<_, std::io::Error>(a)
    })
    .expect("a starts");
    let rb = AgentRunner::start("b", IdleConfig::Backoff, &stop, move || {
        Ok::<_, std::io::Error>(b)
    })
    .expect("b starts");
    stop.stop();
    wait_until("both runners to finish", || {
        ra.is_finished() && rb.is_finished()
    });
    assert!(a_closed.load(Ordering::Acquire) && b_closed.load(Ordering::Acquire));
    ra.close().expect("a");
    rb.close().expect("b");
}

#[test]
fn a_failing_or_panicking_factory_is_reported_by_start() {
    let stop = StopFlag::new();
    let failed = AgentRunner::start("broken", IdleConfig::Backoff, &stop, || {
        Err::<Counter, _>(std::io::Error::other("no config"))
    })
    .expect_err("build fails");
    assert!(
        matches!(&failed, RunnerError::Build { name, source } if name == "broken" && source.to_string() == "no config"),
        "{failed:?}"
    );
    let panicked = AgentRunner::start(
        "panicky",
        IdleConfig::Backoff,
        &stop,
        || -> Result<Counter, std::io::Error> { panic!("factory panics") },
    )
    .expect_err("build panics");
    assert!(
        matches!(panicked, RunnerError::Panicked { .. }),
        "{panicked:?}"
    );
    assert!(!stop.is_stopped(), "a failed start stops nobody else");
}

#[test]
fn an_invoker_runs_cycles_on_the_callers_thread_and_closes_once() {
    let (agent, cycles, closed) = counter();
    let mut invoker = AgentInvoker::new(agent);
    let work: usize = (0..10).map(|_| invoker.invoke()).sum();
    assert_eq!(work, 5, "work on every other cycle");
    assert_eq!(cycles.load(Ordering::Relaxed), 10);
    assert_eq!(invoker.agent().name(), "counter");
    invoker.close();
    invoker.close();
    assert!(closed.load(Ordering::Acquire) && invoker.is_closed());
    assert_eq!(invoker.invoke(), 0, "a closed invoker does nothing");
    assert_eq!(cycles.load(Ordering::Relaxed), 10);
}

/// Echoes every message from one stream onto another: an agent owning Aeron handles.
struct Echo {
    subscription: Subscription,
    publication: Publication,
    _client: Client,
    pending: Vec<Vec<u8>>,
}

impl Agent for Echo {
    fn do_work(&mut self) -> usize {
        let pending = &mut self.pending;
        let read = self
            .subscription
            .poll(|m| pending.push(m.to_vec()), 16)
            .expect("echo poll");
        let mut sent = 0;
        while let Some(message) = self.pending.first() {
            if !self
                .publication
                .offer(message)
                .expect("echo offer")
                .is_published()
            {
                break; // keep it and retry next cycle: never drop
            }
            self.pending.remove(0);
            sent += 1;
        }
        read + sent
    }

    fn name(&self) -> &str {
        "echo"
    }
}

#[test]
fn an_agent_built_on_its_runner_thread_echoes_over_ipc() {
    let driver = common::driver();
    let dir = driver.dir().to_owned();
    let stop = StopFlag::new();
    let runner = AgentRunner::start("echo", IdleConfig::Backoff, &stop, move || {
        let client = Client::connect(&dir, &ClientConfig::default())?;
        let subscription = client.add_subscription(&Channel::ipc(), StreamId(401), WAIT)?;
        let publication = client.add_publication(&Channel::ipc(), StreamId(402), WAIT)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Echo {
            subscription,
            publication,
            _client: client,
            pending: Vec::new(),
        })
    })
    .expect("echo agent starts");

    let client = client(&driver);
    let mut replies = client
        .add_subscription(&Channel::ipc(), StreamId(402), WAIT)
        .expect("reply subscription");
    let requests = client
        .add_publication(&Channel::ipc(), StreamId(401), WAIT)
        .expect("request publication");
    requests.wait_connected(WAIT).expect("echo subscribed");
    let mut got = Vec::new();
    for i in 0u32..200 {
        common::offer_draining(&requests, &i.to_le_bytes(), &mut replies, &mut got);
    }
    common::poll_until(&mut replies, &mut got, 200);
    let expected: Vec<Vec<u8>> = (0u32..200).map(|i| i.to_le_bytes().to_vec()).collect();
    assert_eq!(got, expected);
    runner.close().expect("echo closes");
}
