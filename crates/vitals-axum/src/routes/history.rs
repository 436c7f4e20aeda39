//! `GET /metrics/history` and `GET /health/performance/budgets` (feature `history`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use serde_json::{Value, json};
use vitals_store::{HistoryError, HistoryRequest, QueryError};

use crate::problem::Problem;
use crate::query::{StrictQuery, bad_request};
use crate::shared::AppState;

/// snake_case keys to camelCase, recursively (the store's types serialize in snake_case; every
/// vitals endpoint answers in camelCase).
fn camel_case(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut out = String::with_capacity(k.len());
                    let mut up = false;
                    for c in k.chars() {
                        if c == '_' {
                            up = true;
                        } else if up {
                            out.extend(c.to_uppercase());
                            up = false;
                        } else {
                            out.push(c);
                        }
                    }
                    (out, camel_case(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_case).collect()),
        other => other,
    }
}

/// The parameter a query error is about.
fn parameter(e: &QueryError) -> &'static str {
    match e {
        QueryError::BadSeries(_) | QueryError::UnknownSeries(_) => "series",
        QueryError::BadTime(_) | QueryError::FromAfterTo { .. } => "from",
        QueryError::TooManyPoints { .. } | QueryError::BadStep(_) => "step",
    }
}

fn query_problem(e: &QueryError, uri: &Uri) -> Response {
    // A well-formed series with nothing recorded yet (a route or tenant never seen, `service`
    // before the first minute is written) is not the client's mistake: 404, not 400.
    if let QueryError::UnknownSeries(series) = e {
        return Problem::new(StatusCode::NOT_FOUND)
            .with_detail(format!(
                "no history has been recorded for series `{series}`"
            ))
            .with_extension("parameter", "series")
            .with_instance(uri.path())
            .into_response();
    }
    bad_request(&e.to_string())
        .with_extension("parameter", parameter(e))
        .with_instance(uri.path())
        .into_response()
}

fn unavailable(state: &AppState, uri: &Uri) -> Response {
    let detail = if state.history.enabled() {
        state
            .history
            .warning_detail()
            .unwrap_or_else(|| "the history store is not available".to_owned())
    } else {
        "history is not kept by this server".to_owned()
    };
    Problem::new(StatusCode::SERVICE_UNAVAILABLE)
        .with_detail(detail)
        .with_instance(uri.path())
        .into_response()
}

/// `GET /metrics/history?series=…&from=…&to=…&step=1m|1h|1d`: the points of one series.
/// `series` is `service`, `system`, `route:<METHOD> <template>` or `tenant:<id>`; `from` and
/// `to` are unix seconds or RFC 3339 (default: the last hour); `step` defaults to `1m`. Bad
/// input is a 400 problem naming the parameter; no store is a 503.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/history", tag = "history", security(("operatorToken" = [])), params(("series" = String, Query, pattern = "^(service|system|route:.+|tenant:.+)$", example = "service", description = "`service`, `system`, `route:<METHOD> <template>` or `tenant:<id>`"), ("from" = Option<String>, Query, description = "Start, Unix seconds or RFC 3339 (default `to` - 1 h)"), ("to" = Option<String>, Query, description = "End (default now)"), ("step" = Option<String>, Query, pattern = "^1[mhd]$", description = "`1m`, `1h` or `1d` (default 1m)")), responses((status = 200, description = "The series' points", body = super::schemas::HistoryDoc), (status = 400, description = "A bad parameter (named in `parameter`)", body = crate::problem::Problem, content_type = "application/problem+json"), (status = 404, description = "Nothing recorded for that series yet", body = crate::problem::Problem, content_type = "application/problem+json"), (status = 503, description = "No history store, or it cannot be read", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn history(State(state): State<AppState>, uri: Uri) -> Response {
    let query = StrictQuery::parse(uri.query());
    let Some(series) = query.get("series") else {
        return bad_request(
            "`series` is required: service, system, route:<METHOD> <template> or tenant:<id>",
        )
        .with_extension("parameter", "series")
        .with_instance(uri.path())
        .into_response();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let to = query.get("to").unwrap_or_else(|| now.to_string());
    let from = query
        .get("from")
        .unwrap_or_else(|| match to.parse::<i64>() {
            Ok(t) => t.saturating_sub(3_600).to_string(),
            Err(_) => now.saturating_sub(3_600).to_string(),
        });
    let step = query.get("step").unwrap_or_else(|| "1m".to_owned());
    let request = match HistoryRequest::parse(&series, &from, &to, &step) {
        Ok(r) => r,
        Err(e) => return query_problem(&e, &uri),
    };
    let Some(store) = state.history.store().cloned() else {
        return unavailable(&state, &uri);
    };
    let asked = request.clone();
    let answer = tokio::task::spawn_blocking(move || store.history(&asked)).await;
    match answer {
        Ok(Ok(points)) => Json(json!({
            "series": series,
            "step": step,
            "from": request.from,
            "to": request.to,
            "points": camel_case(serde_json::to_value(points).unwrap_or(Value::Null)),
        }))
        .into_response(),
        Ok(Err(HistoryError::Query(e))) => query_problem(&e, &uri),
        Ok(Err(HistoryError::Store(e))) => {
            tracing::warn!(error = %e, "history: a query failed");
            Problem::new(StatusCode::SERVICE_UNAVAILABLE)
                .with_detail("the history store could not be read")
                .with_instance(uri.path())
                .into_response()
        }
        Err(_) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail("the history query failed")
            .with_instance(uri.path())
            .into_response(),
    }
}

/// `GET /health/performance/budgets`: each budget with its SLI over its window, the error
/// budget remaining, the burn rate per window and its status (`ok`, `ticket`, `page`), as of
/// the last flush.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/budgets", tag = "history", security(("operatorToken" = [])), responses((status = 200, description = "Budgets and their latest evaluation", body = super::schemas::BudgetsDoc))))]
pub(crate) async fn budgets(State(state): State<AppState>) -> Response {
    let board = &state.history.budgets;
    let latest = board.latest();
    let statuses = latest.as_ref().map(|l| l.statuses.clone());
    let configured: Vec<Value> = board
        .budgets()
        .iter()
        .map(|b| json!({ "name": b.name, "route": b.route.as_str(), "objective": b.objective }))
        .collect();
    Json(json!({
        "historyEnabled": state.history.store().is_some(),
        "evaluatedAtMinute": latest.as_ref().map(|l| l.at_minute),
        "configured": configured,
        "budgets": camel_case(serde_json::to_value(statuses.unwrap_or_default()).unwrap_or(Value::Null)),
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_cases_nested_keys() {
        let v = camel_case(json!({"error_ratio": 1, "burn_rates": [{"window_days": 2}], "t": 3}));
        assert_eq!(
            v,
            json!({"errorRatio": 1, "burnRates": [{"windowDays": 2}], "t": 3})
        );
    }
}
