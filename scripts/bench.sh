#!/usr/bin/env bash
# Benchmarks CTI Server on this machine: builds a Release binary (in
# build-release), starts a throw-away PostgreSQL (fsync on: ingest figures
# are durable ones) and the server (production mode, LOG_LEVEL=info, i.e.
# one access line per request as in production), drives it with
# bench/load.cpp (cti-load) and bench/ws_bench.cpp (cti-ws-bench), prints one
# JSON line per scenario run, and at the end one table (cti-bench-table):
# figure, target, measured, pass/short. Record it in docs/BENCHMARKS.md with
# the date and the machine.
#
#   scripts/bench.sh [--quick] [DURATION_SECONDS]   (default 10 s per load)
#
# --quick: every scenario, shorter and smaller (3 s loads, 100,000 seeded
# calls, 2,000 idle connections, a 2,000-subscriber fan-out, a
# 1,000-session reconnect storm (5,000 in a full run), a 2-node
# cluster, a 10 s idle transaction): about 3 minutes once built; its
# verdicts are indicative only.
#
# Environment: BENCH_CONNECTIONS (default 64), BENCH_LOG_LEVEL (info),
# BENCH_SCENARIOS (space-separated subset of: http ingest latency drain
# query export ws cluster claim health; default all), BENCH_WS_LATENCY_SECONDS (default 60),
# BENCH_CLUSTER_LATENCY_SECONDS (default 20), BENCH_DB_ROLE (the role the
# server connects as: cti_server, which owns nothing, or postgres, the
# owner), BENCH_QUERY_CALLS (calls seeded for the
# query and export scenarios, default 1000000), BENCH_SERVER_ENV (extra VAR=value for the server),
# BENCH_DRAIN_BATCH (the drain scenario's second run, with this
# EVENT_BATCH_SIZE; default 500), BENCH_DRAIN_UNSETTLED (set: no ANALYZE and
# CHECKPOINT between the drain's bulk insert and its server), BENCH_BUILD_DIR (default build-release), BENCH_RESULTS (where the JSON lines go;
# default $BENCH_BUILD_DIR/bench-results.jsonl), BENCH_KEEP_LOGS (a directory: the
# servers' logs of the run are copied there), BENCH_UNSETTLED (set: no VACUUM
# ANALYZE and CHECKPOINT before the latency, ws and cluster scenarios),
# BENCH_WS_POST_CONNECTIONS (connections posting the frame-latency webhooks,
# default 8).
# The load generator shares the machine's cores with the server and Postgres;
# all traffic stays on 127.0.0.1, and every load is bounded in time and count.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PG="$ROOT/scripts/pg.sh"
QUICK=0
if [[ ${1:-} == --quick ]]; then
  QUICK=1
  shift
fi
DURATION=${1:-$((QUICK ? 3 : 10))}
CONNS=${BENCH_CONNECTIONS:-64}
# Sizes: full run, or --quick.
if ((QUICK)); then
  : "${BENCH_QUERY_CALLS:=100000}" "${BENCH_WS_LATENCY_SECONDS:=8}" "${BENCH_CLUSTER_LATENCY_SECONDS:=5}"
  : "${BENCH_WS_IDLE:=2000}" "${BENCH_SCENARIOS:=ingest latency drain query export ws cluster claim health}"
  DRAIN_CALLS=4000 LATENCY_EVENTS=4000 FANOUT=2000 RECONNECT=1000 CLUSTER_NODES="2" CLAIM_SECONDS=10
else
  DRAIN_CALLS=20000 LATENCY_EVENTS=20000 FANOUT=10000 RECONNECT=5000 CLUSTER_NODES="1 2 3" CLAIM_SECONDS=60
fi
BUILD=${BENCH_BUILD_DIR:-build-release}

log() { printf 'bench.sh: %s %s\n' "$(date +%T)" "$*" >&2; }
now_ms() { date +%s%3N; }

bash scripts/bootstrap.sh </dev/null
if [[ ! -f $BUILD/build.ninja ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
cmake --build "$BUILD" --target cti-server cti-load cti-ws-bench cti-bench-table

PGDIR=$(mktemp -d /tmp/cti-bench-pg.XXXXXX)
SERVER_PID=
# shellcheck disable=SC2317  # invoked from the EXIT trap
cleanup() {
  [[ -n $SERVER_PID ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" || true
  bash "$PG" stop "$PGDIR" || true
  # BENCH_KEEP_LOGS=DIR keeps the servers' logs of the run there.
  if [[ -n ${BENCH_KEEP_LOGS:-} ]]; then
    mkdir -p "$BENCH_KEEP_LOGS" && cp "$PGDIR"/*.log "$BENCH_KEEP_LOGS"/ 2>/dev/null || true
  fi
  rm -rf -- "$PGDIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Every JSON line printed from here on is also kept for the table.
RESULTS=${BENCH_RESULTS:-$BUILD/bench-results.jsonl}
: >"$RESULTS"
exec 3>&1
exec > >(tee -a "$RESULTS" >&3)
TEE_PID=$!

bash "$PG" init "$PGDIR" --auth trust
PGPORT=$(bash "$PG" start-any "$PGDIR")
bash "$PG" createdb "$PGDIR" cti_bench
# As deployed: the server connects as a role that owns nothing and the owner
# (here the superuser) migrates.
printf 'unused-with-trust\n' | bash "$PG" ensure-role "$PGDIR" cti_server
bash "$PG" grant-server "$PGDIR" cti_server

SECRET=bench-internal-secret-$(date +%s)
PORT=$(bash "$PG" free-port)
start_server() {
  env -i PATH="$PATH" \
    DATABASE_URL="postgresql://${BENCH_DB_ROLE:-cti_server}@127.0.0.1:$PGPORT/cti_bench" \
    MIGRATION_DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/cti_bench" \
    PORT="$PORT" CTI_ENV=production LOG_FORMAT=json LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" \
    INTERNAL_API_SECRET="$SECRET" DIALPAD_WEBHOOK_SECRET=bench-webhook-secret \
    DATABASE_ENCRYPTION_KEY="$(printf '%064d' 0)" NODE_NAME=bench \
    ${BENCH_SERVER_ENV:-} "$BUILD/cti-server" >>"$PGDIR/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    curl -fsS "http://127.0.0.1:$PORT/" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  log "server did not start"; cat "$PGDIR/server.log" >&2; exit 1
}
stop_server() {
  kill -TERM "$SERVER_PID" && wait "$SERVER_PID" || true
  SERVER_PID=
}
sql() { bash "$PG" psql "$PGDIR" -d cti_bench -Atqc "$1"; }
# Before a latency scenario: the rows earlier scenarios left (the ingest's
# and the drain's hundreds of thousands) vacuumed and analysed and their
# dirty pages written, as autovacuum and the checkpointer do between bursts,
# so the latency measured is the server's and not PostgreSQL's clean-up of
# another scenario (BENCH_UNSETTLED=1 leaves it out).
settle() {
  [[ -n ${BENCH_UNSETTLED:-} ]] && return 0
  local t0; t0=$(now_ms)
  sql "VACUUM (ANALYZE)" >/dev/null
  sql "CHECKPOINT" >/dev/null
  log "database settled (VACUUM ANALYZE, CHECKPOINT) in $(($(now_ms) - t0)) ms"
}
# Waits until app $1 has no pending event; prints the wall-clock wait in ms.
wait_drained() {
  local t0 t1
  t0=$(now_ms)
  until [[ -z $(sql "SELECT 1 FROM webhook_events WHERE state = 'pending' AND app_id = '$1' LIMIT 1") ]]; do
    sleep 0.25
  done
  t1=$(now_ms)
  echo $((t1 - t0))
}
start_server

log "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
SCENARIOS=" ${BENCH_SCENARIOS:-http ingest latency drain query export ws cluster claim health} "
want() { [[ $SCENARIOS == *" $1 "* ]]; }
load() { "$BUILD/cti-load" --port "$PORT" --duration "$DURATION" --warmup 2 "$@"; }

if want http; then
log "scenario: GET / (no I/O behind it)"
load --path / --connections "$CONNS"
log "scenario: GET /health (one pool round trip to Postgres)"
load --path /health --connections "$CONNS"
log "scenario: GET /metrics (bearer check, pool stats)"
load --path /metrics --connections 16 --header "Authorization: Bearer $SECRET"
log "scenario: GET / with a single connection (latency floor)"
load --path / --connections 1
fi

# Durable webhook ingest: distinct pre-signed seed events, each acknowledged
# only after its batch committed (the pollers process them meanwhile).
if want ingest; then
APP=$(sql "INSERT INTO apps (name) VALUES ('bench') RETURNING id" | head -1)
log "scenario: POST /webhooks/dialpad/{app} (signed, stored durably before 200)"
load --method POST --path "/webhooks/dialpad/$APP" --webhooks 400000 \
  --secret bench-webhook-secret --connections "$CONNS" --label ingest
left=$(sql "SELECT count(*) FROM webhook_events WHERE app_id = '$APP' AND state = 'pending'")
log "waiting for the pollers to finish the ingested events ($left pending at the end of the load)"
log "ingested events drained $(wait_drained "$APP") ms after the load"
fi

# Ingest-to-applied latency at a steady 1,000 webhooks/s: for each event,
# processed_at (clock time when the poller marked it, just before its
# commit) minus received_at (arrival at the server, before the 200).
if want latency; then
settle
APP2=$(sql "INSERT INTO apps (name) VALUES ('bench-latency') RETURNING id" | head -1)
log "scenario: ingest-to-applied latency at 1,000 webhooks/s ($LATENCY_EVENTS events)"
LOAD_START=$(sql "SELECT now()")
load --method POST --path "/webhooks/dialpad/$APP2" --webhooks "$LATENCY_EVENTS" \
  --secret bench-webhook-secret --connections 16 --rate 1000
wait_drained "$APP2" >/dev/null
# Every event, and (steady_*) those received after the load generator's
# 2 s warm-up, which its own HTTP figures leave out too.
sql "SELECT json_build_object('scenario', 'ingest_to_applied', 'events', count(*),
       'p50_ms', round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       'p90_ms', round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       'p99_ms', round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2),
       'max_ms', round(max(ms)::numeric, 2),
       'steady_events', count(*) FILTER (WHERE steady),
       'steady_p50_ms', round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE steady))::numeric, 2),
       'steady_p90_ms', round((percentile_cont(0.9) WITHIN GROUP (ORDER BY ms) FILTER (WHERE steady))::numeric, 2),
       'steady_p99_ms', round((percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FILTER (WHERE steady))::numeric, 2),
       'rounds', count(DISTINCT x), 'largest_round', (SELECT max(n) FROM (SELECT count(*) AS n
         FROM webhook_events WHERE app_id = '$APP2' GROUP BY xmin::text) AS r))
     FROM (SELECT extract(epoch FROM processed_at - received_at) * 1000 AS ms, xmin::text AS x,
                  received_at >= timestamptz '$LOAD_START' + interval '2 seconds' AS steady
           FROM webhook_events WHERE app_id = '$APP2') AS t"
fi

# Drain: 100,000 queued call events (20,000 calls x ring, started, held,
# started, ended, interleaved as live traffic is) written while the server is
# down, then processed by a fresh server: with the default EVENT_BATCH_SIZE
# (50, API.md) and with a larger one (BENCH_DRAIN_BATCH, default 500).
drain_scenario() { # BATCH_SIZE (empty: the server's default)
stop_server
local saved=${BENCH_SERVER_ENV:-}
[[ -n $1 ]] && BENCH_SERVER_ENV="$saved EVENT_BATCH_SIZE=$1"
APP3=$(sql "INSERT INTO apps (name) VALUES ('bench-drain') RETURNING id" | head -1)
sql "INSERT INTO webhook_events (app_id, dialpad_event_id, event_type, payload, format, received_at, serial)
     SELECT '$APP3', 'drain-' || s || '-' || n, t.type,
            json_build_object('event_type', t.type, 'event_id', 'drain-' || s || '-' || n,
                              'dialpad_call_id', 7000000000 + n, 'direction', 'inbound',
                              'from', '+1702555' || lpad((n % 10000)::text, 4, '0'),
                              'to', '+14155550123', 'user_id', 5171365938069504 + n % 50,
                              'timestamp', '2026-01-28T10:3' || s || ':00Z')::jsonb,
            'seed', now() + (s * 20000 + n) * interval '1 microsecond',
            '$APP3|c|' || (7000000000 + n)
     FROM generate_series(0, 4) AS s, generate_series(0, $((DRAIN_CALLS - 1))) AS n,
          LATERAL (SELECT (ARRAY['call.ring','call.started','call.held','call.started','call.ended'])[s + 1] AS type) AS t" >/dev/null
# Each drain starts from the same state: the bulk insert's statistics and
# dirty pages settled (as autovacuum and the checkpointer would have done
# while an outage's backlog built up), so neither run pays for them.
if [[ -z ${BENCH_DRAIN_UNSETTLED:-} ]]; then sql "ANALYZE webhook_events" >/dev/null; sql "CHECKPOINT" >/dev/null; fi
log "scenario: drain $((DRAIN_CALLS * 5)) queued call events (EVENT_BATCH_SIZE ${1:-default})"
t_start=$(now_ms)
start_server
wait_drained "$APP3" >/dev/null
t_end=$(now_ms)
sql "SELECT json_build_object('scenario', 'drain', 'batch_size', ${1:-50}, 'events', count(*),
       'wall_ms_incl_startup', $((t_end - t_start)),
       'processing_span_ms', round(extract(epoch FROM max(processed_at) - min(processed_at))::numeric * 1000),
       'events_per_s', round(count(*) / greatest(extract(epoch FROM max(processed_at) - min(processed_at)), 0.001)),
       'attempts_gt_1', count(*) FILTER (WHERE attempts > 1),
       'calls_ended', (SELECT count(*) FROM calls WHERE app_id = '$APP3' AND status = 'ended'),
       'rounds', count(DISTINCT xmin::text),
       'largest_round', (SELECT max(n) FROM (SELECT count(*) AS n FROM webhook_events
                         WHERE app_id = '$APP3' GROUP BY xmin::text) AS r))
     FROM webhook_events WHERE app_id = '$APP3'"
BENCH_SERVER_ENV=$saved
}
if want drain; then
drain_scenario ""
drain_scenario "${BENCH_DRAIN_BATCH:-500}"
stop_server
start_server
fi

# REST queries: one app holding BENCH_QUERY_CALLS calls (seeded by SQL,
# 50 Dialpad users of which 25 are mapped to CRM users), read with its key.
QCALLS=${BENCH_QUERY_CALLS:-1000000}
seed_query_app() {
  [[ -n ${QAPP:-} ]] && return 0
  QAPP=$(sql "INSERT INTO apps (name) VALUES ('bench-query') RETURNING id" | head -1)
  log "seeding $QCALLS calls for the query scenarios"
  sql "INSERT INTO calls (app_id, dialpad_call_id, direction, from_number, to_number, status,
         dialpad_user_id, started_at, answered_at, ended_at, duration_seconds, raw_payload)
       SELECT '$QAPP', 9000000000 + g, CASE WHEN g % 3 = 0 THEN 'outbound' ELSE 'inbound' END,
              '+1702555' || lpad((g % 10000)::text, 4, '0'), '+14155550123',
              (ARRAY['ended','missed','ended','ended','active'])[g % 5 + 1],
              5171365938069504 + g % 50,
              timestamptz '2026-01-01' + g * interval '1 second',
              timestamptz '2026-01-01' + g * interval '1 second' + interval '5 seconds',
              timestamptz '2026-01-01' + g * interval '1 second' + interval '65 seconds', 60,
              jsonb_build_object('state', 'hangup')
       FROM generate_series(1, $QCALLS) AS g" >/dev/null
  sql "INSERT INTO dialpad_user_mappings (app_id, dialpad_user_id, crm_user_id)
       SELECT '$QAPP', 5171365938069504 + g, 'crm_' || g FROM generate_series(0, 24) AS g" >/dev/null
  sql "VACUUM ANALYZE calls" >/dev/null
  sql "VACUUM ANALYZE dialpad_user_mappings" >/dev/null
  QKEY=$(curl -fsS -X POST -H "Authorization: Bearer $SECRET" \
    "http://127.0.0.1:$PORT/internal/apps/$QAPP/api-key" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
}
bcrypt_count() {
  curl -fsS -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$PORT/metrics" |
    sed -E 's/.*"bcrypt_verifications":([0-9]+).*/\1/'
}

if want query; then
seed_query_app
log "scenario: GET /api/calls?limit=50 (app key, $QCALLS-call app, newest page)"
load --path "/api/calls?limit=50" --header "x-app-api-key: $QKEY" --connections "${BENCH_QUERY_CONNECTIONS:-16}" \
  --label query_list
log "scenario: GET /api/calls/{dialpad id} (app key)"
load --path "/api/calls/$((9000000000 + QCALLS / 2))" --header "x-app-api-key: $QKEY" \
  --connections "${BENCH_QUERY_CONNECTIONS:-16}" --label query_by_id
log "scenario: GET /api/calls?crm_user_id=crm_7&limit=50 (filter through the mapping)"
load --path "/api/calls?crm_user_id=crm_7&limit=50" --header "x-app-api-key: $QKEY" \
  --connections "${BENCH_QUERY_CONNECTIONS:-16}"
printf '{"scenario":"bcrypt_per_key","bcrypt_verifications":%s}\n' "$(bcrypt_count)"
# Reads while the app's calls keep changing: 200 webhooks/s for the same app
# (each processed event drops the app's cached answers).
log "scenario: GET /api/calls?limit=50 while 200 webhooks/s arrive for the app"
"$BUILD/cti-load" --port "$PORT" --duration "$((DURATION + 3))" --warmup 0 --method POST \
  --path "/webhooks/dialpad/$QAPP" --webhooks $(((DURATION + 3) * 200)) \
  --secret bench-webhook-secret --connections 4 --rate 200 >"$PGDIR/writes.json" &
WRITER=$!
load --path "/api/calls?limit=50" --header "x-app-api-key: $QKEY" --connections "${BENCH_QUERY_CONNECTIONS:-16}"
wait "$WRITER" || true
sed 's/^/  writes: /' "$PGDIR/writes.json" >&2
# The same reads with the response cache off: every request reaches Postgres;
# then without the cti_tenant role, for what row-level security costs (each
# App API read then runs unscoped).
SAVED_ENV=${BENCH_SERVER_ENV:-}
uncached_reads() { # LABEL EXTRA_ENV
  stop_server
  BENCH_SERVER_ENV="$SAVED_ENV API_RESPONSE_CACHE_MS=0 $2"
  start_server
  log "scenario: GET /api/calls?limit=50, response cache off$1"
  load --path "/api/calls?limit=50" --header "x-app-api-key: $QKEY" --connections "${BENCH_QUERY_CONNECTIONS:-16}"
  log "scenario: GET /api/calls/{dialpad id}, response cache off$1"
  load --path "/api/calls/$((9000000000 + QCALLS / 2))" --header "x-app-api-key: $QKEY" \
    --connections "${BENCH_QUERY_CONNECTIONS:-16}"
}
if ((!QUICK)); then
uncached_reads "" ""
uncached_reads ", without row-level security" "CTI_BENCH_NO_TENANT_ROLE=1"
fi
stop_server
BENCH_SERVER_ENV=$SAVED_ENV
start_server
fi

# CDR export of every call of the query app, streamed: RSS before and the
# peak during, on a freshly started server.
if want export; then
seed_query_app
stop_server
start_server
curl -fsS "http://127.0.0.1:$PORT/api/calls?limit=1" -H "x-app-api-key: $QKEY" >/dev/null
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
log "scenario: GET /api/calls/export (csv, $QCALLS calls)"
t0=$(now_ms)
bytes=$(curl -fsS "http://127.0.0.1:$PORT/api/calls/export?format=csv" -H "x-app-api-key: $QKEY" | wc -c)
t1=$(now_ms)
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
printf '{"scenario":"export_csv","calls":%d,"bytes":%d,"wall_ms":%d,"rss_before_mib":%.1f,"rss_peak_mib":%.1f,"growth_mib":%.1f}\n' \
  "$QCALLS" "$bytes" $((t1 - t0)) "$(echo "$rss_before / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" \
  "$(echo "($hwm - $rss_before) / 1024" | bc -l)"
fi

# WebSocket push: webhook → frame latency at 500 events/s, RSS per idle
# connection with 20,000 open, and one event fanned out to 10,000
# subscribers. The server runs with MAX_CONNECTIONS raised and both
# processes with the descriptor limit raised as far as the machine allows.
if want ws; then
ulimit -n 200000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
stop_server
settle
SAVED_ENV=${BENCH_SERVER_ENV:-}
BENCH_SERVER_ENV="$SAVED_ENV MAX_CONNECTIONS=40000"
start_server
WAPP=$(sql "INSERT INTO apps (name) VALUES ('bench-ws') RETURNING id" | head -1)
WKEY=$(curl -fsS -X POST -H "Authorization: Bearer $SECRET" \
  "http://127.0.0.1:$PORT/internal/apps/$WAPP/api-key" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
wsb() { "$BUILD/cti-ws-bench" --port "$PORT" --app "$WAPP" --key "$WKEY" --secret bench-webhook-secret "$@"; }
log "scenario: webhook POST -> WebSocket frame at 500 events/s for ${BENCH_WS_LATENCY_SECONDS:-60} s"
wsb --mode latency --rate 500 --duration "${BENCH_WS_LATENCY_SECONDS:-60}" --post-connections "${BENCH_WS_POST_CONNECTIONS:-8}"
# This machine caps descriptors per process at $(ulimit -Hn) (20,000 here, and
# not raisable inside its container): the server needs some for itself.
IDLE_N=${BENCH_WS_IDLE:-$(( $(ulimit -n) - 100 < 20000 ? $(ulimit -n) - 100 : 20000 ))}
log "scenario: $IDLE_N idle WebSocket connections (server RSS per connection)"
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
wsb --mode idle --connections "$IDLE_N" --hold 6 >"$PGDIR/idle.json" &
IDLE=$!
until [[ -s $PGDIR/idle.json ]] || ! kill -0 "$IDLE" 2>/dev/null; do sleep 0.2; done
sleep 2
rss1=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
open_now=$(curl -fsS -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$PORT/internal/monitoring/websocket/stats" |
  sed -E 's/.*"total":([0-9]+).*/\1/')
wait "$IDLE" || true
cat "$PGDIR/idle.json"
printf '{"scenario":"ws_idle_rss","open":%s,"rss_before_mib":%.1f,"rss_with_open_mib":%.1f,"kib_per_connection":%.1f}\n' \
  "$open_now" "$(echo "$rss0 / 1024" | bc -l)" "$(echo "$rss1 / 1024" | bc -l)" \
  "$(echo "($rss1 - $rss0) / ($open_now + 0.0001)" | bc -l)"
log "scenario: one event fanned out to $FANOUT subscribers of one app"
wsb --mode fanout --connections "$FANOUT" --threads 2 --server-pid "$SERVER_PID"
# The same with a client that reads the frame with recv() and parses
# nothing: on two shared cores, the client's CPU is the server's loss.
wsb --mode fanout --connections "$FANOUT" --threads 1 --reader raw --server-pid "$SERVER_PID"
log "scenario: reconnect storm: $RECONNECT sessions each replaying 100 missed events at once"
wsb --mode reconnect --connections "$RECONNECT" --missed 100
stop_server
BENCH_SERVER_ENV=$SAVED_ENV
start_server
fi

# Cluster: webhook throughput and webhook -> WebSocket latency with 1, 2 and 3
# nodes on this machine (each node a cti-server process on 127.0.0.1 with
# its own HTTP and cluster port, one Postgres). Throughput: one cti-load per
# node at once (connections split between them), summed. Latency: posted to
# node 1, the subscriber on the last node (the frame crosses a node link when
# there are several).
if want cluster; then
stop_server
settle
declare -a NODE_PIDS=() NODE_PORTS=()
start_nodes() {
  local n=$1 i seed_port cport port
  NODE_PIDS=() NODE_PORTS=()
  seed_port=$(bash "$PG" free-port)
  for ((i = 1; i <= n; i++)); do
    port=$(bash "$PG" free-port)
    if ((i == 1)); then cport=$seed_port; else cport=$(bash "$PG" free-port); fi
    env -i PATH="$PATH" \
      DATABASE_URL="postgresql://cti_server@127.0.0.1:$PGPORT/cti_bench" \
      MIGRATION_DATABASE_URL="postgresql://postgres@127.0.0.1:$PGPORT/cti_bench" \
      PORT="$port" CTI_ENV=production LOG_FORMAT=json LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" \
      INTERNAL_API_SECRET="$SECRET" DIALPAD_WEBHOOK_SECRET=bench-webhook-secret \
      DATABASE_ENCRYPTION_KEY="$(printf '%064d' 0)" NODE_NAME="bench-$i" \
      CLUSTER_PORT="$cport" CLUSTER_BIND=127.0.0.1 CLUSTER_ADVERTISE_HOST=127.0.0.1 \
      CLUSTER_SEEDS="127.0.0.1:$seed_port" \
      ${BENCH_SERVER_ENV:-} "$BUILD/cti-server" >>"$PGDIR/node-$i.log" 2>&1 &
    NODE_PIDS+=($!)
    NODE_PORTS+=("$port")
  done
  for port in "${NODE_PORTS[@]}"; do
    until curl -fsS -H "Authorization: Bearer $SECRET" "http://127.0.0.1:$port/internal/cluster" 2>/dev/null |
      grep -q "\"peers\":$((n - 1))[,}]"; do
      sleep 0.1
    done
  done
}
stop_nodes() {
  local pid
  for pid in "${NODE_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${NODE_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
for n in $CLUSTER_NODES; do
  log "scenario: cluster of $n node(s): webhook throughput, then latency across nodes"
  start_nodes "$n"
  CAPP=$(sql "INSERT INTO apps (name) VALUES ('bench-cluster-$n') RETURNING id" | head -1)
  per=$((CONNS / n))
  outs=()
  for ((i = 0; i < n; i++)); do
    "$BUILD/cti-load" --port "${NODE_PORTS[$i]}" --duration "$DURATION" --warmup 2 --method POST \
      --path "/webhooks/dialpad/$CAPP" --webhooks $((400000 / n)) --call-base $((9100000000000 + i * 1000000)) \
      --secret bench-webhook-secret --connections "$per" >"$PGDIR/cluster-$n-$i.json" &
    outs+=($!)
  done
  for pid in "${outs[@]}"; do wait "$pid"; done
  total=0
  for ((i = 0; i < n; i++)); do
    rps=$(sed -E 's/.*"rps":([0-9.]+).*/\1/' "$PGDIR/cluster-$n-$i.json")
    total=$(echo "$total + $rps" | bc)
    errs=$(sed -E 's/.*"errors":([0-9]+).*/\1/' "$PGDIR/cluster-$n-$i.json")
    log "  node $((i + 1)): $(cat "$PGDIR/cluster-$n-$i.json")"
    [[ $errs == 0 ]] || log "  node $((i + 1)) had $errs errors"
  done
  printf '{"scenario":"cluster_ingest","nodes":%d,"rps_total":%.0f}\n' "$n" "$total"
  wait_drained "$CAPP" >/dev/null
  sql "SELECT json_build_object('scenario', 'cluster_ingest_check', 'nodes', $n, 'events', count(*),
         'not_processed', count(*) FILTER (WHERE state <> 'processed'),
         'attempts_gt_1', count(*) FILTER (WHERE attempts > 1))
       FROM webhook_events WHERE app_id = '$CAPP'"
  # The latency is measured as in the other latency scenarios: after the
  # clean-up of the throughput run's rows (settle).
  settle
  LAPP=$(sql "INSERT INTO apps (name) VALUES ('bench-cluster-lat-$n') RETURNING id" | head -1)
  LKEY=$(curl -fsS -X POST -H "Authorization: Bearer $SECRET" \
    "http://127.0.0.1:${NODE_PORTS[0]}/internal/apps/$LAPP/api-key" | sed -E 's/.*"api_key":"([^"]+)".*/\1/')
  "$BUILD/cti-ws-bench" --port "${NODE_PORTS[0]}" --ws-port "${NODE_PORTS[$((n - 1))]}" --app "$LAPP" \
    --key "$LKEY" --secret bench-webhook-secret --mode latency --rate 500 \
    --duration "${BENCH_CLUSTER_LATENCY_SECONDS:-20}" | sed "s/^{/{\"nodes\":$n,/"
  stop_nodes
done
start_server
fi

# The claim query beside an idle transaction: a session takes a snapshot and
# idles (so no row version from then on can be vacuumed) while 500
# webhooks/s are ingested and processed; every 5 s the poller's two claims
# (from the queue's start, and from a position two seconds back) run under
# EXPLAIN ANALYZE. The worst execution time is the figure (target 10 ms).
if want claim; then
KAPP=$(sql "INSERT INTO apps (name) VALUES ('bench-claim') RETURNING id" | head -1)
log "scenario: claim query while a transaction idles for ${CLAIM_SECONDS}s beside 500 webhooks/s"
mkfifo "$PGDIR/idle.fifo"
bash "$PG" psql "$PGDIR" -d cti_bench -Atq <"$PGDIR/idle.fifo" >/dev/null 2>&1 &
IDLE_PSQL=$!
exec 4>"$PGDIR/idle.fifo"
printf 'BEGIN;\nSELECT count(*) FROM webhook_events;\n' >&4
"$BUILD/cti-load" --port "$PORT" --duration "$CLAIM_SECONDS" --warmup 0 --method POST \
  --path "/webhooks/dialpad/$KAPP" --webhooks $((CLAIM_SECONDS * 500 + 1000)) \
  --call-base 9200000000000 --secret bench-webhook-secret --connections 8 --rate 500 \
  >"$PGDIR/claim-load.json" &
KLOAD=$!
claim_ms() {
  sql "EXPLAIN (ANALYZE, FORMAT JSON) SELECT id FROM webhook_events WHERE state = 'pending'
       AND next_attempt_at <= now()$1 ORDER BY received_at, id LIMIT 50 FOR UPDATE SKIP LOCKED" |
    sed -nE 's/.*"Execution Time": ([0-9.]+).*/\1/p'
}
from_start=0 from_position=0 samples=0 idle_seen=0
while kill -0 "$KLOAD" 2>/dev/null; do
  sleep 5
  kill -0 "$KLOAD" 2>/dev/null || break
  idle_seen=$(sql "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' AND application_name = 'psql'")
  a=$(claim_ms "")
  b=$(claim_ms " AND (received_at, id) > (now() - interval '2 seconds', '00000000-0000-0000-0000-000000000000'::uuid)")
  from_start=$(echo "if ($a > $from_start) $a else $from_start" | bc -l)
  from_position=$(echo "if ($b > $from_position) $b else $from_position" | bc -l)
  samples=$((samples + 1))
done
wait "$KLOAD" || true
printf 'ROLLBACK;\n' >&4
exec 4>&-
wait "$IDLE_PSQL" || true
log "  load: $(cat "$PGDIR/claim-load.json")"
printf '{"scenario":"claim_idle_tx","idle_seconds":%d,"idle_sessions_seen":%d,"samples":%d,"worst_from_start_ms":%.3f,"worst_from_position_ms":%.3f,"worst_ms":%.3f}\n' \
  "$CLAIM_SECONDS" "$idle_seen" "$samples" "$from_start" "$from_position" \
  "$(echo "if ($from_start > $from_position) $from_start else $from_position" | bc -l)"
wait_drained "$KAPP" >/dev/null
fi

# /health flip: how long after Postgres stops until /health says 503, and
# after it starts until it says 200 again.
if want health; then
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
fi

rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
log "server RSS after the run: $((rss / 1024)) MiB"

# The table: the JSON lines above against the issues' targets.
exec 1>&3 3>&-
wait "$TEE_PID" 2>/dev/null || true
printf '\n%s, %s: %d cores, %s, %s%s\n\n' "$(date -u +%Y-%m-%d)" "$(uname -n)" "$(nproc)" \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)" "$(uname -r)" \
  "$( ((QUICK)) && printf ', --quick')"
if ((QUICK)); then
  "$BUILD/cti-bench-table" "$RESULTS" --quick
else
  "$BUILD/cti-bench-table" "$RESULTS"
fi
log "JSON lines: $RESULTS"
