"""What a packager or operator installs from contrib/, checked for real.

- contrib/prosody and contrib/ejabberd: the component snippets, pasted (by
  text substitution of their example values, never a hand-written copy)
  into a private Prosody and a private ejabberd from Debian's packages; a
  client's message to the component reaches bitcoIM and is answered.
- contrib/systemd/bitcoim.service: `systemd-analyze security --offline`
  rates it at most 2.0 ("OK"), and `systemd-analyze verify` accepts it.
- The install steps of the README ("Install on a Raspberry Pi"), run
  into a private root with the real bitcoim.sysusers and bitcoim.tmpfiles
  (`systemd-sysusers --root`, `systemd-tmpfiles --root`): the daemon, as
  the unprivileged user they create and with the unit's command line,
  reads its config, creates its database and serves users. Needs root.
- Upgrading from the Python bitcoIM: its database and its config run the
  new daemon.
- `bitcoim --check` names each misconfiguration it finds.
"""

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import types
from contextlib import closing
from pathlib import Path

import pytest

from client import Client, body
from conftest import USERS
from helpers import ask, q, register, result
import testbed

REPO = testbed.REPO
CONTRIB = REPO / "contrib"
GATEWAY = testbed.COMPONENT_JID
DOMAIN = testbed.DOMAIN
NS_REGISTER = "jabber:iq:register"

# The example values in the snippets, replaced by the testbed's.
EXAMPLE_JID = "bitcoin.example.org"
EXAMPLE_SECRET = "change-me-to-a-long-random-secret"
EXAMPLE_PORT = "5347"


def substituted(snippet, port, secret):
    """The snippet's text with its example name, secret and port replaced,
    as an operator would edit it. Fails if an example value went missing
    (the snippet changed and this test must follow)."""
    text = snippet.read_text()
    for example in (EXAMPLE_JID, EXAMPLE_SECRET, EXAMPLE_PORT):
        assert example in text, f"{snippet}: example value {example!r} not found"
    text = text.replace(EXAMPLE_JID, GATEWAY).replace(EXAMPLE_SECRET, secret)
    return re.sub(rf"\b{EXAMPLE_PORT}\b", str(port), text)


def expect_welcome(server, user, password):
    """A client of `server` says hello to the gateway and gets the welcome."""
    client = Client(f"{user}@{DOMAIN}", password, server.c2s_port)
    try:
        reply = ask(client, GATEWAY, "hello")
        assert "register <username>" in reply, reply
    finally:
        client.close()


# --- Prosody --------------------------------------------------------------------

class SnippetProsody(testbed.Prosody):
    """The testbed's Prosody, but its component settings are those of
    contrib/prosody/bitcoim.cfg.lua (placed among the global settings,
    before the first VirtualHost, as the snippet's comment says)."""

    def _write_config(self):
        super()._write_config()
        text = self.config.read_text()
        # Drop the testbed's own component settings...
        text = re.sub(r"^component_(ports|interfaces) = .*\n", "", text, flags=re.M)
        text = text[: text.index('Component "')]
        assert "component" not in text.lower().replace("written by", ""), text
        # ...and take the snippet's instead.
        snippet = substituted(CONTRIB / "prosody" / "bitcoim.cfg.lua",
                              self.component_port, self.secret)
        head, vhost = text.split("VirtualHost", 1)
        self.config.write_text(f"{head}\n-- contrib/prosody/bitcoim.cfg.lua\n{snippet}\n"
                               f"VirtualHost{vhost}")


def test_prosody_snippet_routes_to_bitcoim(tmp_path, daemon_factory):
    prosody = SnippetProsody(tmp_path).start()
    try:
        prosody.register("alice", "alice-pass")
        since = prosody.log.mark()
        daemon_factory(prosody)
        prosody.wait_component(since)
        expect_welcome(prosody, "alice", "alice-pass")
    finally:
        prosody.stop()


# --- ejabberd -------------------------------------------------------------------

def test_ejabberd_snippet_routes_to_bitcoim(tmp_path, daemon_factory):
    # Not a skip: without ejabberd this snippet is untested, say so loudly.
    missing = [tool for tool in ("erl", testbed.Ejabberd.CTL) if shutil.which(tool) is None]
    libs = testbed.Ejabberd.erl_libs()
    if not libs or not list(Path(libs).glob("ejabberd-*")):
        missing.append(f"ejabberd's Erlang code (ERL_LIBS from ejabberdctl: {libs})")
    if missing:
        pytest.fail(f"ejabberd is not installed (missing {', '.join(missing)}): "
                    "run contrib/dev/install-deps.sh")
    port = testbed.free_port()
    secret = "ejabberd-" + tmp_path.name
    listen = substituted(CONTRIB / "ejabberd" / "bitcoim.yml", port, secret)
    ejabberd = testbed.Ejabberd(tmp_path, listen, port, secret)
    try:
        ejabberd.start()
        ejabberd.register("alice", "alice-pass")
        listed = ejabberd.ctl("registered_users", DOMAIN)
        assert listed.returncode == 0 and "alice" in listed.stdout.split(), listed
        daemon_factory(ejabberd)
        expect_welcome(ejabberd, "alice", "alice-pass")
    except BaseException:
        print(f"--- ejabberd log ({ejabberd.log.path}) ---\n{ejabberd.log.tail(60)}")
        raise
    finally:
        ejabberd.stop()


# --- systemd ----------------------------------------------------------------------

UNIT = CONTRIB / "systemd" / "bitcoim.service"


def test_systemd_unit_exposure_is_ok():
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", out)
    assert found, f"no exposure score in:\n{out}"
    score = float(found.group(1))
    print(f"systemd-analyze security: exposure {score} {found.group(2)}")
    costs = [line for line in out.splitlines() if line.startswith("✗")]
    assert score <= 2.0, f"exposure {score} > 2.0; what costs:\n" + "\n".join(costs)


def test_systemd_unit_verifies(tmp_path):
    # verify wants the binary it names: the one under test stands in for
    # /usr/bin/bitcoim. --man=no: the man page is not installed here.
    binary = testbed.bitcoim_bin().resolve()
    unit = tmp_path / "bitcoim.service"
    text = UNIT.read_text()
    assert "/usr/bin/bitcoim " in text
    unit.write_text(text.replace("/usr/bin/bitcoim ", f"{binary} "))
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stdout + done.stderr


SYSUSERS = CONTRIB / "systemd" / "bitcoim.sysusers"
TMPFILES = CONTRIB / "systemd" / "bitcoim.tmpfiles"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def unit_service_settings():
    """The [Service] settings of the unit: name -> list of values."""
    settings, section = {}, None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            name, _, value = line.partition("=")
            settings.setdefault(name.strip(), []).append(value.strip())
    return settings


def sysusers_user():
    """The name of the one user bitcoim.sysusers declares."""
    users = [line.split()[1] for line in SYSUSERS.read_text().splitlines()
             if line.split() and line.split()[0] == "u"]
    assert len(users) == 1, users
    return users[0]


def test_systemd_unit_runs_as_the_sysusers_user():
    service = unit_service_settings()
    user = sysusers_user()
    assert "DynamicUser" not in service, service["DynamicUser"]
    assert service.get("User") == [user], service.get("User")
    assert service.get("StateDirectory") == ["bitcoim"]
    assert service.get("StateDirectoryMode") == ["0700"]
    # Exit 2 is a bad configuration (src/main.rs): restarting cannot fix it.
    prevented = " ".join(service.get("RestartPreventExitStatus", [])).split()
    assert "2" in prevented, service.get("RestartPreventExitStatus")
    # --check fails while bitcoind warms up (-28) or is down; the daemon
    # rides that out, so a check before it must not fail the unit.
    for pre in service.get("ExecStartPre", []):
        assert pre.startswith("-"), f"ExecStartPre={pre} fails the unit"
    # The directories the unit uses belong to that user (tmpfiles).
    owners = {line.split()[1]: line.split()[2:5] for line in TMPFILES.read_text().splitlines()
              if line.split() and line.split()[0] == "d"}
    assert owners == {"/etc/bitcoim": ["0750", "root", user],
                      "/var/lib/bitcoim": ["0700", user, user]}, owners


def require_root():
    # Not a skip: without root these steps are untested, say so loudly.
    if os.geteuid() != 0:
        pytest.fail("the install steps are tested as root (they create a system user, "
                    "chown files and switch to that user): run the tests as root, as CI does")


def readme_install_steps():
    """The shell lines of the README's installation, by what they do:
    sysusers, tmpfiles, config, check."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Install on a Raspberry Pi"):]
    section = section[: section.index("\n## ", 1)]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    keys = {"sysusers": "sysusers", "tmpfiles": "tmpfiles",
            "config": "bitcoim.conf.sample", "check": "--check"}
    steps = {}
    for step, key in keys.items():
        found = [line for line in lines if key in line]
        assert len(found) == 1, f"README: {len(found)} install lines with {key!r}: {found}"
        steps[step] = found[0]
    return steps


class InstallRoot:
    """A private root directory standing for /: the README's commands run
    in it with their paths prefixed, systemd-sysusers and systemd-tmpfiles
    with --root. It starts with copies of the host's passwd and group
    files, so that the user sysusers creates gets an id nobody on the host
    has; the daemon then runs under that id with setpriv, as the unit's
    User= would run it."""

    def __init__(self):
        # Not under pytest's tmp_path: its directories are root's, 0700,
        # and the daemon's user must reach its files.
        self.path = Path(tempfile.mkdtemp(prefix="bitcoim-root-"))
        self.path.chmod(0o755)
        for sub in ("usr/bin", "usr/lib/sysusers.d", "usr/lib/tmpfiles.d", "etc", "var/lib"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)
        for name in ("passwd", "group"):
            shutil.copy(f"/etc/{name}", self.path / "etc" / name)
        # The README's first line, with the binary under test.
        shutil.copy(testbed.bitcoim_bin(), self.path / "usr/bin/bitcoim")
        (self.path / "usr/bin/bitcoim").chmod(0o755)

    def __truediv__(self, path):
        return self.path / str(path).lstrip("/")

    def translate(self, command):
        """A README line, aimed at this root."""
        root = str(self.path)
        command = re.sub(r"(?<![\w./-])/(?=(usr|etc|var)/)", root + "/", command)
        for tool in ("systemd-sysusers", "systemd-tmpfiles"):
            command = command.replace(f"{tool} ", f"{tool} --root={root} ")
        return command

    def run(self, command):
        command = self.translate(command)
        done = subprocess.run(["bash", "-c", f"set -euo pipefail; {command}"], cwd=REPO,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=60)
        print(f"$ {command}\n{done.stdout}{done.stderr}")
        assert done.returncode == 0, f"{command}: exit {done.returncode}\n{done.stderr}"
        return done

    def ids(self, user):
        """(uid, gid) of `user` in this root's passwd."""
        for line in (self / "etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2]), int(fields[3])
        raise AssertionError(f"no user {user} in {self / 'etc/passwd'}")

    def as_user(self, user, argv):
        """`argv` under the user's uid and gid and no other group, as
        User= with no SupplementaryGroups= runs it."""
        uid, gid = self.ids(user)
        return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", *argv]

    def remove(self):
        shutil.rmtree(self.path, ignore_errors=True)


@pytest.fixture
def install_root():
    require_root()
    root = InstallRoot()
    yield root
    root.remove()


def unit_command(root, user):
    """The unit's ExecStart= as the unit would run it, in `root`."""
    (exec_start,) = unit_service_settings()["ExecStart"]
    return root.as_user(user, root.translate(exec_start).split())


def unit_umask():
    (umask,) = unit_service_settings()["UMask"]
    return int(umask, 8)


def test_installed_as_the_readme_says_the_daemon_starts_and_serves(
        tmp_path, install_root, prosody, node):
    root, user = install_root, sysusers_user()
    steps = readme_install_steps()
    root.run(steps["sysusers"])
    uid, gid = root.ids(user)
    assert uid != 0 and gid != 0, (uid, gid)
    root.run(steps["tmpfiles"])
    for path, mode, owner in (("/etc/bitcoim", 0o750, (0, gid)),
                              ("/var/lib/bitcoim", 0o700, (uid, gid))):
        st = os.stat(root / path)
        assert (stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid)) == (mode, owner), path
    # `install -g bitcoim` resolves the name on the host, where this
    # root's user does not exist: its number stands in.
    root.run(steps["config"].replace(f"-g {user} ", f"-g {gid} "))
    config = root / "etc/bitcoim/bitcoim.conf"
    st = os.stat(config)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o640, 0, gid)

    # $EDITOR: the testbed's values, the database where the sample puts
    # it (in the root). Writing in place keeps the file's mode and owner.
    database = "/var/lib/bitcoim/bitcoim.db"
    assert f"file = {database}" in (REPO / "bitcoim.conf.sample").read_text()
    text = testbed.Bitcoim(tmp_path, prosody, node).config.read_text()
    text = re.sub(r"^file = .*$", f"file = {root / database}", text, flags=re.M)
    with open(config, "w") as f:
        f.write(text)

    # runuser -u bitcoim -- bitcoim --check ...: as that user, no groups.
    check = root.translate(steps["check"])
    assert check.startswith(f"runuser -u {user} -- bitcoim "), check
    argv = root.as_user(user, [str(root / "usr/bin/bitcoim"), *check.split()[5:]])
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=60)
    print(f"$ {' '.join(argv)}  (exit {done.returncode})\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stdout + done.stderr

    # The daemon, with the unit's command line and umask.
    log = testbed.LogFile(tmp_path / "bitcoim.log")
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "BITCOIM_FAULT")}
    since = prosody.log.mark()
    argv = unit_command(root, user)
    print("$ " + " ".join(argv))
    # The unit's UMask=, for the files the daemon creates (inherited).
    umask = os.umask(unit_umask())
    try:
        proc = testbed._spawn(argv, log.path, env=env)
    finally:
        os.umask(umask)
    try:
        log.wait_for(testbed.Bitcoim.CONNECTED, timeout=15, proc=proc, what="bitcoim")
        prosody.wait_component(since)
        status = Path(f"/proc/{proc.pid}/status").read_text()
        ids = {k: v.split() for k, v in (line.split(":", 1) for line in status.splitlines())
               if k in ("Uid", "Gid", "Groups")}
        print(ids)
        assert ids["Uid"] == [str(uid)] * 4 and ids["Gid"] == [str(gid)] * 4, ids
        assert ids["Groups"] == [], ids

        client = Client(f"alice@{DOMAIN}", USERS["alice"], prosody.c2s_port)
        try:
            info = result(client.iq(GATEWAY, q(NS_DISCO_INFO)))
            features = {f.get("var") for f in info.iter(f"{{{NS_DISCO_INFO}}}feature")}
            assert NS_REGISTER in features, features
            # A registration writes the database and asks the node for an
            # address: both reached as the unprivileged user.
            address = register(client, "alice")
            assert address, address
        finally:
            client.close()
    except BaseException:
        print(f"--- bitcoim log ---\n{log.tail(60)}")
        raise
    finally:
        code = testbed._terminate(proc, 10)
    assert code == 0, f"bitcoim exited with {code} on SIGTERM:\n{log.tail(60)}"

    state = root / "var/lib/bitcoim"
    files = sorted(state.iterdir())
    assert root / database in files, files
    for path in [state, *files]:
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (uid, gid), f"{path} is {st.st_uid}:{st.st_gid}"
    with closing(sqlite3.connect(f"file:{root / database}?mode=ro", uri=True)) as db:
        users = [row[0] for row in db.execute("SELECT username FROM users")]
    assert users == ["alice"], users


def test_a_config_the_daemon_cannot_read_exits_2_and_is_not_restarted(tmp_path, install_root):
    # The layout the README had before: /etc/bitcoim root:root 0750. The
    # daemon cannot read its config; that is exit 2, which the unit's
    # RestartPreventExitStatus= keeps from restarting every 5 s for ever.
    root, user = install_root, sysusers_user()
    steps = readme_install_steps()
    root.run(steps["sysusers"])
    (root / "etc/bitcoim").mkdir(mode=0o750)
    config = root / "etc/bitcoim/bitcoim.conf"
    shutil.copy(REPO / "bitcoim.conf.sample", config)
    config.chmod(0o640)
    done = subprocess.run(unit_command(root, user), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    print(f"exit {done.returncode}: {done.stderr}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot read" in done.stderr and "bitcoim.conf" in done.stderr, done.stderr
    prevented = " ".join(unit_service_settings()["RestartPreventExitStatus"]).split()
    assert str(done.returncode) in prevented


# --- upgrading from the Python bitcoIM -----------------------------------------------

# The schema the Python bitcoIM created (db.py, db_version 1).
PYTHON_SCHEMA = """
CREATE TABLE meta (id INTEGER NOT NULL, name varchar(256) NOT NULL,
                   value varchar(256) NOT NULL, PRIMARY KEY (id));
INSERT INTO meta (name, value) VALUES ('db_version', '1');
CREATE TABLE registrations (id INTEGER NOT NULL, registered_jid varchar(256) NOT NULL,
                            username varchar(256) NOT NULL, PRIMARY KEY (id));
CREATE TABLE payments (id INTEGER NOT NULL, from_jid varchar(256) NOT NULL,
                       date timestamp NOT NULL, recipient varchar(256) NOT NULL,
                       amount real NOT NULL, comment varchar(256) NOT NULL,
                       confirmation_code varchar(256) NOT NULL, fee real NOT NULL,
                       PRIMARY KEY (id));
INSERT INTO registrations (registered_jid, username) VALUES
    ('alice@localhost', 'alice'),
    ('bob@localhost', 'bob');
INSERT INTO payments (from_jid, date, recipient, amount, comment, confirmation_code, fee)
    VALUES ('alice@localhost', '2011-01-01 12:00:00', 'bob', 0.5, 'thanks', 'abc', 0.0005);
"""


def python_config(path, prosody, node, database):
    """The Python bitcoIM's bitcoim.conf.example, filled in. The one line
    it never had is `network = regtest`: the Python bitcoIM only knew
    mainnet, and our node is a regtest one."""
    path.write_text(f"""\
[XMPP]
jid = {GATEWAY}
password = {prosody.secret}
server = 127.0.0.1
port = {prosody.component_port} # This is the default port

[database]
file = {database}

[bitcoin]
user = {node.rpc_user}
password = {node.rpc_password}
host = 127.0.0.1
port = {node.rpc_port} # This is the default port
network = regtest

[main program]
loglevel = error # possible values: debug, info, warning, error, critical
""")
    return path


def test_upgrade_from_python_bitcoim(tmp_path, private_prosody, node):
    database = tmp_path / "database.db"
    with sqlite3.connect(database) as db:
        db.executescript(PYTHON_SCHEMA)
    db.close()
    config = python_config(tmp_path / "bitcoim.conf", private_prosody, node, database)
    binary = str(testbed.bitcoim_bin())

    # The daemon first, on the untouched Python database (--check would
    # migrate it: it opens the ledger).
    since = private_prosody.log.mark()
    log = testbed.LogFile(tmp_path / "bitcoim.log")
    proc = testbed._spawn([binary, "-c", str(config)], log.path)
    try:
        private_prosody.wait_component(since, timeout=15)
        for user in ("alice", "bob"):
            client = Client(f"{user}@{DOMAIN}", USERS[user], private_prosody.c2s_port)
            try:
                reply = client.iq(GATEWAY, f"<query xmlns='{NS_REGISTER}'/>")
                assert reply.get("type") == "result", reply
                query = reply.find(f"{{{NS_REGISTER}}}query")
                assert query.find(f"{{{NS_REGISTER}}}registered") is not None, user
                assert query.findtext(f"{{{NS_REGISTER}}}username") == user
                client.send_message(GATEWAY, "balance")
                answer = body(client.wait_message(GATEWAY, timeout=10))
                print(f"{user}: balance -> {answer!r}")
                assert "register <username>" not in answer, answer
                assert "BTC" in answer and re.search(r"\b0(\.0+)?\b", answer), answer
            finally:
                client.close()
    except BaseException:
        print(f"--- bitcoim log ---\n{log.tail(60)}")
        raise
    finally:
        code = testbed._terminate(proc, 10)
    assert code == 0, f"bitcoim exited with {code} on SIGTERM:\n{log.tail(60)}"

    check = subprocess.run([binary, "--check", "-c", str(config)], capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=60)
    print(check.stdout + check.stderr)
    assert check.returncode == 0, check.stdout + check.stderr

    with sqlite3.connect(database) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"python_registrations", "python_payments"} <= tables, tables
        assert db.execute("SELECT count(*) FROM python_registrations").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM python_payments").fetchone()[0] == 1
        meta = dict(db.execute("SELECT name, value FROM meta"))
        assert meta.get("db_version") == "1", meta
        assert meta.get("python_import") == "2", meta
    db.close()


# --- bitcoim --check: each misconfiguration named ---------------------------------

def run_check(daemon, edit=None):
    """`bitcoim --check` on the daemon's config, after `edit(text) -> text`."""
    if edit is not None:
        daemon.config.write_text(edit(daemon.config.read_text()))
    done = daemon.check()
    output = done.stdout + done.stderr
    print(f"--- bitcoim --check (exit {done.returncode}) ---\n{output}")
    return done.returncode, output


def in_bitcoin_section(edit):
    """Applies `edit` to the [bitcoin] section only ([XMPP] has a password
    too)."""
    def apply(text):
        head, rest = text.split("[bitcoin]\n", 1)
        section, sep, tail = rest.partition("\n[")
        return f"{head}[bitcoin]\n{edit(section)}{sep}{tail}"
    return apply


def test_check_passes_on_a_good_setup(tmp_path, prosody, node):
    code, output = run_check(testbed.Bitcoim(tmp_path, prosody, node))
    assert code == 0, output


def test_check_names_a_wrong_component_secret(tmp_path, prosody, node):
    wrong = types.SimpleNamespace(secret="not-the-secret",
                                  component_port=prosody.component_port)
    code, output = run_check(testbed.Bitcoim(tmp_path, wrong, node))
    assert code == 1, output
    assert re.search(r"secret|not-authorized", output, re.I), output


def test_check_names_a_missing_wallet(tmp_path, prosody, node):
    daemon = testbed.Bitcoim(tmp_path, prosody, node,
                             extra_config="[bitcoin]\nwallet = nosuchwallet\n")
    code, output = run_check(daemon)
    assert code == 1, output
    assert "wallet" in output.lower() and "nosuchwallet" in output, output


def test_check_names_an_unreadable_cookie(tmp_path, prosody, node):
    # As root every file is readable: a cookie path that cannot be read
    # at all stands for one bitcoIM's user may not read.
    cookie = tmp_path / "nosuchdir" / ".cookie"
    drop_user = in_bitcoin_section(
        lambda s: re.sub(r"^(user|password) = .*\n", "", s, flags=re.M) + f"cookie = {cookie}\n")
    code, output = run_check(testbed.Bitcoim(tmp_path, prosody, node), drop_user)
    assert code == 1, output
    assert "cookie" in output.lower(), output


def test_check_names_a_database_that_cannot_be_written(tmp_path, prosody, node):
    # Root may write anywhere: a path under a file stands for a directory
    # bitcoIM may not write in.
    daemon = testbed.Bitcoim(tmp_path, prosody, node,
                             extra_config="[database]\nfile = /dev/null/bitcoim.db\n")
    code, output = run_check(daemon)
    assert code == 1, output
    assert "database" in output.lower() and "/dev/null/bitcoim.db" in output, output


def test_check_names_a_wrong_network(tmp_path, prosody, node):
    daemon = testbed.Bitcoim(tmp_path, prosody, node,
                             extra_config="[bitcoin]\nnetwork = main\n")
    code, output = run_check(daemon)
    assert code == 1, output
    assert "network" in output.lower(), output
