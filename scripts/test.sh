#!/usr/bin/env bash
# Runs the whole Agora test suite on a fresh machine. Installs redis-server first when it
# is missing (tests that need Redis start their own on a free port), and nginx (the deploy
# test checks deploy/nginx/agora.conf with `nginx -t`), then the SDK and browser tests
# (scripts/test-sdk.sh, scripts/test-web.sh; the latter installs chromium when missing), and
# the schema-driven API fuzzing (scripts/test-schema.sh, schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing it with apt-get"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  fi
  command -v redis-server >/dev/null 2>&1 || { echo "error: could not install redis-server" >&2; exit 1; }
fi

# tests/tests/deploy.rs runs `nginx -t` on deploy/nginx/agora.conf.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "nginx not found: installing it with apt-get"
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light >/dev/null
  fi
  { command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; } || { echo "error: could not install nginx" >&2; exit 1; }
fi

if [ -z "${AGORA_TEST_SCYLLA:-}" ]; then
  echo "note: AGORA_TEST_SCYLLA is not set, so the ScyllaDB conformance tests will report SKIPPED"
fi

cargo test --workspace --locked --no-fail-fast "$@"

# The JavaScript SDK (clients/js) and the web app's browser tests (web/, headless Chromium,
# installed with apt-get when missing) run against the agora binary cargo test just built.
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
export AGORA_BIN="$target_dir/debug/agora"
./scripts/test-sdk.sh
./scripts/test-web.sh
# Schema-driven fuzzing of the whole API (schemathesis from PyPI, installed on first use),
# one minute per role here; longer by hand (see the script).
SCHEMA_MAX_TIME=${SCHEMA_MAX_TIME:-60} ./scripts/test-schema.sh
