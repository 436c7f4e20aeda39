//! Metric and label names made valid for Prometheus, or refused.
//!
//! Rules (Prometheus data model): a metric name matches `[a-zA-Z_:][a-zA-Z0-9_:]*`, a label name
//! `[a-zA-Z_][a-zA-Z0-9_]*`; names starting with `__` are reserved. Sanitising replaces every
//! other character with `_` and puts `_` before a leading digit; a name that is empty, longer
//! than [`MAX_NAME_LEN`] or reserved afterwards is refused rather than guessed at (truncating it
//! could silently merge two metrics). Label values are free text, cut to a byte length at a
//! character boundary.

use std::borrow::Cow;

/// Longest metric or label name accepted, in bytes (after sanitising).
pub const MAX_NAME_LEN: usize = 200;

/// Why a metric registration was refused (its handle records nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The metric name is empty, too long or reserved (`__` prefix) once sanitised.
    InvalidName,
    /// The name is reserved for vitals' own families ([`crate::Config::reserve`]).
    ReservedName,
    /// The cap on metric names ([`crate::Config::max_names`]) is reached.
    TooManyNames,
    /// The name is already used by a metric of another kind.
    KindConflict,
    /// A label name is empty, too long, reserved, duplicated, or `le` on a histogram.
    InvalidLabel,
    /// More labels on one series than [`crate::Config::max_labels`].
    TooManyLabels,
    /// The process-wide cap on distinct label names ([`crate::MAX_LABEL_NAMES`]) is reached.
    TooManyLabelNames,
}

impl Refusal {
    /// Every reason, in a fixed order (the index of a counter per reason).
    pub const ALL: [Refusal; 7] = [
        Refusal::InvalidName,
        Refusal::ReservedName,
        Refusal::TooManyNames,
        Refusal::KindConflict,
        Refusal::InvalidLabel,
        Refusal::TooManyLabels,
        Refusal::TooManyLabelNames,
    ];

    /// The reason as a label value (`invalid_name`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::InvalidName => "invalid_name",
            Refusal::ReservedName => "reserved_name",
            Refusal::TooManyNames => "too_many_names",
            Refusal::KindConflict => "kind_conflict",
            Refusal::InvalidLabel => "invalid_label",
            Refusal::TooManyLabels => "too_many_labels",
            Refusal::TooManyLabelNames => "too_many_label_names",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Whether `name` is a valid metric name.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid label name (the `__` prefix included; callers refuse it).
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn sanitize(raw: &str, allow_colon: bool) -> Option<Cow<'_, str>> {
    let keep = |c: char| c.is_ascii_alphanumeric() || c == '_' || (allow_colon && c == ':');
    let leading_digit = raw.starts_with(|c: char| c.is_ascii_digit());
    let name: Cow<'_, str> = if !leading_digit && raw.chars().all(keep) {
        Cow::Borrowed(raw)
    } else {
        let mut out = String::with_capacity(raw.len().min(MAX_NAME_LEN) + 1);
        if leading_digit {
            out.push('_');
        }
        out.extend(raw.chars().map(|c| if keep(c) { c } else { '_' }));
        Cow::Owned(out)
    };
    (!name.is_empty() && name.len() <= MAX_NAME_LEN && !name.starts_with("__")).then_some(name)
}

/// The valid metric name for `raw`, or `None` when it must be refused.
///
/// ```
/// use vitals_metrics::sanitize_metric_name;
///
/// assert_eq!(sanitize_metric_name("orders.created").as_deref(), Some("orders_created"));
/// assert_eq!(sanitize_metric_name("5xx").as_deref(), Some("_5xx"));
/// assert_eq!(sanitize_metric_name("__reserved"), None);
/// assert_eq!(sanitize_metric_name(""), None);
/// ```
pub fn sanitize_metric_name(raw: &str) -> Option<Cow<'_, str>> {
    sanitize(raw, true)
}

/// The valid label name for `raw`, or `None` when it must be refused (`le` is refused by the
/// registry on histograms only).
///
/// ```
/// use vitals_metrics::sanitize_label_name;
///
/// assert_eq!(sanitize_label_name("http.method").as_deref(), Some("http_method"));
/// assert_eq!(sanitize_label_name("a:b").as_deref(), Some("a_b"));
/// assert_eq!(sanitize_label_name("__name__"), None);
/// ```
pub fn sanitize_label_name(raw: &str) -> Option<Cow<'_, str>> {
    sanitize(raw, false)
}

/// `value` cut to at most `max` bytes at a character boundary.
///
/// ```
/// assert_eq!(vitals_metrics::truncate_label_value("héllo", 2), "h");
/// ```
pub fn truncate_label_value(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn valid_names_pass_unchanged_without_allocating() {
        assert!(matches!(
            sanitize_metric_name("app:orders_total"),
            Some(Cow::Borrowed("app:orders_total"))
        ));
        assert!(matches!(
            sanitize_label_name("org_id"),
            Some(Cow::Borrowed("org_id"))
        ));
    }

    #[test]
    fn invalid_characters_become_underscores() {
        assert_eq!(
            sanitize_metric_name("db.query-time µs").as_deref(),
            Some("db_query_time__s")
        );
        assert_eq!(sanitize_label_name("9lives").as_deref(), Some("_9lives"));
    }

    #[test]
    fn reserved_empty_and_long_names_are_refused() {
        assert_eq!(sanitize_metric_name(".-x"), None, "sanitises to __x");
        assert_eq!(sanitize_label_name("__x"), None);
        assert_eq!(sanitize_label_name(""), None);
        assert_eq!(sanitize_metric_name(&"a".repeat(MAX_NAME_LEN + 1)), None);
        assert!(sanitize_metric_name(&"a".repeat(MAX_NAME_LEN)).is_some());
    }

    #[test]
    fn values_are_cut_at_a_char_boundary() {
        assert_eq!(truncate_label_value("abc", 5), "abc");
        assert_eq!(truncate_label_value("aé", 2), "a");
        assert_eq!(truncate_label_value("aé", 3), "aé");
    }

    proptest! {
        #[test]
        fn metric_names_are_valid_or_refused(raw in ".*") {
            if let Some(name) = sanitize_metric_name(&raw) {
                prop_assert!(is_metric_name(&name), "{name:?}");
                prop_assert!(!name.starts_with("__"));
                prop_assert!(name.len() <= MAX_NAME_LEN);
            }
        }

        #[test]
        fn label_names_are_valid_or_refused(raw in "\\PC{0,40}|[a-z_.:0-9-]{0,12}") {
            if let Some(name) = sanitize_label_name(&raw) {
                prop_assert!(is_label_name(&name), "{name:?}");
                prop_assert!(!name.starts_with("__"));
            }
        }

        #[test]
        fn valid_names_are_kept(raw in "[a-zA-Z][a-zA-Z0-9_]{0,30}") {
            let label = sanitize_label_name(&raw);
            let metric = sanitize_metric_name(&raw);
            prop_assert_eq!(label.as_deref(), Some(raw.as_str()));
            prop_assert_eq!(metric.as_deref(), Some(raw.as_str()));
        }

        #[test]
        fn truncated_values_are_prefixes_within_the_bound(raw in ".*", max in 0usize..64) {
            let cut = truncate_label_value(&raw, max);
            prop_assert!(cut.len() <= max);
            prop_assert!(raw.starts_with(cut));
            prop_assert!(max.saturating_sub(cut.len()) < 4 || cut.len() == raw.len());
        }
    }
}
