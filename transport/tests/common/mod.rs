//! Shared test setup: every test gets its own driver directory and stream ids, so the tests
//! in a binary run in parallel without meeting each other.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};
use transport::{
    Client, ClientConfig, DriverConfig, IdleStrategy, MediaDriver, OfferOutcome, Publication,
    Subscription,
};

/// Upper bound for anything a test waits on; failures report instead of hanging.
pub const WAIT: Duration = Duration::from_secs(10);

/// An embedded driver in a fresh directory with `config`'s other settings.
pub fn driver_with(config: DriverConfig) -> MediaDriver {
    MediaDriver::launch(&config).expect("embedded media driver starts")
}

/// An embedded driver with the default (small-term, shared, back-off) configuration.
pub fn driver() -> MediaDriver {
    driver_with(DriverConfig::default())
}

/// A client of `driver`.
pub fn client(driver: &MediaDriver) -> Client {
    Client::connect(driver.dir(), &ClientConfig::default()).expect("client connects")
}

/// Offer `message` until it is published, polling `subscription` (into `sink`) whenever the
/// publication pushes back, so a single thread can drive both ends.
pub fn offer_draining(
    publication: &Publication,
    message: &[u8],
    subscription: &mut Subscription,
    sink: &mut Vec<Vec<u8>>,
) {
    let deadline = Instant::now() + WAIT;
    let mut idle = transport::Backoff::default();
    loop {
        let outcome = publication.offer(message).expect("offer does not fail");
        if outcome.is_published() {
            return;
        }
        assert_ne!(outcome, OfferOutcome::NotConnected, "subscriber went away");
        assert!(Instant::now() < deadline, "offer stuck at {outcome:?}");
        let fragments = subscription
            .poll(|m| sink.push(m.to_vec()), 64)
            .expect("poll");
        idle.idle(fragments);
    }
}

/// Poll until `sink` holds `count` messages or the deadline passes.
pub fn poll_until(subscription: &mut Subscription, sink: &mut Vec<Vec<u8>>, count: usize) {
    let deadline = Instant::now() + WAIT;
    let mut idle = transport::Backoff::default();
    while sink.len() < count {
        assert!(
            Instant::now() < deadline,
            "received {} of {count} messages before the deadline",
            sink.len()
        );
        let fragments = subscription
            .poll(|m| sink.push(m.to_vec()), 64)
            .expect("poll");
        idle.idle(fragments);
    }
}
