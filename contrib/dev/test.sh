#!/usr/bin/env bash
# The whole test suite, as CI runs it:
#
#   contrib/dev/test.sh
#
# Installs the testbed's dependencies (Prosody, slixmpp, pytest, a regtest
# node), checks formatting and lints, runs the unit tests, then the
# integration tests in tests/ against a real Prosody and a real regtest node.
# Stops at the first failure with a non-zero exit code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "installing test dependencies"
bash contrib/dev/install-deps.sh

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# Imports between the top-level modules of src/ point one way (README,
# "How it is built"); the graph is printed, a cycle fails.
step "module graph (no cycle)"
python3 contrib/dev/module_graph.py

step "cargo build"
cargo build

step "cargo test"
cargo test

# The stream parser's fuzz target, bounded (its seeds, the regressions it
# found among them, run first). A fixed seed and a fixed number of runs
# make CI's run the same every time; long runs are in fuzz/README.md.
step "fuzzing the stream parser (150 000 runs, seed 1)"
bash contrib/dev/fuzz.sh 180 -seed=1 -runs=150000

# The integration tests run the binary that was just built, with the
# crash-test hook (BITCOIM_FAULT=<step> aborts the daemon at that step of a
# withdrawal; tests/test_money.py uses it). Never in a build for users.
step "cargo build --features fault-injection"
cargo build --features fault-injection

export BITCOIM_BIN="${BITCOIM_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/debug/bitcoim}"
step "integration tests (pytest, $BITCOIM_BIN)"
# /usr/bin/python3: Debian's slixmpp does not import in any other Python.
/usr/bin/python3 -m pytest -v tests/
