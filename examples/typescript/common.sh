# Shared by the example scripts: install the examples' npm packages from their lockfile and
# generate the calculator's TypeScript bindings with the real CLI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
if [ ! -d "$here/node_modules" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
(cd "$root" && cargo build --quiet -p roam-cli --bin roam -p roam-examples --bin calculator-server)
(cd "$root" && "$target/debug/roam" gen typescript --out examples/typescript/gen \
  examples/src/lib.rs examples/src/numbers.rs)
