//! `bench-app`: a trivial axum service for measuring the overhead of
//! [`vitals_axum::MonitorLayer`] under load (driven by `scripts/bench-load.sh`).
//!
//! Usage: `bench-app <VARIANT>[-info] [PORT]`, VARIANT one of `bare`, `recommended`,
//! `monitor`, `monitor-noid`, `monitor-nores`, `passthrough`, `full`, `full-separate`,
//! `full-draft-headers`, `axum-prometheus`, `prometheus-client`, `prometheus-client-ids`,
//! `request-id`, and the
//! OpenTelemetry variants of `otel.rs`: `monitor-trace`, `otel-none`, `otel-1pct`,
//! `otel-all`. With `-info` (`bare-info`, `recommended-info`, `prometheus-client-info`...) a
//! `tracing_subscriber::fmt()` subscriber at INFO writing to a sink is installed first, as in
//! a service that logs.
//!
//! - `bare`: the routes alone, no monitoring.
//! - `recommended`: the README's "Use it" lines: `Vitals::builder().build()`, its router
//!   merged, `.layer(vitals.layers())` (monitor, pressure), sampler and alerts running.
//! - `monitor`: the same routes under `MonitorLayer::new(Monitor::default())` (request ids on,
//!   the default).
//! - `axum-prometheus`: the same routes under the `axum-prometheus` crate's layer as its docs
//!   show it (`PrometheusMetricLayer::pair()`), plus its `/metrics` route.
//! - `prometheus-client`: the same routes under a hand-written `middleware::from_fn` on the
//!   official `prometheus-client` crate: one histogram family labelled by route template,
//!   method and status, plus a `/metrics` route encoding the registry.
//! - `prometheus-client-ids`: the like-for-like peer of `recommended`: the same middleware
//!   plus tower-http's `SetRequestIdLayer::x_request_id(MakeRequestUuid)` and
//!   `PropagateRequestIdLayer` (metrics and a correlation id, what the seed asks for).
//!
//! Routes: `GET /hello` answers `hello`; `GET /orgs/{orgId}/items/{id}` answers a small JSON
//! object. Every variant but `bare`, `monitor-noid` and `passthrough` also serves `GET /metrics`
//! (not hit under load; `scripts/bench.sh` reads it after its flood of distinct paths and
//! tenants): `monitor` renders its monitor with vitals' Prometheus renderer, `full` merges
//! `Vitals::router()` (the operator endpoints, loopback only), the two Prometheus variants
//! serve their own.
//!
//! The port comes from the second argument, else from env `PORT`, else `0` (a free port). The
//! server binds `127.0.0.1` and prints `listening on ADDR` (e.g. `listening on
//! 127.0.0.1:41234`) once it accepts connections. Env `WORKERS` sets the number of tokio worker
//! threads (default 1, so that with CPU pinning one core serves and another drives the load).
//! Without `-info` no logging subscriber is installed, so tracing spans cost what they cost
//! without one.
//! Built with the `jemalloc` feature, every variant runs on jemalloc (as the reference server
//! does), which makes vitals' heap figures and per-request allocation counts live.

mod otel;

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::io::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Which app to serve.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Bare,
    Monitor,
    /// The monitor without correlation ids (isolates recording from id handling).
    MonitorNoId,
    /// The monitor without per-request resource measurement (`resources_every(0)`): what the
    /// default 1-in-64 measurement of CPU time and allocations costs.
    MonitorNoResources,
    /// The whole stack with its defaults: `Vitals` (sampler, alerts), its monitor layer (trace
    /// context on, resources measured 1 in 64), the pressure layer, a rate limit per client
    /// IP high enough never to refuse, and its router (`/health…`, `/metrics…`), applied as
    /// one layer (`Vitals::layers`).
    Full,
    /// `Full` with only the IETF draft's rate-limit fields (`legacy_headers(false)`): what the
    /// three `X-RateLimit-*` fields cost.
    FullDraftHeaders,
    /// No monitoring, only request ids as tower-http makes them (`SetRequestIdLayer` with
    /// `MakeRequestUuid`, `PropagateRequestIdLayer`): what an `x-request-id` generated and
    /// echoed per request costs by itself.
    RequestId,
    /// `Full` with the three layers applied by three `Router::layer` calls (what one-layer
    /// composition saves).
    FullSeparate,
    /// A layer that only wraps the response body in a pass-through body: the floor any
    /// middleware pays that times requests to the end of the body under `Router::layer`.
    Passthrough,
    /// `axum-prometheus`'s `PrometheusMetricLayer`, the most used monitoring layer for axum.
    AxumPrometheus,
    /// A minimal hand-written `prometheus-client` middleware: one histogram by route, method
    /// and status.
    PrometheusClient,
    /// The like-for-like peer of `Recommended`: the `PrometheusClient` middleware plus
    /// tower-http's `SetRequestIdLayer` (`MakeRequestUuid`) and `PropagateRequestIdLayer`, what
    /// a user assembles to get metrics and a correlation id per request.
    PrometheusClientIds,
    /// The README's "Use it" lines exactly: `Vitals::builder().build()` (sampler and alerts
    /// running), its router merged, `.layer(vitals.layers())`, no rate limit.
    Recommended,
    /// The OpenTelemetry variants (`otel.rs`).
    Otel(otel::Otel),
}

/// A variant and whether a `tracing_subscriber::fmt()` subscriber at INFO, writing to a sink,
/// is installed (the `-info` twins: what a service that logs pays).
#[derive(Debug, Clone, Copy)]
struct Setup {
    variant: Variant,
    info: bool,
}

pin_project_lite::pin_project! {
    /// Forwards every call to the inner body.
    struct PassthroughBody<B> {
        #[pin]
        inner: B,
    }
}

impl<B: http_body::Body> http_body::Body for PassthroughBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Variant {
    fn parse(arg: &str) -> Option<Self> {
        match arg {
            "bare" => Some(Self::Bare),
            "monitor" => Some(Self::Monitor),
            "monitor-noid" => Some(Self::MonitorNoId),
            "monitor-nores" => Some(Self::MonitorNoResources),
            "passthrough" => Some(Self::Passthrough),
            "full" => Some(Self::Full),
            "full-separate" => Some(Self::FullSeparate),
            "full-draft-headers" => Some(Self::FullDraftHeaders),
            "axum-prometheus" => Some(Self::AxumPrometheus),
            "prometheus-client" => Some(Self::PrometheusClient),
            "prometheus-client-ids" => Some(Self::PrometheusClientIds),
            "request-id" => Some(Self::RequestId),
            "recommended" => Some(Self::Recommended),
            other => otel::Otel::parse(other).map(Self::Otel),
        }
    }
}

impl Setup {
    /// `VARIANT` or `VARIANT-info`.
    fn parse(arg: &str) -> Option<Self> {
        match arg.strip_suffix("-info") {
            Some(variant) => Variant::parse(variant).map(|variant| Self {
                variant,
                info: true,
            }),
            None => Variant::parse(arg).map(|variant| Self {
                variant,
                info: false,
            }),
        }
    }
}

async fn hello() -> &'static str {
    "hello"
}

async fn item(Path((org_id, id)): Path<(String, String)>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "orgId": org_id,
        "id": id,
        "name": "widget",
        "quantity": 3,
    }))
}

/// The HTTP method as a label value (an enum, as in `prometheus-client`'s docs, so recording
/// does not allocate for it).
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
enum Method {
    GET,
    HEAD,
    POST,
    PUT,
    DELETE,
    PATCH,
    OPTIONS,
    OTHER,
}

impl From<&axum::http::Method> for Method {
    fn from(method: &axum::http::Method) -> Self {
        match *method {
            axum::http::Method::GET => Self::GET,
            axum::http::Method::HEAD => Self::HEAD,
            axum::http::Method::POST => Self::POST,
            axum::http::Method::PUT => Self::PUT,
            axum::http::Method::DELETE => Self::DELETE,
            axum::http::Method::PATCH => Self::PATCH,
            axum::http::Method::OPTIONS => Self::OPTIONS,
            _ => Self::OTHER,
        }
    }
}

/// Labels of the one histogram family of the `prometheus-client` variant.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    /// The matched route template (`/orgs/{orgId}/items/{id}`), `unmatched` if none.
    route: String,
    method: Method,
    status: u16,
}

/// Prometheus' default buckets (seconds), as the client libraries of other languages use them.
const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The `prometheus-client` variant's middleware: times the inner service until it returns the
/// response (headers) and observes the duration in the family.
async fn prometheus_client_track(
    State(family): State<Family<Labels, Histogram>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = Method::from(req.method());
    let res = next.run(req).await;
    let labels = Labels {
        route,
        method,
        status: res.status().as_u16(),
    };
    family
        .get_or_create(&labels)
        .observe(start.elapsed().as_secs_f64());
    res
}

/// The `prometheus-client` variant: the registry with one histogram family, a `/metrics` route
/// encoding it, and the middleware recording into the family.
fn prometheus_client_app(router: Router) -> Router {
    let family =
        Family::<Labels, Histogram>::new_with_constructor(|| Histogram::new(DEFAULT_BUCKETS));
    let mut registry = Registry::default();
    registry.register(
        "http_request_duration_seconds",
        "Time to answer HTTP requests (until the response headers)",
        family.clone(),
    );
    let registry = Arc::new(registry);
    router
        .route(
            "/metrics",
            get(move || async move {
                let mut body = String::new();
                match prometheus_client::encoding::text::encode(&mut body, &registry) {
                    Ok(()) => (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        body,
                    )
                        .into_response(),
                    Err(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                }
            }),
        )
        .layer(axum::middleware::from_fn_with_state(
            family,
            prometheus_client_track,
        ))
}

/// `GET /metrics` of the `monitor` variant: the monitor's families in Prometheus text 0.0.4,
/// rendered by vitals' direct renderer on a blocking thread and streamed, as `vitals_axum`'s
/// own `/metrics` does (no system sample: this variant runs no sampler).
async fn monitor_metrics(State(monitor): State<vitals::Monitor>) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, vitals::TEXT_CONTENT_TYPE)],
        vitals_axum::exposition_body(monitor, vitals::MetricsFormat::Text),
    )
        .into_response()
}

/// `Vitals::builder()`; with env `BENCH_SHED=0` the pressure layer's busy-ratio threshold is
/// off. `scripts/callgrind-requests.sh` sets it: under valgrind the worker is busy all the
/// time, so the default threshold (0.98) would shed requests mid-measurement. The check per
/// request is the same load either way.
fn vitals_builder() -> vitals_axum::VitalsBuilder {
    let builder = vitals_axum::Vitals::builder();
    if std::env::var("BENCH_SHED").is_ok_and(|v| v == "0") {
        builder.pressure(vitals_axum::PressureBuilder::default().max_busy_ratio(None))
    } else {
        builder
    }
}

/// Builds the app of a variant. Must run inside the runtime (`axum-prometheus` spawns its
/// upkeep task when its handle is made).
fn app(variant: Variant) -> Router {
    let router = Router::new()
        .route("/hello", get(hello))
        .route("/orgs/{orgId}/items/{id}", get(item));
    match variant {
        Variant::Bare => router,
        Variant::Monitor => {
            let monitor = vitals::Monitor::default();
            router
                .route("/metrics", get(monitor_metrics).with_state(monitor.clone()))
                .layer(vitals_axum::MonitorLayer::new(monitor))
        }
        Variant::Passthrough => router.layer(tower::util::MapResponseLayer::new(
            |res: axum::response::Response| res.map(|inner| PassthroughBody { inner }),
        )),
        Variant::Full | Variant::FullSeparate | Variant::FullDraftHeaders => {
            let limit = vitals_axum::RateLimitLayer::per_window(
                u32::MAX,
                std::time::Duration::from_secs(1),
            )
            .legacy_headers(!matches!(variant, Variant::FullDraftHeaders));
            // The rate limit is given to the builder, so `/metrics` reports it and
            // `Vitals::layers` includes it.
            let vitals = vitals_builder().rate_limit(limit).build();
            let router = router.merge(vitals.router());
            if matches!(variant, Variant::Full | Variant::FullDraftHeaders) {
                router.layer(vitals.layers())
            } else {
                let limit = vitals.rate_limit_layer().unwrap_or_else(|| unreachable!());
                router
                    .layer(limit)
                    .layer(vitals.pressure_layer())
                    .layer(vitals.layer())
            }
        }
        Variant::MonitorNoResources => router
            .layer(vitals_axum::MonitorLayer::new(vitals::Monitor::default()).resources_every(0)),
        Variant::MonitorNoId => router
            .layer(vitals_axum::MonitorLayer::new(vitals::Monitor::default()).request_id(false)),
        Variant::AxumPrometheus => {
            let (layer, handle) = axum_prometheus::PrometheusMetricLayer::pair();
            router
                .route("/metrics", get(move || async move { handle.render() }))
                .layer(layer)
        }
        Variant::PrometheusClient => prometheus_client_app(router),
        Variant::PrometheusClientIds => prometheus_client_app(router).layer(request_id_layers()),
        Variant::Recommended => {
            let vitals = vitals_builder().build();
            router.merge(vitals.router()).layer(vitals.layers())
        }
        Variant::Otel(otel) => otel::app(router, otel),
        Variant::RequestId => router.layer(request_id_layers()),
    }
}

/// tower-http's request ids as its docs show them: set `x-request-id` (a UUID v4) when the
/// request has none, and copy it onto the response, in one `Router::layer` call.
fn request_id_layers() -> tower::ServiceBuilder<
    tower::layer::util::Stack<
        tower_http::request_id::PropagateRequestIdLayer,
        tower::layer::util::Stack<
            tower_http::request_id::SetRequestIdLayer<tower_http::request_id::MakeRequestUuid>,
            tower::layer::util::Identity,
        >,
    >,
> {
    tower::ServiceBuilder::new()
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(
            tower_http::request_id::MakeRequestUuid,
        ))
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("bench-app: {problem}");
    eprintln!(
        "usage: bench-app <bare|recommended|monitor|monitor-noid|monitor-nores|passthrough|full|full-separate|full-draft-headers|axum-prometheus|prometheus-client|prometheus-client-ids|request-id|monitor-trace|otel-none|otel-1pct|otel-all>[-info] [PORT]   (env: PORT, WORKERS)"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(variant) = args.next() else {
        return usage("missing variant");
    };
    let Some(setup) = Setup::parse(&variant) else {
        return usage(&format!("unknown variant `{variant}`"));
    };
    let port = args
        .next()
        .or_else(|| std::env::var("PORT").ok())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "0".to_owned());
    let Ok(port) = port.trim().parse::<u16>() else {
        return usage(&format!("bad port `{port}`"));
    };
    let workers = std::env::var("WORKERS")
        .ok()
        .filter(|w| !w.trim().is_empty())
        .unwrap_or_else(|| "1".to_owned());
    let workers = match workers.trim().parse::<usize>() {
        Ok(n) if n > 0 => n,
        _ => return usage(&format!("bad WORKERS `{workers}`")),
    };

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bench-app: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    if setup.info {
        // What most services install: INFO and above, formatted; written to a sink so the
        // terminal's speed is not measured.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .init();
    }
    match runtime.block_on(serve(setup.variant, port)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench-app: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(variant: Variant, port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let addr = listener.local_addr()?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
    }
    // Every variant gets the peer address (the rate limit keys on it), so all pay the same.
    axum::serve(
        listener,
        app(variant).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
