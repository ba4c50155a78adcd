"""Fixtures for the integration tests: a real Prosody, a real regtest node,
the bitcoIM binary, and slixmpp as the user's client.

Run with /usr/bin/python3 -m pytest tests/ (Debian's slixmpp lives there).
"""

import sys
from pathlib import Path

import pytest

from client import Client

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contrib" / "dev"))
import testbed  # noqa: E402

USERS = {"alice": "alice-pass", "bob": "bob-pass", "carol": "carol-pass", "admin": "admin-pass"}


def _print_log(name, log):
    # pytest shows a fixture's teardown output only when the test failed.
    print(f"--- {name} log ({log.path}), last lines ---\n{log.tail(60)}")


def _start_prosody(workdir):
    prosody = testbed.Prosody(workdir).start()
    for user, password in USERS.items():
        prosody.register(user, password)
    return prosody


@pytest.fixture(scope="session")
def prosody(tmp_path_factory):
    prosody = _start_prosody(tmp_path_factory.mktemp("session"))
    yield prosody
    prosody.stop()


@pytest.fixture
def private_prosody(tmp_path):
    """A Prosody for one test, for tests that stop or restart it."""
    prosody = _start_prosody(tmp_path / "private")
    yield prosody
    prosody.stop()
    _print_log("prosody", prosody.log)


@pytest.fixture
def daemon_factory(tmp_path):
    """Starts bitcoIM against a given Prosody (and node); stops it after."""
    started = []

    def start(prosody, node=None):
        daemon = testbed.Bitcoim(tmp_path / f"d{len(started)}", prosody, node)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()
        _print_log("bitcoim", daemon.log)


@pytest.fixture
def daemon(prosody, daemon_factory):
    return daemon_factory(prosody)


@pytest.fixture
def client_factory():
    clients = []

    def connect(prosody, user="alice"):
        client = Client(f"{user}@{testbed.DOMAIN}", USERS[user], prosody.c2s_port)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def alice(prosody, client_factory):
    return client_factory(prosody, "alice")


@pytest.fixture
def node(tmp_path):
    with testbed.RegtestNode(tmp_path) as node:
        yield node
