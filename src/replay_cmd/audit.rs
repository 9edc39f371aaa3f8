//! `replay verify`, `replay events` and `replay book`.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use protocol::{Seq, TimestampNs};
use replay::book::{At, BookReport, find_instrument, replay_to};
use replay::{Divergence, Mismatch, VerifyOptions, VerifyReport};

use super::StartArgs;
use super::output::{Bar, is_broken_pipe, open_out};

#[derive(Debug, clap::Args)]
pub(super) struct VerifyArgs {
    #[command(flatten)]
    start: StartArgs,
    /// A directory of replica snapshots (`{seq:020}.snapshot`) to check the state hash against.
    #[arg(long)]
    snapshots: Option<PathBuf>,
    /// An events recording (JSON lines, as `replay events` writes) to check events against.
    #[arg(long)]
    events: Option<PathBuf>,
    /// Commands between the state hash checkpoints reported.
    #[arg(long, default_value_t = replay::HASH_INTERVAL_DEFAULT, value_parser = clap::value_parser!(u64).range(1..))]
    hash_interval: u64,
}

pub(super) fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let options = VerifyOptions {
        journal: args.start.journal.clone(),
        snapshots: args.snapshots.clone(),
        events: args.events.clone(),
        from_snapshot: args.start.from_snapshot.clone(),
        engine: matching_engine::EngineConfig::default(),
        hash_interval: args.hash_interval,
    };
    let report = replay::verify(&options, &mut Bar::new("verify"))?;
    let mut out = std::io::stdout().lock();
    write_report(&report, &mut out)?;
    if let Some(divergence) = &report.divergence {
        write_divergence(divergence, &mut out)?;
        bail!("divergence at seq {}", divergence.command.seq);
    }
    if let Some(seq) = report.recorded_beyond_end {
        bail!("the recording has events from seq {seq} on, past the journal's end");
    }
    Ok(())
}

fn write_report(r: &VerifyReport, out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "journal: {} records verified (CRC, sequence, chain)",
        r.records_verified
    )?;
    writeln!(
        out,
        "replayed: {} commands to seq {}, state_hash=0x{:032x}",
        r.commands, r.last_seq, r.final_digest.0
    )?;
    if let Some(k) = r.last_checkpoint {
        writeln!(
            out,
            "last checkpoint: seq {} state_hash=0x{:032x}",
            k.seq, k.digest.0
        )?;
    }
    let seqs = |v: &[Seq]| {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    writeln!(
        out,
        "snapshots: {} matched [{}], {} not reached or before the start [{}]",
        r.snapshots_matched.len(),
        seqs(&r.snapshots_matched),
        r.snapshots_unchecked.len(),
        seqs(&r.snapshots_unchecked)
    )?;
    writeln!(
        out,
        "events: {} commands compared with the recording",
        r.commands_compared
    )?;
    let verdict = if r.ok() { "ok" } else { "DIVERGED" };
    writeln!(out, "{verdict}")
}

fn write_divergence(d: &Divergence, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    writeln!(out, "divergence at seq {}", d.command.seq)?;
    writeln!(out, "command: {}", serde_json::to_string(&d.command)?)?;
    match &d.mismatch {
        Mismatch::StateHash {
            snapshot,
            expected,
            actual,
        } => {
            writeln!(
                out,
                "snapshot {}: state_hash=0x{:032x}",
                snapshot.display(),
                expected.0
            )?;
            writeln!(out, "replayed:  state_hash=0x{:032x}", actual.0)?;
        }
        Mismatch::Events { expected, actual } => {
            writeln!(out, "recorded events ({}):", expected.len())?;
            for e in expected {
                writeln!(out, "  {}", serde_json::to_string(e)?)?;
            }
            writeln!(out, "replayed events ({}):", actual.len())?;
            for e in actual {
                writeln!(out, "  {}", serde_json::to_string(e)?)?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(super) struct EventsArgs {
    #[command(flatten)]
    start: StartArgs,
    /// First seq whose events are written.
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// Last seq whose events are written (default: the journal's end).
    #[arg(long)]
    to: Option<u64>,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(super) fn events(args: &EventsArgs) -> anyhow::Result<()> {
    let mut out = open_out(args.out.as_deref())?;
    let to = Seq(args.to.unwrap_or(u64::MAX));
    let result = replay::replay_range(
        &args.start.journal,
        args.start.start(),
        Seq(args.from),
        to,
        &mut Bar::new("events"),
        &mut |seq, events| {
            replay::record::write_events(&mut out, seq, events).map_err(|error| {
                replay::ReplayError::Io {
                    path: args.out.clone().unwrap_or_else(|| "<stdout>".into()),
                    error,
                }
            })
        },
    )
    .map(drop)
    .map_err(anyhow::Error::from)
    .and_then(|()| out.flush().context("writing events"));
    match result {
        Err(error) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("at").required(true).args(["at_seq", "at_time"]))]
pub(super) struct BookArgs {
    #[command(flatten)]
    start: StartArgs,
    /// The book after this seq.
    #[arg(long)]
    at_seq: Option<u64>,
    /// The book after every command stamped at or before this time (ns since the epoch).
    #[arg(long)]
    at_time: Option<u64>,
    /// The instrument: its id or its symbol.
    #[arg(long)]
    instrument: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) fn book(args: &BookArgs) -> anyhow::Result<()> {
    let at = match (args.at_seq, args.at_time) {
        (Some(seq), _) => At::Seq(Seq(seq)),
        (None, Some(t)) => At::Time(TimestampNs(t)),
        (None, None) => bail!("give --at-seq or --at-time"),
    };
    let (replayer, time) = replay_to(&args.start.journal, at, args.start.start())?;
    if let At::Seq(seq) = at
        && replayer.applied() < seq
    {
        bail!(
            "the journal ends at seq {}, before seq {seq}",
            replayer.applied()
        );
    }
    let engine = replayer.engine();
    let Some(id) = find_instrument(engine, &args.instrument) else {
        let known: Vec<_> = engine
            .instruments()
            .iter()
            .map(|(id, s)| format!("{id} ({})", s.as_str()))
            .collect();
        bail!(
            "no instrument {:?} at seq {} (defined: {})",
            args.instrument,
            replayer.applied(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
    };
    let view = engine.book_view(id).expect("found above");
    let report = BookReport::new(&view, replayer.applied(), time);
    let mut out = open_out(None)?;
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        report.write_text(&mut out)?;
    }
    out.flush()?;
    Ok(())
}
