//! Exports read back: CSV with the `csv` crate, Parquet with parquet's Arrow reader, checked
//! against the summary and the events of the same run.

use std::path::Path;

use arrow_array::{Array, Int64Array, StringArray, UInt64Array};
use matching_engine::EngineConfig;
use protocol::{Event, Seq, TimestampNs};
use replay::backtest::CommandSource;
use replay::commands::CommandLine;
use replay::export::{ExportOptions, Formats, run_export};
use replay::{NoProgress, Replayer};

const COMMANDS: usize = 5_000;

fn command_file(path: &Path) -> Vec<(Seq, Vec<Event>)> {
    let mut text = String::new();
    let mut replayer = Replayer::new(EngineConfig::default(), 1024);
    let mut events = Vec::new();
    for (i, command) in workload::Flow::new(workload::FlowConfig::default())
        .take(COMMANDS)
        .enumerate()
    {
        let c = protocol::Sequenced {
            seq: Seq(i as u64 + 1),
            timestamp: TimestampNs(1_000_000 + i as u64),
            command,
        };
        text += &serde_json::to_string(&CommandLine::of(&c)).unwrap();
        text.push('\n');
        replayer.apply(&c).unwrap();
        events.push((c.seq, replayer.events().to_vec()));
    }
    std::fs::write(path, text).unwrap();
    events
}

fn parquet_batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn column<'a, T: 'static>(batch: &'a arrow_array::RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

#[test]
fn csv_and_parquet_exports_read_back_with_the_runs_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let events = command_file(&dir.path().join("commands.jsonl"));
    let options = ExportOptions {
        dir: dir.path().join("out"),
        formats: Formats {
            csv: true,
            parquet: true,
        },
        l2_every: 1_000,
        l2_depth: 5,
    };
    let mut source = CommandSource::open(&dir.path().join("commands.jsonl")).unwrap();
    let report = run_export(
        &mut source,
        EngineConfig::default(),
        &options,
        &mut NoProgress,
    )
    .unwrap();
    let trades: Vec<_> = events
        .iter()
        .flat_map(|(seq, e)| e.iter().map(move |e| (*seq, e)))
        .filter_map(|(seq, e)| match e {
            Event::Trade(t) => Some((seq, *t)),
            _ => None,
        })
        .collect();
    assert_eq!(report.exported.trades, trades.len() as u64);
    assert_eq!(report.summary.events_by_type["trade"], trades.len() as u64);
    assert_eq!(report.last_seq, Seq(COMMANDS as u64));

    // CSV: a header and one row per trade, in order, with the trade's fields.
    let mut csv = csv::Reader::from_path(options.dir.join("trades.csv")).unwrap();
    let headers = csv.headers().unwrap().clone();
    assert_eq!(&headers[0], "seq");
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), trades.len());
    let (seq, first) = trades[0];
    assert_eq!(rows[0][0].parse::<u64>().unwrap(), seq.0);
    let price = headers.iter().position(|h| h == "price").unwrap();
    assert_eq!(rows[0][price].parse::<i64>().unwrap(), first.price.0);

    // Parquet: the same trades; quantities sum to the summary's volume.
    let batches = parquet_batches(&options.dir.join("trades.parquet"));
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(n, trades.len());
    let qty: u64 = batches
        .iter()
        .flat_map(|b| column::<UInt64Array>(b, "qty").values().to_vec())
        .sum();
    assert_eq!(qty, report.summary.volume_by_instrument[&1].qty);
    let prices = column::<Int64Array>(&batches[0], "price");
    assert_eq!(prices.value(0), first.price.0);

    // Execution reports: as many as the run emitted, exec types by name.
    let batches = parquet_batches(&options.dir.join("execution_reports.parquet"));
    let n: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    assert_eq!(n, report.summary.events_by_type["execution_report"]);
    let fills = batches
        .iter()
        .flat_map(|b| {
            let t = column::<StringArray>(b, "exec_type");
            (0..t.len())
                .map(|i| t.value(i) == "fill")
                .collect::<Vec<_>>()
        })
        .filter(|f| *f)
        .count() as u64;
    assert_eq!(fills, report.summary.reports_by_exec_type["fill"]);
    let csv_reports = csv::Reader::from_path(options.dir.join("execution_reports.csv"))
        .unwrap()
        .records()
        .count() as u64;
    assert_eq!(csv_reports, n);

    // L2: five snapshots (every 1000 commands), at most 5 levels a side, best level first.
    let batches = parquet_batches(&options.dir.join("l2.parquet"));
    let seqs: std::collections::BTreeSet<u64> = batches
        .iter()
        .flat_map(|b| column::<UInt64Array>(b, "seq").values().to_vec())
        .collect();
    assert_eq!(
        seqs.into_iter().collect::<Vec<_>>(),
        vec![1_000, 2_000, 3_000, 4_000, 5_000]
    );
    assert!(report.exported.l2_levels <= 5 * 2 * 5);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(options.dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["last_seq"], 5_000);
}
