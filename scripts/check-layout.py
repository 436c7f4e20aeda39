#!/usr/bin/env python3
"""Checks the module layout of the library crates: no import cycle between modules, lib.rs a
façade that no module imports back from, and no file over 600 lines of non-test code.

Modules are files (`a.rs`, `a/mod.rs`, `a/b.rs`). An edge A -> B is any path `crate::…`,
`super::…` or `self::…` in A's non-test code that resolves to module B or to an item of B
(re-exports count as items of the module that re-exports them: importing a re-export from a
parent that re-exports the child is a loop). Test code (`#[cfg(test)]` blocks and `tests.rs`
files) is left out: a test module may use its parent.

Usage: scripts/check-layout.py [CRATE_SRC_DIR...]   (default: every crate's src/ but the bench's)
Exit status 1 with one line per problem when any is found.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MAX_LINES = 600
ROOT = Path(__file__).resolve().parent.parent
# Every crate of the workspace with a src/ directory (new crates are checked without a list to keep).
DEFAULT_CRATES = sorted(p.parent.name for p in (Path(__file__).resolve().parent.parent / "crates").glob("*/src"))


def module_path(src: Path, file: Path) -> tuple[str, ...]:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main") and len(parts) == 1:
        return ()
    if parts[-1] == "mod":
        parts = parts[:-1]
    return tuple(parts)


def blank_literals(text: str) -> str:
    """Blanks comments, string and char literals (keeping newlines), so braces and paths in
    them are not read as code."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j == -1 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j == -1 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            j = n if j == -1 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(re.sub(r"[^\n]", " ", text[i : j + 1]))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.[^']*|[^\\'])'", text[i:]):
            m = re.match(r"'(\\.[^']*|[^\\'])'", text[i:])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_tests(text: str) -> str:
    """Code without comments and literals, and without its `#[cfg(test)]` items (a `mod x;`
    line or a braced block)."""
    lines = blank_literals(text).split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].strip().startswith("#[cfg(test)]"):
            j = i + 1
            while j < len(lines) and lines[j].strip().startswith("#["):
                j += 1
            if j < len(lines) and lines[j].rstrip().endswith(";"):
                i = j + 1
                continue
            depth, started = 0, False
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                started = started or "{" in lines[j]
                j += 1
                if started and depth <= 0:
                    break
            i = j
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(out)


def expand_use_tree(prefix: str, tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> [`a::b`, `a::c::d`, `a::c::e`]."""
    tree = tree.strip()
    if not tree:
        return []
    brace = tree.find("{")
    if brace == -1:
        return [prefix + tree]
    head = tree[:brace]
    body = tree[brace + 1 : tree.rfind("}")]
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    paths: list[str] = []
    for p in parts:
        paths.extend(expand_use_tree(prefix + head, p))
    return paths


def inline_modules(code: str) -> list[tuple[int, int, str]]:
    """The spans of inline `mod name { … }` blocks: (start, end, name)."""
    spans = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", code):
        depth, j = 0, m.end() - 1
        while j < len(code):
            depth += code[j] == "{"
            depth -= code[j] == "}"
            if depth == 0:
                break
            j += 1
        spans.append((m.start(), j, m.group(1)))
    return spans


def paths_in(code: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every `crate::`/`super::`/`self::` path with the inline modules it is written in."""
    spans = inline_modules(code)

    def inside(pos: int) -> tuple[str, ...]:
        return tuple(name for start, end, name in spans if start < pos < end)

    found: list[tuple[str, tuple[str, ...]]] = []
    for m in re.finditer(r"\buse\s+((?:crate|super|self)\b[^;]*);", code, flags=re.S):
        stmt = re.sub(r"\s+", "", m.group(1))
        for p in expand_use_tree("", stmt):
            found.append((re.sub(r"\bas\w+$", "", p), inside(m.start())))
    rest = re.sub(r"\buse\s+[^;]*;", lambda m: " " * len(m.group(0)), code, flags=re.S)
    for m in re.finditer(r"\b(?:crate|super|self)(?:::(?:super|[A-Za-z_]\w*))+", rest):
        # `$crate::` inside a macro and `crate::name!` (an exported macro, which Rust puts at the
        # root whatever module defines it) are not imports of the root module.
        if rest[m.start() - 1 : m.start()] == "$" or rest[m.end() : m.end() + 1] == "!":
            continue
        found.append((m.group(0), inside(m.start())))
    return found


def resolve(path: str, here: tuple[str, ...], is_dir_module: bool, modules: set) -> tuple[str, ...] | None:
    segs = path.split("::")
    # The module a relative path starts from: `self` is the file's module; `super` its parent.
    base: tuple[str, ...]
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] == "self":
        base, segs = here, segs[1:]
    else:
        base = here
        while segs and segs[0] == "super":
            base = base[:-1]
            segs = segs[1:]
    target = base
    for s in segs:
        if target + (s,) in modules:
            target = target + (s,)
        else:
            break
    return target


def check_crate(src: Path) -> list[str]:
    problems: list[str] = []
    files = sorted(p for p in src.rglob("*.rs") if p.name != "tests.rs" and "tests" not in p.relative_to(src).parts[:-1])
    modules = {module_path(src, f): f for f in files}
    edges: dict[tuple, set] = {m: set() for m in modules}
    for mod, file in modules.items():
        text = file.read_text()
        non_test = strip_tests(text)
        # Lines of the original text outside test items: comments and docs count, blank lines too.
        n = len(non_test.splitlines())
        if n > MAX_LINES:
            problems.append(f"{file.relative_to(ROOT)}: {n} lines of non-test code (limit {MAX_LINES})")
        code = non_test
        is_dir = file.name in ("mod.rs", "lib.rs", "main.rs")
        for p, inline in paths_in(code):
            t = resolve(p, mod + inline, is_dir, set(modules))
            if t is None or t == mod:
                continue
            # A child naming its own submodule path through `self::` is a declaration, not a loop.
            if t[: len(mod)] == mod and len(t) > len(mod) and p.startswith("self::"):
                edges[mod].add(t)
                continue
            edges[mod].add(t)
    # A module other than the root importing from the root (lib.rs defines or re-exports it).
    for mod, outs in edges.items():
        if mod != () and () in outs:
            problems.append(f"{modules[mod].relative_to(ROOT)}: imports from the crate root (lib.rs is a façade)")
    # Cycles, by depth-first search over module edges (the root is left out: it imports all).
    graph = {m: {t for t in outs if t != ()} for m, outs in edges.items() if m != ()}
    color: dict[tuple, int] = {}
    stack: list[tuple] = []
    seen_cycles: set = set()

    def visit(m: tuple) -> None:
        color[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if color.get(t) == 1:
                cyc = stack[stack.index(t) :] + [t]
                key = frozenset(cyc)
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    names = " -> ".join("::".join(c) or "crate" for c in cyc)
                    problems.append(f"{src.relative_to(ROOT)}: import cycle {names}")
            elif color.get(t) is None:
                visit(t)
        stack.pop()
        color[m] = 2

    for m in sorted(graph):
        if color.get(m) is None:
            visit(m)
    return problems


def self_test() -> None:
    """The checker finds a cycle, a root import and a long file in a made-up crate."""
    import tempfile

    global ROOT
    with tempfile.TemporaryDirectory() as tmp:
        saved, ROOT = ROOT, Path(tmp)
        src = ROOT / "src"
        (src / "b").mkdir(parents=True)
        (src / "lib.rs").write_text("mod a;\nmod b;\npub use a::A;\n")
        (src / "a.rs").write_text("use crate::b::c::C;\npub struct A;\n#[cfg(test)]\nmod tests {\n    use crate::A;\n}\n")
        (src / "b" / "mod.rs").write_text("pub(crate) mod c;\nfn f() { let _ = \"crate::A\"; }\n")
        (src / "b" / "c.rs").write_text("use super::super::a::A;\npub struct C;\nfn g() -> crate::A { crate::A }\n" + "//\n" * 600)
        found = check_crate(src)
        ROOT = saved
    want = ["import cycle a -> b::c -> a", "b/c.rs: imports from the crate root", "b/c.rs: 603 lines"]
    for w in want:
        assert any(w in f for f in found), f"self-test: expected {w!r} in {found}"
    assert len(found) == len(want), f"self-test: unexpected problems {found}"


def main() -> int:
    self_test()
    if len(sys.argv) > 1:
        srcs = [Path(a).resolve() for a in sys.argv[1:]]
    else:
        srcs = [ROOT / "crates" / c / "src" for c in DEFAULT_CRATES if (ROOT / "crates" / c / "src").is_dir()]
    problems: list[str] = []
    for src in srcs:
        problems += check_crate(src)
    for p in problems:
        print(p)
    if problems:
        print(f"check-layout: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check-layout: {len(srcs)} crates, no import cycle, no file over {MAX_LINES} lines of non-test code")
    return 0


if __name__ == "__main__":
    sys.exit(main())
