//! `MonitorLayer`: records every request into a [`vitals::Monitor`].
//!
//! Timing starts when the request reaches the layer and ends when the response body ends or
//! is dropped, so streaming bodies are timed in full and a client that disconnects is still
//! recorded: before the response, as status 499 with `clientAborted`; during the body, with
//! the response's status and `clientAborted`. A handler that panics is recorded as a 500 (put
//! `tower_http::catch_panic::CatchPanicLayer` inside this layer to also answer the client with
//! a 500). The layer never changes the inner service's error type, and an inner error is
//! recorded as a 500.
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

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::extract::MatchedPath;
use bytes::Buf;
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
const TRACEPARENT: &str = "traceparent";

/// By default one request in this many (per worker thread) has its CPU time, allocations and
/// polls measured.
pub const DEFAULT_RESOURCES_EVERY: u32 = 16;

/// Path parameters that name the tenant.
pub const ORGANIZATION_PARAMS: [&str; 2] = ["orgId", "organizationId"];

/// Applies [`MonitorService`] to a service; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct MonitorLayer {
    monitor: Monitor,
    request_id: bool,
    trace_context: bool,
    resources_every: u32,
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
        }
    }

    /// Measure CPU time, allocations and polls of one request in `every` (per worker thread;
    /// `0`: never, `1`: all). Default [`DEFAULT_RESOURCES_EVERY`]: reading the thread CPU clock
    /// is a system call, twice per poll, too dear for every request of a fast service. Records
    /// say whether they were measured (`resourcesMeasured`).
    #[must_use]
    pub fn resources_every(mut self, every: u32) -> Self {
        self.resources_every = every;
        self
    }

    /// Whether to take W3C `traceparent` (validated; invalid or missing: a new trace), give the
    /// request its own span id, send `traceparent` on the response, record the trace id with
    /// the request and put it on the span (default `false`; [`crate::Vitals::layer`] turns it
    /// on).
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
}

impl<S> MonitorService<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, monitor: Monitor) -> Self {
        MonitorLayer::new(monitor).layer(inner)
    }

    inner_service_accessors!();
}

/// Everything needed to record a request once it ends. Records on drop at the latest.
#[derive(Debug)]
struct Pending {
    monitor: Monitor,
    start: Instant,
    method: Method,
    route: Option<MatchedPath>,
    /// The raw path, kept only when there is no route template.
    path: Option<Box<str>>,
    organization: InlineStr,
    request_id: Option<RequestId>,
    trace_id: Option<[u8; 16]>,
    profile: Option<Profile>,
    status: u16,
    response_org: Option<Organization>,
    response_started: bool,
    done: bool,
}

impl Pending {
    fn finish(&mut self, aborted: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        self.monitor.request_finished();
        let panicked = !self.response_started && std::thread::panicking();
        let status = if panicked {
            500
        } else if aborted && !self.response_started {
            499
        } else {
            self.status
        };
        let route = match &self.route {
            Some(matched) => RouteKey::Template(matched.as_str()),
            None if status == 404 => RouteKey::Unmatched,
            None => RouteKey::Path(self.path.as_deref().unwrap_or("/")),
        };
        let organization = match &self.response_org {
            Some(org) => Some(org.as_str()),
            None => (!self.organization.is_empty()).then(|| self.organization.as_str()),
        };
        self.monitor.record(&RequestSample {
            method: self.method,
            route,
            status,
            start: self.start,
            duration: self.start.elapsed(),
            organization,
            correlation_id: self.request_id.as_ref().map_or("", RequestId::as_str),
            trace_id: self.trace_id,
            aborted,
            panicked,
            resources: self.profile.map(|p| vitals::Resources {
                cpu: p.cpu,
                allocated_bytes: p.alloc_known.then_some(p.allocated),
                freed_bytes: p.alloc_known.then_some(p.freed),
                polls: p.polls,
                longest_poll: p.longest,
            }),
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
    polls: u32,
    longest: Duration,
}

/// Readings taken just before a poll of a measured request.
struct PollProbe {
    wall: Instant,
    cpu: Option<Duration>,
    alloc: Option<(u64, u64)>,
}

impl PollProbe {
    fn begin() -> Self {
        Self {
            alloc: vitals::heap::thread_allocation(),
            cpu: vitals::process::thread_cpu_time(),
            wall: Instant::now(),
        }
    }

    fn end(self, profile: &mut Profile) {
        let wall = self.wall.elapsed();
        if let (Some(before), Some(after)) = (self.cpu, vitals::process::thread_cpu_time()) {
            profile.cpu += after.saturating_sub(before);
        }
        if let (Some((a0, f0)), Some((a1, f1))) = (self.alloc, vitals::heap::thread_allocation()) {
            profile.allocated += a1.saturating_sub(a0);
            profile.freed += f1.saturating_sub(f0);
            profile.alloc_known = true;
        }
        profile.polls += 1;
        profile.longest = profile.longest.max(wall);
    }

    /// Starts a probe when the pending request is measured.
    fn for_pending(pending: Option<&Pending>) -> Option<Self> {
        pending
            .and_then(|p| p.profile.as_ref())
            .map(|_| Self::begin())
    }

    /// Ends `probe` into the pending request's profile.
    fn finish(probe: Option<Self>, pending: Option<&mut Pending>) {
        if let (Some(probe), Some(profile)) = (probe, pending.and_then(|p| p.profile.as_mut())) {
            probe.end(profile);
        }
    }
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

impl Drop for Pending {
    fn drop(&mut self) {
        // Dropped before the end: the client went away, or the handler panicked.
        self.finish(true);
    }
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
    for (name, value) in req.headers() {
        let name = name.as_str();
        if name.len() == REQUEST_ID_HEADER.len() && name == REQUEST_ID_HEADER {
            request_id.get_or_insert(value);
        } else if name.len() == TRACEPARENT.len() && name == TRACEPARENT {
            traceparent.get_or_insert(value);
        } else if organization.is_none()
            && name.len() == ORGANIZATION_HEADER.len()
            && name == ORGANIZATION_HEADER
        {
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
    ResBody: Body,
{
    type Response = Response<ResponseBody<ResBody>>;
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
        let path = route.is_none().then(|| Box::from(req.uri().path()));
        let span = tracing::info_span!(
            "request",
            method = method.as_str(),
            route = route
                .as_ref()
                .map_or(vitals::UNMATCHED, MatchedPath::as_str),
            request_id = request_id.as_ref().map_or("", RequestId::as_str),
            organization = tracing::field::Empty,
            trace_id = tracing::field::Empty,
        );
        if !organization.is_empty() {
            span.record("organization", organization.as_str());
        }
        if let Some(trace) = &trace {
            if !span.is_disabled() {
                span.record("trace_id", trace.trace_id_hex());
            }
        }
        self.monitor.request_started();
        let context = RequestContext {
            request_id: request_id.filter(|_| self.request_id),
            trace,
            organization: (!organization.is_empty()).then_some(organization),
            route: route.clone(),
            start,
        };
        let future = {
            let _enter = span.enter();
            // The handler's code runs when the future is polled, inside the context's scope.
            RequestContext::scope(context, self.inner.call(req))
        };
        ResponseFuture {
            inner: future,
            span,
            echo: self.request_id,
            incoming: echo,
            traceparent: trace.map(|t| t.to_header_value()),
            pending: Some(Pending {
                monitor: self.monitor.clone(),
                start,
                method,
                route,
                path,
                organization,
                request_id,
                trace_id: trace.map(|t| t.trace_id),
                status: 0,
                response_org: None,
                response_started: false,
                profile: measure_this_one(self.resources_every).then(Profile::default),
                done: false,
            }),
        }
    }
}

pin_project! {
    /// Response future of [`MonitorService`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: tokio::task::futures::TaskLocalFuture<RequestContext, F>,
        span: tracing::Span,
        echo: bool,
        incoming: Option<HeaderValue>,
        traceparent: Option<HeaderValue>,
        pending: Option<Pending>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let probe = PollProbe::for_pending(this.pending.as_ref());
        let poll = {
            let _enter = this.span.enter();
            this.inner.poll(cx)
        };
        PollProbe::finish(probe, this.pending.as_mut());
        let result = ready!(poll);
        let mut pending = this.pending.take();
        match result {
            Ok(mut response) => {
                if let Some(p) = pending.as_mut() {
                    p.status = response.status().as_u16();
                    p.response_started = true;
                    p.response_org = response.extensions().get::<Organization>().cloned();
                }
                if *this.echo {
                    let value = this.incoming.take().or_else(|| {
                        let id = pending.as_ref()?.request_id?;
                        Some(id.to_header_value())
                    });
                    if let Some(value) = value {
                        response.headers_mut().insert(X_REQUEST_ID, value);
                    }
                }
                if let Some(value) = this.traceparent.take() {
                    response
                        .headers_mut()
                        .insert(http::header::HeaderName::from_static(TRACEPARENT), value);
                }
                if let Some(p) = pending.as_mut() {
                    // An event stream lives as long as its client watches: recording it when
                    // it ends would put minutes-long "requests" into the latency figures, so
                    // it is recorded when its headers go out (its time to first byte).
                    if response.body().is_end_stream() || is_event_stream(response.headers()) {
                        p.finish(false);
                    }
                }
                Poll::Ready(Ok(response.map(|body| ResponseBody {
                    inner: body,
                    pending,
                })))
            }
            Err(err) => {
                if let Some(mut p) = pending {
                    p.status = 500;
                    p.response_started = true;
                    p.finish(false);
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
        pending: Option<Pending>,
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
        let probe = PollProbe::for_pending(this.pending.as_ref());
        let frame = this.inner.as_mut().poll_frame(cx);
        PollProbe::finish(probe, this.pending.as_mut());
        let frame = ready!(frame);
        match &frame {
            // Finish in place: moving the pending record out would copy it.
            None => {
                if let Some(p) = this.pending.as_mut() {
                    p.finish(false);
                }
            }
            Some(Err(_)) => {
                if let Some(p) = this.pending.as_mut() {
                    p.finish(true);
                }
            }
            Some(Ok(_)) => {
                if this.inner.is_end_stream() {
                    if let Some(p) = this.pending.as_mut() {
                        p.finish(false);
                    }
                }
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
