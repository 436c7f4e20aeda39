//! The vitals reference server: a small multi-tenant API on SQLite with every vitals endpoint
//! live.
//!
//! `cargo run --release` from the workspace root starts it on 127.0.0.1:4600 with no set-up.
//! Environment: `HOST` (default `127.0.0.1`), `PORT` (default `4600`; `0` picks a free port),
//! `DATABASE_URL` (default `./data/vitals.db`; a path, `sqlite://path` or `:memory:`),
//! `VITALS_ADMIN_TOKEN` (operator bearer token; unset: operator endpoints answer loopback
//! only), `VITALS_SAMPLE_INTERVAL_MS` (process/runtime sampling, default 5000),
//! `MEMORY_LIMIT_MB` (else the cgroup limit, else 1024), `VITALS_PRESSURE_MAX_HEAP_MB`,
//! `VITALS_PRESSURE_MAX_RSS_MB`, `VITALS_PRESSURE_MAX_BUSY_RATIO`, `VITALS_PRESSURE_MAX_DELAY_MS`,
//! `VITALS_DB_BREAKER_THRESHOLD` (5), `VITALS_DB_BREAKER_TIMEOUT_MS` (10000),
//! `VITALS_DB_BREAKER_RESET_MS` (10000), `VITALS_RATE_LIMIT_MAX` (1000),
//! `VITALS_RATE_LIMIT_WINDOW_MS` (60000), `VITALS_RATE_LIMIT_HEADERS` (`draft,legacy`: which
//! rate-limit header sets responses carry, a comma list, or `none`), `VITALS_RESOURCES_EVERY`
//! (64: measure CPU and allocations of one request in 64), `RUST_LOG` (default `info`).
//!
//! On start it logs `listening on http://ADDR` (tests read the port from that line), and on
//! SIGINT or SIGTERM it stops accepting and lets in-flight requests finish.

mod api;
mod app;
mod db;
mod demo;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// jemalloc with statistics: vitals reads live heap bytes from it and purges its arenas on
/// `POST /metrics/memory/gc`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
use vitals_axum::{OperatorAuth, Vitals};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Traces leave the process only when the OTEL_* variables say where to; unconfigured,
    // nothing is installed. Kept to the end of `main`: dropping it exports what is queued.
    let otel = vitals_otel::init_from_env("vitals-server")?;
    tracing_subscriber::registry()
        .with(otel.as_ref().map(vitals_otel::OtelGuard::layer))
        .with(tracing_subscriber::fmt::layer())
        .with(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();

    let host = env_or("HOST", "127.0.0.1");
    let port: u16 = env_or("PORT", "4600")
        .parse()
        .context("PORT must be a port number")?;
    let database = env_or("DATABASE_URL", "./data/vitals.db");
    let ms = |name: &str, default: &str| -> anyhow::Result<Duration> {
        let v: u64 = env_or(name, default)
            .parse()
            .with_context(|| format!("{name} must be milliseconds"))?;
        Ok(Duration::from_millis(v))
    };
    let threshold: u32 = env_or("VITALS_DB_BREAKER_THRESHOLD", "5")
        .parse()
        .context("VITALS_DB_BREAKER_THRESHOLD must be a count")?;
    let breaker = vitals_axum::CircuitBreaker::new("database")
        .failure_threshold(threshold)
        .call_timeout(ms("VITALS_DB_BREAKER_TIMEOUT_MS", "10000")?)
        .reset_timeout(ms("VITALS_DB_BREAKER_RESET_MS", "10000")?);
    let breakers = vitals_axum::BreakerRegistry::new();
    breakers.register(breaker.clone());
    let db = db::Db::open(&database)
        .context("opening the database")?
        .with_breaker(breaker);

    let auth = std::env::var("VITALS_ADMIN_TOKEN").map_or_else(
        |_| OperatorAuth::loopback_only(),
        |t| OperatorAuth::token(&t),
    );
    let sample_ms: u64 = env_or("VITALS_SAMPLE_INTERVAL_MS", "5000")
        .parse()
        .context("VITALS_SAMPLE_INTERVAL_MS must be a number of milliseconds")?;
    let pressure = pressure_from_env()?;
    let check_db = db.clone();
    let vitals = Vitals::builder()
        .service("vitals-server")
        .version(env!("CARGO_PKG_VERSION"))
        .operator_auth(auth)
        .check_timeout(Duration::from_secs(2))
        .sample_interval(Duration::from_millis(sample_ms))
        .pressure(pressure)
        .breakers(breakers)
        .rate_limit(rate_limit_from_env()?)
        .resources_every(
            env_or(
                "VITALS_RESOURCES_EVERY",
                &vitals_axum::DEFAULT_RESOURCES_EVERY.to_string(),
            )
            .parse()
            .context("VITALS_RESOURCES_EVERY must be a count (0: off, 1: every request)")?,
        )
        .health_check("database", move || {
            let db = check_db.clone();
            async move { Ok(db.ping().await?) }
        })
        .build();

    let app = app::build(db, &vitals);
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("binding {host}:{port}"))?;
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving")?;
    drop(otel);
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Load-shedding thresholds from `VITALS_PRESSURE_MAX_HEAP_MB`, `VITALS_PRESSURE_MAX_RSS_MB`,
/// `VITALS_PRESSURE_MAX_BUSY_RATIO` and `VITALS_PRESSURE_MAX_DELAY_MS` (`0` switches one off);
/// unset ones keep the defaults (heap 1 GiB, RSS 1.25 GiB, busy ratio 0.98, delay off).
fn pressure_from_env() -> anyhow::Result<vitals_axum::PressureBuilder> {
    fn var(name: &str) -> anyhow::Result<Option<f64>> {
        match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => {
                let n: f64 = v
                    .trim()
                    .parse()
                    .with_context(|| format!("{name} must be a number"))?;
                anyhow::ensure!(
                    n >= 0.0 && n.is_finite(),
                    "{name} must be a non-negative number"
                );
                Ok(Some(n))
            }
            _ => Ok(None),
        }
    }
    // The demo routes stay reachable under pressure, so a demo (or a test) can release what it
    // holds; health and metrics endpoints are exempt by default.
    let mut p = vitals_axum::Pressure::builder().exempt_prefixes(vec![
        "/health".to_owned(),
        "/metrics".to_owned(),
        "/api/demo".to_owned(),
    ]);
    let mib = |v: f64| (v > 0.0).then_some((v * vitals::BYTES_PER_MIB) as u64);
    if let Some(v) = var("VITALS_PRESSURE_MAX_HEAP_MB")? {
        p = p.max_heap_bytes(mib(v));
    }
    if let Some(v) = var("VITALS_PRESSURE_MAX_RSS_MB")? {
        p = p.max_rss_bytes(mib(v));
    }
    if let Some(v) = var("VITALS_PRESSURE_MAX_BUSY_RATIO")? {
        p = p.max_busy_ratio((v > 0.0).then_some(v));
    }
    if let Some(v) = var("VITALS_PRESSURE_MAX_DELAY_MS")? {
        p = p.max_scheduling_delay((v > 0.0).then(|| Duration::from_secs_f64(v / 1e3)));
    }
    Ok(p)
}

/// Per-organization rate limit (client IP when a request names none): `VITALS_RATE_LIMIT_MAX`
/// requests (default 1000, fastify's) per `VITALS_RATE_LIMIT_WINDOW_MS` (default 60000).
fn rate_limit_from_env() -> anyhow::Result<vitals_axum::RateLimitLayer> {
    let max: u32 = env_or("VITALS_RATE_LIMIT_MAX", "1000")
        .parse()
        .context("VITALS_RATE_LIMIT_MAX must be a count")?;
    let window: u64 = env_or("VITALS_RATE_LIMIT_WINDOW_MS", "60000")
        .parse()
        .context("VITALS_RATE_LIMIT_WINDOW_MS must be milliseconds")?;
    let (draft, legacy) = header_sets(&env_or("VITALS_RATE_LIMIT_HEADERS", "draft,legacy"))?;
    Ok(
        vitals_axum::RateLimitLayer::per_window(max, Duration::from_millis(window))
            .key(vitals_axum::KeySource::Organization)
            .draft_headers(draft)
            .legacy_headers(legacy),
    )
}

/// `VITALS_RATE_LIMIT_HEADERS`: a comma list of `draft` and `legacy`, or `none` alone.
fn header_sets(value: &str) -> anyhow::Result<(bool, bool)> {
    let sets: Vec<&str> = value.split(',').map(str::trim).collect();
    if sets == ["none"] {
        return Ok((false, false));
    }
    let (mut draft, mut legacy) = (false, false);
    for set in sets {
        match set {
            "draft" => draft = true,
            "legacy" => legacy = true,
            other => anyhow::bail!(
                "VITALS_RATE_LIMIT_HEADERS: `{other}` is not a header set (a comma list of \
                 `draft` and `legacy`, or `none` alone)"
            ),
        }
    }
    Ok((draft, legacy))
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::header_sets;

    #[test]
    fn rate_limit_header_sets_parse_strictly() {
        assert_eq!(header_sets("draft,legacy").unwrap(), (true, true));
        assert_eq!(header_sets(" legacy ").unwrap(), (false, true));
        assert_eq!(header_sets("draft").unwrap(), (true, false));
        assert_eq!(header_sets("none").unwrap(), (false, false));
        for bad in ["none,draft", ",", "Draft", "draft,,legacy", "all"] {
            assert!(header_sets(bad).is_err(), "{bad}");
        }
    }
}
