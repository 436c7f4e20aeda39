//! Per-request cost of each layer, in process: a trivial service called through `oneshot`
//! with and without each layer (the response body collected, so timing layers finish).
//!
//! `cargo bench -p vitals-axum --bench layers`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use criterion::{Criterion, criterion_group, criterion_main};
use http::Request;
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};
use vitals_axum::{CircuitBreaker, CircuitBreakerLayer};
use vitals_axum::{MonitorLayer, RateLimitLayer};
use vitals_axum::{Pressure, PressureLayer};

async fn hello(_: Request<Body>) -> Result<Response, Infallible> {
    Ok(Response::new(Body::from("hello")))
}

fn request() -> Request<Body> {
    let mut req = Request::get("/hello").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
    req
}

async fn drive<S>(svc: S)
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone,
{
    let res = svc.oneshot(request()).await.unwrap();
    let _ = res.into_body().collect().await.unwrap();
}

fn layers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut group = c.benchmark_group("layer");
    let base = tower::service_fn(hello);
    group.bench_function("none", |b| b.to_async(&rt).iter(|| drive(base)));

    let monitor = vitals::Monitor::default();
    let with_monitor = tower::util::MapResponseLayer::new(|r: Response<_>| r.map(Body::new))
        .layer(MonitorLayer::new(monitor.clone()).layer(base));
    group.bench_function("monitor", |b| {
        b.to_async(&rt).iter(|| drive(with_monitor.clone()));
    });

    let traced = tower::util::MapResponseLayer::new(|r: Response<_>| r.map(Body::new))
        .layer(MonitorLayer::new(monitor).trace_context(true).layer(base));
    group.bench_function("monitor_with_trace_context", |b| {
        b.to_async(&rt).iter(|| drive(traced.clone()));
    });

    let pressure = PressureLayer::new(Pressure::builder().build()).layer(base);
    group.bench_function("pressure", |b| {
        b.to_async(&rt).iter(|| drive(pressure.clone()));
    });

    let limit = RateLimitLayer::per_window(u32::MAX, Duration::from_secs(1)).layer(base);
    group.bench_function("rate_limit", |b| {
        b.to_async(&rt).iter(|| drive(limit.clone()));
    });

    let breaker = CircuitBreakerLayer::new(CircuitBreaker::new("bench")).layer(base);
    group.bench_function("circuit_breaker", |b| {
        b.to_async(&rt).iter(|| drive(breaker.clone()));
    });
    group.finish();
}

criterion_group!(benches, layers);
criterion_main!(benches);
