//! Seeded, deterministic order flow: the same seed gives the same commands on every machine.
//!
//! The flow is the one the engine benchmark specifies: after defining one instrument and the
//! accounts' limits, about 60% GTC limit orders at a random-walk mid +/- 1..=32 ticks (sizes
//! 1..=250), 30% cancels of random earlier orders (some already filled: realistic rejects), and 10%
//! market orders, spread over several sessions. Demos, benchmarks and simulations share it.

mod rng;

pub use rng::SplitMix64;

use protocol::{
    AccountId, Cancel, ClientOrderId, Command, DefineInstrument, InstrumentId, NewOrder, OrderId,
    OrderType, Origin, PostOnly, Price, Qty, RequestId, SessionId, SetRiskLimits, Side, StpMode,
    Symbol, TimeInForce, TimestampNs,
};

/// The session the flow's set-up commands (instrument, risk limits) come from: an operator's,
/// since session 0 belongs to the sequencer itself and gateways may not use it.
pub const ADMIN_SESSION: SessionId = SessionId(u32::MAX);

/// The shape of a generated flow.
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    /// The generator's seed.
    pub seed: u64,
    /// Sessions (and accounts: session `n` trades for account `n`), numbered from
    /// `first_session`.
    pub sessions: u32,
    /// The first session's id (at least 1): a flow can leave room for a gateway's sessions.
    pub first_session: u32,
    /// The instrument traded.
    pub instrument: InstrumentId,
    /// The random walk's starting mid price.
    pub mid_start: Price,
}

impl Default for FlowConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            sessions: 4,
            first_session: 1,
            instrument: InstrumentId(1),
            mid_start: Price(1_000_000),
        }
    }
}

/// Spread of limit prices around the mid, in ticks.
const OFFSET_TICKS_MAX: u64 = 32;
/// Largest order size.
const SIZE_MAX: u64 = 250;
/// The instrument's valid prices: the starting mid +/- this many ticks (far beyond the walk's
/// reach in 10M steps, about 2,600 ticks at one standard deviation).
const PRICE_RANGE_TICKS: i64 = 100_000;
/// How many earlier client order ids a cancel may pick from (per session).
const CANCEL_WINDOW_MAX: usize = 4096;

/// An endless iterator of commands: first the set-up (instrument and risk limits), then trading.
#[derive(Debug)]
pub struct Flow {
    config: FlowConfig,
    rng: SplitMix64,
    mid: i64,
    setup: Vec<Command>,
    next_request: Vec<u64>,
    /// Recent client order ids per session, for cancels (a ring of `CANCEL_WINDOW_MAX`).
    recent: Vec<Vec<u64>>,
}

impl Flow {
    /// A flow with the given shape.
    #[must_use]
    pub fn new(config: FlowConfig) -> Self {
        assert!(config.sessions >= 1, "a flow needs a session");
        assert!(
            config.first_session >= 1
                && config.first_session.checked_add(config.sessions) < Some(ADMIN_SESSION.0),
            "sessions are numbered from 1, below the operator's"
        );
        let sessions = config.sessions as usize;
        let mut flow = Self {
            config,
            rng: SplitMix64::new(config.seed),
            mid: config.mid_start.0,
            setup: Vec::new(),
            next_request: vec![1; sessions + 1],
            recent: vec![Vec::with_capacity(CANCEL_WINDOW_MAX); sessions + 1],
        };
        flow.setup = flow.setup_commands();
        flow.setup.reverse();
        flow
    }

    fn origin(&mut self, session: u32) -> Origin {
        let slot = &mut self.next_request[session as usize];
        let request_id = RequestId(*slot);
        *slot += 1;
        if session == 0 {
            // Set-up commands: the operator's session (session 0 is the sequencer's own).
            return Origin {
                session: ADMIN_SESSION,
                account: AccountId(0),
                request_id,
            };
        }
        let id = self.config.first_session + session - 1;
        Origin {
            session: SessionId(id),
            account: AccountId(id),
            request_id,
        }
    }

    fn setup_commands(&mut self) -> Vec<Command> {
        let mut commands = vec![Command::DefineInstrument(DefineInstrument {
            origin: self.origin(0),
            symbol: Symbol::new("LOCK-USD").expect("valid symbol"),
            tick_size: 1,
            lot_size: 1,
            min_price: Price(
                self.config
                    .mid_start
                    .0
                    .saturating_sub(PRICE_RANGE_TICKS)
                    .max(1),
            ),
            max_price: Price(self.config.mid_start.0.saturating_add(PRICE_RANGE_TICKS)),
            min_qty: Qty(1),
            max_qty: Qty(1_000_000),
            reference_price: self.config.mid_start,
            instrument: self.config.instrument,
        })];
        for session in 1..=self.config.sessions {
            commands.push(Command::SetRiskLimits(SetRiskLimits {
                origin: self.origin(0),
                account: AccountId(self.config.first_session + session - 1),
                max_open_orders: 0,
                max_order_qty: Qty(0),
                max_notional: 0,
                price_band: 0,
                stp_mode: StpMode::Off,
            }));
        }
        commands
    }

    fn new_order(&mut self, session: u32, order_type: OrderType, tif: TimeInForce) -> Command {
        let side = if self.rng.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        self.mid += [-1, 0, 1][self.rng.index(3)];
        self.mid = self
            .mid
            .max(i64::try_from(OFFSET_TICKS_MAX).expect("small") + 1);
        let offset = i64::try_from(1 + self.rng.below(OFFSET_TICKS_MAX)).expect("small");
        // Buyers bid below the mid and sellers offer above it, so books build up and cross
        // only when the walk moves through them.
        let price = match side {
            Side::Buy => self.mid - offset,
            Side::Sell => self.mid + offset,
        };
        let origin = self.origin(session);
        let client_order_id = origin.request_id.0;
        let recent = &mut self.recent[session as usize];
        if recent.len() == CANCEL_WINDOW_MAX {
            let slot = self.rng.index(CANCEL_WINDOW_MAX);
            recent[slot] = client_order_id;
        } else {
            recent.push(client_order_id);
        }
        Command::NewOrder(NewOrder {
            origin,
            instrument: self.config.instrument,
            side,
            order_type,
            time_in_force: tif,
            post_only: PostOnly::Off,
            client_order_id: ClientOrderId(client_order_id),
            price: if order_type == OrderType::Market {
                Price(0)
            } else {
                Price(price)
            },
            stop_price: Price(0),
            qty: Qty(1 + self.rng.below(SIZE_MAX)),
            display_qty: Qty(0),
            expire_time: TimestampNs(0),
        })
    }

    fn cancel(&mut self, session: u32) -> Command {
        let recent = &self.recent[session as usize];
        if recent.is_empty() {
            return self.new_order(session, OrderType::Limit, TimeInForce::Gtc);
        }
        let target = recent[self.rng.index(recent.len())];
        let origin = self.origin(session);
        Command::Cancel(Cancel {
            origin,
            order_id: OrderId(0),
            orig_client_order_id: ClientOrderId(target),
            client_order_id: ClientOrderId(origin.request_id.0),
            instrument: self.config.instrument,
        })
    }
}

impl Iterator for Flow {
    type Item = Command;

    fn next(&mut self) -> Option<Command> {
        if let Some(command) = self.setup.pop() {
            return Some(command);
        }
        let session = 1 + u32::try_from(self.rng.below(u64::from(self.config.sessions)))
            .expect("below a u32");
        Some(match self.rng.below(10) {
            0..=5 => self.new_order(session, OrderType::Limit, TimeInForce::Gtc),
            6..=8 => self.cancel(session),
            _ => self.new_order(session, OrderType::Market, TimeInForce::Ioc),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_flow() {
        let a: Vec<_> = Flow::new(FlowConfig::default()).take(5000).collect();
        let b: Vec<_> = Flow::new(FlowConfig::default()).take(5000).collect();
        assert_eq!(a, b);
        let other = FlowConfig {
            seed: 43,
            ..FlowConfig::default()
        };
        let c: Vec<_> = Flow::new(other).take(5000).collect();
        assert_ne!(a, c);
        let shifted = FlowConfig {
            first_session: 11,
            ..FlowConfig::default()
        };
        let d: Vec<_> = Flow::new(shifted).take(5000).collect();
        assert!(
            d.iter()
                .skip(5)
                .all(|c| (11..=14).contains(&c.origin().session.0))
        );
    }

    #[test]
    fn the_mix_is_about_sixty_thirty_ten_after_setup() {
        let flow = Flow::new(FlowConfig::default()).skip(5).take(100_000);
        let (mut limits, mut cancels, mut markets) = (0, 0, 0);
        for command in flow {
            match command {
                Command::NewOrder(o) if o.order_type == OrderType::Market => markets += 1,
                Command::NewOrder(_) => limits += 1,
                Command::Cancel(_) => cancels += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!((59_000..61_500).contains(&limits), "limits {limits}");
        assert!((29_000..31_000).contains(&cancels), "cancels {cancels}");
        assert!((9_500..10_500).contains(&markets), "markets {markets}");
    }

    #[test]
    fn setup_defines_the_instrument_then_each_account_from_the_admin_session() {
        let setup: Vec<_> = Flow::new(FlowConfig::default()).take(5).collect();
        assert!(matches!(setup[0], Command::DefineInstrument(_)));
        assert!(
            setup[1..]
                .iter()
                .all(|c| matches!(c, Command::SetRiskLimits(_)))
        );
        assert!(setup.iter().all(|c| c.origin().session == ADMIN_SESSION));
    }

    #[test]
    fn request_ids_increase_per_session() {
        let mut last = [0u64; 5];
        for command in Flow::new(FlowConfig::default()).take(10_000) {
            let origin = command.origin();
            let session = if origin.session == ADMIN_SESSION {
                0
            } else {
                origin.session.0
            };
            let slot = &mut last[session as usize];
            assert!(origin.request_id.0 > *slot);
            *slot = origin.request_id.0;
        }
    }
}
