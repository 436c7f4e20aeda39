//! Numeric settings from the environment, checked at start-up: a value that does not parse or
//! falls outside what makes sense is an error naming the variable (never a panic later, such as
//! `Duration::from_secs_f64(1e27)` or a zero-period interval).

use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;

/// Longest duration any millisecond setting may take: one day.
pub(crate) const MAX_MS: u64 = 86_400_000;

/// Most memory any MiB setting may name: 16 TiB.
pub(crate) const MAX_MIB: f64 = 16.0 * 1024.0 * 1024.0;

/// The variable's value, trimmed, or `None` when unset or blank.
pub(crate) fn raw(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `value` parsed and within `min..=max`, else an error naming `name` and the range.
pub(crate) fn parse_in<T>(name: &str, value: &str, min: T, max: T, what: &str) -> anyhow::Result<T>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    let n: T = value
        .parse()
        .ok()
        .with_context(|| format!("{name} must be {what} from {min} to {max}, got `{value}`"))?;
    // `!(a <= b)` rather than `a > b`: a NaN is outside every range.
    if !(min <= n && n <= max) {
        anyhow::bail!("{name} must be {what} from {min} to {max}, got `{value}`");
    }
    Ok(n)
}

/// A number from the environment in `min..=max`, or `default` when unset.
pub(crate) fn number<T>(name: &str, default: T, min: T, max: T, what: &str) -> anyhow::Result<T>
where
    T: FromStr + PartialOrd + Display + Copy,
{
    raw(name).map_or(Ok(default), |v| parse_in(name, &v, min, max, what))
}

/// Milliseconds from the environment, 1 ms to a day.
pub(crate) fn millis(name: &str, default: u64) -> anyhow::Result<Duration> {
    number(name, default, 1, MAX_MS, "a number of milliseconds").map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_name_the_variable() {
        for bad in ["1e30", "inf", "NaN", "-1", "abc", "86400001"] {
            let e = parse_in("VITALS_X", bad, 0.0, 86_400_000.0, "a number").unwrap_err();
            assert!(e.to_string().contains("VITALS_X"), "{bad}: {e}");
        }
        assert_eq!(parse_in("V", "2.5", 0.0, 10.0, "a number").unwrap(), 2.5);
        assert!(parse_in("V", "0", 1u64, 10, "a count").is_err());
        assert!(parse_in("V", "99999999999999999999999", 1u64, 10, "a count").is_err());
        assert_eq!(parse_in("V", "10", 1u32, 10, "a count").unwrap(), 10);
    }
}
