//! Unit conversions and time formats shared by the reports: MiB, fractional milliseconds and
//! RFC 3339 timestamps.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serializer;

/// Bytes in one mebibyte (1024 × 1024). Every "MB" in settings, thresholds and rates of this
/// crate is a MiB.
///
/// ```
/// assert_eq!(vitals::BYTES_PER_MIB, 1_048_576.0);
/// ```
pub const BYTES_PER_MIB: f64 = 1024.0 * 1024.0;

/// Fractional milliseconds of a duration: the unit of every `…Ms` field in JSON.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(vitals::as_ms(Duration::from_micros(1500)), 1.5);
/// ```
#[must_use]
pub fn as_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Serializes a time as RFC 3339 with milliseconds (`2024-01-15T10:30:00.000Z`).
pub(crate) fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    if *t < UNIX_EPOCH {
        return Err(serde::ser::Error::custom("time before the Unix epoch"));
    }
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

/// [`rfc3339`] for an optional time (`null` when absent).
pub(crate) fn rfc3339_opt<S: Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}
