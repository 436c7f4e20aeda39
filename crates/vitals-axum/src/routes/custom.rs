//! `GET /metrics/dashboard/custom?limit=20` (operator-only): what the dashboard's "custom
//! metrics" panel draws: the application's own metrics (counters and gauges with their value,
//! histograms with p50/p95/p99 and count), at most `limit` series per family (`1..=200`, the
//! overflow series always shown) with how many were left out, and the registry's overflowed
//! and refused counts. `{"enabled": false}` without a registry (or the `custom-metrics`
//! feature).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::Uri;
use serde_json::json;

use crate::query::StrictQuery;
use crate::shared::AppState;

/// Series per family the panel shows by default.
const SERIES_DEFAULT: usize = 20;
/// Most series per family the panel may ask for.
const SERIES_MAX: usize = 200;

#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/dashboard/custom", tag = "dashboard", security(("operatorToken" = [])), params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "Series per metric")), responses((status = 200, description = "The application's metrics", body = super::schemas::CustomDoc), (status = 400, description = "A bad `limit`", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(super) async fn custom(State(state): State<AppState>, uri: Uri) -> Response {
    let limit = match StrictQuery::parse(uri.query()).limit("limit", SERIES_DEFAULT, SERIES_MAX) {
        Ok(l) => l,
        Err(p) => return p.with_instance(uri.path()).into_response(),
    };
    #[cfg(feature = "custom-metrics")]
    let body = tokio::task::spawn_blocking(move || {
        let mut value = state.custom_json(limit);
        if let Some(object) = value.as_object_mut() {
            object.insert("enabled".to_owned(), json!(true));
        } else {
            value = json!({ "enabled": false });
        }
        value
    })
    .await
    .unwrap_or_else(|_| json!({ "enabled": false }));
    #[cfg(not(feature = "custom-metrics"))]
    let body = {
        let _ = (state, limit);
        json!({ "enabled": false })
    };
    Json(body).into_response()
}
