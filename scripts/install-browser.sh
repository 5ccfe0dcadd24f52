#!/usr/bin/env bash
# Installs the browser the TypeScript runtime's real-browser test drives (test/browser.test.ts):
# Debian's `chromium` package, at /usr/bin/chromium, which playwright-core launches (it never
# downloads a browser build of its own). Does nothing when Chromium is already there. Runs as
# root directly, or through `sudo -n` (never prompting) when not root; non-interactive, so it
# works in CI (CI=true, no stdin). Exits non-zero with what to install when it cannot.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "install-browser.sh: $CHROMIUM is missing and this user can neither install packages" >&2
  echo "nor use sudo without a password. Install Debian's chromium package as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser.sh: $CHROMIUM is missing and there is no apt-get here." >&2
  echo "Install Chromium so that it runs as $CHROMIUM (Debian's package: chromium)." >&2
  exit 1
fi

echo "install-browser.sh: installing Debian's chromium package (for the browser test)" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends chromium </dev/null

if [ ! -x "$CHROMIUM" ]; then
  echo "install-browser.sh: apt-get installed chromium, but $CHROMIUM is still missing." >&2
  exit 1
fi
