//! IPC publications and subscriptions on an embedded driver: ordering, reassembly of
//! messages larger than the MTU, gathered offers, and back-pressure as an explicit outcome.

mod common;

use common::{WAIT, client, offer_draining, poll_until};
use std::time::Instant;
use transport::{Channel, DriverConfig, OfferError, OfferOutcome, StreamId};

#[test]
fn many_messages_arrive_whole_and_in_order() {
    let driver = common::driver();
    let client = client(&driver);
    let mut subscription = client
        .add_subscription(&Channel::ipc(), StreamId(201), WAIT)
        .expect("subscription");
    let publication = client
        .add_publication(&Channel::ipc(), StreamId(201), WAIT)
        .expect("publication");
    publication.wait_connected(WAIT).expect("connected");

    const COUNT: u64 = 20_000;
    let mut got = Vec::new();
    for i in 0..COUNT {
        offer_draining(&publication, &i.to_le_bytes(), &mut subscription, &mut got);
    }
    poll_until(
        &mut subscription,
        &mut got,
        usize::try_from(COUNT).expect("fits"),
    );
    let sequence: Vec<u64> = got
        .iter()
        .map(|m| u64::from_le_bytes(m.as_slice().try_into().expect("8-byte message")))
        .collect();
    assert_eq!(sequence, (0..COUNT).collect::<Vec<_>>());
}

#[test]
fn a_message_larger_than_the_mtu_is_reassembled() {
    let driver = common::driver();
    let client = client(&driver);
    let mut subscription = client
        .add_subscription(&Channel::ipc(), StreamId(202), WAIT)
        .expect("subscription");
    let publication = client
        .add_publication(&Channel::ipc(), StreamId(202), WAIT)
        .expect("publication");
    publication.wait_connected(WAIT).expect("connected");

    let length = publication.max_payload_length() * 10 + 17;
    assert!(length <= publication.max_message_length());
    let big: Vec<u8> = (0..length)
        .map(|i| u8::try_from(i % 251).expect("<251"))
        .collect();
    let mut got = Vec::new();
    offer_draining(&publication, &big, &mut subscription, &mut got);
    offer_draining(&publication, b"after", &mut subscription, &mut got);
    poll_until(&mut subscription, &mut got, 2);
    assert_eq!(got.len(), 2, "one message per offer, not one per fragment");
    assert_eq!(got[0], big, "the large message arrives whole");
    assert_eq!(got[1], b"after");
}

#[test]
fn offer_parts_sends_header_and_body_as_one_message() {
    let driver = common::driver();
    let client = client(&driver);
    let mut subscription = client
        .add_subscription(&Channel::ipc(), StreamId(203), WAIT)
        .expect("subscription");
    let publication = client
        .add_publication(&Channel::ipc(), StreamId(203), WAIT)
        .expect("publication");
    publication.wait_connected(WAIT).expect("connected");

    let outcome = publication
        .offer_parts(&[b"HEAD", b"body-bytes"])
        .expect("gathered offer");
    assert!(outcome.is_published(), "{outcome:?}");
    let mut got = Vec::new();
    poll_until(&mut subscription, &mut got, 1);
    assert_eq!(got[0], b"HEADbody-bytes");

    let too_many = [b"x".as_slice(); transport::OFFER_PARTS_MAX + 1];
    let error = publication
        .offer_parts(&too_many)
        .expect_err("too many parts");
    assert!(matches!(error, OfferError::TooManyParts(9)), "{error:?}");
}

#[test]
fn a_message_over_the_maximum_is_a_typed_error() {
    let driver = common::driver();
    let client = client(&driver);
    let publication = client
        .add_publication(&Channel::ipc(), StreamId(204), WAIT)
        .expect("publication");
    let too_long = vec![0u8; publication.max_message_length() + 1];
    let error = publication.offer(&too_long).expect_err("too long");
    assert!(
        matches!(error, OfferError::MessageTooLong { length, max } if length == max + 1),
        "{error:?}"
    );
}

#[test]
fn offer_without_a_subscriber_reports_not_connected() {
    let driver = common::driver();
    let client = client(&driver);
    let publication = client
        .add_publication(&Channel::ipc(), StreamId(205), WAIT)
        .expect("publication");
    assert!(!publication.is_connected());
    let outcome = publication.offer(b"nobody listens").expect("not an error");
    assert_eq!(outcome, OfferOutcome::NotConnected);
}

#[test]
fn a_subscriber_that_does_not_poll_back_pressures_the_publisher() {
    // Smallest term: the publication window is half a term (32 KiB), so 1 KiB messages
    // back-pressure after about 32 offers.
    let driver = common::driver_with(DriverConfig {
        ipc_term_length: 64 * 1024,
        ..DriverConfig::default()
    });
    let client = client(&driver);
    let mut subscription = client
        .add_subscription(&Channel::ipc(), StreamId(206), WAIT)
        .expect("subscription");
    let publication = client
        .add_publication(&Channel::ipc(), StreamId(206), WAIT)
        .expect("publication");
    publication.wait_connected(WAIT).expect("connected");

    let message = [7u8; 1024];
    let mut published = 0usize;
    let outcome = loop {
        match publication.offer(&message).expect("offer does not fail") {
            OfferOutcome::Published { .. } => published += 1,
            OfferOutcome::AdminAction => {}
            other => break other,
        }
        assert!(
            published <= 64,
            "never pushed back after {published} offers"
        );
    };
    assert_eq!(outcome, OfferOutcome::BackPressured);
    assert!(published >= 16, "pushed back too early, after {published}");

    // Draining the subscriber lifts the pressure; nothing was lost.
    let mut got = Vec::new();
    poll_until(&mut subscription, &mut got, published);
    let deadline = Instant::now() + WAIT;
    while !publication.offer(&message).expect("offer").is_published() {
        assert!(
            Instant::now() < deadline,
            "still back-pressured after draining"
        );
        subscription
            .poll(|m| got.push(m.to_vec()), 64)
            .expect("poll");
    }
    poll_until(&mut subscription, &mut got, published + 1);
    assert!(got.iter().all(|m| m.as_slice() == message));
}
