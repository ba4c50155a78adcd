"""Running bitcoIM as an operator does (issue 12, item 3), checked on the
real binary. None of these tests needs Prosody or bitcoind: the daemon
keeps retrying an XMPP server and a node that are not there, which is
all a test of its logs, its files and its signals needs.

- Under systemd, standard error is the journal: each line carries its
  syslog priority (`<3>` error ... `<7>` debug), so `journalctl -p err`
  finds the errors.
- The database and its -wal and -shm files are 0600 whatever the umask,
  and files left open to others by an older bitcoIM are fixed.
- SIGHUP reloads what can change while running and says what needs a
  restart; it no longer kills the daemon.
"""

import os
import re
import signal
import stat
import subprocess
import time
import types

import testbed


def unreachable():
    """Stands for an XMPP server: a port nobody listens on."""
    return types.SimpleNamespace(secret="unused", component_port=testbed.free_port())


def spawn(daemon, env=None, umask=0o022):
    """The daemon, its standard error to its log file, under `umask`;
    `env`: variables to add. Returns the process."""
    daemon.log.path.touch()
    full = dict(os.environ)
    for name in ("RUST_LOG", "BITCOIM_FAULT", "JOURNAL_STREAM"):
        full.pop(name, None)
    full.update(env or {})
    with open(daemon.log.path, "ab") as log:
        proc = subprocess.Popen(daemon.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=full, umask=umask,
                                start_new_session=True)
    testbed._live.add(proc)
    daemon.proc = proc
    return proc


def journal_stream(path):
    """JOURNAL_STREAM as systemd sets it: the device and inode of the
    stream standard error is connected to (here, the log file)."""
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def started(daemon, since=0):
    daemon.log.wait_for("starting as", since=since, timeout=15, proc=daemon.proc,
                        what="bitcoim")
    # Signals are handled once the event loop runs: its first attempt
    # at the XMPP server says so.
    daemon.log.wait_for("reconnecting in", since=since, timeout=15,
                        proc=daemon.proc, what="bitcoim")


def stop(daemon):
    code = daemon.stop()
    assert code == 0, f"bitcoim exited with {code}:\n{daemon.log.tail(30)}"


# --- journald ----------------------------------------------------------------------

def test_journal_lines_carry_their_priority(tmp_path):
    daemon = testbed.Bitcoim(tmp_path, unreachable(), loglevel="debug")
    daemon.log.path.touch()
    env = {"JOURNAL_STREAM": journal_stream(daemon.log.path)}
    try:
        spawn(daemon, env)
        started(daemon)
    finally:
        stop(daemon)
    lines = daemon.log.text().splitlines()
    print("\n".join(lines[:12]))
    assert lines and all(re.match(r"<[3467]>", line) for line in lines), lines
    assert any(re.match(r"<6>bitcoIM \S+ starting as ", line) for line in lines), lines
    assert any(line.startswith("<4>bitcoind not available yet") for line in lines), lines
    assert any(line.startswith("<7>") for line in lines), "debug lines"
    assert not any(re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", line) for line in lines), \
        "no timestamp: the journal keeps its own"


def test_a_bad_configuration_is_an_error_in_the_journal(tmp_path):
    daemon = testbed.Bitcoim(tmp_path, unreachable(), extra_config="rate_burst = lots\n")
    daemon.log.path.touch()
    proc = spawn(daemon, {"JOURNAL_STREAM": journal_stream(daemon.log.path)})
    assert proc.wait(10) == 2
    daemon.proc = None
    lines = daemon.log.text().splitlines()
    print("\n".join(lines))
    assert lines == [f"<3>bitcoim: {daemon.config}: [main program] rate_burst: "
                     "expected a whole number from 0 to 100000, got 'lots'"], lines


def test_journal_stream_of_another_stream_keeps_the_usual_format(tmp_path):
    # A shell started by a service inherits JOURNAL_STREAM while writing
    # to a terminal: the variable must name our standard error.
    daemon = testbed.Bitcoim(tmp_path, unreachable(), extra_config="rate_burst = lots\n")
    proc = spawn(daemon, {"JOURNAL_STREAM": "1:2"})
    assert proc.wait(10) == 2
    daemon.proc = None
    assert daemon.log.text().startswith("bitcoim: "), daemon.log.text()
    daemon.log.path.unlink()
    daemon.config.write_text(daemon.config.read_text().replace("rate_burst = lots\n", ""))
    try:
        spawn(daemon, {"JOURNAL_STREAM": "1:2"})
        started(daemon)
    finally:
        stop(daemon)
    lines = daemon.log.text().splitlines()
    usual = r"\[\d{4}-\d\d-\d\dT\S+ (TRACE|DEBUG|INFO|WARN|ERROR) +\S+\] "
    assert lines and all(re.match(usual, line) for line in lines), lines
    assert any(re.match(r"\[\S+ INFO +bitcoim\] bitcoIM ", line) for line in lines), lines


# --- database file modes -----------------------------------------------------------

def modes(database):
    """{file name: permission bits} of the database and its -wal and -shm."""
    return {p.name: oct(stat.S_IMODE(p.stat().st_mode))
            for p in (database, database.with_name(database.name + "-wal"),
                      database.with_name(database.name + "-shm"))}


def wait_files(daemon, timeout=15):
    wal = daemon.database.with_name(daemon.database.name + "-shm")
    deadline = time.monotonic() + timeout
    while not wal.exists():
        assert daemon.proc.poll() is None, daemon.log.tail(30)
        assert time.monotonic() < deadline, f"no {wal}:\n{daemon.log.tail(30)}"
        time.sleep(0.05)


def test_database_files_are_0600_whatever_the_umask(tmp_path):
    daemon = testbed.Bitcoim(tmp_path, unreachable(), loglevel="info")
    assert not daemon.database.exists()
    try:
        spawn(daemon, umask=0o022)
        wait_files(daemon)
        found = modes(daemon.database)
    finally:
        stop(daemon)
    print(found)
    assert set(found.values()) == {"0o600"}, found

    # A database an older bitcoIM left world-readable.
    daemon.database.chmod(0o644)
    since = daemon.log.mark()
    try:
        spawn(daemon, umask=0o022)
        wait_files(daemon)
        found = modes(daemon.database)
    finally:
        stop(daemon)
    print(found)
    assert set(found.values()) == {"0o600"}, found
    assert f"{daemon.database} was open to other users (mode 0644); now 0600" \
        in daemon.log.text(since), daemon.log.tail(30)


# --- SIGHUP ------------------------------------------------------------------------

def test_sighup_reloads_what_can_change_and_names_what_cannot(tmp_path):
    server = unreachable()
    daemon = testbed.Bitcoim(tmp_path, server, loglevel="info")
    original = daemon.config.read_text()
    try:
        spawn(daemon)
        started(daemon)

        since = daemon.log.mark()
        new_port = testbed.free_port()
        daemon.config.write_text(
            original.replace("admins = admin@localhost",
                             "admins = admin@localhost, boss@localhost\nrate_burst = 3")
            .replace(f"port = {server.component_port}", f"port = {new_port}"))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.log.wait_for("configuration reloaded", since=since, proc=daemon.proc)
        said = daemon.log.text(since)
        print(said)
        assert "[main program] admins: admin@localhost -> admin@localhost, boss@localhost" \
            in said
        assert "[main program] rate_burst: 30 -> 3" in said
        assert (f"[XMPP] port: {server.component_port} -> {new_port}; needs a restart, "
                f"{server.component_port} stays in use until then") in said
        assert "2 change(s) applied, 1 waiting for a restart" in said
        assert daemon.proc.poll() is None

        # An invalid file changes nothing, and says why.
        since = daemon.log.mark()
        daemon.config.write_text(original.replace("loglevel = info", "loglevel = loud"))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.log.wait_for("configuration not reloaded, nothing changed:", since=since,
                            proc=daemon.proc)
        assert "[main program] loglevel: expected debug" in daemon.log.text(since)

        # The level of the log itself.
        since = daemon.log.mark()
        daemon.config.write_text(original.replace("loglevel = info", "loglevel = debug"))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.log.wait_for("[main program] loglevel: info -> debug", since=since,
                            proc=daemon.proc)
        # Back to the first admins: the change is against what is in force.
        daemon.log.wait_for("[main program] admins: admin@localhost, boss@localhost -> "
                            "admin@localhost", since=since, proc=daemon.proc)
    finally:
        stop(daemon)
