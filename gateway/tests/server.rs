//! The gateway over real TCP, with the cluster stood in by in-memory streams and a real
//! matching engine that this test sequences itself: a FIX client logs on, trades, reconnects
//! and gets every execution report once.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gateway::fix::{Decoder, Header, MessageBuilder};
use gateway::orders::Instrument;
use gateway::server::{Gateway, GatewayConfig, SessionEntry, StoreConfig};
use gateway::session::{SessionConfig, format_utc};
use matching_engine::{Engine, EngineConfig};
use protocol::{
    AccountId, ClusterMessage, Command, DefineInstrument, EgressEvent, EgressPrefix,
    EgressReplayStart, InstrumentId, Origin, Price, Qty, RequestId, Seq, Sequenced, SessionId,
    SetRiskLimits, StpMode, Symbol, Term, TimestampNs,
};
use transport::{MemoryBus, MemoryQueue, Outbound as _};

type Server = Gateway<MemoryQueue, MemoryBus, MemoryBus>;

/// The cluster's part: sequences what the gateway sends, applies it, publishes the events,
/// and answers replay requests from every event it made (as a primary answers from its buffer,
/// which keeps each event until the gateway acknowledges it).
struct Cluster {
    ingress: MemoryQueue,
    egress: MemoryBus,
    acks: MemoryQueue,
    published: Vec<Vec<u8>>,
    engine: Engine,
    seq: u64,
    /// How to start the gateway (again): its configuration, ingress and acks.
    gateway: Option<(GatewayConfig, MemoryBus, MemoryBus)>,
    requests: std::collections::BTreeMap<SessionId, u64>,
}

impl Cluster {
    fn apply(&mut self, command: Command) {
        self.apply_losing(command, None);
    }

    /// Applies a command and publishes its events, all but the `lost`-th (lost on the way: a
    /// replay has it).
    fn apply_losing(&mut self, command: Command, lost: Option<usize>) {
        self.seq += 1;
        let sequenced = Sequenced {
            seq: Seq(self.seq),
            timestamp: TimestampNs(now_ns()),
            command,
        };
        let mut events = Vec::new();
        self.engine.apply(&sequenced, &mut events);
        let count = u32::try_from(events.len()).unwrap();
        for (index, event) in events.into_iter().enumerate() {
            let prefix = EgressPrefix {
                term: Term(1),
                seq: Seq(self.seq),
                index: u32::try_from(index).unwrap(),
                count,
            };
            let mut frame = [0u8; protocol::EGRESS_FRAME_SIZE_MAX];
            let n = EgressEvent { prefix, event }
                .encode_into(&mut frame)
                .unwrap();
            if Some(index) != lost {
                self.egress.offer(&frame[..n]).unwrap();
            }
            self.published.push(frame[..n].to_vec());
        }
    }

    /// A gateway on the cluster's streams; it sees egress from now on, as a new subscriber.
    fn start_gateway(&self) -> Server {
        let (config, ingress, acks) = self.gateway.clone().unwrap();
        let streams = (self.egress.subscribe(), ingress, acks);
        Gateway::bind(config, streams).unwrap()
    }

    /// The sequencer's rule: a session's request ids go up by one; a repeat is a retry
    /// (dropped), a skip is refused.
    fn sequence(&mut self, bytes: &[u8]) {
        let command = Command::decode(bytes).unwrap();
        let origin = *command.origin();
        let last = self.requests.entry(origin.session).or_insert(0);
        if origin.request_id.0 == *last + 1 {
            *last += 1;
            self.apply(command);
        }
    }

    fn step(&mut self) {
        for bytes in self.ingress.drain() {
            self.sequence(&bytes);
        }
        for bytes in self.acks.drain() {
            if let Ok(ClusterMessage::EgressReplay(r)) = ClusterMessage::decode(&bytes) {
                let start = EgressReplayStart {
                    term: Term(1),
                    after: r.after,
                    consumer: r.consumer,
                };
                let start = ClusterMessage::EgressReplayStart(start).encode_to_vec();
                self.egress.offer(&start).unwrap();
                for frame in &self.published {
                    if EgressEvent::decode(frame).unwrap().prefix.seq > r.after {
                        self.egress.offer(frame).unwrap();
                    }
                }
            }
        }
    }
}

fn now_ns() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

fn setup() -> (Server, Cluster) {
    setup_with(|_| {})
}

fn setup_with(tweak: impl FnOnce(&mut SessionEntry)) -> (Server, Cluster) {
    setup_stored(tweak, None)
}

fn setup_stored(
    tweak: impl FnOnce(&mut SessionEntry),
    store: Option<StoreConfig>,
) -> (Server, Cluster) {
    let mut entry = SessionEntry {
        fix: SessionConfig::new(b"LOCKSTEP", b"CLIENT1"),
        session: SessionId(1),
        account: AccountId(1),
        throttle_per_second: 0,
        cancel_on_disconnect: false,
    };
    tweak(&mut entry);
    let (ingress, egress, acks) = (
        MemoryBus::default(),
        MemoryBus::default(),
        MemoryBus::default(),
    );
    let mut cluster = Cluster {
        ingress: ingress.subscribe(),
        egress,
        acks: acks.subscribe(),
        published: Vec::new(),
        engine: Engine::new(EngineConfig::default()),
        seq: 0,
        gateway: None,
        requests: std::collections::BTreeMap::new(),
    };
    let config = GatewayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        sessions: vec![entry],
        instruments: vec![Instrument {
            symbol: b"LOCK-USD".to_vec(),
            id: InstrumentId(1),
            price_decimals: 2,
        }],
        connections_max: 4,
        orders_max: 1000,
        send_buffer_max: 1 << 20,
        consumer: 1,
        store,
    };
    cluster.gateway = Some((config, ingress, acks));
    let server = cluster.start_gateway();
    let admin = |n| Origin {
        session: SessionId(u32::MAX),
        account: AccountId(0),
        request_id: RequestId(n),
    };
    cluster.apply(Command::DefineInstrument(DefineInstrument {
        origin: admin(1),
        symbol: Symbol::new("LOCK-USD").unwrap(),
        tick_size: 1,
        lot_size: 1,
        min_price: Price(1),
        max_price: Price(1_000_000),
        min_qty: Qty(1),
        max_qty: Qty(1_000_000),
        reference_price: Price(10_000),
        instrument: InstrumentId(1),
    }));
    cluster.apply(Command::SetRiskLimits(SetRiskLimits {
        origin: admin(2),
        account: AccountId(1),
        max_open_orders: 0,
        max_order_qty: Qty(0),
        max_notional: 0,
        price_band: 0,
        stp_mode: StpMode::Off,
    }));
    (server, cluster)
}

/// A scripted FIX initiator.
struct Client {
    stream: TcpStream,
    next: u64,
    inbox: Vec<u8>,
}

impl Client {
    fn connect(server: &Server, next: u64) -> Self {
        let stream = TcpStream::connect(server.local_addr().unwrap()).unwrap();
        stream.set_nonblocking(true).unwrap();
        Self {
            stream,
            next,
            inbox: Vec::new(),
        }
    }

    fn send(&mut self, msg_type: &[u8], fields: &[(u32, &str)]) {
        let time = format_utc(now_ns());
        let header = Header {
            sender_comp_id: b"CLIENT1",
            target_comp_id: b"LOCKSTEP",
            msg_seq_num: self.next,
            sending_time: &time,
            poss_dup: None,
        };
        self.next += 1;
        let mut builder = MessageBuilder::new();
        builder.start(msg_type, &header).unwrap();
        for (tag, value) in fields {
            builder.field(*tag, value.as_bytes()).unwrap();
        }
        self.stream.write_all(builder.finish()).unwrap();
    }

    /// Runs the gateway and the cluster until a message of `msg_type` arrives.
    fn expect(
        &mut self,
        server: &mut Server,
        cluster: &mut Cluster,
        msg_type: &str,
    ) -> Vec<(u32, String)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut decoder = Decoder::new();
            if let Ok(Some((frame, used))) = decoder.decode(&self.inbox) {
                let fields: Vec<(u32, String)> = frame
                    .fields()
                    .map(|(t, v)| (t, String::from_utf8_lossy(v).into_owned()))
                    .collect();
                let got = String::from_utf8_lossy(frame.msg_type()).into_owned();
                self.inbox.drain(..used);
                if got == msg_type {
                    return fields;
                }
                continue; // heartbeats and the like
            }
            assert!(Instant::now() < deadline, "no {msg_type} arrived");
            server.do_work(now_ns()).unwrap();
            cluster.step();
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.stream.read(&mut buf) {
                self.inbox.extend_from_slice(&buf[..n]);
            }
            std::thread::yield_now();
        }
    }
}

fn get(fields: &[(u32, String)], tag: u32) -> &str {
    fields
        .iter()
        .find(|(t, _)| *t == tag)
        .map_or("", |(_, v)| v.as_str())
}

const LOGON: [(u32, &str); 2] = [(98, "0"), (108, "30")];

#[test]
fn a_client_logs_on_trades_and_resumes_after_a_reconnect() {
    let (mut server, mut cluster) = setup();
    let mut client = Client::connect(&server, 1);
    client.send(b"A", &LOGON);
    client.expect(&mut server, &mut cluster, "A");
    client.send(
        b"D",
        &[
            (11, "o-1"),
            (55, "LOCK-USD"),
            (54, "1"),
            (38, "5"),
            (40, "2"),
            (44, "100.00"),
            (59, "1"),
        ],
    );
    let ack = client.expect(&mut server, &mut cluster, "8");
    assert_eq!(
        (get(&ack, 11), get(&ack, 150), get(&ack, 44)),
        ("o-1", "0", "100.00")
    );
    assert_eq!(get(&ack, 34), "2", "the gateway's second message");
    // The client drops the connection and comes back: the numbers carry on.
    drop(client);
    for _ in 0..10 {
        server.do_work(now_ns()).unwrap();
    }
    let mut again = Client::connect(&server, 3);
    again.send(b"A", &LOGON);
    let logon = again.expect(&mut server, &mut cluster, "A");
    assert_eq!(get(&logon, 34), "3");
    again.send(
        b"F",
        &[(11, "c-1"), (41, "o-1"), (55, "LOCK-USD"), (54, "1")],
    );
    let cancelled = again.expect(&mut server, &mut cluster, "8");
    assert_eq!(
        (
            get(&cancelled, 11),
            get(&cancelled, 41),
            get(&cancelled, 150)
        ),
        ("c-1", "o-1", "4")
    );
    assert_eq!(server.stats().commands, 2);
}

#[test]
fn an_unknown_session_is_dropped() {
    let (mut server, mut cluster) = setup();
    let mut stranger = Client::connect(&server, 1);
    let time = format_utc(now_ns());
    let header = Header {
        sender_comp_id: b"WHO",
        target_comp_id: b"LOCKSTEP",
        msg_seq_num: 1,
        sending_time: &time,
        poss_dup: None,
    };
    let mut builder = MessageBuilder::new();
    builder.start(b"A", &header).unwrap();
    stranger.stream.write_all(builder.finish()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    loop {
        server.do_work(now_ns()).unwrap();
        cluster.step();
        match stranger.stream.read(&mut buf) {
            Ok(0) => break, // closed by the gateway
            Ok(_) => panic!("nothing is said to an unknown session"),
            Err(_) => assert!(Instant::now() < deadline, "the connection stays open"),
        }
        std::thread::yield_now();
    }
}

#[test]
fn a_session_over_its_throttle_gets_business_rejects() {
    let (mut server, mut cluster) = setup_with(|e| e.throttle_per_second = 2);
    let mut client = Client::connect(&server, 1);
    client.send(b"A", &LOGON);
    client.expect(&mut server, &mut cluster, "A");
    for id in ["o-1", "o-2", "o-3", "o-4"] {
        let order = [
            (11, id),
            (55, "LOCK-USD"),
            (54, "1"),
            (38, "1"),
            (40, "2"),
            (44, "99"),
            (59, "1"),
        ];
        client.send(b"D", &order);
    }
    let mut rejects = 0;
    for _ in 0..2 {
        let reject = client.expect(&mut server, &mut cluster, "j");
        assert!(get(&reject, 58).contains("throttle"), "{reject:?}");
        rejects += 1;
    }
    assert_eq!(rejects, 2);
    assert_eq!(server.stats().commands, 2, "only two went to the sequencer");
}

#[test]
fn a_dropped_connection_cancels_the_sessions_orders_when_configured() {
    let (mut server, mut cluster) = setup_with(|e| e.cancel_on_disconnect = true);
    let mut client = Client::connect(&server, 1);
    client.send(b"A", &LOGON);
    client.expect(&mut server, &mut cluster, "A");
    client.send(
        b"D",
        &[
            (11, "o-1"),
            (55, "LOCK-USD"),
            (54, "1"),
            (38, "5"),
            (40, "2"),
            (44, "99"),
            (59, "1"),
        ],
    );
    client.expect(&mut server, &mut cluster, "8");
    assert_eq!(cluster.engine.open_orders(), 1);
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.engine.open_orders() > 0 {
        assert!(Instant::now() < deadline, "the order stayed open");
        server.do_work(now_ns()).unwrap();
        cluster.step();
        std::thread::yield_now();
    }
}

fn order(id: &str, price: &str) -> [(u32, String); 7] {
    [
        (11, id.to_owned()),
        (55, "LOCK-USD".to_owned()),
        (54, "1".to_owned()),
        (38, "5".to_owned()),
        (40, "2".to_owned()),
        (44, price.to_owned()),
        (59, "1".to_owned()),
    ]
}

fn send_owned(client: &mut Client, msg_type: &[u8], fields: &[(u32, String)]) {
    let fields: Vec<(u32, &str)> = fields.iter().map(|(t, v)| (*t, v.as_str())).collect();
    client.send(msg_type, &fields);
}

/// The gateway dies with an order it took but never got to the sequencer and with the events
/// of a cancel still in flight. Restarted from its store, it resumes the FIX session with the
/// same numbers (no reset), resends the execution reports it had sent, sends the lost order
/// again and asks the cluster for the lost events: each report arrives once, nothing executes
/// twice, and new orders go on.
#[test]
fn a_restarted_gateway_resumes_the_session_from_its_store() {
    resume_from_store(u64::MAX, false);
}

/// The same from a store compacted just before the kill: recovery from the sessions' state
/// alone (orders, kept messages, numbers, commands without an answer) is recovery from the
/// history. Then with compactions by size all along, before the kill and after the restart.
#[test]
fn a_restarted_gateway_resumes_from_a_compacted_store() {
    resume_from_store(u64::MAX, true);
    resume_from_store(0, false);
}

fn resume_from_store(compact_bytes: u64, compact_before_kill: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig {
        path: dir.path().join("gateway.store"),
        sync: false,
        compact_bytes,
    };
    let (mut server, mut cluster) = setup_stored(|_| {}, Some(store));
    let mut client = Client::connect(&server, 1);
    client.send(b"A", &LOGON);
    client.expect(&mut server, &mut cluster, "A");
    for (id, price) in [("o-1", "99.00"), ("o-2", "98.00")] {
        send_owned(&mut client, b"D", &order(id, price));
        let ack = client.expect(&mut server, &mut cluster, "8");
        assert_eq!(get(&ack, 11), id);
    }
    // A cancel, which the cluster applies but whose events never reach the gateway, and an
    // order the gateway takes that dies with it on the way to the sequencer.
    client.send(
        b"F",
        &[(11, "c-1"), (41, "o-1"), (55, "LOCK-USD"), (54, "1")],
    );
    send_owned(&mut client, b"D", &order("o-3", "97.00"));
    while cluster.ingress.len() < 2 {
        server.do_work(now_ns()).unwrap();
    }
    let sent = cluster.ingress.drain();
    cluster.sequence(&sent[0]);
    assert_eq!(cluster.engine.open_orders(), 1, "o-1 cancelled, o-3 lost");
    if compact_before_kill {
        server.compact_store().unwrap();
    }
    if compact_bytes == 0 {
        // Compactions by size run in the background: let the one under way finish (the
        // kill may also come in the middle of one, which the restart after it covers).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while server.stats().compactions == 0 && std::time::Instant::now() < deadline {
            server.do_work(now_ns()).unwrap();
        }
    }
    let compacted = server.stats().compactions;
    let expected = compact_before_kill || compact_bytes == 0;
    assert_eq!(compacted > 0, expected, "{compacted} compactions");
    drop(server); // killed: nothing more is written
    drop(client);

    let mut server = cluster.start_gateway();
    assert!(server.awaiting_replay());
    let mut client = Client::connect(&server, 6);
    client.send(b"A", &LOGON);
    let logon = client.expect(&mut server, &mut cluster, "A");
    assert_eq!(get(&logon, 34), "4", "the numbers go on: no reset");
    client.send(b"2", &[(7, "2"), (16, "0")]);
    for (seq, id) in [("2", "o-1"), ("3", "o-2")] {
        let copy = client.expect(&mut server, &mut cluster, "8");
        assert_eq!(
            (get(&copy, 34), get(&copy, 43), get(&copy, 11)),
            (seq, "Y", id)
        );
    }
    let mut reports = Vec::new();
    while reports.len() < 2 {
        let r = client.expect(&mut server, &mut cluster, "8");
        assert_ne!(get(&r, 43), "Y", "{r:?}");
        reports.push((get(&r, 11).to_owned(), get(&r, 150).to_owned()));
    }
    reports.sort();
    let expected = [("c-1", "4"), ("o-3", "0")].map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(
        reports, expected,
        "the lost cancel's report and the resent order's ack"
    );
    assert!(!server.awaiting_replay());
    send_owned(&mut client, b"D", &order("o-4", "96.00"));
    let ack = client.expect(&mut server, &mut cluster, "8");
    assert_eq!((get(&ack, 11), get(&ack, 150)), ("o-4", "0"));
    assert_eq!(
        cluster.engine.open_orders(),
        3,
        "o-2, o-3 and o-4, each once"
    );
    assert_eq!(server.stats().egress_gaps, 0);
}

/// The sequencer dies with a command the gateway sent (it never journaled it); once a new one
/// subscribes, the gateway sends every command without an answer again, and the order is
/// acknowledged once.
#[test]
fn unanswered_commands_go_again_to_a_restarted_sequencer() {
    let (mut server, mut cluster) = setup();
    let mut client = Client::connect(&server, 1);
    client.send(b"A", &LOGON);
    client.expect(&mut server, &mut cluster, "A");
    send_owned(&mut client, b"D", &order("o-1", "99.00"));
    let ack = client.expect(&mut server, &mut cluster, "8");
    assert_eq!(get(&ack, 11), "o-1");
    send_owned(&mut client, b"D", &order("o-2", "98.00"));
    while cluster.ingress.is_empty() {
        server.do_work(now_ns()).unwrap();
    }
    let _lost_with_the_sequencer = cluster.ingress.drain();
    let (_, ingress, _) = cluster.gateway.clone().unwrap();
    ingress.set_connected(false);
    for _ in 0..3 {
        server.do_work(now_ns()).unwrap();
    }
    assert!(
        cluster.ingress.is_empty(),
        "nothing goes while no one listens"
    );
    ingress.set_connected(true);
    let ack = client.expect(&mut server, &mut cluster, "8");
    assert_eq!((get(&ack, 11), get(&ack, 150)), ("o-2", "0"));
    assert_eq!(cluster.engine.open_orders(), 2);
    assert_eq!(server.stats().commands, 3, "o-1, o-2 and o-2 again");
}

/// Reports for a session whose client is away are numbered and kept, on file, as if sent: the
/// client, back after a gateway restart, finds the gap at its logon, asks for a resend and gets
/// each report once, as a PossDup copy.
#[test]
fn reports_for_an_absent_client_wait_on_file_for_its_resend_request() {
    let (_dir, mut server, mut cluster) = o1_resting_and_its_client_gone();
    sell_into_o1(&mut cluster);
    for _ in 0..10 {
        server.do_work(now_ns()).unwrap();
    }
    drop(server); // killed: the reports never reached the client
    resend_after_restart(&mut cluster);
}

/// As above, with the fills arriving while a connection for the session is attached but not
/// logged on (its first message is not a Logon, so it is being closed): the reports are
/// numbered and kept on file by the session, not held in memory, so they too survive a
/// gateway restart. (Should the connection be gone before the fills are taken, the reports go
/// the absent client's way: the outcome checked is the same.)
#[test]
fn reports_for_a_connection_not_logged_on_survive_a_restart() {
    let (_dir, mut server, mut cluster) = o1_resting_and_its_client_gone();
    let accepted = server.stats().accepted;
    let mut stray = Client::connect(&server, 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().accepted == accepted {
        assert!(Instant::now() < deadline, "the connection was not accepted");
        server.do_work(now_ns()).unwrap();
    }
    // The fills wait on egress while the stray connection's first message, a Heartbeat, comes
    // in: the next duty cycle reads it (binding the connection to the session, which refuses
    // it) and then takes the fills.
    sell_into_o1(&mut cluster);
    stray.send(b"0", &[]);
    for _ in 0..10 {
        server.do_work(now_ns()).unwrap();
    }
    drop(stray);
    drop(server); // killed: the reports never reached a client
    resend_after_restart(&mut cluster);
}

/// An egress event lost on the way is counted and asked for again: the gateway takes nothing
/// after the gap until the primary re-publishes from its last complete command, so the client
/// gets every report once, in order. A command with no events for this gateway is no gap.
#[test]
fn a_lost_egress_event_is_counted_and_asked_for_again() {
    let (mut server, mut cluster, mut client) = o1_resting_then_sold_into_losing_its_first_fill();
    let first = client.expect(&mut server, &mut cluster, "8");
    let second = client.expect(&mut server, &mut cluster, "8");
    assert_eq!(
        [fill_of(&first), fill_of(&second)],
        [("o-1", "2", "3"), ("o-1", "5", "4")],
        "the lost fill's report (cum 2), then the second fill's (cum 2 + 3), numbered in order"
    );
    let stats = server.stats();
    assert_eq!((stats.egress_gaps, stats.egress_lost), (1, 0));
    assert!(!server.awaiting_replay());
}

/// A gap the primary can no longer fill (its buffer dropped the events) is asked for once,
/// then counted as lost: the gateway goes on with what comes next rather than asking forever.
#[test]
fn a_lost_egress_event_the_primary_no_longer_has_is_counted_as_lost() {
    let (mut server, mut cluster, mut client) = o1_resting_then_sold_into_losing_its_first_fill();
    let first_sale = Seq(cluster.seq - 1);
    cluster
        .published
        .retain(|f| EgressEvent::decode(f).unwrap().prefix.seq != first_sale);
    let fill = client.expect(&mut server, &mut cluster, "8");
    assert_eq!(
        fill_of(&fill),
        ("o-1", "5", "3"),
        "the second fill's report (cum 2 + 3): the first one's is gone"
    );
    let stats = server.stats();
    assert_eq!((stats.egress_gaps, stats.egress_lost), (1, 1));
    assert!(!server.awaiting_replay());
}

/// Session 1's client logged on and bought 5 at 99.00 (o-1, resting); then another session
/// sold into it twice, and the first sale's third event, o-1's fill report, was lost on the
/// way (its own New and the trade came through). Nothing of the sales is taken yet.
fn o1_resting_then_sold_into_losing_its_first_fill() -> (Server, Cluster, Client) {
    let (mut server, mut cluster) = setup();
    let mut client = Client::connect(&server, 1);
    client.send(b"A", &LOGON);
    client.expect(&mut server, &mut cluster, "A");
    send_owned(&mut client, b"D", &order("o-1", "99.00"));
    client.expect(&mut server, &mut cluster, "8");
    assert_eq!(server.stats().egress_gaps, 0);
    sell_into_o1_losing(&mut cluster, Some(2));
    (server, cluster, client)
}

/// An execution report's ClOrdID, CumQty and MsgSeqNum.
fn fill_of(report: &[(u32, String)]) -> (&str, &str, &str) {
    (get(report, 11), get(report, 14), get(report, 34))
}

/// A gateway with a store; session 1's client logged on, bought 5 at 99.00 (o-1, resting) and
/// left. The store's directory lives as long as the first value.
fn o1_resting_and_its_client_gone() -> (tempfile::TempDir, Server, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreConfig {
        path: dir.path().join("gateway.store"),
        sync: false,
        compact_bytes: u64::MAX,
    };
    let (mut server, mut cluster) = setup_stored(|_| {}, Some(store));
    let mut client = Client::connect(&server, 1);
    client.send(b"A", &LOGON);
    client.expect(&mut server, &mut cluster, "A");
    send_owned(&mut client, b"D", &order("o-1", "99.00"));
    let ack = client.expect(&mut server, &mut cluster, "8");
    assert_eq!((get(&ack, 34), get(&ack, 150)), ("2", "0"));
    drop(client);
    for _ in 0..10 {
        server.do_work(now_ns()).unwrap();
    }
    (dir, server, cluster)
}

/// Another session sells into session 1's o-1 (buy 5 at 99.00): two fills, two reports.
fn sell_into_o1(cluster: &mut Cluster) {
    sell_into_o1_losing(cluster, None);
}

/// [`sell_into_o1`], with the `lost`-th event of the first sale not published.
fn sell_into_o1_losing(cluster: &mut Cluster, lost: Option<usize>) {
    for (request, qty) in [(1, 2), (2, 3)] {
        let lost = if request == 1 { lost } else { None };
        cluster.apply_losing(
            Command::NewOrder(protocol::NewOrder {
                origin: Origin {
                    session: SessionId(2),
                    account: AccountId(2),
                    request_id: RequestId(request),
                },
                instrument: InstrumentId(1),
                side: protocol::Side::Sell,
                order_type: protocol::OrderType::Limit,
                time_in_force: protocol::TimeInForce::Ioc,
                post_only: protocol::PostOnly::Off,
                client_order_id: protocol::ClientOrderId(request),
                price: Price(9_900),
                stop_price: Price(0),
                qty: Qty(qty),
                display_qty: Qty(0),
                expire_time: TimestampNs(0),
            }),
            lost,
        );
    }
}

/// A restarted gateway; the client logs on (its next number 3), finds the gap, asks for a
/// resend and gets the two fill reports once each, as PossDup copies, and nothing else.
fn resend_after_restart(cluster: &mut Cluster) {
    let mut server = cluster.start_gateway();
    let mut client = Client::connect(&server, 3);
    client.send(b"A", &LOGON);
    let logon = client.expect(&mut server, cluster, "A");
    assert_eq!(get(&logon, 34), "5", "the reports took 3 and 4");
    client.send(b"2", &[(7, "3"), (16, "0")]);
    for (seq, status) in [("3", "1"), ("4", "2")] {
        let r = client.expect(&mut server, cluster, "8");
        assert_eq!(
            (get(&r, 34), get(&r, 43), get(&r, 11), get(&r, 39)),
            (seq, "Y", "o-1", status),
            "{r:?}"
        );
    }
    // Nothing else is on its way: the next message is the answer to a new order.
    send_owned(&mut client, b"D", &order("o-2", "98.00"));
    let ack = client.expect(&mut server, cluster, "8");
    assert_eq!(
        (get(&ack, 34), get(&ack, 11), get(&ack, 43)),
        ("6", "o-2", "")
    );
    assert_eq!(
        server.stats().egress_gaps,
        0,
        "the replay re-publishes whole commands"
    );
}
