//! `lockstep journal`: inspect, verify and dump a journal directory.
//!
//! Reads only: safe to run against the journal of a live writer (it stops at the writer's
//! published committed sequence number).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use journal::{FileStorage, Inspection, RangeIter, RecordKind, RecordRef};

/// Inspect, verify or dump a journal.
#[derive(Debug, clap::Args)]
pub(crate) struct JournalArgs {
    #[command(subcommand)]
    command: JournalCommand,
}

#[derive(Debug, clap::Subcommand)]
enum JournalCommand {
    /// Summarise segments, sequence and time ranges, record counts and bytes.
    Inspect {
        /// The journal directory.
        #[arg(long)]
        journal: PathBuf,
    },
    /// Verify every record from the start (CRC, sequence, hash chain, segment headers); exits
    /// non-zero naming the segment file, byte offset and sequence number of the first problem.
    Verify {
        /// The journal directory.
        #[arg(long)]
        journal: PathBuf,
    },
    /// Build a new journal from a JSON-lines command file (the format of docs/replay.md).
    Import {
        /// The command file.
        #[arg(long)]
        commands: PathBuf,
        /// The journal directory to create (must not hold a journal yet).
        #[arg(long)]
        journal: PathBuf,
    },
    /// Print records, verified, decoding command bodies.
    Dump {
        /// The journal directory.
        #[arg(long)]
        journal: PathBuf,
        /// First sequence number to print.
        #[arg(long, default_value_t = 1)]
        from: u64,
        /// Last sequence number to print (default: the last committed).
        #[arg(long)]
        to: Option<u64>,
        /// Output format: one line per record.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// How `dump` prints records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// `seq=.. timestamp_ns=.. kind=.. len=..` then the decoded command (Debug) or hex.
    Text,
    /// One JSON object per line (JSON Lines).
    Json,
}

/// Runs a `lockstep journal` subcommand.
pub(crate) fn run(args: JournalArgs) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = match args.command {
        JournalCommand::Inspect { journal } => inspect(&journal, &mut out),
        JournalCommand::Verify { journal } => verify(&journal, &mut out),
        JournalCommand::Import { commands, journal } => import(&commands, &journal, &mut out),
        JournalCommand::Dump {
            journal,
            from,
            to,
            format,
        } => dump(&journal, from, to.unwrap_or(u64::MAX), format, &mut out),
    };
    match result.and_then(|()| out.flush().map_err(anyhow::Error::from)) {
        // `lockstep journal dump | head` is not an error.
        Err(error) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

fn open_storage(dir: &Path) -> anyhow::Result<FileStorage> {
    if dir.is_dir() && !dir.join(journal::META_FILE_NAME).is_file() {
        bail!(
            "{} holds no journal (no {} file)",
            dir.display(),
            journal::META_FILE_NAME
        );
    }
    FileStorage::open(dir).with_context(|| format!("opening journal directory {}", dir.display()))
}

fn verify_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

fn inspect(dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let inspection = journal::inspect(&mut open_storage(dir)?, verify_threads())
        .with_context(|| format!("inspecting {}", dir.display()))?;
    write_inspection(dir, &inspection, out)?;
    if let Some(problem) = &inspection.problem {
        writeln!(out, "problem: {problem}")?;
        out.flush()?;
        bail!("journal {} is corrupt: {problem}", dir.display());
    }
    Ok(())
}

fn range(range: Option<(u64, u64)>) -> String {
    range.map_or_else(|| "none".to_string(), |(lo, hi)| format!("{lo}..={hi}"))
}

fn optional(value: Option<u64>) -> String {
    value.map_or_else(|| "unknown".to_string(), |v| v.to_string())
}

fn write_inspection(dir: &Path, inspection: &Inspection, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "journal     {}", dir.display())?;
    writeln!(out, "records     {}", inspection.records)?;
    writeln!(out, "seqs        {}", range(inspection.seq_range))?;
    writeln!(
        out,
        "timestamps  {} ns",
        range(inspection.timestamp_range_ns)
    )?;
    writeln!(
        out,
        "bytes       {} used of {} allocated in {} segments",
        inspection.bytes_used,
        inspection.bytes_allocated,
        inspection.segments.len()
    )?;
    writeln!(
        out,
        "published   committed seq {}, durable seq {}, checkpoint seq {}",
        optional(inspection.committed_seq),
        optional(inspection.durable_seq),
        optional(inspection.checkpoint_seq)
    )?;
    if let Some(note) = unverified_note(inspection) {
        writeln!(out, "unverified  {note}")?;
    }
    writeln!(
        out,
        "{:<26} {:>5} {:>12} {:>12} {:>10} {:>12} {:>12}  timestamps_ns",
        "segment", "index", "first_seq", "last_seq", "records", "bytes_used", "bytes_alloc"
    )?;
    for s in &inspection.segments {
        let name = Path::new(&s.file)
            .file_name()
            .map_or(s.file.clone(), |n| n.to_string_lossy().into());
        writeln!(
            out,
            "{name:<26} {:>5} {:>12} {:>12} {:>10} {:>12} {:>12}  {}",
            s.index,
            s.first_seq,
            s.last_seq,
            s.records,
            s.bytes_used,
            s.bytes_allocated,
            range(s.timestamp_range_ns)
        )?;
    }
    Ok(())
}

fn verify(dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let inspection = journal::verify(&mut open_storage(dir)?, verify_threads())
        .with_context(|| format!("verifying {}", dir.display()))?;
    writeln!(
        out,
        "ok: {} records, seqs {}, {} segments, every CRC and chain link verified",
        inspection.records,
        range(inspection.seq_range),
        inspection.segments.len()
    )?;
    if let Some(note) = unverified_note(&inspection) {
        writeln!(out, "note: {note}")?;
    }
    Ok(())
}

/// What verification left unread past the committed seq, in words, if anything.
fn unverified_note(inspection: &Inspection) -> Option<String> {
    let u = inspection.unverified?;
    let committed = optional(inspection.committed_seq);
    Some(format!(
        "{} bytes and {} segment files past committed seq {committed} were not verified \
         (written but never published, e.g. the writer stopped mid-batch; its next open \
         scans them: valid records are kept, a torn tail is cut off)",
        u.bytes, u.segments
    ))
}

fn import(commands: &Path, dir: &Path, out: &mut impl Write) -> anyhow::Result<()> {
    let mut file = replay::commands::CommandFile::open(commands)?;
    let written = replay::import(&mut file, dir)?;
    writeln!(out, "imported {written} commands into {}", dir.display())?;
    Ok(())
}

fn dump(
    dir: &Path,
    from: u64,
    to: u64,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut records = RangeIter::open(dir, from, to)
        .with_context(|| format!("opening {} at seq {from}", dir.display()))?;
    while let Some(record) = records
        .next()
        .with_context(|| format!("reading {}", dir.display()))?
    {
        match format {
            Format::Text => writeln!(out, "{}", text_line(&record))?,
            Format::Json => writeln!(out, "{}", json_line(&record))?,
        }
    }
    Ok(())
}

/// The decoded command, or why the body is not one (other record kinds are never decoded).
fn decode(record: &RecordRef<'_>) -> Result<protocol::Command, String> {
    if record.kind != RecordKind::COMMAND {
        return Err(format!("record kind {} is not a command", record.kind.0));
    }
    protocol::Command::decode(record.body).map_err(|error| error.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text_line(record: &RecordRef<'_>) -> String {
    let head = format!(
        "seq={} timestamp_ns={} kind={} len={}",
        record.seq,
        record.timestamp_ns,
        record.kind.0,
        record.body.len()
    );
    match decode(record) {
        Ok(command) => format!("{head} {command:?}"),
        Err(error) => format!("{head} hex={} ({error})", hex(record.body)),
    }
}

fn json_line(record: &RecordRef<'_>) -> serde_json::Value {
    let mut line = serde_json::json!({
        "seq": record.seq,
        "timestamp_ns": record.timestamp_ns,
        "kind": record.kind.0,
        "len": record.body.len(),
    });
    match decode(record) {
        Ok(command) => {
            line["command"] = serde_json::to_value(command).unwrap_or_else(|e| {
                serde_json::Value::String(format!("unserialisable command: {e}"))
            })
        }
        Err(error) => {
            line["body_hex"] = serde_json::Value::String(hex(record.body));
            line["decode_error"] = serde_json::Value::String(error);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use journal::{Config, Durability, Writer};

    /// A journal holding one encoded command (seq 1) and one body that does not decode (seq 2).
    fn sample(dir: &Path) -> protocol::Command {
        let command = protocol::Command::Cancel(protocol::Cancel {
            origin: protocol::Origin::default(),
            order_id: protocol::OrderId(7),
            orig_client_order_id: protocol::ClientOrderId(0),
            client_order_id: protocol::ClientOrderId(1),
            instrument: protocol::InstrumentId(1),
        });
        let config = Config {
            durability: Durability::Every,
            ..Config::default()
        };
        let mut writer = Writer::open(dir, config).expect("open");
        let _ = writer
            .append(7, RecordKind::COMMAND, &command.encode_to_vec())
            .expect("append");
        let _ = writer
            .append(8, RecordKind::COMMAND, &[0xde, 0xad])
            .expect("append");
        writer.close().expect("close");
        command
    }

    fn output(f: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<()>) -> String {
        let mut out = Vec::new();
        f(&mut out).expect("command succeeds");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn dump_text_decodes_commands_and_falls_back_to_hex() {
        let dir = tempfile::tempdir().expect("tempdir");
        let command = sample(dir.path());
        let text = output(|out| dump(dir.path(), 1, u64::MAX, Format::Text, out));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].starts_with("seq=1 timestamp_ns=7 kind=1"),
            "{}",
            lines[0]
        );
        assert!(lines[0].ends_with(&format!("{command:?}")), "{}", lines[0]);
        assert!(lines[1].contains("hex=dead ("), "{}", lines[1]);
    }

    #[test]
    fn dump_json_is_one_object_per_line_and_respects_the_range() {
        let dir = tempfile::tempdir().expect("tempdir");
        let command = sample(dir.path());
        let text = output(|out| dump(dir.path(), 1, 1, Format::Json, out));
        let value: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(value["seq"], 1);
        assert_eq!(
            value["command"],
            serde_json::to_value(command).expect("serialise")
        );
        let text = output(|out| dump(dir.path(), 2, 9, Format::Json, out));
        let value: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
        assert_eq!(
            (value["seq"].as_u64(), value["body_hex"].as_str()),
            (Some(2), Some("dead"))
        );
        assert!(value["decode_error"].is_string());
    }

    #[test]
    fn verify_and_inspect_report_a_healthy_journal() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample(dir.path());
        let text = output(|out| verify(dir.path(), out));
        assert!(text.starts_with("ok: 2 records, seqs 1..=2"), "{text}");
        let text = output(|out| inspect(dir.path(), out));
        assert!(
            text.contains("records     2") && text.contains("00000000000000000001.seg"),
            "{text}"
        );
    }

    /// A published committed seq below the records on file (a writer stopped between writing
    /// a batch and publishing it) leaves records unverified: verify and inspect say so.
    #[test]
    fn verify_and_inspect_name_data_past_the_committed_seq() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample(dir.path());
        assert!(!output(|out| verify(dir.path(), out)).contains("not verified"));
        // `committed_seq` is the u64 at byte 64 of the metadata file (docs/journal.md).
        let meta = dir.path().join(journal::META_FILE_NAME);
        let mut bytes = std::fs::read(&meta).expect("metadata");
        assert_eq!(bytes[64..72], 2u64.to_le_bytes());
        bytes[64..72].copy_from_slice(&1u64.to_le_bytes());
        std::fs::write(&meta, bytes).expect("write metadata");
        let text = output(|out| verify(dir.path(), out));
        assert!(text.starts_with("ok: 1 records, seqs 1..=1"), "{text}");
        assert!(
            text.contains("past committed seq 1 were not verified"),
            "{text}"
        );
        let text = output(|out| inspect(dir.path(), out));
        assert!(text.contains("unverified  "), "{text}");
    }

    #[test]
    fn a_directory_without_a_journal_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let error = verify(dir.path(), &mut Vec::new()).expect_err("no journal");
        assert!(
            format!("{error:#}").contains("holds no journal"),
            "{error:#}"
        );
    }

    #[test]
    fn verify_names_the_corrupt_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        sample(dir.path());
        let path = dir.path().join(journal::segment_file_name(1));
        let mut bytes = std::fs::read(&path).expect("segment");
        bytes[journal::SEGMENT_HEADER_SIZE + 40] ^= 1;
        std::fs::write(&path, bytes).expect("write");
        let error = verify(dir.path(), &mut Vec::new()).expect_err("corrupt");
        let message = format!("{error:#}");
        assert!(
            message.contains("byte offset 64") && message.contains("seq 1"),
            "{message}"
        );
    }
}
