//! The embedded media driver: start, serve clients, stop and clean up its directory; and
//! clients connecting to a driver they do not own (the standalone case).

mod common;

use common::{WAIT, client};
use std::time::Duration;
use transport::{
    Channel, Client, ClientConfig, ConnectError, DriverConfig, DriverError, DriverThreading,
    MediaDriver, StreamId, unique_aeron_dir,
};

#[test]
fn embedded_driver_starts_serves_a_client_and_deletes_its_dir_on_close() {
    let driver = common::driver();
    let dir = driver.dir().to_owned();
    assert!(dir.join("cnc.dat").is_file(), "driver writes its CnC file");
    let client = client(&driver);
    let publication = client
        .add_publication(&Channel::ipc(), StreamId(101), WAIT)
        .expect("publication");
    assert_eq!(publication.term_length(), 256 * 1024, "small default term");
    drop(publication);
    drop(client);
    driver.close().expect("driver closes cleanly");
    assert!(!dir.exists(), "directory {dir:?} deleted on close");
}

#[test]
fn driver_keeps_its_dir_when_asked_to() {
    let dir = unique_aeron_dir("keep");
    let config = DriverConfig {
        dir: Some(dir.clone()),
        delete_dir_on_shutdown: false,
        ..DriverConfig::default()
    };
    let driver = MediaDriver::launch(&config).expect("driver starts");
    driver.close().expect("driver closes");
    assert!(dir.join("cnc.dat").is_file(), "directory kept");
    std::fs::remove_dir_all(&dir).expect("test removes the kept dir");
}

#[test]
fn every_threading_mode_serves_ipc() {
    for (i, threading) in [
        DriverThreading::Shared,
        DriverThreading::SharedNetwork,
        DriverThreading::Dedicated,
    ]
    .into_iter()
    .enumerate()
    {
        let driver = common::driver_with(DriverConfig {
            threading,
            ipc_term_length: 64 * 1024,
            ..DriverConfig::default()
        });
        let client = client(&driver);
        let stream = StreamId(110 + i32::try_from(i).expect("small"));
        let mut subscription = client
            .add_subscription(&Channel::ipc(), stream, WAIT)
            .expect("subscription");
        let publication = client
            .add_publication(&Channel::ipc(), stream, WAIT)
            .expect("publication");
        assert_eq!(publication.term_length(), 64 * 1024);
        publication.wait_connected(WAIT).expect("connects");
        let mut got = Vec::new();
        common::offer_draining(&publication, b"ping", &mut subscription, &mut got);
        common::poll_until(&mut subscription, &mut got, 1);
        assert_eq!(got, vec![b"ping".to_vec()], "{threading:?}");
    }
}

#[test]
fn a_second_client_connects_to_a_driver_it_does_not_own() {
    let driver = common::driver();
    let owner = client(&driver);
    let other = Client::connect(driver.dir(), &ClientConfig::default()).expect("connects");
    let mut subscription = other
        .add_subscription(&Channel::ipc(), StreamId(120), WAIT)
        .expect("subscription");
    let publication = owner
        .add_publication(&Channel::ipc(), StreamId(120), WAIT)
        .expect("publication");
    publication
        .wait_connected(WAIT)
        .expect("connects across clients");
    subscription.wait_for_image(WAIT).expect("image appears");
    let mut got = Vec::new();
    common::offer_draining(&publication, b"across", &mut subscription, &mut got);
    common::poll_until(&mut subscription, &mut got, 1);
    assert_eq!(got[0], b"across");
    assert_eq!(other.errors().0, 0, "no asynchronous client errors");
}

#[test]
fn connecting_where_no_driver_runs_is_a_typed_error() {
    let dir = unique_aeron_dir("absent");
    let config = ClientConfig {
        driver_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    };
    let error = Client::connect(&dir, &config).expect_err("no driver there");
    assert!(
        matches!(error, ConnectError::Connect { .. }),
        "unexpected error {error:?}"
    );
}

#[test]
fn bad_term_length_is_rejected_before_starting() {
    let config = DriverConfig {
        term_length: 100_000,
        ..DriverConfig::default()
    };
    let error = MediaDriver::launch(&config).expect_err("not a power of two");
    assert!(
        matches!(error, DriverError::BadTermLength(100_000)),
        "{error:?}"
    );
}

#[test]
fn a_client_liveness_timeout_below_the_keepalives_is_rejected() {
    let config = DriverConfig {
        client_liveness_timeout: Some(Duration::from_millis(1500)),
        ..DriverConfig::default()
    };
    let error = MediaDriver::launch(&config).expect_err("too short");
    assert!(matches!(error, DriverError::BadLiveness(_)), "{error:?}");
}
