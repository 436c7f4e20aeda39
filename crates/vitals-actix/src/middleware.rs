//! [`VitalsMiddleware`] and [`VitalsService`].

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpResponse};
use pin_project_lite::pin_project;
use vitals::{InlineStr, Method, Monitor, RequestSample, RouteKey, TraceParent};
use vitals_axum::{Organization, Pressure};

/// The request's correlation id, in the request's extensions for handlers
/// (`req.extensions().get::<RequestId>()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(pub InlineStr);

/// Records every request into a [`vitals::Monitor`]; `App::new().wrap(VitalsMiddleware::new(..))`.
///
/// The request is recorded when its response leaves the middleware (a streaming body's
/// figure is its time to first byte). A tenant comes from a [`vitals_axum::Organization`] in
/// the response's extensions (vouched), the route's `{orgId}`/`{organizationId}` (observed)
/// or, when trusted, `x-organization-id`.
#[derive(Debug, Clone)]
pub struct VitalsMiddleware {
    monitor: Monitor,
    pressure: Option<Pressure>,
    trust_organization_header: bool,
}

impl VitalsMiddleware {
    /// Records into `monitor`.
    #[must_use]
    pub fn new(monitor: Monitor) -> Self {
        Self {
            monitor,
            pressure: None,
            trust_organization_header: false,
        }
    }

    /// Records into `vitals`' monitor and sheds under its pressure.
    #[must_use]
    pub fn for_vitals(vitals: &vitals_axum::Vitals) -> Self {
        Self::new(vitals.monitor().clone()).shed_under(vitals.pressure().clone())
    }

    /// Answers 503 with `Retry-After`, the app not called, while `pressure` sheds.
    #[must_use]
    pub fn shed_under(mut self, pressure: Pressure) -> Self {
        self.pressure = Some(pressure);
        self
    }

    /// Whether `x-organization-id` names the tenant (default `false`).
    #[must_use]
    pub fn trust_organization_header(mut self, trusted: bool) -> Self {
        self.trust_organization_header = trusted;
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for VitalsMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Transform = VitalsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(VitalsService {
            service: Rc::new(service),
            settings: self.clone(),
        }))
    }
}

/// The service [`VitalsMiddleware`] makes.
#[derive(Debug)]
pub struct VitalsService<S> {
    service: Rc<S>,
    settings: VitalsMiddleware,
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static(vitals::REQUEST_ID_HEADER);

pin_project! {
    /// Times each poll of the inner future: the request's busy time.
    struct Timed<F> {
        #[pin]
        inner: F,
        polls: vitals::Polls,
        span: tracing::Span,
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = (F::Output, vitals::Polls, Instant);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let begin = Instant::now();
        let out = {
            let _enter = this.span.enter();
            this.inner.poll(cx)
        };
        let now = Instant::now();
        let took = now.saturating_duration_since(begin);
        this.polls.count += 1;
        this.polls.longest = this.polls.longest.max(took);
        this.polls.busy += took;
        out.map(|o| (o, *this.polls, now))
    }
}

type BoxFut<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for VitalsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = Error;
    type Future = BoxFut<Result<Self::Response, Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let start = Instant::now();
        let s = &self.settings;
        let monitor = s.monitor.clone();
        let headers = req.headers();
        let (request_id, _) = vitals::request_id_from(
            headers
                .get(vitals::REQUEST_ID_HEADER)
                .map(HeaderValue::as_bytes),
        );
        let trace = headers
            .get(vitals::TRACEPARENT_HEADER)
            .map(|v| TraceParent::from_header(Some(v.as_bytes())));
        let org_header: Option<InlineStr> = headers
            .get(vitals::ORGANIZATION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| vitals::is_valid_organization_id(v))
            .map(InlineStr::new);
        let trust = s.trust_organization_header;
        let method = Method::from_bytes(req.method().as_str().as_bytes());
        let id_value = HeaderValue::from_str(request_id.as_str()).ok();
        monitor.request_started();
        let record = move |status: u16,
                           route: Option<&str>,
                           org: (InlineStr, vitals::TenantSource),
                           polls,
                           end: Instant| {
            monitor.request_finished();
            monitor.record(&RequestSample {
                method,
                route: route.map_or(RouteKey::Unmatched, RouteKey::Template),
                status,
                start,
                duration: end.saturating_duration_since(start),
                organization: (!org.0.is_empty()).then(|| org.0.as_str()),
                tenant_source: org.1,
                correlation_id: request_id.as_str(),
                trace_id: trace.map(|t| t.trace_id),
                aborted: false,
                panicked: false,
                resources: None,
                polls: Some(polls),
            });
        };
        if let Some(reason) = s.pressure.as_ref().and_then(|p| p.shed_reason(req.path())) {
            let retry = s
                .pressure
                .as_ref()
                .map_or(Duration::from_secs(1), Pressure::retry_after);
            let mut res = HttpResponse::ServiceUnavailable()
                .insert_header(("retry-after", retry.as_secs().max(1).to_string()))
                .content_type("application/problem+json")
                .body(format!(
                    r#"{{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the service is under pressure ({}); retry later"}}"#,
                    reason.as_str()
                ));
            if let Some(v) = id_value {
                res.headers_mut().insert(X_REQUEST_ID, v);
            }
            record(
                503,
                None,
                (InlineStr::default(), vitals::TenantSource::Observed),
                vitals::Polls::default(),
                Instant::now(),
            );
            return Box::pin(async move { Ok(req.into_response(res).map_into_right_body()) });
        }
        req.extensions_mut().insert(RequestId(request_id));
        let span = tracing::debug_span!(
            "request",
            method = method.as_str(),
            request_id = request_id.as_str(),
        );
        let fut = Timed {
            inner: self.service.call(req),
            polls: vitals::Polls::default(),
            span,
        };
        Box::pin(async move {
            let (result, polls, end) = fut.await;
            let mut res = match result {
                Ok(res) => res,
                Err(err) => {
                    record(
                        500,
                        None,
                        (InlineStr::default(), vitals::TenantSource::Observed),
                        polls,
                        end,
                    );
                    return Err(err);
                }
            };
            let status = res.status().as_u16();
            let pattern = res.request().match_pattern();
            let vouched = res.response().extensions().get::<Organization>().cloned();
            let param = vitals::ORGANIZATION_PARAMS
                .iter()
                .find_map(|p| res.request().match_info().get(p).map(InlineStr::new));
            let tenant = vitals::resolve_tenant(
                vouched.as_ref().map(Organization::as_str),
                param.as_ref().map(InlineStr::as_str),
                org_header.as_ref().map(|h| h.as_str().as_bytes()),
                trust,
            );
            // A template only for a matched route: the default service's 404 has none.
            record(status, pattern.as_deref(), tenant, polls, end);
            if let Some(v) = id_value {
                res.headers_mut().insert(X_REQUEST_ID, v);
            }
            Ok(res.map_into_left_body())
        })
    }
}
