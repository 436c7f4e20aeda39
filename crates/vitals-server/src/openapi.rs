//! The reference server's OpenAPI 3.1 document: its API (the `#[utoipa::path]` annotations in
//! `api.rs`) merged with vitals' own ([`vitals_axum::openapi`]), served at `GET /openapi.json`
//! to operators and committed as `docs/openapi.json`.
//!
//! Two documents, one per listener: [`Which::Public`] (`docs/openapi.json`: what the public
//! listener serves with `VITALS_ADMIN_TOKEN` set; without a token, only its operations without
//! `security`) and [`Which::Operator`] (`docs/openapi-operator.json`: the operator listener's,
//! the same without the `/api/` paths).
//!
//! The demo routes (`VITALS_DEMO=1`, `/api/slow` and `/api/fail` among them) are left out: they
//! are off by default, and fuzzing them (a database fault, a 512 MiB hold, a blocked worker)
//! would break the service under test.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderValue, header};
use utoipa::OpenApi;
use vitals_axum::OperatorAuth;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    paths(
        api::list_properties,
        api::create_property,
        api::get_property,
        openapi_json,
    ),
    tags(
        (name = "api", description = "The reference server's multi-tenant API"),
        (name = "meta", description = "This document"),
    )
)]
struct ServerApi;

/// Which listener's document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    /// The public listener's (with a token): the API and every vitals endpoint.
    Public,
    /// The operator listener's: vitals' endpoints and this document, no API.
    Operator,
}

/// The document of `which` listener.
pub(crate) fn document_of(which: Which) -> utoipa::openapi::OpenApi {
    let mut doc = document();
    if which == Which::Operator {
        doc.paths.paths.retain(|path, _| !path.starts_with("/api/"));
        doc.info.title = "vitals-server (operator listener)".to_owned();
    }
    doc
}

/// The whole document: the server's API, then vitals' endpoints.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ServerApi::openapi();
    doc.merge(vitals_axum::openapi());
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("vitals-server")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The vitals reference server: a small multi-tenant API on SQLite, and every \
             vitals endpoint. Errors are RFC 9457 problem documents.",
        ))
        .license(Some(
            utoipa::openapi::LicenseBuilder::new()
                .name("MIT OR Apache-2.0")
                .identifier(Some("MIT OR Apache-2.0"))
                .build(),
        ))
        .build();
    doc
}

/// The document as committed in `docs/openapi.json` (pretty, with a final newline).
pub(crate) fn document_json() -> String {
    document_json_of(Which::Public)
}

/// `which` listener's document as committed (pretty, with a final newline).
pub(crate) fn document_json_of(which: Which) -> String {
    let mut json = document_of(which)
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// `GET /openapi.json`: this document (operator-only).
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    security(("operatorToken" = [])),
    responses(
        (status = 200, description = "The OpenAPI 3.1 document", body = Object),
        (status = 401, description = "No or a wrong operator token", body = vitals_axum::Problem, content_type = "application/problem+json"),
        (status = 403, description = "A cross-site request (foreign `Origin`, `Sec-Fetch-Site`), or in loopback-only mode: not a loopback client, a forwarded request or a foreign `Host`", body = vitals_axum::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over the rate limit (`Retry-After`)", body = vitals_axum::Problem, content_type = "application/problem+json"),
    )
)]
async fn openapi_json() -> Response {
    static DOCUMENT: LazyLock<String> = LazyLock::new(document_json);
    serve_document(DOCUMENT.as_str())
}

async fn openapi_json_operator() -> Response {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| document_json_of(Which::Operator));
    serve_document(DOCUMENT.as_str())
}

fn serve_document(document: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document,
    )
        .into_response()
}

/// `GET /openapi.json` (`which` listener's document) behind the operator check.
pub(crate) fn router(auth: OperatorAuth, which: Which) -> Router {
    let handler = match which {
        Which::Public => get(openapi_json),
        Which::Operator => get(openapi_json_operator),
    };
    Router::new()
        .route("/openapi.json", handler)
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
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// `docs/openapi.json` is the document the code generates; `UPDATE_OPENAPI=1 cargo test -p
    /// vitals-server openapi` rewrites it.
    #[test]
    fn committed_document_is_current() {
        for (file, which) in [
            ("openapi.json", Which::Public),
            ("openapi-operator.json", Which::Operator),
        ] {
            let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs")
                .join(file);
            let generated = document_json_of(which);
            if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
                std::fs::write(&path, &generated).expect("writing the document");
                continue;
            }
            let committed = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                committed == generated,
                "docs/{file} is out of date: run `UPDATE_OPENAPI=1 cargo test -p vitals-server \
                 openapi` and commit it"
            );
        }
    }

    #[test]
    fn every_route_is_documented_once_with_problem_errors() {
        let doc = document();
        let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        for expected in [
            "/api/orgs/{orgId}/properties",
            "/api/orgs/{orgId}/properties/{propertyId}",
            "/openapi.json",
            "/health/live",
            "/health/ready",
            "/health/startup",
            "/health",
            "/metrics",
            "/metrics/history",
            "/metrics/notifications/test",
            "/metrics/dashboard/stream",
        ] {
            assert!(paths.contains(&expected), "{expected} missing: {paths:?}");
        }
        assert!(!paths.iter().any(|p| p.starts_with("/api/demo")));
        assert!(!paths.contains(&"/api/slow") && !paths.contains(&"/api/fail"));
        let operator = document_of(Which::Operator);
        assert!(!operator.paths.paths.keys().any(|p| p.starts_with("/api/")));
        assert!(operator.paths.paths.contains_key("/metrics"));
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        assert_eq!(
            json["components"]["securitySchemes"]["operatorToken"]["scheme"],
            "bearer"
        );
        // Operation ids are unique.
        let mut ids: Vec<&str> = json["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap())
            .collect();
        let operations = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), operations, "duplicate operationId: {ids:?}");
        // Every reference resolves.
        let text = json.to_string();
        for reference in text.split(r##""$ref":"#/components/schemas/"##).skip(1) {
            let name = &reference[..reference.find('"').unwrap()];
            assert!(
                json["components"]["schemas"][name].is_object(),
                "dangling $ref to {name}"
            );
        }
        // Every 4xx is a problem document.
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    if status.starts_with('4') {
                        assert!(
                            response["content"]["application/problem+json"].is_object(),
                            "{method} {path} {status}: {response}"
                        );
                    }
                }
            }
        }
    }
}
