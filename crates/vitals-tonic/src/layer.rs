//! [`GrpcLayer`] and [`GrpcService`]: read what a call says about itself (method, ids, trace,
//! tenant), shed it under pressure, and hand the call to [`ResponseFuture`].

use std::task::{Context, Poll};
use std::time::Instant;

use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};
use vitals::{Monitor, TraceParent};
use vitals_axum::{Organization, Pressure};

use crate::calls::GrpcCalls;
use crate::future::ResponseFuture;
use crate::record::Call;

/// The health service's path prefix: never shed, so a balancer sees why.
const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// Records every gRPC call into a [`vitals::Monitor`]: by declared method path (others under
/// `(unmatched)`), with its gRPC status from the headers or the trailers, timed to the end of
/// its response stream (the stream's messages counted), with its busy time from poll timing.
///
/// Apply it with `tonic::transport::Server::builder().layer(...)`. It also:
/// - takes `x-request-id` from the call's metadata when valid, else makes one, and answers it
///   in the response metadata;
/// - takes W3C `traceparent` from the metadata (a call without one records no trace id) and
///   answers it with this service's span id;
/// - names the tenant from a [`vitals_axum::Organization`] an outer layer put in the request's
///   extensions, or from `x-organization-id` when [trusted](Self::trust_organization_header);
/// - answers `UNAVAILABLE` without calling the service while [`Pressure`] sheds (never the
///   `grpc.health.v1` service), as vitals-axum answers 503;
/// - makes a DEBUG `grpc` span per call with OpenTelemetry's RPC names (`rpc.system`,
///   `rpc.service`, `rpc.method`, `rpc.grpc.status_code`) when a subscriber wants it.
#[derive(Debug, Clone)]
pub struct GrpcLayer {
    monitor: Monitor,
    calls: GrpcCalls,
    pressure: Option<Pressure>,
    trust_organization_header: bool,
}

impl GrpcLayer {
    /// Records into `monitor`, counting into `calls`.
    #[must_use]
    pub fn new(monitor: Monitor, calls: GrpcCalls) -> Self {
        Self {
            monitor,
            calls,
            pressure: None,
            trust_organization_header: false,
        }
    }

    /// The layer for `vitals`: its monitor, shedding under its pressure.
    #[must_use]
    pub fn for_vitals(vitals: &vitals_axum::Vitals, calls: GrpcCalls) -> Self {
        Self::new(vitals.monitor().clone(), calls).shed_under(vitals.pressure().clone())
    }

    /// Answers `UNAVAILABLE` (with `retry-after` metadata) while `pressure` sheds.
    #[must_use]
    pub fn shed_under(mut self, pressure: Pressure) -> Self {
        self.pressure = Some(pressure);
        self
    }

    /// Whether `x-organization-id` metadata names the tenant (default `false`: any client can
    /// send it; turn it on behind a gateway that sets it).
    #[must_use]
    pub fn trust_organization_header(mut self, trusted: bool) -> Self {
        self.trust_organization_header = trusted;
        self
    }
}

impl<S> Layer<S> for GrpcLayer {
    type Service = GrpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`GrpcLayer`] makes.
#[derive(Debug, Clone)]
pub struct GrpcService<S> {
    inner: S,
    layer: GrpcLayer,
}

fn header<'a, B>(req: &'a Request<B>, name: &str) -> Option<&'a [u8]> {
    req.headers().get(name).map(HeaderValue::as_bytes)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for GrpcService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<crate::body::ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let start = Instant::now();
        let layer = &self.layer;
        let path = req.uri().path();
        let method = layer.calls.methods().index(path);
        let (request_id, _) = vitals::request_id_from(header(&req, vitals::REQUEST_ID_HEADER));
        let incoming_trace = header(&req, vitals::TRACEPARENT_HEADER);
        let trace = incoming_trace.map(|v| TraceParent::from_header(Some(v)));
        let vouched = req.extensions().get::<Organization>();
        let tenant = vitals::resolve_tenant(
            vouched.map(Organization::as_str),
            None,
            header(&req, vitals::ORGANIZATION_HEADER),
            layer.trust_organization_header,
        );
        let (_, service, rpc_method) = method
            .and_then(|i| layer.calls.methods().get(i))
            .unwrap_or((vitals::UNMATCHED, vitals::UNMATCHED, vitals::UNMATCHED));
        let span = tracing::debug_span!(
            "grpc",
            otel.name = method.map_or(vitals::UNMATCHED, |_| path),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = service,
            rpc.method = rpc_method,
            rpc.grpc.status_code = tracing::field::Empty,
            request_id = request_id.as_str(),
            trace_id = tracing::field::Empty,
        );
        if let Some(t) = trace.filter(|_| !span.is_disabled()) {
            span.record("trace_id", t.trace_id_hex());
        }
        let shed = layer
            .pressure
            .as_ref()
            .filter(|_| !path.starts_with(HEALTH_PREFIX))
            .and_then(|p| p.shed_reason(path).map(|r| (r, p.retry_after())));
        let call = Call::new(
            layer.monitor.clone(),
            layer.calls.clone(),
            method,
            start,
            request_id,
            trace.map(|t| t.trace_id),
            tenant,
            span,
        );
        let inner = match shed {
            Some(shed) => Err(shed),
            None => {
                let _enter = call.span.enter();
                Ok(self.inner.call(req))
            }
        };
        ResponseFuture::new(inner, call, trace)
    }
}
