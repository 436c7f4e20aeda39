#!/usr/bin/env bash
# Runs every test of the workspace: unit, property, doc, in-process layer tests, and the
# end-to-end tests that start the real server binary on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked "$@"
