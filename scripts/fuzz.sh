#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (AddressSanitizer and
# UndefinedBehaviorSanitizer) and runs each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, all)
#
# Targets: extract, sanitize, webhook_auth, router, cursor. Each starts from
# its seeds (fuzz/corpus/<target>, and the Dialpad fixtures for extract and
# sanitize) plus what earlier runs found (build-fuzz/corpus/<target>), and
# first replays fuzz/regressions/<target>. A crash, an invariant broken, a
# leak or a timeout stops the run with exit 1 and leaves the input in
# build-fuzz/artifacts/; once fixed, copy it to fuzz/regressions/<target>/.
# Needs clang++ and libFuzzer (Debian: clang, libclang-rt-14-dev).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { printf 'fuzz.sh: %s\n' "$*" >&2; }

SECONDS_PER_TARGET=${1:-60}
[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || { log "usage: scripts/fuzz.sh [SECONDS] [TARGET...]"; exit 2; }
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(extract sanitize webhook_auth router cursor)

command -v clang++ >/dev/null || { log "clang++ not found (Debian: apt-get install clang libclang-rt-14-dev)"; exit 2; }

if [[ ! -f build-fuzz/build.ninja ]]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DCTI_FUZZ=ON -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
fi
cmake --build build-fuzz

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p build-fuzz/artifacts
status=0
for t in "${TARGETS[@]}"; do
  bin=build-fuzz/fuzz_$t
  [[ -x $bin ]] || { log "no such target: $t"; exit 2; }
  corpus=build-fuzz/corpus/$t
  mkdir -p "$corpus"
  seeds=()
  [[ -d fuzz/corpus/$t ]] && seeds+=("fuzz/corpus/$t")
  [[ $t == extract || $t == sanitize ]] && seeds+=(tests/fixtures/dialpad)
  if compgen -G "fuzz/regressions/$t/*" >/dev/null; then
    log "$t: replaying fuzz/regressions/$t"
    "$bin" fuzz/regressions/"$t"/* >"build-fuzz/artifacts/$t.regressions.log" 2>&1 || {
      log "$t: a saved regression fails again (build-fuzz/artifacts/$t.regressions.log)"
      status=1
      continue
    }
  fi
  log "$t: fuzzing for ${SECONDS_PER_TARGET}s"
  if ! "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t-" \
    "$corpus" "${seeds[@]}" >"build-fuzz/artifacts/$t.log" 2>&1; then
    log "$t: FAILED, see build-fuzz/artifacts/$t.log:"
    grep -E 'ERROR|invariant|runtime error|artifact_prefix|Test unit written' \
      "build-fuzz/artifacts/$t.log" | head -5 >&2 || true
    status=1
    continue
  fi
  log "$t: $(grep -E '^stat::number_of_executed_units' "build-fuzz/artifacts/$t.log" | awk '{print $2}') inputs, no failure"
done
exit "$status"
