#!/usr/bin/env bash
# One benchmark pass of an `agora` release binary, for A/B comparisons in one sitting
# (docs/benchmarks.md): a fresh seeded data dir, four REST scenarios of 10 s at 32
# connections, then chat run A on another fresh data dir.
#
#   scripts/bench-ab.sh <agora binary> <agora-load binary> <label> [--rest-only]
#
# Use the same agora-load for both builds, and alternate the order of the builds.
set -u
A=$1; LOAD=$2; LABEL=$3; MODE=${4:-}
PORT=${AGORA_BENCH_PORT:-18080}
URL=http://127.0.0.1:$PORT
D=$(mktemp -d)
AGORA_DATA_DIR=$D "$A" seed > "/tmp/bench-seed-$LABEL.log" 2>&1
AGORA_RATE_LIMITS=off AGORA_DATA_DIR=$D AGORA_LISTEN=127.0.0.1:$PORT AGORA_LOG=warn "$A" serve > "/tmp/bench-server-$LABEL.log" 2>&1 &
SERVER=$!
until curl -sf "$URL/api/health" >/dev/null; do sleep 0.2; done
for s in health services-list services-search providers-search; do
  echo "== $LABEL $s"
  "$LOAD" rest --url "$URL" --concurrency 32 --duration 10s --scenario "$s" 2>&1 | grep -E "req/s|latency"
done
kill -TERM $SERVER; wait $SERVER
rm -rf "$D"
[ "$MODE" = "--rest-only" ] && exit 0
D2=$(mktemp -d)
AGORA_RATE_LIMITS=off AGORA_WS_FRAMES_PER_SEC=100000 AGORA_DATA_DIR=$D2 AGORA_LISTEN=127.0.0.1:$PORT AGORA_LOG=warn "$A" serve > "/tmp/bench-server2-$LABEL.log" 2>&1 &
SERVER=$!
until curl -sf "$URL/api/health" >/dev/null; do sleep 0.2; done
echo "== $LABEL ws A"
"$LOAD" ws --url "$URL" --server-pid $SERVER --connections 1000 --users 500 --senders 100 --rate 2000 --duration 20s 2>&1 | grep -E "acked|ack |lost"
kill -TERM $SERVER; wait $SERVER
rm -rf "$D2"
