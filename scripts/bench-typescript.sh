#!/usr/bin/env bash
# The TypeScript benchmarks of docs/benchmarks.md: builds the Node side (generated bindings,
# compiled), runs `cargo bench -p roam-tests --bench typescript` (Node client and Rust client
# against the same Rust server, same run, both server runtime flavours), prints its table,
# then the bundle sizes (esbuild, minified + gzip).
set -euo pipefail
cd "$(dirname "$0")/.."
(
  cd roam-codegen/runtime/typescript
  [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
  node scripts/generate.mjs
  npx tsc -p .
)
cargo bench -p roam-tests --bench typescript
python3 scripts/bench-report.py typescript
(cd roam-codegen/runtime/typescript && node bench/size.mjs)
