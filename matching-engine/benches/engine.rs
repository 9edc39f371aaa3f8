//! Throughput and latency of Lockstep's engine against matchcore 0.4 and lobster 0.7 on the same
//! seeded flow, in the same process; allocations per operation in steady state; snapshot cost for
//! a million resting orders. Prints `SNAPSHOT ...` and, last, `RESULT ...`.
//!
//! Flow (SplitMix64, seed 42): 1,000,000 operations on one instrument: 60% GTC limit orders at a
//! random-walk mid +/- 1..=32 ticks (sizes 1..=250), 30% cancels of random earlier limit orders,
//! 10% market orders. matchcore 0.4 fills a crossing limit order through its limit price, so the
//! books diverge slightly: compare speed, not outcomes.
//!
//! Each of the 5 runs takes the three engines through the whole flow side by side, in chunks of
//! 50,000 operations, each chunk through every engine in turn (`side_by_side`); a run's speed for
//! an engine is its operations over the sum of its chunks' times. Throughputs are the medians of
//! the runs; each ratio is the median of the runs' ratios (the engines of one run saw the same
//! machine), with the ratio of the median throughputs printed beside it (`RATIO_OF_MEDIANS`).
#![allow(clippy::print_stdout, clippy::cast_possible_truncation)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use matching_engine::{Engine, EngineConfig};
use protocol::*;

/// The system allocator, counting allocations only while asked ([`AllocationCount`]), that
/// is during Lockstep's chunks. The baselines allocate as they match, and a counter updated on
/// every allocation taxes them: `stats_alloc`'s (two locked read-modify-writes per allocation
/// and per release) slowed matchcore by about 1% in paired runs. Outside Lockstep's chunks an
/// allocation costs one relaxed load more than the system's.
struct CountingWhenAsked;

#[global_allocator]
static GLOBAL: CountingWhenAsked = CountingWhenAsked;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn count_allocation() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Heap allocations (growths included) counted from [`Self::start`] to [`Self::stop`].
struct AllocationCount {
    before: u64,
}

impl AllocationCount {
    fn start() -> Self {
        COUNTING.store(true, Ordering::Relaxed);
        Self {
            before: ALLOCATIONS.load(Ordering::Relaxed),
        }
    }

    fn stop(self) -> u64 {
        COUNTING.store(false, Ordering::Relaxed);
        ALLOCATIONS.load(Ordering::Relaxed) - self.before
    }
}

// SAFETY: every method forwards its arguments unchanged to `System`, so each upholds the
// `GlobalAlloc` contract exactly as `System` does; counting touches no memory it hands out.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingWhenAsked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller upholds `alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller upholds `alloc_zeroed`'s contract, which is `System`'s.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_allocation();
        // SAFETY: the caller upholds `realloc`'s contract; `ptr` came from `System` through us.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `dealloc`'s contract; `ptr` came from `System` through us.
        unsafe { System.dealloc(ptr, layout) }
    }
}

const OPS: usize = 1_000_000;
/// Lockstep's run reads the state hash as often as the cluster's engines do (`engine.hash_interval`
/// defaults to 1024): the hash is brought up to date when read, so the bench pays for it here.
const HASH_INTERVAL: u64 = 1024;
const RUNS: usize = 5;
/// Operations per chunk of a side-by-side run ([`side_by_side`]): 20 chunks per pass, each a few
/// milliseconds long for Lockstep, against speed swings of the host lasting seconds.
const CHUNK: usize = 50_000;
const MID_START: i64 = 1 << 19;
const TICKS: i64 = 1 << 20;

struct SplitMix64(u64);

impl SplitMix64 {
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
}

#[derive(Clone, Copy)]
enum Op {
    Limit {
        buy: bool,
        price: i64,
        qty: u64,
    },
    /// Cancel the limit order entered by operation `op`.
    Cancel {
        op: usize,
    },
    Market {
        buy: bool,
        qty: u64,
    },
}

fn flow() -> Vec<Op> {
    let mut rng = SplitMix64(42);
    let mut mid = MID_START;
    let mut limits: Vec<usize> = Vec::new();
    let mut ops = Vec::with_capacity(OPS);
    for i in 0..OPS {
        mid = (mid + rng.below(3) as i64 - 1).clamp(64, TICKS - 64);
        let roll = rng.below(100);
        let buy = rng.below(2) == 0;
        let qty = 1 + rng.below(250);
        if roll < 60 || (roll < 90 && limits.is_empty()) {
            let offset = 1 + rng.below(32) as i64;
            let price = if buy { mid - offset } else { mid + offset };
            limits.push(i);
            ops.push(Op::Limit { buy, price, qty });
        } else if roll < 90 {
            let op = limits[rng.below(limits.len() as u64) as usize];
            ops.push(Op::Cancel { op });
        } else {
            ops.push(Op::Market { buy, qty });
        }
    }
    ops
}

/// Capacity for the flow (its open orders peak well below this; the run asserts that nothing was
/// rejected).
fn flow_config() -> EngineConfig {
    EngineConfig {
        orders_max: 1 << 17,
        instruments_max: 4,
        accounts_max: 16,
        price_levels_max: 1 << 22,
    }
}

/// Capacity for the snapshot of a million resting orders.
fn snapshot_config() -> EngineConfig {
    EngineConfig {
        orders_max: 1 << 21,
        ..flow_config()
    }
}

fn sequenced(seq: u64, command: Command) -> Sequenced {
    Sequenced {
        seq: Seq(seq),
        timestamp: TimestampNs(seq),
        command,
    }
}

fn define() -> Command {
    Command::DefineInstrument(DefineInstrument {
        origin: Origin {
            session: SessionId(0),
            account: AccountId(0),
            request_id: RequestId(0),
        },
        symbol: Symbol::new("BENCH").expect("valid"),
        tick_size: 1,
        lot_size: 1,
        min_price: Price(1),
        max_price: Price(TICKS),
        min_qty: Qty(1),
        max_qty: Qty(1_000_000),
        reference_price: Price(MID_START),
        instrument: InstrumentId(1),
    })
}

fn new_order(id: u64, buy: bool, order_type: OrderType, price: i64, qty: u64) -> Command {
    Command::NewOrder(NewOrder {
        origin: Origin {
            session: SessionId(1),
            account: AccountId(1 + (id % 4) as u32),
            request_id: RequestId(id),
        },
        instrument: InstrumentId(1),
        side: if buy { Side::Buy } else { Side::Sell },
        order_type,
        time_in_force: TimeInForce::Gtc,
        post_only: PostOnly::Off,
        client_order_id: ClientOrderId(id),
        price: Price(price),
        stop_price: Price(0),
        qty: Qty(qty),
        display_qty: Qty(0),
        expire_time: TimestampNs(0),
    })
}

/// Lockstep commands for the flow. Every new order is accepted, so the n-th gets order id n.
fn lockstep_commands(ops: &[Op]) -> Vec<Sequenced> {
    let mut order_ids = vec![0u64; ops.len()];
    let mut next_id = 1;
    let mut out = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let seq = i as u64 + 2;
        let command = match *op {
            Op::Limit { buy, price, qty } => {
                order_ids[i] = next_id;
                next_id += 1;
                new_order(seq, buy, OrderType::Limit, price, qty)
            }
            Op::Market { buy, qty } => {
                next_id += 1;
                new_order(seq, buy, OrderType::Market, 0, qty)
            }
            Op::Cancel { op } => Command::Cancel(Cancel {
                origin: Origin {
                    session: SessionId(1),
                    account: AccountId(1),
                    request_id: RequestId(seq),
                },
                order_id: OrderId(order_ids[op]),
                orig_client_order_id: ClientOrderId(0),
                client_order_id: ClientOrderId(0),
                instrument: InstrumentId(1),
            }),
        };
        out.push(sequenced(seq, command));
    }
    out
}

/// A fresh engine with the flow's instrument defined, and an event buffer for it.
fn flow_engine() -> (Engine, Vec<Event>) {
    let mut engine = Engine::new(flow_config());
    let mut out = Vec::with_capacity(4096);
    engine.apply(&sequenced(1, define()), &mut out);
    (engine, out)
}

/// After `cmd`: a state hash checkpoint every `HASH_INTERVAL` commands, as the cluster's engines
/// take.
#[inline(always)]
fn checkpoint(engine: &mut Engine, cmd: &Sequenced) {
    if cmd.seq.0.is_multiple_of(HASH_INTERVAL) {
        std::hint::black_box(engine.state_hash());
    }
}

/// One engine's pass over the flow, advanced a chunk of operations at a time: the chunks' times
/// add up to the pass's.
trait Pass {
    /// Applies the operations in `range` of the flow, adding their time to the pass's.
    fn advance(&mut self, range: Range<usize>);
    fn elapsed(&self) -> Duration;
}

/// Lockstep's pass: its engine and event buffer, and the allocations counted in its chunks.
struct LockstepPass<'a> {
    commands: &'a [Sequenced],
    engine: Engine,
    out: Vec<Event>,
    elapsed: Duration,
    allocations: u64,
}

impl<'a> LockstepPass<'a> {
    fn new(commands: &'a [Sequenced]) -> Self {
        let (engine, out) = flow_engine();
        Self {
            commands,
            engine,
            out,
            elapsed: Duration::ZERO,
            allocations: 0,
        }
    }
}

impl Pass for LockstepPass<'_> {
    fn advance(&mut self, range: Range<usize>) {
        let (engine, out) = (&mut self.engine, &mut self.out);
        let allocations = AllocationCount::start();
        let start = Instant::now();
        for cmd in &self.commands[range] {
            out.clear();
            engine.apply(cmd, out);
            // The events are the output: the optimiser may not treat them as unread.
            std::hint::black_box(&*out);
            checkpoint(engine, cmd);
        }
        self.elapsed += start.elapsed();
        self.allocations += allocations.stop();
    }

    fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// Times each command on its own, and checks (outside the timings) that the engine rejects none
/// of the flow's new orders: it fits the configured capacities. The engine is deterministic, so
/// the throughput runs do the same work without checking it in their timed loops.
fn lockstep_latencies(commands: &[Sequenced]) -> (u64, u64) {
    let (mut engine, mut out) = flow_engine();
    let mut samples = Vec::with_capacity(commands.len());
    let mut rejects = 0u64;
    for cmd in commands {
        out.clear();
        let start = Instant::now();
        engine.apply(cmd, &mut out);
        checkpoint(&mut engine, cmd);
        samples.push(start.elapsed().as_nanos() as u64);
        rejects += u64::from(
            matches!(out.first(), Some(Event::ExecutionReport(r)) if r.exec_type == ExecType::Rejected),
        );
    }
    assert_eq!(rejects, 0, "the flow fits the configured capacities");
    samples.sort_unstable();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 99 / 100],
    )
}

fn matchcore_commands(ops: &[Op]) -> Vec<matchcore::Command> {
    use matchcore::*;
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let meta = CommandMeta {
                sequence_number: SequenceNumber(i as u64),
                timestamp: Timestamp(i as u64 + 1),
            };
            let side = |buy| if buy { Side::Buy } else { Side::Sell };
            let kind = match *op {
                Op::Limit { buy, price, qty } => CommandKind::Submit(SubmitCmd {
                    order: NewOrder::Limit(LimitOrder::new(
                        Price(price as u64),
                        QuantityPolicy::Standard {
                            quantity: Quantity(qty),
                        },
                        OrderFlags::new(side(buy), false, TimeInForce::Gtc),
                    )),
                }),
                Op::Market { buy, qty } => CommandKind::Submit(SubmitCmd {
                    order: NewOrder::Market(MarketOrder::new(Quantity(qty), side(buy), false)),
                }),
                Op::Cancel { op } => CommandKind::Cancel(CancelCmd {
                    order_id: OrderId(op as u64),
                    order_kind: OrderKind::Limit,
                }),
            };
            Command { meta, kind }
        })
        .collect()
}

/// A baseline's pass: its book, the flow as its own commands, and how it applies one (a closure,
/// so that the loop is compiled for each baseline as if written out).
struct BaselinePass<'a, C, B, F> {
    commands: &'a [C],
    book: B,
    execute: F,
    elapsed: Duration,
}

impl<'a, C, B, F: FnMut(&mut B, &C)> BaselinePass<'a, C, B, F> {
    fn new(commands: &'a [C], book: B, execute: F) -> Self {
        Self {
            commands,
            book,
            execute,
            elapsed: Duration::ZERO,
        }
    }
}

impl<C, B, F: FnMut(&mut B, &C)> Pass for BaselinePass<'_, C, B, F> {
    fn advance(&mut self, range: Range<usize>) {
        let start = Instant::now();
        for cmd in &self.commands[range] {
            (self.execute)(&mut self.book, cmd);
        }
        self.elapsed += start.elapsed();
    }

    fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// matchcore's pass; its outcomes are passed to `black_box`, so none goes unread.
fn matchcore_pass(commands: &[matchcore::Command]) -> impl Pass + '_ {
    BaselinePass::new(
        commands,
        matchcore::OrderBook::new("BENCH"),
        |book: &mut matchcore::OrderBook, cmd: &matchcore::Command| {
            let outcome = book.execute(cmd);
            std::hint::black_box(&outcome);
        },
    )
}

fn lobster_orders(ops: &[Op]) -> Vec<lobster::OrderType> {
    use lobster::{OrderType, Side};
    let side = |buy| if buy { Side::Bid } else { Side::Ask };
    ops.iter()
        .enumerate()
        .map(|(i, op)| match *op {
            Op::Limit { buy, price, qty } => OrderType::Limit {
                id: i as u128,
                side: side(buy),
                qty,
                price: price as u64,
            },
            Op::Market { buy, qty } => OrderType::Market {
                id: i as u128,
                side: side(buy),
                qty,
            },
            Op::Cancel { op } => OrderType::Cancel { id: op as u128 },
        })
        .collect()
}

fn lobster_pass(orders: &[lobster::OrderType]) -> impl Pass + '_ {
    BaselinePass::new(
        orders,
        lobster::OrderBook::new(OPS, 64, false),
        |book: &mut lobster::OrderBook, order: &lobster::OrderType| {
            let event = book.execute(*order);
            std::hint::black_box(&event);
        },
    )
}

/// Runs the engines' passes side by side: the flow in chunks of `CHUNK` operations, each chunk
/// through every engine in turn before the next chunk. This host's speed swings (by about half,
/// for seconds at a time) then land on all the engines alike instead of on whichever ran whole
/// at that moment. The engine that starts a chunk rotates, so that none always goes first.
fn side_by_side(passes: &mut [&mut dyn Pass], ops: usize) {
    for (i, start) in (0..ops).step_by(CHUNK).enumerate() {
        let range = start..(start + CHUNK).min(ops);
        for k in 0..passes.len() {
            passes[(i + k) % passes.len()].advance(range.clone());
        }
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn ops_per_s(d: Duration) -> f64 {
    OPS as f64 / d.as_secs_f64()
}

/// An engine holding `n` resting orders on one instrument (bids below the mid, asks above).
fn snapshot_bench(n: u64) {
    let mut engine = Engine::new(snapshot_config());
    let mut out = Vec::with_capacity(64);
    engine.apply(&sequenced(1, define()), &mut out);
    for i in 0..n {
        let buy = i % 2 == 0;
        let offset = 1 + (i / 2 % 20_000) as i64;
        let price = if buy {
            MID_START - offset
        } else {
            MID_START + offset
        };
        out.clear();
        engine.apply(
            &sequenced(
                i + 2,
                new_order(i + 2, buy, OrderType::Limit, price, 1 + i % 250),
            ),
            &mut out,
        );
    }
    assert_eq!(u64::from(engine.open_orders()), n);
    let mut bytes = Vec::new();
    let start = Instant::now();
    engine.snapshot(&mut bytes);
    let write = start.elapsed();
    let start = Instant::now();
    let mut restored = Engine::restore(&bytes).expect("own snapshot restores");
    let restore = start.elapsed();
    assert_eq!(restored.state_hash(), engine.state_hash());
    println!(
        "SNAPSHOT orders={n} bytes={} write_ms={:.1} restore_ms={:.1}",
        bytes.len(),
        write.as_secs_f64() * 1e3,
        restore.as_secs_f64() * 1e3
    );
}

fn main() {
    let ops = flow();
    let lockstep = lockstep_commands(&ops);
    // Profiling: `LOCKSTEP_PROFILE=<ops>[,<runs>]` runs only Lockstep on a prefix of the flow.
    if let Ok(spec) = std::env::var("LOCKSTEP_PROFILE") {
        let mut parts = spec.split(',').map(|p| p.parse::<usize>().ok());
        let n = parts.next().flatten().unwrap_or(OPS).min(OPS);
        let runs = parts.next().flatten().unwrap_or(RUNS);
        for _ in 0..runs {
            let mut pass = LockstepPass::new(&lockstep);
            pass.advance(0..n);
            println!(
                "lockstep {:.0} ops/s",
                n as f64 / pass.elapsed().as_secs_f64()
            );
        }
        return;
    }
    // Profiling by kind of command: `LOCKSTEP_PROFILE_KINDS=1` runs the flow once with each
    // kind applied through its own non-inlined function, so that a profiler's inclusive cost per
    // function (e.g. callgrind, `--toggle-collect='*run_by_kind*'`) is the cost per kind.
    if std::env::var_os("LOCKSTEP_PROFILE_KINDS").is_some() {
        profile_by_kind(&lockstep);
        return;
    }
    let matchcore = matchcore_commands(&ops);
    let lobster = lobster_orders(&ops);
    // Profiling the baseline: `MATCHCORE_PROFILE=<ops>` runs only matchcore, once.
    if let Some(n) = std::env::var("MATCHCORE_PROFILE")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let n = n.min(OPS);
        let mut pass = matchcore_pass(&matchcore);
        pass.advance(0..n);
        println!(
            "matchcore {:.0} ops/s",
            n as f64 / pass.elapsed().as_secs_f64()
        );
        return;
    }
    let (mut ls, mut mc, mut lb) = (Vec::new(), Vec::new(), Vec::new());
    // Each run's ratios, of speeds measured side by side (`side_by_side`).
    let (mut vs_mc, mut vs_lb) = (Vec::new(), Vec::new());
    let mut allocations = Vec::new();
    let mut resting = 0;
    for run in 0..RUNS {
        let mut ls_pass = LockstepPass::new(&lockstep);
        let mut mc_pass = matchcore_pass(&matchcore);
        let mut lb_pass = lobster_pass(&lobster);
        side_by_side(&mut [&mut ls_pass, &mut mc_pass, &mut lb_pass], OPS);
        ls.push(ops_per_s(ls_pass.elapsed()));
        mc.push(ops_per_s(mc_pass.elapsed()));
        lb.push(ops_per_s(lb_pass.elapsed()));
        vs_mc.push(ls[run] / mc[run]);
        vs_lb.push(ls[run] / lb[run]);
        allocations.push(ls_pass.allocations);
        resting = ls_pass.engine.open_orders() as usize;
        println!(
            "run {run}: lockstep={:.0} matchcore={:.0} lobster={:.0} ops/s, ratios {:.2} {:.2}",
            ls[run], mc[run], lb[run], vs_mc[run], vs_lb[run]
        );
    }
    let (ls, mc, lb) = (median(ls), median(mc), median(lb));
    // The ratios reported are the medians of the runs' ratios (each run's engines saw the same
    // machine); the ratios of the median speeds are printed for comparison.
    println!(
        "RATIO_OF_MEDIANS vs_matchcore={:.2} vs_lobster={:.2}",
        ls / mc,
        ls / lb
    );
    let (vs_mc, vs_lb) = (median(vs_mc), median(vs_lb));
    let (p50, p99) = lockstep_latencies(&lockstep);
    let alloc_max = allocations.iter().max().copied().unwrap_or(0);
    println!("lockstep resting orders at end: {resting}");
    println!(
        "ALLOCATIONS lockstep_max_per_run={alloc_max} per_op={:.6}",
        alloc_max as f64 / OPS as f64
    );
    snapshot_bench(1_000_000);
    println!(
        "RESULT engine ops_per_s={ls:.0} ratio_vs_matchcore={vs_mc:.2} ratio_vs_lobster={vs_lb:.2} p50_ns={p50} p99_ns={p99}"
    );
}

/// Declares the kinds of command in the flow and, for each, a non-inlined function that applies
/// one command of that kind (its own symbol, so a profiler's cost per function is per kind).
macro_rules! kinds {
    ($($kind:ident => $apply:ident),+ $(,)?) => {
        /// The kinds of command in the flow, by what the engine did with them.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Kind {
            $($kind,)+
        }

        impl Kind {
            const ALL: &[Kind] = &[$(Kind::$kind,)+];

            fn apply(self, engine: &mut Engine, cmd: &Sequenced, out: &mut Vec<Event>) {
                match self {
                    $(Kind::$kind => $apply(engine, cmd, out),)+
                }
            }
        }

        $(
            #[inline(never)]
            fn $apply(engine: &mut Engine, cmd: &Sequenced, out: &mut Vec<Event>) {
                // A distinct argument per kind keeps the linker from folding the functions.
                std::hint::black_box(Kind::$kind as u8);
                engine.apply(cmd, out);
            }
        )+
    };
}

kinds! {
    LimitRests => apply_limit_rests,
    LimitTrades => apply_limit_trades,
    Market => apply_market,
    CancelDone => apply_cancel_done,
    CancelRejected => apply_cancel_rejected,
}

/// Sorts the flow's commands into kinds (on a first engine), then applies them by kind (on a
/// second) and prints the count of each.
fn profile_by_kind(commands: &[Sequenced]) {
    let (mut engine, mut out) = flow_engine();
    let kinds: Vec<Kind> = commands
        .iter()
        .map(|cmd| {
            out.clear();
            engine.apply(cmd, &mut out);
            let has = |f: fn(&Event) -> bool| out.iter().any(f);
            match &cmd.command {
                Command::NewOrder(n) if n.order_type == OrderType::Market => Kind::Market,
                Command::NewOrder(_) if has(|e| matches!(e, Event::Trade(_))) => Kind::LimitTrades,
                Command::NewOrder(_) => Kind::LimitRests,
                _ if has(|e| matches!(e, Event::CancelReject(_))) => Kind::CancelRejected,
                _ => Kind::CancelDone,
            }
        })
        .collect();
    let (mut engine, mut out) = flow_engine();
    run_by_kind(&mut engine, commands, &kinds, &mut out);
    for &kind in Kind::ALL {
        let n = kinds.iter().filter(|&&k| k == kind).count();
        println!("{kind:?}: {n} commands");
    }
}

#[inline(never)]
fn run_by_kind(engine: &mut Engine, commands: &[Sequenced], kinds: &[Kind], out: &mut Vec<Event>) {
    for (cmd, kind) in commands.iter().zip(kinds) {
        out.clear();
        kind.apply(engine, cmd, out);
        checkpoint(engine, cmd);
    }
}
