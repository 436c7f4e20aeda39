//! The Prometheus and OpenMetrics line writers shared by both renderers: the model encoders
//! ([`encode_text`](crate::expose::encode_text), [`encode_openmetrics`](crate::expose::encode_openmetrics))
//! and the direct renderer ([`render`](crate::expose::render)). One set of writers
//! keeps their bytes identical: metadata lines, label escaping, numbers (integers through
//! `itoa`, other values in Rust's shortest round-trip form) and the order of a histogram's
//! `_sum` and `_count` lines.

use std::fmt::Write as _;

use crate::expose::model::{Family, Labels, MetricKind, unit_matches};

/// Integral values below this magnitude (2^53) are exactly representable as `f64` and print
/// as integers.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Writes a histogram's `_sum` and `_count` lines in the format's order: the 0.0.4 text format
/// puts `_sum` first, OpenMetrics `_count`. `num` is passed through to both writers.
pub(super) fn write_sum_and_count<N>(
    out: &mut String,
    num: &mut N,
    openmetrics: bool,
    sum: impl Fn(&mut String, &mut N),
    count: impl Fn(&mut String, &mut N),
) {
    if openmetrics {
        count(out, num);
        sum(out, num);
    } else {
        sum(out, num);
        count(out, num);
    }
}

/// Writes a sample value (counter, gauge, histogram sum) exactly as the encoders do.
pub(super) fn write_sample_value(out: &mut String, value: f64) {
    write_f64(out, value, false);
}

/// Writes a histogram bound exactly as the encoders do in `le="..."`.
#[cfg(test)]
pub(super) fn write_le_value(out: &mut String, bound: f64) {
    write_f64(out, bound, true);
}

/// Appends a label value escaped as the encoders do (`\\`, `\"`, `\n`), without quotes.
pub(super) fn write_label_value(out: &mut String, value: &str) {
    push_escaped(out, value, true);
}

/// Writes the metadata lines of `family` (`# HELP`/`# TYPE`, or `# TYPE`/`# UNIT`/`# HELP`)
/// exactly as its encoder does before its samples, whether or not it has samples; returns the
/// suffix of its sample names (`_total` for counters).
pub(super) fn write_metadata(family: &Family, out: &mut String, openmetrics: bool) -> &'static str {
    let name = family.name.as_str();
    debug_assert!(is_metric_name(name), "invalid metric name {name:?}");
    let sample_suffix = match family.kind {
        MetricKind::Counter => {
            debug_assert!(
                !name.ends_with("_total"),
                "counter family {name:?} must be named without _total"
            );
            "_total"
        }
        MetricKind::Gauge | MetricKind::Histogram => "",
    };
    // In 0.0.4 the metadata names the samples' metric, so counters use `<name>_total`.
    let meta_suffix = if openmetrics { "" } else { sample_suffix };
    let unit = family.unit.filter(|unit| {
        let matches = unit_matches(name, unit);
        debug_assert!(matches, "family {name:?} must end with _{unit}");
        matches
    });

    if openmetrics {
        write_type(out, name, meta_suffix, family.kind);
        if let Some(unit) = unit {
            push_all(out, &["# UNIT ", name, " ", unit, "\n"]);
        }
        write_help(out, name, meta_suffix, &family.help, true);
    } else {
        write_help(out, name, meta_suffix, &family.help, false);
        write_type(out, name, meta_suffix, family.kind);
    }

    sample_suffix
}

pub(super) fn write_type(out: &mut String, name: &str, suffix: &str, kind: MetricKind) {
    push_all(out, &["# TYPE ", name, suffix, " ", kind.as_str(), "\n"]);
}

pub(super) fn write_help(
    out: &mut String,
    name: &str,
    suffix: &str,
    help: &str,
    openmetrics: bool,
) {
    if help.is_empty() {
        return;
    }
    push_all(out, &["# HELP ", name, suffix, " "]);
    push_escaped(out, help, openmetrics);
    out.push('\n');
}

/// Writes `{a="x",b="y"}`, or nothing for no labels.
pub(super) fn write_labels(out: &mut String, labels: &Labels) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    write_label_pairs(out, labels);
    out.push('}');
}

/// Writes `a="x",b="y"`.
pub(super) fn write_label_pairs(out: &mut String, labels: &Labels) {
    for (i, (label, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_all(out, &[label, "=\""]);
        push_escaped(out, value, true);
        out.push('"');
    }
}

pub(super) fn push_all(out: &mut String, parts: &[&str]) {
    for part in parts {
        out.push_str(part);
    }
}

/// Appends `s` with `\` and newline escaped, and `"` too if `quote`.
pub(super) fn push_escaped(out: &mut String, s: &str, quote: bool) {
    let mut start = 0;
    for (i, byte) in s.bytes().enumerate() {
        let escaped = match byte {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'"' if quote => "\\\"",
            _ => continue,
        };
        // `i` is an ASCII byte, hence a char boundary.
        out.push_str(&s[start..i]);
        out.push_str(escaped);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// Writes a sample value, or with `le` an OpenMetrics canonical bucket bound (`1.0`).
pub(super) fn write_f64(out: &mut String, value: f64, le: bool) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < MAX_EXACT_INTEGER as f64 {
        if value.is_sign_negative() {
            out.push('-');
        }
        // Exact: integral and below 2^53.
        write_u64(out, &mut itoa::Buffer::new(), value.abs() as u64);
        if le {
            out.push_str(".0");
        }
    } else {
        // Shortest round-trip digits; exponent form below 1e-4 and from 1e16 on. Writing to a
        // String cannot fail.
        let _ = write!(out, "{value:?}");
    }
}

pub(super) fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

pub(super) fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    !name.starts_with("__")
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// `value as f64` as the encoders write it: an integer below 2^53, else the float form.
pub(super) fn write_count_value(out: &mut String, num: &mut itoa::Buffer, value: u64) {
    if value < MAX_EXACT_INTEGER {
        write_u64(out, num, value);
    } else {
        write_sample_value(out, value as f64);
    }
}

/// Sums of at least this many ns (1e-4 s) print in positional notation (`0.0001`).
pub(super) const MIN_POSITIONAL_SUM_NS: u64 = 100_000;

/// Sums below 2^18 s (about 3 days) take [`write_seconds`]' fast path.
pub(super) const MAX_FAST_SUM_NS: u64 = (1 << 18) * 1_000_000_000;

/// `sum_ns as f64 / 1e9` as [`write_sample_value`] writes it (Rust's shortest round-trip
/// digits), without float formatting for sums from 1e-4 s to 2^18 s.
///
/// Why the digits of `sum_ns` are the shortest round-trip form there: `sum_ns` (< 2^53) and
/// 1e9 are exact doubles, so the division returns the double `v` nearest to the exact decimal
/// `D = sum_ns / 1e9`, which therefore reads back as `v`. Let `D` have `j <= 9` fractional
/// digits (trailing zeros dropped). Any other decimal that reads back as `v` lies within one
/// ulp of `D`, and below 2^18 an ulp is at most 2^-35 < 1e-10 <= 10^-(j+1), so it has at least
/// `j + 2` fractional digits, and at most one integer digit fewer than `D` (when `D` is a power
/// of ten and it is just below), hence more significant digits. So `D` is the unique shortest
/// form, which `{:?}` prints positionally from 1e-4 up (and an integral `D` is an integral `v`,
/// which the encoders print as an integer). The tests compare both paths on boundaries and at
/// random.
pub(super) fn write_seconds(out: &mut String, num: &mut itoa::Buffer, sum_ns: u64) {
    if !(MIN_POSITIONAL_SUM_NS..MAX_FAST_SUM_NS).contains(&sum_ns) {
        write_sample_value(out, sum_ns as f64 / 1e9);
        return;
    }
    out.push_str(num.format(sum_ns / 1_000_000_000));
    let fraction = sum_ns % 1_000_000_000;
    if fraction != 0 {
        out.push('.');
        // Nine digits with leading zeros: format 1_xxx_xxx_xxx and drop the 1.
        let digits = num.format(1_000_000_000 + fraction);
        out.push_str(digits[1..].trim_end_matches('0'));
    }
}

/// An integer in decimal; a single digit without a call to copy it.
#[inline(always)]
pub(super) fn write_u64(out: &mut String, num: &mut itoa::Buffer, value: u64) {
    if value < 10 {
        out.push(char::from(b'0' + value as u8));
    } else {
        out.push_str(num.format(value));
    }
}
