//! What a run produced, in numbers: events by type, rejects by reason, trades and volume per
//! instrument. `replay run` prints it, and a what-if run compares two of them.

use std::collections::BTreeMap;

use protocol::{Event, ExecType};
use serde::Serialize;

/// Trades on one instrument.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Volume {
    pub trades: u64,
    pub qty: u64,
    /// Sum of price x quantity (in price units x quantity units).
    pub notional: i128,
}

/// Counts over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub commands: u64,
    pub events: u64,
    /// Events by type name (`execution_report`, `trade`, ...).
    pub events_by_type: BTreeMap<&'static str, u64>,
    /// Execution reports by exec type.
    pub reports_by_exec_type: BTreeMap<String, u64>,
    /// Rejected orders and refused cancels by reason.
    pub rejects_by_reason: BTreeMap<String, u64>,
    /// Trades per instrument id.
    pub volume_by_instrument: BTreeMap<u32, Volume>,
}

fn snake(debug: &impl std::fmt::Debug) -> String {
    let text = format!("{debug:?}");
    let mut out = String::with_capacity(text.len() + 4);
    for (i, ch) in text.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

fn event_type(event: &Event) -> &'static str {
    match event {
        Event::ExecutionReport(_) => "execution_report",
        Event::Trade(_) => "trade",
        Event::BookLevel(_) => "book_level",
        Event::TopOfBook(_) => "top_of_book",
        Event::CancelReject(_) => "cancel_reject",
        Event::MassCancelReport(_) => "mass_cancel_report",
        Event::AdminReply(_) => "admin_reply",
    }
}

impl Summary {
    /// Counts one command's events.
    pub fn add(&mut self, events: &[Event]) {
        self.commands += 1;
        self.events += events.len() as u64;
        for event in events {
            *self.events_by_type.entry(event_type(event)).or_default() += 1;
            match event {
                Event::ExecutionReport(r) => {
                    *self
                        .reports_by_exec_type
                        .entry(snake(&r.exec_type))
                        .or_default() += 1;
                    if r.exec_type == ExecType::Rejected {
                        let reason = r.reason.map_or("none".into(), |r| snake(&r));
                        *self.rejects_by_reason.entry(reason).or_default() += 1;
                    }
                }
                Event::CancelReject(r) => {
                    let reason = r.reason.map_or("none".into(), |r| snake(&r));
                    *self.rejects_by_reason.entry(reason).or_default() += 1;
                }
                Event::Trade(t) => {
                    let v = self.volume_by_instrument.entry(t.instrument.0).or_default();
                    v.trades += 1;
                    v.qty += t.qty.0;
                    v.notional += i128::from(t.price.0) * i128::from(t.qty.0);
                }
                _ => {}
            }
        }
    }

    /// A human-readable table; `seconds` adds throughput when the run was timed.
    pub fn write_text(
        &self,
        out: &mut impl std::io::Write,
        seconds: Option<f64>,
    ) -> std::io::Result<()> {
        writeln!(out, "commands {}  events {}", self.commands, self.events)?;
        if let Some(s) = seconds.filter(|s| *s > 0.0) {
            writeln!(
                out,
                "throughput {:.0} commands/s, {:.0} events/s ({s:.3} s)",
                self.commands as f64 / s,
                self.events as f64 / s
            )?;
        }
        for (name, n) in &self.events_by_type {
            writeln!(out, "  event {name:<20} {n}")?;
        }
        for (name, n) in &self.reports_by_exec_type {
            writeln!(out, "  exec_type {name:<16} {n}")?;
        }
        for (name, n) in &self.rejects_by_reason {
            writeln!(out, "  reject {name:<19} {n}")?;
        }
        for (id, v) in &self.volume_by_instrument {
            writeln!(
                out,
                "  instrument {id:<10} trades {} qty {} notional {}",
                v.trades, v.qty, v.notional
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case() {
        assert_eq!(snake(&ExecType::PartialFill), "partial_fill");
        assert_eq!(
            snake(&protocol::RejectReason::RiskMaxOrderQty),
            "risk_max_order_qty"
        );
    }

    #[test]
    fn a_flow_is_counted() {
        let mut engine = matching_engine::Engine::new(matching_engine::EngineConfig::default());
        let mut summary = Summary::default();
        let mut out = Vec::new();
        for (i, command) in workload::Flow::new(workload::FlowConfig::default())
            .take(2_000)
            .enumerate()
        {
            out.clear();
            let seq = protocol::Seq(i as u64 + 1);
            let timestamp = protocol::TimestampNs(i as u64);
            engine.apply(
                &protocol::Sequenced {
                    seq,
                    timestamp,
                    command,
                },
                &mut out,
            );
            summary.add(&out);
        }
        assert_eq!(summary.commands, 2_000);
        assert_eq!(summary.events, summary.events_by_type.values().sum::<u64>());
        let trades = summary.events_by_type["trade"];
        assert!(trades > 0);
        assert_eq!(summary.volume_by_instrument[&1].trades, trades);
        let mut text = Vec::new();
        summary.write_text(&mut text, Some(1.0)).unwrap();
        assert!(String::from_utf8(text).unwrap().contains("event trade"));
    }
}
