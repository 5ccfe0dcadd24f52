#!/usr/bin/env bash
# Runs every test of the project: the whole Rust workspace (unit, integration, UI and doc
# tests), then the TypeScript runtime's tests (npm packages installed from the lockfile;
# strict tsc for Node and for browsers, then node's test runner, including the suite that
# calls the Rust example server, and the one that drives headless Chromium, which
# scripts/install-browser.sh installs first when it is missing). This is the README's test
# command and what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --all-targets
cargo test --workspace --doc
bash scripts/install-browser.sh
(
  cd roam-codegen/runtime/typescript
  npm ci --no-audit --no-fund --loglevel=error
  npm test
)
# The Node example, end to end: generated bindings, strict tsc, the Rust server.
bash examples/typescript/node-client.sh > /dev/null
