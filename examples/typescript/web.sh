#!/usr/bin/env bash
# Serves the web example: generates the bindings, bundles web/main.ts with esbuild, and runs
# the Rust calculator server on ws://127.0.0.1:4000, which also serves the page on
# http://127.0.0.1:8080/ (open it in a browser; Ctrl-C stops the server).
source "$(dirname "$0")/common.sh"
cd "$here"
mkdir -p web/dist
cp web/index.html web/dist/index.html
node_modules/.bin/esbuild web/main.ts --bundle --format=esm --platform=browser \
  --target=es2022 --outfile=web/dist/main.js --log-level=warning
echo "open http://127.0.0.1:8080/ in a browser"
exec "$target/debug/calculator-server" "ws://127.0.0.1:4000" --web web/dist --http 127.0.0.1:8080
