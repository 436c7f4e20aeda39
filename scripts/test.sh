#!/usr/bin/env bash
# Runs every test of the workspace: the module-layout check (no import cycle, lib.rs a façade,
# files under 600 lines of non-test code), then unit, property, doc, in-process layer tests, and
# the end-to-end tests that start the real server binary (and Prometheus, Alertmanager, Chromium)
# on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/check-layout.py
cargo test --workspace --locked "$@"
