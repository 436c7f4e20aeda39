//! [`MonitorLayer`]: the monitor's settings, applied to a service.

use tower::Layer;
use vitals::Monitor;

use crate::pressure::Pressure;

use super::service::MonitorService;

/// By default one request in this many (per worker thread) has its CPU time and allocations
/// measured (its polls are timed whatever the rate). A measured request reads the thread CPU
/// clock, a system call (555 ns on the reference machine: `cargo bench -p vitals-core --bench sample
/// -- poll_probe`), before and after each poll: about 1.1 µs for a request answered in one
/// poll, 17 ns per request at 1 in 64.
pub const DEFAULT_RESOURCES_EVERY: u32 = 64;

/// By default a response whose body has an exact size of at most this many bytes is recorded
/// when it leaves the layer (see the [`MonitorLayer`] docs).
pub const DEFAULT_BUFFERED_BODY_LIMIT: u64 = 16 * 1024;

/// Records every request into a [`vitals::Monitor`] (applies [`MonitorService`]).
///
/// Timing starts when the request reaches the layer and ends when the response body ends or
/// is dropped, so streaming bodies are timed in full and a client that disconnects is still
/// recorded: before the response, as status 499 with `clientAborted`; during the body, with
/// the response's status and `clientAborted`.
///
/// A body that is complete when the response leaves the layer (empty, or of exact size at most
/// [`MonitorLayer::buffered_body_limit`], 16 KiB by default: axum's `String`, `Json`, `Bytes`
/// bodies) is the exception: the request is recorded then and the body passes through
/// untouched. hyper writes such a body in the same poll as the response head, so waiting for
/// its end would measure nothing more, while wrapping it would make axum box it again (about
/// 450 instructions per request, measured with `scripts/callgrind-requests.sh`). Set the limit
/// to 0 to time every body to its end.
///
/// A handler that panics is recorded as a 500 (put `tower_http::catch_panic::CatchPanicLayer`
/// inside this layer to also answer the client with a 500). The layer never changes the inner
/// service's error type, and an inner error is recorded as a 500.
///
/// A Server-Sent Events response (`text/event-stream` with no known size, such as axum's `Sse`)
/// is recorded when the response leaves the layer, before its first event: a stream lasts as
/// long as its reader watches, and minutes-long "requests" would swamp the latency figures. Its
/// duration is its time to first byte, and it no longer counts as in flight once recorded.
///
/// The route is axum's [`MatchedPath`](axum::extract::MatchedPath) (the template) when there is
/// one; a request without one is recorded under [`vitals::UNMATCHED`] when answered 404 or
/// when the layer is [inside a router](MonitorLayer::in_router) (whatever its status: a 429 or
/// 503 on a stranger's path mints no route series), else by its normalized path. See [`RequestId`](crate::RequestId) for the correlation id and
/// [`Organization`](crate::Organization) for the tenant. A generated id is not added to the
/// request's headers; handlers read it with the [`RequestId`](crate::RequestId) extractor.
///
/// # Example
///
/// ```
/// use axum::{Router, routing::get};
/// use vitals_axum::MonitorLayer;
///
/// let monitor = vitals::Monitor::default();
/// let app: Router = Router::new()
///     .route("/hello", get(|| async { "hi" }))
///     .layer(MonitorLayer::new(monitor.clone()));
/// ```
#[derive(Debug, Clone)]
pub struct MonitorLayer {
    monitor: Monitor,
    request_id: bool,
    trace_context: bool,
    resources_every: u32,
    buffered_body_limit: u64,
    in_router: bool,
    span_level: tracing::Level,
    trust_organization_header: bool,
    pressure: Option<Pressure>,
}

impl MonitorLayer {
    /// Records into `monitor`, with correlation ids on.
    #[must_use]
    pub fn new(monitor: Monitor) -> Self {
        Self {
            monitor,
            request_id: true,
            trace_context: false,
            resources_every: DEFAULT_RESOURCES_EVERY,
            buffered_body_limit: DEFAULT_BUFFERED_BODY_LIMIT,
            in_router: false,
            span_level: super::span::DEFAULT_SPAN_LEVEL,
            trust_organization_header: false,
            pressure: None,
        }
    }

    /// Sheds requests under `pressure` as [`PressureLayer`](crate::PressureLayer) does, inside
    /// this layer (what [`crate::Vitals::layers`] uses: one layer less per request, about 80
    /// instructions under callgrind).
    #[must_use]
    pub(crate) fn shed_under(mut self, pressure: Pressure) -> Self {
        self.pressure = Some(pressure);
        self
    }

    /// The level of the per-request `request` span (default [`DEFAULT_SPAN_LEVEL`], DEBUG, as
    /// tower-http makes its request spans). The span is made only when a subscriber wants
    /// spans at that level: at INFO a formatting subscriber renders its fields for every
    /// request, which costs more than the rest of the monitor. Log lines made during a request
    /// carry its ids without the span through [`RequestFields`](crate::RequestFields). With
    /// request span hooks installed (a trace exporter) the span is made at INFO at least.
    ///
    /// [`DEFAULT_SPAN_LEVEL`]: crate::DEFAULT_SPAN_LEVEL
    #[must_use]
    pub fn span_level(mut self, level: tracing::Level) -> Self {
        self.span_level = level;
        self
    }

    /// Whether the `x-organization-id` request header names the tenant (default `false`:
    /// the header is ignored, since any client can send it). Turn it on when a gateway in
    /// front sets it (and strips the client's own): the tenant it names then counts as vouched
    /// for (see [`vitals::TenantSource`]). A route's `{orgId}`/`{organizationId}` path
    /// parameter comes first.
    #[must_use]
    pub fn trust_organization_header(mut self, trusted: bool) -> Self {
        self.trust_organization_header = trusted;
        self
    }

    /// Responses whose body has an exact size of at most `bytes` are recorded when they leave
    /// the layer and their body passes through untouched; larger or unsized bodies are timed to
    /// their end (default [`DEFAULT_BUFFERED_BODY_LIMIT`]; `0`: every body with data is timed to
    /// its end). See the [`MonitorLayer`] docs for why.
    #[must_use]
    pub fn buffered_body_limit(mut self, bytes: u64) -> Self {
        self.buffered_body_limit = bytes;
        self
    }

    /// Measure CPU time and allocations of one request in `every` (per worker thread; `0`:
    /// never, `1`: all). Default [`DEFAULT_RESOURCES_EVERY`]: reading the thread CPU clock is a
    /// system call, twice per poll, too dear for every request of a fast service. Records say
    /// whether they were measured (`resourcesMeasured`). Polls (their number, the longest, the
    /// blocking flag) are timed on every request whatever this says.
    #[must_use]
    pub fn resources_every(mut self, every: u32) -> Self {
        self.resources_every = every;
        self
    }

    /// Whether to take W3C `traceparent` (validated; invalid or missing: a new trace), give the
    /// request its own span id, record the trace id with the request and put it on the span
    /// (default `false`; [`crate::Vitals::layer`] turns it on).
    ///
    /// A request that sent `traceparent` gets one back: its trace with this service's span id,
    /// or the new trace that replaced an invalid one. A request without one gets none, and its
    /// trace is made only when something uses it: a trace exporter's hooks, the request span,
    /// or a handler or log line asking for the request's context
    /// ([`RequestContext::current`](crate::RequestContext::current),
    /// [`RequestFields`](crate::RequestFields)); it is then recorded with the request. A
    /// request nobody asked about records no trace id (`x-request-id` names it), which saves
    /// making a random id per request that nothing would read. (The
    /// response header is not part of W3C Trace Context Level 1; sending it to every client,
    /// tracing or not, cost 400 instructions per request in the profile: making, inserting and
    /// encoding a 55-byte value.)
    #[must_use]
    pub fn trace_context(mut self, enabled: bool) -> Self {
        self.trace_context = enabled;
        self
    }

    /// Whether to take or generate `x-request-id` and echo it (default `true`). Off, the layer
    /// still records an incoming valid `x-request-id` but adds nothing to the request or
    /// response.
    #[must_use]
    pub fn request_id(mut self, enabled: bool) -> Self {
        self.request_id = enabled;
        self
    }

    /// Whether the layer is applied with `Router::layer` (default `false`; [`crate::Vitals::layer`]
    /// turns it on). Inside a router every matched request carries its template, so one without
    /// matched no route and is recorded under [`vitals::UNMATCHED`] whatever its status; outside
    /// (around a plain service) a request has no template and is recorded by its normalized
    /// path.
    #[must_use]
    pub fn in_router(mut self, enabled: bool) -> Self {
        self.in_router = enabled;
        self
    }
}

impl<S> Layer<S> for MonitorLayer {
    type Service = MonitorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MonitorService {
            inner,
            monitor: self.monitor.clone(),
            request_id: self.request_id,
            trace_context: self.trace_context,
            resources_every: self.resources_every,
            buffered_body_limit: self.buffered_body_limit,
            in_router: self.in_router,
            span_level: self.span_level,
            trust_organization_header: self.trust_organization_header,
            pressure: self.pressure.clone(),
        }
    }
}

impl<S> MonitorService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, monitor: Monitor) -> Self {
        MonitorLayer::new(monitor).layer(inner)
    }
}
