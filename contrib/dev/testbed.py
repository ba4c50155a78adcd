"""A throwaway testbed on loopback: Prosody, a regtest node and bitcoIM.

Used by contrib/dev/demo.sh and by the integration tests in tests/. Every
process it starts binds 127.0.0.1 only, on ports picked at start time, with
its files in a private directory; all of them are stopped at interpreter exit
even when a test fails half-way.

Run with /usr/bin/python3: Debian's slixmpp (used by the tests) only imports
there. This module itself needs only the standard library.
"""

import atexit
import base64
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / "target" / "testbed" / "node"
COMPONENT_JID = "bitcoin.localhost"
DOMAIN = "localhost"
# Prosody's MUC service, for the group chat tests.
MUC_JID = "conference.localhost"

# Every process we start, so that atexit can reap what a failing test leaves.
_live = set()


@atexit.register
def _reap_all():
    for proc in list(_live):
        _kill(proc)


def _kill(proc):
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    _live.discard(proc)


def _spawn(argv, log_path, env=None):
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            # Own process group: Ctrl-C in demo.sh reaches us, not the children
            # directly, so shutdown happens in a known order.
            start_new_session=True,
        )
    _live.add(proc)
    return proc


def _terminate(proc, timeout):
    """SIGTERM, wait, SIGKILL if needed; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _live.discard(proc)
    return proc.returncode


def free_port(preferred=None):
    """A TCP port on 127.0.0.1 that nobody listens on right now.

    `preferred` is tried first (the demo wants well-known ports).
    """
    candidates = ([preferred] if preferred else []) + [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


class LogFile:
    """A log file that grows; waits for lines appearing after a mark."""

    def __init__(self, path):
        self.path = Path(path)

    def mark(self):
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def text(self, since=0):
        try:
            with open(self.path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines=40):
        return "\n".join(self.text().splitlines()[-lines:])

    def wait_for(self, needle, since=0, timeout=10.0, proc=None, what=None):
        deadline = time.monotonic() + timeout
        while True:
            if needle in self.text(since):
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"{what or proc.args[0]} exited with {proc.returncode} "
                    f"before logging {needle!r}; log {self.path}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{what or 'process'} did not log {needle!r} within "
                    f"{timeout} s; log {self.path}:\n{self.tail()}"
                )
            time.sleep(0.05)


class Prosody:
    """A private Prosody: own config, data and log in `workdir`."""

    def __init__(self, workdir, c2s_port=None, component_port=None, secret=None,
                 extra_hosts=(), public_jids=False):
        # extra_hosts: more VirtualHosts beside DOMAIN (users of another
        # domain on the same server, for the allowed-domains tests).
        self.extra_hosts = tuple(extra_hosts)
        # public_jids: new rooms show real JIDs to everyone (the demo, where
        # tips should work at once); Prosody's default, semi-anonymous
        # rooms, is what the hidden-JID tests need.
        self.public_jids = public_jids
        self.dir = Path(workdir) / "prosody"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.c2s_port = c2s_port or free_port()
        self.component_port = component_port or free_port()
        self.secret = secret or secrets.token_hex(16)
        self.config = self.dir / "prosody.cfg.lua"
        self.log = LogFile(self.dir / "prosody.log")
        self.proc = None
        self._write_config()

    def _write_config(self):
        data = self.dir / "data"
        data.mkdir(exist_ok=True)
        # An empty certificate directory: TLS is off, but Prosody logs an
        # error at every start when the directory is missing.
        (self.dir / "certs").mkdir(exist_ok=True)
        extra_hosts = "".join(f'VirtualHost "{host}"\n' for host in self.extra_hosts)
        self.config.write_text(f"""\
-- Written by contrib/dev/testbed.py: a throwaway Prosody on loopback.
run_as_root = true  -- as root it would otherwise switch to the prosody user
pidfile = "{self.dir}/prosody.pid"
data_path = "{data}"
certificates = "{self.dir}/certs"
log = {{ debug = "{self.log.path}" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
component_ports = {{ {self.component_port} }}
component_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
allow_registration = true
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "register"; "version"; "vcard_legacy" }}
modules_disabled = {{ "s2s"; "tls" }}

VirtualHost "{DOMAIN}"
{extra_hosts}
Component "{COMPONENT_JID}"
    component_secret = "{self.secret}"

-- Group chats (XEP-0045) for the room tests: Prosody's own MUC. Rooms
-- are created, unlocked, by whoever joins first (no restrict_room_creation)
-- and are not persistent.
Component "{MUC_JID}" "muc"
    muc_room_default_public = true
    muc_room_locking = false
    muc_room_default_public_jids = {"true" if self.public_jids else "false"}
""")

    def start(self, timeout=10.0):
        since = self.log.mark()
        # -F: stay in the foreground so that we own the process.
        self.proc = _spawn(
            ["prosody", "--config", str(self.config), "-F"], self.dir / "stdout.log"
        )
        for service, port in (("c2s", self.c2s_port), ("component", self.component_port)):
            # Prosody keeps running when a port is taken, so the log is the
            # only trustworthy sign that it listens.
            self.log.wait_for(
                f"Activated service '{service}' on [127.0.0.1]:{port}",
                since=since, timeout=timeout, proc=self.proc, what="prosody",
            )
        return self

    def stop(self, timeout=10.0):
        if self.proc is not None:
            _terminate(self.proc, timeout)
            self.proc = None

    def restart(self, pause=0.0):
        self.stop()
        time.sleep(pause)
        self.start()

    def register(self, user, password, host=DOMAIN):
        subprocess.run(
            ["prosodyctl", "--config", str(self.config), "register", user, host, password],
            check=True, stdin=subprocess.DEVNULL, capture_output=True,
        )

    def wait_component(self, since=0, timeout=10.0):
        """Until Prosody says the component authenticated (after `since`)."""
        self.log.wait_for(
            "External component successfully authenticated",
            since=since, timeout=timeout, proc=self.proc, what="prosody",
        )

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class RpcError(Exception):
    def __init__(self, method, code, message):
        super().__init__(f"bitcoind {method}: {message} (code {code})")
        self.code = code
        self.message = message


class RegtestNode:
    """bitcoind in regtest with its own datadir, RPC on 127.0.0.1."""

    def __init__(self, workdir, rpc_port=None, p2p_port=None, connect=None):
        self.dir = Path(workdir) / "node"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "bitcoin.conf").touch()
        self.rpc_port = rpc_port or free_port()
        self.p2p_port = p2p_port or free_port()
        self.rpc_user = "bitcoim-test"
        self.rpc_password = secrets.token_hex(16)
        self.log = LogFile(self.dir / "stdout.log")
        self.proc = None
        # The P2P port of a peer on 127.0.0.1 to connect to (and only to),
        # for realistic deposits from another node's wallet; None: no peers.
        self.connect = connect

    def bitcoin_section(self):
        """The [bitcoin] lines of a bitcoIM config that uses this node."""
        return (f"user = {self.rpc_user}\npassword = {self.rpc_password}\n"
                f"host = 127.0.0.1\nport = {self.rpc_port}\nnetwork = regtest\n")

    def start(self, timeout=30.0):
        bitcoind = NODE_DIR / "bitcoind"
        if not bitcoind.exists():
            raise FileNotFoundError(f"{bitcoind} missing: run contrib/dev/install-deps.sh")
        q = self.p2p_port
        # No -daemon: in the foreground we own the pid (-daemon forks and
        # exits 0 even when binding fails).
        self.proc = _spawn([
            str(bitcoind), "-regtest", f"-datadir={self.dir}",
            f"-conf={self.dir}/bitcoin.conf", "-server=1", "-printtoconsole=0",
            f"-rpcuser={self.rpc_user}", f"-rpcpassword={self.rpc_password}",
            f"-rpcport={self.rpc_port}", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1",
            f"-port={q}", f"-bind=127.0.0.1:{q}", "-listen=1", "-discover=0",
            "-dnsseed=0", "-upnp=0",
            f"-connect=127.0.0.1:{self.connect}" if self.connect else "-connect=0",
            "-txindex=1",
            # Mandatory for this node (Bitcoin SV 1.0.13), see TESTBED.md.
            "-excessiveblocksize=10000000000", "-maxstackmemoryusageconsensus=0",
            "-minminingtxfee=0.00000500",
            # After a reorganisation of 6 blocks or more this node enters
            # "safe mode" and refuses wallet calls (listunspent,
            # sendtoaddress, gettransaction...) with -2 "Safe mode: ... A
            # large valid fork has been detected". Bitcoin Core has had no
            # safe mode since 0.17; the deep-reorg tests need it off.
            "-disablesafemode=1",
        ], self.log.path)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.rpc("getblockcount")
                return self
            except RpcError as e:
                if e.code != -28:  # -28: still warming up
                    raise
            except OSError:
                pass  # RPC not listening yet
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"bitcoind exited with {self.proc.returncode}; "
                    f"{self.dir}/regtest/debug.log:\n{self.debug_log_tail()}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"bitcoind RPC not answering after {timeout} s")
            time.sleep(0.1)

    def debug_log_tail(self, lines=30):
        return LogFile(self.dir / "regtest" / "debug.log").tail(lines)

    def rpc(self, method, *params, timeout=30.0):
        body = json.dumps(
            {"jsonrpc": "1.0", "id": "testbed", "method": method, "params": list(params)},
            default=str,  # Decimal amounts go out as exact strings
        ).encode()
        auth = base64.b64encode(f"{self.rpc_user}:{self.rpc_password}".encode()).decode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.rpc_port}/", data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Basic {auth}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            # JSON-RPC errors come with HTTP 4xx/5xx and a JSON body.
            raw = e.read()
            if not raw:
                raise RpcError(method, e.code, f"HTTP {e.code} {e.reason}") from None
        # parse_float=Decimal: amounts are exact, never floats.
        reply = json.loads(raw, parse_float=Decimal)
        if reply.get("error"):
            err = reply["error"]
            raise RpcError(method, err.get("code"), err.get("message"))
        return reply["result"]

    def generate(self, n):
        return self.rpc("generate", n)

    def set_network_active(self, active, timeout=20.0):
        """`setnetworkactive`: False drops every peer (and accepts none),
        True lets the node connect again (to its -connect peer). Returns
        once the node has no peer left, or at least one again."""
        self.rpc("setnetworkactive", bool(active))
        deadline = time.monotonic() + timeout
        while (self.rpc("getconnectioncount") > 0) != bool(active):
            if time.monotonic() > deadline:
                state = "reconnected" if active else "dropped its peers"
                raise TimeoutError(f"the node has not {state} after {timeout} s")
            time.sleep(0.05)

    def stop(self, timeout=30.0):
        if self.proc is None:
            return
        try:
            self.rpc("stop", timeout=5)
            self.proc.wait(timeout)
        except (OSError, RpcError, subprocess.TimeoutExpired):
            pass
        _terminate(self.proc, 5)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def bitcoim_bin():
    return Path(os.environ.get("BITCOIM_BIN") or REPO / "target" / "debug" / "bitcoim")


class Bitcoim:
    """The daemon under test, with a config pointing at our Prosody and node."""

    CONNECTED = f"component connected as {COMPONENT_JID}"

    def __init__(self, workdir, prosody, node=None, loglevel="debug", admins="admin@localhost",
                 extra_config=""):
        # extra_config: INI text appended to the file; it may reopen a
        # section ("[bitcoin]\npoll_interval = 1"): the last value wins.
        self.dir = Path(workdir) / "bitcoim"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "bitcoim.conf"
        # The SQLite file: tests may read it, or write what no command can
        # do yet (a balance before deposits exist).
        self.database = self.dir / "bitcoim.db"
        self.log = LogFile(self.dir / "bitcoim.log")
        self.proc = None
        # Without a node the [bitcoin] section points at a closed port: the
        # foundation daemon does not need bitcoind to serve XMPP.
        bitcoin = node.bitcoin_section() if node else (
            f"user = nobody\npassword = nothing\nhost = 127.0.0.1\n"
            f"port = {free_port()}\nnetwork = regtest\n")
        self.config.write_text(f"""\
# Written by contrib/dev/testbed.py
[XMPP]
jid = {COMPONENT_JID}
password = {prosody.secret}
server = 127.0.0.1
port = {prosody.component_port}

[database]
file = {self.database}

[bitcoin]
{bitcoin}
[main program]
loglevel = {loglevel}
admins = {admins}
""" + extra_config)

    def argv(self, *extra):
        return [str(bitcoim_bin()), *extra, "-c", str(self.config)]

    def start(self, timeout=15.0, env=None):
        """Starts the daemon; `env`: extra environment variables (for
        instance BITCOIM_FAULT for the crash tests)."""
        binary = bitcoim_bin()
        if not binary.exists():
            raise FileNotFoundError(f"{binary} missing: run `cargo build` (or set BITCOIM_BIN)")
        since = self.log.mark()
        extra_env = env or {}
        env = dict(os.environ)
        env.pop("RUST_LOG", None)  # the config's loglevel decides
        env.pop("BITCOIM_FAULT", None)  # only when a test asks for it
        env.update(extra_env)
        self.proc = _spawn(self.argv(), self.log.path, env=env)
        self.wait_connected(since, timeout)
        return self

    def wait_connected(self, since=0, timeout=15.0):
        self.log.wait_for(self.CONNECTED, since=since, timeout=timeout,
                          proc=self.proc, what="bitcoim")

    def check(self, timeout=60.0):
        """`bitcoim --check -c FILE`; returns the CompletedProcess."""
        return subprocess.run(self.argv("--check"), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit code (None if not running)."""
        if self.proc is None:
            return None
        code = _terminate(self.proc, timeout)
        self.proc = None
        return code

    def kill(self):
        if self.proc is not None:
            _kill(self.proc)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Ejabberd:
    """A private ejabberd (Debian's package): own config, spool and logs in
    `workdir`, c2s and component listeners on 127.0.0.1 only.

    `listen_yaml` is the text of a `listen:` section (the last key of the
    file) holding the component listener; the c2s listener is appended to
    it. ejabberdctl would switch to the `ejabberd` user, which cannot write
    in a private directory of root's: the server runs as the current user
    with the command line ejabberdctl builds (erl ... -s ejabberd). Erlang
    distribution listens on a loopback port of its own (no epmd, which
    would listen on every interface) with a random cookie.
    """

    # /usr/sbin is not on a normal user's PATH on Debian.
    CTL = shutil.which("ejabberdctl") or "/usr/sbin/ejabberdctl"

    @classmethod
    def erl_libs(cls):
        """Where the package put ejabberd's Erlang code (per architecture):
        read from ejabberdctl, which sets it."""
        try:
            script = Path(cls.CTL).read_text()
        except OSError:
            return None
        found = re.search(r"^ERL_LIBS='([^']+)'", script, re.M)
        return found.group(1) if found else None

    def __init__(self, workdir, listen_yaml, component_port, secret, c2s_port=None):
        self.dir = Path(workdir) / "ejabberd"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.spool = self.dir / "spool"
        self.logs = self.dir / "logs"
        self.spool.mkdir(exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        self.c2s_port = c2s_port or free_port()
        self.component_port = component_port
        self.secret = secret
        self.dist_port = free_port()
        self.cookie = secrets.token_hex(16)
        self.node = f"bitcoim-test-{secrets.token_hex(4)}@localhost"
        self.config = self.dir / "ejabberd.yml"
        self.ctl_config = self.dir / "ejabberdctl.cfg"
        self.log = LogFile(self.logs / "ejabberd.log")
        self.proc = None
        self.config.write_text(f"""\
# Written by contrib/dev/testbed.py: a throwaway ejabberd on loopback.
hosts:
  - {DOMAIN}
loglevel: info
log_rotate_count: 0
auth_method: internal
default_db: mnesia
s2s_access: none
acl:
  local:
    user_regexp: ""
access_rules:
  c2s:
    allow: all
modules:
  mod_roster: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
{listen_yaml.rstrip()}
  -
    port: {self.c2s_port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    access: c2s
""")
        # For `ejabberdctl --ctl-config`: reach our node, not the system's.
        self.ctl_config.write_text(
            f'ERLANG_NODE={self.node}\nERL_DIST_PORT={self.dist_port}\n'
            f'ERL_OPTIONS="-setcookie {self.cookie}"\n')

    def _env(self):
        env = dict(os.environ)
        env.update({
            "HOME": str(self.dir),  # any .erlang.cookie lands here, not in ~
            "EJABBERD_CONFIG_PATH": str(self.config),
            "EJABBERD_LOG_PATH": str(self.log.path),
            "ERL_LIBS": self.erl_libs() or "",
            "ERL_CRASH_DUMP": str(self.logs / "erl_crash.dump"),
        })
        return env

    def start(self, timeout=30.0):
        since = self.log.mark()
        self.proc = _spawn([
            "erl", "-sname", self.node, "-setcookie", self.cookie,
            "-erl_epmd_port", str(self.dist_port), "-start_epmd", "false",
            "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
            "-noinput", "+K", "true",
            "-mnesia", "dir", f'"{self.spool}"', "-s", "ejabberd",
        ], self.dir / "stdout.log", env=self._env())
        for port, module in ((self.c2s_port, "ejabberd_c2s"),
                             (self.component_port, "ejabberd_service")):
            self.log.wait_for(
                f"Start accepting TCP connections at 127.0.0.1:{port} for {module}",
                since=since, timeout=timeout, proc=self.proc, what="ejabberd")
        return self

    def ctl(self, *args, timeout=30.0):
        """`ejabberdctl` aimed at this node; returns the CompletedProcess."""
        return subprocess.run(
            [self.CTL, "--ctl-config", str(self.ctl_config), "--config", str(self.config),
             "--spool", str(self.spool), "--logs", str(self.logs), *args],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
            env=self._env())

    def register(self, user, password):
        done = self.ctl("register", user, DOMAIN, password)
        if done.returncode != 0:
            raise RuntimeError(f"ejabberdctl register {user} failed ({done.returncode}): "
                               f"{done.stdout}{done.stderr}")

    def stop(self, timeout=15.0):
        if self.proc is not None:
            _terminate(self.proc, timeout)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
