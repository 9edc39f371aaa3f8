//! The gateway over real TCP, with the cluster stood in by in-memory streams and a real
//! matching engine that this test sequences itself: a FIX client logs on, trades, reconnects
//! and gets every execution report once.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gateway::fix::{Decoder, Header, MessageBuilder};
use gateway::orders::Instrument;
use gateway::server::{Gateway, GatewayConfig, SessionEntry};
use gateway::session::{SessionConfig, format_utc};
use matching_engine::{Engine, EngineConfig};
use protocol::{
    AccountId, Command, DefineInstrument, EgressEvent, EgressPrefix, InstrumentId, Origin, Price,
    Qty, RequestId, Seq, Sequenced, SessionId, SetRiskLimits, StpMode, Symbol, Term, TimestampNs,
};
use transport::{MemoryBus, MemoryQueue, Outbound as _};

type Server = Gateway<MemoryQueue, MemoryBus, MemoryBus>;

/// The cluster's part: sequences what the gateway sends, applies it, publishes the events.
struct Cluster {
    ingress: MemoryQueue,
    egress: MemoryBus,
    engine: Engine,
    seq: u64,
}

impl Cluster {
    fn apply(&mut self, command: Command) {
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
            self.egress.offer(&frame[..n]).unwrap();
        }
    }

    fn step(&mut self) {
        for bytes in self.ingress.drain() {
            self.apply(Command::decode(&bytes).unwrap());
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
    };
    let server = Gateway::bind(config, (egress.subscribe(), ingress.clone(), acks)).unwrap();
    let mut cluster = Cluster {
        ingress: ingress.subscribe(),
        egress,
        engine: Engine::new(EngineConfig::default()),
        seq: 0,
    };
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
