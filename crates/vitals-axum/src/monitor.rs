//! `MonitorLayer`: records every request into a [`vitals::Monitor`].
//!
//! Timing starts when the request reaches the layer and ends when the response body ends or
//! is dropped, so streaming bodies are timed in full and a client that disconnects is still
//! recorded: before the response, as status 499 with `clientAborted`; during the body, with
//! the response's status and `clientAborted`.
//!
//! A body that is complete when the response leaves the layer (empty, or of exact size at most
//! [`MonitorLayer::buffered_body_limit`], 16 KiB by default: axum's `String`, `Json`, `Bytes`
//! bodies) is the exception: the request is recorded then and the body passes through
//! untouched. hyper writes such a body in the same poll as the response head, so waiting for
//! its end would measure nothing more, while wrapping it would make axum box it again (about
//! 450 instructions per request, measured with `scripts/callgrind-requests.sh`). Set the limit
//! to 0 to time every body to its end.
//!
//! A handler that panics is recorded as a 500 (put `tower_http::catch_panic::CatchPanicLayer`
//! inside this layer to also answer the client with a 500). The layer never changes the inner
//! service's error type, and an inner error is recorded as a 500.
//!
//! Server-Sent Events responses (`text/event-stream`) are the exception: they are recorded when
//! their headers go out, since a stream lasts as long as its reader watches.
//!
//! The route is axum's [`MatchedPath`] (the template) when there is one; a request without one
//! is recorded under [`vitals::UNMATCHED`] when answered 404, else by its normalized path. See
//! [`crate::context`] for the correlation id and the tenant. A generated id is not added to the
//! request's headers; handlers read it with the [`RequestId`] extractor.
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::get};
//! use vitals_axum::MonitorLayer;
//!
//! let monitor = vitals::Monitor::default();
//! let app: Router = Router::new()
//!     .route("/hello", get(|| async { "hi" }))
//!     .layer(MonitorLayer::new(monitor.clone()));
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use bytes::{Buf, Bytes};
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use vitals::ring::InlineStr;
use vitals::{Method, Monitor, RequestSample, RouteKey};

use crate::context::{
    ORGANIZATION_HEADER, Organization, REQUEST_ID_HEADER, RequestContext, RequestId, TraceContext,
};

const X_REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
const X_ORGANIZATION_ID: HeaderName = HeaderName::from_static(ORGANIZATION_HEADER);
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// By default one request in this many (per worker thread) has its CPU time and allocations
/// measured (its polls are timed whatever the rate). A measured request reads the thread CPU
/// clock, a system call (555 ns on the reference machine: `cargo bench -p vitals --bench sample
/// -- poll_probe`), before and after each poll: about 1.1 µs for a request answered in one
/// poll, 17 ns per request at 1 in 64. (It was 16 until the full stack's budget showed 70 ns
/// per request for it.)
pub const DEFAULT_RESOURCES_EVERY: u32 = 64;

/// By default a response whose body has an exact size of at most this many bytes is recorded
/// when it leaves the layer (see the [module docs](self)).
pub const DEFAULT_BUFFERED_BODY_LIMIT: u64 = 16 * 1024;

/// Path parameters that name the tenant.
pub const ORGANIZATION_PARAMS: [&str; 2] = ["orgId", "organizationId"];

/// Applies [`MonitorService`] to a service; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct MonitorLayer {
    monitor: Monitor,
    request_id: bool,
    trace_context: bool,
    resources_every: u32,
    buffered_body_limit: u64,
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
        }
    }

    /// Responses whose body has an exact size of at most `bytes` are recorded when they leave
    /// the layer and their body passes through untouched; larger or unsized bodies are timed to
    /// their end (default [`DEFAULT_BUFFERED_BODY_LIMIT`]; `0`: every body with data is timed to
    /// its end). See the [module docs](self) for why.
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
    /// or the new trace that replaced an invalid one. A request without one gets none: its
    /// trace id is still recorded and logged, and `x-request-id` names it to the client. (The
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
        }
    }
}

/// Records each request; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct MonitorService<S> {
    inner: S,
    monitor: Monitor,
    request_id: bool,
    trace_context: bool,
    resources_every: u32,
    buffered_body_limit: u64,
}

impl<S> MonitorService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, monitor: Monitor) -> Self {
        MonitorLayer::new(monitor).layer(inner)
    }

    inner_service_accessors!();
}

/// Everything needed to record a request once it ends.
#[derive(Debug)]
struct Pending {
    /// The monitor to record into. Kept when the box waits for reuse, so that the next request
    /// of the same monitor on this thread need not clone it: a clone and its drop are two
    /// atomic writes per request to a reference count every worker shares. A spare box thus
    /// keeps its last monitor alive (at most [`SPARE_BOXES`] per thread).
    monitor: Monitor,
    /// True until the request is recorded.
    armed: bool,
    /// Correlation id, trace, tenant, route and start: what handlers see, and what is recorded.
    context: RequestContext,
    /// Whether handlers see the correlation id (the layer's `request_id` setting); it is
    /// recorded either way.
    expose_id: bool,
    /// Whether the response carries `traceparent` (the request sent one).
    echo_trace: bool,
    method: Method,
    /// The raw path, kept only when there is no route template.
    path: Option<Box<str>>,
    profile: Option<Profile>,
    /// Polls of the request's future and body so far, the longest one, and when the current
    /// (or last) one began.
    polls: u32,
    longest_poll: Duration,
    poll_start: Instant,
    status: u16,
    response_org: Option<Organization>,
    response_started: bool,
}

impl Pending {
    /// A poll of the request's future or body begins. (Not the request's start for the first
    /// one: whatever runs between the call and the first poll, such as HTTP/2's spawning of
    /// the stream's task or a `Buffer` in front, is waiting, not polling.)
    fn poll_begins(&mut self) {
        self.poll_start = Instant::now();
    }

    /// The poll that began last ended at `now`.
    fn poll_ended(&mut self, now: Instant) {
        self.polls += 1;
        self.longest_poll = self
            .longest_poll
            .max(now.saturating_duration_since(self.poll_start));
    }

    /// Records the request, once, as ended at `end`.
    fn record(&mut self, aborted: bool, end: Instant) {
        if !std::mem::replace(&mut self.armed, false) {
            return;
        }
        let monitor = &self.monitor;
        monitor.request_finished();
        let panicked = !self.response_started && std::thread::panicking();
        let status = if panicked {
            500
        } else if aborted && !self.response_started {
            499
        } else {
            self.status
        };
        let context = &self.context;
        let route = match &context.route {
            Some(matched) => RouteKey::Template(matched.as_str()),
            None if status == 404 => RouteKey::Unmatched,
            None => RouteKey::Path(self.path.as_deref().unwrap_or("/")),
        };
        let organization = match &self.response_org {
            Some(org) => Some(org.as_str()),
            None => context.organization.as_ref().map(InlineStr::as_str),
        };
        monitor.record(&RequestSample {
            method: self.method,
            route,
            status,
            start: context.start,
            duration: end.saturating_duration_since(context.start),
            organization,
            correlation_id: context.request_id.as_ref().map_or("", RequestId::as_str),
            trace_id: context.trace.map(|t| t.trace_id),
            aborted,
            panicked,
            resources: self.profile.map(|p| vitals::Resources {
                cpu: p.cpu,
                allocated_bytes: p.alloc_known.then_some(p.allocated),
                freed_bytes: p.alloc_known.then_some(p.freed),
            }),
            polls: Some(vitals::Polls {
                count: self.polls,
                longest: self.longest_poll,
            }),
        });
    }
}

/// Boxes of [`Pending`] kept for reuse, per thread.
const SPARE_BOXES: usize = 64;

thread_local! {
    /// Emptied boxes for new requests: the pending record lives in a box so that the futures
    /// and responses tower and axum move around stay small (a 300-byte record inline was
    /// copied a dozen times per request), and the boxes are reused so that a request makes
    /// no allocation in the steady state. At most [`SPARE_BOXES`] per thread.
    #[allow(clippy::vec_box)] // the boxes themselves are what is kept for reuse
    static SPARE: RefCell<Vec<Box<Pending>>> = const { RefCell::new(Vec::new()) };

    /// The record of the request whose future this thread is polling (see [`Scope`]).
    static CURRENT: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Owns a request's pending record; records it (as aborted) when dropped unrecorded, so a
/// request whose future or body is dropped is not lost.
#[derive(Debug)]
pub(crate) struct Recorder(Option<Box<Pending>>);

impl Recorder {
    /// A record for a request that started at `start`, in a spare box if the thread has one.
    /// The caller fills in the request's fields in the box: built on the stack and moved in,
    /// the record was a 250-byte copy per request.
    fn new(monitor: &Monitor, start: Instant) -> Self {
        let spare = SPARE
            .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        let mut boxed = spare.unwrap_or_else(|| {
            Box::new(Pending {
                monitor: monitor.clone(),
                armed: false,
                context: RequestContext {
                    request_id: None,
                    trace: None,
                    organization: None,
                    route: None,
                    start,
                },
                expose_id: false,
                echo_trace: false,
                method: Method::Get,
                path: None,
                profile: None,
                polls: 0,
                longest_poll: Duration::ZERO,
                poll_start: start,
                status: 0,
                response_org: None,
                response_started: false,
            })
        });
        // The box's monitor stays when it is this one. `finish_in_place` cleared what a record
        // shares (route, path, tenant); the caller sets the request's own fields.
        if !boxed.monitor.ptr_eq(monitor) {
            boxed.monitor = monitor.clone();
        }
        boxed.armed = true;
        boxed.context.start = start;
        boxed.polls = 0;
        boxed.longest_poll = Duration::ZERO;
        boxed.poll_start = start;
        boxed.status = 0;
        boxed.response_started = false;
        Self(Some(boxed))
    }

    fn pending(&self) -> Option<&Pending> {
        self.0.as_deref()
    }

    fn pending_mut(&mut self) -> Option<&mut Pending> {
        self.0.as_deref_mut()
    }

    /// Records the request as ended at `end`.
    fn finish(mut self, aborted: bool, end: Instant) {
        self.finish_in_place(aborted, end);
    }

    fn finish_in_place(&mut self, aborted: bool, end: Instant) {
        let Some(mut boxed) = self.0.take() else {
            return;
        };
        boxed.record(aborted, end);
        // Let go of what the record shares before the box waits for reuse.
        boxed.context.route = None;
        boxed.path = None;
        boxed.response_org = None;
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.len() < SPARE_BOXES {
                    spare.push(boxed);
                }
            }
        });
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Dropped before the end: the client went away, or the handler panicked.
        if self.0.is_some() {
            self.finish_in_place(true, Instant::now());
        }
    }
}

/// Runs `f` on the context of the request being polled on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&RequestContext, bool) -> R) -> Option<R> {
    CURRENT
        .try_with(|current| {
            let current = current.try_borrow().ok()?;
            let pending = current.as_ref()?.pending()?;
            Some(f(&pending.context, pending.expose_id))
        })
        .ok()
        .flatten()
}

/// While a request's future is polled, its record is the thread's [`CURRENT`] one, so that
/// handlers and the code they call can read the request's context; dropping the scope puts
/// the record back (also when the poll panics). Written by hand rather than with tokio's
/// `task_local!`: that keeps the value inside its future, out of the layer's reach between
/// polls, and swaps the whole value in and out on every poll, where this swaps a pointer.
struct Scope<'a> {
    slot: &'a mut Option<Recorder>,
    previous: Option<Option<Recorder>>,
}

impl<'a> Scope<'a> {
    fn enter(slot: &'a mut Option<Recorder>) -> Self {
        let mut previous = None;
        if slot.is_some() {
            let _ = CURRENT.try_with(|current| {
                if let Ok(mut current) = current.try_borrow_mut() {
                    previous = Some(std::mem::replace(&mut *current, slot.take()));
                }
            });
        }
        Self { slot, previous }
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        let Some(previous) = self.previous.take() else {
            return;
        };
        let _ = CURRENT.try_with(|current| {
            if let Ok(mut current) = current.try_borrow_mut() {
                *self.slot = std::mem::replace(&mut *current, previous);
            }
        });
    }
}

/// What a measured request's polls consumed so far.
#[derive(Debug, Clone, Copy, Default)]
struct Profile {
    cpu: Duration,
    allocated: u64,
    freed: u64,
    alloc_known: bool,
}

/// Readings taken just before a poll of a measured request.
struct PollProbe {
    cpu: Option<Duration>,
    alloc: Option<(u64, u64)>,
}

impl PollProbe {
    fn begin() -> Self {
        Self {
            alloc: vitals::heap::thread_allocation(),
            cpu: vitals::process::thread_cpu_time(),
        }
    }

    fn end(self, profile: &mut Profile) {
        if let (Some(before), Some(after)) = (self.cpu, vitals::process::thread_cpu_time()) {
            profile.cpu += after.saturating_sub(before);
        }
        if let (Some((a0, f0)), Some((a1, f1))) = (self.alloc, vitals::heap::thread_allocation()) {
            profile.allocated += a1.saturating_sub(a0);
            profile.freed += f1.saturating_sub(f0);
            profile.alloc_known = true;
        }
    }

    /// Starts a probe when the request is measured.
    fn for_request(recorder: Option<&Recorder>) -> Option<Self> {
        recorder
            .and_then(Recorder::pending)
            .and_then(|p| p.profile.as_ref())
            .map(|_| Self::begin())
    }

    /// Ends `probe` into the request's profile.
    fn finish(probe: Option<Self>, recorder: Option<&mut Recorder>) {
        if let (Some(probe), Some(profile)) = (
            probe,
            recorder
                .and_then(Recorder::pending_mut)
                .and_then(|p| p.profile.as_mut()),
        ) {
            probe.end(profile);
        }
    }
}

/// Runs one poll of a request's future or body through `poll`: times it, and for a measured
/// request reads the CPU clock and allocation counters around it (outside the timed span:
/// they are system calls). Returns the poll's result and when it ended.
fn timed_poll<R>(
    recorder: &mut Option<Recorder>,
    poll: impl FnOnce(&mut Option<Recorder>) -> R,
) -> (R, Instant) {
    let probe = PollProbe::for_request(recorder.as_ref());
    if let Some(p) = recorder.as_mut().and_then(Recorder::pending_mut) {
        p.poll_begins();
    }
    let result = poll(recorder);
    let now = Instant::now();
    if let Some(p) = recorder.as_mut().and_then(Recorder::pending_mut) {
        p.poll_ended(now);
    }
    PollProbe::finish(probe, recorder.as_mut());
    (result, now)
}

fn is_event_stream(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

thread_local! {
    /// Requests seen on this thread, for 1-in-N measurement without a shared counter.
    static SEEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

fn measure_this_one(every: u32) -> bool {
    every != 0
        && SEEN.with(|seen| {
            let n = seen.get().wrapping_add(1);
            seen.set(n);
            n % every == 0
        })
}

/// The tenant and the correlation-id header of a request, found in one pass over the headers
/// (cheaper than two hashed lookups for the few headers a request carries).
struct Scanned<'r> {
    organization: InlineStr,
    request_id: Option<&'r HeaderValue>,
    traceparent: Option<&'r HeaderValue>,
}

fn scan_request<'r, B>(req: &'r Request<B>, route: Option<&MatchedPath>) -> Scanned<'r> {
    let mut organization = None;
    if let Some(route) = route.filter(|r| r.as_str().contains('{')) {
        let template = route.as_str();
        organization = ORGANIZATION_PARAMS
            .iter()
            .find_map(|name| vitals::normalize::path_param(template, req.uri().path(), name))
            .map(InlineStr::new);
    }
    let mut request_id = None;
    let mut traceparent = None;
    // `HeaderName` comparisons: a standard header (most of a request's) differs from these
    // custom names by its representation alone, without looking at its text.
    for (name, value) in req.headers() {
        if *name == X_REQUEST_ID {
            request_id.get_or_insert(value);
        } else if *name == TRACEPARENT {
            traceparent.get_or_insert(value);
        } else if organization.is_none() && *name == X_ORGANIZATION_ID {
            organization = value
                .to_str()
                .ok()
                .filter(|v| vitals::monitor::is_valid_organization_id(v))
                .map(InlineStr::new);
        }
    }
    Scanned {
        organization: organization.unwrap_or_default(),
        request_id,
        traceparent,
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for MonitorService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<axum::BoxError>,
{
    type Response = Response<axum::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = Method::from_bytes(req.method().as_str().as_bytes());
        let scanned = scan_request(&req, route.as_ref());
        let organization = scanned.organization;
        let incoming = scanned.request_id;
        let (request_id, echo) = match incoming.and_then(RequestId::from_header) {
            // Echo the client's own header value: a reference-count bump, no copy.
            Some(id) => (Some(id), incoming.filter(|_| self.request_id).cloned()),
            None if self.request_id => (Some(RequestId::generate()), None),
            None => (None, None),
        };
        let trace = self.trace_context.then(|| {
            scanned
                .traceparent
                .and_then(|v| TraceContext::from_traceparent(v.as_bytes()))
                .unwrap_or_else(TraceContext::generate)
        });
        let echo_trace = trace.is_some() && scanned.traceparent.is_some();
        let path = route.is_none().then(|| Box::from(req.uri().path()));
        // Without a subscriber that wants INFO spans the span would be a disabled one; not
        // making it at all saves its callsite check (and the `log` fallback some builds have).
        let span = if tracing::Level::INFO <= tracing::level_filters::LevelFilter::current() {
            request_span(
                method,
                route.as_ref(),
                request_id.as_ref(),
                &organization,
                trace.as_ref(),
            )
        } else {
            tracing::Span::none()
        };
        self.monitor.request_started();
        let mut recorder = Recorder::new(&self.monitor, start);
        if let Some(p) = recorder.pending_mut() {
            p.context.request_id = request_id;
            p.context.trace = trace;
            p.context.organization = (!organization.is_empty()).then_some(organization);
            p.context.route = route;
            p.expose_id = self.request_id;
            p.echo_trace = echo_trace;
            p.method = method;
            p.path = path;
            p.profile = measure_this_one(self.resources_every).then(Profile::default);
        }
        // Handler code runs when the future is polled (axum's routes call their handler there);
        // the context is made current for those polls.
        let future = {
            let _enter = span.enter();
            self.inner.call(req)
        };
        ResponseFuture {
            inner: future,
            span,
            incoming: echo,
            buffered_body_limit: self.buffered_body_limit,
            recorder: Some(recorder),
        }
    }
}

/// The request's span, with its fields.
fn request_span(
    method: Method,
    route: Option<&MatchedPath>,
    request_id: Option<&RequestId>,
    organization: &InlineStr,
    trace: Option<&TraceContext>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        method = method.as_str(),
        route = route.map_or(vitals::UNMATCHED, MatchedPath::as_str),
        request_id = request_id.map_or("", RequestId::as_str),
        organization = tracing::field::Empty,
        trace_id = tracing::field::Empty,
    );
    if !organization.is_empty() {
        span.record("organization", organization.as_str());
    }
    if let Some(trace) = trace {
        if !span.is_disabled() {
            span.record("trace_id", trace.trace_id_hex());
        }
    }
    span
}

pin_project! {
    /// Response future of [`MonitorService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        // The client's own `x-request-id`, to echo when ids are on.
        incoming: Option<HeaderValue>,
        buffered_body_limit: u64,
        recorder: Option<Recorder>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Output = Result<Response<axum::body::Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // `now`: the poll's end, and the request's when it is recorded now (one clock read).
        let (poll, now) = timed_poll(this.recorder, |recorder| {
            let _enter = this.span.enter();
            let _scope = Scope::enter(recorder);
            this.inner.poll(cx)
        });
        let result = ready!(poll);
        let mut recorder = this.recorder.take();
        match result {
            Ok(mut response) => {
                let pending = recorder.as_mut().and_then(Recorder::pending_mut);
                if let Some(p) = pending {
                    p.status = response.status().as_u16();
                    p.response_started = true;
                    p.response_org = response.extensions().get::<Organization>().cloned();
                    if p.expose_id {
                        let value = this.incoming.take().or_else(|| {
                            let id = p.context.request_id?;
                            Some(id.to_header_value())
                        });
                        if let Some(value) = value {
                            response.headers_mut().insert(X_REQUEST_ID, value);
                        }
                    }
                    if let Some(trace) = p.context.trace.as_ref().filter(|_| p.echo_trace) {
                        response
                            .headers_mut()
                            .insert(TRACEPARENT, trace.to_header_value());
                    }
                }
                // Recorded now, with the body passed through untouched (for axum's own body
                // type that costs nothing, where wrapping it costs a boxing), when waiting for
                // the body's end would measure nothing more: an empty body, or one of known
                // small size, which hyper writes in the same poll as the head. An event stream
                // is recorded now too, for the opposite reason: it lives as long as its client
                // watches, and minutes-long "requests" would swamp the latency figures (its
                // figure is its time to first byte).
                let body = response.body();
                let size = body.size_hint().exact();
                let record_now = body.is_end_stream()
                    || size.is_some_and(|n| n <= *this.buffered_body_limit)
                    || size.is_none() && is_event_stream(response.headers());
                if record_now {
                    if let Some(r) = recorder.take() {
                        r.finish(false, now);
                    }
                    return Poll::Ready(Ok(response.map(axum::body::Body::new)));
                }
                Poll::Ready(Ok(response.map(|body| {
                    axum::body::Body::new(ResponseBody {
                        inner: body,
                        recorder,
                    })
                })))
            }
            Err(err) => {
                if let Some(mut r) = recorder {
                    if let Some(p) = r.pending_mut() {
                        p.status = 500;
                        p.response_started = true;
                    }
                    r.finish(false, now);
                }
                Poll::Ready(Err(err))
            }
        }
    }
}

pin_project! {
    /// Response body of [`MonitorService`]: records the request when it ends or is dropped.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        recorder: Option<Recorder>,
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Data: Buf,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let (frame, now) = timed_poll(this.recorder, |_| this.inner.as_mut().poll_frame(cx));
        let frame = ready!(frame);
        let ended = match &frame {
            None => Some(false),
            Some(Err(_)) => Some(true),
            Some(Ok(_)) => this.inner.is_end_stream().then_some(false),
        };
        if let Some(aborted) = ended {
            if let Some(r) = this.recorder.take() {
                r.finish(aborted, now);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").finish_non_exhaustive()
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
