"""Payment requests and blocks, as users live them through a real Prosody
with real coins on real regtest nodes (issue 13, item 5): a request paid,
declined, refused for a block, answered from a second client, and
`request <amount>`, whose payment link's address receives a real deposit
announced as paying the request.

The world (a funded payer node, bitcoIM's own node, the daemon) is
test_money.py's.

    cargo build --features fault-injection
    BITCOIM_BIN=target/debug/bitcoim /usr/bin/python3 -m pytest -v tests/test_requests.py
"""

import re
import time

from client import body
from helpers import ask
from jids import contact
from ledger_db import account, db_query
from test_money import (  # noqa: F401  (payer and world_factory are fixtures)
    GATEWAY, deposit, funded_alice, messages_from, payer, register, sats, to_btc,
    user_contact, world_factory)

SENT = "I asked {payer} for {amount}. You will be told when they pay or decline."


def request_code(text, requester, amount, comment=None):
    """The code of a request as its payer reads it, after checking the
    rest of the message."""
    m = re.search(r"To pay: confirm (\S+)\n", text)
    assert m, f"no 'confirm <code>' in the request: {text!r}"
    code = m.group(1)
    what = f"{amount}: «{comment}»." if comment else f"{amount}."
    assert text == (f"{requester} asks you for {what}\nTo pay: confirm {code}\n"
                    f"To decline: cancel {code}\nThe request expires in 10 minutes."), text
    return code


def requests_stored(world):
    return db_query(world.daemon, "SELECT count(*) FROM orders WHERE origin = 'request'")[0][0]


def order_state(world, code):
    rows = db_query(world.daemon, "SELECT state FROM orders WHERE code = ? "
                                  "ORDER BY id DESC LIMIT 1", (code,))
    assert rows, f"no order {code}"
    return rows[0][0]


def alice_and_bob(world):
    """alice with 1.5 BTC from a real deposit; bob registered, empty."""
    alice = funded_alice(world)
    bob = world.client("bob")
    register(bob, "bob")
    return alice, bob


def bob_asks_alice(alice, bob, amount="0.1 BTC", comment="dinner"):
    typed = amount.replace(" BTC", "")
    assert ask(bob, GATEWAY, f"request {typed} from alice {comment}") == \
        SENT.format(payer="alice", amount=amount)
    note = alice.wait_message(user_contact("bob"), timeout=10)
    return request_code(body(note), "bob", amount, comment)


def test_a_request_is_paid_once_in_the_requesters_chat(world_factory):
    world = world_factory()
    alice, bob = alice_and_bob(world)
    code = bob_asks_alice(alice, bob)
    assert account(world.daemon, "alice") == (sats("1.5"), 0), "a request moved money"

    # alice answers in bob's chat, where the request came from.
    assert ask(alice, user_contact("bob"), f"confirm {code}") == \
        "Paid 0.1 BTC to bob. Your balance is 1.4 BTC."
    note = bob.wait_message(user_contact("alice"), timeout=10)
    assert body(note) == "alice paid your request of 0.1 BTC. Your balance is 0.1 BTC."
    assert account(world.daemon, "alice") == (sats("1.4"), 0)
    assert account(world.daemon, "bob") == (sats("0.1"), 0)

    # The code again pays nothing, and bob hears nothing more.
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "This payment was already carried out: nothing more was paid."
    time.sleep(1)
    assert messages_from(bob, user_contact("alice")) == []
    assert account(world.daemon, "alice") == (sats("1.4"), 0)
    assert account(world.daemon, "bob") == (sats("0.1"), 0)


def test_a_declined_request_moves_nothing_and_the_requester_is_told(world_factory):
    world = world_factory()
    alice, bob = alice_and_bob(world)
    code = bob_asks_alice(alice, bob)
    assert ask(alice, GATEWAY, f"cancel {code}") == \
        f"You declined the request {code} from bob; they are told."
    note = bob.wait_message(user_contact("alice"), timeout=10)
    assert body(note) == "alice declined your request of 0.1 BTC."
    assert order_state(world, code) == "cancelled"
    # A confirmation after the refusal pays nothing.
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "This payment was cancelled or failed; make a new one with pay."
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    assert account(world.daemon, "bob") == (0, 0)


def test_a_blocked_requester_is_refused_until_unblocked(world_factory):
    world = world_factory()
    alice, bob = alice_and_bob(world)
    assert ask(alice, GATEWAY, "block bob") == \
        "You no longer take requests from bob. Their payments still reach you."
    assert ask(alice, GATEWAY, "block") == "You refuse requests from: bob"

    assert ask(bob, GATEWAY, "request 0.1 from alice dinner") == \
        "alice does not take requests from you."
    time.sleep(1)
    assert messages_from(alice, user_contact("bob")) == [], "alice was asked all the same"
    assert requests_stored(world) == 0

    assert ask(alice, GATEWAY, "unblock bob") == "You take requests from bob again."
    code = bob_asks_alice(alice, bob, "0.00002 BTC", "again")
    assert order_state(world, code) == "pending"
    assert requests_stored(world) == 1


def test_a_request_is_answered_from_a_second_client(world_factory):
    world = world_factory()
    alice, bob = alice_and_bob(world)
    phone = world.client("alice")  # alice's second client, another resource
    code = bob_asks_alice(alice, bob, "0.25 BTC", "rent")
    assert ask(phone, GATEWAY, f"confirm {code}") == \
        "Paid 0.25 BTC to bob. Your balance is 1.25 BTC."
    note = bob.wait_message(user_contact("alice"), timeout=10)
    assert body(note) == "alice paid your request of 0.25 BTC. Your balance is 0.25 BTC."
    # The first client's code is spent too.
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "This payment was already carried out: nothing more was paid."
    assert account(world.daemon, "alice") == (sats("1.25"), 0)


def test_a_payment_link_is_paid_by_a_real_deposit(world_factory):
    world = world_factory()
    bob = world.client("bob")
    first = register(bob, "bob")
    reply = ask(bob, GATEWAY, "request 0.05 for the rent")
    m = re.fullmatch(r"Your payment link, to a fresh deposit address \((\S+), now in your "
                     r"contacts\):\nbitcoin:(\S+)\?amount=0\.05&label=bob&message=for%20the%20rent"
                     r"\nThe first deposit to it is announced as paying this request\.", reply)
    assert m, reply
    address = m.group(1)
    assert m.group(2) == address and address != first, "not a fresh address"
    owner = db_query(world.daemon, "SELECT u.username FROM addresses a JOIN users u "
                                   "ON u.id = a.user_id WHERE a.address = ?", (address,))
    assert owner == [("bob",)], owner

    # The payer pays less than asked: the request says both amounts.
    world.payer.rpc("sendtoaddress", address, to_btc(sats("0.03")))
    note = bob.wait_message(contact(address), timeout=15, contains="request")
    assert body(note) == (f"A deposit of 0.03 BTC came to {address}, for your request of "
                          "0.05 BTC «for the rent».")
    world.mine(1)
    bob.wait_message(contact(address), timeout=15, contains="credited")

    # A second deposit to the same address is an ordinary one.
    bob.forget()
    deposit(world, bob, address, sats("0.01"))
    assert not [b for b in messages_from(bob, contact(address)) if "request" in b]
    paid_by = db_query(world.daemon, "SELECT paid_by FROM address_requests WHERE address = ?",
                       (address,))
    assert len(paid_by) == 1 and re.fullmatch(r"[0-9a-f]{64}:\d+", paid_by[0][0]), paid_by
    assert account(world.daemon, "bob") == (sats("0.04"), 0)


def test_the_request_and_blocks_forms(world_factory):
    from test_adhoc import run

    world = world_factory()
    alice, bob = alice_and_bob(world)

    # alice refuses bob's requests with the blocks form.
    first = run(alice, "blocks")
    assert first.status == "executing" and set(first.fields) == {"block"}, first.fields
    done = run(alice, "blocks", "complete", first.sessionid, {"block": "bob"})
    assert done.status == "completed"
    assert done.note == "You no longer take requests from bob. Their payments still reach you."

    # bob's request by form is refused, saying why, and the form comes back.
    start = run(bob, "request")
    assert list(start.fields) == ["amount", "from", "comment"]
    again = run(bob, "request", "complete", start.sessionid,
                {"amount": "0.01", "from": "alice", "comment": "taxi"})
    assert again.status == "executing"
    assert again.instructions == "alice does not take requests from you."
    assert requests_stored(world) == 0

    # alice takes bob's requests again, from the list the form offers.
    listed = run(alice, "blocks")
    assert listed.fields["unblock"]["options"] == [("bob", "bob")]
    done = run(alice, "blocks", "complete", listed.sessionid, {"unblock": ["bob"]})
    assert done.note == "You take requests from bob again."

    # The same session of bob's, submitted again, now asks alice.
    sent = run(bob, "request", "complete", start.sessionid,
               {"amount": "0.01", "from": "alice", "comment": "taxi"})
    assert sent.status == "completed"
    assert sent.note == SENT.format(payer="alice", amount="0.01 BTC")
    note = alice.wait_message(user_contact("bob"), timeout=10)
    code = request_code(body(note), "bob", "0.01 BTC", "taxi")
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "Paid 0.01 BTC to bob. Your balance is 1.49 BTC."
    assert account(world.daemon, "bob") == (sats("0.01"), 0)
