#!/usr/bin/env bash
# Benchmarks CTI Server on this machine: builds, starts a throw-away
# PostgreSQL (fsync on: ingest figures are durable ones) and the server
# (production mode, LOG_LEVEL=info, i.e. one access
# line per request as in production), drives it with bench/load.cpp
# (cti-load) and prints one JSON line per scenario, then the /health flip
# times around a PostgreSQL stop/start. Record the figures in
# docs/BENCHMARKS.md.
#
#   scripts/bench.sh [DURATION_SECONDS]        (default 10)
#
# Environment: BENCH_CONNECTIONS (default 64), BENCH_LOG_LEVEL (info).
# The load generator shares the machine's cores with the server and Postgres.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PG="$ROOT/scripts/pg.sh"
DURATION=${1:-10}
CONNS=${BENCH_CONNECTIONS:-64}

log() { printf 'bench.sh: %s\n' "$*" >&2; }
now_ms() { date +%s%3N; }

bash scripts/bootstrap.sh </dev/null
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
cmake --build build --target cti-server cti-load

PGDIR=$(mktemp -d /tmp/cti-bench-pg.XXXXXX)
SERVER_PID=
# shellcheck disable=SC2317  # invoked from the EXIT trap
cleanup() {
  [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" || true
  bash "$PG" stop "$PGDIR" || true
  rm -rf -- "$PGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$PG" init "$PGDIR" --auth trust
PGPORT=$(bash "$PG" start-any "$PGDIR")
bash "$PG" createdb "$PGDIR" cti_bench

SECRET=bench-internal-secret-$(date +%s)
PORT=$(bash "$PG" free-port)
env -i PATH="$PATH" \
  DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/cti_bench" \
  PORT="$PORT" CTI_ENV=production LOG_FORMAT=json LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" \
  INTERNAL_API_SECRET="$SECRET" DIALPAD_WEBHOOK_SECRET=bench-webhook-secret \
  DATABASE_ENCRYPTION_KEY="$(printf '%064d' 0)" NODE_NAME=bench \
  build/cti-server >"$PGDIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 200); do
  curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
  sleep 0.05
done
curl -fsS "http://127.0.0.1:$PORT/" >/dev/null || { log "server did not start"; cat "$PGDIR/server.log" >&2; exit 1; }

log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
load() { build/cti-load --port "$PORT" --duration "$DURATION" --warmup 2 "$@"; }

log "scenario: GET / (no I/O behind it)"
load --path / --connections "$CONNS"
log "scenario: GET /health (one pool round trip to Postgres)"
load --path /health --connections "$CONNS"
log "scenario: GET /metrics (bearer check, pool stats)"
load --path /metrics --connections 16 --header "Authorization: Bearer $SECRET"
log "scenario: GET / with a single connection (latency floor)"
load --path / --connections 1

# Durable webhook ingest: distinct pre-signed seed events, each acknowledged
# only after its batch committed.
APP=$(bash "$PG" psql "$PGDIR" -d cti_bench -Atqc "INSERT INTO apps (name) VALUES ('bench') RETURNING id" | head -1)
log "scenario: POST /webhooks/dialpad/{app} (signed, stored durably before 200)"
load --method POST --path "/webhooks/dialpad/$APP" --webhooks 400000 \
  --secret bench-webhook-secret --connections "$CONNS"

# /health flip: how long after Postgres stops until /health says 503, and
# after it starts until it says 200 again.
health() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health"; }
t0=$(now_ms)
bash "$PG" stop "$PGDIR" >/dev/null 2>&1
t_stopped=$(now_ms)
until [[ $(health) == 503 ]]; do sleep 0.01; done
t_503=$(now_ms)
bash "$PG" start "$PGDIR" "$PGPORT" >/dev/null 2>&1
t_started=$(now_ms)
until [[ $(health) == 200 ]]; do sleep 0.01; done
t_200=$(now_ms)
printf '{"scenario":"health_flip","pg_stop_ms":%d,"to_503_after_stop_ms":%d,"to_200_after_start_ms":%d}\n' \
  $((t_stopped - t0)) $((t_503 - t_stopped)) $((t_200 - t_started))

rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
log "server RSS after the run: $((rss / 1024)) MiB"
