//! Budgets from a TOML file (or YAML, [`load_budgets`] by the file's extension), validated
//! whole at start, each error naming its line.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;

use super::Budget;
use super::entry::{ConfigError, File, Spans, build};
use super::yaml::parse_budgets_yaml;

/// TOML positions: byte ranges, turned into lines of the text.
struct Toml;

impl Spans for Toml {
    type Of<T> = Spanned<T>;
    fn get<T>(s: &Spanned<T>) -> &T {
        s.get_ref()
    }
    fn line<T>(s: &Spanned<T>, text: &str) -> Option<usize> {
        Some(line_of(text, &s.span()))
    }
}

fn line_of(text: &str, span: &Range<usize>) -> usize {
    text.get(..span.start)
        .map_or(1, |before| before.matches('\n').count() + 1)
}

/// Parses budgets from TOML text (format below); `source_name` names the file
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
///
/// ```toml
/// [[budget]]
/// name = "checkout-latency"
/// route = "/api/orgs/{orgId}/checkout"   # a template or a glob (*, **, ?); default: every route
/// method = "POST"                        # default: every method
/// kind = "latency"                       # or "availability" (good = not 5xx)
/// threshold = "250ms"                    # latency only; an edge of the exposed histogram
/// objective = 99.0                       # percent
/// window = "30d"                         # default 30 days
/// ```
pub fn parse_budgets(source_name: &str, text: &str) -> Result<Vec<Budget>, ConfigError> {
    let file: File<Toml> = toml::from_str(text).map_err(|e| ConfigError {
        source_name: source_name.to_owned(),
        line: e.span().map(|s| line_of(text, &s)),
        message: e.message().to_owned(),
    })?;
    build(source_name, &file.entries(text))
}

/// Reads and parses a budgets file (for example the one `VITALS_BUDGETS` names): YAML when
/// its name ends in `.yaml` or `.yml`, else TOML.
pub fn load_budgets(path: impl AsRef<Path>) -> Result<Vec<Budget>, ConfigError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        source_name: name.clone(),
        line: None,
        message: format!("cannot read: {e}"),
    })?;
    let yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if yaml {
        parse_budgets_yaml(&name, &text)
    } else {
        parse_budgets(&name, &text)
    }
}
