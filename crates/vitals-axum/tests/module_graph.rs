//! The crate's module graph, read from its sources: `lib.rs` is a façade (modules and
//! re-exports, no items of its own, nothing imported back from the crate root), and the
//! `use crate::…` / `use super::…` imports between modules form no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// `src/a/b.rs` and `src/a/b/mod.rs` -> `a::b`; `src/lib.rs` -> ``.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(SRC).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The non-test part of a source file (unit tests may import anything).
fn non_test(text: &str) -> &str {
    let cut = ["#[cfg(test)]\nmod tests", "#[cfg(test)]\n#[path"]
        .iter()
        .filter_map(|m| text.find(m))
        .min();
    &text[..cut.unwrap_or(text.len())]
}

/// The modules `module` imports: `use crate::a::b::Item` -> the longest known module prefix
/// (`a::b`), `use super::x` resolved against `module`'s parent.
fn imports(module: &str, text: &str, known: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    'lines: for line in non_test(text).lines() {
        let line = line.trim_start();
        // Re-exports (`pub use child::Item`) are the façade pointing down, not dependencies.
        let Some(rest) = line.strip_prefix("use ") else {
            continue;
        };
        let (base, path) = if let Some(p) = rest.strip_prefix("crate::") {
            (Vec::new(), p)
        } else if let Some(p) = rest.strip_prefix("super::") {
            let mut base: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
            base.pop();
            (base.into_iter().map(str::to_owned).collect(), p)
        } else {
            continue;
        };
        let mut segments = base;
        for seg in path.split("::") {
            let seg = seg.trim_end_matches(';');
            if seg.starts_with('{') || seg.is_empty() {
                // `use crate::{a, b}`: each name may be a module.
                for name in seg
                    .trim_matches(|c| c == '{' || c == '}' || c == ';')
                    .split(',')
                {
                    let mut candidate = segments.clone();
                    candidate.push(name.trim().to_owned());
                    let joined = candidate.join("::");
                    if known.contains(&joined) {
                        out.push(joined);
                    }
                }
                continue 'lines;
            }
            segments.push(seg.to_owned());
        }
        while !segments.is_empty() && !known.contains(&segments.join("::")) {
            segments.pop();
        }
        let target = segments.join("::");
        if target != module {
            out.push(target); // empty: the crate root itself
        }
    }
    out
}

#[test]
fn lib_is_a_facade_and_modules_form_no_cycle() {
    let mut files = Vec::new();
    sources(Path::new(SRC), &mut files);
    let texts: BTreeMap<String, String> = files
        .iter()
        .map(|p| (module_of(p), std::fs::read_to_string(p).unwrap()))
        .collect();
    let known: BTreeSet<String> = texts.keys().cloned().collect();

    // lib.rs: modules and re-exports only.
    let lib = &texts[""];
    for line in lib.lines() {
        let line = line.trim_start();
        for item in [
            "fn ",
            "struct ",
            "enum ",
            "type ",
            "const ",
            "static ",
            "impl ",
            "trait ",
            "macro_rules!",
        ] {
            assert!(
                !line.starts_with(item) && !line.starts_with(&format!("pub {item}")),
                "lib.rs defines an item: {line}"
            );
        }
    }

    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, text) in &texts {
        if module.is_empty() {
            continue;
        }
        for target in imports(module, text, &known) {
            assert!(!target.is_empty(), "{module} imports from the crate root");
            graph.entry(module.clone()).or_default().insert(target);
        }
    }
    assert!(graph.len() > 20, "the graph was read: {graph:?}");

    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

/// A cycle of `graph`, if it has one (depth-first search for a back edge).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(_) => {
                let mut cycle = stack.clone();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        state.insert(node.to_owned(), 1);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, state, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut state, &mut Vec::new()))
}

#[test]
fn the_checker_reads_imports_and_sees_a_cycle() {
    let known: BTreeSet<String> = ["a", "b", "a::x"].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(imports("a", "use crate::b::Thing;\n", &known), ["b"]);
    assert_eq!(imports("b", "use crate::{a, c};\n", &known), ["a"]);
    assert_eq!(imports("a::x", "use super::Item;\n", &known), ["a"]);
    assert_eq!(
        imports("a", "pub use x::Item;\nuse super::B;\n", &known),
        [""]
    );
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            g.entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
        }
        g
    };
    assert_eq!(find_cycle(&graph(&[("a", "b"), ("b", "c")])), None);
    let cycle = find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).unwrap();
    assert_eq!(cycle.first(), cycle.last());
}
