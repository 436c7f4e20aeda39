//! The operator-only router: every route behind [`OperatorAuth`], all answers built off the
//! request path (profiles and dumps on blocking threads).

use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderValue, StatusCode, Uri, header};
use vitals_axum::Problem;

use crate::cpu::{CpuError, CpuFormat};
use crate::diagnostics::Diagnostics;
use crate::heap::HeapError;
use crate::loggers::LoggerError;

/// Go's default length of a CPU profile.
const DEFAULT_SECONDS: u64 = 30;

fn bad_request(uri: &Uri, detail: impl Into<String>) -> Response {
    Problem::new(StatusCode::BAD_REQUEST)
        .with_detail(detail)
        .with_instance(uri.path())
        .into_response()
}

/// Strict query: only `allowed` names, each at most once.
fn query(uri: &Uri, allowed: &[&str]) -> Result<Vec<(String, String)>, Box<Response>> {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if !allowed.contains(&k.as_ref()) {
            return Err(Box::new(bad_request(
                uri,
                format!(
                    "unknown parameter `{}` (allowed: {})",
                    k.chars().take(40).collect::<String>(),
                    allowed.join(", ")
                ),
            )));
        }
        if seen.iter().any(|(s, _)| *s == k) {
            return Err(Box::new(bad_request(
                uri,
                format!("parameter `{k}` given twice"),
            )));
        }
        seen.push((k.into_owned(), v.into_owned()));
    }
    Ok(seen)
}

fn attachment(content_type: &'static str, file: &str, body: Vec<u8>) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn cpu_profile(State(d): State<Diagnostics>, uri: Uri) -> Response {
    let params = match query(&uri, &["seconds", "format"]) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let cap = d.cpu().seconds_cap();
    let mut seconds = DEFAULT_SECONDS.min(cap);
    let mut format = CpuFormat::Pprof;
    for (k, v) in params {
        match k.as_str() {
            "seconds" => match v.trim().parse::<u64>() {
                Ok(n) if (1..=cap).contains(&n) => seconds = n,
                _ => {
                    return bad_request(
                        &uri,
                        format!(
                            "`seconds` must be an integer from 1 to {cap}, got `{}`",
                            v.chars().take(20).collect::<String>()
                        ),
                    );
                }
            },
            _ => {
                format = match v.as_str() {
                    "pprof" | "proto" => CpuFormat::Pprof,
                    "svg" if cfg!(feature = "flamegraph") => CpuFormat::Svg,
                    _ => {
                        return bad_request(
                            &uri,
                            "`format` is `pprof` (default) or `svg` (with feature `flamegraph`)",
                        );
                    }
                }
            }
        }
    }
    match d.cpu().profile(Duration::from_secs(seconds), format).await {
        Ok(bytes) => {
            let mut res = match format {
                CpuFormat::Pprof => attachment("application/octet-stream", "profile.pb.gz", bytes),
                CpuFormat::Svg => {
                    let mut r = bytes.into_response();
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("image/svg+xml"),
                    );
                    r
                }
            };
            res.headers_mut().insert(
                "x-sample-rate-hz",
                HeaderValue::from(d.cpu().frequency_hz()),
            );
            res
        }
        Err(CpuError::Busy) => Problem::new(StatusCode::CONFLICT)
            .with_detail("a CPU profile is already running; one at a time: retry when it ends")
            .with_instance(uri.path())
            .into_response(),
        Err(e @ CpuError::NotBuilt) => Problem::new(StatusCode::NOT_IMPLEMENTED)
            .with_detail(e.to_string())
            .with_instance(uri.path())
            .into_response(),
        Err(e @ CpuError::Failed(_)) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail(e.to_string())
            .with_instance(uri.path())
            .into_response(),
    }
}

async fn heap_profile(uri: Uri) -> Response {
    if let Err(r) = query(&uri, &[]) {
        return *r;
    }
    let result = tokio::task::spawn_blocking(crate::heap::heap_profile).await;
    match result {
        Ok(Ok(bytes)) => attachment("application/octet-stream", "heap.pb.gz", bytes),
        Ok(Err(e)) => {
            let status = match e {
                HeapError::NotBuilt => StatusCode::NOT_IMPLEMENTED,
                HeapError::Off(_) => StatusCode::SERVICE_UNAVAILABLE,
                HeapError::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            };
            Problem::new(status)
                .with_detail(e.to_string())
                .with_instance(uri.path())
                .into_response()
        }
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR)
            .with_detail(format!("the heap profile failed: {e}"))
            .into_response(),
    }
}

async fn tasks(State(d): State<Diagnostics>, uri: Uri) -> Response {
    if let Err(r) = query(&uri, &[]) {
        return *r;
    }
    Json(crate::tasks::task_dump_json(d.in_flight()).await).into_response()
}

async fn info(State(d): State<Diagnostics>) -> Response {
    Json(d.build_info().json()).into_response()
}

fn no_loggers(uri: &Uri) -> Response {
    Problem::new(StatusCode::NOT_IMPLEMENTED)
        .with_detail("log levels cannot be changed: the service installed no reloadable filter (vitals_diag::Loggers::layer)")
        .with_instance(uri.path())
        .into_response()
}

async fn loggers(State(d): State<Diagnostics>, uri: Uri) -> Response {
    match d.loggers() {
        Some(l) => Json(l.json()).into_response(),
        None => no_loggers(&uri),
    }
}

async fn logger(State(d): State<Diagnostics>, Path(name): Path<String>, uri: Uri) -> Response {
    match d.loggers() {
        Some(l) if name == crate::loggers::ROOT || name.len() <= 200 => {
            Json(l.logger_json(&name)).into_response()
        }
        Some(_) => bad_request(&uri, "a logger name is at most 200 bytes"),
        None => no_loggers(&uri),
    }
}

/// `POST /loggers/{name}` body: `{"configuredLevel": "DEBUG" | null, "expiresInSeconds": N}`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetLevel {
    configured_level: Option<String>,
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

async fn set_logger(
    State(d): State<Diagnostics>,
    Path(name): Path<String>,
    uri: Uri,
    body: axum::body::Bytes,
) -> Response {
    let Some(l) = d.loggers() else {
        return no_loggers(&uri);
    };
    let req: SetLevel = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return bad_request(
                &uri,
                format!(
                    "the body is {{\"configuredLevel\": \"DEBUG\" | null, \"expiresInSeconds\"?: N}}: {e}"
                ),
            );
        }
    };
    let expires = req.expires_in_seconds.map(Duration::from_secs);
    match l.set(&name, req.configured_level.as_deref(), expires) {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let status = match e {
                LoggerError::TooMany => StatusCode::CONFLICT,
                LoggerError::Reload(_) => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            };
            Problem::new(status)
                .with_detail(e.to_string())
                .with_instance(uri.path())
                .into_response()
        }
    }
}

fn no_store(uri: &Uri) -> Response {
    Problem::new(StatusCode::NOT_FOUND)
        .with_detail("no artifact store: capture on alert is not configured")
        .with_instance(uri.path())
        .into_response()
}

async fn artifacts(State(d): State<Diagnostics>, uri: Uri) -> Response {
    match d.artifacts() {
        Some(s) => Json(s.json()).into_response(),
        None => no_store(&uri),
    }
}

async fn artifact(State(d): State<Diagnostics>, Path(id): Path<String>, uri: Uri) -> Response {
    let Some(store) = d.artifacts() else {
        return no_store(&uri);
    };
    let found = tokio::task::spawn_blocking(move || store.get(&id))
        .await
        .ok()
        .flatten();
    match found {
        Some((a, Some(bytes))) => {
            let ext = if a.kind == "tasks" { "json" } else { "pb.gz" };
            attachment(a.content_type(), &format!("{}.{ext}", a.id), bytes)
        }
        Some((a, None)) if a.status == "capturing" => Problem::new(StatusCode::SERVICE_UNAVAILABLE)
            .with_detail("the artifact is still being captured")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("2"))
            .with_instance(uri.path())
            .into_response(),
        Some((a, None)) => Problem::new(StatusCode::GONE)
            .with_detail(format!(
                "the capture failed: {}",
                a.error.as_deref().unwrap_or("its file is gone")
            ))
            .with_instance(uri.path())
            .into_response(),
        None => Problem::new(StatusCode::NOT_FOUND)
            .with_detail("no such artifact (evicted, or never captured)")
            .with_instance(uri.path())
            .into_response(),
    }
}

/// The router (see [`Diagnostics::router`]).
pub(crate) fn router(d: Diagnostics) -> Router {
    let auth = d.auth().clone();
    Router::new()
        .route("/debug/pprof/profile", get(cpu_profile))
        .route("/debug/pprof/heap", get(heap_profile))
        .route("/debug/tasks", get(tasks))
        .route("/debug/artifacts", get(artifacts))
        .route("/debug/artifacts/{id}", get(artifact))
        .route("/info", get(info))
        .route("/loggers", get(loggers))
        .route("/loggers/{name}", get(logger).post(set_logger))
        .route_layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let auth = auth.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    if let Err(problem) = auth.check(&parts) {
                        return problem.with_instance(parts.uri.path()).into_response();
                    }
                    next.run(Request::from_parts(parts, body)).await
                }
            },
        ))
        .with_state(d)
}

impl Diagnostics {
    /// The operator-only routes: `GET /debug/pprof/profile`, `GET /debug/pprof/heap`,
    /// `GET /debug/tasks`, `GET /debug/artifacts`, `GET /debug/artifacts/{id}`, `GET /info`,
    /// `GET /loggers`, `GET|POST /loggers/{name}`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        router(self.clone()).with_state(())
    }

    /// `app` with these routes merged and every route registered in flight (the one line a
    /// server needs): the in-flight layer goes on the routes `app` has, so call it last.
    pub fn mount(&self, app: axum::Router) -> axum::Router {
        app.layer(self.in_flight().layer()).merge(self.router())
    }
}
