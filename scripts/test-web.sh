#!/usr/bin/env bash
# The web app's browser end-to-end tests (web/tests/) in headless Chromium, as CI runs them.
# Uses AGORA_BIN when set; otherwise builds the agora binary with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ ! -x "$chromium" ]; then
  echo "test-web: $chromium is missing; installing Debian's chromium with apt-get"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; } >/tmp/test-web-apt.log 2>&1; then
    tail -5 /tmp/test-web-apt.log || true
  fi
  if [ ! -x "$chromium" ]; then
    echo "SKIP: web end-to-end tests: chromium could not be installed (see /tmp/test-web-apt.log)"
    exit 0
  fi
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: web end-to-end tests: node and npm are not installed"
  exit 0
fi

if [ -z "${AGORA_BIN:-}" ]; then
  echo "test-web: building the agora binary"
  cargo build -p agora-http --bin agora --locked
  target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
  AGORA_BIN="$target_dir/debug/agora"
fi
[ -x "$AGORA_BIN" ] || { echo "test-web: no agora binary at $AGORA_BIN"; exit 1; }
AGORA_BIN=$(cd "$(dirname "$AGORA_BIN")" && pwd)/$(basename "$AGORA_BIN")
echo "test-web: agora binary $AGORA_BIN"

cd "$root/web"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
node scripts/source-hash.mjs --check
AGORA_BIN="$AGORA_BIN" CHROMIUM_PATH="$chromium" npm run test:e2e
