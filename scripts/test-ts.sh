#!/usr/bin/env bash
# Runs the TypeScript tests: installs the pinned npm packages from the lockfile (npm ci), then
# type-checks the runtime for Node and for browsers and runs its tests with node's test runner.
# Called by scripts/test.sh; needs Node 20+ and npm.
set -euo pipefail
cd "$(dirname "$0")/../roam-codegen/runtime/typescript"
npm ci --no-audit --no-fund --loglevel=error
npm test
