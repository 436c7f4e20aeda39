//! The crate's modules import each other without a cycle: every `use crate::…` (and
//! `pub use crate::…`) line outside test modules is an edge from the importing module to the
//! module it names, and the graph must be acyclic. `lib.rs` only declares and re-exports, so
//! an import of a root item from inside the crate would close a cycle through the root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `monitor/mod.rs` -> `monitor`, `expose/text.rs` -> `expose::text`, `lib.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// Each `use crate::a::b::…` path of `text` before its test module, expanded over one level of
/// braces (`use crate::a::{b::X, c::Y}`).
fn imports(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
    let mut out = Vec::new();
    let mut statement = String::new();
    for line in code.lines() {
        let line = line.trim();
        if statement.is_empty()
            && !(line.starts_with("use crate::") || line.starts_with("pub use crate::"))
        {
            continue;
        }
        statement.push_str(line);
        if !line.ends_with(';') {
            continue;
        }
        let path = statement
            .split("crate::")
            .nth(1)
            .unwrap()
            .trim_end_matches(';')
            .to_owned();
        statement.clear();
        match path.split_once('{') {
            Some((base, rest)) => {
                for item in rest.trim_end_matches('}').split(',') {
                    if !item.trim().is_empty() {
                        out.push(format!("{base}{}", item.trim()));
                    }
                }
            }
            None => out.push(path),
        }
    }
    out
}

#[test]
fn modules_import_each_other_without_a_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeSet<String> = all.iter().map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let from = module_of(&src, file);
        for path in imports(&std::fs::read_to_string(file).unwrap()) {
            // The longest prefix of the path that is a module (the crate root when none is).
            let segments: Vec<&str> = path.split("::").collect();
            let to = (0..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|m| modules.contains(m))
                .unwrap();
            if to != from {
                edges.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    assert!(
        !edges.is_empty(),
        "no imports found under {}",
        src.display()
    );
    assert_eq!(find_cycle(&edges), None);
}

type Graph = BTreeMap<String, BTreeSet<String>>;

/// A cycle of the graph (as the path that closes it), if there is one: depth-first search for
/// an edge back to a module still on the stack.
fn find_cycle(edges: &Graph) -> Option<Vec<String>> {
    fn visit<'a>(
        m: &'a str,
        edges: &'a Graph,
        done: &mut BTreeSet<&'a str>,
        stack: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|s| *s == m) {
            let mut cycle: Vec<String> = stack[at..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(m.to_owned());
            return Some(cycle);
        }
        if !done.insert(m) {
            return None;
        }
        stack.push(m);
        for next in edges.get(m).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut done, &mut Vec::new()))
}

#[test]
fn the_check_parses_imports_and_finds_a_cycle() {
    assert_eq!(imports("use crate::b::X;\n"), vec!["b::X"]);
    assert_eq!(
        imports(
            "pub use crate::a::{\n    b::Y, Z,\n};\n#[cfg(test)]\nmod tests {\nuse crate::c::W;\n}"
        ),
        vec!["a::b::Y", "a::Z"]
    );
    let graph = |pairs: &[(&str, &str)]| {
        let mut g = Graph::new();
        for (a, b) in pairs {
            g.entry((*a).to_owned())
                .or_default()
                .insert((*b).to_owned());
        }
        g
    };
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("a", "c")])),
        None
    );
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec![
            "a".to_owned(),
            "b".to_owned(),
            "c".to_owned(),
            "a".to_owned()
        ])
    );
}
