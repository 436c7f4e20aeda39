//! The OpenAPI 3.1 document of vitals' endpoints, assembled from the handlers'
//! `#[utoipa::path]` annotations (feature `openapi`).
//!
//! Every operation guarded by the operator check carries the `operatorToken` bearer scheme and
//! its 401/403 problem answers; every operation the rate limit does not skip by default may
//! answer 429. Both are added here from the annotations, once, rather than on each handler;
//! operation ids are the handlers' names prefixed `vitals_`.

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{self as oa, Content, RefOr, Response, ResponseBuilder};

#[cfg(feature = "history")]
use super::history;
#[cfg(feature = "notify")]
use super::notifications;
#[cfg(feature = "dashboard")]
use super::{custom, page, stream};
use super::{health, insight, memory, metrics, performance};

/// The name of the operator bearer scheme in `components.securitySchemes`.
pub const OPERATOR_SECURITY_SCHEME: &str = "operatorToken";

#[derive(OpenApi)]
#[openapi(
    paths(
        health::ping,
        health::health,
        health::live,
        health::ready,
        health::startup,
        health::pressure,
        insight::health_check_format,
        health::debug,
        performance::stats_v1,
        performance::summary,
        performance::slow,
        performance::stats_v2,
        performance::by_organization,
        performance::slow_paths,
        memory::system,
        insight::health_score,
        metrics::prometheus,
        metrics::json,
        memory::memory,
        memory::gc_get,
        memory::gc_post,
        insight::dashboard,
    ),
    components(schemas(crate::problem::Problem, super::schemas::WindowDoc)),
    tags(
        (name = "health", description = "Liveness, readiness and dependency checks"),
        (name = "performance", description = "Request figures per window, route and tenant"),
        (name = "metrics", description = "Prometheus exposition, JSON metrics, memory"),
        (name = "dashboard", description = "The live dashboard, its stream and panels"),
    )
)]
struct CoreApi;

#[cfg(feature = "dashboard")]
#[derive(OpenApi)]
#[openapi(
    paths(page::asset, stream::stream, page::organizations, custom::custom),
    components(schemas(super::schemas::AssetDoc))
)]
struct DashboardApi;

#[cfg(feature = "notify")]
#[derive(OpenApi)]
#[openapi(
    paths(notifications::snapshot, notifications::test),
    tags((name = "notifications", description = "Alert notification channels"))
)]
struct NotifyApi;

#[cfg(feature = "history")]
#[derive(OpenApi)]
#[openapi(
    paths(history::history, history::budgets),
    tags((name = "history", description = "History on disk and performance budgets"))
)]
struct HistoryApi;

/// The OpenAPI 3.1 document of every endpoint [`Vitals::router`](crate::Vitals::router)
/// serves with the crate's features as compiled, for an application to merge into its own
/// document (`OpenApi::merge`). Operator endpoints name the `operatorToken` bearer scheme
/// ([`OPERATOR_SECURITY_SCHEME`]); errors are RFC 9457 problem documents.
///
/// ```
/// let doc = vitals_axum::openapi();
/// assert!(doc.paths.paths.contains_key("/health/ping"));
/// let json = doc.to_json().unwrap();
/// assert!(json.contains(r#""openapi":"3.1.0""#));
/// ```
#[must_use]
pub fn openapi() -> oa::OpenApi {
    let mut doc = CoreApi::openapi();
    #[cfg(feature = "dashboard")]
    doc.merge(DashboardApi::openapi());
    #[cfg(feature = "notify")]
    doc.merge(NotifyApi::openapi());
    #[cfg(feature = "history")]
    doc.merge(HistoryApi::openapi());
    doc.info = oa::InfoBuilder::new()
        .title("vitals")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Health, performance, metrics and dashboard endpoints served by vitals-axum.",
        ))
        .build();
    add_common_responses(&mut doc);
    doc
}

fn problem(description: &str) -> RefOr<Response> {
    let content = Content::new(Some(RefOr::Ref(oa::Ref::from_schema_name("Problem"))));
    ResponseBuilder::new()
        .description(description)
        .content(crate::problem::PROBLEM_JSON, content)
        .into()
}

/// Adds the operator scheme with its 401/403 answers, and the rate limit's 429.
fn add_common_responses(doc: &mut oa::OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        OPERATOR_SECURITY_SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The operator token (`VITALS_ADMIN_TOKEN` in the reference server). \
                     Without a configured token, operator endpoints are served only on the \
                     operator listener (`VITALS_OPERATOR_ADDR`), to loopback clients.",
                ))
                .build(),
        ),
    );
    for (path, item) in &mut doc.paths.paths {
        for operation in operations(item) {
            // Unique, and recognisable once merged into an application's document (a handler
            // named `slow` or `health` is likely there too).
            if let Some(id) = operation.operation_id.as_mut() {
                id.insert_str(0, "vitals_");
            }
            let guarded = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let responses = &mut operation.responses.responses;
            if guarded {
                responses
                    .entry("401".to_owned())
                    .or_insert_with(|| problem("No or a wrong operator token"));
                responses.entry("403".to_owned()).or_insert_with(|| {
                    problem(
                        "A cross-site request (foreign `Origin`, `Sec-Fetch-Site`), or in \
                         loopback-only mode: not a loopback client, a forwarded request or a \
                         foreign `Host`",
                    )
                });
            }
            if rate_limited(path) {
                responses
                    .entry("429".to_owned())
                    .or_insert_with(|| problem("Over the rate limit (`Retry-After`)"));
            }
        }
    }
}

/// Whether the rate limit (when the application sets one) applies to `path` by default.
fn rate_limited(path: &str) -> bool {
    #[cfg(feature = "rate-limit")]
    {
        !crate::rate_limit::DEFAULT_SKIPPED_ROUTES.contains(&path)
    }
    #[cfg(not(feature = "rate-limit"))]
    {
        let _ = path;
        false
    }
}

fn operations(item: &mut oa::PathItem) -> impl Iterator<Item = &mut oa::path::Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_operations_carry_the_scheme_and_its_answers() {
        let doc = openapi();
        let debug = doc.paths.paths["/health/debug"].get.as_ref().unwrap();
        assert!(debug.responses.responses.contains_key("401"));
        assert!(debug.responses.responses.contains_key("403"));
        let ping = doc.paths.paths["/health/ping"].get.as_ref().unwrap();
        assert!(ping.security.is_none());
        assert!(!ping.responses.responses.contains_key("401"));
        #[cfg(feature = "rate-limit")]
        {
            assert!(!ping.responses.responses.contains_key("429"));
            assert!(debug.responses.responses.contains_key("429"));
        }
        let json = doc.to_json().unwrap();
        assert!(json.contains(r#""openapi":"3.1.0""#), "{json}");
    }
}
