#!/usr/bin/env bash
# Load benchmark of MonitorLayer's overhead: the `bench-app` server (crates/vitals-bench) with
# and without the layer, under `wrk`, interleaved over several rounds.
#
# The server is pinned to one core and wrk to another; per run we record wrk's req/s and p99
# and the server's CPU time per request (utime+stime from /proc/<pid>/stat sampled right
# before and right after the wrk run, divided by the requests wrk completed). The variant
# order alternates per round (bare, monitor / monitor, bare). The summary gives per-variant
# medians, the throughput ratio monitor/bare and the added CPU per request, both from the
# medians and as the median of the per-round paired values.
#
# Environment (defaults in brackets):
#   ROUNDS [5]  DURATION [10] seconds per measured run  WARMUP [2] seconds
#   CONNECTIONS [32]  THREADS [1] wrk threads  WORKERS [1] server tokio workers
#   SERVER_CPU [0]  LOAD_CPU [1] cores for taskset  PATH_UNDER_TEST [/hello]
#   TARGET_RPS_RATIO [0.97]  TARGET_CPU_DELTA_US [0.25] thresholds for the verdict line
#   BENCH_FEATURES [unset] cargo features of bench-app (`jemalloc`: every variant on jemalloc,
#   as the reference server runs; also read by scripts/bench.sh and callgrind-requests.sh)
#
# Output: tables on stdout and a markdown report in <target-dir>/bench-load.md (its last
# line, `RESULT ...`, is machine-readable).
#
# scripts/bench.sh sources this file for its shared part (settings, prerequisites, build,
# starting and stopping a pinned server, one measured wrk run, parsing wrk's output); when
# sourced, the file defines those and returns before bench-load's own run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# --- shared with scripts/bench.sh ----------------------------------------------------------
# Name in messages; bench.sh sets its own before sourcing.
BENCH_NAME=${BENCH_NAME:-bench-load}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
PATH_UNDER_TEST=${PATH_UNDER_TEST:-/hello}
# Directory holding the fastify variant's server.js and node_modules (set by bench.sh).
FASTIFY_DIR=${FASTIFY_DIR:-}
# A saturated worker is busy all the time, so vitals' pressure layer (its default busy-ratio
# threshold, 0.98) could shed requests mid-run; bench-app leaves that threshold off with
# BENCH_SHED=0. The per-request check is the same atomic load either way.
export BENCH_SHED=${BENCH_SHED:-0}

die() {
    echo "$BENCH_NAME: $*" >&2
    exit 1
}

# Checks the tools and the CPUs; sets CLK_TCK and ncpu. Installs wrk with apt-get if missing.
bench_prerequisites() {
    command -v taskset >/dev/null 2>&1 ||
        die "taskset not found; it is part of util-linux (Debian: apt-get install util-linux)"
    command -v python3 >/dev/null 2>&1 || die "python3 not found (needed for the arithmetic)"
    command -v getconf >/dev/null 2>&1 || die "getconf not found (needed for CLK_TCK)"
    [[ -r /proc/self/stat ]] || die "/proc is not mounted; server CPU time cannot be read"

    if ! command -v wrk >/dev/null 2>&1; then
        echo "$BENCH_NAME: wrk not found, installing it with apt-get" >&2
        local -a sudo=()
        if [[ $(id -u) -ne 0 ]]; then
            command -v sudo >/dev/null 2>&1 ||
                die "wrk is missing and we are neither root nor have sudo; install wrk (apt-get install wrk)"
            sudo=(sudo)
        fi
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
            die "apt-get update failed"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
            die "apt-get install wrk failed"
        command -v wrk >/dev/null 2>&1 || die "wrk still not found after installing it"
    fi

    CLK_TCK=$(getconf CLK_TCK)
    [[ $CLK_TCK =~ ^[0-9]+$ && $CLK_TCK -gt 0 ]] || die "bad CLK_TCK: $CLK_TCK"
    ncpu=$(nproc)
    local cpu
    for cpu in "$SERVER_CPU" "$LOAD_CPU"; do
        [[ $cpu =~ ^[0-9]+$ && $cpu -lt $ncpu ]] || die "CPU $cpu does not exist (nproc = $ncpu)"
    done
    [[ $SERVER_CPU != "$LOAD_CPU" ]] ||
        echo "$BENCH_NAME: warning: server and wrk share CPU $SERVER_CPU" >&2
}

# Builds bench-app; sets TARGET_DIR and BIN.
bench_build() {
    echo "$BENCH_NAME: building bench-app (release)" >&2
    cargo build --release -p vitals-bench --bin bench-app ${BENCH_FEATURES:+--features "$BENCH_FEATURES"}
    TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
    BIN="$TARGET_DIR/release/bench-app"
    [[ -x $BIN ]] || die "built binary not found at $BIN"
}

# Makes the scratch directory WORK, removed (and any server stopped) on exit.
bench_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$BENCH_NAME.XXXXXX")
    SERVER_PID=""
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Stops the server (TERM, then KILL after 5 s).
stop_server() {
    if [[ -n ${SERVER_PID:-} ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}

bench_cleanup() {
    stop_server
    [[ -z ${WORK:-} ]] || rm -rf "$WORK"
}

# CPU ticks (utime + stime, fields 14 and 15) of a process, all its threads included.
cpu_ticks() {
    local stat rest
    stat=$(<"/proc/$1/stat") || die "cannot read /proc/$1/stat (server gone?)"
    rest=${stat##*) } # the command name may hold spaces and parentheses; fields 3.. follow it
    local -a f
    read -r -a f <<<"$rest"
    echo $((f[11] + f[12]))
}

# Resident set size of a process in KiB (VmRSS in /proc/<pid>/status).
rss_kb() {
    local key value
    [[ -r /proc/$1/status ]] || die "cannot read /proc/$1/status (server gone?)"
    while read -r key value _; do
        if [[ $key == VmRSS: ]]; then
            echo "$value"
            return 0
        fi
    done <"/proc/$1/status"
    die "no VmRSS in /proc/$1/status"
}

# GETs a URL once; succeeds on a 200.
http_ok() {
    python3 - "$1" <<'EOF' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

# Starts a variant pinned to SERVER_CPU: bench-app's, or `fastify` (node, from FASTIFY_DIR);
# sets SERVER_PID and URL once it answers PATH_UNDER_TEST.
start_server() {
    local variant=$1 log="$WORK/server-$1.log" addr="" i
    if [[ $variant == fastify ]]; then
        [[ -n $FASTIFY_DIR && -f $FASTIFY_DIR/server.js ]] ||
            die "the fastify variant needs its npm packages: run it through scripts/bench.sh"
        taskset -c "$SERVER_CPU" node "$FASTIFY_DIR/server.js" 0 >"$log" 2>&1 &
    else
        WORKERS=$WORKERS taskset -c "$SERVER_CPU" "$BIN" "$variant" 0 >"$log" 2>&1 &
    fi
    SERVER_PID=$!
    for ((i = 0; i < 200; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || die "server ($variant) exited: $(cat "$log")"
        addr=$(sed -n 's/^listening on //p' "$log" | head -n1)
        [[ -n $addr ]] && break
        sleep 0.05
    done
    [[ -n $addr ]] || die "server ($variant) did not print 'listening on' within 10 s"
    URL="http://$addr"
    for ((i = 0; i < 200; i++)); do
        http_ok "$URL$PATH_UNDER_TEST" && return 0
        sleep 0.05
    done
    die "server ($variant) at $URL does not answer $PATH_UNDER_TEST"
}

# Parses wrk output; prints: requests req_per_s p50_ms p99_ms errors seconds non2xx. `errors`
# counts socket errors and non-2xx/3xx responses, `non2xx` the latter alone; a percentile is
# `-` when wrk ran without --latency.
parse_wrk() {
    python3 - "$1" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def grab(pattern):
    m = re.search(pattern, text, re.M)
    if not m:
        sys.exit(f"cannot find {pattern!r} in wrk output:\n{text}")
    return m
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
def percentile(p):
    m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    return f"{float(m.group(1)) * UNITS[m.group(2)]:.6g}" if m else "-"
m = grab(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),")
requests, seconds = int(m.group(1)), float(m.group(2)) * UNITS[m.group(3)] / 1e3
rps = float(grab(r"^Requests/sec:\s*([\d.]+)").group(1))
errors = non2xx = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m:
    errors += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m:
    non2xx = int(m.group(1))
    errors += non2xx
print(requests, rps, percentile(50), percentile(99), errors, f"{seconds:.3f}", non2xx)
EOF
}

# One measured run of a variant: starts it, warms it up for WARMUP s, then runs wrk --latency
# for DURATION s against PATH_UNDER_TEST, reading the server's CPU ticks right before and after
# and its RSS right after. Leaves the server running (the caller stops it); wrk's output goes
# to $2; sets RUN_TICKS and RUN_RSS_KB.
measured_run() {
    local variant=$1 out=$2 before after
    start_server "$variant"
    taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$URL$PATH_UNDER_TEST" \
        >/dev/null
    before=$(cpu_ticks "$SERVER_PID")
    taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
        "$URL$PATH_UNDER_TEST" >"$out"
    after=$(cpu_ticks "$SERVER_PID")
    # shellcheck disable=SC2034 # read by scripts/bench.sh
    RUN_RSS_KB=$(rss_kb "$SERVER_PID")
    RUN_TICKS=$((after - before))
}

# Sets ROUND_ORDER to the variants in round $1's order: forward on odd rounds, reversed on even
# ones (interleaving, so drift in the machine's speed hits every variant alike).
round_order() {
    local round=$1 i
    ROUND_ORDER=("${VARIANTS[@]}")
    if ((round % 2 == 0)); then
        ROUND_ORDER=()
        for ((i = ${#VARIANTS[@]} - 1; i >= 0; i--)); do ROUND_ORDER+=("${VARIANTS[$i]}"); done
    fi
}

# Sourced (by scripts/bench.sh): stop here.
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
    return 0
fi

# --- bench-load's own run --------------------------------------------------------------------
TARGET_RPS_RATIO=${TARGET_RPS_RATIO:-0.97}
TARGET_CPU_DELTA_US=${TARGET_CPU_DELTA_US:-0.25}
# Variants of bench-app to compare (first is the baseline); `passthrough` wraps the body and
# does nothing else (the floor of any body-timing axum layer), `monitor-noid` skips request ids,
# `full` is the whole vitals stack (`full-separate`: the same, one `Router::layer` call per
# layer), `axum-prometheus` the axum-prometheus crate's layer and
# `prometheus-client` a hand-written middleware on the official prometheus-client crate (one
# histogram by route, method and status). The summary needs `bare` and COMPARE [monitor] (the
# variant the verdict judges) among them; every variant also gets its throughput ratio and
# CPU difference to bare paired by round.
read -r -a VARIANTS <<<"${VARIANTS:-bare monitor}"
COMPARE=${COMPARE:-monitor}
[[ " ${VARIANTS[*]} " == *" bare "* && " ${VARIANTS[*]} " == *" $COMPARE "* ]] ||
    die "VARIANTS must include bare and $COMPARE (COMPARE; the summary compares them), got: ${VARIANTS[*]}"

bench_prerequisites
bench_build
REPORT="$TARGET_DIR/bench-load.md"
bench_workdir
RESULTS="$WORK/results.tsv"
: >"$RESULTS"

run_one() {
    local round=$1 variant=$2 out="$WORK/wrk-$1-$2.txt"
    measured_run "$variant" "$out"
    stop_server
    local requests rps p99 errors
    read -r requests rps _ p99 errors _ < <(parse_wrk "$out")
    [[ $requests -gt 0 ]] || die "wrk completed no requests ($variant, round $round)"
    [[ $p99 != - ]] || die "no p99 in wrk's output ($variant, round $round)"
    [[ $errors -eq 0 ]] || echo "bench-load: warning: $errors errors in round $round ($variant)" >&2
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$variant" "$requests" "$rps" "$p99" \
        "$RUN_TICKS" "$errors" >>"$RESULTS"
}

# --- run -------------------------------------------------------------------------------------
echo "bench-load: $ROUNDS rounds x ${#VARIANTS[@]} variants, ${DURATION}s each (+${WARMUP}s warm-up);" \
    "server on CPU $SERVER_CPU ($WORKERS worker(s)), wrk -t$THREADS -c$CONNECTIONS on CPU $LOAD_CPU;" \
    "GET $PATH_UNDER_TEST; CLK_TCK=$CLK_TCK" >&2
for ((round = 1; round <= ROUNDS; round++)); do
    round_order "$round"
    for variant in "${ROUND_ORDER[@]}"; do
        run_one "$round" "$variant"
    done
    python3 - "$RESULTS" "$round" "$CLK_TCK" <<'EOF'
import sys
path, round_, tck = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(f"\nround {round_}")
print(f"{'variant':<19} {'requests':>10} {'req/s':>11} {'p99 ms':>8} {'CPU s':>7} {'CPU us/req':>10} {'errors':>6}")
for line in open(path):
    r, variant, requests, rps, p99, ticks, errors = line.split("\t")
    if r != round_:
        continue
    cpu = int(ticks) / tck
    print(f"{variant:<19} {int(requests):>10} {float(rps):>11.0f} {float(p99):>8.3f} {cpu:>7.2f}"
          f" {cpu / int(requests) * 1e6:>10.3f} {int(errors):>6}")
EOF
done

# --- summary ---------------------------------------------------------------------------------
CONFIG="rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s wrk=-t$THREADS/-c$CONNECTIONS"
CONFIG+=" workers=$WORKERS server_cpu=$SERVER_CPU load_cpu=$LOAD_CPU path=$PATH_UNDER_TEST"
CONFIG+=" clk_tck=$CLK_TCK nproc=$ncpu"
python3 - "$RESULTS" "$CLK_TCK" "$REPORT" "$TARGET_RPS_RATIO" "$TARGET_CPU_DELTA_US" "$CONFIG" \
    "${VARIANTS[*]}" "$COMPARE" <<'EOF'
import statistics, sys
path, tck, report = sys.argv[1], int(sys.argv[2]), sys.argv[3]
target_ratio, target_delta = float(sys.argv[4]), float(sys.argv[5])
config = sys.argv[6]
variants = sys.argv[7].split()
compare = sys.argv[8]
runs = {}
for line in open(path):
    r, variant, requests, rps, p99, ticks, errors = line.rstrip("\n").split("\t")
    cpu_s = int(ticks) / tck
    runs.setdefault(variant, {})[int(r)] = dict(
        requests=int(requests), rps=float(rps), p99=float(p99), cpu_s=cpu_s,
        cpu_us=cpu_s / int(requests) * 1e6, errors=int(errors))
med = {v: {k: statistics.median(run[k] for run in rs.values())
           for k in ("rps", "p99", "cpu_us")} for v, rs in runs.items()}
def paired(v, key, f):
    both = sorted(set(runs["bare"]) & set(runs[v]))
    return statistics.median(f(runs[v][r][key], runs["bare"][r][key]) for r in both)
pair = {v: (paired(v, "rps", lambda a, b: a / b), paired(v, "cpu_us", lambda a, b: a - b))
        for v in variants}
rounds = sorted(set(runs["bare"]) & set(runs[compare]))
paired_ratio = [runs[compare][r]["rps"] / runs["bare"][r]["rps"] for r in rounds]
paired_delta = [runs[compare][r]["cpu_us"] - runs["bare"][r]["cpu_us"] for r in rounds]
ratio = med[compare]["rps"] / med["bare"]["rps"]
delta = med[compare]["cpu_us"] - med["bare"]["cpu_us"]
errors = sum(run["errors"] for rs in runs.values() for run in rs.values())

lines = []
out = lines.append
out("# bench-load: MonitorLayer overhead")
out("")
out(f"Config: {config}")
out("")
out("| round | variant | requests | req/s | p99 ms | CPU s | CPU µs/req | errors |")
out("|---:|---|---:|---:|---:|---:|---:|---:|")
for r in sorted({r for rs in runs.values() for r in rs}):
    for v in variants:
        if r in runs.get(v, {}):
            x = runs[v][r]
            out(f"| {r} | {v} | {x['requests']} | {x['rps']:.0f} | {x['p99']:.3f} |"
                f" {x['cpu_s']:.2f} | {x['cpu_us']:.3f} | {x['errors']} |")
out("")
out("| variant | median req/s | median p99 ms | median CPU µs/req | req/s vs bare | CPU µs/req vs bare | req/s vs bare, paired | CPU µs/req vs bare, paired |")
out("|---|---:|---:|---:|---:|---:|---:|---:|")
for v in variants:
    out(f"| {v} | {med[v]['rps']:.0f} | {med[v]['p99']:.3f} | {med[v]['cpu_us']:.3f} |"
        f" {med[v]['rps'] / med['bare']['rps']:.3f} | {med[v]['cpu_us'] - med['bare']['cpu_us']:+.3f} |"
        f" {pair[v][0]:.3f} | {pair[v][1]:+.3f} |")
out("")
out(f"| {compare} vs bare | from medians | median of per-round pairs | target |")
out("|---|---:|---:|---:|")
out(f"| throughput ratio | {ratio:.4f} | {statistics.median(paired_ratio):.4f} | >= {target_ratio} |")
out(f"| CPU delta µs/req | {delta:+.3f} | {statistics.median(paired_delta):+.3f} | <= {target_delta} |")
out("")
ok_ratio = ratio >= target_ratio
ok_delta = delta <= target_delta
verdict = "PASS" if ok_ratio and ok_delta else "FAIL"
out(f"Verdict (from medians): throughput {'ok' if ok_ratio else 'MISSED'},"
    f" CPU {'ok' if ok_delta else 'MISSED'} -> {verdict}"
    + (f"; WARNING: {errors} wrk errors" if errors else ""))
out("")
out(f"RESULT bare_rps={med['bare']['rps']:.0f} monitor_rps={med[compare]['rps']:.0f}"
    f" bare_p99_ms={med['bare']['p99']:.3f} monitor_p99_ms={med[compare]['p99']:.3f}"
    f" bare_cpu_us={med['bare']['cpu_us']:.3f} monitor_cpu_us={med[compare]['cpu_us']:.3f}"
    f" throughput_ratio={ratio:.4f} paired_throughput_ratio={statistics.median(paired_ratio):.4f}"
    f" cpu_delta_us={delta:+.3f} paired_cpu_delta_us={statistics.median(paired_delta):+.3f}"
    f" errors={errors} verdict={verdict}")
text = "\n".join(lines) + "\n"
open(report, "w").write(text)
print("\nsummary")
print(f"{'variant':<24} {'median req/s':>13} {'median p99 ms':>14} {'median CPU us/req':>18} {'vs bare':>8} {'paired':>7} {'dCPU paired':>12}")
for v in variants:
    print(f"{v:<24} {med[v]['rps']:>13.0f} {med[v]['p99']:>14.3f} {med[v]['cpu_us']:>18.3f}"
          f" {med[v]['rps'] / med['bare']['rps']:>8.3f} {pair[v][0]:>7.3f} {pair[v][1]:>+12.3f}")
print(f"throughput ratio {compare}/bare: {ratio:.4f} (medians), "
      f"{statistics.median(paired_ratio):.4f} (median of per-round pairs); target >= {target_ratio}")
print(f"CPU delta {compare}-bare: {delta:+.3f} us/req (medians), "
      f"{statistics.median(paired_delta):+.3f} (median of per-round pairs); target <= {target_delta}")
print(f"verdict: {verdict}" + (f" (WARNING: {errors} wrk errors)" if errors else ""))
print(f"report: {report}")
EOF
