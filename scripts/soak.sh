#!/usr/bin/env bash
# Soak test (not in CI; README "Soak"): runs the reference server for SOAK_SECONDS (default 600)
# under mixed load (scripts/soak.py) and prints RSS every 30 s, open descriptors, the API p99,
# status counts and the 5xx nobody asked for. VITALS_BIN picks a binary (default: a release
# build). Targets: RSS growth over the last half under 2 MiB, descriptors back to baseline after
# the clients leave, no unasked 5xx.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${SOAK_SECONDS:-600}"
BIN="${VITALS_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release -p vitals-server
  BIN=target/release/vitals-server
fi
DIR="$(mktemp -d)"
LOG="$DIR/server.log"
trap 'kill "$PID" 2>/dev/null || true; rm -rf "$DIR"' EXIT
HOST=127.0.0.1 PORT=0 DATABASE_URL="$DIR/soak.db" NO_COLOR=1 RUST_LOG=warn,vitals_server=info \
  VITALS_RATE_LIMIT_MAX=100000000 VITALS_SAMPLE_INTERVAL_MS=1000 \
  VITALS_HEADER_READ_TIMEOUT_MS=5000 "$BIN" >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
  ADDR="$(grep -o 'listening on http://[0-9.:]*' "$LOG" | sed 's#.*http://##' || true)"
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG"; exit 1; }
echo "soak: $BIN on $ADDR (pid $PID) for ${SECONDS_TO_RUN}s"
ulimit -n 65536 2>/dev/null || true
python3 scripts/soak.py "$ADDR" "$PID" "$SECONDS_TO_RUN"
