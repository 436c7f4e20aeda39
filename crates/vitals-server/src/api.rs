//! The HTTP API of the reference server.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /api/orgs/{orgId}/properties?limit=N&after=ID` | a page of the organization's properties |
//! | `POST /api/orgs/{orgId}/properties` | creates a property (`201` + `Location`) |
//! | `GET /api/orgs/{orgId}/properties/{propertyId}` | one property |
//! | `GET /api/slow?ms=N` | sleeps `N` ms (default 100, capped at 10000); a demo route |
//! | `GET /api/fail?status=N` | a deliberate `N` (400..=599, default 500) problem; a demo route |
//!
//! Every error is an RFC 9457 [`Problem`] (`application/problem+json`): extractor rejections
//! are handled here so that none escapes as axum's plain-text body, and database errors are
//! logged and answered with a generic `500`.
//!
//! Bounds: a request body is at most 16 KiB ([`MAX_BODY_BYTES`], else `413`); the list is
//! paged by id (`limit` 1 to 1,000, default 100; `after` the last id seen; a `Link` header
//! with `rel="next"` while more follow; a bad value is a `400`); an organization holds at most
//! `VITALS_MAX_PROPERTIES_PER_ORG` properties (default 10,000): a `POST` past it is a `409`
//! (the request is valid, the organization's state refuses it, so not a `422`).

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use vitals_axum::Problem;

use crate::db::{self, Db, DbError, FieldError, NewProperty};

/// Default sleep of `/api/slow` when `ms` is absent.
const DEFAULT_SLOW_MS: u64 = 100;
/// Longest sleep `/api/slow` performs.
const MAX_SLOW_MS: u64 = 10_000;
/// Status of `/api/fail` when `status` is absent.
const DEFAULT_FAIL_STATUS: u16 = 500;
/// Largest request body accepted, bytes.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024;
/// Page size of the list when `limit` is absent.
const DEFAULT_PAGE: usize = 100;
/// Largest page of the list.
const MAX_PAGE: usize = 1_000;

/// Shared state of the handlers.
#[derive(Debug, Clone)]
struct ApiState {
    db: Db,
    max_slow_ms: u64,
}

/// The API routes, ready to be merged or nested into the server's router.
pub(crate) fn router(db: Db) -> Router {
    api_routes().with_state(ApiState {
        db,
        max_slow_ms: MAX_SLOW_MS,
    })
}

/// `/api/slow` and `/api/fail`: fault injection (anyone who can call them moves the error rate
/// and latency, and with them alerts), so the server mounts them only as demo routes, behind
/// the operator check (issue 25).
pub(crate) fn demo_router(db: Db) -> Router {
    demo_routes().with_state(ApiState {
        db,
        max_slow_ms: MAX_SLOW_MS,
    })
}

fn api_routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/api/orgs/{orgId}/properties",
            get(list_properties).post(create_property),
        )
        .route(
            "/api/orgs/{orgId}/properties/{propertyId}",
            get(get_property),
        )
        // Read at most this much of a body (a larger one is a 413 problem from the extractor).
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

fn demo_routes() -> Router<ApiState> {
    Router::new()
        .route("/api/slow", get(slow))
        .route("/api/fail", get(fail))
}

#[cfg(test)]
fn build_router(db: Db, max_slow_ms: u64) -> Router {
    api_routes()
        .merge(demo_routes())
        .with_state(ApiState { db, max_slow_ms })
}

/// `GET /api/slow`: how long it slept, and whether the request was capped.
#[derive(utoipa::ToSchema)]
#[schema(as = Slept, rename_all = "camelCase")]
#[allow(dead_code)] // a description: the handler answers a `json!` value
pub(crate) struct SlowDoc {
    slept_ms: u64,
    /// Present when `ms` was over the cap.
    #[schema(nullable = false)]
    requested_ms: Option<u64>,
    #[schema(nullable = false)]
    capped: Option<bool>,
    #[schema(nullable = false)]
    max_ms: Option<u64>,
    #[schema(nullable = false)]
    note: Option<String>,
}

/// A handler's result: the success response or a problem document.
type ApiResult = Result<Response, Problem>;

#[utoipa::path(get, path = "/api/orgs/{orgId}/properties", tag = "api", params(("orgId" = String, Path, description = "Organization id (slug), e.g. `acme`", example = "acme"), ("limit" = Option<String>, Query, pattern = "^[0-9]+$", description = "Page size, 1 to 1000 (default 100)"), ("after" = Option<String>, Query, pattern = "^[0-9]+$", description = "Only properties with an id above this one (the last id of the previous page)")), responses((status = 200, description = "A page of the organization's properties, oldest first; a `Link` header with `rel=\"next\"` while more follow", body = Vec<crate::db::Property>), (status = 400, description = "A path that cannot be decoded, or a bad `limit` or `after`", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 404, description = "No such organization", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 429, description = "Over the rate limit (`Retry-After`)", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 503, description = "Shed under pressure, past the request timeout, or the database breaker is open", body = vitals_axum::Problem, content_type = "application/problem+json")))]
async fn list_properties(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let instance = uri.path();
    let Path(org) = path.map_err(|r| path_problem(&r, instance))?;
    let Query(query) = query.map_err(|r| query_problem(&r, instance))?;
    let bad = |name: &str, raw: &str, rule: &str| {
        Problem::new(StatusCode::BAD_REQUEST)
            .with_detail(format!("`{name}` must be {rule}, got `{raw}`"))
            .with_instance(instance)
            .with_extension("parameter", name)
    };
    let limit = match query.get("limit") {
        None => DEFAULT_PAGE,
        Some(raw) => parse_non_negative(raw)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| bad("limit", raw, "a whole number from 1 to 1000"))?,
    };
    let after = match query.get("after") {
        None => 0,
        Some(raw) => parse_non_negative(raw)
            .and_then(|n| i64::try_from(n).ok())
            .ok_or_else(|| bad("after", raw, "a property id (a whole number, 0 or more)"))?,
    };
    match state.db.list_page(&org, after, limit).await {
        Ok(Some((properties, more))) => {
            let next = properties.last().filter(|_| more).map(|p| p.id);
            let mut response = Json(properties).into_response();
            if let Some(last) = next {
                let link = format!("<{instance}?limit={limit}&after={last}>; rel=\"next\"");
                if let Ok(value) = HeaderValue::try_from(link) {
                    response.headers_mut().insert(header::LINK, value);
                }
            }
            Ok(response)
        }
        Ok(None) => Err(unknown_org(&org, instance)),
        Err(error) => Err(db_problem(&error, instance)),
    }
}

#[utoipa::path(post, path = "/api/orgs/{orgId}/properties", tag = "api", params(("orgId" = String, Path, description = "Organization id (slug), e.g. `acme`", example = "acme")), request_body = crate::db::NewProperty, responses((status = 201, description = "Created", body = crate::db::Property, headers(("location" = String, description = "The new property's URL"))), (status = 400, description = "Malformed JSON, or a path that cannot be decoded", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 404, description = "No such organization", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 413, description = "Body over the size limit (16 KiB)", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 409, description = "The organization holds the most properties allowed", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 415, description = "Not `application/json`", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 422, description = "Missing, mistyped or invalid fields (listed in `errors`)", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 429, description = "Over the rate limit (`Retry-After`)", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 503, description = "Shed under pressure, past the request timeout, or the database breaker is open", body = vitals_axum::Problem, content_type = "application/problem+json")))]
async fn create_property(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult {
    let instance = uri.path();
    let Path(org) = path.map_err(|r| path_problem(&r, instance))?;
    let Json(body) = body.map_err(|r| json_problem(&r, instance))?;
    let new = parse_new_property(&body).map_err(|errors| invalid_body(errors, instance))?;
    match state.db.create_property(&org, new).await {
        Ok(Some(property)) => {
            // Labelled with the request's organization by the registry's tenant attribution.
            metrics::counter!(crate::business::PROPERTIES_CREATED).increment(1);
            let location = format!(
                "/api/orgs/{}/properties/{}",
                property.organization_id, property.id
            );
            let mut response = (StatusCode::CREATED, Json(&property)).into_response();
            if let Ok(value) = HeaderValue::try_from(location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
        Ok(None) => Err(unknown_org(&org, instance)),
        Err(DbError::Validation(errors)) => Err(invalid_body(errors, instance)),
        Err(DbError::Full { limit }) => Err(Problem::new(StatusCode::CONFLICT)
            .with_detail(format!(
                "organization `{org}` holds {limit} properties, the most allowed"
            ))
            .with_instance(instance)
            .with_extension("organizationId", &org)
            .with_extension("limit", limit)),
        Err(error) => Err(db_problem(&error, instance)),
    }
}

#[utoipa::path(get, path = "/api/orgs/{orgId}/properties/{propertyId}", tag = "api", params(("orgId" = String, Path, description = "Organization id (slug), e.g. `acme`", example = "acme"), ("propertyId" = i64, Path, minimum = 1, description = "A positive integer")), responses((status = 200, description = "The property", body = crate::db::Property), (status = 400, description = "`propertyId` is not a positive integer", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 404, description = "No such organization or property", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 429, description = "Over the rate limit (`Retry-After`)", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 503, description = "Shed under pressure, past the request timeout, or the database breaker is open", body = vitals_axum::Problem, content_type = "application/problem+json")))]
async fn get_property(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let instance = uri.path();
    let Path((org, raw_id)) = path.map_err(|r| path_problem(&r, instance))?;
    let Some(id) = parse_positive_id(&raw_id) else {
        return Err(Problem::new(StatusCode::BAD_REQUEST)
            .with_detail(format!(
                "property id `{raw_id}` is not a positive integer (1..={})",
                i64::MAX
            ))
            .with_instance(instance)
            .with_extension("propertyId", &raw_id));
    };
    match state.db.get_property(&org, id).await {
        Ok(Some(property)) => Ok(Json(property).into_response()),
        Ok(None) => match state.db.org_exists(&org).await {
            Ok(false) => Err(unknown_org(&org, instance)),
            Ok(true) => Err(Problem::new(StatusCode::NOT_FOUND)
                .with_detail(format!(
                    "property {id} does not exist in organization `{org}`"
                ))
                .with_instance(instance)
                .with_extension("organizationId", &org)
                .with_extension("propertyId", id)),
            Err(error) => Err(db_problem(&error, instance)),
        },
        Err(error) => Err(db_problem(&error, instance)),
    }
}

#[utoipa::path(get, path = "/api/slow", tag = "api", params(("ms" = Option<String>, Query, pattern = "^[0-9]+$", description = "Milliseconds to sleep (default 100, capped at 10000)")), responses((status = 200, description = "Slept", body = SlowDoc), (status = 400, description = "`ms` is not a non-negative integer", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 429, description = "Over the rate limit (`Retry-After`)", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 503, description = "Shed under pressure, past the request timeout, or the database breaker is open", body = vitals_axum::Problem, content_type = "application/problem+json")))]
async fn slow(
    State(state): State<ApiState>,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> ApiResult {
    let instance = uri.path();
    let Query(params) = query.map_err(|r| query_problem(&r, instance))?;
    let requested = match params.get("ms") {
        None => DEFAULT_SLOW_MS,
        Some(raw) => parse_non_negative(raw).ok_or_else(|| {
            Problem::new(StatusCode::BAD_REQUEST)
                .with_detail(format!(
                    "`ms` must be a non-negative integer number of milliseconds, got `{raw}`"
                ))
                .with_instance(instance)
                .with_extension("parameter", "ms")
        })?,
    };
    let slept = requested.min(state.max_slow_ms);
    tokio::time::sleep(Duration::from_millis(slept)).await;
    let body = if requested > slept {
        json!({
            "sleptMs": slept,
            "requestedMs": requested,
            "capped": true,
            "maxMs": state.max_slow_ms,
            "note": format!(
                "requested {requested} ms exceeds the {} ms cap; slept {slept} ms",
                state.max_slow_ms
            ),
        })
    } else {
        json!({ "sleptMs": slept })
    };
    Ok(Json(body).into_response())
}

#[utoipa::path(get, path = "/api/fail", tag = "api", params(("status" = Option<u16>, Query, minimum = 400, maximum = 599, description = "Status to answer, 400..=599 (default 500)")), responses((status = 400, description = "The requested status, or a bad `status`", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = "4XX", description = "The requested status", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 500, description = "The default deliberate failure", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = "5XX", description = "The requested status", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 429, description = "Over the rate limit (`Retry-After`)", body = vitals_axum::Problem, content_type = "application/problem+json"), (status = 503, description = "Shed under pressure, past the request timeout, or the database breaker is open", body = vitals_axum::Problem, content_type = "application/problem+json")))]
async fn fail(
    OriginalUri(uri): OriginalUri,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Problem {
    let instance = uri.path();
    let params = match query {
        Ok(Query(params)) => params,
        Err(rejection) => return query_problem(&rejection, instance),
    };
    let status = match params.get("status") {
        None => Some(DEFAULT_FAIL_STATUS),
        Some(raw) => parse_non_negative(raw)
            .and_then(|n| u16::try_from(n).ok())
            .filter(|n| (400..=599).contains(n)),
    };
    match status.and_then(|n| StatusCode::from_u16(n).ok()) {
        Some(status) => Problem::new(status)
            .with_detail("deliberate failure")
            .with_instance(instance),
        None => Problem::new(StatusCode::BAD_REQUEST)
            .with_detail(format!(
                "`status` must be an integer between 400 and 599, got `{}`",
                params.get("status").map_or("", String::as_str)
            ))
            .with_instance(instance)
            .with_extension("parameter", "status")
            .with_extension("allowed", json!({ "min": 400, "max": 599 })),
    }
}

/// Parses a decimal integer made of ASCII digits only (no sign, no spaces); values beyond
/// `u64::MAX` saturate.
fn parse_non_negative(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(raw.parse().unwrap_or(u64::MAX))
}

/// Parses a database id: ASCII digits only, 1..=`i64::MAX`.
fn parse_positive_id(raw: &str) -> Option<i64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok().filter(|&id| id > 0)
}

/// Turns a JSON document into a [`NewProperty`], reporting every missing, mistyped or invalid
/// field at once.
fn parse_new_property(body: &Value) -> Result<NewProperty, Vec<FieldError>> {
    let Some(object) = body.as_object() else {
        return Err(vec![FieldError::new(
            "body",
            "must be a JSON object with `name`, `address` and `units`",
        )]);
    };
    let mut errors = Vec::new();
    let mut text = |field: &str, check: fn(&str) -> Result<(), String>| match object.get(field) {
        Some(Value::String(value)) => match check(value) {
            Ok(()) => Some(value.clone()),
            Err(message) => {
                errors.push(FieldError::new(field, message));
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    };
    let name = text("name", db::validate_name);
    let address = text("address", db::validate_address);
    let units = match object.get("units") {
        Some(Value::Number(number)) => {
            // Larger than i64::MAX: a valid integer, but out of range (validation says so).
            // `12.0` is an integer in JSON (and JSON Schema) too: judged by its value (`as`
            // saturates, so a huge one is out of range as well).
            let integer = number
                .as_i64()
                .or_else(|| number.is_u64().then_some(i64::MAX))
                .or_else(|| {
                    number
                        .as_f64()
                        .filter(|f| f.fract() == 0.0)
                        .map(|f| f as i64)
                });
            match integer.map(|units| (units, db::validate_units(units))) {
                Some((units, Ok(()))) => u32::try_from(units).ok(),
                Some((_, Err(message))) => {
                    errors.push(FieldError::new("units", message));
                    None
                }
                None => {
                    errors.push(FieldError::new("units", "must be an integer"));
                    None
                }
            }
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::new("units", "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("units", "must be an integer"));
            None
        }
    };
    match (name, address, units) {
        (Some(name), Some(address), Some(units)) if errors.is_empty() => Ok(NewProperty {
            name,
            address,
            units,
        }),
        _ => Err(errors),
    }
}

fn unknown_org(org: &str, instance: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND)
        .with_detail(format!("organization `{org}` does not exist"))
        .with_instance(instance)
        .with_extension("organizationId", org)
}

fn invalid_body(errors: Vec<FieldError>, instance: &str) -> Problem {
    Problem::new(StatusCode::UNPROCESSABLE_ENTITY)
        .with_detail("the request body has invalid fields")
        .with_instance(instance)
        .with_extension("errors", errors)
}

fn db_problem(error: &DbError, instance: &str) -> Problem {
    if let DbError::Unavailable { retry_after } = error {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail("the database is unavailable (circuit breaker open); retry later")
            .with_instance(instance)
            .with_extension("breaker", "database")
            .with_header(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
    }
    tracing::error!(error = ?error, instance, "database error");
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
        .with_detail("an internal error occurred while accessing the database")
        .with_instance(instance)
}

fn json_problem(rejection: &JsonRejection, instance: &str) -> Problem {
    let detail = match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "the request body must be JSON, sent with `Content-Type: application/json`".to_owned()
        }
        JsonRejection::JsonSyntaxError(_) => {
            format!(
                "the request body is not valid JSON: {}",
                rejection.body_text()
            )
        }
        _ => rejection.body_text(),
    };
    Problem::new(rejection.status())
        .with_detail(detail)
        .with_instance(instance)
}

fn path_problem(rejection: &PathRejection, instance: &str) -> Problem {
    let status = rejection.status();
    if status.is_server_error() {
        tracing::error!(error = %rejection.body_text(), instance, "path extraction failed");
        return Problem::new(status).with_instance(instance);
    }
    Problem::new(status)
        .with_detail(rejection.body_text())
        .with_instance(instance)
}

fn query_problem(rejection: &QueryRejection, instance: &str) -> Problem {
    Problem::new(rejection.status())
        .with_detail(rejection.body_text())
        .with_instance(instance)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::Request;
    use tower::ServiceExt as _;

    use super::*;
    use crate::db::TempDb;

    const PROBLEM_JSON: &str = "application/problem+json";

    struct Answer {
        status: StatusCode,
        content_type: String,
        location: Option<String>,
        body: Value,
        link: Option<String>,
    }

    async fn send(app: Router, request: Request<Body>) -> Answer {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
        };
        let content_type = header(header::CONTENT_TYPE).unwrap_or_default();
        let location = header(header::LOCATION);
        let link = header(header::LINK);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Answer {
            status,
            content_type,
            location,
            link,
            body,
        }
    }

    async fn get_uri(app: Router, uri: &str) -> Answer {
        send(app, Request::get(uri).body(Body::empty()).unwrap()).await
    }

    async fn post(app: Router, uri: &str, content_type: Option<&str>, body: &str) -> Answer {
        let mut request = Request::post(uri);
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        send(app, request.body(Body::from(body.to_owned())).unwrap()).await
    }

    async fn post_json(app: Router, uri: &str, body: &Value) -> Answer {
        post(app, uri, Some("application/json"), &body.to_string()).await
    }

    fn assert_problem(answer: &Answer, status: StatusCode) {
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(answer.content_type, PROBLEM_JSON);
        assert_eq!(answer.body["status"], status.as_u16());
        assert_eq!(answer.body["type"], "about:blank");
        assert!(answer.body["title"].is_string());
    }

    fn error_fields(answer: &Answer) -> Vec<String> {
        answer.body["errors"]
            .as_array()
            .expect("errors array")
            .iter()
            .map(|e| {
                assert!(e["message"].is_string());
                e["field"].as_str().unwrap().to_owned()
            })
            .collect()
    }

    #[tokio::test]
    async fn list_returns_the_orgs_properties() {
        let temp = TempDb::new();
        let answer = get_uri(router(temp.db.clone()), "/api/orgs/acme/properties").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type, "application/json");
        let properties = answer.body.as_array().unwrap();
        assert_eq!(properties.len(), 3);
        for property in properties {
            assert_eq!(property["organizationId"], "acme");
            assert!(property["id"].is_i64());
            assert!(property["name"].is_string());
            assert!(property["address"].is_string());
            assert!(property["units"].is_u64());
            assert!(property["createdAt"].is_string());
        }
    }

    #[tokio::test]
    async fn the_list_is_paged_by_id_with_a_next_link_and_bad_paging_is_400() {
        let temp = TempDb::new();
        for i in 0..5 {
            let new = json!({"name": format!("Extra {i}"), "address": "1 Main St", "units": 4});
            let created =
                post_json(router(temp.db.clone()), "/api/orgs/acme/properties", &new).await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        }
        let all = get_uri(router(temp.db.clone()), "/api/orgs/acme/properties").await;
        assert_eq!(
            all.body.as_array().unwrap().len(),
            8,
            "default page of 100 holds all"
        );
        assert!(all.link.is_none());
        let ids: Vec<i64> = all
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        let mut uri = "/api/orgs/acme/properties?limit=3".to_owned();
        let mut seen = Vec::new();
        for expected in [3, 3, 2] {
            let page = get_uri(router(temp.db.clone()), &uri).await;
            assert_eq!(page.status, StatusCode::OK);
            let items = page.body.as_array().unwrap();
            assert_eq!(items.len(), expected);
            seen.extend(items.iter().map(|p| p["id"].as_i64().unwrap()));
            match page.link {
                Some(link) => {
                    let last = seen.last().unwrap();
                    assert_eq!(
                        link,
                        format!("</api/orgs/acme/properties?limit=3&after={last}>; rel=\"next\"")
                    );
                    uri = link
                        .trim_start_matches('<')
                        .split('>')
                        .next()
                        .unwrap()
                        .to_owned();
                }
                None => assert_eq!(expected, 2, "only the last page has no next link"),
            }
        }
        assert_eq!(seen, ids);
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=x",
            "limit=-1",
            "after=x",
            "after=99999999999999999999",
            "limit=",
        ] {
            let answer = get_uri(
                router(temp.db.clone()),
                &format!("/api/orgs/acme/properties?{bad}"),
            )
            .await;
            assert_problem(&answer, StatusCode::BAD_REQUEST);
            let name = bad.split('=').next().unwrap();
            assert_eq!(answer.body["parameter"], name, "{bad}");
        }
        let max = get_uri(
            router(temp.db.clone()),
            "/api/orgs/acme/properties?limit=1000&after=0",
        )
        .await;
        assert_eq!(max.status, StatusCode::OK);
    }

    #[tokio::test]
    async fn a_body_over_16_kib_is_413_problem_json() {
        let temp = TempDb::new();
        let name = "x".repeat(MAX_BODY_BYTES);
        let body = json!({"name": name, "address": "1 Main St", "units": 4}).to_string();
        let answer = post(
            router(temp.db.clone()),
            "/api/orgs/acme/properties",
            Some("application/json"),
            &body,
        )
        .await;
        assert_problem(&answer, StatusCode::PAYLOAD_TOO_LARGE);
        let list = get_uri(router(temp.db.clone()), "/api/orgs/acme/properties").await;
        assert_eq!(list.body.as_array().unwrap().len(), 3, "nothing written");
    }

    #[tokio::test]
    async fn an_organization_at_its_cap_answers_409_and_writes_nothing() {
        let temp = TempDb::new();
        let db = temp.db.clone().with_max_per_org(4);
        let new = json!({"name": "One more", "address": "1 Main St", "units": 4});
        let created = post_json(router(db.clone()), "/api/orgs/acme/properties", &new).await;
        assert_eq!(created.status, StatusCode::CREATED);
        let refused = post_json(router(db.clone()), "/api/orgs/acme/properties", &new).await;
        assert_problem(&refused, StatusCode::CONFLICT);
        assert_eq!(refused.body["limit"], 4);
        assert_eq!(refused.body["organizationId"], "acme");
        let list = get_uri(router(db.clone()), "/api/orgs/acme/properties").await;
        assert_eq!(list.body.as_array().unwrap().len(), 4);
        // Another organization has room of its own.
        let other = post_json(router(db), "/api/orgs/globex/properties", &new).await;
        assert_eq!(other.status, StatusCode::CREATED);
    }

    #[tokio::test]
    async fn list_unknown_org_is_404() {
        let temp = TempDb::new();
        let answer = get_uri(router(temp.db.clone()), "/api/orgs/nope/properties").await;
        assert_problem(&answer, StatusCode::NOT_FOUND);
        assert_eq!(answer.body["organizationId"], "nope");
        assert!(answer.body["detail"].as_str().unwrap().contains("nope"));
        assert_eq!(answer.body["instance"], "/api/orgs/nope/properties");
    }

    #[tokio::test]
    async fn create_returns_201_with_location_then_get_finds_it() {
        let temp = TempDb::new();
        let app = router(temp.db.clone());
        let answer = post_json(
            app.clone(),
            "/api/orgs/initech/properties",
            &json!({ "name": " Penthouse ", "address": "1 Top Floor", "units": 2 }),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.content_type, "application/json");
        assert_eq!(answer.body["organizationId"], "initech");
        assert_eq!(answer.body["name"], "Penthouse");
        assert_eq!(answer.body["address"], "1 Top Floor");
        assert_eq!(answer.body["units"], 2);
        assert!(answer.body["createdAt"].is_string());
        let id = answer.body["id"].as_i64().unwrap();
        let location = answer.location.clone().expect("Location header");
        assert_eq!(location, format!("/api/orgs/initech/properties/{id}"));

        let fetched = get_uri(app.clone(), &location).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.body, answer.body);
        let listed = get_uri(app, "/api/orgs/initech/properties").await;
        assert_eq!(listed.body.as_array().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn create_in_unknown_org_is_404() {
        let temp = TempDb::new();
        let answer = post_json(
            router(temp.db.clone()),
            "/api/orgs/nope/properties",
            &json!({ "name": "A", "address": "B", "units": 1 }),
        )
        .await;
        assert_problem(&answer, StatusCode::NOT_FOUND);
        assert_eq!(answer.body["organizationId"], "nope");
    }

    #[tokio::test]
    async fn create_with_malformed_json_is_400() {
        let temp = TempDb::new();
        for body in ["{\"name\": ", "not json", ""] {
            let answer = post(
                router(temp.db.clone()),
                "/api/orgs/acme/properties",
                Some("application/json"),
                body,
            )
            .await;
            assert_problem(&answer, StatusCode::BAD_REQUEST);
            assert!(answer.body["detail"].as_str().unwrap().contains("JSON"));
        }
    }

    #[tokio::test]
    async fn create_with_wrong_content_type_is_415() {
        let temp = TempDb::new();
        let body = r#"{"name":"A","address":"B","units":1}"#;
        for content_type in [Some("text/plain"), None] {
            let answer = post(
                router(temp.db.clone()),
                "/api/orgs/acme/properties",
                content_type,
                body,
            )
            .await;
            assert_problem(&answer, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert!(
                answer.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("application/json")
            );
        }
    }

    #[tokio::test]
    async fn create_with_missing_or_mistyped_fields_is_422() {
        let temp = TempDb::new();
        let app = router(temp.db.clone());
        let answer = post_json(
            app.clone(),
            "/api/orgs/acme/properties",
            &json!({ "address": 7, "units": "ten" }),
        )
        .await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&answer), ["name", "address", "units"]);
        assert_eq!(answer.body["errors"][0]["field"], "name");
        assert_eq!(answer.body["errors"][0]["message"], "is required");
        assert_eq!(answer.body["errors"][1]["message"], "must be a string");
        assert_eq!(answer.body["errors"][2]["message"], "must be an integer");

        let answer = post_json(app, "/api/orgs/acme/properties", &json!([1, 2])).await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer.body["errors"][0]["field"], "body");
    }

    #[tokio::test]
    async fn create_failing_validation_is_422_and_writes_nothing() {
        let temp = TempDb::new();
        let app = router(temp.db.clone());
        let answer = post_json(
            app.clone(),
            "/api/orgs/acme/properties",
            &json!({ "name": "   ", "address": "x".repeat(501), "units": 0 }),
        )
        .await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(error_fields(&answer), ["name", "address", "units"]);
        assert_eq!(answer.body["errors"][0]["message"], "must not be empty");

        for units in [
            json!(-1),
            json!(100_001),
            json!(1.5),
            json!(u64::MAX),
            json!(0.0),
            json!(1e30),
        ] {
            let answer = post_json(
                app.clone(),
                "/api/orgs/acme/properties",
                &json!({ "name": "A", "address": "B", "units": units }),
            )
            .await;
            assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
            assert_eq!(error_fields(&answer), ["units"], "units = {units}");
        }
        let listed = get_uri(app, "/api/orgs/acme/properties").await;
        assert_eq!(listed.body.as_array().unwrap().len(), 3);
    }

    #[tokio::test]
    async fn create_accepts_an_integer_written_with_a_zero_fraction() {
        // `12.0` is an integer in JSON Schema; schemathesis sent one and got a 422.
        let temp = TempDb::new();
        let answer = post_json(
            router(temp.db.clone()),
            "/api/orgs/acme/properties",
            &json!({ "name": "A", "address": "B", "units": 12.0 }),
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        assert_eq!(answer.body["units"], 12);
    }

    #[tokio::test]
    async fn get_returns_one_property() {
        let temp = TempDb::new();
        let app = router(temp.db.clone());
        let listed = get_uri(app.clone(), "/api/orgs/globex/properties").await;
        let first = listed.body[0].clone();
        let id = first["id"].as_i64().unwrap();
        let answer = get_uri(app, &format!("/api/orgs/globex/properties/{id}")).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type, "application/json");
        assert_eq!(answer.body, first);
    }

    #[tokio::test]
    async fn get_with_invalid_id_is_400() {
        let temp = TempDb::new();
        for id in ["abc", "0", "-1", "+1", "1.5", "99999999999999999999", "%20"] {
            let answer = get_uri(
                router(temp.db.clone()),
                &format!("/api/orgs/acme/properties/{id}"),
            )
            .await;
            assert_problem(&answer, StatusCode::BAD_REQUEST);
            assert!(
                answer.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("positive integer"),
                "{id}"
            );
        }
    }

    #[tokio::test]
    async fn get_unknown_org_or_property_is_404() {
        let temp = TempDb::new();
        let app = router(temp.db.clone());
        let answer = get_uri(app.clone(), "/api/orgs/nope/properties/1").await;
        assert_problem(&answer, StatusCode::NOT_FOUND);
        assert_eq!(answer.body["organizationId"], "nope");
        assert!(answer.body["detail"].as_str().unwrap().contains("nope"));

        let answer = get_uri(app.clone(), "/api/orgs/acme/properties/999999").await;
        assert_problem(&answer, StatusCode::NOT_FOUND);
        assert_eq!(answer.body["organizationId"], "acme");
        assert_eq!(answer.body["propertyId"], 999_999);

        // A property of another organization is not visible.
        let globex = get_uri(app.clone(), "/api/orgs/globex/properties").await;
        let id = globex.body[0]["id"].as_i64().unwrap();
        let answer = get_uri(app, &format!("/api/orgs/acme/properties/{id}")).await;
        assert_problem(&answer, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn slow_sleeps_requested_or_default_ms() {
        let temp = TempDb::new();
        let started = std::time::Instant::now();
        let answer = get_uri(build_router(temp.db.clone(), MAX_SLOW_MS), "/api/slow").await;
        assert!(started.elapsed() >= Duration::from_millis(DEFAULT_SLOW_MS));
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type, "application/json");
        assert_eq!(answer.body, json!({ "sleptMs": 100 }));

        let started = std::time::Instant::now();
        let answer = get_uri(
            build_router(temp.db.clone(), MAX_SLOW_MS),
            "/api/slow?ms=30",
        )
        .await;
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, json!({ "sleptMs": 30 }));
    }

    #[tokio::test]
    async fn slow_clamps_to_the_cap_and_says_so() {
        let temp = TempDb::new();
        // Same handler, with a 20 ms cap instead of 10 s so the test stays fast.
        let app = build_router(temp.db.clone(), 20);
        let answer = get_uri(app, "/api/slow?ms=20000").await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.content_type, "application/json");
        assert_eq!(answer.body["sleptMs"], 20);
        assert_eq!(answer.body["requestedMs"], 20_000);
        assert_eq!(answer.body["capped"], true);
        assert_eq!(answer.body["maxMs"], 20);
        assert!(answer.body["note"].as_str().unwrap().contains("cap"));
    }

    #[tokio::test]
    async fn slow_with_invalid_ms_is_400() {
        let temp = TempDb::new();
        for query in ["ms=abc", "ms=-5", "ms=1.5", "ms=", "ms=%FF"] {
            let answer = get_uri(
                build_router(temp.db.clone(), MAX_SLOW_MS),
                &format!("/api/slow?{query}"),
            )
            .await;
            assert_problem(&answer, StatusCode::BAD_REQUEST);
            assert!(
                answer.body["detail"].as_str().unwrap().contains("ms"),
                "{query}"
            );
        }
    }

    #[tokio::test]
    async fn fail_answers_the_requested_status() {
        let temp = TempDb::new();
        for status in [400_u16, 404, 418, 503, 599] {
            let answer = get_uri(
                build_router(temp.db.clone(), MAX_SLOW_MS),
                &format!("/api/fail?status={status}"),
            )
            .await;
            assert_problem(&answer, StatusCode::from_u16(status).unwrap());
            assert_eq!(answer.body["detail"], "deliberate failure");
        }
    }

    #[tokio::test]
    async fn fail_defaults_to_500() {
        let temp = TempDb::new();
        let answer = get_uri(build_router(temp.db.clone(), MAX_SLOW_MS), "/api/fail").await;
        assert_problem(&answer, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.body["detail"], "deliberate failure");
    }

    #[tokio::test]
    async fn fail_with_invalid_status_is_400() {
        let temp = TempDb::new();
        for query in [
            "status=399",
            "status=600",
            "status=abc",
            "status=-500",
            "status=70000",
        ] {
            let answer = get_uri(
                build_router(temp.db.clone(), MAX_SLOW_MS),
                &format!("/api/fail?{query}"),
            )
            .await;
            assert_problem(&answer, StatusCode::BAD_REQUEST);
            assert!(
                answer.body["detail"]
                    .as_str()
                    .unwrap()
                    .contains("between 400 and 599"),
                "{query}"
            );
            assert_eq!(answer.body["allowed"], json!({ "min": 400, "max": 599 }));
        }
    }

    #[tokio::test]
    async fn database_errors_are_generic_500s() {
        let temp = TempDb::new();
        // Break the schema behind the server's back.
        let connection = rusqlite::Connection::open(&temp.path).unwrap();
        connection.busy_timeout(Duration::from_secs(5)).unwrap();
        connection.execute_batch("DROP TABLE properties").unwrap();
        drop(connection);

        let answer = get_uri(
            build_router(temp.db.clone(), MAX_SLOW_MS),
            "/api/orgs/acme/properties",
        )
        .await;
        assert_problem(&answer, StatusCode::INTERNAL_SERVER_ERROR);
        let detail = answer.body["detail"].as_str().unwrap();
        assert!(detail.contains("internal error"), "{detail}");
        let text = answer.body.to_string();
        assert!(
            !text.contains("SELECT") && !text.contains("no such table"),
            "{text}"
        );
        assert!(!text.contains(temp.path.to_str().unwrap()), "{text}");
    }
}
