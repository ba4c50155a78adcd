"""Group chats (issue 13): the gateway in rooms of a real Prosody's MUC
component (testbed.py adds `conference.localhost`), invited by users,
following who is who, and taking tips said in the room.

The daemon runs without a node: tips move money inside the ledger, and
balances are given as test_adhoc.py gives them. The wallet's tick runs
every second, so held tips whose claim is made to expire in the database
return within a few seconds.

    cargo build
    BITCOIM_BIN=target/debug/bitcoim /usr/bin/python3 -m pytest -q tests/test_rooms.py
"""

import re
import sqlite3
import time
import uuid
from contextlib import closing

import pytest

from client import NS_CLIENT, bare, body
from helpers import ask
from ledger_db import account, db_query, db_write
import testbed

GATEWAY = testbed.COMPONENT_JID
MUC = testbed.MUC_JID
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
NS_MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
CODE_RE = r"[A-Za-z0-9]{6}"


@pytest.fixture
def bitcoim(prosody, tmp_path):
    daemon = testbed.Bitcoim(tmp_path / "d", prosody,
                             extra_config="[bitcoin]\npoll_interval = 1\n")
    daemon.start()
    yield daemon
    daemon.stop()
    print(f"--- bitcoim log, last lines ---\n{daemon.log.tail(80)}")


def new_room():
    return f"tips-{uuid.uuid4().hex[:8]}@{MUC}"


def enter(client, room, nick):
    """Joins `room` as `nick`; returns our self-presence."""
    client.send_presence(f"{room}/{nick}", payload=f"<x xmlns='{NS_MUC}'/>")
    return client.wait_for(lambda s: self_presence(s, room, nick), 10, f"our join of {room}")


def self_presence(s, room, nick):
    return (s.tag == f"{{{NS_CLIENT}}}presence" and s.get("from") == f"{room}/{nick}"
            and s.get("type") is None)


def say(client, room, text):
    client.send_xml(f"<message to='{room}' type='groupchat'><body>{text}</body></message>")


def room_line(client, room, contains, timeout=10.0):
    """A groupchat line from the gateway's nick in the room."""
    return client.wait_for(
        lambda s: s.get("type") == "groupchat" and s.get("from") == f"{room}/bitcoin"
        and contains in (body(s) or ""), timeout, f"the gateway's line {contains!r} in {room}")


def gateway_said_in_room(client, room):
    return client.received(lambda s: s.get("type") == "groupchat"
                           and s.get("from") == f"{room}/bitcoin" and body(s))


def gateway_joins(client, room, timeout=10.0):
    return client.wait_for(lambda s: self_presence(s, room, "bitcoin"), timeout,
                           f"the gateway joining {room}")


def configure(owner, room, **fields):
    """Submits the owner's room configuration form with these fields
    (muc#roomconfig_<name>)."""
    values = "".join(f"<field var='muc#roomconfig_{k}'><value>{v}</value></field>"
                     for k, v in fields.items())
    reply = owner.iq(room, f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='jabber:x:data' type='submit'>"
                           f"<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
                           f"</value></field>{values}</x></query>", "set")
    assert reply.get("type") == "result", testbed  # the room took the form


def invite_directly(client, room):
    client.send_xml(f"<message to='{GATEWAY}'><x xmlns='jabber:x:conference' jid='{room}'/>"
                    f"</message>")


def register(client, username):
    assert ask(client, GATEWAY, f"register {username}").startswith(f"Welcome, {username}!")


def give(daemon, username, sats):
    (user_id,), = db_query(daemon, "SELECT id FROM users WHERE username = ? "
                                   "AND removed_at IS NULL", (username,))
    with closing(sqlite3.connect(daemon.database, timeout=10)) as db:
        with db:
            db.execute("UPDATE users SET balance = balance + ? WHERE id = ?", (sats, user_id))
            db.execute("INSERT INTO ledger (user_id, kind, amount, reference, created_at) "
                       "VALUES (?, 'deposit', ?, 'test:0', 0)", (user_id, sats))


def stored_rooms(daemon):
    return [r for (r,) in db_query(daemon, "SELECT jid FROM rooms ORDER BY jid")]


def code_in(text):
    m = re.search(rf"confirm ({CODE_RE})\b", text)
    assert m, f"no 'confirm <code>' in {text!r}"
    return m.group(1)


@pytest.fixture
def people(prosody, client_factory):
    return {name: client_factory(prosody, name) for name in ("alice", "bob", "carol")}


def open_room(people, bitcoim, whois="anyone", occupants=("alice", "bob")):
    """A room made by alice (its owner) with these occupants (their nick is
    their name), alice and bob registered with a wallet, and the gateway
    invited by alice and in the room."""
    room = new_room()
    alice = people["alice"]
    enter(alice, room, "alice")
    if whois:
        configure(alice, room, whois=whois)
    for name in occupants[1:]:
        enter(people[name], room, name)
    register(alice, "alice")
    register(people["bob"], "bob")
    invite_directly(alice, room)
    joined = alice.wait_message(GATEWAY, 10, contains="I joined")
    assert body(joined).startswith(f"I joined {room} as bitcoin.")
    gateway_joins(people["bob"], room)
    return room


# --- invitations and joins ---------------------------------------------------------

def test_a_direct_invitation_joins_without_history_and_is_stored(prosody, bitcoim, people):
    alice, bob = people["alice"], people["bob"]
    room = new_room()
    enter(alice, room, "alice")
    configure(alice, room, whois="anyone")
    enter(bob, room, "bob")
    register(alice, "alice")
    register(bob, "bob")
    give(bitcoim, "alice", 100_000)
    # Said before the gateway came: the room keeps it as history, which the
    # gateway must never act on.
    say(alice, room, "tip 500 sat bob from the past")
    time.sleep(0.5)
    invite_directly(alice, room)
    assert body(alice.wait_message(GATEWAY, 10, contains="I joined")).startswith(
        f"I joined {room} as bitcoin.")
    gateway_joins(bob, room)
    assert stored_rooms(bitcoim) == [room]
    time.sleep(2)
    assert not alice.received(lambda s: bare(s.get("from")) == GATEWAY and "confirm" in
                              (body(s) or "")), "history was acted on"
    assert account(bitcoim, "alice") == (100_000, 0)


def test_an_invitation_from_someone_without_a_wallet_is_refused(prosody, bitcoim, people):
    carol = people["carol"]
    room = new_room()
    enter(carol, room, "carol")
    invite_directly(carol, room)
    refusal = body(carol.wait_message(GATEWAY, 10))
    assert refusal.startswith("Only users with a wallet can invite me into a room"), refusal
    time.sleep(1)
    assert not carol.received(lambda s: s.get("from") == f"{room}/bitcoin")
    assert stored_rooms(bitcoim) == []


def test_a_mediated_invitation_from_someone_without_a_wallet_is_declined(
        prosody, bitcoim, people):
    carol = people["carol"]
    room = new_room()
    enter(carol, room, "carol")
    carol.send_xml(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'>"
                   f"<invite to='{GATEWAY}'/></x></message>")
    # The room (semi-anonymous) hides who invites: the refusal can only be
    # the decline, relayed by the room to carol's occupant JID.
    decline = carol.wait_for(
        lambda s: s.get("from") == room
        and s.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline") is not None,
        10, "the decline relayed by the room")
    reason = decline.findtext(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}decline/"
                              f"{{{NS_MUC_USER}}}reason")
    assert reason.startswith("This room hides who invites me into it"), reason
    assert stored_rooms(bitcoim) == []


def test_a_wrong_password_is_told_and_the_right_one_joins(prosody, bitcoim, people):
    alice = people["alice"]
    room = new_room()
    enter(alice, room, "alice")
    configure(alice, room, whois="anyone", passwordprotectedroom="1", roomsecret="s3cret")
    register(alice, "alice")
    invite_directly(alice, room)
    told = body(alice.wait_message(GATEWAY, 10))
    assert told == f"I could not join {room}: its password was refused.", told
    assert stored_rooms(bitcoim) == []
    alice.send_xml(f"<message to='{GATEWAY}'><x xmlns='jabber:x:conference' jid='{room}' "
                   f"password='s3cret'/></message>")
    assert body(alice.wait_message(GATEWAY, 10)).startswith(f"I joined {room}")
    assert db_query(bitcoim, "SELECT password FROM rooms") == [("s3cret",)]


def test_a_mediated_invitation_joins_and_the_inviter_makes_it_leave(prosody, bitcoim, people):
    alice, bob = people["alice"], people["bob"]
    room = new_room()
    enter(alice, room, "alice")
    configure(alice, room, whois="anyone")
    enter(bob, room, "bob")
    register(alice, "alice")
    register(bob, "bob")
    alice.send_xml(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'>"
                   f"<invite to='{GATEWAY}'><reason>tips</reason></invite></x></message>")
    assert "I joined" in body(alice.wait_message(GATEWAY, 10, contains="I joined"))
    gateway_joins(bob, room)
    # bob neither invited it nor moderates: refused, privately.
    say(bob, room, "leave")
    assert body(bob.wait_message(GATEWAY, 10)).startswith("Only whoever invited me")
    say(alice, room, "leave")
    bob.wait_for(lambda s: s.get("from") == f"{room}/bitcoin" and s.get("type") == "unavailable",
                 10, "the gateway leaving")
    assert stored_rooms(bitcoim) == []
    assert not gateway_said_in_room(bob, room), "nothing said in the room"


def test_kicked_it_forgets_the_room_and_tells_the_inviter(prosody, bitcoim, people):
    alice = people["alice"]
    room = open_room(people, bitcoim)
    reply = alice.iq(room, f"<query xmlns='{NS_MUC_ADMIN}'><item nick='bitcoin' role='none'>"
                           f"<reason>out</reason></item></query>", "set")
    assert reply.get("type") == "result"
    told = body(alice.wait_message(GATEWAY, 10, contains="kicked"))
    assert told.startswith(f"I was kicked out of {room}"), told
    assert stored_rooms(bitcoim) == []


# --- tips ---------------------------------------------------------------------------

def test_tips_with_and_without_confirmation(prosody, bitcoim, people):
    alice, bob = people["alice"], people["bob"]
    room = open_room(people, bitcoim)
    give(bitcoim, "alice", 100_000)
    say(alice, room, "tip 1000 sat bob thanks")
    recap = body(alice.wait_message(GATEWAY, 10))
    assert "confirm" in recap and "bob" in recap, recap
    assert account(bitcoim, "bob") == (0, 0), "nothing moves before confirm"
    assert not gateway_said_in_room(bob, room)
    done = ask(alice, GATEWAY, f"confirm {code_in(recap)}")
    assert "bob" in done, done
    line = body(room_line(bob, room, "alice tipped bob"))
    assert "«thanks»" in line, line
    bob.wait_message(GATEWAY, 10, contains="tipped you")
    assert account(bitcoim, "bob") == (1_000, 0)
    assert account(bitcoim, "alice")[0] == 99_000
    # Within her own tip limit: paid at once, no code.
    assert "without a code" in ask(alice, GATEWAY, "tiplimit 5000 sat")
    alice.forget()
    say(alice, room, "tip 2000 sat bob")
    room_line(bob, room, "alice tipped bob")
    alice.wait_message(GATEWAY, 10, contains="You tipped bob")
    assert account(bitcoim, "bob") == (3_000, 0)
    assert not alice.received(lambda s: "confirm" in (body(s) or ""))
    # A nick not in the room, and the gateway itself: refused privately.
    say(alice, room, "tip 100 sat dave")
    assert body(alice.wait_message(GATEWAY, 10)).startswith("Nobody called dave is in")
    say(alice, room, "tip 100 sat bitcoin")
    assert body(alice.wait_message(GATEWAY, 10)).startswith("I cannot take tips")
    time.sleep(1)
    assert not gateway_said_in_room(bob, room), "only the two lines of tips carried out"


def test_a_nick_change_between_recap_and_confirm_pays_who_the_tipper_saw(
        prosody, bitcoim, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    room = open_room(people, bitcoim, occupants=("alice", "bob", "carol"))
    register(carol, "carol")
    give(bitcoim, "alice", 50_000)
    say(alice, room, "tip 700 sat bob")
    code = code_in(body(alice.wait_message(GATEWAY, 10)))
    # bob becomes robert; carol takes the nick bob.
    enter(bob, room, "robert")
    enter(carol, room, "bob")
    ask(alice, GATEWAY, f"confirm {code}")
    bob.wait_message(GATEWAY, 10, contains="tipped you")
    assert account(bitcoim, "bob") == (700, 0)
    assert account(bitcoim, "carol") == (0, 0)


def test_a_tip_to_someone_without_a_wallet_is_claimed_or_returned(prosody, bitcoim, people):
    alice, carol = people["alice"], people["carol"]
    room = open_room(people, bitcoim, occupants=("alice", "bob", "carol"))
    give(bitcoim, "alice", 50_000)
    # Without a wallet, carol cannot tip: she is told how to open one.
    say(carol, room, "tip 100 sat alice")
    assert body(carol.wait_message(GATEWAY, 10)).startswith("You need a wallet to tip.")
    ask(alice, GATEWAY, "tiplimit 10000 sat")
    say(alice, room, "tip 1500 sat carol welcome")
    held = body(carol.wait_message(GATEWAY, 10))
    assert "register" in held and "alice" in held, held
    alice.wait_message(GATEWAY, 10, contains="carol has no wallet yet")
    assert account(bitcoim, "alice") == (48_500, 1_500)
    carol.send_message(GATEWAY, "register carol")
    carol.wait_message(GATEWAY, 10, contains="Welcome, carol!")
    claimed = body(carol.wait_message(GATEWAY, 10, contains="tipped by alice"))
    assert claimed.startswith("You received 0.000015 BTC tipped by alice"), claimed
    alice.wait_message(GATEWAY, 10, contains="opened a wallet as carol")
    assert account(bitcoim, "carol") == (1_500, 0)
    assert account(bitcoim, "alice") == (48_500, 0)
    # A second tip to a JID without a wallet (bob leaves his; the gateway
    # still knows his JID), then its claim expires.
    assert ask(people["bob"], GATEWAY, "unregister").strip()
    say(alice, room, "tip 900 sat bob")
    people["bob"].wait_message(GATEWAY, 10, contains="tipped you")
    assert db_write(bitcoim, "UPDATE claims SET expires_at = 0 WHERE state = 'held'") == 1
    back = body(alice.wait_message(GATEWAY, 15, contains="Nobody claimed"))
    assert "900" in back or "0.000009" in back, back
    assert account(bitcoim, "alice") == (47_600 + 900, 0)


def test_a_room_hiding_real_jids_says_so_once_and_refuses_tips(prosody, bitcoim, people):
    alice, bob = people["alice"], people["bob"]
    room = open_room(people, bitcoim, whois=None)
    notice = body(room_line(bob, room, "tips are off here"))
    assert "non-anonymous" in notice and "moderator" in notice, notice
    give(bitcoim, "alice", 10_000)
    say(bob, room, "tip 100 sat alice")
    refusal = bob.wait_for(lambda s: s.get("from") == f"{room}/bitcoin" and s.get("type") == "chat",
                           10, "a private refusal through the room")
    assert body(refusal).startswith("Tips are off in"), body(refusal)
    time.sleep(1)
    assert len(gateway_said_in_room(bob, room)) == 0, "the notice was said once"
    assert account(bitcoim, "alice") == (10_000, 0)


def test_after_a_restart_it_is_back_in_its_rooms(prosody, bitcoim, people):
    alice, bob = people["alice"], people["bob"]
    room = open_room(people, bitcoim)
    bitcoim.stop()
    bob.wait_for(lambda s: s.get("from") == f"{room}/bitcoin" and s.get("type") == "unavailable",
                 10, "the gateway gone with the daemon")
    bitcoim.start()
    gateway_joins(bob, room, 15)
    give(bitcoim, "alice", 10_000)
    ask(alice, GATEWAY, "tiplimit 5000 sat")
    say(alice, room, "tip 300 sat bob")
    room_line(bob, room, "alice tipped bob")
    assert account(bitcoim, "bob") == (300, 0)
    assert not alice.received(lambda s: bare(s.get("from")) == GATEWAY
                              and "I joined" in (body(s) or "")), "a rejoin tells nobody"
