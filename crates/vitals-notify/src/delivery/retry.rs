//! One attempt's outcome, backoff with full jitter, and `Retry-After`.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;

/// What to do after one attempt.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// 2xx: done.
    Delivered,
    /// Timeout, connection error, 429 or 5xx: try again, after `after` when the receiver said.
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// Any other status: never retried.
    Dead { status: u16, error: String },
}

/// Classifies a response status.
pub(crate) fn classify(status: StatusCode, retry_after: Option<Duration>, detail: &str) -> Outcome {
    let error = if detail.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {detail}")
    };
    if status.is_success() {
        Outcome::Delivered
    } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Outcome::Retry {
            after: retry_after,
            error,
        }
    } else {
        Outcome::Dead {
            status: status.as_u16(),
            error,
        }
    }
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past is 0.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Full jitter: uniform in `[0, min(max, base * 2^(attempt-1))]`, `attempt` counting from 1.
pub(crate) fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(30))
        .min(max);
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=nanos))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn statuses_classify() {
        assert_eq!(classify(StatusCode::OK, None, ""), Outcome::Delivered);
        assert_eq!(classify(StatusCode::ACCEPTED, None, ""), Outcome::Delivered);
        let d = Some(Duration::from_secs(3));
        assert!(
            matches!(classify(StatusCode::TOO_MANY_REQUESTS, d, ""), Outcome::Retry { after, .. } if after == d)
        );
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, None, ""),
            Outcome::Retry { after: None, .. }
        ));
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, None, "invalid"),
            Outcome::Dead {
                status: 400,
                error: "HTTP 400 Bad Request: invalid".into()
            }
        );
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, None, ""),
            Outcome::Dead { status: 404, .. }
        ));
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    proptest! {
        #[test]
        fn backoff_stays_under_its_ceiling(attempt in 0u32..100, base_ms in 1u64..5000, max_ms in 1u64..600_000) {
            let (base, max) = (Duration::from_millis(base_ms), Duration::from_millis(max_ms));
            let d = backoff(attempt, base, max);
            let ceiling = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(30)).min(max);
            prop_assert!(d <= ceiling);
        }
    }
}
