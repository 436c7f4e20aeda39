//! RFC 9457 problem details (`application/problem+json`).
//!
//! Every error vitals answers (bad query values, unknown organizations, missing auth, shed load)
//! is a [`Problem`]: a JSON object with `type`, `title`, `status` and `detail`, served with the
//! `application/problem+json` media type and the matching HTTP status.
//!
//! # Example
//!
//! ```
//! use axum::response::IntoResponse;
//! use http::StatusCode;
//! use vitals_axum::Problem;
//!
//! let response = Problem::new(StatusCode::BAD_REQUEST)
//!     .with_detail("`limit` must be a positive integer")
//!     .into_response();
//! assert_eq!(response.status(), StatusCode::BAD_REQUEST);
//! assert_eq!(
//!     response.headers()["content-type"],
//!     "application/problem+json"
//! );
//! ```

use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::Serialize;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
///
/// `type` defaults to `about:blank`, in which case `title` is the status code's reason phrase,
/// as the RFC asks. Extension members go in [`Problem::with_extension`].
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    // Members vary by endpoint (`parameter`, `maximum`…): open in the schema.
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    extensions: serde_json::Map<String, serde_json::Value>,
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem of type `about:blank` whose title is the status's reason phrase.
    #[must_use]
    pub fn new(status: StatusCode) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            extensions: serde_json::Map::new(),
            headers: Vec::new(),
        }
    }

    /// Sets a problem type URI (and keeps the title unless [`Problem::with_title`] changes it).
    #[must_use]
    pub fn with_type(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// Sets the short, human-readable summary of the problem type.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the explanation specific to this occurrence.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Sets the URI reference of this occurrence (usually the request path).
    #[must_use]
    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// Adds an extension member. Names should start with a letter and use letters, digits and `_`.
    #[must_use]
    pub fn with_extension(mut self, name: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        self.extensions.insert(name.to_owned(), value);
        self
    }

    /// Adds a response header (for example `Retry-After` or `WWW-Authenticate`).
    #[must_use]
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The HTTP status of the problem.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The detail text, if any.
    #[must_use]
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

/// The answer when a part of vitals needs the client's address and the server does not pass
/// it: a 500 (a wiring error, not the client's) whose detail names the fix. `who` names the
/// part (`the operator auth`).
pub(crate) fn missing_connect_info(who: &str) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(format!(
        "{who} needs the client address, which this server does not pass: serve the app with \
         `into_make_service_with_connect_info::<SocketAddr>()`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_rfc_9457_members() {
        let problem = Problem::new(StatusCode::NOT_FOUND)
            .with_detail("organization `nope` does not exist")
            .with_instance("/api/orgs/nope/properties")
            .with_extension("organizationId", "nope");
        let json = serde_json::to_value(&problem).unwrap();
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["title"], "Not Found");
        assert_eq!(json["status"], 404);
        assert_eq!(json["detail"], "organization `nope` does not exist");
        assert_eq!(json["instance"], "/api/orgs/nope/properties");
        assert_eq!(json["organizationId"], "nope");
    }
}
