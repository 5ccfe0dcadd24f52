#!/usr/bin/env bash
# Runs the Node example (node-client.ts): generates the bindings, compiles the client with
# strict tsc, starts the Rust calculator server on a free WebSocket port, runs the client
# against it and stops the server.
source "$(dirname "$0")/common.sh"
cd "$here"
node_modules/.bin/tsc -p .
log="$(mktemp)"
"$target/debug/calculator-server" "ws://127.0.0.1:0" >"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 200); do
  url="$(sed -n 's/^listening on //p' "$log")"
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "the calculator server did not start" >&2; exit 1; }
node build/node-client.js "$url"
