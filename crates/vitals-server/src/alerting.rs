//! Alerting settings from the environment: heap alert levels, and the notifier that delivers
//! alert transitions (Alertmanager, PagerDuty, Slack, signed webhook) with its outbox in the
//! server's SQLite file, so pending notifications survive a restart.
//!
//! Variables: `VITALS_HEAP_WARNING_MB`, `VITALS_HEAP_CRITICAL_MB` (heap alert levels, default
//! 512 and 1024), `VITALS_ALERTMANAGER_URL` (comma list), `VITALS_PAGERDUTY_ROUTING_KEY`
//! (+ `VITALS_PAGERDUTY_URL`), `VITALS_SLACK_WEBHOOK_URL`, `VITALS_WEBHOOK_URL` +
//! `VITALS_WEBHOOK_SECRET` (`whsec_…`), `VITALS_NOTIFY_BACKOFF_MAX_MS` (longest wait between
//! two attempts, default 300000), `VITALS_DASHBOARD_URL` (the link notifications carry) and
//! `VITALS_INSTANCE` (default: the host name). A malformed value stops the start with an error
//! naming the variable, never its value.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use vitals::{MemoryThreshold as Threshold, MemoryThresholds};
use vitals_axum::{MemorySettings, VitalsBuilder};
use vitals_notify::{ChannelKind, Config, DeliveryOptions, Notifier, SqliteOutbox};

/// A non-empty variable from `get`.
fn var(get: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    get(name).filter(|v| !v.trim().is_empty())
}

/// Memory settings with the heap levels of `VITALS_HEAP_WARNING_MB` / `_CRITICAL_MB`.
pub(crate) fn memory_from_vars(
    get: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<MemorySettings> {
    let mut memory = MemorySettings::default();
    let mut thresholds: MemoryThresholds = memory.thresholds;
    for (name, critical) in [
        ("VITALS_HEAP_WARNING_MB", false),
        ("VITALS_HEAP_CRITICAL_MB", true),
    ] {
        let Some(v) = var(&get, name) else { continue };
        let mib: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|n: &f64| n.is_finite() && *n > 0.0)
            .with_context(|| format!("{name} must be a positive number of MiB"))?;
        let t = Threshold::Bytes((mib * vitals::BYTES_PER_MIB) as u64);
        thresholds = if critical {
            thresholds.heap_critical(t)
        } else {
            thresholds.heap_warning(t)
        };
    }
    memory.thresholds = thresholds;
    Ok(memory)
}

/// The notifier of the environment's channels, or `None` when none is configured. Its outbox
/// is the table `vitals_notify_outbox` in `database_file` (in memory without a file).
pub(crate) fn notifier_from_vars(
    get: impl Fn(&str) -> Option<String>,
    database_file: Option<&Path>,
) -> anyhow::Result<Option<Notifier>> {
    let mut config = Config::from_vars(&get).context("notification settings")?;
    if config.is_empty() {
        return Ok(None);
    }
    if let Some(v) = var(&get, "VITALS_NOTIFY_BACKOFF_MAX_MS") {
        let ms: u64 =
            v.trim().parse().ok().filter(|&n| n > 0).context(
                "VITALS_NOTIFY_BACKOFF_MAX_MS must be a positive number of milliseconds",
            )?;
        let max = Duration::from_millis(ms);
        for kind in [
            ChannelKind::Alertmanager,
            ChannelKind::PagerDuty,
            ChannelKind::Slack,
            ChannelKind::Webhook,
        ] {
            let defaults = DeliveryOptions::defaults(kind);
            config = config.options(
                kind,
                DeliveryOptions {
                    backoff_base: defaults.backoff_base.min(max),
                    backoff_max: max,
                    ..defaults
                },
            );
        }
    }
    if let Some(file) = database_file {
        let outbox = SqliteOutbox::open(file).context("opening the notification outbox")?;
        config = config.outbox(outbox);
    }
    Ok(Some(config.start().context("notification settings")?))
}

/// Gives `builder` the notifier and how notifications name this process.
pub(crate) fn with_notifier(
    builder: VitalsBuilder,
    notifier: Option<Notifier>,
    get: impl Fn(&str) -> Option<String>,
) -> VitalsBuilder {
    let Some(notifier) = notifier else {
        return builder;
    };
    let mut builder = builder.notifier(notifier);
    if let Some(url) = var(&get, "VITALS_DASHBOARD_URL") {
        builder = builder.dashboard_url(url.trim());
    }
    if let Some(instance) = var(&get, "VITALS_INSTANCE") {
        builder = builder.notify_instance(instance.trim());
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn heap_levels_parse_and_bad_ones_name_the_variable() {
        let m = memory_from_vars(vars(&[
            ("VITALS_HEAP_WARNING_MB", "64"),
            ("VITALS_HEAP_CRITICAL_MB", "1.5"),
        ]))
        .unwrap();
        assert_eq!(m.thresholds.heap_warning, Threshold::Bytes(64 << 20));
        assert_eq!(m.thresholds.heap_critical, Threshold::Bytes(3 << 19));
        for bad in ["x", "-1", "0", "NaN"] {
            let get = move |n: &str| (n == "VITALS_HEAP_WARNING_MB").then(|| bad.to_owned());
            let err = format!("{:#}", memory_from_vars(get).unwrap_err());
            assert!(err.contains("VITALS_HEAP_WARNING_MB"), "{err}");
        }
    }

    #[tokio::test]
    async fn malformed_channel_settings_are_errors_naming_the_variable_not_the_value() {
        let cases: [&'static [(&'static str, &'static str)]; 4] = [
            &[("VITALS_ALERTMANAGER_URL", "not a url s3cr3t-am")],
            &[(
                "VITALS_WEBHOOK_URL",
                "http://127.0.0.1:9/h?token=s3cr3t-hook",
            )],
            &[
                ("VITALS_WEBHOOK_URL", "http://127.0.0.1:9/h"),
                ("VITALS_WEBHOOK_SECRET", "s3cr3t-not-whsec"),
            ],
            &[
                ("VITALS_SLACK_WEBHOOK_URL", "http://127.0.0.1:9/h"),
                ("VITALS_NOTIFY_BACKOFF_MAX_MS", "soon"),
            ],
        ];
        let names = [
            "VITALS_ALERTMANAGER_URL",
            "VITALS_WEBHOOK_SECRET",
            "VITALS_WEBHOOK_SECRET",
            "VITALS_NOTIFY_BACKOFF_MAX_MS",
        ];
        for (case, name) in cases.into_iter().zip(names) {
            let err = format!("{:#}", notifier_from_vars(vars(case), None).unwrap_err());
            assert!(err.contains(name), "{err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    #[tokio::test]
    async fn no_channel_no_notifier_and_a_channel_gets_the_sqlite_outbox() {
        assert!(notifier_from_vars(vars(&[]), None).unwrap().is_none());
        let dir = std::env::temp_dir().join(format!("vitals-alerting-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("v.db");
        let n = notifier_from_vars(
            vars(&[("VITALS_ALERTMANAGER_URL", "http://127.0.0.1:9")]),
            Some(&db),
        )
        .unwrap()
        .unwrap();
        assert_eq!(n.snapshot().channels.len(), 1);
        let conn = rusqlite::Connection::open(&db).unwrap();
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'vitals_notify_outbox'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1);
        drop(n);
        let _ = std::fs::remove_dir_all(dir);
    }
}
