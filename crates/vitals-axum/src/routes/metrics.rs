//! `/metrics` (Prometheus text 0.0.4 or OpenMetrics 1.0) and `/metrics/json`.
//!
//! Families are built from the monitor and the latest system snapshot and rendered on a
//! blocking thread (`spawn_blocking`), so a large exposition never stalls a runtime worker, and
//! `/metrics` is sent as it is rendered, in 256 KiB pieces (see [`stream_exposition`]).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use vitals::{
    MetricFamily, MetricValue, metric_families, negotiate_format, render_metrics_chunked,
};

use crate::problem::Problem;
use crate::shared::AppState;

/// Every family `/metrics` serves, as a model.
pub(crate) fn build(state: &AppState) -> Vec<MetricFamily> {
    let latest = state.sampler.history().latest();
    let mut families = metric_families(&state.monitor, latest.as_ref());
    families.extend(extra_families(state));
    families
}

/// What `/metrics` renders after the monitor's and the system's families: the protection
/// layers', the application's own (with the `custom-metrics` feature and a registry), then the
/// reporters'.
fn extra_families(state: &AppState) -> Vec<MetricFamily> {
    let mut out = protection_families(state);
    #[cfg(feature = "custom-metrics")]
    out.extend(state.custom_families());
    for reporter in &state.reporters {
        out.extend(reporter.metric_families());
    }
    out
}

/// The protection layers' state.
fn protection_families(state: &AppState) -> Vec<MetricFamily> {
    let status = state.pressure.status();
    let mut under = MetricFamily::gauge(
        "vitals_under_pressure",
        "1 while requests are shed under pressure, else 0.",
    );
    under.push(vec![], f64::from(u8::from(status.under_pressure)));
    let mut shed = MetricFamily::counter(
        "vitals_pressure_shed_requests",
        "Requests answered 503 without reaching the service, by the threshold that tripped.",
    );
    for (reason, n) in &status.shed {
        shed.push(vec![("reason", (*reason).to_owned())], *n as f64);
    }
    #[cfg_attr(
        not(any(feature = "breaker", feature = "rate-limit", feature = "notify")),
        allow(unused_mut)
    )]
    let mut out = vec![under, shed];
    #[cfg(feature = "breaker")]
    out.extend(breaker_families(state));
    #[cfg(feature = "rate-limit")]
    out.extend(rate_limit_families(state));
    #[cfg(feature = "notify")]
    if let Some(delivery) = &state.notify {
        out.extend(crate::notifications::metric_families(
            &delivery.notifier.snapshot(),
        ));
    }
    #[cfg(feature = "history")]
    out.extend(state.history.budgets.families());
    out
}

/// The circuit breakers' state, rejections and transitions.
#[cfg(feature = "breaker")]
fn breaker_families(state: &AppState) -> [MetricFamily; 3] {
    let mut breaker_state = MetricFamily::gauge(
        "vitals_circuit_breaker_state",
        "1 for the state each circuit breaker is in (closed, open, halfOpen), else 0.",
    );
    let mut rejected = MetricFamily::counter(
        "vitals_circuit_breaker_rejected_calls",
        "Calls refused without running because the circuit was open.",
    );
    let mut transitions = MetricFamily::counter(
        "vitals_circuit_breaker_transitions",
        "Circuit breaker state changes.",
    );
    for b in state.breakers.snapshots() {
        for s in ["closed", "open", "halfOpen"] {
            let on = b.state.as_str() == s;
            breaker_state.push(
                vec![("breaker", b.name.clone()), ("state", s.to_owned())],
                f64::from(u8::from(on)),
            );
        }
        rejected.push(vec![("breaker", b.name.clone())], b.rejected_total as f64);
        transitions.push(
            vec![("breaker", b.name.clone())],
            b.transitions_total as f64,
        );
    }
    [breaker_state, rejected, transitions]
}

/// The rate limit's refusals, keys and overflow, if there is one.
#[cfg(feature = "rate-limit")]
fn rate_limit_families(state: &AppState) -> Vec<MetricFamily> {
    let mut out = Vec::new();
    if let Some(limit) = &state.rate_limit {
        let mut refused = MetricFamily::counter(
            "vitals_rate_limit_refused_requests",
            "Requests answered 429 by the rate limit.",
        );
        refused.push(vec![], limit.refused_total() as f64);
        let mut keys = MetricFamily::gauge(
            "vitals_rate_limit_tracked_keys",
            "Keys the rate limiter holds state for.",
        );
        keys.push(vec![], limit.tracked_keys() as f64);
        let mut overflowed = MetricFamily::counter(
            "vitals_rate_limit_overflowed_requests",
            "Requests of new keys limited by the shared overflow state because the key table was full.",
        );
        overflowed.push(vec![], limit.overflowed_total() as f64);
        out.extend([refused, keys, overflowed]);
        #[cfg(feature = "redis")]
        if let Some(store) = limit.store_status() {
            let mut fallbacks = MetricFamily::counter(
                "vitals_rate_limit_store_fallbacks",
                "Requests the rate limit decided without its Redis store (Redis failed, was slow or was down).",
            );
            fallbacks.push(vec![], store.fallbacks_total as f64);
            let mut falling_back = MetricFamily::gauge(
                "vitals_rate_limit_store_falling_back",
                "1 while the rate limit's Redis store is down and requests are decided locally, else 0.",
            );
            falling_back.push(vec![], f64::from(u8::from(store.falling_back)));
            out.extend([fallbacks, falling_back]);
        }
    }
    out
}

/// `/metrics` renders at once; more answer 503 (each holds a blocking thread and up to
/// four 256 KiB pieces until its reader takes them or a 30 s deadline passes).
pub const MAX_SCRAPES: usize = 4;

/// `GET /metrics`: OpenMetrics when `Accept` asks for it, else text 0.0.4; at most
/// [`MAX_SCRAPES`] at once.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics", tag = "metrics", security(("operatorToken" = [])), responses((status = 200, description = "The exposition: OpenMetrics 1.0 when `Accept` asks for it, else text 0.0.4", content((String = "text/plain; version=0.0.4; charset=utf-8"), (String = "application/openmetrics-text; version=1.0.0; charset=utf-8"))), (status = 503, description = "Too many scrapes at once (`Retry-After`)", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn prometheus(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Ok(place) = Arc::clone(&state.scrapes).try_acquire_owned() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail(format!(
                "at most {MAX_SCRAPES} /metrics scrapes are served at once"
            ))
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
            .with_instance("/metrics")
            .into_response();
    };
    let format = negotiate_format(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let body = stream_exposition(move |flush| {
        // The direct renderer: same bytes as encoding `build()`, several times faster.
        let latest = state.sampler.history().latest();
        render_metrics_chunked(
            &state.monitor,
            latest.as_ref(),
            &extra_families(&state),
            format,
            EXPOSITION_CHUNK,
            flush,
        );
        // The place is held until the render ends (whole, or cut at the deadline).
        drop(place);
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response()
}

/// Bytes per piece of a streamed exposition.
pub(crate) const EXPOSITION_CHUNK: usize = 256 * 1024;

/// Pieces of a streamed exposition waiting for the client (so at most this many times
/// [`EXPOSITION_CHUNK`] bytes are held for a slow reader, plus the piece being written).
const EXPOSITION_QUEUE: usize = 4;

/// How long the rendering thread may wait, in all, for a slow reader to take the pieces
/// (Prometheus' default scrape timeout is 10 s); past it the body ends in an error.
const EXPOSITION_DEADLINE: Duration = Duration::from_secs(30);

/// What the rendering thread sends the response body.
enum Piece {
    Data(bytes::Bytes),
    /// The exposition is whole. The body ends cleanly only after this; a channel that closes
    /// without it (a render panic, a slow reader past the deadline, a runtime shutting down)
    /// ends the body in an error.
    End,
}

/// A response body that `render` writes on a blocking thread (`spawn_blocking`, so a large
/// exposition never stalls a runtime worker) and that is sent as it is written, in pieces of
/// [`EXPOSITION_CHUNK`] bytes: ten thousand tenants make a 13 MB exposition, which rendered
/// whole took a 16 MiB buffer per scrape that the allocator then kept (+14 MiB of RSS after a
/// few scrapes, in `scripts/bench.sh`'s flood step).
///
/// The body ends in an error, which makes hyper abort the response rather than end it
/// cleanly, unless the rendering finished and every piece was handed over: a render panic, or
/// a client that leaves the rendering waiting longer than [`EXPOSITION_DEADLINE`] in all, must
/// not look like a whole exposition to a scraper. A client that goes away stops the sending.
/// Call it inside a tokio runtime.
pub(crate) fn stream_exposition(
    render: impl FnOnce(&mut dyn FnMut(&mut String)) + Send + 'static,
) -> axum::body::Body {
    stream_exposition_within(EXPOSITION_DEADLINE, render)
}

fn stream_exposition_within(
    wait_limit: Duration,
    render: impl FnOnce(&mut dyn FnMut(&mut String)) + Send + 'static,
) -> axum::body::Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<Piece>(EXPOSITION_QUEUE);
    let runtime = tokio::runtime::Handle::current();
    let _rendering = tokio::task::spawn_blocking(move || {
        let deadline = tokio::time::Instant::now() + wait_limit;
        let send = |piece: Piece| -> Result<(), &'static str> {
            match runtime.block_on(tokio::time::timeout_at(deadline, tx.send(piece))) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err("the client went away"),
                Err(_) => Err("the client read the exposition too slowly"),
            }
        };
        let mut failed: Option<&'static str> = None;
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            render(&mut |buf: &mut String| {
                if failed.is_none() {
                    let piece = bytes::Bytes::copy_from_slice(buf.as_bytes());
                    failed = send(Piece::Data(piece)).err();
                }
                buf.clear();
            });
        }));
        let outcome = match (rendered, failed) {
            (Err(_), _) => Err("rendering the exposition failed"),
            (Ok(()), Some(reason)) => Err(reason),
            (Ok(()), None) => send(Piece::End),
        };
        if let Err(reason) = outcome {
            tracing::warn!(reason, "/metrics: response not sent whole");
        }
    });
    let pieces = futures_util::stream::unfold(Some(rx), |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Some(Piece::Data(data)) => Some((Ok(data), Some(rx))),
            Some(Piece::End) => None,
            None => Some((
                Err(std::io::Error::other("the exposition was cut short")),
                None,
            )),
        }
    });
    axum::body::Body::from_stream(pieces)
}

fn family_json(f: &MetricFamily) -> Value {
    let values: Vec<Value> = f
        .samples
        .iter()
        .map(|s| {
            let labels: serde_json::Map<String, Value> =
                s.labels.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
            match &s.value {
                MetricValue::Number(v) => json!({ "labels": labels, "value": v }),
                MetricValue::Histogram(h) => json!({
                    "labels": labels,
                    "buckets": h.buckets.iter().map(|(le, n)| json!({ "le": le, "count": n })).collect::<Vec<_>>(),
                    "sum": h.sum,
                    "count": h.count,
                }),
            }
        })
        .collect();
    let name = match f.kind {
        vitals::MetricKind::Counter => format!("{}_total", f.name),
        _ => f.name.clone(),
    };
    json!({
        "name": name,
        "help": f.help,
        "type": f.kind.as_str(),
        "unit": f.unit,
        "values": values,
    })
}

/// `GET /metrics/json`: the same families, structured, and `custom`: the application's own
/// metrics with their percentiles (`null` without a registry).
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/json", tag = "metrics", security(("operatorToken" = [])), responses((status = 200, description = "The families, structured", body = super::schemas::MetricsJsonDoc))))]
pub(crate) async fn json(State(state): State<AppState>) -> Response {
    let (families, custom) = tokio::task::spawn_blocking(move || {
        #[cfg(feature = "custom-metrics")]
        let custom = state.custom_json(usize::MAX);
        #[cfg(not(feature = "custom-metrics"))]
        let custom = Value::Null;
        (build(&state), custom)
    })
    .await
    .unwrap_or_default();
    Json(json!({
        "metrics": families.iter().map(family_json).collect::<Vec<_>>(),
        "custom": custom,
    }))
    .into_response()
}

/// The Prometheus exposition of `monitor` alone (no system sample, no protection families) in
/// `format`, as a response body streamed the way `/metrics` streams its own (rendered on a
/// blocking thread, sent in 256 KiB pieces): for an application that serves a metrics route of
/// its own. Call it inside a tokio runtime.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use http_body_util::BodyExt;
/// use vitals::MetricsFormat;
///
/// let body = vitals_axum::exposition_body(vitals::Monitor::default(), MetricsFormat::Text);
/// let text = body.collect().await.unwrap().to_bytes();
/// assert!(text.starts_with(b"# HELP"));
/// # }
/// ```
pub fn exposition_body(
    monitor: vitals::Monitor,
    format: vitals::MetricsFormat,
) -> axum::body::Body {
    stream_exposition(move |flush| {
        vitals::render_metrics_chunked(&monitor, None, &[], format, EXPOSITION_CHUNK, flush);
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use http_body_util::BodyExt;
    use vitals::MetricsFormat;
    use vitals::{Method, Monitor, RequestSample, RouteKey};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_exposition_streams_in_pieces_with_the_same_bytes() {
        // Every tenant named, with its histogram: a large exposition.
        let monitor = Monitor::new(
            vitals::MonitorConfig::default()
                .top_tenants(3_000)
                .tenant_histograms(true),
        );
        let start = Instant::now();
        for i in 0..3_000 {
            let org = format!("tenant-{i}");
            monitor.record(&RequestSample {
                method: Method::Get,
                route: RouteKey::Template("/api/orgs/{orgId}/properties"),
                status: 200,
                start,
                duration: Duration::from_micros(200 + i),
                organization: Some(&org),
                ..RequestSample::default()
            });
        }
        let mut whole = String::new();
        vitals::render_metrics_with(&monitor, None, &[], MetricsFormat::Text, &mut whole);
        assert!(
            whole.len() > 3 * super::EXPOSITION_CHUNK,
            "{} bytes",
            whole.len()
        );

        let mut body = super::exposition_body(monitor, MetricsFormat::Text);
        let mut pieces = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(
                data.len() < super::EXPOSITION_CHUNK + 4096,
                "{} bytes",
                data.len()
            );
            pieces.push(data);
        }
        assert!(pieces.len() > 3, "{} pieces", pieces.len());
        assert_eq!(pieces.concat(), whole.as_bytes());
    }

    /// `count` pieces of 1,000 bytes, then whatever `then` does.
    fn render_pieces(
        count: usize,
        then: fn(),
    ) -> impl FnOnce(&mut dyn FnMut(&mut String)) + Send + 'static {
        move |flush: &mut dyn FnMut(&mut String)| {
            for _ in 0..count {
                let mut piece = "x".repeat(1000);
                flush(&mut piece);
            }
            then();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_render_that_panics_ends_the_body_in_an_error_not_cut_off() {
        let body = super::stream_exposition(render_pieces(2, || panic!("render failed")));
        assert!(body.collect().await.is_err());
        // A render that finishes ends the body cleanly.
        let body = super::stream_exposition(render_pieces(2, || {}));
        assert_eq!(body.collect().await.unwrap().to_bytes().len(), 2000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_too_slow_for_the_deadline_gets_an_error_not_a_cut_off_body() {
        // More pieces than the queue holds, and a reader that only reads once the rendering
        // has finished: the rendering waits past its 50 ms, gives up, and runs to its end.
        static RENDERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        let body = super::stream_exposition_within(
            Duration::from_millis(50),
            render_pieces(super::EXPOSITION_QUEUE + 3, || {
                RENDERED.store(true, std::sync::atomic::Ordering::SeqCst);
            }),
        );
        let waited = Instant::now();
        while !RENDERED.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "the rendering never ended"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(body.collect().await.is_err());
    }
}
