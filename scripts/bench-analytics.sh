#!/usr/bin/env bash
# The analytics benchmark (docs/benchmarks.md "Analytics"): a fresh seeded data dir (90 days
# of history), an admin, then the admin dashboard over 90 days, batched ingestion, and the
# rollup's throughput on what the ingestion wrote.
#
#   scripts/bench-analytics.sh <agora binary> <agora-load binary>
set -eu
A=$1; LOAD=$2
PORT=${AGORA_BENCH_PORT:-18081}
URL=http://127.0.0.1:$PORT
D=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null; rm -rf "$D"' EXIT
AGORA_DATA_DIR=$D "$A" seed > /tmp/bench-analytics-seed.log 2>&1
AGORA_DATA_DIR=$D "$A" admin create --email bench-admin@example.com --password 'bench admin secret 1' >/dev/null
AGORA_RATE_LIMITS=off AGORA_DATA_DIR=$D AGORA_LISTEN=127.0.0.1:$PORT AGORA_LOG=warn "$A" serve > /tmp/bench-analytics-server.log 2>&1 &
SERVER=$!
until curl -sf "$URL/api/health" >/dev/null; do sleep 0.2; done
TOKEN=$(curl -sf "$URL/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"bench-admin@example.com","password":"bench admin secret 1"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access"])')
metric() { curl -sf "$URL/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Let the seed's history be rolled up first.
until [ "$(metric agora_analytics_rollup_lag_seconds)" = "0" ] && [ -n "$(metric agora_analytics_rolled_up_total)" ]; do sleep 0.5; done
echo "== seeded history rolled up (the server rolled up the last $(metric agora_analytics_rolled_up_total) of it at start)"
for c in 1 2 4 8; do
  echo "== analytics-dashboard, $c connections"
  "$LOAD" rest --url "$URL" --concurrency $c --duration 15s --scenario analytics-dashboard --bearer "$TOKEN" 2>&1 | grep -E "req/s|latency|status"
done
before=$(metric agora_analytics_rolled_up_total)
for c in 16 32; do
  echo "== analytics-events, $c connections (100 page views a request)"
  "$LOAD" rest --url "$URL" --concurrency $c --duration 15s --scenario analytics-events 2>&1 | grep -E "req/s|latency|status"
done
ingested=$(metric 'agora_analytics_facts_total{kind="page_view"}')
start=$(date +%s.%N)
until [ "$(metric agora_analytics_rollup_lag_seconds)" = "0" ]; do sleep 0.2; done
end=$(date +%s.%N)
after=$(metric agora_analytics_rolled_up_total)
echo "== rollup: $(python3 -c "print(int($after - $before))") facts rolled up; backlog cleared $(python3 -c "print(round($end - $start, 1))") s after the ingestion ended ($ingested page views ingested in all)"
echo "== analytics-dashboard after the ingestion, 8 connections"
"$LOAD" rest --url "$URL" --concurrency 8 --duration 15s --scenario analytics-dashboard --bearer "$TOKEN" 2>&1 | grep -E "req/s|latency|status"
