"""What a packager or operator installs from contrib/, checked for real.

- contrib/prosody and contrib/ejabberd: the component snippets, pasted (by
  text substitution of their example values, never a hand-written copy)
  into a private Prosody and a private ejabberd from Debian's packages; a
  client's message to the component reaches bitcoIM and is answered.
- contrib/systemd/bitcoim.service: `systemd-analyze security --offline`
  rates it at most 2.0 ("OK"), and `systemd-analyze verify` accepts it.
- Upgrading from the Python bitcoIM: its database and its config run the
  new daemon.
- `bitcoim --check` names each misconfiguration it finds.
"""

import re
import shutil
import sqlite3
import subprocess
import types
from pathlib import Path

import pytest

from client import Client, body
from conftest import USERS
from helpers import ask
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
