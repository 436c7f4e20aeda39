//! `GET /metrics/notifications` and `POST /metrics/notifications/test` (operator-only).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Map, Value, json};

use crate::notifications::Delivery;
use crate::problem::Problem;
use crate::shared::AppState;

/// The configured delivery, when it has at least one channel.
fn configured(state: &AppState) -> Option<&Delivery> {
    state.notify.as_ref().filter(|d| !d.notifier.is_empty())
}

/// `snake_case` keys to camelCase, recursively, so this endpoint reads like the others.
fn camel_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut out = String::with_capacity(k.len());
                    let mut upper = false;
                    for c in k.chars() {
                        if c == '_' {
                            upper = true;
                        } else if upper {
                            out.extend(c.to_uppercase());
                            upper = false;
                        } else {
                            out.push(c);
                        }
                    }
                    (out, camel_keys(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(camel_keys).collect()),
        other => other,
    }
}

/// `GET /metrics/notifications`: every channel's counters, queue depth, last success, last
/// error and recent dead letters (`channels` empty when none is configured). Channel names
/// show scheme and host only; no secret is in it.
#[cfg_attr(feature = "openapi", utoipa::path(get, path = "/metrics/notifications", tag = "notifications", security(("operatorToken" = [])), responses((status = 200, description = "Channels and delivery state", body = super::schemas::NotificationsDoc))))]
pub(crate) async fn snapshot(State(state): State<AppState>) -> Response {
    let channels = configured(&state).map_or_else(
        || json!({ "channels": [] }),
        |d| serde_json::to_value(d.notifier.snapshot()).unwrap_or(Value::Null),
    );
    let mut body = camel_keys(channels);
    body["configured"] = json!(configured(&state).is_some());
    Json(body).into_response()
}

/// `POST /metrics/notifications/test`: queues a test notification (severity info) to every
/// channel; 202 `{"queued": n, "channels": m}`, or 409 problem+json when no channel is
/// configured (the request is valid, the server's configuration cannot serve it).
#[cfg_attr(feature = "openapi", utoipa::path(post, path = "/metrics/notifications/test", tag = "notifications", security(("operatorToken" = [])), responses((status = 202, description = "A test notification queued per channel", body = super::schemas::NotificationTestDoc), (status = 409, description = "No channel is configured", body = crate::problem::Problem, content_type = "application/problem+json"))))]
pub(crate) async fn test(State(state): State<AppState>) -> Response {
    let Some(delivery) = configured(&state) else {
        return Problem::new(StatusCode::CONFLICT)
            .with_detail(
                "no notification channel is configured (e.g. VITALS_ALERTMANAGER_URL, \
                 VITALS_WEBHOOK_URL)",
            )
            .with_instance("/metrics/notifications/test")
            .into_response();
    };
    let queued = delivery
        .notifier
        .send_test(&state.service, &delivery.instance);
    let channels = delivery.notifier.snapshot().channels.len();
    (
        StatusCode::ACCEPTED,
        Json(json!({ "queued": queued, "channels": channels })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::camel_keys;
    use serde_json::json;

    #[test]
    fn keys_become_camel_case_at_every_depth() {
        let v = camel_keys(json!({"queue_depth": 1, "dead_letters": [{"alert_ids": ["a_b"]}]}));
        assert_eq!(
            v,
            json!({"queueDepth": 1, "deadLetters": [{"alertIds": ["a_b"]}]})
        );
    }
}
