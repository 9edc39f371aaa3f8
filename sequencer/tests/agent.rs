//! The sequencer agent over a real journal, with in-memory streams and a hand-driven clock.

use std::cell::Cell;
use std::rc::Rc;

use protocol::{
    AccountId, ClientOrderId, Command, InstrumentId, NewOrder, OrderType, Origin, PostOnly, Price,
    Qty, RequestId, Sequenced, SessionId, Side, TimeInForce, TimestampNs,
};
use sequencer::{Clock, IngressError, SequencerAgent, SequencerConfig};
use transport::{MemoryBus, MemoryQueue};

#[derive(Clone, Default)]
struct FakeClock(Rc<Cell<u64>>);
impl Clock for FakeClock {
    fn now_ns(&self) -> u64 {
        self.0.get()
    }
}

fn order(session: u32, request_id: u64) -> Vec<u8> {
    Command::NewOrder(NewOrder {
        origin: Origin {
            session: SessionId(session),
            account: AccountId(session),
            request_id: RequestId(request_id),
        },
        instrument: InstrumentId(1),
        side: Side::Sell,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        post_only: PostOnly::Off,
        client_order_id: ClientOrderId(request_id),
        price: Price(10),
        stop_price: Price(0),
        qty: Qty(1),
        display_qty: Qty(0),
        expire_time: TimestampNs(0),
    })
    .encode_to_vec()
}

type Agent = SequencerAgent<FakeClock, MemoryQueue, MemoryQueue, MemoryBus>;

struct Harness {
    clock: FakeClock,
    ingress: MemoryQueue,
    sequenced: MemoryBus,
    published: MemoryQueue,
}

impl Harness {
    fn new() -> Self {
        let sequenced = MemoryBus::default();
        let published = sequenced.subscribe();
        let ingress = MemoryQueue::default();
        Self {
            clock: FakeClock::default(),
            ingress,
            sequenced,
            published,
        }
    }

    fn open(&self, dir: &std::path::Path) -> Agent {
        let config = SequencerConfig {
            pending_max: 16,
            ..SequencerConfig::default()
        };
        let journal = journal::Config {
            segment_size_bytes: 1 << 20,
            ..journal::Config::default()
        };
        let streams = (
            self.ingress.clone(),
            MemoryQueue::default(),
            self.sequenced.clone(),
        );
        SequencerAgent::open(dir, journal, config, 0, self.clock.clone(), streams).unwrap()
    }

    /// Everything published since the last call.
    fn published(&self) -> Vec<Sequenced> {
        self.published
            .drain()
            .iter()
            .map(|f| Sequenced::decode(f).unwrap())
            .collect()
    }

    fn run(&self, agent: &mut Agent, cycles: usize) {
        for _ in 0..cycles {
            self.clock.0.set(self.clock.0.get() + 1_000);
            agent.do_work().unwrap();
        }
    }
}

#[test]
fn ingress_is_journaled_then_published_in_order_and_retries_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new();
    let mut agent = h.open(dir.path());
    // Three sessions, each numbering its requests from 1 (request ids go up by one).
    for i in 0..100u64 {
        h.ingress.push(&order(1 + (i % 3) as u32, 1 + i / 3));
    }
    h.ingress.push(&order(2, 2)); // a retry
    h.run(&mut agent, 50);
    let published = h.published();
    let seqs: Vec<u64> = published.iter().map(|s| s.seq.0).collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "contiguous from 1"
    );
    let orders = published
        .iter()
        .filter(|s| matches!(s.command, Command::NewOrder(_)))
        .count();
    assert_eq!(orders, 100, "every order once, the retry not again");
    assert_eq!(agent.stats().duplicates, 1);
    // What was published is exactly what the journal holds.
    let mut reader = journal::Reader::open(dir.path()).unwrap();
    for sequenced in &published {
        let record = reader
            .next()
            .unwrap()
            .expect("published records are journaled");
        assert_eq!(record.seq, sequenced.seq.0);
        assert_eq!(Command::decode(record.body).unwrap(), sequenced.command);
    }
}

/// A refused message is counted and its reason kept for the operator's log, once.
#[test]
fn refused_ingress_is_counted_and_its_reason_kept() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new();
    let mut agent = h.open(dir.path());
    h.ingress.push(&order(1, 1));
    h.ingress.push(&order(1, 3)); // request 2 never arrived
    h.ingress.push(&[0xff, 0x00]);
    h.run(&mut agent, 10);
    assert_eq!((agent.stats().sequenced, agent.stats().refused), (1, 2));
    assert!(
        matches!(agent.take_refusal(), Some(IngressError::Malformed(_))),
        "the latest refusal's reason"
    );
    assert_eq!(agent.take_refusal(), None, "taken once");
    h.ingress.push(&order(1, 3));
    h.run(&mut agent, 10);
    assert_eq!(
        agent.take_refusal(),
        Some(IngressError::RequestGap {
            session: 1,
            expected: 2,
            got: 3
        })
    );
}

#[test]
fn publish_backpressure_loses_and_reorders_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new();
    let mut agent = h.open(dir.path());
    h.sequenced.set_blocked(true);
    for request in 1..=40 {
        h.ingress.push(&order(1, request));
    }
    h.run(&mut agent, 20);
    assert!(h.published().is_empty());
    assert!(
        agent.core().next_seq().0 > 40,
        "sequencing and journaling go on meanwhile"
    );
    h.sequenced.set_blocked(false);
    h.run(&mut agent, 20);
    let seqs: Vec<u64> = h.published().iter().map(|s| s.seq.0).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert!(seqs.len() > 40);
}

#[test]
fn a_restarted_sequencer_continues_with_no_gap_and_remembers_requests() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::new();
    let mut agent = h.open(dir.path());
    for request in 1..=10 {
        h.ingress.push(&order(1, request));
    }
    h.run(&mut agent, 5);
    let last_before = agent.core().next_seq().0 - 1;
    agent.close().unwrap();

    let mut agent = h.open(dir.path());
    assert_eq!(agent.core().next_seq().0, last_before + 1);
    h.ingress.push(&order(1, 10)); // retried after the restart
    h.ingress.push(&order(1, 11));
    h.run(&mut agent, 5);
    assert_eq!(agent.stats().duplicates, 1);
    let mut reader = journal::Reader::open(dir.path()).unwrap();
    let mut expected = 1;
    let mut orders = 0;
    while let Some(record) = reader.next().unwrap() {
        assert_eq!(record.seq, expected);
        expected += 1;
        orders += usize::from(matches!(
            Command::decode(record.body).unwrap(),
            Command::NewOrder(_)
        ));
    }
    assert_eq!(orders, 11);
}
