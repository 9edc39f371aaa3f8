//! `lockstep pipeline`: the pipeline in one process, on generated order flow, with no transport:
//! how fast the journal and the engine go together, and proof that the journal is the truth.
//!
//! Stamps each command with a sequence number and the wall clock (the sequencer's job), appends
//! it to a journal under the chosen durability policy, applies it to a live engine, then proves
//! the journal is the truth: verifies every record, replays the journal into a fresh engine and
//! checks both end in the same state hash and produced the same event bytes, and round-trips the
//! live engine through a snapshot.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use matching_engine::{Engine, EngineConfig};
use protocol::{Command, Event, Seq, Sequenced, TimestampNs};
use workload::{Flow, FlowConfig};

/// Options of `lockstep pipeline`.
#[derive(Debug, clap::Args)]
pub(crate) struct PipelineArgs {
    /// Trading commands to generate (after the instrument and account set-up).
    #[arg(long, default_value_t = 1_000_000)]
    commands: u64,
    /// Seed of the generated flow: the same seed gives the same commands.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Journal directory; must not exist yet. Default: a temporary directory, removed at the end.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Durability policy of the journal.
    #[arg(long, value_enum, default_value_t = Policy::Group)]
    durability: Policy,
}

/// The journal durability policies, as named on the command line.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Policy {
    /// The OS writes pages back when it likes.
    None,
    /// Group commit: sync at most every 256 records or 1 ms.
    Group,
    /// Sync every record.
    Every,
}

impl Policy {
    fn durability(self) -> journal::Durability {
        match self {
            Policy::None => journal::Durability::None,
            Policy::Group => journal::Durability::default(),
            Policy::Every => journal::Durability::Every,
        }
    }
}

/// What a pass of commands through an engine produced.
#[derive(Debug, Default)]
struct Outcome {
    commands: u64,
    events: u64,
    trades: u64,
    rejects: u64,
    /// CRC32C over every event's bytes, in order: equal digests mean equal event streams.
    events_digest: u32,
}

impl Outcome {
    fn record(&mut self, events: &[Event], scratch: &mut [u8]) {
        self.commands += 1;
        for event in events {
            self.events += 1;
            match event {
                Event::Trade(_) => self.trades += 1,
                Event::ExecutionReport(r) if r.exec_type == protocol::ExecType::Rejected => {
                    self.rejects += 1;
                }
                _ => {}
            }
            let n = event
                .encode_into(scratch)
                .expect("scratch holds MESSAGE_SIZE_MAX");
            self.events_digest = crc32c::crc32c_append(self.events_digest, &scratch[..n]);
        }
    }
}

pub(crate) fn run(args: &PipelineArgs) -> Result<()> {
    let (dir, _temp) = match &args.journal {
        Some(dir) => {
            ensure!(
                !dir.exists(),
                "{} exists: the pipeline writes a new journal",
                dir.display()
            );
            (dir.clone(), None)
        }
        None => {
            let temp = tempfile::tempdir().context("creating a temporary journal directory")?;
            (temp.path().join("journal"), Some(temp))
        }
    };
    say(&format!(
        "journal: {} (durability {:?})",
        dir.display(),
        args.durability
    ));

    let (live, live_outcome, elapsed) = sequence_and_apply(args, &dir)?;
    say(&format!(
        "sequenced, journaled and applied {} commands in {} ({:.2} M/s): {} events, {} trades, {} rejects",
        live_outcome.commands,
        millis(elapsed),
        rate_m(live_outcome.commands, elapsed),
        live_outcome.events,
        live_outcome.trades,
        live_outcome.rejects,
    ));

    verify_journal(&dir)?;
    let replayed = replay(&dir, &live, &live_outcome)?;
    snapshot_round_trip(&live, &replayed)?;
    say(&format!(
        "state hash {:032x}: live, replayed and restored engines agree",
        live.peek_state_hash().0
    ));
    Ok(())
}

/// The pipeline's engines: the flow keeps a few tens of thousands of orders open, so a quarter of the
/// default order capacity is ample and each engine starts faster.
fn engine_config() -> EngineConfig {
    EngineConfig {
        orders_max: 1 << 18,
        ..EngineConfig::default()
    }
}

/// The sequencer's part and the primary's: stamp, journal, apply. Returns the time it took,
/// engine construction excluded.
fn sequence_and_apply(
    args: &PipelineArgs,
    dir: &std::path::Path,
) -> Result<(Engine, Outcome, Duration)> {
    let config = journal::Config {
        durability: args.durability.durability(),
        ..Default::default()
    };
    let mut engine = Engine::new(engine_config());
    let started = Instant::now();
    let mut writer = journal::Writer::open(dir, config).context("opening the journal")?;
    let mut outcome = Outcome::default();
    let (mut body, mut scratch) = (
        [0u8; protocol::MESSAGE_SIZE_MAX],
        [0u8; protocol::MESSAGE_SIZE_MAX],
    );
    let mut events = Vec::with_capacity(1024);
    let mut clock = MonotonicClock::default();
    let flow = Flow::new(FlowConfig {
        seed: args.seed,
        ..FlowConfig::default()
    });
    let setup = 1 + u64::from(FlowConfig::default().sessions);
    for command in flow.take(usize::try_from(setup + args.commands).context("too many commands")?) {
        let n = command
            .encode_into(&mut body)
            .expect("body holds MESSAGE_SIZE_MAX");
        let now = clock.now_ns();
        let receipt = writer
            .append(now, journal::RecordKind::COMMAND, &body[..n])
            .context("appending to the journal")?;
        let sequenced = Sequenced {
            seq: Seq(receipt.seq),
            timestamp: TimestampNs(now),
            command,
        };
        events.clear();
        engine.apply(&sequenced, &mut events);
        outcome.record(&events, &mut scratch);
    }
    writer.close().context("closing (syncing) the journal")?;
    Ok((engine, outcome, started.elapsed()))
}

fn verify_journal(dir: &std::path::Path) -> Result<()> {
    let started = Instant::now();
    let mut storage = journal::FileStorage::open(dir).context("opening the journal to verify")?;
    let inspection = journal::verify(&mut storage, 1).context("verifying the journal")?;
    if let Some(problem) = &inspection.problem {
        bail!("journal verification failed: {problem}");
    }
    say(&format!(
        "verified {} records in {} segment(s), {} MiB, every CRC32C and chain link, in {}",
        inspection.records,
        inspection.segments.len(),
        inspection.bytes_used / (1024 * 1024),
        millis(started.elapsed()),
    ));
    Ok(())
}

/// Replay: a fresh engine fed only from the journal must end where the live one did.
fn replay(dir: &std::path::Path, live: &Engine, live_outcome: &Outcome) -> Result<Engine> {
    let mut engine = Engine::new(engine_config());
    let started = Instant::now();
    let mut reader = journal::Reader::open(dir).context("opening the journal to replay")?;
    let mut outcome = Outcome::default();
    let mut events = Vec::with_capacity(1024);
    let mut scratch = [0u8; protocol::MESSAGE_SIZE_MAX];
    while let Some(record) = reader.next().context("reading the journal")? {
        let command = Command::decode(record.body)
            .with_context(|| format!("decoding the command at seq {}", record.seq))?;
        let sequenced = Sequenced {
            seq: Seq(record.seq),
            timestamp: TimestampNs(record.timestamp_ns),
            command,
        };
        events.clear();
        engine.apply(&sequenced, &mut events);
        outcome.record(&events, &mut scratch);
    }
    ensure!(
        outcome.commands == live_outcome.commands,
        "replayed {} of {} commands",
        outcome.commands,
        live_outcome.commands
    );
    ensure!(
        outcome.events_digest == live_outcome.events_digest,
        "replayed events differ from the live engine's"
    );
    ensure!(
        engine.state_hash() == live.peek_state_hash(),
        "replayed state hash differs from the live engine's"
    );
    say(&format!(
        "replayed {} commands from the journal in {} ({:.2} M/s): identical {} events (digest {:08x})",
        outcome.commands,
        millis(started.elapsed()),
        rate_m(outcome.commands, started.elapsed()),
        outcome.events,
        outcome.events_digest,
    ));
    Ok(engine)
}

fn snapshot_round_trip(live: &Engine, replayed: &Engine) -> Result<()> {
    let started = Instant::now();
    let mut bytes = Vec::new();
    live.snapshot(&mut bytes);
    let restored = Engine::restore(&bytes).context("restoring the snapshot")?;
    ensure!(
        restored.peek_state_hash() == replayed.peek_state_hash(),
        "restored state hash differs"
    );
    say(&format!(
        "snapshot of {} open orders: {} KiB, written and restored in {}",
        live.open_orders(),
        bytes.len() / 1024,
        millis(started.elapsed()),
    ));
    Ok(())
}

/// The sequencer's clock: wall-clock nanoseconds, strictly increasing.
#[derive(Debug, Default)]
struct MonotonicClock {
    last_ns: u64,
}

impl MonotonicClock {
    fn now_ns(&mut self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let wall = u64::try_from(wall).unwrap_or(u64::MAX);
        self.last_ns = wall.max(self.last_ns + 1);
        self.last_ns
    }
}

#[allow(clippy::print_stdout, reason = "the pipeline's output is its report")]
fn say(line: &str) {
    println!("{line}");
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[allow(clippy::cast_precision_loss, reason = "a displayed rate")]
fn rate_m(count: u64, d: Duration) -> f64 {
    count as f64 / d.as_secs_f64().max(1e-9) / 1e6
}
