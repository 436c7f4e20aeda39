//! The application's own metrics through the layer and the router: they appear in `/metrics`
//! (text and OpenMetrics), `/metrics/json` and the dashboard's panel; vitals' names stay
//! vitals'; tenant attribution follows the request's organization; a second global install is
//! an error naming the way out.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::post;
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use vitals_axum::vitals_metrics::{Config, Registry, TenantScope};
use vitals_axum::{OperatorAuth, Vitals, metrics_config};

const TOKEN: &str = "test-token";

/// An app whose handler counts orders and times checkouts, with vitals serving `registry`.
fn app(registry: &Registry) -> Router {
    let vitals = Vitals::builder()
        .monitor_config(vitals::MonitorConfig::default().top_tenants(2))
        .operator_auth(OperatorAuth::token(TOKEN))
        .metrics_registry(registry.clone())
        .build();
    Router::new()
        .route(
            "/api/orgs/{orgId}/orders",
            post(|Path(org): Path<String>| async move {
                // The application vouches for the tenant (an auth layer would, in a real app).
                assert!(vitals_axum::Organization::new(&org).set_current());
                metrics::counter!("orders_created").increment(1);
                metrics::histogram!("checkout_duration_seconds", "channel" => "web").record(0.042);
                // vitals' own name: refused, counted, never exposed twice.
                metrics::counter!("http_server_requests").increment(1);
                StatusCode::CREATED
            }),
        )
        .merge(vitals.router())
        .layer(vitals.layers())
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn operator_get(app: &Router, path: &str, accept: Option<&str>) -> String {
    let mut request = Request::get(path).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let (status, body) = send(app, request.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn order(app: &Router, org: &str) {
    let request = Request::post(format!("/api/orgs/{org}/orders"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app, request).await.0, StatusCode::CREATED);
}

#[track_caller]
fn assert_line(body: &str, line: &str) {
    assert!(
        body.lines().any(|l| l == line),
        "no line `{line}` in:\n{body}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn application_counter_and_histogram_appear_in_every_format() {
    let registry = Registry::new(metrics_config(Config::default()));
    let _local = metrics::set_default_local_recorder(&registry);
    metrics::describe_counter!("orders_created", "Orders created.");
    metrics::describe_histogram!(
        "checkout_duration_seconds",
        metrics::Unit::Seconds,
        "Checkout time."
    );
    let app = app(&registry);
    for org in ["acme", "acme", "globex"] {
        order(&app, org).await;
    }

    let text = operator_get(&app, "/metrics", None).await;
    assert_line(&text, "# HELP orders_created_total Orders created.");
    assert_line(&text, "# TYPE orders_created_total counter");
    assert_line(&text, "orders_created_total 3");
    assert_line(&text, "# TYPE checkout_duration_seconds histogram");
    assert_line(
        &text,
        r#"checkout_duration_seconds_bucket{channel="web",le="0.025"} 0"#,
    );
    assert_line(
        &text,
        r#"checkout_duration_seconds_bucket{channel="web",le="0.05"} 3"#,
    );
    assert_line(&text, r#"checkout_duration_seconds_count{channel="web"} 3"#);
    // Tenant attribution is off by default: no organization label on the application's series.
    assert!(!text.contains("orders_created_total{"), "{text}");
    // vitals' own family once, with vitals' figures; the application's attempt is refused.
    assert_eq!(
        text.matches("# TYPE http_server_requests_total counter")
            .count(),
        1,
        "{text}"
    );
    assert_line(
        &text,
        r#"vitals_custom_metrics_refused_total{reason="reserved_name"} 3"#,
    );

    let open = operator_get(
        &app,
        "/metrics",
        Some("application/openmetrics-text; version=1.0.0"),
    )
    .await;
    assert_line(&open, "# TYPE orders_created counter");
    assert_line(&open, "orders_created_total 3");
    assert_line(&open, "# UNIT checkout_duration_seconds seconds");
    assert_line(&open, r#"checkout_duration_seconds_count{channel="web"} 3"#);
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert_eq!(open.matches("# EOF").count(), 1, "{open}");

    let json: Value =
        serde_json::from_str(&operator_get(&app, "/metrics/json", None).await).unwrap();
    let custom = &json["custom"];
    let family = |name: &str| {
        custom["families"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` in {custom:#}"))
            .clone()
    };
    let orders = family("orders_created");
    assert_eq!(orders["type"], "counter");
    assert_eq!(orders["help"], "Orders created.");
    assert_eq!(orders["series"][0]["value"], 3.0);
    let checkout = family("checkout_duration_seconds");
    assert_eq!(checkout["unit"], "seconds");
    let histogram = &checkout["series"][0]["histogram"];
    assert_eq!(histogram["count"], 3);
    for q in ["p50", "p95", "p99"] {
        let v = histogram[q].as_f64().unwrap();
        assert!((v - 0.042).abs() <= 0.042 * 0.01, "{q} = {v}");
    }
    assert_eq!(custom["refused"]["reserved_name"], 3);
    assert_eq!(custom["limits"]["maxLabelSets"], 1000);
    // The structured families carry them too, as /metrics does.
    assert!(
        json["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "orders_created_total"),
        "{json:#}"
    );

    #[cfg(feature = "dashboard")]
    {
        let panel: Value = serde_json::from_str(
            &operator_get(&app, "/metrics/dashboard/custom?limit=5", None).await,
        )
        .unwrap();
        assert_eq!(panel["enabled"], true, "{panel:#}");
        assert_eq!(panel["refusedTotal"], 3, "{panel:#}");
        assert_eq!(panel["overflowed"], 0, "{panel:#}");
        assert!(
            panel["families"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["name"] == "checkout_duration_seconds"
                    && f["series"][0]["histogram"]["count"] == 3),
            "{panel:#}"
        );
        let request = Request::get("/metrics/dashboard/custom?limit=0")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, request).await.0, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn tenant_attribution_labels_with_the_requests_organization_capped() {
    // The monitor names 2 tenants (`top_tenants(2)`): the first two, from their first
    // request (vouched for by the handler); the rest are `(other)`, as in vitals' own families.
    let registry = Registry::new(metrics_config(
        Config::default()
            .tenant_scope(TenantScope::Names(vec!["orders_created".into()]))
            .tenant_label("organization"),
    ));
    let _local = metrics::set_default_local_recorder(&registry);
    let app = app(&registry);
    for org in ["acme", "acme", "globex", "initech", "hooli"] {
        order(&app, org).await;
    }
    let text = operator_get(&app, "/metrics", None).await;
    assert_line(&text, r#"orders_created_total{organization="acme"} 2"#);
    assert_line(&text, r#"orders_created_total{organization="globex"} 1"#);
    assert_line(&text, r#"orders_created_total{organization="(other)"} 2"#);
    assert_line(
        &text,
        r#"vitals_organization_requests_total{organization="acme"} 2"#,
    );
    assert_line(
        &text,
        r#"vitals_organization_requests_total{organization="(other)"} 2"#,
    );
    // Outside the scope: no tenant label.
    assert_line(&text, r#"checkout_duration_seconds_count{channel="web"} 5"#);
    // Outside a request: no tenant to read.
    metrics::counter!("orders_created").increment(1);
    let text = operator_get(&app, "/metrics", None).await;
    assert_line(&text, "orders_created_total 1");
}

#[test]
fn dashboard_panel_without_a_registry_says_so() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let vitals = Vitals::builder()
            .operator_auth(OperatorAuth::token(TOKEN))
            .build();
        let app: Router = vitals.router();
        let json: Value =
            serde_json::from_str(&operator_get(&app, "/metrics/json", None).await).unwrap();
        assert!(json["custom"].is_null(), "{json:#}");
        #[cfg(feature = "dashboard")]
        {
            let panel = operator_get(&app, "/metrics/dashboard/custom", None).await;
            assert_eq!(panel, r#"{"enabled":false}"#);
        }
    });
}

#[test]
fn a_second_global_install_is_an_error_naming_the_way_out() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // The only global install of this test binary.
        let vitals = Vitals::builder()
            .custom_metrics()
            .expect("no global recorder yet in this process")
            .build();
        let error = Vitals::builder()
            .custom_metrics()
            .expect_err("a second global recorder");
        let message = error.to_string();
        assert!(message.contains("FanoutBuilder"), "{message}");
        assert!(message.contains("with_local_recorder"), "{message}");
        drop(vitals);
    });
}
