//! A budgets file's entries as read from TOML or YAML, each value with its line, and their
//! validation into [`Budget`]s: the one place that decides what a budgets file may say, so both
//! formats accept and refuse the same things with the same messages.

use serde::Deserialize;
use vitals::Method;
use vitals::PROMETHEUS_BUCKETS;

use super::{Budget, BudgetError, BudgetKind, DEFAULT_WINDOW, is_bucket_edge, snap_threshold};

/// A budgets file that cannot be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct ConfigError {
    /// The file (or the name given for text parsed directly).
    pub source_name: String,
    /// 1-based line of the offending item, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// `latency` or `availability`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawKind {
    Latency,
    Availability,
}

/// A value and the 1-based line it was read from.
#[derive(Debug, Clone)]
pub(crate) struct Lined<T> {
    pub(crate) value: T,
    pub(crate) line: Option<usize>,
}

/// How a format's parser wraps a value with its position (`toml::Spanned`,
/// `marked_yaml::Spanned`), so both read the same [`File`] shape.
pub(crate) trait Spans {
    /// `T` with its position.
    type Of<T>;
    /// The value.
    fn get<T>(s: &Self::Of<T>) -> &T;
    /// The 1-based line of the value in `text`, when known.
    fn line<T>(s: &Self::Of<T>, text: &str) -> Option<usize>;
}

/// A budgets file as written: a `budget` list, each value with its position.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "S::Of<RawBudget<S>>: Deserialize<'de>")
)]
pub(crate) struct File<S: Spans> {
    #[serde(default)]
    budget: Vec<S::Of<RawBudget<S>>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "S::Of<String>: Deserialize<'de>, S::Of<f64>: Deserialize<'de>")
)]
pub(crate) struct RawBudget<S: Spans> {
    name: S::Of<String>,
    #[serde(default)]
    route: Option<S::Of<String>>,
    #[serde(default)]
    method: Option<S::Of<String>>,
    kind: RawKind,
    #[serde(default)]
    threshold: Option<S::Of<String>>,
    objective: S::Of<f64>,
    #[serde(default)]
    window: Option<S::Of<String>>,
}

impl<S: Spans> File<S> {
    /// The entries, each value with its line in `text` (the text the file was parsed from).
    pub(crate) fn entries(&self, text: &str) -> Vec<Entry> {
        fn lined<S: Spans, T: Clone>(s: &S::Of<T>, text: &str) -> Lined<T> {
            Lined {
                value: S::get(s).clone(),
                line: S::line(s, text),
            }
        }
        let lined_str = |s: &S::Of<String>| lined::<S, String>(s, text);
        self.budget
            .iter()
            .map(|raw| {
                let b = S::get(raw);
                Entry {
                    line: S::line(raw, text),
                    name: lined_str(&b.name),
                    route: b.route.as_ref().map(lined_str),
                    method: b.method.as_ref().map(lined_str),
                    kind: b.kind,
                    threshold: b.threshold.as_ref().map(lined_str),
                    objective: lined::<S, f64>(&b.objective, text),
                    window: b.window.as_ref().map(lined_str),
                }
            })
            .collect()
    }
}

/// One `budget` entry of a file.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Where the entry starts.
    pub(crate) line: Option<usize>,
    pub(crate) name: Lined<String>,
    pub(crate) route: Option<Lined<String>>,
    pub(crate) method: Option<Lined<String>>,
    pub(crate) kind: RawKind,
    pub(crate) threshold: Option<Lined<String>>,
    /// Percent.
    pub(crate) objective: Lined<f64>,
    pub(crate) window: Option<Lined<String>>,
}

/// Validates `entries` of the file `source_name` into budgets; the first problem is an error
/// naming its line.
pub(crate) fn build(source_name: &str, entries: &[Entry]) -> Result<Vec<Budget>, ConfigError> {
    let err = |line: Option<usize>, message: String| ConfigError {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    let mut out: Vec<Budget> = Vec::with_capacity(entries.len());
    for raw in entries {
        let name = &raw.name.value;
        if out.iter().any(|b| b.name == *name) {
            return Err(err(
                raw.name.line,
                format!("budget {name:?} is defined twice"),
            ));
        }
        let route = raw.route.as_ref().map_or("**", |r| r.value.as_str());
        let kind = match (raw.kind, &raw.threshold) {
            (RawKind::Availability, None) => BudgetKind::Availability,
            (RawKind::Availability, Some(t)) => {
                return Err(err(
                    t.line,
                    "an availability budget takes no threshold".into(),
                ));
            }
            (RawKind::Latency, None) => {
                return Err(err(
                    raw.line,
                    format!("latency budget {name:?} needs a threshold"),
                ));
            }
            (RawKind::Latency, Some(t)) => {
                let threshold = humantime::parse_duration(&t.value)
                    .map_err(|e| err(t.line, format!("threshold {:?}: {e}", t.value)))?;
                if !is_bucket_edge(threshold) {
                    let edges: Vec<String> = PROMETHEUS_BUCKETS
                        .iter()
                        .map(|s| format!("{}ms", s * 1e3))
                        .collect();
                    return Err(err(
                        t.line,
                        format!(
                            "threshold {} is not an edge of the exposed histogram; nearest: {:?} \
                             (edges: {})",
                            t.value,
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
            let line = if matches!(e, BudgetError::BadName(_)) {
                raw.name.line
            } else {
                raw.route.as_ref().and_then(|r| r.line)
            };
            err(line, e.to_string())
        })?;
        if let Some(m) = &raw.method {
            let method = Method::from_bytes(m.value.as_bytes());
            if method == Method::Other {
                return Err(err(m.line, format!("unknown method {:?}", m.value)));
            }
            budget = budget.method(method);
        }
        budget = budget
            // Percent to fraction, rounded to 1e-8 so that 99.9 is 0.999, not 0.9990000000000001.
            .objective((raw.objective.value * 1e6).round() / 1e8)
            .map_err(|e| err(raw.objective.line, e.to_string()))?;
        let window = match &raw.window {
            None => DEFAULT_WINDOW,
            Some(w) => humantime::parse_duration(&w.value)
                .map_err(|e| err(w.line, format!("window {:?}: {e}", w.value)))?,
        };
        budget = budget
            .window(window)
            .map_err(|e| err(raw.window.as_ref().and_then(|w| w.line), e.to_string()))?;
        out.push(budget);
    }
    Ok(out)
}
