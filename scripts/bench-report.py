#!/usr/bin/env python3
"""Helpers of scripts/bench.sh (standard library only).

    bench-report.py scrape URL N
        GETs URL once; if it answers 200, GETs it N more times one after another, each on a new
        connection, and prints `STATUS BYTES MEDIAN_MS` (the body size of the first GET, the
        median wall time from connecting to the last body byte; `-` when N is 0). Prints
        `STATUS - -` for any other status, `000 - -` if nothing answers. The GETs are made with
        curl when it is installed (as a scraper reads: Python's http.client decodes a chunked
        body of 13 MB about twice as slowly as curl, which made its figure the client's).

    bench-report.py report --rounds TSV --flood TSV --md FILE --svg FILE [--meta KEY=VALUE]...
        Reads the raw per-round and flood values bench.sh wrote, prints the summary table and
        the target checks, and writes the markdown report and the SVG chart.
"""

from __future__ import annotations

import argparse
import csv
import html
import http.client
import shutil
import statistics
import subprocess
import sys
import time
import urllib.parse

# --- scrape -----------------------------------------------------------------------------------


def get_once(url: str, timeout: float = 60.0) -> tuple[int, int, float]:
    """One GET on a new connection: (status, body bytes, seconds from connect to last byte)."""
    if shutil.which("curl"):
        out = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "--max-time", str(timeout),
             "-w", "%{http_code} %{size_download} %{time_total}", url],
            capture_output=True, text=True, check=False,
        ).stdout.split()
        if len(out) != 3 or out[0] == "000":
            raise OSError(f"curl could not GET {url}")
        return int(out[0]), int(out[1]), float(out[2])
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    start = time.perf_counter()
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        res = conn.getresponse()
        body = res.read()
        elapsed = time.perf_counter() - start
        return res.status, len(body), elapsed
    finally:
        conn.close()


def scrape(url: str, n: int) -> int:
    try:
        status, size, _ = get_once(url)
    except OSError:
        print("000 - -")
        return 0
    if status != 200:
        print(f"{status} - -")
        return 0
    times = [get_once(url)[2] for _ in range(n)]
    print(f"{status} {size} {statistics.median(times) * 1e3:.3f}" if times else f"{status} {size} -")
    return 0


# --- report -----------------------------------------------------------------------------------

MIB = 1024.0


def num(value: str) -> float | None:
    return None if value in ("", "-", "n/a") else float(value)


def med(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def read_tsv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


class Summary:
    """Per-variant medians of the rounds, ratios to bare, and the flood figures."""

    def __init__(self, rounds: list[dict[str, str]], flood: list[dict[str, str]], order: list[str]):
        self.variants = [v for v in order if any(r["variant"] == v for r in rounds)]
        self.runs: dict[str, dict[int, dict[str, float | None]]] = {}
        for r in rounds:
            self.runs.setdefault(r["variant"], {})[int(r["round"])] = {
                "rps": num(r["req_per_s"]),
                "p50": num(r["p50_ms"]),
                "p99": num(r["p99_ms"]),
                "cpu_us": num(r["cpu_us_per_req"]),
                "rss_mib": num(r["rss_kb"]) / MIB,
                "errors": num(r["errors"]),
            }
        self.med = {
            v: {k: med([run[k] for run in rs.values()]) for k in ("rps", "p50", "p99", "cpu_us", "rss_mib")}
            for v, rs in self.runs.items()
        }
        self.errors = {v: int(sum(run["errors"] or 0 for run in rs.values())) for v, rs in self.runs.items()}
        # Ratio to bare: the median of the per-round ratios (variants run interleaved, so each
        # round's pair shares the machine's state), and the ratio of the medians.
        # CPU added per request: the median of the per-round differences to bare.
        self.ratio: dict[str, float | None] = {}
        self.ratio_of_medians: dict[str, float | None] = {}
        self.cpu_delta: dict[str, float | None] = {}
        bare = self.runs.get("bare")
        for v, rs in self.runs.items():
            if not bare:
                self.ratio[v] = self.ratio_of_medians[v] = self.cpu_delta[v] = None
                continue
            pairs = [rs[r]["rps"] / bare[r]["rps"] for r in rs if r in bare]
            self.ratio[v] = statistics.median(pairs) if pairs else None
            self.ratio_of_medians[v] = self.med[v]["rps"] / self.med["bare"]["rps"]
            deltas = [rs[r]["cpu_us"] - bare[r]["cpu_us"] for r in rs
                      if r in bare and rs[r]["cpu_us"] is not None and bare[r]["cpu_us"] is not None]
            self.cpu_delta[v] = statistics.median(deltas) if deltas else None
        self.flood: dict[str, dict[str, float | None]] = {}
        for f in flood:
            before, after = num(f["rss_before_kb"]), num(f["rss_after_kb"])
            self.flood[f["variant"]] = {
                "requests": num(f["requests"]),
                "seconds": num(f["seconds"]),
                "non2xx": num(f["non2xx"]),
                "socket_errors": num(f["socket_errors"]),
                "rss_before_mib": before / MIB,
                "rss_after_mib": after / MIB,
                "rss_growth_mib": (after - before) / MIB,
                "rss_after_scrape_mib": None if (k := num(f["rss_after_scrape_kb"])) is None else k / MIB,
                "metrics_status": f["metrics_status"],
                "metrics_bytes_before": num(f["metrics_bytes_before"]),
                "metrics_bytes": num(f["metrics_bytes"]),
                "metrics_ms": num(f["metrics_ms"]),
            }
        self.flood_variants = [v for v in order if v in self.flood]


def summary_rows(s: Summary) -> list[list[str]]:
    rows = []
    for v in s.variants:
        m, f = s.med[v], s.flood.get(v, {})
        rows.append([
            v,
            fmt(m["rps"], ",.0f"),
            fmt(s.ratio[v], ".3f"),
            fmt(s.ratio_of_medians[v], ".3f"),
            fmt(m["p50"], ".3f"),
            fmt(m["p99"], ".3f"),
            fmt(m["cpu_us"], ".2f"),
            fmt(s.cpu_delta[v], "+.2f"),
            fmt(m["rss_mib"], ".1f"),
            fmt(f.get("rss_growth_mib"), "+.1f"),
            fmt(f.get("metrics_bytes"), ",.0f"),
            fmt(f.get("metrics_ms"), ".2f"),
        ])
    return rows


SUMMARY_HEADER = [
    "variant", "req/s", "vs bare", "(medians)", "p50 ms", "p99 ms", "CPU µs/req", "ΔCPU µs", "RSS MiB",
    "flood ΔRSS MiB", "/metrics bytes", "/metrics ms",
]


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = []
    for j, r in enumerate([header, *rows]):
        cells = [c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)]
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def md_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def target_checks(s: Summary, targets: dict[str, float]) -> list[str]:
    """PASS/MISS lines; SKIP when a variant the check needs did not run."""
    lines = []

    def check(label: str, ok: bool | None, detail: str) -> None:
        verdict = "SKIP" if ok is None else ("PASS" if ok else "MISS")
        lines.append(f"{verdict}  {label}: {detail}")

    for v, key in (("monitor", "monitor_ratio"), ("full", "full_ratio")):
        r = s.ratio.get(v)
        check(f"{v} req/s vs bare >= {targets[key]:.2f}", None if r is None else r >= targets[key],
              f"{v} or bare not run" if r is None else
              f"{r:.3f} (median of per-round ratios; ratio of medians "
              f"{fmt(s.ratio_of_medians.get(v), '.3f')})")
    d = s.cpu_delta.get("monitor")
    cap = targets["monitor_cpu_us"]
    check(f"monitor added CPU per request <= {cap:.2f} µs", None if d is None else d <= cap,
          "monitor or bare not run" if d is None else f"{d:+.2f} µs (median of per-round differences)")
    mon = s.med.get("monitor")
    for other in ("axum-prometheus", "prometheus-client"):
        o = s.med.get(other)
        for key, label, unit, better in (("rps", "req/s", "", max), ("p99", "p99", " ms", min),
                                         ("cpu_us", "CPU/req", " µs", min)):
            if mon is None or o is None or mon[key] is None or o[key] is None:
                check(f"monitor ahead of {other} on {label}", None, "not run")
                continue
            spec = ",.0f" if key == "rps" else ".3f"
            ahead = mon[key] > o[key] if better is max else mon[key] < o[key]
            check(f"monitor ahead of {other} on {label}", ahead,
                  f"monitor {mon[key]:{spec}}{unit} vs {o[key]:{spec}}{unit} (medians)")
    for v in ("monitor", "full"):
        g = s.flood.get(v, {}).get("rss_growth_mib")
        # The bound is in MB (10^6 bytes); growth is measured in MiB.
        mb = None if g is None else g * 1024 * 1024 / 1e6
        check(f"{v} flood RSS growth < {targets['flood_mb']:g} MB",
              None if mb is None else mb < targets["flood_mb"],
              "not run" if g is None else f"{g:+.1f} MiB = {mb:+.1f} MB")
    return lines


def svg_chart(s: Summary, path: str, title: str) -> None:
    """Grouped bars per variant: req/s ÷ bare (left axis) and server CPU µs/request (right)."""
    variants = s.variants
    ratios = [s.ratio.get(v) for v in variants]
    cpus = [s.med[v]["cpu_us"] for v in variants]
    group_w, bar_w = 120, 40
    left, right, top, bottom = 80, 80, 70, 56
    plot_h = 300
    width = left + right + group_w * max(len(variants), 1)
    height = top + plot_h + bottom

    def nice_axis(values: list[float | None], floor: float) -> tuple[float, float]:
        """(top, tick step): a round step giving 4 to 8 ticks above the largest value + 15%."""
        hi = max([v for v in values if v is not None] + [floor]) * 1.15
        for step in (0.1, 0.2, 0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
            if hi / step <= 8:
                return step * -(-hi // step), step
        return hi, hi / 5

    ratio_max, ratio_step = nice_axis(ratios, 1.0)
    cpu_max, cpu_step = nice_axis(cpus, 1.0)
    ratio_color, cpu_color = "#4c78a8", "#f58518"
    e = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{e(title)}</text>',
    ]
    # Legend.
    lx = left
    for color, label in ((ratio_color, "req/s ÷ bare (left axis)"),
                         (cpu_color, "server CPU µs per request (right axis)")):
        out.append(f'<rect x="{lx}" y="36" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="46">{e(label)}</text>')
        lx += 16 + 7 * len(label) + 24
    y0 = top + plot_h
    # Grid on the left axis' ticks; each axis labelled at its own round steps.
    for i in range(round(ratio_max / ratio_step) + 1):
        value = ratio_step * i
        y = y0 - plot_h * value / ratio_max
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                   f'stroke="#ddd" stroke-width="1"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{ratio_color}">'
                   f'{value:.2f}</text>')
    for i in range(round(cpu_max / cpu_step) + 1):
        value = cpu_step * i
        y = y0 - plot_h * value / cpu_max
        out.append(f'<line x1="{width - right}" y1="{y:.1f}" x2="{width - right + 4}" y2="{y:.1f}" '
                   f'stroke="{cpu_color}"/>')
        out.append(f'<text x="{width - right + 7}" y="{y + 4:.1f}" fill="{cpu_color}">'
                   f'{value:g}</text>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y0}" stroke="black"/>')
    out.append(f'<line x1="{width - right}" y1="{top}" x2="{width - right}" y2="{y0}" stroke="black"/>')
    out.append(f'<line x1="{left}" y1="{y0}" x2="{width - right}" y2="{y0}" stroke="black"/>')
    if s.runs.get("bare"):
        y1 = y0 - plot_h * 1.0 / ratio_max
        out.append(f'<line x1="{left}" y1="{y1:.1f}" x2="{width - right}" y2="{y1:.1f}" '
                   f'stroke="{ratio_color}" stroke-dasharray="4 3"/>')
    cy = top + plot_h / 2
    out.append(f'<text transform="translate(22 {cy}) rotate(-90)" text-anchor="middle" '
               f'fill="{ratio_color}">req/s ÷ bare (median of per-round ratios)</text>')
    out.append(f'<text transform="translate({width - 22} {cy}) rotate(90)" text-anchor="middle" '
               f'fill="{cpu_color}">server CPU µs per request (median)</text>')
    for i, v in enumerate(variants):
        gx = left + group_w * i + (group_w - 2 * bar_w - 4) / 2
        for j, (value, vmax, color, spec) in enumerate(((ratios[i], ratio_max, ratio_color, ".3f"),
                                                        (cpus[i], cpu_max, cpu_color, ".2f"))):
            x = gx + j * (bar_w + 4)
            if value is None:
                out.append(f'<text x="{x + bar_w / 2}" y="{y0 - 4}" text-anchor="middle">n/a</text>')
                continue
            h = plot_h * value / vmax
            out.append(f'<rect x="{x:.1f}" y="{y0 - h:.1f}" width="{bar_w}" height="{h:.1f}" fill="{color}"/>')
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{y0 - h - 4:.1f}" text-anchor="middle" '
                       f'font-size="11">{value:{spec}}</text>')
        out.append(f'<text x="{left + group_w * i + group_w / 2}" y="{y0 + 18}" '
                   f'text-anchor="middle">{e(v)}</text>')
    out.append(f'<text x="{left + (width - left - right) / 2}" y="{y0 + 44}" text-anchor="middle">'
               f'variant (same routes; server on one core, wrk on another)</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def report(args: argparse.Namespace) -> int:
    meta = dict(kv.split("=", 1) for kv in args.meta)
    order = meta.get("variants", "").split()
    rounds = read_tsv(args.rounds)
    if not rounds:
        sys.exit("bench-report: no rounds measured")
    flood = read_tsv(args.flood)
    s = Summary(rounds, flood, order)
    targets = {
        "monitor_ratio": float(meta.get("target_monitor_ratio", 0.97)),
        "full_ratio": float(meta.get("target_full_ratio", 0.92)),
        "monitor_cpu_us": float(meta.get("target_monitor_cpu_us", 0.25)),
        "flood_mb": float(meta.get("target_flood_mb", 10)),
    }
    flooded = meta.get("flood", "0") != "0"
    rows = summary_rows(s)
    checks = target_checks(s, targets)
    errors = {v: n for v, n in s.errors.items() if n}

    print()
    print(text_table(SUMMARY_HEADER, rows))
    print()
    print("req/s, p50, p99, CPU and RSS: medians over the rounds; vs bare: median of per-round"
          " ratios to bare\n(then the ratio of the medians); ΔCPU: median of the per-round CPU"
          " differences to bare", end="")
    if flooded:
        print(f"; flood: RSS after minus before {meta.get('flood', '?')} requests to distinct"
              " paths and tenants;\n/metrics: its size after the flood and the median time of"
              f" {meta.get('metrics_gets', '?')} sequential GETs.")
    else:
        print("; no flood (FLOOD=0).")
    if meta.get("skipped"):
        print(f"skipped: {meta['skipped']}")
    if errors:
        print("WARNING: wrk errors (socket errors or non-2xx) during the rounds: "
              + ", ".join(f"{v} {n}" for v, n in errors.items()))
    print()
    print("targets")
    for line in checks:
        print(f"  {line}")

    # Markdown.
    md = []
    out = md.append
    out("# vitals: overhead and scale, side by side with the alternatives")
    out("")
    out(f"- date: {meta.get('date', '?')}")
    out(f"- machine: {meta.get('nproc', '?')} CPUs (`nproc`), {meta.get('cpu_model', '?')},"
        f" Linux {meta.get('kernel', '?')}")
    out(f"- toolchain: {meta.get('rustc', '?')}; node {meta.get('node', 'n/a')}")
    out(f"- command: `{meta.get('command', 'scripts/bench.sh')}`")
    out(f"- knobs: {meta.get('knobs', '')}")
    if meta.get("skipped"):
        out(f"- skipped: {meta['skipped']}")
    out("")
    out("Each variant serves the same routes (`GET /hello`, `GET /orgs/{orgId}/items/{id}`, and"
        " `/metrics` where it has one). The server is pinned to one core (one tokio worker; node"
        " is single-threaded), wrk to another; variants run interleaved (order reversed every"
        " other round), each a fresh process warmed up before its measured run on"
        f" `{meta.get('path', '/hello')}`. CPU is the server's utime+stime over the run divided"
        " by the requests wrk completed; RSS is VmRSS right after the run.")
    out("")
    out("## Summary")
    out("")
    out(md_table(SUMMARY_HEADER, rows))
    out("")
    out("req/s, p50, p99, CPU µs/req and RSS are medians over the rounds. *vs bare* is the median"
        " of the per-round ratios to bare, *(medians)* the ratio of the medians, *ΔCPU µs* the"
        " median of the per-round differences of CPU per request to bare."
        " *flood ΔRSS* is RSS after the flood minus before it; */metrics bytes* the size of"
        " `GET /metrics` after the flood, */metrics ms* the median wall time of"
        f" {meta.get('metrics_gets', '?')} sequential GETs of it, each on a new connection.")
    if errors:
        out("")
        out("**Warning**: wrk errors (socket errors or non-2xx responses) during the rounds: "
            + ", ".join(f"{v} {n}" for v, n in errors.items()) + ".")
    out("")
    out("![req/s ratio to bare and CPU per request](bench.svg)")
    out("")
    out("## Targets")
    out("")
    out("```text")
    md.extend(checks)
    out("```")
    out("")
    out("## Flood")
    out("")
    if not flooded:
        out("Not run (FLOOD=0).")
        out("")
    out(f"Once per variant, after the rounds: a fresh server, {meta.get('warmup', '?')} s of"
        f" warm-up on `{meta.get('path', '/hello')}`, then {meta.get('flood', '?')} requests"
        " (`scripts/bench-flood.lua`), half `GET /orgs/org-<n>/items/<n>` with"
        " `x-organization-id: org-<n>`, half `GET /x/<n>/<random>` (404), every path and tenant"
        " distinct.")
    out("")
    flood_header = ["variant", "requests", "seconds", "404s", "socket errors", "RSS before MiB",
                    "RSS after MiB", "ΔRSS MiB", "/metrics bytes before", "/metrics bytes after",
                    "/metrics ms", "RSS after the GETs MiB"]
    flood_rows = []
    for v in s.flood_variants:
        f = s.flood[v]
        flood_rows.append([
            v, fmt(f["requests"], ",.0f"), fmt(f["seconds"], ".2f"), fmt(f["non2xx"], ",.0f"),
            fmt(f["socket_errors"], ",.0f"), fmt(f["rss_before_mib"], ".1f"),
            fmt(f["rss_after_mib"], ".1f"), fmt(f["rss_growth_mib"], "+.1f"),
            fmt(f["metrics_bytes_before"], ",.0f"), fmt(f["metrics_bytes"], ",.0f"),
            fmt(f["metrics_ms"], ".2f"), fmt(f["rss_after_scrape_mib"], ".1f"),
        ])
    out(md_table(flood_header, flood_rows))
    out("")
    out("## Rounds")
    out("")
    round_header = ["round", "variant", "req/s", "vs bare", "p50 ms", "p99 ms", "CPU µs/req",
                    "RSS MiB", "errors"]
    round_rows = []
    for r in sorted({r for rs in s.runs.values() for r in rs}):
        for v in s.variants:
            x = s.runs[v].get(r)
            if x is None:
                continue
            b = s.runs.get("bare", {}).get(r)
            round_rows.append([
                str(r), v, fmt(x["rps"], ",.0f"),
                fmt(x["rps"] / b["rps"] if b else None, ".3f"),
                fmt(x["p50"], ".3f"), fmt(x["p99"], ".3f"), fmt(x["cpu_us"], ".2f"),
                fmt(x["rss_mib"], ".1f"), fmt(x["errors"], ".0f"),
            ])
    out(md_table(round_header, round_rows, left=2))
    out("")
    out(f"Raw values: `{args.rounds}`, `{args.flood}`.")
    with open(args.md, "w") as f:
        f.write("\n".join(md) + "\n")

    svg_chart(s, args.svg, f"Overhead against bare axum (scripts/bench.sh, {meta.get('date', '')})")
    print()
    print(f"report: {args.md}")
    print(f"chart:  {args.svg}")
    print(f"raw:    {args.rounds} {args.flood}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("scrape")
    p.add_argument("url")
    p.add_argument("n", type=int)
    p = sub.add_parser("report")
    p.add_argument("--rounds", required=True)
    p.add_argument("--flood", required=True)
    p.add_argument("--md", required=True)
    p.add_argument("--svg", required=True)
    p.add_argument("--meta", action="append", default=[], help="KEY=VALUE")
    args = parser.parse_args()
    if args.cmd == "scrape":
        return scrape(args.url, args.n)
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
