#!/usr/bin/env bash
# Fuzzes the stream parser with libFuzzer for a bounded time:
#
#   contrib/dev/fuzz.sh [SECONDS] [LIBFUZZER_ARGS...]
#
# SECONDS defaults to 60, what CI runs. Anything after it goes to libFuzzer
# as it is (`contrib/dev/fuzz.sh 3600 -fork=2` for a long run on two cores).
# The target and its invariants are in fuzz/ (see fuzz/README.md). Every
# file of fuzz/seeds/ runs first, so the regressions saved there fail fast.
# New inputs go to fuzz/corpus/stream_parser/, a crash to
# fuzz/artifacts/stream_parser/, the whole libFuzzer log to
# fuzz/artifacts/stream_parser.log. Exits non-zero on a crash, an invariant
# violation, a timeout or a build failure.
#
# cargo-fuzz needs nightly-only rustc flags (sanitizers, coverage
# instrumentation); RUSTC_BOOTSTRAP=1 lets the stable toolchain, the only
# one our machines have, accept them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

SECONDS_TO_RUN="${1:-60}"
shift || true
case "$SECONDS_TO_RUN" in
'' | *[!0-9]*)
    echo "usage: $0 [SECONDS] [LIBFUZZER_ARGS...]" >&2
    exit 2
    ;;
esac

step() { printf '\n==> %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

# Fuzz the dependency versions the daemon ships with: fuzz/ is its own
# workspace, and would otherwise resolve the newest ones.
cp Cargo.lock fuzz/Cargo.lock

TARGET=stream_parser
CORPUS="$ROOT/fuzz/corpus/$TARGET"
ARTIFACTS="$ROOT/fuzz/artifacts/$TARGET"
LOG="$ROOT/fuzz/artifacts/$TARGET.log"
mkdir -p "$CORPUS" "$ARTIFACTS"

step "cargo fuzz run $TARGET for ${SECONDS_TO_RUN}s (log: ${LOG#"$ROOT"/})"
# The screen gets libFuzzer's status lines, not one line per new input or
# per entry of the dictionary it recommends at the end.
set +e
RUSTC_BOOTSTRAP=1 cargo fuzz run "$TARGET" "$CORPUS" "$ROOT/fuzz/seeds" -- \
    -max_total_time="$SECONDS_TO_RUN" \
    -timeout=10 \
    -dict="$ROOT/fuzz/$TARGET.dict" \
    -print_final_stats=1 \
    "$@" 2>&1 |
    tee "$LOG" |
    grep --line-buffered -Ev '^#[0-9]+[[:space:]]+(NEW|REDUCE) |# Uses: [0-9]+$'
fuzz_status="${PIPESTATUS[0]}"
set -e

stat() { sed -n "s/^stat::$1: *//p" "$LOG" | tail -n 1; }
executions="$(stat number_of_executed_units)"
per_second="$(stat average_exec_per_sec)"
# -fork=N prints no final stats, only status lines "#N: cov: ... exec/s: X".
if [ -z "$executions" ]; then
    executions="$(sed -n 's/^#\([0-9]*\): cov: .*/\1/p' "$LOG" | tail -n 1)"
    per_second="$(sed -n 's/^#[0-9]*: cov: .* exec\/s: \([0-9]*\) .*/\1/p' "$LOG" | tail -n 1)"
fi
coverage="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+(/[0-9]+[a-zA-Z]*)?' "$LOG" | tail -n 1 || true)"
step "fuzz summary"
echo "executions: ${executions:-?} (${per_second:-?}/s)"
echo "coverage:   ${coverage:-?}"

if [ "$fuzz_status" -ne 0 ]; then
    echo "the fuzzer failed (exit status $fuzz_status); log: ${LOG#"$ROOT"/}" >&2
    crash="$(sed -n 's/.*Test unit written to //p' "$LOG" | tail -n 1)"
    if [ -n "$crash" ]; then
        echo "input: $crash" >&2
        echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run $TARGET ${crash#"$ROOT"/}" >&2
    fi
    exit 1
fi
