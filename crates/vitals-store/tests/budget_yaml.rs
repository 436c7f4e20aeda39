//! Budgets from YAML: the same budgets as the TOML form, every refusal naming its line, the
//! file's extension choosing the format, and no input that panics the parser.

mod common;

use std::time::Duration;

use common::{GOOD_BUDGETS_TOML, assert_refused};
use proptest::prelude::*;
use vitals_store::budget::{BudgetKind, load_budgets, parse_budgets, parse_budgets_yaml};

const GOOD_YAML: &str = "
# Budgets of the shop.
budget:
  - name: checkout-latency
    route: /api/orgs/{orgId}/checkout
    method: POST
    kind: latency
    threshold: 250ms
    objective: 99.0
  - name: api
    route: '/api/**'
    kind: availability
    objective: 99.9
    window: 28d
";

#[test]
fn yaml_and_toml_give_the_same_budgets() {
    let yaml = parse_budgets_yaml("budgets.yaml", GOOD_YAML).unwrap();
    assert_eq!(
        yaml,
        parse_budgets("budgets.toml", GOOD_BUDGETS_TOML).unwrap()
    );
    assert_eq!(
        yaml[0].kind,
        BudgetKind::Latency {
            threshold: Duration::from_millis(250)
        }
    );
    assert!(parse_budgets_yaml("empty.yaml", "").unwrap().is_empty());
    assert!(
        parse_budgets_yaml("none.yaml", "budget: []\n")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn bad_yaml_names_the_line() {
    let head = "budget:\n  - name: a\n";
    for (body, line, words) in [
        (
            "    kind: latency\n    threshold: 300ms\n    objective: 99\n",
            4,
            "not an edge",
        ),
        (
            "    kind: latency\n    threshold: fast\n    objective: 99\n",
            4,
            "threshold",
        ),
        (
            "    kind: availability\n    objective: 100\n",
            4,
            "objective",
        ),
        (
            "    kind: availability\n    objective: 99\n    window: 1h\n",
            5,
            "window",
        ),
        (
            "    kind: availability\n    method: FETCH\n    objective: 99\n",
            4,
            "method",
        ),
        (
            "    kind: availability\n    route: /a[b\n    objective: 99\n",
            4,
            "route",
        ),
        (
            "    kind: availability\n    threshold: 1s\n    objective: 99\n",
            4,
            "no threshold",
        ),
        ("    kind: availability\n    objective: lots\n", 4, ""),
        (
            "    kind: availability\n    objective: 99\n  - name: a\n    kind: availability\n    objective: 9\n",
            5,
            "twice",
        ),
        (
            "    kind: latency\n    objective: 99\n",
            2,
            "needs a threshold",
        ),
        (
            "    kind: availability\n    objective: 99\n    colour: 1\n",
            5,
            "colour",
        ),
        (
            "    kind: availability\n    objective: 99\n   bad: [indent\n",
            5,
            "",
        ),
    ] {
        let text = format!("{head}{body}");
        let err = parse_budgets_yaml("budgets.yaml", &text).unwrap_err();
        assert_refused(&err, "budgets.yaml", line, words, &text);
    }
}

#[test]
fn the_extension_chooses_the_format() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("b.yaml", GOOD_YAML),
        ("b.YML", GOOD_YAML),
        ("b.toml", GOOD_BUDGETS_TOML),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        assert_eq!(load_budgets(&path).unwrap().len(), 2, "{name}");
    }
    let path = dir.path().join("wrong.yaml");
    std::fs::write(&path, GOOD_BUDGETS_TOML).unwrap();
    let err = load_budgets(&path).unwrap_err();
    assert!(err.to_string().contains("wrong.yaml"), "{err}");
}

proptest! {
    #[test]
    fn any_text_is_budgets_or_an_error(text in "(budget:\n  - |name: |kind: |objective: |[a-z0-9:\\-\\[\\]{}'\" \n]){0,40}") {
        let _ = parse_budgets_yaml("p.yaml", &text);
    }
}
