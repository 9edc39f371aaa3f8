//! Golden guard: a seeded stream of every command kind (all order types and times in force,
//! icebergs, post-only, stops, GTD and day expiry, every STP mode, replaces, cancels by order id
//! and by client id, mass cancels, capacity pressure) must produce exactly the pinned event bytes
//! and state hashes. Optimisations must not move these constants; a deliberate change of
//! behaviour re-pins them in its own commit, saying why.

#![allow(clippy::print_stdout, clippy::cast_possible_truncation)]

mod common;

use common::define;
use matching_engine::{Engine, EngineConfig};
use protocol::*;

/// CRC-32C of every event's encoding, in order.
const EVENTS_CRC: u32 = 0xdd1f_51f9;
/// Number of events emitted.
const EVENTS_COUNT: u64 = 415_189;
/// CRC-32C of the state hash after every 1,000th command.
const HASHES_CRC: u32 = 0x5d6f_82a6;
/// The final state hash.
const FINAL_HASH: u128 = 0x52af_3f78_58b7_237a_077e_8b45_6497_1d1f;

const COMMANDS: u64 = 150_000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Generates commands, reacting to the engine's answers (it cancels and replaces ids it saw).
struct Flow {
    rng: Rng,
    mid: [i64; 2],
    /// Recently accepted (order id, session, client order id).
    recent: Vec<(u64, u32, u64)>,
    next_client_id: u64,
    now: u64,
}

const TICK: [u64; 2] = [1, 5];

impl Flow {
    fn origin(&mut self, session: u32) -> Origin {
        Origin {
            session: SessionId(session),
            account: AccountId(1 + (session + self.rng.below(2) as u32) % 7),
            request_id: RequestId(self.now),
        }
    }

    fn price(&mut self, i: usize, buy: bool, spread: u64) -> i64 {
        let off = (self.rng.below(spread) as i64 - 4) * TICK[i] as i64;
        let p = if buy {
            self.mid[i] - off
        } else {
            self.mid[i] + off
        };
        p.clamp(TICK[i] as i64, 2000 * TICK[i] as i64)
    }

    fn new_order(&mut self) -> Command {
        let i = self.rng.below(2) as usize;
        let session = 1 + self.rng.below(4) as u32;
        let buy = self.rng.below(2) == 0;
        let roll = self.rng.below(100);
        let (order_type, tif) = match roll {
            0..=59 => (OrderType::Limit, TimeInForce::Gtc),
            60..=64 => (OrderType::Limit, TimeInForce::Ioc),
            65..=67 => (OrderType::Limit, TimeInForce::Fok),
            68..=71 => (OrderType::Limit, TimeInForce::Day),
            72..=76 => (OrderType::Limit, TimeInForce::Gtd),
            77..=86 => (OrderType::Market, TimeInForce::Ioc),
            87..=88 => (OrderType::Market, TimeInForce::Fok),
            89..=93 => (
                OrderType::Stop,
                self.rng.pick(&[TimeInForce::Gtc, TimeInForce::Day]),
            ),
            _ => (OrderType::StopLimit, TimeInForce::Gtc),
        };
        let big = self.rng.below(10) == 0;
        let qty = 1 + self.rng.below(if big { 400 } else { 60 });
        let iceberg = order_type == OrderType::Limit && self.rng.below(12) == 0;
        let post_only = if order_type == OrderType::Limit && self.rng.below(15) == 0 {
            self.rng.pick(&[PostOnly::Reject, PostOnly::Reprice])
        } else {
            PostOnly::Off
        };
        let client_id = if self.rng.below(200) == 0 && !self.recent.is_empty() {
            self.rng.pick(&self.recent).2 // likely a duplicate
        } else {
            self.next_client_id += 1;
            self.next_client_id
        };
        let stop_off = (self.rng.below(12) as i64 - 3) * TICK[i] as i64;
        let stop = if buy {
            self.mid[i] + stop_off
        } else {
            self.mid[i] - stop_off
        };
        Command::NewOrder(NewOrder {
            origin: self.origin(session),
            instrument: InstrumentId(1 + i as u32 + u32::from(self.rng.below(500) == 0) * 5),
            side: if buy { Side::Buy } else { Side::Sell },
            order_type,
            time_in_force: tif,
            post_only,
            client_order_id: ClientOrderId(client_id),
            price: Price(self.price(i, buy, 24)),
            stop_price: Price(stop.max(TICK[i] as i64)),
            qty: Qty(qty),
            display_qty: Qty(if iceberg { 1 + qty / 4 } else { 0 }),
            expire_time: TimestampNs(self.now + self.rng.below(400)),
        })
    }

    fn target(&mut self) -> (OrderId, u32, u64) {
        let (id, session, client) = if self.recent.is_empty() {
            (1, 1, 1)
        } else {
            let n = self.recent.len() as u64;
            // Mostly recent orders, sometimes anything we remember.
            let back = if self.rng.below(2) == 0 {
                self.rng.below(n.min(64))
            } else {
                self.rng.below(n)
            };
            self.recent[(n - 1 - back) as usize]
        };
        let session = if self.rng.below(20) == 0 {
            1 + self.rng.below(4) as u32
        } else {
            session
        };
        (OrderId(id), session, client)
    }

    fn amend(&mut self) -> Command {
        let (id, session, client) = self.target();
        let by_client = self.rng.below(5) == 0;
        let (order_id, orig) = if by_client {
            (OrderId(0), ClientOrderId(client))
        } else {
            (id, ClientOrderId(0))
        };
        let origin = self.origin(session);
        if self.rng.below(3) == 0 {
            let i = self.rng.below(2) as usize;
            let buy = self.rng.below(2) == 0;
            let keep = self.rng.below(3) == 0;
            self.next_client_id += 1;
            return Command::Replace(Replace {
                origin,
                order_id,
                orig_client_order_id: orig,
                client_order_id: ClientOrderId(if keep { client } else { self.next_client_id }),
                price: Price(self.price(i, buy, 24)),
                qty: Qty(1 + self.rng.below(80)),
                instrument: InstrumentId(0),
            });
        }
        Command::Cancel(Cancel {
            origin,
            order_id,
            orig_client_order_id: orig,
            client_order_id: ClientOrderId(self.now),
            instrument: InstrumentId(if self.rng.below(30) == 0 { 2 } else { 0 }),
        })
    }

    fn rare(&mut self) -> Command {
        let session = 1 + self.rng.below(4) as u32;
        let origin = self.origin(session);
        match self.rng.below(6) {
            0 => Command::MassCancel(MassCancel {
                origin,
                instrument: InstrumentId(self.rng.below(3) as u32),
                scope: self.rng.pick(&[
                    MassCancelScope::Session,
                    MassCancelScope::Account,
                    MassCancelScope::Instrument,
                ]),
            }),
            1 => Command::CancelOnDisconnect(CancelOnDisconnect {
                origin,
                session: SessionId(session),
            }),
            2 => Command::EndOfSession(EndOfSession {
                origin,
                instrument: InstrumentId(self.rng.below(3) as u32),
            }),
            3 => Command::Timer(Timer { origin }),
            4 => Command::SetRiskLimits(limits(1 + self.rng.below(7) as u32, self.rng.below(4))),
            _ => Command::SnapshotMarker(SnapshotMarker {
                origin,
                snapshot_id: self.now,
            }),
        }
    }

    fn command(&mut self) -> Command {
        for m in &mut self.mid {
            *m = (*m + self.rng.below(3) as i64 - 1).clamp(200, 1800);
        }
        self.mid[1] = self.mid[1] / 5 * 5;
        match self.rng.below(1000) {
            0..=579 => self.new_order(),
            580..=996 => self.amend(),
            _ => self.rare(),
        }
    }

    fn observe(&mut self, events: &[Event]) {
        for e in events {
            if let Event::ExecutionReport(r) = e
                && r.exec_type == ExecType::New
            {
                self.recent
                    .push((r.order_id.0, r.session.0, r.client_order_id.0));
            }
        }
        if self.recent.len() > 8192 {
            self.recent.drain(..4096);
        }
    }
}

fn limits(account: u32, variant: u64) -> SetRiskLimits {
    let stp = [
        StpMode::Off,
        StpMode::Decrement,
        StpMode::CancelResting,
        StpMode::CancelIncoming,
        StpMode::CancelBoth,
    ];
    SetRiskLimits {
        origin: common::origin(0, 0),
        account: AccountId(account),
        max_open_orders: if variant == 1 { 40 } else { 0 },
        max_order_qty: Qty(if variant == 2 { 350 } else { 0 }),
        max_notional: if variant == 3 { 400_000 } else { 0 },
        price_band: if variant == 3 { 60 } else { 0 },
        stp_mode: stp[account as usize % stp.len()],
    }
}

fn setup() -> Vec<Command> {
    let mut cmds = vec![
        Command::DefineInstrument(define(1, 1, 1, 2000)),
        Command::DefineInstrument(DefineInstrument {
            min_qty: Qty(1),
            ..define(2, 5, 5, 10_000)
        }),
    ];
    cmds.extend((1..=7).map(|a| Command::SetRiskLimits(limits(a, u64::from(a) % 4))));
    cmds
}

#[test]
fn event_bytes_and_state_hashes_match_the_pinned_values() {
    let config = EngineConfig {
        orders_max: 400,
        instruments_max: 4,
        accounts_max: 16,
        price_levels_max: 4000,
    };
    let mut engine = Engine::new(config);
    let mut flow = Flow {
        rng: Rng(2024),
        mid: [1000, 1000],
        recent: Vec::new(),
        next_client_id: 0,
        now: 1_000,
    };
    let (mut crc, mut hashes, mut count) = (0u32, 0u32, 0u64);
    let mut out = Vec::with_capacity(1024);
    let mut buf = [0u8; 512];
    let setup = setup();
    for n in 0..COMMANDS + setup.len() as u64 {
        flow.now += 1 + flow.rng.below(4);
        let command = match setup.get(n as usize) {
            Some(c) => *c,
            None => flow.command(),
        };
        out.clear();
        engine.apply(
            &Sequenced {
                seq: Seq(n + 1),
                timestamp: TimestampNs(flow.now),
                command,
            },
            &mut out,
        );
        for e in &out {
            let len = e.encode_into(&mut buf).expect("events fit 512 bytes");
            crc = crc32c::crc32c_append(crc, &buf[..len]);
        }
        count += out.len() as u64;
        flow.observe(&out);
        if n % 1000 == 0 {
            hashes = crc32c::crc32c_append(hashes, &engine.state_hash().0.to_le_bytes());
        }
    }
    let actual = (crc, count, hashes, engine.state_hash().0);
    println!(
        "golden: {crc:#010x} {count} {hashes:#010x} {:#034x} open={}",
        actual.3,
        engine.open_orders()
    );
    assert_eq!(actual, (EVENTS_CRC, EVENTS_COUNT, HASHES_CRC, FINAL_HASH));
}

/// The benchmark's flow (limits around a random walk, cancels of random earlier orders, market
/// orders) at a larger book: long-lived orders, big tables.
#[test]
fn benchmark_flow_matches_the_pinned_values() {
    let config = EngineConfig {
        orders_max: 1 << 17,
        instruments_max: 4,
        accounts_max: 16,
        price_levels_max: 1 << 22,
    };
    let mut engine = Engine::new(config);
    let mut rng = Rng(42);
    let mut out = Vec::with_capacity(1024);
    let mut buf = [0u8; 512];
    let define = DefineInstrument {
        max_price: Price(1 << 20),
        reference_price: Price(1 << 19),
        ..define(1, 1, 1, 1000)
    };
    engine.apply(
        &Sequenced {
            seq: Seq(1),
            timestamp: TimestampNs(1),
            command: Command::DefineInstrument(define),
        },
        &mut out,
    );
    let (mut mid, mut ids, mut crc) = (1i64 << 19, Vec::new(), 0u32);
    for seq in 2..120_000u64 {
        mid += rng.below(3) as i64 - 1;
        let (roll, buy, qty) = (rng.below(100), rng.below(2) == 0, 1 + rng.below(250));
        let order = |order_type, price| NewOrder {
            origin: Origin {
                session: SessionId(1),
                account: AccountId(1 + (seq % 4) as u32),
                request_id: RequestId(seq),
            },
            order_type,
            client_order_id: ClientOrderId(seq),
            price: Price(price),
            ..common::limit(if buy { Side::Buy } else { Side::Sell }, 0, qty)
        };
        let command = if roll < 60 || ids.is_empty() {
            let offset = 1 + rng.below(32) as i64;
            Command::NewOrder(order(
                OrderType::Limit,
                if buy { mid - offset } else { mid + offset },
            ))
        } else if roll < 90 {
            let id = ids[rng.below(ids.len() as u64) as usize];
            Command::Cancel(common::cancel(1, id))
        } else {
            Command::NewOrder(order(OrderType::Market, 0))
        };
        out.clear();
        engine.apply(
            &Sequenced {
                seq: Seq(seq),
                timestamp: TimestampNs(seq),
                command,
            },
            &mut out,
        );
        for e in &out {
            let len = e.encode_into(&mut buf).expect("events fit 512 bytes");
            crc = crc32c::crc32c_append(crc, &buf[..len]);
            if let Event::ExecutionReport(r) = e
                && r.exec_type == ExecType::New
                && r.order_type == OrderType::Limit
            {
                ids.push(r.order_id.0);
            }
        }
    }
    let actual = (crc, engine.open_orders(), engine.state_hash().0);
    println!("bench flow: {crc:#010x} {} {:#034x}", actual.1, actual.2);
    assert_eq!(
        actual,
        (
            0xc207_3d49,
            12_302,
            0xf8ef_8250_619f_88ff_08fc_cd22_7974_d3f4
        )
    );
}
