#!/usr/bin/env bash
# Runs every test of the project: the whole Rust workspace (unit, integration, UI and doc
# tests), then the TypeScript runtime's tests. This is the README's test command and what
# .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
bash scripts/test-ts.sh
