#!/usr/bin/env bash
# Instructions per request of bench-app variants, under valgrind's callgrind: exact and
# repeatable, unlike wall-clock figures on a noisy machine.
#
# For each variant the server runs under callgrind with instrumentation off; a client (Python,
# outside valgrind) warms it up with WARM requests, then instrumentation is switched on, N
# keep-alive GETs of PATH_UNDER_TEST are sent one after another, instrumentation is switched
# off, and the total instruction count (Ir) divided by N is the cost of one request: the whole
# server side (hyper, axum, the layers, tokio's wake-ups), none of the client.
#
# Usage: scripts/callgrind-requests.sh [VARIANT...]   (default: bare recommended prometheus-client
# prometheus-client-ids full; `prometheus-client-ids` is the like-for-like peer of
# `recommended`: the prometheus-client middleware plus tower-http's request-id layers)
# Env: BENCH_FEATURES [unset]: cargo features of bench-app (`jemalloc`: every variant on
# jemalloc), N [5000] measured requests, WARM [500], PATH_UNDER_TEST [/hello], HEADER [unset]: one
# request header to send with every request (`x-request-id: from-the-proxy`, as a proxy in
# front would set it), KEEP [unset]: keep the
# callgrind output files in target/callgrind/ for callgrind_annotate, CACHE [unset]: also
# simulate the caches (`--cache-sim=yes`) and print data-cache misses per request (D1: first
# level, LL: last level) next to the instructions, BIN [unset]: measure this bench-app binary
# instead of building one (a copy saved from an earlier commit, for before/after figures),
# IDLE [unset]: also measure each variant idle for as long as its window lasted and print the
# background's share and the per-request figure net of it (see below), CONN_ONLY [unset]: count
# only the instructions run inside the connection's task (`axum::serve`'s `handle_connection`:
# parsing, the service with its layers, writing the response), leaving out tokio's worker loop
# and every other task (vitals' sampler, probe and tick), so background work does not blur the
# per-request figure; the worker loop's share is the same for every variant. IDLE_SECONDS
# [unset]: instead of requests, measure each variant with no traffic for IDLE_SECONDS of wall
# time (the whole process: vitals' probe, sampler and tick) and print instructions per second;
# the one or two requests that nudge callgrind_control at each edge are included, so the
# figure is an upper bound (use 20 s or more to make them negligible).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-5000}
WARM=${WARM:-500}
PATH_UNDER_TEST=${PATH_UNDER_TEST:-/hello}
if [[ $# -gt 0 ]]; then VARIANTS=("$@"); else VARIANTS=(bare recommended prometheus-client prometheus-client-ids full); fi

die() {
    echo "callgrind-requests: $*" >&2
    exit 1
}
command -v valgrind >/dev/null || die "valgrind not found (apt-get install valgrind)"
command -v callgrind_control >/dev/null || die "callgrind_control not found (valgrind package)"

if [[ -z ${BIN:-} ]]; then
    cargo build --release -p vitals-bench --bin bench-app ${BENCH_FEATURES:+--features "$BENCH_FEATURES"} >&2
fi
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN=${BIN:-"$TARGET_DIR/release/bench-app"}
OUT="$TARGET_DIR/callgrind"
mkdir -p "$OUT"

PID=""
cleanup() { [[ -z $PID ]] || { kill -TERM "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }; }
trap cleanup EXIT

# Sends COUNT sequential keep-alive GETs to 127.0.0.1:PORT.
send() {
    python3 - "$1" "$2" "$PATH_UNDER_TEST" "${HEADER:-}" <<'PY'
import http.client, sys
port, count, path, header = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
headers = {}
if header:
    name, _, value = header.partition(":")
    headers[name.strip()] = value.strip()
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(count):
    conn.request("GET", path, headers=headers)
    res = conn.getresponse()
    res.read()
    if res.status >= 500:
        sys.exit(f"status {res.status}")
conn.close()
PY
}

# callgrind_control's command is only seen when the server runs code, so an idle server (parked
# in epoll_wait) is nudged with single requests until the command is taken: one or two requests
# at each edge of the measured window, well under 0.1% of N. NUDGES counts them.
NUDGES=0
control() {
    local port=$1
    shift
    callgrind_control "$@" "$PID" >/dev/null &
    local ctl=$!
    while kill -0 "$ctl" 2>/dev/null; do
        send "$port" 1
        NUDGES=$((NUDGES + 1))
        sleep 0.05
    done
    wait "$ctl"
}

# Runs VARIANT under callgrind with instrumentation on for one window: N requests (`load`) or
# SECONDS of no traffic (`idle`). Sets W_EVENTS, W_COLLECTED (callgrind's event names and
# counts), W_SECONDS (the window's length) and W_NUDGES (requests sent to nudge).
window() {
    local variant=$1 mode=$2 seconds=${3:-0}
    local log="$OUT/$variant.$mode.log" file="$OUT/callgrind.$variant.$mode.out"
    rm -f "$file"*
    : >"$log" # exists before the server's shell opens it, for the polling below
    # BENCH_SHED=0: under valgrind the worker is always busy, so the pressure layer's default
    # busy-ratio threshold would shed requests mid-measurement (see bench-app).
    local only=()
    [[ -z ${CONN_ONLY:-} ]] || only=(--collect-atstart=no "--toggle-collect=*handle_connection*")
    BENCH_SHED=0 WORKERS=1 valgrind --tool=callgrind --instr-atstart=no ${CACHE:+--cache-sim=yes} "${only[@]}" \
        --callgrind-out-file="$file" \
        "$BIN" "$variant" 0 >"$log" 2>&1 &
    PID=$!
    local port=""
    for _ in $(seq 1 600); do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$log" | head -n1)
        [[ -n $port ]] && break
        kill -0 "$PID" 2>/dev/null || die "$variant exited early: $(tail -n5 "$log")"
        sleep 0.1
    done
    [[ -n $port ]] || die "$variant did not start"
    send "$port" "$WARM"
    NUDGES=0
    local t0 t1
    t0=$(date +%s.%N)
    control "$port" -i on
    if [[ $mode == load ]]; then
        send "$port" "$N"
    else
        sleep "$seconds"
    fi
    control "$port" -i off
    t1=$(date +%s.%N)
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    local events collected
    events=$(sed -n 's/^==[0-9]*== Events *: *//p' "$log" | tail -n1)
    collected=$(sed -n 's/^==[0-9]*== Collected : *//p' "$log" | tail -n1)
    [[ -n $collected ]] || die "no instruction count in $log"
    [[ -n ${KEEP:-} ]] || rm -f "$file"*
    W_EVENTS=$events
    W_COLLECTED=$collected
    W_SECONDS=$(python3 -c "print($t1 - $t0)")
    W_NUDGES=$NUDGES
}

# With IDLE_SECONDS each variant is only measured idle, for that long: instructions per second.
if [[ -n ${IDLE_SECONDS:-} ]]; then
    printf '%-24s %14s %8s\n' variant instr/second nudges
    for variant in "${VARIANTS[@]}"; do
        window "$variant" idle "$IDLE_SECONDS"
        python3 - "$variant" "$W_COLLECTED" "$W_SECONDS" "$W_NUDGES" <<'PY'
import sys
variant, collected, seconds, nudges = sys.argv[1], int(sys.argv[2].split()[0]), float(sys.argv[3]), sys.argv[4]
print(f"{variant:<24} {collected / seconds:14.0f} {nudges:>8}")
PY
    done
    exit 0
fi

# With IDLE=1 each variant is also run without traffic for as long as its measured window
# lasted: what its background tasks (vitals' sampler, 10 ms scheduling-delay probe and
# maintenance tick) cost in that time, spread over the N requests, is printed apart, and `net`
# is the per-request cost without it. Under valgrind a request takes some 50 times as long as
# natively, so background work that is a few instructions per request at full speed shows as
# hundreds in the raw figure.
if [[ -n ${IDLE:-} ]]; then
    printf '%-24s %12s %12s %12s\n' variant instr/request idle/request net
else
    printf '%-24s %12s\n' variant instr/request
fi
for variant in "${VARIANTS[@]}"; do
    window "$variant" load
    events=$W_EVENTS collected=$W_COLLECTED seconds=$W_SECONDS nudges=$W_NUDGES
    idle="0|0|0|0"
    if [[ -n ${IDLE:-} ]]; then
        window "$variant" idle "$seconds"
        idle="$W_EVENTS|$W_COLLECTED|$W_SECONDS|$W_NUDGES"
    fi
    python3 - "$variant" "$N" "$events" "$collected" "$nudges" "$idle" "${IDLE:-}" <<'PY'
import sys
variant, n, events, collected = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
nudges, idle, idle_on = int(sys.argv[5]), sys.argv[6].split("|"), sys.argv[7]
per = {e: int(c) / n for e, c in zip(events, collected)}
if idle_on:
    idle_ir, idle_nudges = int(idle[1].split()[0]), int(idle[3])
    # The idle window's own nudges are requests: take them out at the loaded rate.
    background = max(idle_ir - idle_nudges * per["Ir"], 0) / n
    line = f"{variant:<24} {per['Ir']:12.0f} {background:12.0f} {per['Ir'] - background:12.0f}"
else:
    line = f"{variant:<20} {per['Ir']:12.0f}"
if "D1mr" in per:
    line += f"   D1 misses {per['D1mr'] + per['D1mw']:7.1f}   LL misses {per['DLmr'] + per['DLmw']:6.2f}"
print(line)
PY
done
