//! [`MonitorService`]: reads what the request says about itself (route, tenant, ids, trace),
//! opens its record and hands the inner future to [`ResponseFuture`].

use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::Body;
use tower::Service;
use vitals::InlineStr;
use vitals::{Method, Monitor};

use super::future::{Inner, ResponseFuture, TRACEPARENT, X_REQUEST_ID};
use super::hooks::RequestSpanStart;
use super::record::{Profile, Recorder, Tick};
use crate::context::{ORGANIZATION_HEADER, ORGANIZATION_PARAMS, RequestId, TraceContext};
use crate::pressure::Pressure;

const X_ORGANIZATION_ID: HeaderName = HeaderName::from_static(ORGANIZATION_HEADER);

/// Records each request; see [`MonitorLayer`](crate::MonitorLayer).
#[derive(Debug, Clone)]
pub struct MonitorService<S> {
    pub(super) inner: S,
    pub(super) monitor: Monitor,
    pub(super) request_id: bool,
    pub(super) trace_context: bool,
    pub(super) resources_every: u32,
    pub(super) buffered_body_limit: u64,
    pub(super) in_router: bool,
    pub(super) span_level: tracing::Level,
    pub(super) trust_organization_header: bool,
    pub(super) pressure: Option<Pressure>,
}

impl<S> MonitorService<S> {
    inner_service_accessors!();
}

thread_local! {
    /// Requests seen on this thread, for 1-in-N measurement without a shared counter.
    static SEEN: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The method as vitals names it: a match on `http`'s standard methods (a compare of their
/// representation) before the byte comparison of [`Method::from_bytes`], ~20 instructions per
/// request less.
fn method_of(method: &http::Method) -> Method {
    match *method {
        http::Method::GET => Method::Get,
        http::Method::POST => Method::Post,
        http::Method::HEAD => Method::Head,
        http::Method::PUT => Method::Put,
        http::Method::DELETE => Method::Delete,
        http::Method::PATCH => Method::Patch,
        http::Method::OPTIONS => Method::Options,
        _ => Method::from_bytes(method.as_str().as_bytes()),
    }
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
    tenant_source: vitals::TenantSource,
    request_id: Option<&'r HeaderValue>,
    traceparent: Option<&'r HeaderValue>,
}

fn scan_request<'r, B>(
    req: &'r Request<B>,
    route: Option<&MatchedPath>,
    trust_header: bool,
) -> Scanned<'r> {
    let mut organization = None;
    if let Some(route) = route.filter(|r| r.as_str().contains('{')) {
        let template = route.as_str();
        organization = ORGANIZATION_PARAMS
            .iter()
            .find_map(|name| vitals::path_param(template, req.uri().path(), name))
            .map(InlineStr::new);
    }
    let from_path = organization.is_some();
    let mut request_id = None;
    let mut traceparent = None;
    // `HeaderName` comparisons: a standard header (most of a request's) differs from these
    // custom names by its representation alone, without looking at its text.
    for (name, value) in req.headers() {
        if *name == X_REQUEST_ID {
            request_id.get_or_insert(value);
        } else if *name == TRACEPARENT {
            traceparent.get_or_insert(value);
        } else if trust_header && organization.is_none() && *name == X_ORGANIZATION_ID {
            organization = value
                .to_str()
                .ok()
                .filter(|v| vitals::is_valid_organization_id(v))
                .map(InlineStr::new);
        }
    }
    let from_header = !from_path && organization.is_some();
    let (organization, tenant_source) = super::tenant::resolve(req, organization, from_header);
    Scanned {
        organization,
        tenant_source,
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
        let start_tick = Tick::now();
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = method_of(req.method());
        let scanned = scan_request(&req, route.as_ref(), self.trust_organization_header);
        let organization = scanned.organization;
        let incoming = scanned.request_id;
        let (request_id, echo) = match incoming.and_then(RequestId::from_header) {
            // Echo the client's own header value: a reference-count bump, no copy.
            Some(id) => (Some(id), incoming.filter(|_| self.request_id).cloned()),
            None if self.request_id => (Some(RequestId::generate()), None),
            None => (None, None),
        };
        // A trace is made now only when something will use it: a `traceparent` to answer (an
        // invalid one is replaced by a new trace), a trace exporter's hooks, or the request
        // span. Otherwise it is made on demand, when a handler or a log line asks for the
        // request's context (`RequestContext::current`), and a request nobody asked about
        // records none: its `x-request-id` names it.
        let hooks = super::hooks::installed();
        let span_level = super::span::effective_level(self.span_level, hooks.is_some());
        let span_wanted = span_level <= tracing::level_filters::LevelFilter::current();
        let trace = if self.trace_context
            && (scanned.traceparent.is_some() || hooks.is_some() || span_wanted)
        {
            Some(
                scanned
                    .traceparent
                    .and_then(|v| TraceContext::from_traceparent(v.as_bytes()))
                    .unwrap_or_else(TraceContext::generate),
            )
        } else {
            None
        };
        let echo_trace = trace.is_some() && scanned.traceparent.is_some();
        // Inside a router a request without a template matched no route: no path to keep.
        let path = (route.is_none() && !self.in_router).then(|| Box::from(req.uri().path()));
        // Without a subscriber that wants the span at its level the span would be a disabled
        // one; not making it at all saves its callsite check (and the `log` fallback some
        // builds have).
        let span = if span_wanted {
            let span = super::span::request_span(
                span_level,
                method,
                route.as_ref(),
                request_id.as_ref(),
                &organization,
                trace.as_ref(),
            );
            // Only where the span is made: unconfigured tracing pays nothing for the hooks.
            if let Some(hooks) = hooks.filter(|_| !span.is_disabled()) {
                let start = RequestSpanStart {
                    method: method.as_str(),
                    route: route.as_ref().map(MatchedPath::as_str),
                    trace: trace.as_ref(),
                    headers: req.headers(),
                };
                (hooks.on_start)(&span, &start);
            }
            span
        } else {
            tracing::Span::none()
        };
        self.monitor.request_started();
        let mut recorder = Recorder::new(&self.monitor, start, start_tick);
        if let Some(p) = recorder.pending_mut() {
            p.context.request_id = request_id;
            p.context.trace = trace;
            p.trace_on_demand = self.trace_context;
            p.context.organization = (!organization.is_empty()).then_some(organization);
            p.tenant_source = scanned.tenant_source;
            p.context.route = route;
            p.expose_id = self.request_id;
            p.echo_trace = echo_trace;
            p.method = method;
            p.path = path;
            p.profile = measure_this_one(self.resources_every).then(Profile::default);
        }
        // Handler code runs when the future is polled (axum's routes call their handler there);
        // the context is made current for those polls. The future is built inside the
        // returned value, not first in a local: the inner future (axum's route future holds
        // the request) is some 300 bytes, and each move of it was a `memcpy` (about 130
        // instructions per request in the profile).
        if let Some(response) = self
            .pressure
            .as_ref()
            .and_then(|p| p.shed(req.uri().path()))
        {
            return ResponseFuture {
                inner: Inner::Shed {
                    response: Some(response),
                },
                span,
                incoming: echo,
                buffered_body_limit: self.buffered_body_limit,
                recorder: Some(recorder),
            };
        }
        ResponseFuture {
            inner: Inner::Call {
                future: {
                    let _enter = span.enter();
                    self.inner.call(req)
                },
            },
            span,
            incoming: echo,
            buffered_body_limit: self.buffered_body_limit,
            recorder: Some(recorder),
        }
    }
}
