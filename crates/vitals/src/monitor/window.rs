//! Time windows ([`Window`]) and the figures of one window ([`WindowStats`],
//! [`StatusCounts`]), computed from the series' aggregates.

use std::time::Duration;

use serde::Serialize;

use crate::series::Aggregate;

/// Number of status classes tracked per route and method: 1xx..5xx and "other".
pub const STATUS_CLASSES: usize = 6;

/// A window of time the aggregates cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The current minute and the one before it (60 to 120 s).
    LastMinute,
    /// The current minute and the five before it (300 to 360 s).
    LastFiveMinutes,
    /// Everything since the monitor started.
    SinceStart,
}

impl Window {
    /// All windows, shortest first.
    pub const ALL: [Window; 3] = [
        Window::LastMinute,
        Window::LastFiveMinutes,
        Window::SinceStart,
    ];

    pub(super) fn minutes(self) -> Option<u64> {
        match self {
            Window::LastMinute => Some(1),
            Window::LastFiveMinutes => Some(5),
            Window::SinceStart => None,
        }
    }

    /// The camelCase key used in JSON (`lastMinute`, `lastFiveMinutes`, `sinceStart`).
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Window::LastMinute => "lastMinute",
            Window::LastFiveMinutes => "lastFiveMinutes",
            Window::SinceStart => "sinceStart",
        }
    }

    /// Parses [`Window::key`] or the short forms `1m`, `5m`, `all`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "1m" | "lastMinute" => Some(Window::LastMinute),
            "5m" | "lastFiveMinutes" => Some(Window::LastFiveMinutes),
            "all" | "sinceStart" => Some(Window::SinceStart),
            _ => None,
        }
    }
}

/// Latency and error figures of one window. Durations serialize as fractional milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WindowStats {
    /// Requests.
    pub count: u64,
    /// Requests answered with status >= 400 (client aborts and panics included).
    pub errors: u64,
    /// Sum of durations.
    pub total: Duration,
    /// Longest duration.
    pub max: Duration,
    /// Median (within 1%).
    pub p50: Duration,
    /// 95th percentile (within 1%).
    pub p95: Duration,
    /// 99th percentile (within 1%).
    pub p99: Duration,
}

impl WindowStats {
    /// Mean duration (zero when empty).
    #[must_use]
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            Duration::ZERO
        } else {
            let ns = self.total.as_nanos() / u128::from(self.count);
            Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
        }
    }

    /// Errors over requests, 0..1 (0 when empty).
    #[must_use]
    pub fn error_rate(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.errors as f64 / self.count as f64
        }
    }

    /// Builds the figures from an aggregate.
    #[must_use]
    pub fn from_aggregate(agg: &Aggregate) -> Self {
        // A bucket's representative value may pass the exact maximum by up to 1%: clamp.
        let q = |q| Duration::from_nanos(agg.histogram.quantile(q).unwrap_or(0).min(agg.max_ns));
        Self {
            count: agg.histogram.count(),
            errors: agg.errors,
            total: Duration::from_nanos(agg.sum_ns),
            max: Duration::from_nanos(agg.max_ns),
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
        }
    }
}

/// Requests per status class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// 1xx
    #[serde(rename = "1xx")]
    pub informational: u64,
    /// 2xx
    #[serde(rename = "2xx")]
    pub success: u64,
    /// 3xx
    #[serde(rename = "3xx")]
    pub redirection: u64,
    /// 4xx (and 499 client aborts)
    #[serde(rename = "4xx")]
    pub client_error: u64,
    /// 5xx
    #[serde(rename = "5xx")]
    pub server_error: u64,
    /// Anything else
    #[serde(rename = "other")]
    pub other: u64,
}

impl StatusCounts {
    pub(super) fn add(&mut self, class: usize, n: u64) {
        let slot = match class {
            0 => &mut self.informational,
            1 => &mut self.success,
            2 => &mut self.redirection,
            3 => &mut self.client_error,
            4 => &mut self.server_error,
            _ => &mut self.other,
        };
        *slot += n;
    }
}

/// The status class index of a status code (0 = 1xx .. 4 = 5xx, 5 = other).
#[must_use]
pub fn status_class(status: u16) -> usize {
    match status {
        100..=599 => usize::from(status / 100 - 1),
        _ => 5,
    }
}

/// The label of a status class index (`"2xx"`, …, `"other"`).
#[must_use]
pub fn status_class_label(class: usize) -> &'static str {
    ["1xx", "2xx", "3xx", "4xx", "5xx", "other"][class.min(5)]
}
