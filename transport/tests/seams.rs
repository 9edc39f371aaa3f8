//! The agent seams (`Inbound`, `Outbound`) over real Aeron: what agents and simulators share.

mod common;

use common::{WAIT, client};
use std::time::Instant;
use transport::{Channel, IdleStrategy, Inbound, Outbound, StreamId};

#[test]
fn outbound_and_inbound_move_messages_in_order_and_report_not_now_as_false() {
    let driver = common::driver();
    let client = client(&driver);
    let mut publication = client
        .add_publication(&Channel::ipc(), StreamId(501), WAIT)
        .expect("publication");
    assert_eq!(
        Outbound::offer(&mut publication, b"nobody listens"),
        Ok(false)
    );
    let mut subscription = client
        .add_subscription(&Channel::ipc(), StreamId(501), WAIT)
        .expect("subscription");
    publication.wait_connected(WAIT).expect("connected");

    let (deadline, mut idle) = (Instant::now() + WAIT, transport::Backoff::default());
    let mut got: Vec<u32> = Vec::new();
    let mut next = 0u32;
    while got.len() < 5_000 {
        assert!(Instant::now() < deadline, "stuck at {} messages", got.len());
        if next < 5_000 && Outbound::offer(&mut publication, &next.to_le_bytes()).expect("offer") {
            next += 1;
        }
        let mut handler = |m: &[u8]| got.push(u32::from_le_bytes(m.try_into().expect("4 bytes")));
        let read = Inbound::poll(&mut subscription, 3, &mut handler).expect("poll");
        assert!(read <= 3, "the limit bounds what one poll delivers");
        idle.idle(read);
    }
    assert_eq!(got, (0..5_000).collect::<Vec<_>>());
}
