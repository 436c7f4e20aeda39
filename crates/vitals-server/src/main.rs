//! The vitals reference server: a small multi-tenant API on SQLite with every vitals endpoint
//! live.
//!
//! `cargo run --release` from the workspace root starts it on 127.0.0.1:4600 with no set-up.
//! Environment: `HOST` (default `127.0.0.1`), `PORT` (default `4600`; `0` picks a free port),
//! `DATABASE_URL` (default `./data/vitals.db`; a path, `sqlite://path` or `:memory:`),
//! `VITALS_OPERATOR_ADDR` (default `127.0.0.1:4601`: the operator listener, every vitals
//! endpoint at the seed's paths, `/openapi.json` and the demo routes, to loopback clients or
//! with the token), `VITALS_ADMIN_TOKEN` (operator bearer token, at least 32 characters,
//! required on both listeners; with it the public listener serves the operator plane too,
//! without it the operator paths are 404 there), `VITALS_DEMO` (`1`: serve the demo routes,
//! `/api/slow` and `/api/fail` among them, operator-only; else they do not exist), `VITALS_SAMPLE_INTERVAL_MS` (process/runtime sampling, default 5000),
//! `MEMORY_LIMIT_MB` (else the cgroup limit, else 1024), `VITALS_PRESSURE_MAX_HEAP_MB`,
//! `VITALS_PRESSURE_MAX_RSS_MB`, `VITALS_PRESSURE_MAX_BUSY_RATIO`, `VITALS_PRESSURE_MAX_DELAY_MS`,
//! `VITALS_DB_BREAKER_THRESHOLD` (5), `VITALS_DB_BREAKER_TIMEOUT_MS` (10000),
//! `VITALS_DB_BREAKER_RESET_MS` (10000), `VITALS_RATE_LIMIT_MAX` (1000),
//! `VITALS_RATE_LIMIT_WINDOW_MS` (60000), `VITALS_RATE_LIMIT_HEADERS` (`draft,legacy`: which
//! rate-limit header sets responses carry, a comma list, or `none`), `VITALS_TRUSTED_PROXIES`
//! (addresses/CIDR ranges whose `X-Forwarded-For` is believed), `VITALS_RATE_LIMIT_REDIS_URL`
//! (quotas shared in Redis), `VITALS_RATE_LIMIT_REDIS_TIMEOUT_MS` (50),
//! `VITALS_RATE_LIMIT_FAIL_CLOSED` (0), `VITALS_RESOURCES_EVERY`
//! (64: measure CPU and allocations of one request in 64), `VITALS_REQUEST_TIMEOUT_MS` (30000:
//! an `/api` request running longer is answered 503 problem+json), `VITALS_HEADER_READ_TIMEOUT_MS`
//! (10000: a client that has not sent its request head by then is disconnected),
//! `VITALS_MAX_CONNECTIONS` (4096 open at once per listener; more wait in the backlog),
//! `VITALS_MAX_CONNECTIONS_PER_PEER` (256 per IPv4 address or IPv6 /64; more are closed at
//! accept), `VITALS_IDLE_TIMEOUT_MS` (60000: a connection with no request in flight is closed),
//! `VITALS_MAX_CONNECTION_AGE_MS` (3600000), `VITALS_SHUTDOWN_DELAY_MS` (1000: after SIGTERM,
//! `/health/ready` answers 503 and both listeners keep serving this long before they stop
//! accepting), `VITALS_SHUTDOWN_DEADLINE_MS` (10000: what in-flight requests get then), `RUST_LOG`
//! (default `info`; changed at run time through `/loggers`), the diagnostics variables of
//! [`diagnostics`] (profilers, capture on alert, artifacts), and the alerting variables of [`alerting`] (heap alert levels,
//! notification channels).
//! History and budgets: `VITALS_HISTORY`, `VITALS_HISTORY_PATH`, `VITALS_HISTORY_MAX_MB`,
//! `VITALS_HISTORY_RETENTION_{MINUTES,HOURS,DAYS}`, `VITALS_HISTORY_FLUSH_SECS`,
//! `VITALS_BUDGETS` (see `history.rs`). Tenants: `VITALS_TOP_TENANTS`,
//! `VITALS_TENANT_HISTOGRAMS`, `VITALS_TENANT_IDLE_SECS`, `VITALS_TRUST_ORGANIZATION_HEADER`
//! (see `tenants.rs`). OpenTelemetry: the standard `OTEL_*` variables (traces; vitals' metric
//! families too with `OTEL_METRICS_EXPORTER=otlp`), see `vitals-otel`; `VITALS_TRACE_LEVEL`
//! (default `info`: which spans are exported, independent of `RUST_LOG`).
//! `vitals-server budgets rules <budgets.toml> [<out>]`
//! writes the budgets' Prometheus rules and exits.
//!
//! On start it logs `listening on http://ADDR` (tests read the port from that line), and on
//! SIGINT or SIGTERM it stops accepting and lets in-flight requests finish within the shutdown
//! deadline. It serves through `hyper-util` rather than `axum::serve` (see `serve.rs`): the latter
//! has no timer, so no header read timeout, and no connection cap.

mod alerting;
mod api;
mod app;
mod business;
mod db;
mod demo;
mod diagnostics;
mod history;
mod limits;
mod openapi;
mod serve;
mod settings;
mod tenants;

use std::time::Duration;

use anyhow::Context as _;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
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
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("budgets") {
        return history::budgets_command(&args[1..]);
    }
    // Traces leave the process only when the OTEL_* variables say where to; unconfigured,
    // nothing is installed. Kept to the end of `main`: dropping it exports what is queued.
    let otel = vitals_otel::init_from_env("vitals-server")?;
    // vitals' metric families over OTLP too, with `OTEL_METRICS_EXPORTER=otlp` (off otherwise).
    let otel_metrics = vitals_otel::MetricsExport::from_env("vitals-server")?;
    // `RUST_LOG` (default `info`), changed at run time through `/loggers`. Each layer filters
    // on its own: RUST_LOG governs the log lines only, and the trace layer exports at
    // VITALS_TRACE_LEVEL (default `info`) however quiet the logs are.
    let (log_filter, loggers) = diagnostics::log_filter();
    tracing_subscriber::registry()
        .with(otel.as_ref().map(vitals_otel::OtelGuard::layer))
        // Lines logged during a request carry its ids, route and tenant (the request span
        // itself is DEBUG unless a trace exporter needs it).
        .with(
            tracing_subscriber::fmt::layer()
                .event_format(vitals_axum::RequestFields::new(
                    tracing_subscriber::fmt::format(),
                ))
                .with_filter(log_filter),
        )
        .init();

    let host = env_or("HOST", "127.0.0.1");
    let port: u16 = env_or("PORT", "4600")
        .parse()
        .context("PORT must be a port number")?;
    let database = env_or("DATABASE_URL", "./data/vitals.db");
    let ms = settings::millis;
    let threshold: u32 =
        settings::number("VITALS_DB_BREAKER_THRESHOLD", 5, 1, 1_000_000, "a count")?;
    let breaker = vitals_axum::CircuitBreaker::new("database")
        .failure_threshold(threshold)
        .call_timeout(ms("VITALS_DB_BREAKER_TIMEOUT_MS", 10_000)?)
        .reset_timeout(ms("VITALS_DB_BREAKER_RESET_MS", 10_000)?);
    // Before the database opens: it registers its metric handles with the installed recorder.
    let custom_metrics = business::install()?;
    let breakers = vitals_axum::BreakerRegistry::new();
    breakers.register(breaker.clone());
    let db = db::Db::open(&database)
        .context("opening the database")?
        .with_breaker(breaker);

    let operator_addr = env_or("VITALS_OPERATOR_ADDR", "127.0.0.1:4601");
    let operator_host = operator_addr
        .rsplit_once(':')
        .map_or(operator_addr.as_str(), |(h, _)| h)
        .to_owned();
    let auth = operator_auth(&operator_host)?;
    let demo = demo_from_env()?;
    let diag = diagnostics::from_env(auth.clone(), loggers, db::file_path(&database).as_deref())?;
    let sample_interval = ms("VITALS_SAMPLE_INTERVAL_MS", 5_000)?;
    let pressure = pressure_from_env(demo)?;
    let get = |name: &str| std::env::var(name).ok();
    let memory = alerting::memory_from_vars(get)?;
    let notifier = alerting::notifier_from_vars(get, db::file_path(&database).as_deref())?;
    let history = history::from_env(&database)?;
    let known: tenants::KnownOrgs = std::sync::Arc::new(
        db.organization_ids()
            .await
            .context("reading the organizations")?
            .into_iter()
            .collect(),
    );
    let check_db = db.clone();
    let connection_stats = std::sync::Arc::new(serve::ConnectionStats::default());
    let builder = Vitals::builder()
        .monitor_config(tenants::monitor_config(&known)?)
        .trust_organization_header(tenants::trust_header()?)
        .service(history::SERVICE)
        .version(env!("CARGO_PKG_VERSION"))
        .operator_auth(auth.clone())
        .check_timeout(Duration::from_secs(2))
        .sample_interval(sample_interval)
        .pressure(pressure)
        .breakers(breakers)
        .metrics_registry(custom_metrics)
        .rate_limit(rate_limit_from_env(&known)?)
        .resources_every(settings::number(
            "VITALS_RESOURCES_EVERY",
            vitals_axum::DEFAULT_RESOURCES_EVERY,
            0,
            u32::MAX,
            "a count (0: off, 1: every request)",
        )?)
        .health_check("database", move || {
            let db = check_db.clone();
            async move { Ok(db.ping().await?) }
        })
        .memory(memory)
        .reporter(vitals_otel::OtelReporter::new(
            otel.as_ref(),
            otel_metrics.as_ref(),
        ))
        .reporter(serve::ConnectionReporter(std::sync::Arc::clone(
            &connection_stats,
        )))
        .reporter(diag.reporter())
        .alert_hook(diag.alert_hook());
    let vitals = history
        .apply(alerting::with_notifier(builder, notifier, get))
        .build();
    if let Some(export) = &otel_metrics {
        let vitals = vitals.clone();
        export.source(move || vitals.metric_families());
    }

    let request_timeout = ms("VITALS_REQUEST_TIMEOUT_MS", 30_000)?;
    let limits = serve::Limits {
        header_read_timeout: ms("VITALS_HEADER_READ_TIMEOUT_MS", 10_000)?,
        max_connections: settings::number("VITALS_MAX_CONNECTIONS", 4096, 1, 1_000_000, "a count")?,
        max_connections_per_peer: settings::number(
            "VITALS_MAX_CONNECTIONS_PER_PEER",
            256,
            1,
            1_000_000,
            "a count",
        )?,
        idle_timeout: ms("VITALS_IDLE_TIMEOUT_MS", 60_000)?,
        max_connection_age: ms("VITALS_MAX_CONNECTION_AGE_MS", 3_600_000)?,
        shutdown_deadline: ms("VITALS_SHUTDOWN_DEADLINE_MS", 10_000)?,
    };
    let shutdown_delay = Duration::from_millis(settings::number(
        "VITALS_SHUTDOWN_DELAY_MS",
        1_000,
        0,
        settings::MAX_MS,
        "a number of milliseconds",
    )?);
    // Diagnostics: their routes on the operator listener (mounted in this one place, with the
    // in-flight registry on its routes), the in-flight registry on the public routes too.
    let public_app =
        app::public(&db, &vitals, demo, request_timeout, &auth).layer(diag.in_flight().layer());
    let operator_app = diag.mount(app::operator(&db, &vitals, demo, request_timeout, &auth));
    let operator_listener = tokio::net::TcpListener::bind(operator_addr.as_str())
        .await
        .with_context(|| format!("VITALS_OPERATOR_ADDR: binding {operator_addr}"))?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("binding {host}:{port}"))?;
    let operator_at = operator_listener.local_addr()?;
    if !operator_at.ip().is_loopback() && !auth.has_token() {
        tracing::warn!(
            "VITALS_OPERATOR_ADDR={operator_at} is not a loopback address and \
             VITALS_ADMIN_TOKEN is not set: the operator listener answers loopback clients only"
        );
    }
    // Not "listening on": tests and scripts read the public port from that line.
    tracing::info!("operator plane on http://{operator_at}");
    let addr = listener.local_addr()?;
    tracing::info!("listening on http://{addr}");
    vitals.startup_complete();
    // The stop: on the signal, readiness turns 503 at once; both listeners keep serving for
    // the shutdown delay (load balancers see the 503 and stop sending), then stop accepting and
    // drain within the deadline.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopper = {
        let vitals = vitals.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            vitals.refuse_traffic();
            tokio::time::sleep(shutdown_delay).await;
            let _ = stop_tx.send(true);
        })
    };
    tokio::join!(
        serve::serve(
            listener,
            public_app,
            limits,
            std::sync::Arc::clone(&connection_stats),
            stop_rx.clone(),
        ),
        serve::serve(
            operator_listener,
            operator_app,
            limits,
            std::sync::Arc::clone(&connection_stats),
            stop_rx,
        ),
    );
    stopper.abort();
    if let Some(notifier) = vitals.notifier() {
        // Briefly: what is still pending stays in the outbox for the next start.
        if !notifier.drain(Duration::from_secs(3)).await {
            tracing::warn!("notifications still pending at shutdown; kept in the outbox");
        }
    }
    vitals.flush_history().await;
    drop(otel_metrics);
    drop(otel);
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Load-shedding thresholds from `VITALS_PRESSURE_MAX_HEAP_MB`, `VITALS_PRESSURE_MAX_RSS_MB`,
/// `VITALS_PRESSURE_MAX_BUSY_RATIO` and `VITALS_PRESSURE_MAX_DELAY_MS` (`0` switches one off);
/// unset ones keep the defaults (heap 1 GiB, RSS 1.25 GiB, busy ratio 0.98, delay off).
fn pressure_from_env(demo: bool) -> anyhow::Result<vitals_axum::PressureBuilder> {
    fn var(name: &str, max: f64) -> anyhow::Result<Option<f64>> {
        settings::raw(name)
            .map(|v| settings::parse_in(name, &v, 0.0, max, "a number"))
            .transpose()
    }
    let max_mib = settings::MAX_MIB;
    // The demo routes stay reachable under pressure, so a demo (or a test) can release what it
    // holds; health and metrics endpoints are exempt by default.
    let mut exempt = vec!["/health".to_owned(), "/metrics".to_owned()];
    if demo {
        exempt.push("/api/demo".to_owned());
    }
    let mut p = vitals_axum::Pressure::builder().exempt_prefixes(exempt);
    let mib = |v: f64| (v > 0.0).then_some((v * vitals::BYTES_PER_MIB) as u64);
    if let Some(v) = var("VITALS_PRESSURE_MAX_HEAP_MB", max_mib)? {
        p = p.max_heap_bytes(mib(v));
    }
    if let Some(v) = var("VITALS_PRESSURE_MAX_RSS_MB", max_mib)? {
        p = p.max_rss_bytes(mib(v));
    }
    if let Some(v) = var("VITALS_PRESSURE_MAX_BUSY_RATIO", 1.0)? {
        p = p.max_busy_ratio((v > 0.0).then_some(v));
    }
    if let Some(v) = var("VITALS_PRESSURE_MAX_DELAY_MS", settings::MAX_MS as f64)? {
        p = p.max_scheduling_delay((v > 0.0).then(|| Duration::from_secs_f64(v / 1e3)));
    }
    Ok(p)
}

/// `VITALS_ADMIN_TOKEN`: a bearer token (blank or shorter than
/// [`vitals_axum::MIN_TOKEN_LEN`]: an error) required on both listeners, or unset: the operator
/// plane only on the operator listener, to loopback clients, admitting the operator address'
/// host as a `Host` name.
fn operator_auth(host: &str) -> anyhow::Result<OperatorAuth> {
    match std::env::var("VITALS_ADMIN_TOKEN") {
        Ok(token) => {
            let auth = OperatorAuth::try_token(&token).map_err(|e| {
                anyhow::anyhow!(
                    "VITALS_ADMIN_TOKEN: {e}; unset it to serve the operator plane on \
                     VITALS_OPERATOR_ADDR only"
                )
            })?;
            let len = token.trim().chars().count();
            if len < vitals_axum::MIN_TOKEN_LEN {
                anyhow::bail!(
                    "VITALS_ADMIN_TOKEN must be at least {} characters (got {len}); \
                     `openssl rand -hex 32` makes one",
                    vitals_axum::MIN_TOKEN_LEN
                );
            }
            Ok(auth)
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("VITALS_ADMIN_TOKEN must be valid UTF-8")
        }
        Err(std::env::VarError::NotPresent) => Ok(OperatorAuth::loopback_only().allow_host(host)),
    }
}

/// `VITALS_DEMO`: `1`/`true` serves the demo routes; unset, `0` or `false` does not.
fn demo_from_env() -> anyhow::Result<bool> {
    match env_or("VITALS_DEMO", "0").trim() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        other => anyhow::bail!("VITALS_DEMO must be 1 or 0, got `{other}`"),
    }
}

/// Per-organization rate limit (client IP when a request names no known organization; see
/// `limits`): `VITALS_RATE_LIMIT_MAX` requests (default 1000, fastify's) per
/// `VITALS_RATE_LIMIT_WINDOW_MS` (default 60000), in Redis with `VITALS_RATE_LIMIT_REDIS_URL`.
fn rate_limit_from_env(known: &tenants::KnownOrgs) -> anyhow::Result<vitals_axum::RateLimitLayer> {
    let max: u32 = settings::number("VITALS_RATE_LIMIT_MAX", 1000, 1, u32::MAX, "a count")?;
    let window = settings::millis("VITALS_RATE_LIMIT_WINDOW_MS", 60_000)?;
    let (draft, legacy) = header_sets(&env_or("VITALS_RATE_LIMIT_HEADERS", "draft,legacy"))?;
    let layer = vitals_axum::RateLimitLayer::per_window(max, window)
        .key(limits::key_source(std::sync::Arc::clone(known)))
        .trusted_proxies(limits::trusted_proxies(&env_or(
            "VITALS_TRUSTED_PROXIES",
            "",
        ))?)
        .draft_headers(draft)
        .legacy_headers(legacy);
    limits::redis_store(layer)
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
