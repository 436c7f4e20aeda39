#!/usr/bin/env bash
# Overhead and scale, side by side with the alternatives (issue 8): the same small app
# (crates/vitals-bench's `bench-app`, and benches/fastify/server.js for Node) in variants,
# measured interleaved under wrk, then flooded with distinct paths and tenants.
#
# Variants: `bare` (the routes alone), `monitor` (vitals' MonitorLayer), `full` (the whole
# vitals stack: monitor, trace context, pressure, rate limit as one `Vitals::layers()`, and its
# router), `axum-prometheus`,
# `prometheus-client` (a hand-written middleware on the official crate) and `fastify` (the seed's
# Node stack: fastify + fastify-metrics + @fastify/under-pressure, same routes). Any other
# bench-app variant (`passthrough`, `monitor-noid`, `full-separate`: the full stack applied by
# three `Router::layer` calls, `request-id`: tower-http's request-id layers alone,
# `prometheus-client-ids`: the prometheus-client middleware plus tower-http's request-id layers,
# the like-for-like peer of `recommended`) may be named too.
#
# Throughput: ROUNDS rounds; in each, every variant (order reversed every other round) gets a
# fresh server pinned to SERVER_CPU, WARMUP s of warm-up, then DURATION s of
# `wrk --latency -tTHREADS -cCONNECTIONS` pinned to LOAD_CPU on PATH_UNDER_TEST. Recorded per
# run: req/s, p50 and p99, the server's CPU per request (utime+stime from /proc/<pid>/stat
# before and after, over the completed requests) and its RSS right after (VmRSS).
#
# Flood: then, once per variant, a fresh server, WARMUP s of warm-up, and FLOOD requests from
# scripts/bench-flood.lua (half `/orgs/org-<n>/items/<n>` with `x-organization-id: org-<n>`,
# half `/x/<n>/<random>`, a 404): RSS before and after, the size of `GET /metrics` after, and
# the median time of METRICS_GETS sequential GETs of it (n/a where there is no /metrics). For
# vitals' variants (`monitor*`, `full*`) it also counts the lines of `/metrics` before and after
# and prints `bench: flood bound <variant>: PASS|FAIL` against issue 16's bound: at most
# TARGET_FLOOD_LINES more lines and TARGET_FLOOD_MB more RSS (`FLOOD=30000` is the issue's
# flood).
#
# Environment (defaults in brackets):
#   VARIANTS [bare recommended monitor full axum-prometheus prometheus-client fastify]
#   (`recommended`: the README's "Use it" lines; a `-info` twin of bare, recommended or
#   prometheus-client runs under an INFO fmt subscriber)
#   ROUNDS [5]  DURATION [10] s per measured run  WARMUP [2] s  CONNECTIONS [32]
#   THREADS [1] wrk threads  WORKERS [1] tokio workers  SERVER_CPU [0]  LOAD_CPU [1]
#   PATH_UNDER_TEST [/hello]  FLOOD [100000] requests (0: no flood)  METRICS_GETS [20]
#   FLOOD_TIMEOUT [600] s  TARGET_MONITOR_RATIO [0.97]  TARGET_FULL_RATIO [0.92]
#   TARGET_MONITOR_CPU_US [0.25] (issue 2: CPU the monitor may add per request)
#   TARGET_FLOOD_MB [10] (decimal megabytes, as issue 8 states the bound)
#   TARGET_FLOOD_LINES [400] (growth of /metrics in lines, issue 16)
#
# The fastify variant needs node and npm: its packages (benches/fastify/package.json and
# package-lock.json) are installed with `npm ci` into <target-dir>/bench-node/; without node or
# npm, or if the install fails, the variant is skipped with a message.
#
# Output: a table and PASS/MISS target lines on stdout (a miss never fails the script: this is
# a report, not a test); <target-dir>/bench.md (report), bench.svg (chart), bench-rounds.tsv
# and bench-flood.tsv (raw values). Shares its machinery with scripts/bench-load.sh.
set -euo pipefail

KNOBS=(VARIANTS ROUNDS DURATION WARMUP CONNECTIONS THREADS WORKERS SERVER_CPU LOAD_CPU
    PATH_UNDER_TEST FLOOD METRICS_GETS FLOOD_TIMEOUT TARGET_MONITOR_RATIO TARGET_FULL_RATIO
    TARGET_MONITOR_CPU_US TARGET_FLOOD_MB TARGET_FLOOD_LINES)
# The command as given: the knobs set in the environment, then the script and its arguments.
COMMAND=""
for knob in "${KNOBS[@]}"; do
    [[ -n ${!knob+set} ]] || continue
    value=${!knob}
    if [[ $value =~ ^[A-Za-z0-9_./:,+\ -]*$ ]]; then
        [[ $value =~ ^[A-Za-z0-9_./:,+-]+$ ]] || value="\"$value\""
    else
        value=$(printf '%q' "$value")
    fi
    COMMAND+="$knob=$value "
done
COMMAND+="scripts/bench.sh"
[[ $# -eq 0 ]] || { echo "bench: no arguments expected (settings are env variables; see the header of $0)" >&2; exit 2; }

BENCH_NAME=bench
# shellcheck source=scripts/bench-load.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench-load.sh"

FLOOD=${FLOOD:-100000}
METRICS_GETS=${METRICS_GETS:-20}
FLOOD_TIMEOUT=${FLOOD_TIMEOUT:-600}
TARGET_MONITOR_RATIO=${TARGET_MONITOR_RATIO:-0.97}
TARGET_FULL_RATIO=${TARGET_FULL_RATIO:-0.92}
TARGET_MONITOR_CPU_US=${TARGET_MONITOR_CPU_US:-0.25}
TARGET_FLOOD_MB=${TARGET_FLOOD_MB:-10}
TARGET_FLOOD_LINES=${TARGET_FLOOD_LINES:-400}
read -r -a VARIANTS <<<"${VARIANTS:-bare monitor full axum-prometheus prometheus-client fastify}"

for knob in ROUNDS DURATION WARMUP CONNECTIONS THREADS WORKERS FLOOD METRICS_GETS FLOOD_TIMEOUT \
    TARGET_FLOOD_LINES; do
    [[ ${!knob} =~ ^[0-9]+$ ]] || die "$knob must be a whole number, not '${!knob}'"
done
((ROUNDS > 0 && DURATION > 0 && CONNECTIONS > 0 && THREADS > 0 && WORKERS > 0)) ||
    die "ROUNDS, DURATION, CONNECTIONS, THREADS and WORKERS must be positive"
((CONNECTIONS >= THREADS)) || die "CONNECTIONS ($CONNECTIONS) must be at least THREADS ($THREADS)"
((${#VARIANTS[@]} > 0)) || die "VARIANTS is empty"
for variant in "${VARIANTS[@]}"; do
    case $variant in
    bare | recommended | monitor | monitor-noid | monitor-nores | passthrough | full | full-separate | full-draft-headers | axum-prometheus | prometheus-client | prometheus-client-ids | request-id | fastify) ;;
    bare-info | recommended-info | prometheus-client-info | prometheus-client-ids-info) ;;
    *) die "unknown variant '$variant' (bare recommended monitor monitor-noid monitor-nores passthrough full full-separate full-draft-headers axum-prometheus prometheus-client prometheus-client-ids request-id fastify; bare-info recommended-info prometheus-client-info prometheus-client-ids-info)" ;;
    esac
done

bench_prerequisites
bench_build
bench_workdir
FLOOD_PID=""
stop_flood() {
    if [[ -n $FLOOD_PID ]]; then
        kill "$FLOOD_PID" 2>/dev/null || true
        wait "$FLOOD_PID" 2>/dev/null || true
        FLOOD_PID=""
    fi
}
trap 'stop_flood; bench_cleanup' EXIT

# --- the fastify variant's packages ------------------------------------------------------------
SKIPPED=""
NODE_VERSION=""
skip_fastify() {
    echo "bench: skipping the fastify variant: $1" >&2
    SKIPPED="fastify ($1)"
    local -a kept=()
    local variant
    for variant in "${VARIANTS[@]}"; do
        [[ $variant == fastify ]] || kept+=("$variant")
    done
    VARIANTS=("${kept[@]}")
}
prepare_fastify() {
    local src=benches/fastify dir="$TARGET_DIR/bench-node"
    if ! command -v node >/dev/null 2>&1; then
        skip_fastify "node not found"
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        skip_fastify "npm not found"
        return 0
    fi
    NODE_VERSION=$(node --version)
    mkdir -p "$dir"
    cp "$src/server.js" "$dir/server.js"
    # Install only when the lockfile changed since the last install (npm ci starts afresh).
    if [[ ! -d $dir/node_modules ]] || ! cmp -s "$src/package-lock.json" "$dir/package-lock.json"; then
        echo "bench: installing the fastify variant's npm packages into $dir" >&2
        cp "$src/package.json" "$src/package-lock.json" "$dir/"
        if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1); then
            rm -rf "$dir/node_modules" "$dir/package-lock.json"
            skip_fastify "npm ci failed in $dir: $(tail -n 5 "$WORK/npm.log" | tr '\n' ' ')"
            return 0
        fi
    fi
    FASTIFY_DIR=$dir
}
for variant in "${VARIANTS[@]}"; do
    if [[ $variant == fastify ]]; then
        prepare_fastify
        break
    fi
done
((${#VARIANTS[@]} > 0)) || die "no variant left to measure"

ROUNDS_TSV="$TARGET_DIR/bench-rounds.tsv"
FLOOD_TSV="$TARGET_DIR/bench-flood.tsv"
printf 'round\tvariant\trequests\treq_per_s\tp50_ms\tp99_ms\tcpu_ticks\tcpu_us_per_req\trss_kb\terrors\n' \
    >"$ROUNDS_TSV"
printf 'variant\trequests\tseconds\tnon2xx\tsocket_errors\trss_before_kb\trss_after_kb\t%s\n' \
    'metrics_status	metrics_bytes_before	metrics_bytes	metrics_ms	rss_after_scrape_kb' >"$FLOOD_TSV"

# --- throughput rounds -------------------------------------------------------------------------
flood_plan="then a flood of $FLOOD requests per variant"
((FLOOD > 0)) || flood_plan="no flood (FLOOD=0)"
echo "bench: $ROUNDS round(s) x ${#VARIANTS[@]} variants (${VARIANTS[*]}), ${DURATION}s each" \
    "(+${WARMUP}s warm-up); server on CPU $SERVER_CPU ($WORKERS worker(s)), wrk -t$THREADS" \
    "-c$CONNECTIONS on CPU $LOAD_CPU; GET $PATH_UNDER_TEST; $flood_plan" >&2
for ((round = 1; round <= ROUNDS; round++)); do
    round_order "$round"
    for variant in "${ROUND_ORDER[@]}"; do
        out="$WORK/wrk-$round-$variant.txt"
        measured_run "$variant" "$out"
        stop_server
        read -r requests rps p50 p99 errors _ < <(parse_wrk "$out")
        [[ $requests -gt 0 ]] || die "wrk completed no requests ($variant, round $round)"
        [[ $p50 != - && $p99 != - ]] || die "no latency percentiles in wrk's output ($variant, round $round)"
        cpu_us=$(python3 -c 'import sys; t, hz, n = map(float, sys.argv[1:]); print(f"{t / hz / n * 1e6:.4f}")' \
            "$RUN_TICKS" "$CLK_TCK" "$requests")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$variant" "$requests" "$rps" \
            "$p50" "$p99" "$RUN_TICKS" "$cpu_us" "$RUN_RSS_KB" "$errors" >>"$ROUNDS_TSV"
        printf 'bench: round %d %-17s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  CPU %7.2f us/req  RSS %4d MiB%s\n' \
            "$round" "$variant" "$rps" "$p50" "$p99" "$cpu_us" "$((RUN_RSS_KB / 1024))" \
            "$( ((errors == 0)) || echo "  ($errors wrk errors)")" >&2
    done
done

# --- flood -------------------------------------------------------------------------------------
# GETs /metrics: prints `STATUS BYTES MEDIAN_MS` (`STATUS - -` without a 200).
scrape_metrics() {
    python3 scripts/bench-report.py scrape "$URL/metrics" "$1"
}

# Prints the number of lines of `GET /metrics` (0 without a 200).
metrics_lines() {
    python3 -c 'import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=60).read().count(b"\n"))
except Exception:
    print(0)' "$URL/metrics"
}

FLOOD_BOUND_FAILS=0

flood_one() {
    local variant=$1 out="$WORK/flood-$1.txt" done_prefix="$WORK/flood-done-$1" start i
    start_server "$variant"
    taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" "$URL$PATH_UNDER_TEST" \
        >/dev/null
    local status bytes_before
    read -r status bytes_before _ < <(scrape_metrics 0)
    local lines_before
    lines_before=$(metrics_lines)
    local rss_before
    rss_before=$(rss_kb "$SERVER_PID")
    start=$SECONDS
    FLOOD_REQUESTS=$FLOOD FLOOD_THREADS=$THREADS FLOOD_DONE=$done_prefix \
        taskset -c "$LOAD_CPU" wrk -t"$THREADS" -c"$CONNECTIONS" -d"${FLOOD_TIMEOUT}s" \
        -s scripts/bench-flood.lua "$URL" >"$out" 2>&1 &
    FLOOD_PID=$!
    # Each wrk thread creates `$done_prefix.<thread>` once it has its share of responses; wrk
    # then still waits out -d, so it is told to finish (SIGINT: it prints its summary).
    local -a finished
    while :; do
        finished=("$done_prefix".*)
        [[ -e ${finished[0]} && ${#finished[@]} -ge $THREADS ]] && break
        kill -0 "$FLOOD_PID" 2>/dev/null || break
        kill -0 "$SERVER_PID" 2>/dev/null || die "server ($variant) died during the flood"
        sleep 0.05
    done
    kill -INT "$FLOOD_PID" 2>/dev/null || true
    if ! wait "$FLOOD_PID"; then
        FLOOD_PID=""
        die "wrk failed during the flood ($variant): $(cat "$out")"
    fi
    FLOOD_PID=""
    local rss_after
    rss_after=$(rss_kb "$SERVER_PID")
    local requests errors seconds non2xx
    read -r requests _ _ _ errors seconds non2xx < <(parse_wrk "$out")
    if ((requests < FLOOD)); then
        echo "bench: warning: the flood of $variant completed $requests of $FLOOD requests" \
            "in $((SECONDS - start)) s (FLOOD_TIMEOUT=$FLOOD_TIMEOUT)" >&2
    fi
    local lines_after
    lines_after=$(metrics_lines)
    local bytes ms
    read -r status bytes ms < <(scrape_metrics "$METRICS_GETS")
    local rss_scraped
    rss_scraped=$(rss_kb "$SERVER_PID")
    stop_server
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$requests" "$seconds" \
        "$non2xx" "$((errors - non2xx))" "$rss_before" "$rss_after" "$status" "$bytes_before" \
        "$bytes" "$ms" "$rss_scraped" >>"$FLOOD_TSV"
    i=$((rss_after - rss_before))
    echo "bench: flood $variant: $requests requests in ${seconds}s ($non2xx non-2xx," \
        "$((errors - non2xx)) socket errors), RSS $((rss_before / 1024)) -> $((rss_after / 1024)) MiB" \
        "($((i / 1024)) MiB), /metrics $status ${bytes} bytes ${ms} ms" >&2
    case $variant in
    monitor* | full*)
        # RSS in decimal megabytes (kB from /proc are KiB); lines of /metrics.
        local verdict=PASS mb grown=$((lines_after - lines_before))
        mb=$(awk -v kib="$i" 'BEGIN { printf "%.1f", kib * 1024 / 1e6 }')
        if ((grown > TARGET_FLOOD_LINES)) ||
            awk -v mb="$mb" -v max="$TARGET_FLOOD_MB" 'BEGIN { exit !(mb > max) }'; then
            verdict=FAIL
            FLOOD_BOUND_FAILS=$((FLOOD_BOUND_FAILS + 1))
        fi
        echo "bench: flood bound $variant: $requests requests; /metrics $lines_before -> $lines_after" \
            "lines (+$grown, bound $TARGET_FLOOD_LINES); RSS +$mb MB (bound $TARGET_FLOOD_MB MB): $verdict"
        ;;
    esac
}

if ((FLOOD > 0)); then
    for variant in "${VARIANTS[@]}"; do
        flood_one "$variant"
    done
fi

# --- report ------------------------------------------------------------------------------------
knobs="VARIANTS=\"${VARIANTS[*]}\" ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP"
knobs+=" CONNECTIONS=$CONNECTIONS THREADS=$THREADS WORKERS=$WORKERS SERVER_CPU=$SERVER_CPU"
knobs+=" LOAD_CPU=$LOAD_CPU PATH_UNDER_TEST=$PATH_UNDER_TEST FLOOD=$FLOOD METRICS_GETS=$METRICS_GETS"
knobs+=" FLOOD_TIMEOUT=$FLOOD_TIMEOUT (CLK_TCK=$CLK_TCK)"
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
python3 scripts/bench-report.py report --rounds "$ROUNDS_TSV" --flood "$FLOOD_TSV" \
    --md "$TARGET_DIR/bench.md" --svg "$TARGET_DIR/bench.svg" \
    --meta "variants=${VARIANTS[*]}" \
    --meta "date=$(date -u '+%Y-%m-%d %H:%M:%S UTC')" \
    --meta "nproc=$ncpu" \
    --meta "cpu_model=${cpu_model:-unknown}" \
    --meta "kernel=$(uname -r)" \
    --meta "rustc=$(rustc --version 2>/dev/null || echo 'rustc ?')" \
    --meta "node=${NODE_VERSION:-n/a}" \
    --meta "command=$COMMAND" \
    --meta "knobs=$knobs" \
    --meta "skipped=$SKIPPED" \
    --meta "path=$PATH_UNDER_TEST" \
    --meta "warmup=$WARMUP" \
    --meta "flood=$FLOOD" \
    --meta "metrics_gets=$METRICS_GETS" \
    --meta "target_monitor_ratio=$TARGET_MONITOR_RATIO" \
    --meta "target_full_ratio=$TARGET_FULL_RATIO" \
    --meta "target_monitor_cpu_us=$TARGET_MONITOR_CPU_US" \
    --meta "target_flood_mb=$TARGET_FLOOD_MB"
