#!/usr/bin/env bash
# Bootstraps, builds, starts a throw-away PostgreSQL on a free loopback port
# and runs the whole test suite against it, then (when clang++ and libFuzzer
# are installed) a short run of every fuzz target (scripts/fuzz.sh).
# Extra arguments go to ctest (e.g. `scripts/test.sh -L unit`; labels: unit,
# integration, e2e, hostile, fault). Works unattended as root in CI.
#
#   scripts/test.sh --asan [CTEST ARGS]
#       builds in build-asan with AddressSanitizer + UndefinedBehaviorSanitizer
#       and runs the unit and integration tests (any sanitizer report fails).
#
# CTI_FUZZ_SECONDS (default 10): each fuzz target's run; 0 skips fuzzing.
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

BUILD=build
CMAKE_EXTRA=()
CTEST_DEFAULT=()
BUILD_TARGETS=()
ASAN=0
if [[ ${1:-} == --asan ]]; then
  shift
  ASAN=1
  BUILD=build-asan
  CMAKE_EXTRA=(-DCTI_SANITIZE=ON)
  CTEST_DEFAULT=(-L '^(unit|integration)$')
  BUILD_TARGETS=(--target unit_tests integration_tests)
  # Leaks are reported too; a UB report aborts the test that caused it.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
  # One known leak inside libpqxx on a lost connection (see the file).
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/lsan.supp:print_suppressions=0}
  # (tests/ubsan.supp: a harmless report inside CAF's headers, see the file.)
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$ROOT/tests/ubsan.supp}
fi

bash scripts/bootstrap.sh </dev/null
# The fuzzing tools are optional: without them the fuzz phase is skipped.
bash scripts/bootstrap.sh --fuzz </dev/null ||
  log "warning: clang/libFuzzer could not be installed; the fuzz phase will be skipped"
# The console's browser test needs Chromium and Node.js; without them it is
# skipped (and says so).
bash scripts/bootstrap.sh --console </dev/null ||
  log "warning: chromium/node.js could not be installed; the console browser test will be skipped"
phase_done bootstrap

# Configure once; afterwards Ninja re-runs CMake itself when CMakeLists change.
if [[ ! -f $BUILD/CMakeCache.txt || ! -f $BUILD/build.ninja ]]; then
  cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache "${CMAKE_EXTRA[@]}"
fi
cmake --build "$BUILD" "${BUILD_TARGETS[@]}"
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

# The console's browser test: playwright-core at the version the lockfile
# pins (tests/console/package-lock.json), driving Debian's chromium.
if ((ASAN == 0)) && command -v chromium >/dev/null && command -v npm >/dev/null; then
  if npm ci --prefix tests/console --no-audit --no-fund --loglevel=error </dev/null; then
    CTI_TEST_CONSOLE_DIR="$ROOT/tests/console"
    CTI_TEST_CHROMIUM=$(command -v chromium)
    CTI_TEST_SCREENSHOTS="$ROOT/$BUILD/console-screens"
    export CTI_TEST_CONSOLE_DIR CTI_TEST_CHROMIUM CTI_TEST_SCREENSHOTS
    log "console browser test: screenshots in $CTI_TEST_SCREENSHOTS"
  else
    log "warning: npm ci failed in tests/console; the console browser test will be skipped"
  fi
fi
phase_done console

# Serial on purpose: some integration tests stop and restart the cluster.
unset CTEST_PARALLEL_LEVEL
status=0
ctest --test-dir "$BUILD" --output-on-failure "${CTEST_DEFAULT[@]}" "$@" </dev/null || status=$?
phase_done ctest

# A short fuzzing run of every target, where clang and libFuzzer exist (a
# full build and test run only: not with --asan or a ctest selection).
FUZZ_SECONDS=${CTI_FUZZ_SECONDS:-10}
if ((ASAN == 0 && $# == 0 && FUZZ_SECONDS > 0)); then
  if command -v clang++ >/dev/null && compgen -G '/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a' >/dev/null; then
    bash scripts/fuzz.sh "$FUZZ_SECONDS" </dev/null || status=$((status == 0 ? 9 : status))
    phase_done fuzz
  else
    log "fuzzing skipped: clang++ or libFuzzer (libclang-rt-14-dev) not installed"
  fi
fi

T_END=$(now_ms)
log "$(printf '%-10s %6d ms (ctest exit status %d)' total $((T_END - T_START)) "$status")"
exit "$status"
