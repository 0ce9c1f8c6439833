#!/usr/bin/env bash
# The JavaScript/TypeScript SDK's tests (clients/js), as CI runs them: build the agora binary,
# then install, build and test the SDK against it (the tests start agora themselves on free
# ports with fresh temporary data dirs). With AGORA_BIN already set, the cargo build is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1 || [ "$(node_major)" -lt 20 ]; then
  echo "test-sdk: Node.js 20 or newer with npm is needed; trying Debian's nodejs and npm"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm; } >/tmp/test-sdk-apt.log 2>&1 || tail -5 /tmp/test-sdk-apt.log
  fi
  if ! command -v npm >/dev/null 2>&1 || [ "$(node_major)" -lt 20 ]; then
    echo "error: test-sdk: Node.js >= 20 and npm are required (found: $(node --version 2>/dev/null || echo none))" >&2
    exit 1
  fi
fi

if [ -z "${AGORA_BIN:-}" ]; then
  echo "test-sdk: building the agora binary"
  cargo build -p agora-http --bin agora --locked
  target_dir=$(cargo metadata --format-version 1 --no-deps | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).target_directory))')
  AGORA_BIN="$target_dir/debug/agora"
fi
case "$AGORA_BIN" in /*) ;; *) AGORA_BIN="$root/$AGORA_BIN" ;; esac
[ -x "$AGORA_BIN" ] || { echo "error: test-sdk: no agora binary at $AGORA_BIN" >&2; exit 1; }
export AGORA_BIN

cd clients/js
npm ci --no-audit --no-fund
npm run build
npm test
