//! The performance endpoints (v1 and v2).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use serde::Serialize;
use serde_json::json;
use vitals::as_ms;
use vitals::{RouteStats, Window, WindowStats};

use crate::problem::Problem;
use crate::query::{StrictQuery, bad_request};
use crate::shared::AppState;

#[allow(clippy::boxed_local)] // the query helpers box their problems (a Problem is large)
fn problem_response(problem: Box<Problem>, uri: &Uri) -> Response {
    problem.with_instance(uri.path()).into_response()
}

fn window_json(state: &AppState, window: Window, stats: &WindowStats) -> serde_json::Value {
    let mut v = json!(stats);
    v["spanSeconds"] = json!(state.monitor.window_span(window).as_secs_f64());
    v["requestsPerSecond"] = json!(rate(
        stats.count,
        state.monitor.window_span(window).as_secs_f64()
    ));
    v
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn slow_count(state: &AppState) -> usize {
    state
        .monitor
        .recent()
        .iter()
        .filter(|r| r.is_slow_request)
        .count()
}

/// Maximum `limit` of `/health/performance/slow`.
pub const MAX_SLOW_LIMIT: usize = 500;
/// Maximum `limit` of `/health/performance/v2/slow-paths`.
pub const MAX_SLOW_PATHS_LIMIT: usize = 100;

/// `GET /health/performance/stats` (v1): totals since start, in the v1 field names.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/stats", tag = "performance", security(("operatorToken" = [])), responses((status = 200, description = "Totals since start", body = super::schemas::StatsV1Doc))))]
pub(crate) async fn stats_v1(State(state): State<AppState>) -> Response {
    let all = state.monitor.overall(Window::SinceStart);
    Json(json!({
        "totalRequests": all.count,
        "errorCount": all.errors,
        "errorRate": all.error_rate(),
        "averageResponseTime": as_ms(all.mean()),
        "p50": as_ms(all.p50),
        "p95": as_ms(all.p95),
        "p99": as_ms(all.p99),
        "maxResponseTime": as_ms(all.max),
        "slowRequests": slow_count(&state),
        "uptimeSeconds": state.monitor.uptime().as_secs_f64(),
        "statusCodes": state.monitor.status_counts(Window::SinceStart),
    }))
    .into_response()
}

/// `GET /health/performance/summary`: the last five minutes in a few numbers.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/summary", tag = "performance", security(("operatorToken" = [])), responses((status = 200, description = "The last five minutes", body = super::schemas::SummaryDoc))))]
pub(crate) async fn summary(State(state): State<AppState>) -> Response {
    let recent = state.monitor.overall(Window::LastFiveMinutes);
    let span = state
        .monitor
        .window_span(Window::LastFiveMinutes)
        .as_secs_f64();
    Json(json!({
        "window": Window::LastFiveMinutes.key(),
        "requests": recent.count,
        "requestsPerSecond": rate(recent.count, span),
        "errorRate": recent.error_rate(),
        "p95Ms": as_ms(recent.p95),
        "totalRequests": state.monitor.recorded(),
        "uptimeSeconds": state.monitor.uptime().as_secs_f64(),
    }))
    .into_response()
}

/// `by=cpu` for routes: the total CPU time of their measured requests, ms.
pub(crate) fn cpu_rank(x: &vitals::RouteResources) -> Option<f64> {
    (x.measured > 0).then_some(x.cpu_ms_total)
}

/// `by=busy` for routes: the total busy time of their requests, ms (every timed request).
pub(crate) fn busy_rank(x: &vitals::RouteResources) -> Option<f64> {
    (x.timed > 0).then_some(x.busy_ms_total)
}

/// `by=allocated` for routes: bytes allocated per measured request.
pub(crate) fn allocation_rank(x: &vitals::RouteResources) -> Option<f64> {
    x.allocated_bytes_per_request
}

/// The routes with a `key` (those with measured requests), highest first.
pub(crate) fn rank_routes(
    routes: &[vitals::RouteStats],
    key: fn(&vitals::RouteResources) -> Option<f64>,
) -> Vec<&vitals::RouteStats> {
    let mut keyed: Vec<_> = routes
        .iter()
        .filter_map(|r| Some((r.resources.as_ref().and_then(key)?, r)))
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// How `/slow` and `/v2/slow-paths` rank (`by=`): time, busy time (every request), or the
/// sampled CPU or allocation.
const RANKINGS: [&str; 4] = ["duration", "busy", "cpu", "allocated"];

/// `GET /health/performance/slow?limit=10&by=duration`: the ring's slowest requests, slowest
/// first; `by=busy`: its requests by busy time (the sum of their polls, an upper bound on
/// their CPU time, known for every request); `by=cpu` / `by=allocated`: its measured requests
/// (one in `resourcesEvery`) that used the most CPU / allocated the most, first.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/slow", tag = "performance", security(("operatorToken" = [])), params(("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "How many (default 10)"), ("by" = Option<super::schemas::RankingDoc>, Query, description = "Ranking (default duration)")), responses((status = 200, description = "The ring's slowest requests", body = super::schemas::SlowDoc), (status = 400, description = "A bad `limit` or `by`", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn slow(State(state): State<AppState>, uri: Uri) -> Response {
    let query = StrictQuery::parse(uri.query());
    let (limit, by) = match query
        .limit("limit", 10, MAX_SLOW_LIMIT)
        .and_then(|l| Ok((l, query.choice("by", &RANKINGS, "duration")?)))
    {
        Ok(v) => v,
        Err(p) => return problem_response(p, &uri),
    };
    let requests = match by {
        "duration" => state.monitor.slowest(limit),
        _ => {
            let key = |r: &vitals::RequestRecord| {
                let ns = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
                match by {
                    "busy" => r.polls.map(|p| ns(p.busy)),
                    "cpu" => r.resources.map(|x| ns(x.cpu)),
                    _ => r.resources.and_then(|x| x.allocated_bytes),
                }
            };
            let mut measured: Vec<_> = state
                .monitor
                .recent()
                .into_iter()
                .filter(|r| key(r).is_some())
                .collect();
            measured.sort_by_key(|r| std::cmp::Reverse(key(r)));
            measured.truncate(limit);
            measured
        }
    };
    Json(json!({
        "limit": limit,
        "by": by,
        "ringCapacity": state.monitor.config().ring_capacity,
        "slowThresholdMs": as_ms(state.monitor.config().slow_threshold),
        "resourcesEvery": state.resources_every,
        "count": requests.len(),
        "requests": requests,
    }))
    .into_response()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RouteWindows {
    route: std::sync::Arc<str>,
    method: vitals::Method,
    last_minute: Option<WindowStats>,
    last_five_minutes: Option<WindowStats>,
    since_start: WindowStats,
    status: vitals::StatusCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<vitals::RouteResources>,
}

/// `GET /health/performance/v2/stats`: overall and per-route figures in every window.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/v2/stats", tag = "performance", security(("operatorToken" = [])), responses((status = 200, description = "Overall and per-route figures", body = super::schemas::StatsV2Doc))))]
pub(crate) async fn stats_v2(State(state): State<AppState>) -> Response {
    let m = &state.monitor;
    let windows: serde_json::Map<String, serde_json::Value> = Window::ALL
        .iter()
        .map(|&w| (w.key().to_owned(), window_json(&state, w, &m.overall(w))))
        .collect();
    let find = |list: &[RouteStats], r: &RouteStats| {
        list.iter()
            .find(|x| x.route == r.route && x.method == r.method)
            .map(|x| x.stats)
    };
    let last = m.route_stats(Window::LastMinute);
    let five = m.route_stats(Window::LastFiveMinutes);
    let mut routes: Vec<RouteWindows> = m
        .route_stats(Window::SinceStart)
        .into_iter()
        .map(|r| RouteWindows {
            last_minute: find(&last, &r),
            last_five_minutes: find(&five, &r),
            route: r.route,
            method: r.method,
            since_start: r.stats,
            status: r.status,
            resources: r.resources,
        })
        .collect();
    routes.sort_by_key(|r| std::cmp::Reverse(r.since_start.count));
    let orgs = m.organizations();
    Json(json!({
        "uptimeSeconds": m.uptime().as_secs_f64(),
        "windows": windows,
        "statusCodes": m.status_counts(Window::SinceStart),
        "routes": routes,
        "organizations": {
            "tracked": orgs.iter().filter(|o| &*o.organization_id != vitals::OVERFLOW).count(),
            "limit": m.config().max_organizations,
        },
        "monitorMemory": m.memory(),
    }))
    .into_response()
}

/// `GET /health/performance/v2/by-organization?organizationId=…`.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/v2/by-organization", tag = "performance", security(("operatorToken" = [])), params(("organizationId" = String, Query, min_length = 1, pattern = "\\S", example = "acme", description = "The tenant (not blank)")), responses((status = 200, description = "The tenant's figures", body = super::schemas::ByOrganizationDoc), (status = 400, description = "`organizationId` missing or blank", body = crate::problem::Problem, content_type = "application/problem+json"), (status = 404, description = "No request recorded for that tenant", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn by_organization(State(state): State<AppState>, uri: Uri) -> Response {
    let query = StrictQuery::parse(uri.query());
    let id = query.get("organizationId").unwrap_or_default();
    if id.trim().is_empty() {
        return problem_response(
            Box::new(
                bad_request("`organizationId` is required")
                    .with_extension("parameter", "organizationId"),
            ),
            &uri,
        );
    }
    let Some(stats) = state.monitor.organization_stats(&id) else {
        let problem = Problem::new(StatusCode::NOT_FOUND)
            .with_detail(format!(
                "no request has been recorded for organization `{id}`"
            ))
            .with_extension("organizationId", &id);
        return problem_response(Box::new(problem), &uri);
    };
    let recent: Vec<_> = state
        .monitor
        .recent()
        .into_iter()
        .rev()
        .filter(|r| r.organization_id.as_deref() == Some(id.as_str()))
        .take(20)
        .collect();
    Json(json!({
        "organizationId": stats.organization_id,
        "windows": {
            "lastMinute": window_json(&state, Window::LastMinute, &stats.last_minute),
            "lastFiveMinutes": window_json(&state, Window::LastFiveMinutes, &stats.last_five_minutes),
            "sinceStart": window_json(&state, Window::SinceStart, &stats.since_start),
        },
        "recentRequests": recent,
    }))
    .into_response()
}

/// `GET /health/performance/v2/slow-paths?limit=5&window=5m&by=duration`: routes by p95,
/// slowest first; `by=busy`: routes by the total busy time of their requests; `by=cpu` /
/// `by=allocated`: routes with measured requests by their total CPU time / their bytes
/// allocated per request (these three since start, whatever the window), highest first.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/health/performance/v2/slow-paths", tag = "performance", security(("operatorToken" = [])), params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many (default 5)"), ("window" = Option<super::schemas::WindowDoc>, Query, description = "Default `all`"), ("by" = Option<super::schemas::RankingDoc>, Query, description = "Ranking (default duration)")), responses((status = 200, description = "Routes, slowest first", body = super::schemas::SlowPathsDoc), (status = 400, description = "A bad `limit`, `window` or `by`", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn slow_paths(State(state): State<AppState>, uri: Uri) -> Response {
    let query = StrictQuery::parse(uri.query());
    let (limit, by) = match query
        .limit("limit", 5, MAX_SLOW_PATHS_LIMIT)
        .and_then(|l| Ok((l, query.choice("by", &RANKINGS, "duration")?)))
    {
        Ok(v) => v,
        Err(p) => return problem_response(p, &uri),
    };
    let window = match query.get("window") {
        None => Window::SinceStart,
        Some(w) => match Window::parse(&w) {
            Some(w) => w,
            None => {
                return problem_response(
                    Box::new(
                        bad_request(&format!("`window` must be one of 1m, 5m, all; got `{w}`"))
                            .with_extension("parameter", "window"),
                    ),
                    &uri,
                );
            }
        },
    };
    let mut routes = state.monitor.route_stats(window);
    let mut ranked = match by {
        "busy" => rank_routes(&routes, busy_rank),
        "cpu" => rank_routes(&routes, cpu_rank),
        "allocated" => rank_routes(&routes, allocation_rank),
        _ => {
            routes.sort_by(|a, b| {
                b.stats
                    .p95
                    .cmp(&a.stats.p95)
                    .then(b.stats.count.cmp(&a.stats.count))
            });
            routes.iter().collect()
        }
    };
    ranked.truncate(limit);
    Json(json!({
        "window": window.key(),
        "limit": limit,
        "by": by,
        "resourcesEvery": state.resources_every,
        "paths": ranked,
    }))
    .into_response()
}
