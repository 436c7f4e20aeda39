//! The reference server's diagnostics (vitals-diag): CPU and heap profiles, task dumps, log
//! levels, build identity and evidence captured when an alert fires, operator-only.
//!
//! Variables (range-checked; out of range is a start-up error naming the variable):
//! `VITALS_HEAP_PROFILING` (`1`: jemalloc's sampling heap profiler active; `0`, default: off,
//! `/debug/pprof/heap` answers 503; off by default because with the profiler active a freed
//! leak did not bring the heap figure down, so the heap alert never resolved: issue 26, open), `VITALS_HEAP_PROFILE_LG_SAMPLE` (19: one sample per
//! 2^19 = 512 KiB allocated on average; 12 to 30), `VITALS_CPU_PROFILE_HZ` (99; 1 to 1000),
//! `VITALS_CPU_PROFILE_MAX_SECONDS` (60; 1 to 600), `VITALS_CAPTURE_RULES` (the defaults of
//! [`vitals_diag::CaptureRule::DEFAULTS`]; `none` for no capture), `VITALS_CAPTURE_LIMIT` (1
//! capture per rule per window; 1 to 100), `VITALS_CAPTURE_WINDOW_SECS` (900; 1 to 86400),
//! `VITALS_ARTIFACTS_DIR` (default: `artifacts` beside the database file; a temporary
//! directory with `:memory:`), `VITALS_ARTIFACTS_MAX_MB` (256; 1 to 1048576),
//! `VITALS_ARTIFACT_BASE_URL` (prefix of artifact links in notifications; default: the origin
//! of `VITALS_DASHBOARD_URL`, else the links are paths), `VITALS_IN_FLIGHT_SLOTS` (256; 1 to
//! 65536).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use vitals_axum::OperatorAuth;
use vitals_diag::{ArtifactStore, CaptureRule, CpuProfiler, Diagnostics, Loggers};

use crate::settings;

/// jemalloc's profiler compiled in (`tikv-jemallocator/profiling`), sampling one allocation per
/// 512 KiB on average (jemalloc_pprof's recommendation) once `VITALS_HEAP_PROFILING=1` leaves
/// it active at start (otherwise it is deactivated there) and `VITALS_HEAP_PROFILE_LG_SAMPLE` changes the
/// rate at start. `_RJEM_MALLOC_CONF` in the environment still overrides it.
#[allow(non_upper_case_globals, unsafe_code)]
// SAFETY: jemalloc reads this NUL-terminated string once, at its initialisation; it is
// immutable, and its name is the one tikv-jemalloc-sys' prefixed jemalloc looks up.
#[unsafe(export_name = "_rjem_malloc_conf")]
pub(crate) static malloc_conf: &[u8] = b"prof:true,prof_active:true,lg_prof_sample:19\0";

/// The targets `GET /loggers` lists besides `ROOT` and those of `RUST_LOG`.
const KNOWN_TARGETS: [&str; 8] = [
    "vitals_server",
    "vitals_axum",
    "vitals_diag",
    "vitals_notify",
    "vitals_store",
    "vitals_otel",
    "hyper",
    "tower_http",
];

/// The reloadable log filter from `RUST_LOG` (default `info`).
pub(crate) fn log_filter<S>() -> (
    tracing_subscriber::reload::Layer<tracing_subscriber::EnvFilter, S>,
    Loggers,
)
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let directives = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    let (layer, loggers) = Loggers::layer(&directives);
    (layer, loggers.known_targets(KNOWN_TARGETS))
}

fn flag(name: &str, default: bool) -> anyhow::Result<bool> {
    match settings::raw(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("1" | "true") => Ok(true),
        Some("0" | "false") => Ok(false),
        Some(other) => anyhow::bail!("{name} must be 1 or 0, got `{other}`"),
    }
}

/// The diagnostics from the variables above; `database` places the artifact directory.
pub(crate) fn from_env(
    auth: OperatorAuth,
    loggers: Loggers,
    database_file: Option<&std::path::Path>,
) -> anyhow::Result<Diagnostics> {
    let heap = flag("VITALS_HEAP_PROFILING", false)?;
    let lg = settings::raw("VITALS_HEAP_PROFILE_LG_SAMPLE")
        .map(|v| {
            settings::parse_in(
                "VITALS_HEAP_PROFILE_LG_SAMPLE",
                &v,
                12u8,
                30u8,
                "a base-2 logarithm of bytes",
            )
        })
        .transpose()?;
    if let Err(e) = vitals_diag::configure_heap_profiling(heap, lg) {
        tracing::warn!("heap profiling unavailable: {e}");
    }
    let cpu = CpuProfiler::default()
        .frequency(settings::number(
            "VITALS_CPU_PROFILE_HZ",
            99,
            1,
            1_000,
            "samples per second",
        )?)
        .max_seconds(settings::number(
            "VITALS_CPU_PROFILE_MAX_SECONDS",
            60,
            1,
            600,
            "seconds",
        )?);
    let limit = settings::number("VITALS_CAPTURE_LIMIT", 1, 1, 100, "a count")?;
    let window = Duration::from_secs(settings::number(
        "VITALS_CAPTURE_WINDOW_SECS",
        900,
        1,
        86_400,
        "seconds",
    )?);
    let rules_text =
        settings::raw("VITALS_CAPTURE_RULES").unwrap_or_else(|| CaptureRule::DEFAULTS.to_owned());
    let rules = CaptureRule::parse_list(&rules_text, limit, window)
        .map_err(|e| anyhow::anyhow!("VITALS_CAPTURE_RULES: {e}"))?;
    let dir = match settings::raw("VITALS_ARTIFACTS_DIR") {
        Some(d) => PathBuf::from(d),
        None => match database_file.and_then(std::path::Path::parent) {
            Some(parent) => parent.join("artifacts"),
            None => std::env::temp_dir().join(format!("vitals-artifacts-{}", std::process::id())),
        },
    };
    let max_mb: u64 = settings::number("VITALS_ARTIFACTS_MAX_MB", 256, 1, 1_048_576, "MiB")?;
    let base = settings::raw("VITALS_ARTIFACT_BASE_URL")
        .or_else(|| settings::raw("VITALS_DASHBOARD_URL").and_then(|u| origin(&u)))
        .unwrap_or_default();
    let store = ArtifactStore::open(&dir, max_mb * 1024 * 1024, &base)
        .with_context(|| format!("VITALS_ARTIFACTS_DIR: cannot use {}", dir.display()))?;
    let slots = settings::number("VITALS_IN_FLIGHT_SLOTS", 256, 1, 65_536, "a count")?;
    Ok(Diagnostics::builder(auth)
        .build_info(vitals_diag::build_info!())
        .cpu(cpu)
        .loggers(loggers)
        .in_flight_slots(slots)
        .capture(store, rules)
        .build())
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_keeps_scheme_host_and_port() {
        assert_eq!(
            super::origin("http://h:4600/metrics/dashboard").as_deref(),
            Some("http://h:4600")
        );
        assert_eq!(super::origin("nope"), None);
    }
}
