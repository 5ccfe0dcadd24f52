# Shared by the example scripts: generate the calculator's TypeScript bindings with the real
# CLI and make the runtime package's npm dependencies (ws, typescript, esbuild) visible here.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
runtime="$root/roam-codegen/runtime/typescript"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ ! -d "$runtime/node_modules" ]; then
  (cd "$runtime" && npm ci --no-audit --no-fund --loglevel=error)
fi
ln -sfn "$runtime/node_modules" "$here/node_modules"
(cd "$root" && cargo build --quiet -p roam-cli --bin roam -p roam-examples --bin calculator-server)
(cd "$root" && "$target/debug/roam" gen typescript --out examples/typescript/gen \
  examples/src/lib.rs examples/src/numbers.rs)
