#!/usr/bin/env bash
# Cross-node chat delivery (docs/benchmarks.md "Cluster: cross-node delivery"): a Redis of
# its own, N `agora serve` nodes on one fresh data dir with one shared secret, then
# `agora-load ws` with its WebSockets spread over the nodes. It reports delivery latency
# for same-node and cross-node pairs apart (see benches/src/ws.rs for the assignment rule).
#
#   scripts/bench-cluster.sh [--nodes 2] [--rate 2000] [--duration 20s] [--connections 1000]
#                            [--users 500] [--senders 100] [--no-redis] [--json-out FILE]
#                            [-- <more agora-load ws options>]
#
# --nodes 1 is the single-node baseline (still in cluster mode, with Redis, unless
# --no-redis: then a standalone server). Builds nothing: AGORA_BIN and AGORA_LOAD_BIN name
# the binaries (default /work/targets/release/release/..., else target/release/...).
# Everything it starts is stopped and its data dir removed on exit.
set -euo pipefail

NODES=2 RATE=2000 DURATION=20s CONNECTIONS=1000 USERS=500 SENDERS=100 REDIS=1 JSON_OUT=
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --nodes) NODES=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --senders) SENDERS=$2; shift 2 ;;
    --no-redis) REDIS=0; shift ;;
    --json-out) JSON_OUT=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ "$REDIS" = 0 ] && [ "$NODES" != 1 ]; then
  echo "--no-redis needs --nodes 1: nodes share chat only through Redis" >&2; exit 2
fi

pick() { # first existing file among the arguments
  for f in "$@"; do [ -x "$f" ] && { echo "$f"; return; }; done
  echo "none of $* exists: build it first (cargo build --release -p agora-http --bin agora -p agora-benches --bin agora-load)" >&2
  exit 1
}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
AGORA_BIN=${AGORA_BIN:-$(pick /work/targets/release/release/agora "$ROOT/target/release/agora")}
AGORA_LOAD_BIN=${AGORA_LOAD_BIN:-$(pick /work/targets/release/release/agora-load "$ROOT/target/release/agora-load")}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

DIR=$(mktemp -d)
PIDS=()
REDIS_PID=
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$REDIS_PID" ]; then kill -TERM "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

mkdir "$DIR/data"
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
ENV=(AGORA_DATA_DIR="$DIR/data" AGORA_JWT_SECRET="$SECRET" AGORA_RATE_LIMITS=off
     AGORA_WS_FRAMES_PER_SEC=100000 AGORA_LOG=warn)
if [ "$REDIS" = 1 ]; then
  RPORT=$(free_port)
  redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no > "$DIR/redis.log" 2>&1 &
  REDIS_PID=$!
  until [ "$(redis-cli -p "$RPORT" ping 2>/dev/null)" = PONG ]; do
    kill -0 "$REDIS_PID" 2>/dev/null || { cat "$DIR/redis.log" >&2; exit 1; }
    sleep 0.1
  done
  ENV+=(AGORA_REDIS_URL="redis://127.0.0.1:$RPORT/")
fi

URLS=() SERVER_PIDS=()
for i in $(seq 1 "$NODES"); do
  PORT=$(free_port)
  URL=http://127.0.0.1:$PORT
  env "${ENV[@]}" AGORA_NODE_ID="node-$i" AGORA_LISTEN="127.0.0.1:$PORT" "$AGORA_BIN" serve > "$DIR/node-$i.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  # One node at a time, so that only the first migrates the fresh data dir.
  deadline=$((SECONDS + 60))
  while true; do
    ready=$(curl -s "$URL/api/ready" 2>/dev/null || true)
    if [ "$REDIS" = 1 ]; then case $ready in *'"redis":"up"'*) break ;; esac
    else case $ready in *'"status":"ready"'*) break ;; esac
    fi
    kill -0 "$PID" 2>/dev/null || { echo "node-$i exited:" >&2; cat "$DIR/node-$i.log" >&2; exit 1; }
    [ $SECONDS -lt $deadline ] || { echo "node-$i not ready after 60 s: $ready" >&2; exit 1; }
    sleep 0.2
  done
  echo "== node-$i ready at $URL (pid $PID): $ready"
  URLS+=("$URL") SERVER_PIDS+=("$PID")
done

join() { local IFS=,; echo "$*"; }
echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $AGORA_LOAD_BIN ws --url $(join "${URLS[@]}") --connections $CONNECTIONS --users $USERS --senders $SENDERS --rate $RATE --duration $DURATION ${EXTRA[*]}"
[ -n "$REDIS_PID" ] && redis_before=$(cpu_ticks "$REDIS_PID")
started=$(date +%s.%N)
status=0
"$AGORA_LOAD_BIN" ws --url "$(join "${URLS[@]}")" --server-pid "$(join "${SERVER_PIDS[@]}")" \
  --connections "$CONNECTIONS" --users "$USERS" --senders "$SENDERS" --rate "$RATE" --duration "$DURATION" \
  --json "${EXTRA[@]}" > "$DIR/report.json" 2> "$DIR/load.txt" || status=$?
ended=$(date +%s.%N)
cat "$DIR/load.txt"
[ -n "$JSON_OUT" ] && cp "$DIR/report.json" "$JSON_OUT"
if [ -n "$REDIS_PID" ]; then
  redis_after=$(cpu_ticks "$REDIS_PID")
  python3 -c "print('== redis-server CPU %.0f%% of one core over the whole agora-load run (%.1f s, set-up included)' % (($redis_after - $redis_before) / 100 / ($ended - $started) * 100, $ended - $started))"
fi
# The server's own view: agora_message_latency_seconds by stage (count, mean).
for i in $(seq 1 "$NODES"); do
  curl -s "${URLS[$((i - 1))]}/metrics" | awk -v node="node-$i" '
    /^agora_message_latency_seconds_(sum|count)\{/ {
      match($0, /stage="[a-z_]+"/); stage = substr($0, RSTART + 7, RLENGTH - 8)
      if ($1 ~ /_sum\{/) sum[stage] = $2; else count[stage] = $2
    }
    END { for (s in count) printf "== %s server %s: %d deliveries, mean %.2f ms\n", node, s, count[s], count[s] ? sum[s] / count[s] * 1000 : 0 }'
done
exit $status
