#!/usr/bin/env bash
# Bootstraps, builds, starts a throw-away PostgreSQL on a free loopback port
# and runs the whole test suite against it. Extra arguments go to ctest
# (e.g. `scripts/test.sh -L unit`). Works unattended as root in CI.
#
# Exported for the tests:
#   CTI_TEST_DATABASE_URL  postgresql://postgres@127.0.0.1:PORT/cti_test (superuser)
#   CTI_TEST_SERVER_DATABASE_URL
#                          the same database as role cti_server, which owns
#                          nothing (the e2e servers connect as it)
#   CTI_TEST_PG_PORT       PORT
#   CTI_TEST_PG_STOP       shell command: stop the cluster, blocks until stopped
#   CTI_TEST_PG_START      shell command: start it again on PORT, blocks until ready
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PG="$ROOT/scripts/pg.sh"

log() { printf 'test.sh: %s\n' "$*" >&2; }

now_ms() { date +%s%3N; }
T_START=$(now_ms)
T_PHASE=$T_START
phase_done() {
  local t
  t=$(now_ms)
  log "$(printf '%-10s %6d ms' "$1" $((t - T_PHASE)))"
  T_PHASE=$t
}

bash scripts/bootstrap.sh </dev/null
phase_done bootstrap

# Configure once; afterwards Ninja re-runs CMake itself when CMakeLists change.
if [[ ! -f build/CMakeCache.txt || ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
fi
cmake --build build
phase_done build

# /tmp rather than $TMPDIR: the postgres user must be able to reach it and the
# socket path must stay short.
PGDIR=$(mktemp -d /tmp/cti-test-pg.XXXXXX)
# shellcheck disable=SC2317  # invoked from the EXIT trap
cleanup() {
  bash "$PG" stop "$PGDIR" || log "warning: could not stop the test cluster in $PGDIR"
  rm -rf -- "$PGDIR"
}
trap cleanup EXIT
# Turn Ctrl-C / TERM into a normal exit so the EXIT trap always cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$PG" init "$PGDIR" --auth trust --no-fsync
PORT=$(bash "$PG" start-any "$PGDIR")
bash "$PG" createdb "$PGDIR" cti_test
# The role the e2e servers connect as: owns nothing, so row-level security
# binds it; the superuser above applies the migrations (MIGRATION_DATABASE_URL).
printf 'unused-with-trust\n' | bash "$PG" ensure-role "$PGDIR" cti_server
bash "$PG" grant-server "$PGDIR" cti_server

export CTI_TEST_PG_PORT=$PORT
export CTI_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/cti_test"
export CTI_TEST_SERVER_DATABASE_URL="postgresql://cti_server@127.0.0.1:$PORT/cti_test"
CTI_TEST_PG_STOP="bash $(printf '%q' "$PG") stop $(printf '%q' "$PGDIR")"
CTI_TEST_PG_START="bash $(printf '%q' "$PG") start $(printf '%q' "$PGDIR") $PORT"
export CTI_TEST_PG_STOP CTI_TEST_PG_START
log "test database: $CTI_TEST_DATABASE_URL"
phase_done postgres

# Serial on purpose: some integration tests stop and restart the cluster.
unset CTEST_PARALLEL_LEVEL
status=0
ctest --test-dir build --output-on-failure "$@" </dev/null || status=$?
phase_done ctest

T_END=$(now_ms)
log "$(printf '%-10s %6d ms (ctest exit status %d)' total $((T_END - T_START)) "$status")"
exit "$status"
