//! In-process tests of `RateLimitLayer`: exact budgets and headers, separate keys, proxy
//! handling, per-route quotas, exemptions, bounded state and the inner error type.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::{Layer, Service, ServiceExt};
use vitals_axum::{IpRange, KeySource, RateLimitKey};
use vitals_axum::{Organization, RateLimitLayer};

const MINUTE: Duration = Duration::from_secs(60);

fn req(uri: &str, peer: &str) -> Request<Body> {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    req
}

fn with_header(mut req: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    req.headers_mut().append(name, value.parse().unwrap());
    req
}

async fn status(app: &Router, req: Request<Body>) -> StatusCode {
    app.clone().oneshot(req).await.unwrap().status()
}

fn header<'r>(res: &'r Response, name: &str) -> &'r str {
    res.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name}"))
        .to_str()
        .unwrap()
}

fn app(layer: &RateLimitLayer) -> Router {
    Router::new()
        .route("/api/x", get(|| async { "x" }))
        .route("/api/y", get(|| async { "y" }))
        .route("/api/slow", get(|| async { "slow" }))
        .route("/api/orgs/{orgId}/properties", get(|| async { "[]" }))
        .route("/health/ping", get(|| async { "pong" }))
        .route("/health", get(|| async { "ok" }))
        .layer(layer.clone())
}

#[tokio::test]
async fn admits_exactly_n_then_refuses_with_problem_and_headers() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let layer = RateLimitLayer::per_window(3, MINUTE);
    let app = Router::new()
        .route(
            "/api/x",
            get(move || {
                counter.fetch_add(1, Ordering::Relaxed);
                async { "x" }
            }),
        )
        .layer(layer.clone());

    for (remaining, reset) in [(2, 20), (1, 40), (0, 60)] {
        let res = app
            .clone()
            .oneshot(req("/api/x", "192.0.2.1:4000"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(&res, "ratelimit-policy"), "\"default\";q=3;w=60");
        assert_eq!(
            header(&res, "ratelimit"),
            format!("\"default\";r={remaining};t={reset}")
        );
        assert_eq!(header(&res, "x-ratelimit-limit"), "3");
        assert_eq!(header(&res, "x-ratelimit-remaining"), remaining.to_string());
        assert_eq!(header(&res, "x-ratelimit-reset"), reset.to_string());
        assert!(res.headers().get("retry-after").is_none());
    }
    assert_eq!(calls.load(Ordering::Relaxed), 3);

    let res = app
        .clone()
        .oneshot(req("/api/x", "192.0.2.1:4001"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&res, "content-type"), "application/problem+json");
    // One request is earned back every 20 s; the full burst after 60 s.
    assert_eq!(header(&res, "retry-after"), "20");
    assert_eq!(header(&res, "ratelimit"), "\"default\";r=0;t=60");
    assert_eq!(header(&res, "ratelimit-policy"), "\"default\";q=3;w=60");
    assert_eq!(header(&res, "x-ratelimit-limit"), "3");
    assert_eq!(header(&res, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&res, "x-ratelimit-reset"), "60");
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["status"], 429);
    assert_eq!(json["title"], "Too Many Requests");
    assert_eq!(json["detail"], "rate limit exceeded, retry in 20 seconds");

    assert_eq!(
        calls.load(Ordering::Relaxed),
        3,
        "a refused request never reaches the handler"
    );
    assert_eq!(layer.refused_total(), 1);
    assert_eq!(layer.tracked_keys(), 1);
}

#[tokio::test]
async fn refusal_retry_after_is_at_least_one_second() {
    // One request every 100 ms: the wait is under a second, Retry-After still says 1.
    let layer = RateLimitLayer::per_window(1, Duration::from_millis(100));
    let app = app(&layer);
    assert_eq!(
        status(&app, req("/api/x", "192.0.2.1:1")).await,
        StatusCode::OK
    );
    let res = app
        .clone()
        .oneshot(req("/api/x", "192.0.2.1:1"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&res, "retry-after"), "1");
    assert_eq!(header(&res, "ratelimit-policy"), "\"default\";q=1;w=1");
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        status(&app, req("/api/x", "192.0.2.1:1")).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn separate_ips_have_separate_budgets() {
    let layer = RateLimitLayer::per_window(2, MINUTE);
    let app = app(&layer);
    for _ in 0..2 {
        assert_eq!(
            status(&app, req("/api/x", "192.0.2.1:1")).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        status(&app, req("/api/x", "192.0.2.1:2")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // The budget is per key, not per route.
    assert_eq!(
        status(&app, req("/api/y", "192.0.2.1:3")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..2 {
        assert_eq!(
            status(&app, req("/api/x", "192.0.2.2:1")).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        status(&app, req("/api/x", "192.0.2.2:1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(layer.tracked_keys(), 2);
}

#[tokio::test]
async fn separate_organizations_have_separate_budgets() {
    let layer = RateLimitLayer::per_window(2, MINUTE)
        .key(KeySource::Organization)
        .trust_organization_header(true);
    let app = app(&layer);
    let peer = "192.0.2.1:1";
    for _ in 0..2 {
        assert_eq!(
            status(&app, req("/api/orgs/acme/properties", peer)).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        status(&app, req("/api/orgs/acme/properties", peer)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Same client, another tenant: its own budget.
    for _ in 0..2 {
        assert_eq!(
            status(&app, req("/api/orgs/globex/properties", peer)).await,
            StatusCode::OK
        );
    }
    // The header names the tenant on routes without the parameter.
    let acme = with_header(req("/api/x", peer), "x-organization-id", "acme");
    assert_eq!(status(&app, acme).await, StatusCode::TOO_MANY_REQUESTS);
    let initech = with_header(req("/api/x", peer), "x-organization-id", "initech");
    assert_eq!(status(&app, initech).await, StatusCode::OK);
    // No tenant (or an invalid id): keyed by client IP.
    assert_eq!(status(&app, req("/api/x", peer)).await, StatusCode::OK);
    let bad = with_header(
        req("/api/x", peer),
        "x-organization-id",
        "no spaces allowed",
    );
    assert_eq!(status(&app, bad).await, StatusCode::OK);
    assert_eq!(
        status(&app, req("/api/x", peer)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // An Organization set by an auth layer in front wins over the header.
    let mut vouched = with_header(req("/api/x", peer), "x-organization-id", "initech");
    vouched.extensions_mut().insert(Organization::new("acme"));
    assert_eq!(status(&app, vouched).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_untrusted_organization_header_cannot_spend_a_tenants_quota() {
    let layer = RateLimitLayer::per_window(1, MINUTE).key(KeySource::Organization);
    let app = app(&layer);
    // acme's own budget, spent by acme through its path.
    let acme = "192.0.2.1:1";
    assert_eq!(
        status(&app, req("/api/orgs/acme/properties", acme)).await,
        StatusCode::OK
    );
    // A stranger naming acme in the header is keyed by its own address: acme is untouched
    // by it, and it cannot rotate header values for fresh budgets either.
    let stranger = "203.0.113.5:1";
    let named = || with_header(req("/api/x", stranger), "x-organization-id", "globex");
    assert_eq!(status(&app, named()).await, StatusCode::OK);
    let other = with_header(req("/api/x", stranger), "x-organization-id", "initech");
    assert_eq!(status(&app, other).await, StatusCode::TOO_MANY_REQUESTS);
    // globex's own budget is still whole.
    assert_eq!(
        status(&app, req("/api/orgs/globex/properties", acme)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn untrusted_forwarded_for_is_ignored() {
    let layer = RateLimitLayer::per_window(1, MINUTE);
    let app = app(&layer);
    let peer = "203.0.113.9:5000";
    let first = with_header(req("/api/x", peer), "x-forwarded-for", "1.1.1.1");
    assert_eq!(status(&app, first).await, StatusCode::OK);
    // A different spoofed address does not buy a fresh budget.
    let spoofed = with_header(req("/api/x", peer), "x-forwarded-for", "2.2.2.2");
    assert_eq!(status(&app, spoofed).await, StatusCode::TOO_MANY_REQUESTS);
    let plain = req("/api/x", peer);
    assert_eq!(status(&app, plain).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(layer.tracked_keys(), 1);
}

#[tokio::test]
async fn trusted_proxy_forwarded_for_names_the_client() {
    let layer = RateLimitLayer::per_window(1, MINUTE).trusted_proxies([
        "10.0.0.0/8".parse::<IpRange>().unwrap(),
        IpAddr::from([127, 0, 0, 1]).into(),
    ]);
    let app = app(&layer);
    let proxy = "10.0.0.1:40000";
    let xff = |value: &str| with_header(req("/api/x", proxy), "x-forwarded-for", value);
    assert_eq!(status(&app, xff("198.51.100.1")).await, StatusCode::OK);
    assert_eq!(status(&app, xff("198.51.100.2")).await, StatusCode::OK);
    assert_eq!(
        status(&app, xff("198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // A client prepending a fake address still gets its own (right-most untrusted) key.
    assert_eq!(
        status(&app, xff("6.6.6.6, 198.51.100.1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Proxies chained inside the trusted range are skipped, right to left, across header lines.
    let mut chained = xff("198.51.100.2, 10.1.1.1");
    chained
        .headers_mut()
        .append("x-forwarded-for", "127.0.0.1".parse().unwrap());
    assert_eq!(status(&app, chained).await, StatusCode::TOO_MANY_REQUESTS);
    // Ports parse.
    assert_eq!(status(&app, xff("198.51.100.3:5678")).await, StatusCode::OK);
    assert_eq!(
        status(&app, xff("198.51.100.3")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status(&app, xff("[2001:db8::1]:80")).await, StatusCode::OK);
    // IPv6 clients are keyed by their /64.
    assert_eq!(
        status(&app, xff("2001:db8::ffff")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status(&app, xff("2001:db8:0:1::1")).await, StatusCode::OK);
    // The proxy's own requests (no header) are keyed by the proxy.
    assert_eq!(status(&app, req("/api/x", proxy)).await, StatusCode::OK);
    assert_eq!(
        status(&app, req("/api/x", proxy)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn ipv6_peers_share_their_slash_64() {
    let layer = RateLimitLayer::per_window(1, MINUTE);
    let app = app(&layer);
    assert_eq!(
        status(&app, req("/api/x", "[2001:db8:1:2::1]:1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, req("/api/x", "[2001:db8:1:2:ffff::9]:1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        status(&app, req("/api/x", "[2001:db8:1:3::1]:1")).await,
        StatusCode::OK
    );
    // IPv4-mapped IPv6 is the IPv4 client.
    assert_eq!(
        status(&app, req("/api/x", "192.0.2.5:1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, req("/api/x", "[::ffff:192.0.2.5]:1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn route_quota_applies_only_to_its_route() {
    let layer = RateLimitLayer::per_window(100, MINUTE).route_quota("/api/slow", 1, MINUTE);
    let app = app(&layer);
    let peer = "192.0.2.1:1";
    let res = app.clone().oneshot(req("/api/slow", peer)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "ratelimit-policy"), "\"/api/slow\";q=1;w=60");
    assert_eq!(header(&res, "x-ratelimit-remaining"), "0");
    assert_eq!(
        status(&app, req("/api/slow", peer)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..10 {
        assert_eq!(status(&app, req("/api/x", peer)).await, StatusCode::OK);
    }
    let res = app.clone().oneshot(req("/api/x", peer)).await.unwrap();
    assert_eq!(header(&res, "ratelimit-policy"), "\"default\";q=100;w=60");
    // The slow route's request did not count against the default quota.
    assert_eq!(header(&res, "x-ratelimit-remaining"), "89");
    assert_eq!(layer.tracked_keys(), 2);
}

#[tokio::test]
async fn allow_listed_keys_are_never_limited() {
    let layer = RateLimitLayer::per_window(1, MINUTE)
        .key(KeySource::Organization)
        .allow_keys(["192.0.2.7", "internal"])
        .allow(|key| matches!(key, RateLimitKey::Organization(id) if id.starts_with("ops-")));
    let app = app(&layer);
    for _ in 0..5 {
        let res = app
            .clone()
            .oneshot(req("/api/x", "192.0.2.7:1"))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers().get("x-ratelimit-limit").is_none());
        assert_eq!(
            status(&app, req("/api/orgs/internal/properties", "192.0.2.8:1")).await,
            StatusCode::OK
        );
        assert_eq!(
            status(&app, req("/api/orgs/ops-eu/properties", "192.0.2.8:1")).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        status(&app, req("/api/x", "192.0.2.8:1")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, req("/api/x", "192.0.2.8:1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(layer.tracked_keys(), 1);
}

#[tokio::test]
async fn health_routes_and_skipped_routes_are_not_limited() {
    let layer = RateLimitLayer::per_window(1, MINUTE).skip_route("/api/y");
    let app = app(&layer);
    let peer = "192.0.2.1:1";
    for _ in 0..5 {
        for uri in ["/health/ping", "/health", "/api/y"] {
            let res = app.clone().oneshot(req(uri, peer)).await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{uri}");
            assert!(res.headers().get("ratelimit").is_none());
        }
    }
    assert_eq!(layer.tracked_keys(), 0);
    assert_eq!(status(&app, req("/api/x", peer)).await, StatusCode::OK);
    assert_eq!(
        status(&app, req("/api/x", peer)).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn custom_keys_and_unkeyed_requests() {
    let layer = RateLimitLayer::per_window(1, MINUTE).key(KeySource::custom(|parts, _ip| {
        parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }));
    let app = app(&layer);
    let keyed = |key: &str| with_header(req("/api/x", "192.0.2.1:1"), "x-api-key", key);
    assert_eq!(status(&app, keyed("k1")).await, StatusCode::OK);
    assert_eq!(
        status(&app, keyed("k1")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(status(&app, keyed("k2")).await, StatusCode::OK);
    // The closure answered None: not limited.
    for _ in 0..3 {
        assert_eq!(
            status(&app, req("/api/x", "192.0.2.1:1")).await,
            StatusCode::OK
        );
    }
}

/// Served without `into_make_service_with_connect_info`, the limiter cannot key a request by
/// address: it answers 500 problem+json naming the fix (rather than letting every request
/// through unlimited) without calling the handler, and a request the source keys without the
/// address (a tenant) is limited as usual.
#[tokio::test]
async fn missing_connect_info_is_a_500_naming_the_fix() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    for layer in [
        RateLimitLayer::per_window(1, MINUTE),
        RateLimitLayer::per_window(1, MINUTE).key(KeySource::Organization),
    ] {
        let counted = Arc::clone(&counted);
        let app = Router::new()
            .route(
                "/api/x",
                get(move || {
                    counted.fetch_add(1, Ordering::Relaxed);
                    async { "ok" }
                }),
            )
            .layer(layer.clone());
        for _ in 0..2 {
            let bare = Request::get("/api/x").body(Body::empty()).unwrap();
            let res = app.clone().oneshot(bare).await.unwrap();
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(
                res.headers()[http::header::CONTENT_TYPE],
                "application/problem+json"
            );
            let body = res.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            assert!(
                text.contains("into_make_service_with_connect_info::<SocketAddr>()"),
                "{text}"
            );
        }
        assert_eq!(layer.refused_total(), 0, "a wiring error is not a refusal");
    }
    assert_eq!(calls.load(Ordering::Relaxed), 0, "the handler never ran");

    // Keyed by tenant, the address is not needed.
    let by_org = RateLimitLayer::per_window(1, MINUTE)
        .key(KeySource::Organization)
        .trust_organization_header(true);
    let app = self::app(&by_org);
    let tenant = || {
        Request::get("/api/x")
            .header("x-organization-id", "acme")
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(status(&app, tenant()).await, StatusCode::OK);
    assert_eq!(status(&app, tenant()).await, StatusCode::TOO_MANY_REQUESTS);
}

async fn ok(_req: Request<Body>) -> Result<Response, Infallible> {
    Ok("ok".into_response())
}

fn peer_request(ip: Ipv4Addr) -> Request<Body> {
    let mut req = Request::get("/api/x").body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 1000))));
    req
}

#[tokio::test]
async fn state_is_bounded_by_cleanup() {
    const KEYS: u32 = 100_000;
    let layer = RateLimitLayer::per_window(5, Duration::from_millis(10));
    let mut svc = layer.layer(tower::service_fn(ok));
    for i in 0..KEYS {
        let req = peer_request(Ipv4Addr::from(0x0a00_0000 + i));
        let res = svc.ready().await.unwrap().call(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(layer.tracked_keys(), KEYS as usize);
    // A key is dropped once its burst is full again (window + window/max after its last request).
    tokio::time::sleep(Duration::from_millis(50)).await;
    layer.cleanup();
    assert!(
        layer.tracked_keys() < 10,
        "{} keys left",
        layer.tracked_keys()
    );
    // A recently used key survives cleanup (a separate, slow quota, so a loaded machine
    // pausing this test for a few ms cannot make the key idle).
    let slow = RateLimitLayer::per_window(5, Duration::from_secs(5));
    let mut svc = slow.layer(tower::service_fn(ok));
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(peer_request(Ipv4Addr::LOCALHOST))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    slow.cleanup();
    assert_eq!(slow.tracked_keys(), 1);
}

#[tokio::test]
async fn cleanup_task_runs_on_its_interval() {
    let layer = RateLimitLayer::per_window(5, Duration::from_millis(10))
        .cleanup_interval(Duration::from_millis(20));
    let mut svc = layer.layer(tower::service_fn(ok));
    for i in 0..1000 {
        let req = peer_request(Ipv4Addr::from(0x0a00_0000 + i));
        svc.ready().await.unwrap().call(req).await.unwrap();
    }
    assert_eq!(layer.tracked_keys(), 1000);
    let mut waited = Duration::ZERO;
    while layer.tracked_keys() > 0 && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    assert_eq!(layer.tracked_keys(), 0, "the cleanup task never ran");
}

#[derive(Debug, PartialEq)]
struct InnerError(&'static str);

#[tokio::test]
async fn inner_error_type_is_preserved() {
    fn assert_error<S: Service<Request<Body>, Error = InnerError>>(_: &S) {}

    let layer = RateLimitLayer::per_window(1, MINUTE);
    let mut svc = layer.layer(tower::service_fn(|_req: Request<Body>| async {
        Err::<Response, _>(InnerError("boom"))
    }));
    assert_error(&svc);
    let err = svc
        .ready()
        .await
        .unwrap()
        .call(req("/api/x", "192.0.2.1:1"))
        .await
        .unwrap_err();
    assert_eq!(err, InnerError("boom"));
    // A refusal is a response, not an error.
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(req("/api/x", "192.0.2.1:1"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(layer.refused_total(), 1);
}

#[tokio::test]
async fn each_header_set_can_be_switched_off() {
    const DRAFT: [&str; 2] = ["ratelimit-policy", "ratelimit"];
    const LEGACY: [&str; 3] = [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ];
    for (draft, legacy) in [(true, false), (false, true), (false, false)] {
        let layer = RateLimitLayer::per_window(1, MINUTE)
            .draft_headers(draft)
            .legacy_headers(legacy);
        let app = app(&layer);
        let admitted = app
            .clone()
            .oneshot(req("/api/x", "10.0.0.1:1"))
            .await
            .unwrap();
        let refused = app
            .clone()
            .oneshot(req("/api/x", "10.0.0.1:1"))
            .await
            .unwrap();
        assert_eq!(admitted.status(), StatusCode::OK);
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        // A refusal says when to come back whatever the header sets.
        assert_eq!(header(&refused, "retry-after"), "60");
        for res in [&admitted, &refused] {
            for name in DRAFT {
                assert_eq!(
                    res.headers().contains_key(name),
                    draft,
                    "{name} ({draft}, {legacy})"
                );
            }
            for name in LEGACY {
                assert_eq!(
                    res.headers().contains_key(name),
                    legacy,
                    "{name} ({draft}, {legacy})"
                );
            }
        }
        if legacy {
            assert_eq!(header(&admitted, "x-ratelimit-remaining"), "0");
        }
        if draft {
            assert_eq!(header(&admitted, "ratelimit"), "\"default\";r=0;t=60");
        }
    }
}
