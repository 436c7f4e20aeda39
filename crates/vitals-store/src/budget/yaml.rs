//! Budgets from YAML (`marked-yaml`, which keeps each node's line), the same entries as the
//! TOML form under a `budget` list:

use marked_yaml::Spanned;

use super::Budget;
use super::entry::{ConfigError, File, Spans, build};

/// YAML positions: each node keeps its line.
struct Yaml;

impl Spans for Yaml {
    type Of<T> = Spanned<T>;
    fn get<T>(s: &Spanned<T>) -> &T {
        s
    }
    fn line<T>(s: &Spanned<T>, _text: &str) -> Option<usize> {
        s.span().start().map(marked_yaml::Marker::line)
    }
}

/// The first line whose key (after any `- `) is `key`.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let l = l.strip_prefix("- ").map_or(l, str::trim_start);
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'))
        })
        .map(|i| i + 1)
}

/// Parses budgets from YAML text (format below); `source_name` names the file
/// in errors, which carry the line.
///
/// ```
/// use vitals_store::budget::parse_budgets_yaml;
///
/// let budgets = parse_budgets_yaml("budgets.yaml", "budget:\n  - name: api\n    route: /api/**\n    kind: availability\n    objective: 99.9\n").unwrap();
/// assert_eq!(budgets[0].objective, 0.999);
///
/// let err = parse_budgets_yaml("budgets.yaml", "budget:\n  - name: x\n    kind: availability\n    objective: 99\n    window: 1h\n")
///     .unwrap_err();
/// assert_eq!(err.line, Some(5));
/// ```
///
/// ```yaml
/// budget:
///   - name: checkout-latency
///     route: /api/orgs/{orgId}/checkout
///     method: POST
///     kind: latency
///     threshold: 250ms
///     objective: 99.0
/// ```
pub fn parse_budgets_yaml(source_name: &str, text: &str) -> Result<Vec<Budget>, ConfigError> {
    let err = |line: Option<usize>, message: String| ConfigError {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let file: File<Yaml> = marked_yaml::from_yaml(0, text).map_err(|e| match &e {
        marked_yaml::FromYamlError::ParseYaml(load) => {
            use marked_yaml::LoadError as L;
            let marker = match load {
                L::TopLevelMustBeMapping(m)
                | L::TopLevelMustBeSequence(m)
                | L::UnexpectedAnchor(m)
                | L::MappingKeyMustBeScalar(m)
                | L::UnexpectedTag(m)
                | L::ScanError(m, _) => Some(*m),
                L::DuplicateKey(d) => d.key.span().start().copied(),
            };
            err(marker.map(|m| m.line()), e.to_string())
        }
        marked_yaml::FromYamlError::FromNode(node) => {
            let line = node
                .start_mark()
                .map(|m| m.line())
                .or_else(|| match &**node {
                    // marked-yaml gives no position for an unknown key: the first line with it.
                    marked_yaml::Error::UnknownFieldError(field, _, _) => key_line(text, field),
                    _ => None,
                });
            err(line, node.to_string())
        }
    })?;
    build(source_name, &file.entries(text))
}
