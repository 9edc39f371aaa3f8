//! FIX clients through `lockstep gateway` to the whole cluster as processes: orders are
//! acknowledged and filled, and across a failover of the primary engine the FIX sessions stay
//! up and get every execution report once, with no sequence gap.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gateway::client::{ClientError, FixClient, Received};
use lockstep::local::{LocalCluster, Settings};
use protocol::ReplicaRole;

/// Waits for the next FIX message of `msg_type`, servicing the cluster meanwhile.
fn expect(cluster: &mut LocalCluster, client: &mut FixClient, msg_type: &str) -> Received {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "no {msg_type} arrived");
        cluster.service().unwrap();
        match client.next_message(Instant::now() + Duration::from_millis(5)) {
            Ok(m) if m.msg_type == msg_type => return m,
            Ok(m) => panic!("expected {msg_type}, got {m:?}"),
            Err(ClientError::Timeout(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

fn connect(addr: SocketAddr, sender: &str) -> FixClient {
    FixClient::connect(addr, sender, "LOCKSTEP", 1).unwrap()
}

#[test]
fn fix_orders_trade_through_the_cluster_and_survive_a_failover() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::new(
        env!("CARGO_BIN_EXE_lockstep").into(),
        transport::unique_aeron_dir("fix-gw"),
        3700,
    );
    let mut cluster = LocalCluster::start(settings, dir.path()).unwrap();
    cluster.set_up_venue().unwrap();
    let (_gateway, addr) = cluster.start_gateway().unwrap();
    let mut alice = connect(addr, "CLIENT1");
    let mut bob = connect(addr, "CLIENT2");
    for client in [&mut alice, &mut bob] {
        client.send(b"A", &[(98, "0"), (108, "5")]).unwrap();
    }
    expect(&mut cluster, &mut alice, "A");
    expect(&mut cluster, &mut bob, "A");
    let buy = [
        (11, "a-1"),
        (55, "LOCK-USD"),
        (54, "1"),
        (38, "10"),
        (40, "2"),
        (44, "10000.00"),
        (59, "1"),
    ];
    alice.send(b"D", &buy).unwrap();
    let ack = expect(&mut cluster, &mut alice, "8");
    assert_eq!(
        (ack.get(11), ack.get(150), ack.get(39), ack.get(44)),
        ("a-1", "0", "0", "10000.00")
    );

    let (primary, term) = cluster.primary().unwrap();
    cluster.kill_engine(primary).unwrap();
    cluster
        .wait_until("the backup is promoted", |c| {
            Ok(c.statuses
                .values()
                .any(|s| s.role == ReplicaRole::Primary && s.term > term))
        })
        .unwrap();
    let sell = [
        (11, "b-1"),
        (55, "LOCK-USD"),
        (54, "2"),
        (38, "4"),
        (40, "2"),
        (44, "10000.00"),
        (59, "1"),
    ];
    bob.send(b"D", &sell).unwrap();
    let bob_ack = expect(&mut cluster, &mut bob, "8");
    assert_eq!((bob_ack.get(11), bob_ack.get(150)), ("b-1", "0"));
    let bob_fill = expect(&mut cluster, &mut bob, "8");
    let got = (
        bob_fill.get(11),
        bob_fill.get(150),
        bob_fill.get(39),
        bob_fill.get(32),
    );
    assert_eq!(got, ("b-1", "F", "2", "4"));
    let alice_fill = expect(&mut cluster, &mut alice, "8");
    assert_eq!(
        (
            alice_fill.get(11),
            alice_fill.get(150),
            alice_fill.get(14),
            alice_fill.get(151)
        ),
        ("a-1", "F", "4", "6")
    );
    // Alice's session saw Logon 1, the ack 2 and the fill 3: no gap, nothing twice.
    let seqs: Vec<&str> = [&ack, &alice_fill].iter().map(|m| m.get(34)).collect();
    assert_eq!(seqs, ["2", "3"]);
    let exec_ids: BTreeSet<&str> = [&ack, &alice_fill, &bob_fill]
        .iter()
        .map(|m| m.get(17))
        .collect();
    assert_eq!(exec_ids.len(), 3);
    // And nothing more arrives: the promoted engine's re-publish was recognised.
    let quiet = alice.next_message(Instant::now() + Duration::from_millis(300));
    assert!(matches!(quiet, Err(ClientError::Timeout(_))), "{quiet:?}");
}

#[test]
fn the_load_tool_drives_sessions_through_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::new(
        env!("CARGO_BIN_EXE_lockstep").into(),
        transport::unique_aeron_dir("fix-load"),
        3900,
    );
    let mut cluster = LocalCluster::start(settings, dir.path()).unwrap();
    cluster.set_up_venue().unwrap();
    let (_gateway, addr) = cluster.start_gateway().unwrap();
    let sessions = ["CLIENT1".to_owned(), "CLIENT2".to_owned()];
    // The harness reads egress meanwhile, as the load runs on threads of its own.
    let load = std::thread::spawn(move || {
        lockstep::local::fix_load::run(addr, &sessions, "LOCKSTEP", 200, 8)
    });
    while !load.is_finished() {
        cluster.service().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = load.join().unwrap().unwrap();
    assert_eq!(report.orders, 400);
    assert!(report.histogram.max() > 0);
}

/// Takes what the client gets for a while, servicing the cluster: execution reports counted
/// by ClOrdID and ExecType.
fn collect(
    cluster: &mut LocalCluster,
    client: &mut FixClient,
    acks: &mut std::collections::BTreeMap<String, u32>,
    until: impl Fn(&std::collections::BTreeMap<String, u32>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !until(acks) {
        let have: Vec<_> = acks.keys().collect();
        assert!(
            Instant::now() < deadline,
            "still waiting: {} acks {have:?}",
            have.len()
        );
        cluster.service().unwrap();
        match client.next_message(Instant::now() + Duration::from_millis(5)) {
            Ok(m) if m.msg_type == "8" => {
                assert_eq!(m.get(150), "0", "{m:?}");
                *acks.entry(m.get(11).to_owned()).or_default() += 1;
            }
            Ok(m) => panic!("unexpected {m:?}"),
            Err(ClientError::Timeout(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// The gateway is SIGKILLed with orders in flight and restarted from its store: the client
/// reconnects with its own numbers (no reset), the gaps both ways are filled by resends, and
/// every order is acknowledged exactly once and journaled exactly once.
#[test]
fn a_killed_gateway_restarts_from_its_store_and_no_order_is_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::new(
        env!("CARGO_BIN_EXE_lockstep").into(),
        transport::unique_aeron_dir("fix-gw-kill"),
        4100,
    );
    let mut cluster = LocalCluster::start(settings, dir.path()).unwrap();
    cluster.set_up_venue().unwrap();
    let (mut gateway, addr) = cluster.start_gateway().unwrap();
    let mut client = connect(addr, "CLIENT1");
    client.logon(30, Duration::from_secs(10)).unwrap();
    let order = |client: &mut FixClient, i: usize| {
        let id = format!("k-{i}");
        let fields = [
            (11, id.as_str()),
            (55, "LOCK-USD"),
            (54, "1"),
            (38, "1"),
            (40, "2"),
            (44, "9999.00"),
            (59, "1"),
        ];
        client.send(b"D", &fields).unwrap();
    };
    let mut acks = std::collections::BTreeMap::new();
    let total = 60;
    for i in 0..20 {
        order(&mut client, i);
        collect(&mut cluster, &mut client, &mut acks, |a| a.len() > i);
    }
    // A burst, and the gateway dies under it: some orders taken, some not even read.
    for i in 20..30 {
        order(&mut client, i);
    }
    gateway.kill().unwrap();
    let (_gateway, addr) = cluster.start_gateway().unwrap();
    client.reconnect(addr).unwrap();
    let (next, _) = client.seq_nums();
    assert!(next > 30, "no reset: the client's numbers go on");
    client.logon(30, Duration::from_secs(10)).unwrap();
    for i in 30..total {
        order(&mut client, i);
    }
    collect(&mut cluster, &mut client, &mut acks, |a| a.len() == total);
    // Anything doubled would still be on its way: give it time to show.
    let settle = Instant::now() + Duration::from_millis(500);
    while Instant::now() < settle {
        cluster.service().unwrap();
        match client.next_message(Instant::now() + Duration::from_millis(5)) {
            Ok(m) => panic!("after every ack, still {m:?}"),
            Err(ClientError::Timeout(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(acks.values().all(|&n| n == 1), "{acks:?}");
    let orders = lockstep::local::journal_commands(&cluster.journal_dir())
        .unwrap()
        .into_iter()
        .filter(|s| matches!(&s.command, protocol::Command::NewOrder(o) if o.origin.session.0 == 1))
        .count();
    assert_eq!(orders, total, "each order sequenced once");
}

/// `lockstep fix-client` runs a script against the gateway and prints the conversation.
#[test]
fn the_fix_client_sends_a_script_and_prints_the_answers() {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings::new(
        env!("CARGO_BIN_EXE_lockstep").into(),
        transport::unique_aeron_dir("fix-client"),
        4200,
    );
    let mut cluster = LocalCluster::start(settings, dir.path()).unwrap();
    cluster.set_up_venue().unwrap();
    let (_gateway, addr) = cluster.start_gateway().unwrap();
    let script = dir.path().join("orders.txt");
    std::fs::write(
        &script,
        "# rest one, change it, cancel it\nbuy 10 LOCK-USD @ 9999.00 tif=gtc\n\
         replace c-1 qty=4\ncancel c-2\nbogus\nsell 3 LOCK-USD tif=ioc\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lockstep"))
        .args(["fix-client", "--addr", &addr.to_string(), "--file"])
        .arg(&script)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "fix-client still running");
        cluster.service().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let has = |needle: &str| {
        text.lines()
            .any(|l| l.starts_with('<') && l.contains(needle))
    };
    assert!(text.starts_with("logged on as CLIENT1"), "{text}");
    assert!(has("ExecutionReport 34=2 37="), "{text}");
    for needle in [
        "11=c-1 ", "150=0", "11=c-2 ", "150=5", "11=c-3 ", "150=4", "41=c-2",
    ] {
        assert!(has(needle), "no {needle} in\n{text}");
    }
    assert!(text.contains("! unknown request \"bogus\""), "{text}");
    // The IOC sell finds no bid left (the buy was cancelled): answered either way.
    assert!(
        text.lines()
            .any(|l| l.starts_with("> ") && l.contains("11=c-4")),
        "{text}"
    );
    assert!(has("11=c-4 "), "{text}");
    assert!(text.trim_end().ends_with("logged out"), "{text}");
}
