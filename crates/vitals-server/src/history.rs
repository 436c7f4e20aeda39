//! History and budgets settings of the reference server, and the `budgets rules` command.
//!
//! History is on by default, in a file beside the database: `<database>.history.sqlite`. It is
//! a separate file, not tables in the API's database, because the store bounds its size by
//! the pages of its own file (a shared file would count, and never prune below, the API's
//! data), sets its own pragmas (incremental auto-vacuum, WAL size limit) and takes its writer
//! lock once a minute without ever making an API write wait on it.
//!
//! Environment (each bad value is a start-up error naming the variable):
//! `VITALS_HISTORY` (`1` default, `0` off), `VITALS_HISTORY_PATH` (default beside the
//! database; with a `:memory:` database history is off unless this is set),
//! `VITALS_HISTORY_MAX_MB` (1024: size bound, oldest points pruned first),
//! `VITALS_HISTORY_RETENTION_MINUTES` / `_HOURS` / `_DAYS` (how long each tier keeps its
//! points: `7d`, `90d`, `730d`), `VITALS_HISTORY_FLUSH_SECS` (60; tests use a few seconds),
//! `VITALS_BUDGETS` (a budgets file, TOML or, named `.yaml`/`.yml`, YAML; validated at start,
//! errors name the line),
//! `VITALS_BUDGET_WINDOW_SCALE` (1; for tests and demonstrations only: divides every burn-rate
//! window, so with 60 the 1 h / 5 min page pair is judged over the last minute, the minute in
//! progress included when flushing more often than once a minute).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use vitals_axum::VitalsBuilder;
use vitals_store::budget::{Budget, load_budgets, prometheus_rules};
use vitals_store::{Retention, StoreConfig};

use crate::db;

/// Largest `VITALS_HISTORY_MAX_MB`: 16 TiB.
const MAX_HISTORY_MB: u64 = 16 << 20;

/// The service name the server reports, used in the generated rules.
pub(crate) const SERVICE: &str = "vitals-server";

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Parsed history settings.
#[derive(Debug)]
pub(crate) struct Settings {
    path: Option<PathBuf>,
    config: StoreConfig,
    flush: Duration,
    budgets: Vec<Budget>,
    window_scale: u32,
}

fn duration(name: &str, default: Duration) -> anyhow::Result<Duration> {
    let Some(v) = var(name) else {
        return Ok(default);
    };
    let d = humantime::parse_duration(&v)
        .with_context(|| format!("{name} must be a duration such as `7d` or `36h`, got `{v}`"))?;
    anyhow::ensure!(!d.is_zero(), "{name} must be longer than zero");
    Ok(d)
}

/// Reads the settings from the environment; `database` is `DATABASE_URL`.
pub(crate) fn from_env(database: &str) -> anyhow::Result<Settings> {
    let on = match var("VITALS_HISTORY").as_deref() {
        None | Some("1" | "true" | "on") => true,
        Some("0" | "false" | "off") => false,
        Some(other) => anyhow::bail!("VITALS_HISTORY must be 1 or 0, got `{other}`"),
    };
    let path = match var("VITALS_HISTORY_PATH") {
        Some(p) => Some(PathBuf::from(p)),
        None => db::file_of(database).map(|db| {
            let mut name = db.as_os_str().to_owned();
            name.push(".history.sqlite");
            PathBuf::from(name)
        }),
    };
    // At most 16 TiB, so the byte count below cannot overflow.
    let max_mb: u64 = crate::settings::number(
        "VITALS_HISTORY_MAX_MB",
        1024,
        1,
        MAX_HISTORY_MB,
        "a whole number of MiB",
    )?;
    let max_bytes = max_mb
        .checked_mul(1 << 20)
        .context("VITALS_HISTORY_MAX_MB is too large")?;
    let defaults = Retention::default();
    let retention = Retention {
        minutes: duration("VITALS_HISTORY_RETENTION_MINUTES", defaults.minutes)?,
        hours: duration("VITALS_HISTORY_RETENTION_HOURS", defaults.hours)?,
        days: duration("VITALS_HISTORY_RETENTION_DAYS", defaults.days)?,
    };
    let flush_secs: u64 = var("VITALS_HISTORY_FLUSH_SECS")
        .map_or(Ok(60), |v| v.parse())
        .context("VITALS_HISTORY_FLUSH_SECS must be a whole number of seconds")?;
    anyhow::ensure!(
        flush_secs >= 1,
        "VITALS_HISTORY_FLUSH_SECS must be at least 1"
    );
    let budgets = match var("VITALS_BUDGETS") {
        Some(file) => load_budgets(&file).map_err(|e| anyhow::anyhow!("VITALS_BUDGETS: {e}"))?,
        None => Vec::new(),
    };
    let window_scale: u32 = var("VITALS_BUDGET_WINDOW_SCALE")
        .map_or(Ok(1), |v| v.parse())
        .context("VITALS_BUDGET_WINDOW_SCALE must be a whole number from 1 to 1440")?;
    anyhow::ensure!(
        (1..=1_440).contains(&window_scale),
        "VITALS_BUDGET_WINDOW_SCALE must be a whole number from 1 to 1440"
    );
    anyhow::ensure!(
        budgets.is_empty() || (on && path.is_some()),
        "VITALS_BUDGETS needs history (VITALS_HISTORY=1 and a database file or VITALS_HISTORY_PATH)"
    );
    Ok(Settings {
        path: path.filter(|_| on),
        config: StoreConfig::default()
            .max_bytes(max_bytes)
            .retention(retention),
        flush: Duration::from_secs(flush_secs),
        budgets,
        window_scale,
    })
}

impl Settings {
    /// Gives the settings to the builder (nothing when history is off).
    pub(crate) fn apply(self, builder: VitalsBuilder) -> VitalsBuilder {
        match self.path {
            Some(path) => {
                tracing::info!(path = %path.display(), budgets = self.budgets.len(), "history on");
                builder
                    .history_at(path, self.config)
                    .history_flush_interval(self.flush)
                    .budgets(self.budgets)
                    .budget_window_scale(self.window_scale)
            }
            None => {
                tracing::info!("history off");
                builder
            }
        }
    }
}

/// `vitals-server budgets rules <budgets.toml|.yaml> [<output.yml>]`: writes the budgets' Prometheus
/// recording and alerting rules to the output file, or to stdout.
pub(crate) fn budgets_command(args: &[String]) -> anyhow::Result<()> {
    let usage = "usage: vitals-server budgets rules <budgets.toml> [<output.yml>]";
    let (file, output) = match args {
        [cmd, file] if cmd == "rules" => (file, None),
        [cmd, file, out] if cmd == "rules" => (file, Some(out)),
        _ => anyhow::bail!("{usage}"),
    };
    let budgets = load_budgets(file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let rules = prometheus_rules(SERVICE, &budgets).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    if let Some(out) = output {
        std::fs::write(Path::new(out), rules).with_context(|| format!("writing {out}"))?;
    } else {
        print!("{rules}");
    }
    Ok(())
}
