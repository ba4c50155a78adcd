"""XEP-0050 ad-hoc commands, admin tools and flood limits, driven from a
real client session (slixmpp) through a real Prosody, with a real regtest
node behind the daemon.

Every form is sent as a client would send it: an <iq type='set'> carrying
<command xmlns='http://jabber.org/protocol/commands' node=... action=...>,
with the filled form as <x xmlns='jabber:x:data' type='submit'>.

Each test has its own Prosody (rosters, pending subscriptions and offline
messages would leak otherwise) and its own daemon and database; the regtest
node is shared by the module (no test here mines or moves coins on chain).
Balances are written in the SQLite file together with a matching ledger
entry, so that the audit's check of cached balances stays clean.

    cargo build --features fault-injection
    BITCOIM_BIN=target/debug/bitcoim /usr/bin/python3 -m pytest -v tests/test_adhoc.py
"""

import asyncio
import copy
import re
import sqlite3
import time
import xml.etree.ElementTree as ET
from contextlib import closing
from xml.sax.saxutils import escape, quoteattr

import pytest
from slixmpp.exceptions import IqError, IqTimeout

from client import Client, bare, body, error_condition, error_text
from helpers import ask, go_online, refused, register, result
from jids import contact
from ledger_db import account, db_query, db_write
import testbed

GATEWAY = testbed.COMPONENT_JID
DOMAIN = testbed.DOMAIN
NS_CLIENT = "jabber:client"
NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_NICK = "http://jabber.org/protocol/nick"
NS_PING = "urn:xmpp:ping"
NS_DELAY = "urn:xmpp:delay"

USER_COMMANDS = {"balance", "address", "pay", "history", "pending", "language", "tiplimit"}
ADMIN_COMMANDS = {"users", "audit", "stats", "announce"}

CODE_RE = r"[abcdefghjkmnpqrstuvwxyz23456789]{4,6}"


# --- the world ------------------------------------------------------------------

@pytest.fixture(scope="module")
def shared_node(tmp_path_factory):
    """One regtest node for the module: the daemons only ask it for
    addresses and balances."""
    node = testbed.RegtestNode(tmp_path_factory.mktemp("adhoc-node")).start()
    yield node
    node.stop()


@pytest.fixture
def world(tmp_path, private_prosody, shared_node):
    """Starts this test's daemon (with optional extra config) once."""
    daemons = []

    def start(extra_config=""):
        daemon = testbed.Bitcoim(tmp_path / f"d{len(daemons)}", private_prosody, shared_node,
                                 extra_config=extra_config)
        daemons.append(daemon)
        return daemon.start()

    yield start
    for daemon in daemons:
        daemon.stop()
        print(f"--- bitcoim log ({daemon.log.path}), last lines ---\n{daemon.log.tail(80)}")


@pytest.fixture
def daemon(world):
    return world()


@pytest.fixture
def connect(private_prosody, client_factory):
    def make(user):
        return client_factory(private_prosody, user)
    return make


# --- stanzas ----------------------------------------------------------------------

def submit_form(values):
    """A submitted data form; a value may be a list (list-multi)."""
    fields = []
    for var, value in values.items():
        vals = value if isinstance(value, (list, tuple)) else [value]
        inner = "".join(f"<value>{escape(str(v))}</value>" for v in vals)
        fields.append(f"<field var={quoteattr(var)}>{inner}</field>")
    return f"<x xmlns='{NS_DATA}' type='submit'>{''.join(fields)}</x>"


def command_iq(client, node, action=None, sessionid=None, values=None, to=GATEWAY):
    """Sends one XEP-0050 request; returns the whole <iq/> reply."""
    attrs = f" node={quoteattr(node)}"
    if action:
        attrs += f" action={quoteattr(action)}"
    if sessionid:
        attrs += f" sessionid={quoteattr(sessionid)}"
    inner = submit_form(values) if values is not None else ""
    return client.iq(to, f"<command xmlns='{NS_COMMANDS}'{attrs}>{inner}</command>", "set")


class Reply:
    """A <command/> reply, read."""

    def __init__(self, iq):
        self.iq = result(iq)
        self.command = iq.find(f"{{{NS_COMMANDS}}}command")
        assert self.command is not None, "a result without <command/>"
        self.node = self.command.get("node")
        self.status = self.command.get("status")
        self.sessionid = self.command.get("sessionid")
        self.notes = [(n.get("type"), n.text or "")
                      for n in self.command.findall(f"{{{NS_COMMANDS}}}note")]
        actions = self.command.find(f"{{{NS_COMMANDS}}}actions")
        self.actions = None if actions is None else (
            actions.get("execute"), {a.tag.split("}", 1)[1] for a in actions})
        self.x = self.command.find(f"{{{NS_DATA}}}x")

    @property
    def note(self):
        assert len(self.notes) == 1, f"expected one note, got {self.notes}"
        return self.notes[0][1]

    @property
    def form_type(self):
        return None if self.x is None else self.x.get("type")

    @property
    def instructions(self):
        return "\n".join(i.text or "" for i in self.x.findall(f"{{{NS_DATA}}}instructions"))

    @property
    def fields(self):
        """var -> {type, label, required, values, options: [(value, label)]}."""
        out = {}
        for f in self.x.findall(f"{{{NS_DATA}}}field"):
            out[f.get("var")] = {
                "type": f.get("type"),
                "label": f.get("label"),
                "required": f.find(f"{{{NS_DATA}}}required") is not None,
                "values": [v.text or "" for v in f.findall(f"{{{NS_DATA}}}value")],
                "options": [(o.findtext(f"{{{NS_DATA}}}value"), o.get("label"))
                            for o in f.findall(f"{{{NS_DATA}}}option")],
            }
        return out

    @property
    def table(self):
        """(reported vars, [row dicts]) of a result form."""
        reported = self.x.find(f"{{{NS_DATA}}}reported")
        assert reported is not None, "a result table needs <reported/>"
        columns = [f.get("var") for f in reported.findall(f"{{{NS_DATA}}}field")]
        rows = []
        for item in self.x.findall(f"{{{NS_DATA}}}item"):
            rows.append({f.get("var"): f.findtext(f"{{{NS_DATA}}}value", "")
                         for f in item.findall(f"{{{NS_DATA}}}field")})
        return columns, rows


def run(client, node, action=None, sessionid=None, values=None):
    return Reply(command_iq(client, node, action, sessionid, values))


def assert_executing(reply, sessionid, execute, allowed):
    assert reply.status == "executing", reply.status
    assert reply.sessionid == sessionid, f"session id changed: {sessionid} -> {reply.sessionid}"
    assert reply.form_type == "form", reply.form_type
    assert reply.actions is not None, "an executing command offers its actions"
    assert reply.actions[0] == execute, reply.actions
    assert allowed <= reply.actions[1], reply.actions
    # XEP-0050: the default action must be one of those offered.
    assert reply.actions[0] in reply.actions[1], reply.actions


def commands_listed(client):
    reply = result(client.iq(GATEWAY, f"<query xmlns='{NS_DISCO_ITEMS}' node='{NS_COMMANDS}'/>"))
    query = reply.find(f"{{{NS_DISCO_ITEMS}}}query")
    assert query.get("node") == NS_COMMANDS
    items = query.findall(f"{{{NS_DISCO_ITEMS}}}item")
    for item in items:
        assert item.get("jid") == GATEWAY, item.attrib
        assert (item.get("name") or "").strip(), item.attrib
    return {item.get("node") for item in items}


# --- accounts and money ---------------------------------------------------------------

def give(daemon, username, sats):
    """A balance as a deposit would leave it: the cached balance and its
    ledger entry."""
    (user_id,), = db_query(daemon, "SELECT id FROM users WHERE username = ? "
                                   "AND removed_at IS NULL", (username,))
    with closing(sqlite3.connect(daemon.database, timeout=10)) as db:
        with db:
            db.execute("UPDATE users SET balance = balance + ? WHERE id = ?", (sats, user_id))
            db.execute("INSERT INTO ledger (user_id, kind, amount, reference, created_at) "
                       "VALUES (?, 'deposit', ?, 'test:0', 0)", (user_id, sats))


def orders(daemon, username):
    """{code: state} of a user's orders."""
    return dict(db_query(daemon, "SELECT o.code, o.state FROM orders o JOIN users u "
                                 "ON u.id = o.user_id WHERE u.username = ?", (username,)))


def code_in(text):
    m = re.search(rf"confirm ({CODE_RE})\b", text)
    assert m, f"no 'confirm <code>' in {text!r}"
    return m.group(1)


def fill_pay(client, recipient, amount, comment=None):
    """Pay up to its recap: (session id, recap reply)."""
    first = run(client, "pay")
    sid = first.sessionid
    values = {"recipient": recipient, "amount": amount}
    if comment is not None:
        values["comment"] = comment
    return sid, run(client, "pay", "next", sid, values)


# === discovery ===========================================================================

def test_command_list_depends_on_who_asks(daemon, connect):
    alice, bob, admin = connect("alice"), connect("bob"), connect("admin")
    assert commands_listed(bob) == set(), "an unregistered user can run nothing"
    register(alice, "alice")
    assert commands_listed(alice) == USER_COMMANDS
    register(admin, "boss")
    assert commands_listed(admin) == USER_COMMANDS | ADMIN_COMMANDS


def test_command_nodes_answer_disco_info(daemon, connect):
    alice = connect("alice")
    register(alice, "alice")
    reply = alice.iq(GATEWAY, f"<query xmlns='{NS_DISCO_INFO}' node='{NS_COMMANDS}'/>")
    assert reply.get("type") == "result", error_condition(reply)
    identity = reply.find(f"{{{NS_DISCO_INFO}}}query/{{{NS_DISCO_INFO}}}identity")
    assert (identity.get("category"), identity.get("type")) == ("automation", "command-list")
    for node in sorted(USER_COMMANDS | ADMIN_COMMANDS):
        reply = alice.iq(GATEWAY, f"<query xmlns='{NS_DISCO_INFO}' node='{node}'/>")
        assert reply.get("type") == "result", (node, error_condition(reply))
        query = reply.find(f"{{{NS_DISCO_INFO}}}query")
        assert query.get("node") == node
        identities = query.findall(f"{{{NS_DISCO_INFO}}}identity")
        assert len(identities) == 1, node
        assert (identities[0].get("category"), identities[0].get("type")) == \
            ("automation", "command-node"), node
        assert (identities[0].get("name") or "").strip(), node
        features = {f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature")}
        assert {NS_COMMANDS, NS_DATA} <= features, (node, features)
    reply = alice.iq(GATEWAY, f"<query xmlns='{NS_DISCO_INFO}' node='no-such-command'/>")
    assert error_condition(reply) == "item-not-found"


def test_unregistered_users_and_unknown_nodes_are_refused(daemon, connect):
    bob = connect("bob")
    text = refused(command_iq(bob, "balance"), "registration-required")
    assert "register" in (text or ""), text
    register(bob, "bob")
    refused(command_iq(bob, "no-such-command"), "item-not-found")


# === single-stage commands =================================================================

def test_balance_form(daemon, connect):
    alice = connect("alice")
    register(alice, "alice")
    give(daemon, "alice", 123_456)
    reply = run(alice, "balance")
    assert reply.status == "completed", reply.status
    assert reply.node == "balance"
    assert reply.notes == [("info", "Spendable balance: 0.00123456 BTC")], reply.notes


def test_address_form_gives_a_fresh_address_and_its_contact(daemon, connect, shared_node):
    alice = connect("alice")
    first = register(alice, "alice")
    reply = run(alice, "address")
    assert reply.status == "completed", reply.status
    m = re.match(r"Your new deposit address: (\S+)\nbitcoin:(\S+)\n", reply.note)
    assert m, reply.note
    address = m.group(1)
    assert m.group(2) == address
    assert address != first, "each address request gives a fresh address"
    assert address[0] in "mn2", f"{address} is not a regtest address"
    info = shared_node.rpc("validateaddress", address)
    assert info["isvalid"] and info["ismine"], info
    sub = alice.wait_for(
        lambda s: s.tag == f"{{{NS_CLIENT}}}presence" and s.get("type") == "subscribe"
        and bare(s.get("from")) == contact(address),
        5, f"a subscription request from {address}'s contact")
    assert sub.findtext(f"{{{NS_NICK}}}nick") == f"deposit 2 ({address[:4]}…{address[-2:]})"


# === pay ======================================================================================

def test_pay_form_three_stages(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)

    # Stage 1: the form.
    first = run(alice, "pay")
    sid = first.sessionid
    assert sid, "a multi-stage command needs a session id"
    assert_executing(first, sid, "next", {"next"})
    fields = first.fields
    assert {"recipient", "amount", "comment"} <= set(fields), fields
    assert fields["recipient"]["required"] and fields["amount"]["required"], fields
    assert not fields["comment"]["required"]
    for var in ("recipient", "amount", "comment"):
        assert fields[var]["type"] == "text-single", fields[var]
        assert (fields[var]["label"] or "").strip(), fields[var]

    # A bad amount: the same form again, saying what is wrong.
    again = run(alice, "pay", "next", sid, {"recipient": "bob", "amount": "0.123456789"})
    assert_executing(again, sid, "next", {"next"})
    assert "At most 8 decimals" in again.instructions, again.instructions
    assert {"recipient", "amount", "comment"} <= set(again.fields)
    assert orders(daemon, "alice") == {}, "a refused form makes no order"
    again = run(alice, "pay", "next", sid, {"recipient": "nobody", "amount": "0.0003"})
    assert_executing(again, sid, "next", {"next"})
    assert "nobody is neither a registered user nor a Bitcoin address" in again.instructions, \
        again.instructions

    # Stage 2: the recap; the order exists, no money moved.
    recap = run(alice, "pay", "next", sid,
                {"recipient": "bob", "amount": "0.0003", "comment": "lunch"})
    assert_executing(recap, sid, "complete", {"complete"})
    fixed = [f for f in recap.fields.values() if f["type"] == "fixed"]
    assert fixed, recap.fields
    text = "\n".join(v for f in fixed for v in f["values"])
    assert "0.0003 BTC" in text and "bob" in text, text
    code = code_in(text)
    assert orders(daemon, "alice") == {code: "pending"}
    assert account(daemon, "alice") == (100_000, 0)

    # Stage 3: complete pays.
    done = run(alice, "pay", "complete", sid)
    assert done.status == "completed", done.status
    assert done.sessionid == sid
    assert "Paid 0.0003 BTC to bob" in done.note, done.note
    assert "0.0007 BTC" in done.note, done.note
    news = bob.wait_message(f"alice@{GATEWAY}")
    assert body(news) == "alice paid you 0.0003 BTC: «lunch». Your balance is 0.0003 BTC.", \
        body(news)
    assert account(daemon, "alice") == (70_000, 0)
    assert account(daemon, "bob") == (30_000, 0)
    assert orders(daemon, "alice") == {code: "done"}

    # The finished session is gone: completing it again pays nothing.
    refused(command_iq(alice, "pay", "complete", sid), "bad-request", "bad-sessionid")
    assert account(daemon, "alice") == (70_000, 0)
    assert account(daemon, "bob") == (30_000, 0)


def test_pay_cancelled_after_the_recap(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)

    sid, recap = fill_pay(alice, "bob", "0.0005")
    code = code_in("\n".join(v for f in recap.fields.values() for v in f["values"]))
    assert orders(daemon, "alice") == {code: "pending"}

    cancelled = run(alice, "pay", "cancel", sid)
    assert cancelled.status == "canceled", cancelled.status
    assert cancelled.sessionid == sid
    assert orders(daemon, "alice") == {code: "cancelled"}
    assert ask(alice, GATEWAY, "confirm") == "You have no payments waiting."
    # The code is dead too.
    assert "cancelled" in ask(alice, GATEWAY, f"confirm {code}")
    assert account(daemon, "alice") == (100_000, 0)
    assert account(daemon, "bob") == (0, 0)
    refused(command_iq(alice, "pay", "complete", sid), "bad-request", "bad-sessionid")
    assert account(daemon, "alice") == (100_000, 0)


def test_pay_cancelled_at_the_first_stage(daemon, connect):
    alice = connect("alice")
    register(alice, "alice")
    first = run(alice, "pay")
    cancelled = run(alice, "pay", "cancel", first.sessionid)
    assert cancelled.status == "canceled", cancelled.status
    assert orders(daemon, "alice") == {}
    refused(command_iq(alice, "pay", "next", first.sessionid,
                       {"recipient": "bob", "amount": "1"}), "bad-request", "bad-sessionid")


def test_stale_and_foreign_session_ids_are_refused(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)

    refused(command_iq(alice, "pay", "next", "pay-deadbeef",
                       {"recipient": "bob", "amount": "0.0001"}), "bad-request", "bad-sessionid")

    first = run(alice, "pay")
    sid = first.sessionid
    # Bob cannot drive alice's session, nor cancel it.
    refused(command_iq(bob, "pay", "next", sid, {"recipient": "bob", "amount": "0.0001"}),
            "bad-request", "bad-sessionid")
    refused(command_iq(bob, "pay", "cancel", sid), "bad-request", "bad-sessionid")
    assert orders(daemon, "alice") == {}
    # A session id belongs to its command too.
    refused(command_iq(alice, "history", "execute", sid), "bad-request", "bad-sessionid")
    # Alice's session was left as it was.
    recap = run(alice, "pay", "next", sid, {"recipient": "bob", "amount": "0.0001"})
    assert_executing(recap, sid, "complete", {"complete"})
    refused(command_iq(bob, "pay", "complete", sid), "bad-request", "bad-sessionid")
    assert account(daemon, "alice") == (100_000, 0)
    done = run(alice, "pay", "complete", sid)
    assert done.status == "completed" and "Paid 0.0001 BTC to bob" in done.note, done.notes


def test_going_back_from_the_recap_leaves_no_waiting_order(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)

    sid, recap = fill_pay(alice, "bob", "0.0004")
    assert "prev" in recap.actions[1], recap.actions
    back = run(alice, "pay", "prev", sid)
    assert_executing(back, sid, "next", {"next"})
    assert {"recipient", "amount"} <= set(back.fields)
    # The user went back to change the payment: the first one must not
    # stay waiting, ready for a `confirm` by chat.
    waiting = [c for c, s in orders(daemon, "alice").items() if s == "pending"]
    assert waiting == [], f"orders still waiting after prev: {waiting}"


def test_pay_with_the_default_actions(daemon, connect):
    """Clients may send no action at all (execute): the default action
    of each stage, the one <actions execute=...> names, applies."""
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)
    first = run(alice, "pay")
    recap = run(alice, "pay", None, first.sessionid, {"recipient": "bob", "amount": "5000 sat"})
    assert_executing(recap, first.sessionid, "complete", {"complete"})
    done = run(alice, "pay", "execute", first.sessionid)
    assert done.status == "completed", done.status
    assert "Paid 0.00005 BTC to bob" in done.note, done.notes
    assert account(daemon, "bob") == (5_000, 0)


def test_pay_refused_at_completion_says_why(daemon, connect):
    """The balance changed between the recap and complete: nothing is
    paid, and the note is an error that says why."""
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)
    sid, recap = fill_pay(alice, "bob", "0.0008")
    assert recap.status == "executing"
    code = code_in(ask(alice, GATEWAY, "pay 0.0005 bob"))
    assert ask(alice, GATEWAY, f"confirm {code}").startswith("Paid 0.0005 BTC to bob")

    done = run(alice, "pay", "complete", sid)
    assert done.status == "completed", done.status
    assert len(done.notes) == 1, done.notes
    kind, text = done.notes[0]
    assert "Not enough funds" in text and "0.0005 BTC" in text, text
    assert account(daemon, "alice") == (50_000, 0)
    assert account(daemon, "bob") == (50_000, 0)
    assert kind == "error", f"a refused payment is reported as a note of type {kind!r}"


def test_pay_form_respects_the_bound_on_waiting_orders(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)
    for _ in range(5):  # [main program] max_pending_orders, default 5
        code_in(ask(alice, GATEWAY, "pay 1000 sat bob"))
    sid, again = fill_pay(alice, "bob", "0.0001")
    assert_executing(again, sid, "next", {"next"})
    assert "You already have 5 payments waiting" in again.instructions, again.instructions
    assert len(orders(daemon, "alice")) == 5


def test_command_sessions_per_user_are_bounded(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    sessions = [run(alice, "pay").sessionid for _ in range(5)]
    assert len(set(sessions)) == 5, sessions
    # A sixth form pushes out the oldest (an abandoned form must not lock
    # the user out): that one is gone, the others still work.
    assert run(alice, "pay").status == "executing"
    refused(command_iq(alice, "pay", "cancel", sessions[0]), "bad-request", "bad-sessionid")
    assert run(alice, "pay", "cancel", sessions[1]).status == "canceled"
    # Others are not affected.
    assert run(bob, "pay").status == "executing"


def test_single_stage_commands_work_at_the_session_bound(daemon, connect):
    """Five abandoned forms (a client that never sends cancel) must not
    lock a user out of Balance for the ten minutes they take to expire:
    a single-stage command keeps no session."""
    alice = connect("alice")
    register(alice, "alice")
    for _ in range(5):
        run(alice, "pay")
    reply = command_iq(alice, "balance")
    assert reply.get("type") == "result", (
        f"balance refused at the session bound: {error_condition(reply)}: {error_text(reply)}")


# === history and pending ===================================================================

def test_history_form_is_a_table(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    empty = run(bob, "history")
    assert empty.status == "completed"
    assert empty.notes == [("info", "No movements yet.")], empty.notes

    give(daemon, "alice", 100_000)
    code = code_in(ask(alice, GATEWAY, "pay 0.0002 bob thanks"))
    assert ask(alice, GATEWAY, f"confirm {code}").startswith("Paid 0.0002 BTC to bob")

    reply = run(alice, "history")
    assert reply.status == "completed", reply.status
    assert reply.form_type == "result", reply.form_type
    columns, rows = reply.table
    assert columns == ["date", "movement"], columns
    assert len(rows) == 2, rows
    for row in rows:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row["date"]), row
    assert rows[0]["movement"].startswith("-0.0002 BTC to bob"), rows
    assert rows[1]["movement"].startswith("+0.001 BTC deposit"), rows

    columns, rows = run(bob, "history").table
    assert len(rows) == 1 and rows[0]["movement"].startswith("+0.0002 BTC from alice"), rows


def test_pending_form_lists_and_cancels_orders(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    none = run(alice, "pending")
    assert none.status == "completed"
    assert none.notes == [("info", "You have no payments waiting.")], none.notes

    give(daemon, "alice", 100_000)
    one = code_in(ask(alice, GATEWAY, "pay 0.0001 bob"))
    two = code_in(ask(alice, GATEWAY, "pay 0.0002 bob"))

    form = run(alice, "pending")
    assert_executing(form, form.sessionid, "complete", {"complete"})
    fields = form.fields
    assert fields["cancel"]["type"] == "list-multi", fields
    listed = {value for value, _ in fields["cancel"]["options"]}
    assert listed == {one, two}, fields["cancel"]
    labels = dict(fields["cancel"]["options"])
    assert "0.0001 BTC" in labels[one] and "bob" in labels[one], labels
    assert "0.0002 BTC" in labels[two], labels

    done = run(alice, "pending", "complete", form.sessionid, {"cancel": [one]})
    assert done.status == "completed", done.status
    assert done.note == f"Payment {one} cancelled.", done.notes
    assert orders(daemon, "alice") == {one: "cancelled", two: "pending"}
    waiting = ask(alice, GATEWAY, "confirm")
    assert two in waiting and one not in waiting, waiting
    assert account(daemon, "alice") == (100_000, 0)


def test_pending_form_carries_one_out(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    give(daemon, "alice", 100_000)
    code = code_in(ask(alice, GATEWAY, "pay 0.0001 bob"))
    form = run(alice, "pending")
    assert form.fields["confirm"]["type"] == "list-single"
    done = run(alice, "pending", "complete", form.sessionid, {"confirm": code})
    assert done.status == "completed"
    assert "Paid 0.0001 BTC to bob" in done.note, done.notes
    bob.wait_message(f"alice@{GATEWAY}", contains="alice paid you 0.0001 BTC")
    assert account(daemon, "alice") == (90_000, 0)
    assert account(daemon, "bob") == (10_000, 0)


# === language ==================================================================================

def test_language_form_switches_chat_to_french(daemon, connect):
    alice = connect("alice")
    register(alice, "alice")
    form = run(alice, "language")
    assert_executing(form, form.sessionid, "complete", {"complete"})
    field = form.fields["language"]
    assert field["type"] == "list-single", field
    options = dict(field["options"])
    assert {"en", "fr"} <= set(options), options
    assert all((label or "").strip() for label in options.values()), options
    assert field["values"] == ["en"], field

    done = run(alice, "language", "complete", form.sessionid, {"language": "fr"})
    assert done.status == "completed"
    assert done.note == "Désormais je vous réponds en fr.", done.notes
    assert db_query(daemon, "SELECT language FROM users WHERE username = 'alice'") == [("fr",)]

    # A chat without xml:lang (send_message adds none) gets French.
    reply = ask(alice, GATEWAY, "solde")
    assert reply == "Solde disponible : 0 BTC", reply
    reply = ask(alice, GATEWAY, "balance")
    assert reply.startswith("Je ne connais pas") or reply.startswith("Solde"), reply
    # The forms speak French as well.
    assert run(alice, "balance").note == "Solde disponible : 0 BTC"


def test_tiplimit_form_sets_the_limit_within_the_operator_maximum(daemon, connect):
    alice = connect("alice")
    register(alice, "alice")
    form = run(alice, "tiplimit")
    assert_executing(form, form.sessionid, "complete", {"complete"})
    assert form.fields["limit"]["values"] == ["0 sat"], form.fields
    done = run(alice, "tiplimit", "complete", form.sessionid, {"limit": "1"})
    assert done.note == "A tip limit can be at most 0.001 BTC here.", done.notes
    assert db_query(daemon, "SELECT tiplimit FROM users WHERE username = 'alice'") == [(0,)]
    form = run(alice, "tiplimit")
    done = run(alice, "tiplimit", "complete", form.sessionid, {"limit": "2500 sat"})
    assert done.note == "Tips up to 0.000025 BTC are now paid at once, without a code.", done.notes
    assert db_query(daemon, "SELECT tiplimit FROM users WHERE username = 'alice'") == [(2500,)]
    # The chat command shows what the form set.
    reply = ask(alice, GATEWAY, "tiplimit")
    assert reply.startswith("Tips up to 0.000025 BTC are paid at once"), reply


# === admin tools =================================================================================

def test_non_admins_cannot_run_admin_commands(daemon, connect):
    alice = connect("alice")
    register(alice, "alice")
    since = daemon.log.mark()
    for node in sorted(ADMIN_COMMANDS):
        refused(command_iq(alice, node), "forbidden")
        # Not even with a made-up session id.
        refused(command_iq(alice, node, "complete", f"{node}-1",
                           {"unfreeze": "1", "message": "hi", "to": "all"}), "forbidden")
    assert "alice@localhost" in daemon.log.text(since)


def test_admin_users_lists_everyone_with_balances(daemon, connect):
    alice, bob, admin = connect("alice"), connect("bob"), connect("admin")
    a1 = register(alice, "alice")
    register(bob, "bob")
    register(admin, "boss")
    give(daemon, "alice", 250_000)

    form = run(admin, "users")
    assert_executing(form, form.sessionid, "complete", {"complete"})
    assert form.fields["search"]["type"] == "text-single"
    since = daemon.log.mark()
    listing = run(admin, "users", "complete", form.sessionid, {"search": ""})
    assert listing.status == "completed", listing.status
    assert listing.form_type == "result"
    columns, rows = listing.table
    assert {"username", "jid", "balance", "held", "addresses"} <= set(columns), columns
    by_name = {r["username"]: r for r in rows}
    assert set(by_name) == {"alice", "bob", "boss"}, rows
    assert by_name["alice"]["jid"] == f"alice@{DOMAIN}"
    assert by_name["alice"]["balance"] == "0.0025 BTC", by_name["alice"]
    assert by_name["bob"]["balance"] == "0 BTC", by_name["bob"]
    assert a1 in by_name["alice"]["addresses"], by_name["alice"]
    # Every admin action is logged with who did it.
    daemon.log.wait_for("admin@localhost", since=since, timeout=2)

    form = run(admin, "users")
    found = run(admin, "users", "complete", form.sessionid, {"search": "BO"})
    assert {r["username"] for r in found.table[1]} == {"bob", "boss"}


def test_admin_audit_and_unfreeze(daemon, connect):
    alice, admin = connect("alice"), connect("admin")
    register(alice, "alice")
    register(admin, "boss")
    give(daemon, "alice", 40_000)

    form = run(admin, "audit")
    assert_executing(form, form.sessionid, "complete", {"complete"})
    report = "\n".join(v for f in form.fields.values() if f["type"] == "fixed"
                       for v in f["values"])
    assert "Owed to users: 0.0004 BTC" in report, report
    assert "Withdrawals: open" in report, report
    assert "disagree" not in report, report
    assert "unfreeze" not in form.fields, "nothing to unfreeze"
    cancelled = run(admin, "audit", "cancel", form.sessionid)
    assert cancelled.status == "canceled"

    db_write(daemon, "INSERT INTO state(name, value) VALUES ('withdrawals_frozen', 'test')")
    form = run(admin, "audit")
    report = "\n".join(v for f in form.fields.values() if f["type"] == "fixed"
                       for v in f["values"])
    assert "frozen (test)" in report, report
    unfreeze = form.fields.get("unfreeze")
    assert unfreeze is not None and unfreeze["type"] == "boolean", form.fields
    since = daemon.log.mark()
    done = run(admin, "audit", "complete", form.sessionid, {"unfreeze": "true"})
    assert done.status == "completed"
    # alice's 0.0004 BTC was written into the ledger, not deposited: the
    # wallet does not cover it, and unfreezing audits again at once.
    assert done.notes == [("error", "The audit still fails: the wallet holds 0 BTC but the "
                           "ledger owes 0.0004 BTC (0 BTC of it owed back by users). "
                           "Withdrawals are frozen again.")], done.notes
    assert db_query(daemon, "SELECT count(*) FROM state WHERE name = 'withdrawals_frozen'") \
        == [(1,)]
    daemon.log.wait_for("withdrawals unfrozen by admin@localhost", since=since, timeout=2)

    give(daemon, "alice", -40_000)
    form = run(admin, "audit")
    done = run(admin, "audit", "complete", form.sessionid, {"unfreeze": "true"})
    assert done.status == "completed"
    assert done.note == "Withdrawals are allowed again.", done.notes
    assert db_query(daemon, "SELECT value FROM state WHERE name = 'withdrawals_frozen'") == []


def test_admin_audit_leaves_the_freeze_when_not_asked(daemon, connect):
    admin = connect("admin")
    register(admin, "boss")
    db_write(daemon, "INSERT INTO state(name, value) VALUES ('withdrawals_frozen', 'test')")
    form = run(admin, "audit")
    done = run(admin, "audit", "complete", form.sessionid, {"unfreeze": "0"})
    assert done.status == "completed"
    assert done.note == "Nothing was changed.", done.notes
    assert db_query(daemon, "SELECT value FROM state WHERE name = 'withdrawals_frozen'") \
        == [("test",)]


def test_admin_stats(daemon, connect):
    alice, bob, admin = connect("alice"), connect("bob"), connect("admin")
    register(alice, "alice")
    register(bob, "bob")
    register(admin, "boss")
    go_online(alice)
    give(daemon, "alice", 100_000)
    ask(alice, GATEWAY, "pay 0.0001 bob")
    reply = run(admin, "stats")
    assert reply.status == "completed", reply.status
    text = reply.note
    # Only alice told the gateway she is online.
    assert "Registered users: 3 (1 online)" in text, text
    assert "Payments waiting: 1" in text, text
    assert "Last 24 hours: 0 deposits" in text, text
    assert re.search(r"Uptime: \d+h\d\dm", text), text
    assert "Bitcoin node: reachable" in text, text


def announcement(client, text, timeout=5.0):
    return client.wait_for(
        lambda s: s.tag == f"{{{NS_CLIENT}}}message" and bare(s.get("from")) == GATEWAY
        and body(s) == text, timeout, f"the announcement {text!r}")


def announce(admin, text, to):
    form = run(admin, "announce")
    assert_executing(form, form.sessionid, "complete", {"complete"})
    fields = form.fields
    assert fields["message"]["type"] == "text-multi" and fields["message"]["required"]
    assert fields["to"]["type"] == "list-single"
    assert {v for v, _ in fields["to"]["options"]} == {"all", "online"}
    done = run(admin, "announce", "complete", form.sessionid,
               {"message": text.split("\n"), "to": to})
    assert done.status == "completed", done.status
    return done.note


def test_announce_reaches_online_and_offline_users(daemon, private_prosody, connect):
    alice, admin = connect("alice"), connect("admin")
    # Bob's first session is closed by the test itself.
    bob = Client(f"bob@{DOMAIN}", "bob-pass", private_prosody.c2s_port)
    try:
        register(bob, "bob")
        go_online(bob)
    finally:
        since = daemon.log.mark()
        bob.close()
    register(alice, "alice")
    register(admin, "boss")
    for client in (alice, admin):
        go_online(client)
    daemon.log.wait_for("bob@localhost is offline", since=since, timeout=5)

    # To those online only: alice and the admin, not bob.
    note = announce(admin, "Online only: coffee in 5 minutes", "online")
    assert note == "Sent to 2 users.", note
    announcement(alice, "Online only: coffee in 5 minutes")

    # To everyone: alice at once, bob when he comes back.
    note = announce(admin, "Maintenance tonight\nfrom 22:00 UTC", "all")
    assert note == "Sent to 3 users.", note
    message = announcement(alice, "Maintenance tonight\nfrom 22:00 UTC")
    assert message.get("type") == "normal", message.attrib
    announcement(admin, "Maintenance tonight\nfrom 22:00 UTC")

    bob = Client(f"bob@{DOMAIN}", "bob-pass", private_prosody.c2s_port)
    try:
        stored = announcement(bob, "Maintenance tonight\nfrom 22:00 UTC", timeout=10)
        assert stored.get("type") == "normal", stored.attrib
        assert stored.find(f"{{{NS_DELAY}}}delay") is not None, "not from offline storage?"
        time.sleep(1)
        missed = bob.received(lambda s: s.tag == f"{{{NS_CLIENT}}}message"
                              and "Online only" in (body(s) or ""))
        assert missed == [], "an online-only announcement reached an offline user"
    finally:
        bob.close()


def test_announce_refuses_an_empty_message(daemon, connect):
    admin = connect("admin")
    register(admin, "boss")
    form = run(admin, "announce")
    done = run(admin, "announce", "complete", form.sessionid, {"message": "  ", "to": "all"})
    assert done.status == "completed"
    assert done.notes == [("error", "The message is empty: nothing was sent.")], done.notes


# === flood limits ==================================================================================

RATE_CONFIG = "\n[main program]\nrate_burst = 5\nrate_per_second = 1\n"


def ping_burst(client, count, timeout=10.0):
    """Sends `count` pings at once; the replies, in sending order."""

    async def burst():
        async def one():
            iq = client.xmpp.make_iq(id=client.xmpp.new_id(), ito=GATEWAY, itype="get")
            iq.append(parse_xml(f"<ping xmlns='{NS_PING}'/>"))
            try:
                reply = await iq.send(timeout=timeout)
            except IqError as e:
                reply = e.iq
            except IqTimeout:
                return None
            return copy.deepcopy(reply.xml)

        return await asyncio.gather(*(one() for _ in range(count)))

    return client._run(burst(), timeout + 5)


def parse_xml(text):
    return ET.fromstring(text)


def outcome(reply):
    if reply is None:
        return "no reply"
    return "result" if reply.get("type") == "result" else error_condition(reply)


def wait_refill(seconds=5.5):
    # rate_burst = 5 at 1 token a second: full again after 5 s.
    time.sleep(seconds)


def test_floods_are_limited_per_user(world, connect):
    daemon = world(RATE_CONFIG)
    alice, bob = connect("alice"), connect("bob")
    register(alice, "alice")
    register(bob, "bob")
    wait_refill()

    # Chats: the burst is answered, then one polite message, then silence.
    for i in range(8):
        alice.send_message(GATEWAY, "balance")
    polite = alice.wait_message(GATEWAY, contains="faster than I can follow")
    assert body(polite) == ("You are writing faster than I can follow; "
                            "I will answer again in a few seconds.")
    time.sleep(1.5)
    bodies = [body(s) for s in alice.received(
        lambda s: s.tag == f"{{{NS_CLIENT}}}message" and bare(s.get("from")) == GATEWAY)]
    answered = [b for b in bodies if b.startswith("Spendable balance")]
    assert 5 <= len(answered) <= 6, bodies
    assert not any("faster than I can follow" in b for b in bodies), \
        f"more than one polite message: {bodies}"
    alice.forget()

    wait_refill()
    outcomes = [outcome(r) for r in ping_burst(alice, 10)]
    flooded = time.monotonic()
    assert outcomes.count("result") == 5, outcomes
    assert outcomes.count("resource-constraint") == 5, outcomes
    assert outcomes[:5] == ["result"] * 5, outcomes
    # A chat in the same flood: the flood was already refused (by the IQ
    # errors), so no polite message either; it is dropped.
    alice.send_message(GATEWAY, "balance")
    in_same_flood = time.monotonic() - flooded < 0.8  # no token back yet
    # Bob is not affected by alice's flood.
    assert [outcome(r) for r in ping_burst(bob, 3)] == ["result"] * 3
    time.sleep(1)
    if in_same_flood:
        assert alice.received(lambda s: s.tag == f"{{{NS_CLIENT}}}message"
                              and bare(s.get("from")) == GATEWAY) == []

    # A few seconds later alice may ping again.
    time.sleep(3)
    assert outcome(alice.iq(GATEWAY, f"<ping xmlns='{NS_PING}'/>")) == "result"
    assert "alice@localhost is over the rate limit" in daemon.log.text()


def test_ad_hoc_commands_are_rate_limited_too(world, connect):
    world(RATE_CONFIG)
    alice = connect("alice")
    register(alice, "alice")
    wait_refill()
    outcomes = []
    for _ in range(7):
        outcomes.append(outcome(command_iq(alice, "balance")))
    assert outcomes.count("resource-constraint") >= 1, outcomes
    assert outcomes[:5] == ["result"] * 5, outcomes
