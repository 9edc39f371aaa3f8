//! What-if: the same commands through an engine with changed capacities and risk settings.
//!
//! The configuration file (TOML, or JSON when its name ends in `.json`) may set any of the
//! engine's capacities and any number of risk overrides. An override rewrites the fields it
//! names in every `set_risk_limits` command of its account (or of every account, when `account`
//! is left out); risk limits and STP modes are set by those commands, so an account the stream
//! never configures keeps the engine's defaults.
//!
//! ```toml
//! orders_max = 4096
//! [[risk]]
//! account = 2
//! max_order_qty = 100
//! stp_mode = "cancel_both"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use matching_engine::EngineConfig;
use protocol::{Command, Event, Qty, Seq, StpMode};
use serde::{Deserialize, Serialize};

use crate::error::{ReplayError, io_error};
use crate::summary::{Summary, Volume};

/// The largest what-if file read.
pub const WHATIF_FILE_BYTES_MAX: u64 = 1 << 20;
/// The most risk overrides one file may hold.
pub const RISK_OVERRIDES_MAX: usize = 1024;

/// Changed fields of one account's (or every account's) risk limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskOverride {
    pub account: Option<u32>,
    pub max_open_orders: Option<u32>,
    pub max_order_qty: Option<u64>,
    pub max_notional: Option<u64>,
    pub price_band: Option<u64>,
    pub stp_mode: Option<StpMode>,
}

/// A what-if configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatIf {
    pub orders_max: Option<u32>,
    pub instruments_max: Option<u32>,
    pub accounts_max: Option<u32>,
    pub price_levels_max: Option<u32>,
    #[serde(default)]
    pub risk: Vec<RiskOverride>,
}

impl WhatIf {
    /// Reads a what-if file (TOML, or JSON by extension), checked.
    pub fn read(path: &Path) -> Result<Self, ReplayError> {
        let bad = |reason: String| ReplayError::Line {
            path: path.to_path_buf(),
            line: 0,
            reason,
        };
        let len = std::fs::metadata(path).map_err(io_error(path))?.len();
        if len > WHATIF_FILE_BYTES_MAX {
            return Err(bad(format!("larger than {WHATIF_FILE_BYTES_MAX} bytes")));
        }
        let text = std::fs::read_to_string(path).map_err(io_error(path))?;
        let is_json = path.extension().is_some_and(|e| e == "json");
        let whatif: Self = if is_json {
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?
        } else {
            toml::from_str(&text).map_err(|e| bad(e.to_string()))?
        };
        whatif.engine_config(EngineConfig::default()).map_err(bad)?;
        if whatif.risk.len() > RISK_OVERRIDES_MAX {
            return Err(bad(format!(
                "more than {RISK_OVERRIDES_MAX} risk overrides"
            )));
        }
        Ok(whatif)
    }

    /// `base` with the capacities this file changes.
    pub fn engine_config(&self, base: EngineConfig) -> Result<EngineConfig, String> {
        let config = EngineConfig {
            orders_max: self.orders_max.unwrap_or(base.orders_max),
            instruments_max: self.instruments_max.unwrap_or(base.instruments_max),
            accounts_max: self.accounts_max.unwrap_or(base.accounts_max),
            price_levels_max: self.price_levels_max.unwrap_or(base.price_levels_max),
        };
        if config.is_valid() {
            Ok(config)
        } else {
            Err(format!("capacities out of the engine's limits: {config:?}"))
        }
    }

    /// The command as the what-if run sees it.
    #[must_use]
    pub fn rewrite(&self, command: &Command) -> Command {
        let Command::SetRiskLimits(mut limits) = *command else {
            return *command;
        };
        for o in &self.risk {
            if o.account.is_some_and(|a| a != limits.account.0) {
                continue;
            }
            limits.max_open_orders = o.max_open_orders.unwrap_or(limits.max_open_orders);
            limits.max_order_qty = o.max_order_qty.map_or(limits.max_order_qty, Qty);
            limits.max_notional = o.max_notional.unwrap_or(limits.max_notional);
            limits.price_band = o.price_band.unwrap_or(limits.price_band);
            limits.stp_mode = o.stp_mode.unwrap_or(limits.stp_mode);
        }
        Command::SetRiskLimits(limits)
    }
}

/// How a what-if run's outcomes differ from the original run's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WhatIfDiff {
    pub original: Summary,
    pub changed: Summary,
    /// Commands whose events differ between the runs.
    pub commands_differing: u64,
    pub first_difference: Option<Seq>,
}

impl WhatIfDiff {
    /// Counts one command's events in both runs.
    pub fn add(&mut self, seq: Seq, original: &[Event], changed: &[Event]) {
        self.original.add(original);
        self.changed.add(changed);
        if original != changed {
            self.commands_differing += 1;
            self.first_difference.get_or_insert(seq);
        }
    }

    /// A table of every count that changed: `name original -> what-if (delta)`.
    pub fn write_text(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(
            out,
            "what-if: {} of {} commands had different outcomes; first at seq {}",
            self.commands_differing,
            self.original.commands,
            self.first_difference
                .map_or("none".into(), |s| s.to_string())
        )?;
        let (a, b) = (&self.original, &self.changed);
        let named = |m: &BTreeMap<&'static str, u64>| -> Counts {
            m.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        let qty = |m: &BTreeMap<u32, Volume>| -> Counts {
            m.iter().map(|(k, v)| (format!("{k} qty"), v.qty)).collect()
        };
        write_changes(
            out,
            "event",
            &named(&a.events_by_type),
            &named(&b.events_by_type),
        )?;
        write_changes(
            out,
            "exec_type",
            &a.reports_by_exec_type,
            &b.reports_by_exec_type,
        )?;
        write_changes(out, "reject", &a.rejects_by_reason, &b.rejects_by_reason)?;
        let (x, y) = (qty(&a.volume_by_instrument), qty(&b.volume_by_instrument));
        write_changes(out, "instrument", &x, &y)
    }
}

type Counts = BTreeMap<String, u64>;

/// One line per key whose count differs.
fn write_changes(
    out: &mut impl std::io::Write,
    label: &str,
    a: &Counts,
    b: &Counts,
) -> std::io::Result<()> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (x, y) = (
            a.get(k).copied().unwrap_or(0),
            b.get(k).copied().unwrap_or(0),
        );
        if x != y {
            let delta = i128::from(y) - i128::from(x);
            writeln!(out, "  {label} {k:<24} {x} -> {y} ({delta:+})")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use protocol::{AccountId, Origin, SetRiskLimits};

    use super::*;

    fn limits(account: u32) -> Command {
        Command::SetRiskLimits(SetRiskLimits {
            origin: Origin::default(),
            account: AccountId(account),
            max_open_orders: 0,
            max_order_qty: Qty(0),
            max_notional: 0,
            price_band: 0,
            stp_mode: StpMode::Off,
        })
    }

    #[test]
    fn overrides_rewrite_their_accounts_risk_limits_only() {
        let whatif: WhatIf = toml::from_str(
            "orders_max = 4096\n[[risk]]\naccount = 2\nmax_order_qty = 100\nstp_mode = \"cancel_both\"\n",
        )
        .unwrap();
        assert_eq!(
            whatif
                .engine_config(EngineConfig::default())
                .unwrap()
                .orders_max,
            4096
        );
        let Command::SetRiskLimits(two) = whatif.rewrite(&limits(2)) else {
            panic!()
        };
        assert_eq!(
            (two.max_order_qty, two.stp_mode),
            (Qty(100), StpMode::CancelBoth)
        );
        assert_eq!(whatif.rewrite(&limits(3)), limits(3));
        assert!(toml::from_str::<WhatIf>("orders_max = 1\nbogus = 2\n").is_err());
        let huge = WhatIf {
            orders_max: Some(u32::MAX),
            ..WhatIf::default()
        };
        assert!(huge.engine_config(EngineConfig::default()).is_err());
    }
}
