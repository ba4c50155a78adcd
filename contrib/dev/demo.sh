#!/usr/bin/env bash
# Try bitcoIM with your own chat client, on this machine only:
#
#   contrib/dev/demo.sh
#   contrib/dev/demo.sh --own-node regtest|signet [--rpc-port N]
#                       [--cookie PATH | --rpc-user U --rpc-password P]
#
# Installs what the demo needs (nothing more), builds the release binary,
# starts a private Prosody (users alice/alice-pass and bob/bob-pass on
# "localhost") and, without --own-node, a regtest bitcoind with 101 blocks
# (x86_64 only), and runs bitcoIM in the foreground. It prints the ports it
# really uses and what to do with a client before bitcoIM's log. Ctrl-C
# stops everything.
#
# --own-node uses a bitcoind you run yourself, on regtest or signet (on a
# machine that is not x86_64, the only way): its RPC on 127.0.0.1 (port:
# the network's default unless --rpc-port), with its cookie file or a
# user and password; bitcoIM uses its default wallet.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
deps=(--demo)
while [ "$#" -gt 0 ]; do
    case "$1" in
        --own-node)
            [ "$#" -ge 2 ] || { usage >&2; exit 2; }
            case "$2" in regtest|signet) ;; *) echo "demo: --own-node takes regtest or signet, not '$2'" >&2; exit 2 ;; esac
            export DEMO_OWN_NODE="$2"; deps+=(--own-node); shift 2 ;;
        --rpc-port) export DEMO_RPC_PORT="${2:?--rpc-port needs a port}"; shift 2 ;;
        --cookie) export DEMO_COOKIE="${2:?--cookie needs a path}"; shift 2 ;;
        --rpc-user) export DEMO_RPC_USER="${2:?--rpc-user needs a name}"; shift 2 ;;
        --rpc-password) export DEMO_RPC_PASSWORD="${2:?--rpc-password needs a password}"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "demo: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [ -z "${DEMO_OWN_NODE:-}" ] && [ -n "${DEMO_COOKIE:-}${DEMO_RPC_USER:-}${DEMO_RPC_PORT:-}" ]; then
    echo "demo: --rpc-port, --cookie and --rpc-user go with --own-node" >&2
    exit 2
fi

bash contrib/dev/install-deps.sh "${deps[@]}"
cargo build --release
export BITCOIM_BIN="${BITCOIM_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/bitcoim}"
# /usr/bin/python3 like the tests: the testbed is shared with them.
exec /usr/bin/python3 contrib/dev/demo.py
