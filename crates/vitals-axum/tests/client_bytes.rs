//! Property tests over arbitrary client bytes for every parser that reads them: the path
//! normaliser, `traceparent`, `x-request-id`, `x-organization-id`, query strings,
//! `Forwarded`/`X-Forwarded-For`/`X-Real-IP`, `Host` and `Authorization`, and the rate-limit
//! key; each on its own and all together through the whole request stack. No panic, no 5xx,
//! bounded output and bounded state.
//!
//! Cases: proptest's default (256) or `PROPTEST_CASES`; CI runs a few thousand
//! (`PROPTEST_CASES=4000`), the long run many more:
//! `PROPTEST_CASES=200000 cargo test --release -p vitals-axum --test client_bytes`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::{HeaderValue, Request};
use proptest::prelude::*;
use tower::ServiceExt;
use vitals::MonitorConfig;
use vitals_axum::{KeySource, OperatorAuth, RateLimitLayer, RequestId, TraceContext, Vitals};

fn config() -> ProptestConfig {
    // PROPTEST_CASES is read by ProptestConfig::default(); no regression files in the crate.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes as a URI path or query: unreserved bytes and `/`, `=`, `&` kept, others
/// percent-encoded (so every input is a valid URI and reaches the parsers).
fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"/-._~=&".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const ROUTES: usize = 8;
const ORGS: usize = 4;
const KEYS: usize = 16;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn normalize_path_is_bounded(path in any::<String>()) {
        let out = vitals::normalize_path(&path);
        prop_assert!(out.len() <= vitals::MAX_TEMPLATE_LEN + 8, "{} bytes", out.len());
        prop_assert!(out.starts_with('/'));
    }

    #[test]
    fn traceparent_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Some(trace) = TraceContext::from_traceparent(&bytes) {
            prop_assert_eq!(trace.trace_id_hex().len(), 32);
        }
    }

    #[test]
    fn request_id_is_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let valid = vitals_axum::is_valid_request_id(&bytes);
        if let Ok(value) = HeaderValue::from_bytes(&bytes) {
            match RequestId::from_header(&value) {
                Some(id) => {
                    prop_assert!(valid);
                    prop_assert!(id.as_str().len() <= 128, "{}", id.as_str().len());
                }
                None => prop_assert!(!valid || bytes.is_empty()),
            }
        }
    }

    #[test]
    fn organization_ids_are_bounded(id in any::<String>()) {
        if vitals::is_valid_organization_id(&id) {
            prop_assert!(!id.is_empty() && id.len() <= 128, "{} bytes", id.len());
        }
    }

    #[test]
    fn the_whole_stack_survives_arbitrary_client_bytes(
        requests in proptest::collection::vec(
            (
                proptest::collection::vec(any::<u8>(), 0..80),
                proptest::collection::vec(any::<u8>(), 0..60),
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 8),
            ),
            1..12,
        )
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let vitals = Vitals::builder()
                .monitor_config(MonitorConfig::default().max_routes(ROUTES).max_organizations(ORGS))
                .operator_auth(OperatorAuth::loopback_only().allow_host("vitals.test"))
                .rate_limit(
                    RateLimitLayer::per_window(3, Duration::from_secs(60))
                        .key(KeySource::Organization)
                        .trusted_proxies(["127.0.0.1".parse::<std::net::IpAddr>().unwrap()])
                        .max_keys(KEYS),
                )
                .build();
            let app: Router = Router::new()
                .route("/api/{id}", get(|| async { "ok" }))
                .merge(vitals.router())
                .layer(vitals.layers());
            let names = [
                "traceparent", "x-request-id", "x-organization-id", "forwarded",
                "x-forwarded-for", "x-real-ip", "host", "authorization",
            ];
            let prefixes = ["/api/", "/health/performance/slow", "/metrics/dashboard", "/"];
            for (i, (path, query, headers)) in requests.iter().enumerate() {
                let uri = format!("{}{}?{}", prefixes[i % prefixes.len()], encode(path), encode(query));
                let mut req = Request::get(uri.as_str()).body(Body::empty()).unwrap();
                for (name, value) in names.iter().zip(headers) {
                    if let Ok(value) = HeaderValue::from_bytes(value) {
                        req.headers_mut().insert(*name, value);
                    }
                }
                req.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 4000))));
                let res = app.clone().oneshot(req).await.unwrap();
                prop_assert!(res.status().as_u16() < 500, "{uri}: {}", res.status());
            }
            // Bounded state: routes, tenants and rate-limit keys stay under their caps.
            let routes = vitals.monitor().route_stats(vitals::Window::SinceStart).len();
            prop_assert!(routes <= ROUTES + 2, "{routes} routes");
            prop_assert!(vitals.monitor().organizations().len() <= ORGS + 1);
            let keys = vitals.rate_limit_layer().unwrap().tracked_keys();
            prop_assert!(keys <= KEYS + 1, "{keys} keys");
            Ok(())
        })?;
    }
}
