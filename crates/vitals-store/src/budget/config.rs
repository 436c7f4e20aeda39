//! Budgets from a TOML file, validated whole at start, each error naming its line.
//!
//! ```toml
//! [[budget]]
//! name = "checkout-latency"
//! route = "/api/orgs/{orgId}/checkout"   # a template or a glob (*, **, ?); default: every route
//! method = "POST"                        # default: every method
//! kind = "latency"                       # or "availability" (good = not 5xx)
//! threshold = "250ms"                    # latency only; an edge of the exposed histogram
//! objective = 99.0                       # percent
//! window = "30d"                         # default 30 days
//! ```

use std::ops::Range;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;
use vitals::Method;
use vitals::PROMETHEUS_BUCKETS;

use super::{Budget, BudgetKind, DEFAULT_WINDOW, is_bucket_edge, snap_threshold};

/// A budgets file that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file (or `budgets` for text parsed directly).
    pub source_name: String,
    /// 1-based line of the offending item, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    budget: Vec<Spanned<RawBudget>>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawKind {
    Latency,
    Availability,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    name: Spanned<String>,
    #[serde(default)]
    route: Option<Spanned<String>>,
    #[serde(default)]
    method: Option<Spanned<String>>,
    kind: RawKind,
    #[serde(default)]
    threshold: Option<Spanned<String>>,
    objective: Spanned<f64>,
    #[serde(default)]
    window: Option<Spanned<String>>,
}

fn line_of(text: &str, span: &Range<usize>) -> usize {
    text.get(..span.start)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// Parses budgets from TOML text (see the [module docs](self)); `source_name` names the file
/// in errors.
///
/// ```
/// use vitals_store::budget::parse_budgets;
///
/// let budgets = parse_budgets("budgets.toml", r#"
/// [[budget]]
/// name = "api"
/// route = "/api/**"
/// kind = "availability"
/// objective = 99.9
/// "#).unwrap();
/// assert_eq!(budgets[0].objective, 0.999);
///
/// let err = parse_budgets("budgets.toml", "[[budget]]\nname = \"x\"\nkind = \"speed\"\nobjective = 99\n")
///     .unwrap_err();
/// assert_eq!(err.line, Some(3));
/// ```
pub fn parse_budgets(source_name: &str, text: &str) -> Result<Vec<Budget>, ConfigError> {
    let err = |span: Option<Range<usize>>, message: String| ConfigError {
        source_name: source_name.to_owned(),
        line: span.map(|s| line_of(text, &s)),
        message,
    };
    let file: File = toml::from_str(text).map_err(|e| err(e.span(), e.message().to_owned()))?;
    let mut out: Vec<Budget> = Vec::with_capacity(file.budget.len());
    for raw in &file.budget {
        let budget_span = raw.span();
        let raw = raw.get_ref();

        let name = raw.name.get_ref();
        if out.iter().any(|b| b.name == *name) {
            return Err(err(
                Some(raw.name.span()),
                format!("budget {name:?} is defined twice"),
            ));
        }
        let route = raw.route.as_ref().map_or("**", |r| r.get_ref().as_str());
        let kind = match (raw.kind, &raw.threshold) {
            (RawKind::Availability, None) => BudgetKind::Availability,
            (RawKind::Availability, Some(t)) => {
                return Err(err(
                    Some(t.span()),
                    "an availability budget takes no threshold".into(),
                ));
            }
            (RawKind::Latency, None) => {
                return Err(err(
                    Some(budget_span),
                    format!("latency budget {name:?} needs a threshold"),
                ));
            }
            (RawKind::Latency, Some(t)) => {
                let threshold = humantime::parse_duration(t.get_ref()).map_err(|e| {
                    err(Some(t.span()), format!("threshold {:?}: {e}", t.get_ref()))
                })?;
                if !is_bucket_edge(threshold) {
                    let edges: Vec<String> = PROMETHEUS_BUCKETS
                        .iter()
                        .map(|s| format!("{}ms", s * 1e3))
                        .collect();
                    return Err(err(
                        Some(t.span()),
                        format!(
                            "threshold {} is not an edge of the exposed histogram; nearest: {:?} \
                             (edges: {})",
                            t.get_ref(),
                            snap_threshold(threshold),
                            edges.join(", ")
                        ),
                    ));
                }
                BudgetKind::Latency { threshold }
            }
        };
        let mut budget = match kind {
            BudgetKind::Availability => Budget::availability(name, route),
            BudgetKind::Latency { threshold } => Budget::latency(name, route, threshold),
        }
        .map_err(|e| {
            let span = if matches!(e, super::BudgetError::BadName(_)) {
                Some(raw.name.span())
            } else {
                raw.route.as_ref().map(Spanned::span)
            };
            err(span, e.to_string())
        })?;
        if let Some(m) = &raw.method {
            let method = Method::from_bytes(m.get_ref().as_bytes());
            if method == Method::Other {
                return Err(err(
                    Some(m.span()),
                    format!("unknown method {:?}", m.get_ref()),
                ));
            }
            budget = budget.method(method);
        }
        budget = budget
            // Percent to fraction, rounded to 1e-8 so that 99.9 is 0.999, not 0.9990000000000001.
            .objective((raw.objective.get_ref() * 1e6).round() / 1e8)
            .map_err(|e| err(Some(raw.objective.span()), e.to_string()))?;
        let window = match &raw.window {
            None => DEFAULT_WINDOW,
            Some(w) => humantime::parse_duration(w.get_ref())
                .map_err(|e| err(Some(w.span()), format!("window {:?}: {e}", w.get_ref())))?,
        };
        budget = budget
            .window(window)
            .map_err(|e| err(raw.window.as_ref().map(Spanned::span), e.to_string()))?;
        out.push(budget);
    }
    Ok(out)
}

/// Reads and parses a budgets file (for example the one `VITALS_BUDGETS` names).
pub fn load_budgets(path: impl AsRef<Path>) -> Result<Vec<Budget>, ConfigError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: name.clone(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    parse_budgets(&name, &text)
}
