#!/usr/bin/env bash
# Schema-driven API fuzzing: schemathesis (PyPI) generates requests from the OpenAPI
# document (GET /api/schema) of a real `agora serve` on a seeded data dir, signed in as a
# client and as a provider in turn, and checks every answer: no server error, the status is
# one the document lists, and the body matches the documented schema.
#
#   AGORA_BIN=target/debug/agora ./scripts/test-schema.sh          # the test command's budget
#   SCHEMA_MAX_TIME=600 SCHEMA_EXAMPLES=50 ./scripts/test-schema.sh # a longer run by hand
#
# Installs schemathesis into a virtualenv under ~/.cache/agora when it is missing; prints
# SKIP (never silently) when neither it nor Python's venv can be had.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

version=4.32.5
venv=${SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/agora/schemathesis-$version}
max_time=${SCHEMA_MAX_TIME:-120}
examples=${SCHEMA_EXAMPLES:-10}

if [ ! -x "$venv/bin/schemathesis" ]; then
  echo "test-schema: installing schemathesis $version into $venv"
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q "schemathesis==$version"; } >/tmp/test-schema-pip.log 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null 2>&1 || true
      rm -rf "$venv"
      { python3 -m venv "$venv" && "$venv/bin/pip" install -q "schemathesis==$version"; } >/tmp/test-schema-pip.log 2>&1 || true
    fi
  fi
  if [ ! -x "$venv/bin/schemathesis" ]; then
    tail -5 /tmp/test-schema-pip.log || true
    echo "SKIP: schema fuzzing: schemathesis could not be installed (see /tmp/test-schema-pip.log)"
    exit 0
  fi
fi

if [ -z "${AGORA_BIN:-}" ]; then
  cargo build -p agora-http --bin agora --locked
  target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  AGORA_BIN="$target_dir/debug/agora"
fi

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

export AGORA_DATA_DIR="$work/data" AGORA_LISTEN="127.0.0.1:$port" AGORA_RATE_LIMITS=off AGORA_LOG=warn
"$AGORA_BIN" seed --providers 5 --services 20 --jobs 10 --clients 5 --conversations 5 >"$work/seed.log" 2>&1
"$AGORA_BIN" serve >"$work/server.log" 2>&1 &
server=$!
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$base/api/health" >/dev/null 2>&1 && break
  sleep 0.2
done

token() { # email role
  local body
  body=$(printf '{"email":"%s","password":"correct horse battery 9","role":"%s"}' "$1" "$2")
  python3 - "$base/api/auth/register" "$body" <<'PY'
import json, sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), headers={"content-type": "application/json"})
print(json.load(urllib.request.urlopen(req, timeout=30))["access"])
PY
}

status=0
cd "$work"  # schemathesis keeps its example database in the working directory
for role in client provider; do
  access=$(token "schema-$role@example.com" "$role")
  echo "test-schema: $role, up to ${max_time}s and $examples examples per operation"
  # Tokens live 15 minutes by default: longer runs than that need AGORA_ACCESS_TTL_SECS.
  if ! "$venv/bin/schemathesis" run "$base/api/schema" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
    --header "Authorization: Bearer $access" \
    --max-examples "$examples" --max-time "$max_time" --workers 2 \
    --seed 20261204 --no-color --warnings off ${SCHEMA_PHASES:+--phases "$SCHEMA_PHASES"} \
    --exclude-path-regex '^/(ws|docs|metrics)' --exclude-path '/api/payments/webhooks/{gateway}' \
    --exclude-path '/api/auth/logout' --exclude-path '/api/auth/password/change' \
    --exclude-operation-id patch_api_uploads_id \
    --report-dir "$work/report"; then
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "test-schema: the server log's last lines:"
  tail -20 "$work/server.log"
fi
exit "$status"
