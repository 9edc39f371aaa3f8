//! UDP on 127.0.0.1: unicast, and multi-destination-cast (dynamic and manual) delivering one
//! stream to two subscribers, as the sequencer will feed the primary and backup engines.

mod common;

use common::{WAIT, client, poll_until};
use std::time::Instant;
use transport::{Channel, IdleStrategy, Publication, StreamId, Subscription, ephemeral_udp_port};

fn endpoint() -> String {
    format!(
        "127.0.0.1:{}",
        ephemeral_udp_port().expect("a free UDP port")
    )
}

/// Publish `count` numbered messages, retrying on back-pressure while polling every
/// subscriber, then poll until each has them all; return what each received.
fn publish_to_all(
    publication: &Publication,
    subscriptions: &mut [Subscription],
    count: u32,
) -> Vec<Vec<Vec<u8>>> {
    let mut got = vec![Vec::new(); subscriptions.len()];
    let mut idle = transport::Backoff::default();
    for i in 0..count {
        let deadline = Instant::now() + WAIT;
        while !publication
            .offer(&i.to_le_bytes())
            .expect("offer")
            .is_published()
        {
            assert!(Instant::now() < deadline, "offer {i} stuck");
            let mut work = 0;
            for (subscription, sink) in subscriptions.iter_mut().zip(got.iter_mut()) {
                work += subscription
                    .poll(|m| sink.push(m.to_vec()), 64)
                    .expect("poll");
            }
            idle.idle(work);
        }
    }
    let total = usize::try_from(count).expect("fits");
    for (subscription, sink) in subscriptions.iter_mut().zip(got.iter_mut()) {
        poll_until(subscription, sink, total);
    }
    got
}

fn numbered(count: u32) -> Vec<Vec<u8>> {
    (0..count).map(|i| i.to_le_bytes().to_vec()).collect()
}

#[test]
fn unicast_on_loopback_delivers_in_order() {
    let driver = common::driver();
    let client = client(&driver);
    let channel = Channel::udp(&endpoint());
    let subscription = client
        .add_subscription(&channel, StreamId(301), WAIT)
        .expect("subscription");
    let publication = client
        .add_publication(&channel, StreamId(301), WAIT)
        .expect("publication");
    publication
        .wait_connected(WAIT)
        .expect("connected over UDP");
    subscription.wait_for_image(WAIT).expect("image");
    let got = publish_to_all(&publication, &mut [subscription], 2_000);
    assert_eq!(got[0], numbered(2_000));
}

#[test]
fn dynamic_mdc_delivers_the_same_stream_to_two_subscribers() {
    let driver = common::driver();
    let client = client(&driver);
    let control = endpoint();
    let publication = client
        .add_publication(&Channel::mdc_publication(&control), StreamId(302), WAIT)
        .expect("MDC publication");
    let mut subscriptions: Vec<Subscription> = (0..2)
        .map(|_| {
            let channel = Channel::mdc_subscription(&endpoint(), &control);
            client
                .add_subscription(&channel, StreamId(302), WAIT)
                .expect("MDC subscription")
        })
        .collect();
    for subscription in &subscriptions {
        subscription
            .wait_for_image(WAIT)
            .expect("each subscriber gets an image");
    }
    let got = publish_to_all(&publication, &mut subscriptions, 1_000);
    assert_eq!(got[0], numbered(1_000), "primary");
    assert_eq!(got[1], numbered(1_000), "backup");
}

#[test]
fn manual_mdc_sends_to_destinations_the_publisher_adds() {
    let driver = common::driver();
    let client = client(&driver);
    let publication = client
        .add_publication(&Channel::mdc_manual_publication(), StreamId(303), WAIT)
        .expect("manual MDC publication");
    let mut subscriptions = Vec::new();
    for _ in 0..2 {
        let destination = Channel::udp(&endpoint());
        subscriptions.push(
            client
                .add_subscription(&destination, StreamId(303), WAIT)
                .expect("subscription"),
        );
        publication
            .add_destination(&destination, WAIT)
            .expect("destination added");
    }
    for subscription in &subscriptions {
        subscription.wait_for_image(WAIT).expect("image");
    }
    let got = publish_to_all(&publication, &mut subscriptions, 500);
    assert_eq!(got[0], numbered(500));
    assert_eq!(got[1], numbered(500));
}

#[test]
fn a_udp_message_larger_than_the_mtu_is_reassembled() {
    let driver = common::driver();
    let client = client(&driver);
    let channel = Channel::udp(&endpoint());
    let mut subscription = client
        .add_subscription(&channel, StreamId(304), WAIT)
        .expect("subscription");
    let publication = client
        .add_publication(&channel, StreamId(304), WAIT)
        .expect("publication");
    publication.wait_connected(WAIT).expect("connected");
    let big: Vec<u8> = (0..publication.max_payload_length() * 5 + 3)
        .map(|i| u8::try_from(i % 253).expect("<253"))
        .collect();
    let mut got = Vec::new();
    common::offer_draining(&publication, &big, &mut subscription, &mut got);
    poll_until(&mut subscription, &mut got, 1);
    assert_eq!(got, vec![big]);
}
