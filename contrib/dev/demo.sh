#!/usr/bin/env bash
# Try bitcoIM with your own chat client, on this machine only:
#
#   contrib/dev/demo.sh
#
# Installs the dependencies, builds the release binary, starts a private
# Prosody (users alice/alice-pass and bob/bob-pass on "localhost"), a regtest
# bitcoind with 101 blocks, and runs bitcoIM in the foreground. It prints what
# to do with a client before bitcoIM's log. Ctrl-C stops everything.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

bash contrib/dev/install-deps.sh
cargo build --release
export BITCOIM_BIN="${BITCOIM_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/bitcoim}"
# /usr/bin/python3 like the tests: the testbed is shared with them.
exec /usr/bin/python3 contrib/dev/demo.py
