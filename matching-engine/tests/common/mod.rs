//! Test support: command builders and a harness that applies commands and checks, after every
//! command, that the incremental state hash equals one recomputed from scratch.
#![allow(dead_code, unreachable_pub)]

pub mod naive;

use matching_engine::{Engine, EngineConfig};
use protocol::*;

pub const INSTRUMENT: InstrumentId = InstrumentId(1);

pub fn origin(session: u32, account: u32) -> Origin {
    Origin {
        session: SessionId(session),
        account: AccountId(account),
        request_id: RequestId(0),
    }
}

pub fn define(id: u32, tick: u64, min: i64, max: i64) -> DefineInstrument {
    DefineInstrument {
        origin: origin(0, 0),
        symbol: Symbol::new(&format!("SYM{id}")).unwrap(),
        tick_size: tick,
        lot_size: 1,
        min_price: Price(min),
        max_price: Price(max),
        min_qty: Qty(1),
        max_qty: Qty(1_000_000),
        reference_price: Price(min + (max - min) / tick as i64 / 2 * tick as i64),
        instrument: InstrumentId(id),
    }
}

/// A GTC limit order of session 1 / account 1 on instrument 1.
pub fn limit(side: Side, price: i64, qty: u64) -> NewOrder {
    NewOrder {
        origin: origin(1, 1),
        instrument: INSTRUMENT,
        side,
        order_type: OrderType::Limit,
        time_in_force: TimeInForce::Gtc,
        post_only: PostOnly::Off,
        client_order_id: ClientOrderId(0),
        price: Price(price),
        stop_price: Price(0),
        qty: Qty(qty),
        display_qty: Qty(0),
        expire_time: TimestampNs(0),
    }
}

pub fn market(side: Side, qty: u64) -> NewOrder {
    NewOrder {
        order_type: OrderType::Market,
        price: Price(0),
        ..limit(side, 0, qty)
    }
}

pub fn by(session: u32, account: u32, order: NewOrder) -> NewOrder {
    NewOrder {
        origin: origin(session, account),
        ..order
    }
}

pub fn cancel(session: u32, order_id: u64) -> Cancel {
    Cancel {
        origin: origin(session, 1),
        order_id: OrderId(order_id),
        orig_client_order_id: ClientOrderId(0),
        client_order_id: ClientOrderId(0),
        instrument: InstrumentId(0),
    }
}

pub fn replace(session: u32, order_id: u64, price: i64, qty: u64) -> Replace {
    Replace {
        origin: origin(session, 1),
        order_id: OrderId(order_id),
        orig_client_order_id: ClientOrderId(0),
        client_order_id: ClientOrderId(0),
        price: Price(price),
        qty: Qty(qty),
        instrument: InstrumentId(0),
    }
}

pub fn risk(account: u32, stp: StpMode) -> SetRiskLimits {
    SetRiskLimits {
        origin: origin(0, 0),
        account: AccountId(account),
        max_open_orders: 0,
        max_order_qty: Qty(0),
        max_notional: 0,
        price_band: 0,
        stp_mode: stp,
    }
}

pub fn small_config() -> EngineConfig {
    EngineConfig {
        orders_max: 256,
        instruments_max: 4,
        accounts_max: 16,
        price_levels_max: 10_000,
    }
}

/// Applies commands with increasing sequence numbers; fills in unique client order ids and
/// request ids where left at zero.
pub struct Harness {
    pub engine: Engine,
    pub seq: u64,
    pub now: u64,
    next_id: u64,
}

impl Harness {
    /// An engine with instrument 1 (tick 1, prices 1..=1000) defined.
    pub fn new() -> Self {
        Self::with_config(small_config())
    }

    pub fn with_config(config: EngineConfig) -> Self {
        let mut h = Self {
            engine: Engine::new(config),
            seq: 0,
            now: 1_000,
            next_id: 1,
        };
        let events = h.apply(Command::DefineInstrument(define(1, 1, 1, 1000)));
        assert!(matches!(
            events[..],
            [Event::AdminReply(AdminReply { reason: None, .. })]
        ));
        h
    }

    pub fn apply(&mut self, mut command: Command) -> Vec<Event> {
        self.fill_ids(&mut command);
        self.seq += 1;
        self.now += 1;
        let cmd = Sequenced {
            seq: Seq(self.seq),
            timestamp: TimestampNs(self.now),
            command,
        };
        let mut out = Vec::new();
        self.engine.apply(&cmd, &mut out);
        assert_eq!(
            self.engine.state_hash(),
            self.engine.state_hash_recomputed()
        );
        out
    }

    fn fill_ids(&mut self, command: &mut Command) {
        let id = self.next_id;
        self.next_id += 1;
        let fill = |r: &mut RequestId| {
            if r.0 == 0 {
                r.0 = id;
            }
        };
        match command {
            Command::NewOrder(c) => {
                fill(&mut c.origin.request_id);
                if c.client_order_id.0 == 0 {
                    c.client_order_id = ClientOrderId(id);
                }
            }
            Command::Cancel(c) => fill(&mut c.origin.request_id),
            Command::Replace(c) => {
                fill(&mut c.origin.request_id);
                if c.client_order_id.0 == 0 {
                    c.client_order_id = ClientOrderId(id);
                }
            }
            Command::MassCancel(c) => fill(&mut c.origin.request_id),
            _ => {}
        }
    }

    pub fn order(&mut self, order: NewOrder) -> Vec<Event> {
        self.apply(Command::NewOrder(order))
    }

    /// Enters an order and returns its id (asserting it was accepted).
    pub fn rest(&mut self, order: NewOrder) -> u64 {
        let events = self.order(order);
        let first = reports(&events)[0];
        assert_eq!(first.exec_type, ExecType::New, "{events:#?}");
        first.order_id.0
    }
}

pub fn reports(events: &[Event]) -> Vec<&ExecutionReport> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::ExecutionReport(r) => Some(r),
            _ => None,
        })
        .collect()
}

pub fn trades(events: &[Event]) -> Vec<(i64, u64, u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => Some((t.price.0, t.qty.0, t.maker_order_id.0, t.taker_order_id.0)),
            _ => None,
        })
        .collect()
}

pub fn levels(events: &[Event]) -> Vec<(Side, i64, u64, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::BookLevel(l) => Some((l.side, l.price.0, l.qty.0, l.order_count)),
            _ => None,
        })
        .collect()
}

/// (exec type, order id, reason) of each execution report.
pub fn execs(events: &[Event]) -> Vec<(ExecType, u64, Option<RejectReason>)> {
    reports(events)
        .iter()
        .map(|r| (r.exec_type, r.order_id.0, r.reason))
        .collect()
}

pub fn reject_reason(events: &[Event]) -> Option<RejectReason> {
    events.iter().find_map(|e| match e {
        Event::ExecutionReport(r) if r.exec_type == ExecType::Rejected => r.reason,
        Event::CancelReject(r) => r.reason,
        Event::AdminReply(r) => r.reason,
        _ => None,
    })
}

pub fn encode(events: &[Event]) -> Vec<u8> {
    events.iter().flat_map(Event::encode_to_vec).collect()
}
