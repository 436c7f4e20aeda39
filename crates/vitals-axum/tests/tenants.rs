//! Trusted tenants through the layer: which request may create a tenant series (the route's
//! path parameter unless the answer is a client error, or with the application's list of
//! tenants only a listed one whatever the status, what the application vouches for, a
//! header only when trusted, a tenant the application knows even on a 404), and the tenant
//! path allocating nothing once the tenant is known.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;
use vitals::{Monitor, MonitorConfig};
use vitals_axum::{MonitorLayer, Organization};

fn tenant_app(monitor: &Monitor, trust_header: bool) -> Router {
    Router::new()
        // 200 for the "real" tenants, 404 for the rest (a made-up id in the path).
        .route(
            "/orgs/{orgId}/items",
            get(|Path(org): Path<String>| async move {
                if org.starts_with("real") {
                    StatusCode::OK
                } else {
                    StatusCode::NOT_FOUND
                }
            }),
        )
        // Fails for every tenant (a database outage, say).
        .route(
            "/orgs/{orgId}/fail",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        )
        // An endpoint that names its tenant itself, whatever it answers.
        .route(
            "/me",
            get(|| async {
                assert!(Organization::new("vouched").set_current());
                StatusCode::NOT_FOUND
            }),
        )
        .route("/plain", get(|| async { "plain" }))
        .layer(MonitorLayer::new(monitor.clone()).trust_organization_header(trust_header))
}

async fn get_path(app: &Router, uri: &str, header: Option<&str>) -> StatusCode {
    let mut req = Request::get(uri);
    if let Some(org) = header {
        req = req.header("x-organization-id", org);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let _ = res.into_body().collect().await.unwrap();
    status
}

fn tenants(monitor: &Monitor) -> Vec<(String, u64)> {
    let mut all: Vec<_> = monitor
        .organizations()
        .into_iter()
        .map(|o| (o.organization_id.to_string(), o.since_start.count))
        .collect();
    all.sort();
    all
}

#[tokio::test]
async fn only_trusted_sources_create_tenant_series() {
    let monitor = Monitor::new(
        MonitorConfig::default().is_known_tenant(|id| id == "known" || id.starts_with("real")),
    );
    let app = tenant_app(&monitor, false);
    assert_eq!(
        get_path(&app, "/orgs/real-1/items", None).await,
        StatusCode::OK
    );
    // A scan of made-up ids: 404s, no series.
    for i in 0..50 {
        let uri = format!("/orgs/made-up-{i}/items");
        assert_eq!(get_path(&app, &uri, None).await, StatusCode::NOT_FOUND);
    }
    // With the application's list, a 5xx mints nothing for a made-up id either.
    for i in 0..50 {
        let uri = format!("/orgs/flood-{i}/fail");
        assert_eq!(
            get_path(&app, &uri, None).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    // A known tenant counts from its first request, 404 included.
    get_path(&app, "/orgs/known/items", None).await;
    // Vouched for by the handler, on a 404.
    get_path(&app, "/me", None).await;
    // The header is ignored unless trusted: no tenant at all.
    get_path(&app, "/plain", Some("header-org")).await;
    // An existing tenant counts every request, 404s included.
    get_path(&app, "/orgs/real-1/items", Some("ignored")).await;
    assert_eq!(
        tenants(&monitor),
        [
            ("(overflow)".to_owned(), 100),
            ("known".to_owned(), 1),
            ("real-1".to_owned(), 2),
            ("vouched".to_owned(), 1),
        ]
    );
    assert_eq!(
        monitor.recent().pop().unwrap().organization_id.as_deref(),
        Some("real-1")
    );

    // Trusted (a gateway sets it): the header names a vouched-for tenant.
    let monitor = Monitor::default();
    let app = tenant_app(&monitor, true);
    get_path(&app, "/plain", Some("gateway-org")).await;
    get_path(&app, "/nowhere", Some("gateway-404")).await;
    assert_eq!(
        tenants(&monitor),
        [("gateway-404".to_owned(), 1), ("gateway-org".to_owned(), 1)]
    );
}

#[tokio::test]
async fn an_organization_in_the_request_extensions_is_vouched_for() {
    let monitor = Monitor::default();
    let app = tenant_app(&monitor, false);
    let mut req = Request::get("/orgs/made-up/items")
        .body(Body::empty())
        .unwrap();
    // An outer layer (authentication) named the tenant: it wins over the path.
    req.extensions_mut()
        .insert(Organization::new("authenticated"));
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let _ = res.into_body().collect().await.unwrap();
    assert_eq!(tenants(&monitor), [("authenticated".to_owned(), 1)]);
}
