//! Strict parsing of query parameters into problem+json errors.
//!
//! axum's `Query` rejects with a plain-text body; the endpoints here parse the raw query so
//! that every bad value is a 400 problem+json naming the parameter.

use http::StatusCode;

use crate::problem::Problem;

/// Decoded query parameters.
#[derive(Debug, Clone, Default)]
pub(crate) struct StrictQuery {
    pairs: Vec<(String, String)>,
}

impl StrictQuery {
    /// Decodes `a=b&c=d` (percent-encoding and `+` for space).
    #[must_use]
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        Self { pairs }
    }

    /// The first value of `name`.
    #[must_use]
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// A positive integer no larger than `max`, `default` when absent.
    ///
    /// # Errors
    ///
    /// 400 problem when present but not an integer in `1..=max`.
    pub(crate) fn limit(
        &self,
        name: &str,
        default: usize,
        max: usize,
    ) -> Result<usize, Box<Problem>> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        match raw.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            Ok(n) if n > max => Err(Box::new(
                bad_request(&format!("`{name}` must be at most {max}, got {n}"))
                    .with_extension("parameter", name)
                    .with_extension("maximum", max),
            )),
            _ => Err(Box::new(
                bad_request(&format!("`{name}` must be a positive integer, got `{raw}`"))
                    .with_extension("parameter", name),
            )),
        }
    }
}

impl StrictQuery {
    /// One of `allowed`, `default` when absent.
    ///
    /// # Errors
    ///
    /// 400 problem naming the parameter and the allowed values when present with another value.
    pub(crate) fn choice<'a>(
        &self,
        name: &str,
        allowed: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, Box<Problem>> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        allowed.iter().copied().find(|a| *a == raw).ok_or_else(|| {
            Box::new(
                bad_request(&format!(
                    "`{name}` must be one of {}; got `{raw}`",
                    allowed.join(", ")
                ))
                .with_extension("parameter", name),
            )
        })
    }
}

/// A 400 problem with a detail.
#[must_use]
pub(crate) fn bad_request(detail: &str) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST).with_detail(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_rules() {
        let l = |q: &str| {
            StrictQuery::parse(Some(q))
                .limit("limit", 10, 100)
                .map_err(|p| p.status().as_u16())
        };
        assert_eq!(
            StrictQuery::parse(None).limit("limit", 10, 100).unwrap(),
            10
        );
        assert_eq!(l("limit=1"), Ok(1));
        assert_eq!(l("limit=100"), Ok(100));
        assert_eq!(l("limit=101"), Err(400));
        assert_eq!(l("limit=0"), Err(400));
        assert_eq!(l("limit=-3"), Err(400));
        assert_eq!(l("limit=abc"), Err(400));
        assert_eq!(l("limit="), Err(400));
        assert_eq!(l("limit=99999999999999999999999"), Err(400));
    }

    #[test]
    fn choice_rules() {
        let c = |q: &str| {
            StrictQuery::parse(Some(q))
                .choice("by", &["duration", "cpu"], "duration")
                .map_err(|p| p.status().as_u16())
        };
        assert_eq!(c(""), Ok("duration"));
        assert_eq!(c("by=cpu"), Ok("cpu"));
        assert_eq!(c("by=CPU"), Err(400));
        assert_eq!(c("by="), Err(400));
        assert_eq!(c("by=memory"), Err(400));
    }
}
