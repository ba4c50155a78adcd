"""The money, as users see it through a real Prosody, with real coins on
real regtest nodes: deposits, internal payments, withdrawals, orders, and
what happens when the node, the network or the daemon itself fails at the
worst moment.

Two nodes, as in real life (TESTBED.md): a funded *payer* node (one per
module: it stands for the rest of the world, the users' other wallets) and
bitcoIM's own node, fresh for every test, connected to the payer only.
Deposits go payer -> a user's deposit address; withdrawals go to fresh
addresses of the payer. Blocks are mined on the payer and the tests wait
for both nodes to agree on the tip before asserting.

The crash tests need a daemon built with `--features fault-injection`
(`BITCOIM_FAULT=<step>` aborts it at that step of a withdrawal):

    cargo build --features fault-injection
    BITCOIM_BIN=target/debug/bitcoim /usr/bin/python3 -m pytest -v tests/test_money.py

The daemon polls every second and abandons an RPC call after 2 s, so its
reconciliation grace period (2 x timeout + 5 s) is 9 s: the slowest tests
wait about that long, never more than a bounded time.
"""

import re
import signal
import sqlite3
import time
from decimal import Decimal

import pytest

from client import bare, body
from helpers import ask
from rpc_proxy import RpcProxy
from ledger_db import account, db_query, db_write
from jids import contact
import testbed

GATEWAY = testbed.COMPONENT_JID
NS_CLIENT = "jabber:client"
NS_CORRECT = "urn:xmpp:message-correct:0"
COIN = 100_000_000

POLL_INTERVAL = 1  # s, [bitcoin] poll_interval
RPC_TIMEOUT = 2  # s, [bitcoin] timeout
# The daemon looks at a withdrawal caught mid-flight only once its last
# change is this old (src/wallet/withdrawals.rs).
GRACE = 2 * RPC_TIMEOUT + 5
# How long after the grace period a resolution may take: a poll or two.
RESOLVE_TIMEOUT = GRACE + 4 * POLL_INTERVAL + 5

BASE_CONFIG = f"""
[bitcoin]
poll_interval = {POLL_INTERVAL}
timeout = {RPC_TIMEOUT}
"""

# With fallback_fee_rate = 20 sat/vB (the node has no estimatesmartfee) and
# a typical 250 vB, the estimate is 5000 sat; a withdrawal of an exact
# amount holds twice that as its fee reserve.
FEE_ESTIMATE = 5_000
FEE_RESERVE = 2 * FEE_ESTIMATE

UNKNOWN_TEXT = ("The Bitcoin node did not answer clearly. Your funds stay held while I check "
                "whether it went out; you will be told. Nothing is ever sent twice.")


# --- amounts -------------------------------------------------------------------------

def sats(btc):
    """Exact satoshis of a BTC amount written as text or Decimal."""
    value = Decimal(str(btc)) * COIN
    assert value == value.to_integral_value(), btc
    return int(value)


def fmt(amount):
    """Satoshis as the daemon writes them for people: '1.2999548 BTC'."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), COIN)
    return sign + f"{whole}.{frac:08d}".rstrip("0").rstrip(".") + " BTC"


def to_btc(amount):
    """Satoshis as an exact Decimal for RPC calls."""
    return Decimal(amount) / COIN


# --- JIDs ------------------------------------------------------------------------------


def user_contact(username):
    return f"{username}@{GATEWAY}"


# --- the world: two nodes, Prosody, the daemon -------------------------------------------

@pytest.fixture(scope="module")
def payer(tmp_path_factory):
    """The rest of the world's wallet: mined to maturity, pays deposits."""
    node = testbed.RegtestNode(tmp_path_factory.mktemp("payer")).start()
    node.generate(110)
    yield node
    node.stop()


class World:
    """One test's bitcoIM: its own node (peered with the payer), daemon,
    database, optionally an RPC proxy in between; the test's Prosody."""

    def __init__(self, tmp_path, prosody, payer, client_factory, extra_config="",
                 proxy=False, env=None):
        self.prosody = prosody
        self.payer = payer
        self._client_factory = client_factory
        self.node = testbed.RegtestNode(tmp_path / "wallet", connect=payer.p2p_port).start()
        self.proxy = None
        config = BASE_CONFIG + extra_config
        if proxy:
            # proxy: True, or a dict of RpcProxy options
            # ({"core_listsinceblock": True}).
            options = proxy if isinstance(proxy, dict) else {}
            self.proxy = RpcProxy(self.node.rpc_port, **options)
            config += f"\n[bitcoin]\nport = {self.proxy.port}\n"
        self.wait_synced()
        self.daemon = testbed.Bitcoim(tmp_path, prosody, self.node, extra_config=config)
        self.daemon.start(env=env)

    def client(self, user):
        return self._client_factory(self.prosody, user)

    def wait_synced(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            tip = self.payer.rpc("getbestblockhash")
            if self.node.rpc("getbestblockhash") == tip:
                return tip
            assert time.monotonic() < deadline, "bitcoIM's node did not catch up with the payer"
            time.sleep(0.05)

    def mine(self, n=1):
        """Mines on the payer; returns once bitcoIM's node has the blocks."""
        self.payer.generate(n)
        return self.wait_synced()

    def mine_tx(self, txid, timeout=15.0):
        """Waits for bitcoIM's transaction to reach the payer, then mines it."""
        deadline = time.monotonic() + timeout
        while txid not in self.payer.rpc("getrawmempool"):
            assert time.monotonic() < deadline, f"{txid} never reached the payer's mempool"
            time.sleep(0.05)
        self.mine(1)
        assert self.node.rpc("gettransaction", txid)["confirmations"] >= 1

    def close(self):
        if self.daemon is not None:
            self.daemon.stop()
            print(f"--- bitcoim log ({self.daemon.log.path}), last lines ---\n"
                  f"{self.daemon.log.tail(80)}")
        if self.proxy is not None:
            self.proxy.close()
            print(f"--- RPC proxy calls ---\n{self.proxy.calls}")
        self.node.stop()


@pytest.fixture
def world_factory(tmp_path, private_prosody, payer, client_factory):
    worlds = []

    def make(**kwargs):
        world = World(tmp_path / f"w{len(worlds)}", private_prosody, payer, client_factory,
                      **kwargs)
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.close()


# --- chat --------------------------------------------------------------------------------

def messages_from(client, sender):
    """Bodies of messages from `sender` received and not taken yet."""
    return [body(s) for s in client.received(
        lambda s: s.tag == f"{{{NS_CLIENT}}}message" and bare(s.get("from")) == sender
        and body(s) is not None)]


def gateway_status(client, predicate, timeout=10.0):
    """The status of the next gateway presence for which predicate(status)."""
    def match(s):
        return (s.tag == f"{{{NS_CLIENT}}}presence" and bare(s.get("from")) == GATEWAY
                and s.get("type") is None
                and predicate(s.findtext(f"{{{NS_CLIENT}}}status", "")))

    return client.wait_for(match, timeout, "a gateway presence with that status") \
        .findtext(f"{{{NS_CLIENT}}}status", "")


def forget_presences(client):
    """Drops the gateway presences received so far, so that the next
    status read is a new one."""
    def match(s):
        return s.tag == f"{{{NS_CLIENT}}}presence" and bare(s.get("from")) == GATEWAY

    for _ in client.received(match):
        client.wait_for(match, 0)


def register(client, username):
    """Registers by chat, lets the gateway see the user's presence (so that
    it pushes balances in its status), and returns the deposit address."""
    reply = ask(client, GATEWAY, f"register {username}")
    m = re.search(r"Your first deposit address is (\S+) \(", reply)
    assert m, reply
    client.wait_presence(GATEWAY, "subscribe")
    client.accept(GATEWAY)
    client.send_presence(GATEWAY, "subscribe")
    client.wait_presence(GATEWAY, "subscribed")
    assert gateway_status(client, lambda s: s.startswith("Balance: ")) == "Balance: 0 BTC"
    return m.group(1)


def balance_of(client):
    """(spendable, incoming, held) in satoshis, from the `balance` command.
    A line about a debt (after a reversed deposit) may follow; the tests
    read debts from the database."""
    text = ask(client, GATEWAY, "balance")
    m = re.fullmatch(r"Spendable balance: (\S+) BTC"
                     r"(?:\nIncoming, not confirmed yet: (\S+) BTC)?"
                     r"(?:\nHeld for withdrawals in progress: (\S+) BTC)?"
                     r"(?:\nOwed after a reversed deposit: \S+ BTC[^\n]*)?", text)
    assert m, f"unexpected balance reply: {text!r}"
    return tuple(sats(x or "0") for x in m.groups())


def code_of(recap):
    m = re.search(r"To confirm, type: confirm (\S+)\n", recap)
    assert m, f"no 'confirm <code>' in the recap: {recap!r}"
    code = m.group(1)
    assert re.fullmatch(r"[abcdefghjkmnpqrstuvwxyz23456789]{4,6}", code), code
    return code


def history_of(client, to=GATEWAY):
    """The `history` lines as (sign, amount in sats, what)."""
    text = ask(client, to, "history")
    lines = text.split("\n")
    assert lines[0] == "Your last movements, newest first:", text
    entries = []
    for line in lines[1:]:
        m = re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d ([+-])(\S+) BTC (.*)", line)
        assert m, f"odd history line {line!r}"
        entries.append((m.group(1), sats(m.group(2)), m.group(3)))
    return entries


def deposit(world, client, address, amount):
    """Pays `amount` sats from the payer to `address`, waits for the
    announcement, mines a block, waits for the credit; returns the txid."""
    txid = world.payer.rpc("sendtoaddress", address, to_btc(amount))
    client.wait_message(contact(address), timeout=15, contains="Incoming")
    world.mine(1)
    client.wait_message(contact(address), timeout=15, contains="credited")
    return txid


def funded_alice(world, amount=150_000_000):
    """alice, registered, with `amount` credited from a real deposit."""
    alice = world.client("alice")
    address = register(alice, "alice")
    deposit(world, alice, address, amount)
    assert balance_of(alice) == (amount, 0, 0)
    return alice


def wait_polls(daemon, since, count=3, timeout=20.0):
    """Until the daemon has polled the wallet `count` times after `since`."""
    deadline = time.monotonic() + timeout
    while daemon.log.text(since).count("bitcoind listsinceblock took") < count:
        assert time.monotonic() < deadline, "the daemon stopped polling"
        time.sleep(0.1)


# --- the database (read to check, written only where no command can) -------------------------


def order_row(daemon, code):
    rows = db_query(daemon, "SELECT id, state, txid, fee FROM orders WHERE code = ? "
                            "ORDER BY id DESC LIMIT 1", (code,))
    assert rows, f"no order with code {code}"
    return dict(zip(("id", "state", "txid", "fee"), rows[0]))


def wait_order_state(daemon, code, states, timeout):
    deadline = time.monotonic() + timeout
    while True:
        row = order_row(daemon, code)
        if row["state"] in states:
            return row
        assert time.monotonic() < deadline, \
            f"order {code} still {row['state']} after {timeout} s, expected {states}"
        time.sleep(0.1)


# --- the wallets ---------------------------------------------------------------------------

def order_sends(world, order_id):
    """The txids of the wallet's sends whose comment is the order's own
    wallet comment, exactly as the daemon stored it (orders.wallet_comment:
    the database's random id, the order id and a nonce; its format is the
    daemon's business). An order without one never reached sendtoaddress:
    nothing can have been sent under it."""
    try:
        rows = db_query(world.daemon, "SELECT wallet_comment FROM orders WHERE id = ?",
                        (order_id,))
    except sqlite3.OperationalError as e:
        raise AssertionError(f"cannot read orders.wallet_comment ({e}): the daemon's "
                             "database has no per-order wallet comment") from None
    assert rows, f"no order {order_id}"
    comment = rows[0][0]
    if comment is None:
        return []
    entries = world.node.rpc("listtransactions", "*", 10_000, 0)
    return sorted({e["txid"] for e in entries
                   if e.get("category") == "send" and e.get("comment") == comment})


def sent_and_fee(node, txid):
    """(amount that left to others, fee) of one of the wallet's sends, in sats."""
    tx = node.rpc("gettransaction", txid)
    sent = -sum(sats(d["amount"]) for d in tx["details"] if d["category"] == "send")
    return sent, -sats(tx["fee"])


def received_by(payer, address):
    """What the payer's `address` received in confirmed transactions."""
    for entry in payer.rpc("listreceivedbyaddress", 1, True):
        if entry["address"] == address:
            return sats(entry["amount"])
    return 0


def wallet_balance(node):
    return sats(node.rpc("getbalance"))


# === 1. deposits =========================================================================

def test_deposit_is_announced_then_corrected_to_credited_once(world_factory):
    world = world_factory()
    alice = world.client("alice")
    address = register(alice, "alice")

    txid = world.payer.rpc("sendtoaddress", address, Decimal("1.5"))
    seen = alice.wait_message(contact(address), timeout=15)
    assert body(seen) == (f"Incoming: 1.5 BTC (transaction {txid[:12]}…), not confirmed yet. "
                          "It counts once it has 1 confirmation(s).")
    assert seen.get("id"), "the announcement needs an id to be corrected later"
    assert seen.find(f"{{{NS_CORRECT}}}replace") is None
    assert gateway_status(alice, lambda s: "incoming" in s) == \
        "Balance: 0 BTC\nincoming, not confirmed yet: 1.5 BTC"
    assert balance_of(alice) == (0, sats("1.5"), 0)

    world.mine(1)
    credited = alice.wait_message(contact(address), timeout=15)
    assert body(credited) == (f"Received: 1.5 BTC (transaction {txid[:12]}…), credited. "
                              "Your balance is 1.5 BTC.")
    replace = credited.find(f"{{{NS_CORRECT}}}replace")
    assert replace is not None, "the credit must correct the announcement (XEP-0308)"
    assert replace.get("id") == seen.get("id")
    assert credited.get("id") != seen.get("id")
    assert gateway_status(alice, lambda s: s.startswith("Balance: 1.5 BTC")) == "Balance: 1.5 BTC"
    assert balance_of(alice) == (sats("1.5"), 0, 0)
    assert account(world.daemon, "alice") == (sats("1.5"), 0)

    # A restart, then a restart that lost the poller's cursor (as after a
    # missed interval or an old backup): the wallet lists the deposit
    # again, and it is still credited once.
    daemon = world.daemon
    for forget_cursor in (False, True):
        daemon.stop()
        forget_presences(alice)
        if forget_cursor:
            assert db_write(daemon, "DELETE FROM state WHERE name = 'listsinceblock_cursor'") == 1
        since = daemon.log.mark()
        daemon.start()
        wait_polls(daemon, since, count=3)
        assert balance_of(alice) == (sats("1.5"), 0, 0)
        assert account(daemon, "alice") == (sats("1.5"), 0)
        assert db_query(daemon, "SELECT count(*) FROM ledger WHERE kind = 'deposit'") == [(1,)]
        assert messages_from(alice, contact(address)) == [], "the deposit was announced again"
    # After the restart the gateway's presence still shows the balance.
    assert gateway_status(alice, lambda s: s.startswith("Balance: ")) == "Balance: 1.5 BTC"
    assert wallet_balance(world.node) == sats("1.5")


def test_deposit_made_while_the_daemon_is_down_is_credited_on_restart(world_factory):
    world = world_factory()
    alice = world.client("alice")
    address = register(alice, "alice")
    world.daemon.stop()
    txid = world.payer.rpc("sendtoaddress", address, Decimal("0.4"))
    world.mine_tx(txid)
    world.daemon.start()
    credited = alice.wait_message(contact(address), timeout=15)
    assert body(credited) == (f"Received: 0.4 BTC (transaction {txid[:12]}…), credited. "
                              "Your balance is 0.4 BTC.")
    assert credited.find(f"{{{NS_CORRECT}}}replace") is None, "nothing to correct yet"
    assert balance_of(alice) == (sats("0.4"), 0, 0)
    assert account(world.daemon, "alice") == (sats("0.4"), 0)


def test_deposit_needing_two_confirmations_is_corrected_at_each(world_factory):
    world = world_factory(extra_config="[bitcoin]\nconfirmations = 2\n")
    alice = world.client("alice")
    address = register(alice, "alice")
    txid = world.payer.rpc("sendtoaddress", address, Decimal("0.25"))
    short = txid[:12]
    seen = alice.wait_message(contact(address), timeout=15)
    assert body(seen) == (f"Incoming: 0.25 BTC (transaction {short}…), not confirmed yet. "
                          "It counts once it has 2 confirmation(s).")
    world.mine(1)
    one = alice.wait_message(contact(address), timeout=15)
    assert body(one) == f"Incoming: 0.25 BTC (transaction {short}…), 1 of 2 confirmation(s)."
    assert one.find(f"{{{NS_CORRECT}}}replace").get("id") == seen.get("id")
    assert balance_of(alice) == (0, sats("0.25"), 0)
    world.mine(1)
    credited = alice.wait_message(contact(address), timeout=15)
    assert body(credited) == (f"Received: 0.25 BTC (transaction {short}…), credited. "
                              "Your balance is 0.25 BTC.")
    assert credited.find(f"{{{NS_CORRECT}}}replace").get("id") == seen.get("id")
    assert balance_of(alice) == (sats("0.25"), 0, 0)


# === 2. internal payments ==================================================================

def test_internal_payments_both_ways_with_history_and_replay(world_factory):
    world = world_factory()
    alice = world.client("alice")
    bob = world.client("bob")
    alice_address = register(alice, "alice")
    register(bob, "bob")
    deposit_txid = deposit(world, alice, alice_address, sats("1.5"))

    recap = ask(alice, GATEWAY, "pay 0.5 bob lunch")
    code = code_of(recap)
    assert recap == ("Pay 0.5 BTC to bob «lunch».\nBalance left: 1 BTC.\n"
                     f"To confirm, type: confirm {code}\n(valid 10 minutes; cancel {code} drops it)")
    assert account(world.daemon, "alice") == (sats("1.5"), 0), "pay alone moved money"

    assert ask(alice, GATEWAY, f"confirm {code}") == "Paid 0.5 BTC to bob. Your balance is 1 BTC."
    note = bob.wait_message(user_contact("alice"))
    assert body(note) == "alice paid you 0.5 BTC: «lunch». Your balance is 0.5 BTC."
    assert gateway_status(bob, lambda s: s.startswith("Balance: 0.5")) == "Balance: 0.5 BTC"
    assert balance_of(alice) == (sats("1"), 0, 0)
    assert balance_of(bob) == (sats("0.5"), 0, 0)

    # Bob pays back from alice's contact: no recipient to type there.
    recap = ask(bob, user_contact("alice"), "pay 0.2 thanks")
    code2 = code_of(recap)
    assert recap.startswith("Pay 0.2 BTC to alice «thanks».\nBalance left: 0.3 BTC.\n"), recap
    assert ask(bob, user_contact("alice"), f"confirm {code2}") == \
        "Paid 0.2 BTC to alice. Your balance is 0.3 BTC."
    note = alice.wait_message(user_contact("bob"))
    assert body(note) == "bob paid you 0.2 BTC: «thanks». Your balance is 1.2 BTC."
    assert balance_of(alice) == (sats("1.2"), 0, 0)
    assert balance_of(bob) == (sats("0.3"), 0, 0)

    # A replayed code is already done and pays nothing.
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "This payment was already carried out: nothing more was paid."
    assert ask(bob, GATEWAY, f"confirm {code2}") == \
        "This payment was already carried out: nothing more was paid."
    assert account(world.daemon, "alice") == (sats("1.2"), 0)
    assert account(world.daemon, "bob") == (sats("0.3"), 0)
    assert messages_from(bob, user_contact("alice")) == []

    history = history_of(alice)
    assert [h[:2] for h in history] == [("+", sats("0.2")), ("-", sats("0.5")), ("+", sats("1.5"))]
    assert history[0][2] == "from bob «thanks»"
    assert history[1][2] == "to bob «lunch»"
    assert history[2][2].startswith(f"deposit {deposit_txid[:12]}"), history[2]
    assert history_of(bob) == [("-", sats("0.2"), "to alice «thanks»"),
                               ("+", sats("0.5"), "from alice «lunch»")]
    # With a contact, only what went between the two.
    assert history_of(alice, user_contact("bob")) == history[:2]
    # Internal payments leave the wallet alone.
    assert wallet_balance(world.node) == sats("1.5")


def test_a_resent_confirmation_and_a_corrected_pay_move_money_once(world_factory):
    """SPEC: a message is acted on once. A client whose stream resumption
    failed sends its last messages again, same origin-id; a correction
    (XEP-0308) of a command is not a new command."""
    world = world_factory()
    alice = funded_alice(world, sats("1"))
    bob = world.client("bob")
    register(bob, "bob")
    code = code_of(ask(alice, GATEWAY, "pay 0.1 bob"))
    confirm = (f"<message xmlns='{NS_CLIENT}' type='chat' to='{GATEWAY}' id='{{id}}'>"
               f"<body>confirm {code}</body><origin-id xmlns='urn:xmpp:sid:0' id='resent-1'/>"
               "</message>")
    alice.send_xml(confirm.format(id="first"))
    assert body(alice.wait_message(GATEWAY)) == "Paid 0.1 BTC to bob. Your balance is 0.9 BTC."
    alice.forget()
    alice.send_xml(confirm.format(id="second"))
    time.sleep(1)
    assert messages_from(alice, GATEWAY) == [], "the resent confirmation was answered"
    assert account(world.daemon, "bob") == (sats("0.1"), 0)

    alice.send_xml(f"<message xmlns='{NS_CLIENT}' type='chat' to='{GATEWAY}' id='fix-1'>"
                   f"<body>pay 0.2 bob</body><replace xmlns='{NS_CORRECT}' id='first'/></message>")
    assert body(alice.wait_message(GATEWAY)).startswith("I do not act on corrected messages")
    assert db_query(world.daemon, "SELECT count(*) FROM orders")[0][0] == 1
    assert account(world.daemon, "alice") == (sats("0.9"), 0)


# === 3. withdrawals ==========================================================================

def test_withdrawal_pays_exactly_the_amount_and_charges_the_real_fee(world_factory):
    world = world_factory()
    alice = funded_alice(world)
    dest = world.payer.rpc("getnewaddress", "alice's other wallet")
    amount = sats("0.2")

    recap = ask(alice, GATEWAY, f"pay 0.2 {dest} rent")
    code = code_of(recap)
    total = amount + FEE_ESTIMATE
    assert recap == (
        f"Send 0.2 BTC to {dest} «rent».\n"
        f"Estimated network fee: {fmt(FEE_ESTIMATE)}; total debited about {fmt(total)}; "
        f"balance left about {fmt(sats('1.5') - total)}.\n"
        "The recipient gets exactly 0.2 BTC; the fee is on top.\n"
        f"To confirm, type: confirm {code}\n(valid 10 minutes; cancel {code} drops it)")

    # A double click: the same code twice, back to back.
    alice.send_message(GATEWAY, f"confirm {code}")
    alice.send_message(GATEWAY, f"confirm {code}")
    reply = body(alice.wait_message(GATEWAY, timeout=10))
    again = body(alice.wait_message(GATEWAY, timeout=10))
    m = re.fullmatch(rf"Sent 0\.2 BTC to {dest}: transaction ([0-9a-f]{{64}})\. "
                     r"Network fee: (\S+) BTC\. Your balance is (\S+) BTC\.", reply)
    assert m, reply
    assert again == "This payment was already carried out: nothing more was paid."
    txid = m.group(1)
    order = order_row(world.daemon, code)
    assert (order["state"], order["txid"]) == ("settled", txid)
    assert order_sends(world, order["id"]) == [txid]
    sent, fee = sent_and_fee(world.node, txid)
    assert sent == amount
    assert sats(m.group(2)) == fee == order["fee"]
    assert sats(m.group(3)) == sats("1.5") - amount - fee

    world.mine_tx(txid)
    assert received_by(world.payer, dest) == amount, "the recipient must get exactly the amount"
    details = world.payer.rpc("gettransaction", txid)["details"]
    assert [(d["address"], sats(d["amount"])) for d in details if d["category"] == "receive"] \
        == [(dest, amount)]

    assert balance_of(alice) == (sats("1.5") - amount - fee, 0, 0)
    assert account(world.daemon, "alice") == (sats("1.5") - amount - fee, 0)
    # The wallet and the ledger agree to the satoshi.
    assert wallet_balance(world.node) == sats("1.5") - amount - fee
    history = history_of(alice)
    assert history[:2] == [("-", fee, f"network fee, order {order['id']}"),
                           ("-", amount, f"withdrawal, order {order['id']} «rent»")]
    # A replay after settlement pays nothing either.
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "This payment was already carried out: nothing more was paid."
    assert order_sends(world, order["id"]) == [txid]
    assert account(world.daemon, "alice") == (sats("1.5") - amount - fee, 0)


def test_withdrawal_to_another_users_deposit_address_is_their_deposit(world_factory):
    """A send from the wallet to itself: the recipient's deposit is real
    (listed as a receive), the sender pays the fee, the audit still holds."""
    world = world_factory()
    alice = funded_alice(world)
    admin = world.client("admin")
    bob = world.client("bob")
    bob_address = register(bob, "bob")
    amount = sats("0.1")

    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {bob_address}"))
    reply = ask(alice, GATEWAY, f"confirm {code}")
    m = re.fullmatch(rf"Sent 0\.1 BTC to {bob_address}: transaction ([0-9a-f]{{64}})\. "
                     r"Network fee: (\S+) BTC\. Your balance is (\S+) BTC\.", reply)
    assert m, reply
    txid = m.group(1)
    fee = -sats(world.node.rpc("gettransaction", txid)["fee"])
    assert sats(m.group(2)) == fee
    seen = bob.wait_message(contact(bob_address), timeout=15)
    assert body(seen).startswith(f"Incoming: 0.1 BTC (transaction {txid[:12]}…)"), body(seen)
    world.mine_tx(txid)
    bob.wait_message(contact(bob_address), timeout=15, contains="credited")

    assert account(world.daemon, "alice") == (sats("1.5") - amount - fee, 0)
    assert account(world.daemon, "bob") == (amount, 0)
    assert wallet_balance(world.node) == sats("1.5") - fee
    # The audit after that block found the wallet covering the ledger.
    wait_polls(world.daemon, world.daemon.log.mark(), count=2)
    assert messages_from(admin, GATEWAY) == []
    assert db_query(world.daemon, "SELECT count(*) FROM state WHERE name = 'withdrawals_frozen'") \
        == [(0,)]


def test_pay_all_to_an_address_sends_everything_net_of_the_fee(world_factory):
    world = world_factory()
    alice = funded_alice(world)
    dest = world.payer.rpc("getnewaddress", "everything")

    recap = ask(alice, GATEWAY, f"pay all {dest}")
    code = code_of(recap)
    assert recap == (
        f"Send your whole balance, 1.5 BTC, to {dest}; the network fee "
        f"(about {fmt(FEE_ESTIMATE)}) comes out of it.\n"
        f"To confirm, type: confirm {code}\n(valid 10 minutes; cancel {code} drops it)")
    reply = ask(alice, GATEWAY, f"confirm {code}")
    # The reply says what the recipient gets: everything less the fee.
    m = re.fullmatch(rf"Sent (\S+) BTC to {dest}: transaction ([0-9a-f]{{64}})\. "
                     r"Network fee: (\S+) BTC\. Your balance is 0 BTC\.", reply)
    assert m, reply
    txid = m.group(2)
    sent, fee = sent_and_fee(world.node, txid)
    assert sats(m.group(3)) == fee
    assert sent == sats("1.5") - fee
    assert sats(m.group(1)) == sent

    world.mine_tx(txid)
    assert received_by(world.payer, dest) == sats("1.5") - fee
    assert balance_of(alice) == (0, 0, 0)
    assert account(world.daemon, "alice") == (0, 0)
    assert wallet_balance(world.node) == 0


# === 4. orders: cancel, expiry, strangers, wrong codes, funds ================================

def test_cancel_drops_an_order(world_factory):
    world = world_factory()
    alice = funded_alice(world)
    bob = world.client("bob")
    register(bob, "bob")

    code = code_of(ask(alice, GATEWAY, "pay 0.1 bob"))
    listing = ask(alice, GATEWAY, "confirm")
    assert re.fullmatch(
        r"Payments waiting \(confirm <code> carries one out, cancel <code> drops it\):\n"
        rf"{code}: 0\.1 BTC to bob, (9|10|11) min left", listing), listing
    assert ask(alice, GATEWAY, f"cancel {code}") == f"Payment {code} cancelled."
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "This payment was cancelled or failed; make a new one with pay."
    assert ask(alice, GATEWAY, f"cancel {code}") == \
        f"You have no payment waiting with the code {code}."
    assert ask(alice, GATEWAY, "cancel") == "You have no payments waiting."
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    assert account(world.daemon, "bob") == (0, 0)
    assert messages_from(bob, user_contact("alice")) == []


def test_waiting_orders_are_bounded(world_factory):
    world = world_factory(extra_config="[main program]\nmax_pending_orders = 2\n")
    alice = funded_alice(world)
    register(world.client("bob"), "bob")
    first = code_of(ask(alice, GATEWAY, "pay 0.1 bob"))
    code_of(ask(alice, GATEWAY, "pay 0.2 bob"))
    assert ask(alice, GATEWAY, "pay 0.3 bob") == \
        "You already have 2 payments waiting: confirm or cancel one first."
    assert ask(alice, GATEWAY, f"cancel {first}") == f"Payment {first} cancelled."
    code_of(ask(alice, GATEWAY, "pay 0.3 bob"))
    assert db_query(world.daemon, "SELECT count(*) FROM orders WHERE state = 'pending'") == [(2,)]


def test_an_expired_order_cannot_be_confirmed(world_factory):
    world = world_factory()
    alice = funded_alice(world)
    register(world.client("bob"), "bob")

    code = code_of(ask(alice, GATEWAY, "pay 0.1 bob"))
    # order_expiry is in minutes (1 at least): move the clock of this one
    # order instead of waiting.
    assert db_write(world.daemon, "UPDATE orders SET expires_at = strftime('%s', 'now') - 1 "
                                  "WHERE code = ?", (code,)) == 1
    expired = alice.wait_message(GATEWAY, timeout=5 * POLL_INTERVAL + 5)
    assert body(expired) == f"Your payment {code} (0.1 BTC to bob) expired without confirmation."
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "This payment expired; make a new one with pay."
    assert order_row(world.daemon, code)["state"] == "expired"
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    assert account(world.daemon, "bob") == (0, 0)


def test_only_the_creator_can_confirm_or_cancel(world_factory):
    world = world_factory()
    alice = funded_alice(world)
    bob = world.client("bob")
    register(bob, "bob")

    code = code_of(ask(alice, GATEWAY, "pay 0.1 bob"))
    # Bob has no waiting payment: no countdown, and nothing says the code
    # exists.
    assert ask(bob, GATEWAY, f"confirm {code}") == \
        "There is no payment waiting with this code."
    assert ask(bob, GATEWAY, f"cancel {code}") == \
        f"You have no payment waiting with the code {code}."
    assert order_row(world.daemon, code)["state"] == "pending"
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    assert account(world.daemon, "bob") == (0, 0)
    # Still alice's to confirm.
    assert ask(alice, GATEWAY, f"confirm {code}") == \
        "Paid 0.1 BTC to bob. Your balance is 1.4 BTC."


def test_three_wrong_codes_cancel_the_waiting_orders(world_factory):
    world = world_factory()
    alice = funded_alice(world)
    register(world.client("bob"), "bob")
    dest = world.payer.rpc("getnewaddress", "x")

    first = code_of(ask(alice, GATEWAY, "pay 0.1 bob"))
    second = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))
    # '0' and '1' are not in the code alphabet: never a real code.
    assert ask(alice, GATEWAY, "confirm 0000") == (
        "There is no payment waiting with this code. "
        "2 more wrong code(s) will cancel your waiting payments.")
    assert ask(alice, GATEWAY, "confirm 1111") == (
        "There is no payment waiting with this code. "
        "1 more wrong code(s) will cancel your waiting payments.")
    assert ask(alice, GATEWAY, "confirm 0101") == \
        "Too many wrong codes: your waiting payments are cancelled."
    assert ask(alice, GATEWAY, "confirm") == "You have no payments waiting."
    for code in (first, second):
        assert order_row(world.daemon, code)["state"] == "cancelled"
        assert ask(alice, GATEWAY, f"confirm {code}") == \
            "This payment was cancelled or failed; make a new one with pay."
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    assert account(world.daemon, "bob") == (0, 0)


def test_insufficient_funds_are_refused_with_the_numbers(world_factory):
    world = world_factory()
    alice = world.client("alice")
    address = register(alice, "alice")
    register(world.client("bob"), "bob")
    deposit(world, alice, address, sats("1.5"))
    dest = world.payer.rpc("getnewaddress", "x")
    # Unconfirmed money does not count, and the refusal says so.
    world.payer.rpc("sendtoaddress", address, Decimal("0.3"))
    alice.wait_message(contact(address), timeout=15, contains="Incoming")
    incoming = " (0.3 BTC incoming is not confirmed yet and does not count.)"

    assert ask(alice, GATEWAY, "pay 2 bob") == \
        "Not enough funds: your spendable balance is 1.5 BTC and this takes 2 BTC." + incoming
    assert ask(alice, GATEWAY, f"pay 2 {dest}") == \
        "Not enough funds: your spendable balance is 1.5 BTC and this takes 2 BTC." + incoming
    assert ask(alice, GATEWAY, f"pay 1.5 {dest}") == (
        f"Not enough for the fee reserve: 1.5 BTC plus {fmt(FEE_RESERVE)} held for the network "
        "fee is more than your balance of 1.5 BTC. \"pay all\" sends everything, fee included.")
    assert ask(alice, GATEWAY, f"pay 0.00001 {dest}") == "The smallest withdrawal is 0.0001 BTC."
    assert db_query(world.daemon, "SELECT count(*) FROM orders") == [(0,)]

    # Two orders that fit one at a time, not together: the second is
    # refused at confirm time and the balance never goes negative.
    first = code_of(ask(alice, GATEWAY, "pay 1 bob"))
    second = code_of(ask(alice, GATEWAY, "pay 1 bob"))
    assert ask(alice, GATEWAY, f"confirm {first}") == \
        "Paid 1 BTC to bob. Your balance is 0.5 BTC."
    assert ask(alice, GATEWAY, f"confirm {second}") == \
        "Not enough funds: your spendable balance is 0.5 BTC and this takes 1 BTC." + incoming
    assert order_row(world.daemon, second)["state"] == "pending"
    assert account(world.daemon, "alice") == (sats("0.5"), 0)
    assert account(world.daemon, "bob") == (sats("1"), 0)


# === 5. the node goes down during a confirm ===================================================

def test_node_down_during_confirm_loses_nothing(world_factory):
    world = world_factory()
    alice = funded_alice(world)
    dest = world.payer.rpc("getnewaddress", "x")
    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))
    hold = sats("0.1") + FEE_RESERVE

    world.node.stop()
    # The connection is refused: the request never reached the wallet, so
    # nothing can have been sent and the hold is released at once.
    started = time.monotonic()
    assert ask(alice, GATEWAY, f"confirm {code}", timeout=3 * RPC_TIMEOUT + 5) == (
        "The Bitcoin node cannot be reached: nothing was sent and your funds are free "
        "again. Try again in a moment.")
    elapsed = time.monotonic() - started
    assert balance_of(alice) == (sats("1.5"), 0, 0)
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    assert order_row(world.daemon, code)["state"] == "failed"
    # What needs no node still works; what needs it says so.
    assert ask(alice, GATEWAY, f"pay 0.1 {dest}") == \
        "The Bitcoin node is unreachable right now; this needs it. Try again in a moment."

    world.node.start()
    order = order_row(world.daemon, code)
    wait_polls(world.daemon, world.daemon.log.mark(), count=2)
    assert order_row(world.daemon, code)["state"] == "failed"
    assert order_sends(world, order["id"]) == []
    assert balance_of(alice) == (sats("1.5"), 0, 0)
    assert wallet_balance(world.node) == sats("1.5")
    print(f"node down during confirm: answered {elapsed:.1f} s after the confirm")


# === 6. the daemon dies at each step of a withdrawal ===========================================

FAULT_STEPS = ["held", "sending", "sent-unrecorded", "sent"]
# Filled by the crash tests, read by the summary after them.
FAULT_RESULTS = {}


@pytest.mark.parametrize("step", FAULT_STEPS)
def test_crash_at_each_withdrawal_step(world_factory, step):
    world = world_factory(env={"BITCOIM_FAULT": step})
    alice = funded_alice(world)
    daemon = world.daemon
    dest = world.payer.rpc("getnewaddress", "x")
    amount = sats("0.1")
    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))

    since = daemon.log.mark()
    alice.send_message(GATEWAY, f"confirm {code}")
    try:
        daemon.log.wait_for(f"fault injection: aborting at {step}", since=since, timeout=15)
        daemon.proc.wait(15)
    except (TimeoutError, RuntimeError) as e:
        pytest.fail(f"the daemon did not abort at {step}: is it built with "
                    f"`cargo build --features fault-injection`? {e}")
    crashed = time.monotonic()
    assert daemon.stop() == -signal.SIGABRT
    order = order_row(daemon, code)
    expected_state = {"held": "held", "sending": "sending",
                      "sent-unrecorded": "sending", "sent": "sent"}[step]
    assert order["state"] == expected_state, order

    daemon.start()  # without BITCOIM_FAULT
    if step == "sending":
        # Not found in the wallet is proof of "not sent" only once a block
        # has come since (a call still queued in the node would have run).
        world.mine(1)
    order = wait_order_state(daemon, code, ("settled", "failed"),
                             timeout=GRACE + RESOLVE_TIMEOUT)
    resolved_after = time.monotonic() - crashed
    # The user, whose confirm was never answered, should hear how it ended
    # (checked last, after the money).
    told = []
    try:
        told.append(body(alice.wait_message(GATEWAY, timeout=3 * POLL_INTERVAL + 2)))
    except AssertionError:
        pass

    txids = order_sends(world, order["id"])
    expected_sends = 1 if step in ("sent-unrecorded", "sent") else 0
    really_sent = really_paid_fee = 0
    for txid in txids:
        sent, fee = sent_and_fee(world.node, txid)
        really_sent += sent
        really_paid_fee += fee
    balance, held = account(daemon, "alice")
    owed_to_alice = sats("1.5") - really_sent - really_paid_fee
    FAULT_RESULTS[step] = {
        "double_sends": max(0, len(txids) - 1),
        "lost_debits": int(balance + held > owed_to_alice),
        "over_debits": int(balance + held < owed_to_alice),
        "resolved_after": resolved_after,
    }

    assert len(txids) == expected_sends, f"{len(txids)} sends for order {order['id']}: {txids}"
    assert balance + held == owed_to_alice, \
        f"alice has {balance} + {held} held; deposits minus what really left: {owed_to_alice}"
    assert held == 0
    assert order["state"] == ("settled" if expected_sends else "failed")
    assert order["txid"] == (txids[0] if txids else None)
    assert resolved_after <= GRACE + 4 * POLL_INTERVAL + 5, \
        f"resolved {resolved_after:.1f} s after the crash (grace {GRACE} s)"
    assert wallet_balance(world.node) == balance
    if txids:
        world.mine_tx(txids[0])
        assert received_by(world.payer, dest) == amount
    assert balance_of(alice) == (balance, 0, 0)

    if step == "sent":
        # The txid was stored before the crash: reconciliation only had to
        # settle the fee, and says so.
        _, fee = sent_and_fee(world.node, txids[0])
        expected = (f"Sent 0.1 BTC to {dest}: transaction {txids[0]}. Network fee: "
                    f"{fmt(fee)}. Your balance is {fmt(balance)}.")
    elif expected_sends:
        expected = f"Your withdrawal of 0.1 BTC to {dest} did go out: transaction {txids[0]}."
    else:
        expected = (f"Your withdrawal of 0.1 BTC to {dest} did not go out; the funds are free "
                    "again. Your balance is 1.5 BTC.")
    assert expected in told, f"after a crash at '{step}' alice was told {told}"


def test_fault_injection_summary(capsys):
    if not FAULT_RESULTS:
        pytest.skip("no crash test ran")
    steps = len(FAULT_RESULTS)
    double = sum(r["double_sends"] for r in FAULT_RESULTS.values())
    lost = sum(r["lost_debits"] for r in FAULT_RESULTS.values())
    over = sum(r["over_debits"] for r in FAULT_RESULTS.values())
    slowest = max(r["resolved_after"] for r in FAULT_RESULTS.values())
    with capsys.disabled():
        print(f"\nfault injection: {steps} steps tested ({', '.join(FAULT_RESULTS)}), "
              f"{double} double sends, {lost} lost debits, {over} over-debits; "
              f"slowest resolution {slowest:.1f} s after the crash (grace {GRACE} s)")
    assert (double, lost, over) == (0, 0, 0)


# === 7. a lost RPC reply ========================================================================

def test_lost_sendtoaddress_reply_is_reconciled_without_a_resend(world_factory):
    world = world_factory(proxy=True)
    alice = funded_alice(world)
    dest = world.payer.rpc("getnewaddress", "x")
    amount = sats("0.1")
    hold = amount + FEE_RESERVE
    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))

    world.proxy.script_send(("drop-reply",))
    started = time.monotonic()
    assert ask(alice, GATEWAY, f"confirm {code}") == UNKNOWN_TEXT
    order = order_row(world.daemon, code)
    assert order["state"] == "unknown"
    # The node did send; the daemon does not know yet and keeps the hold.
    [txid] = order_sends(world, order["id"])
    assert balance_of(alice) == (sats("1.5") - hold, 0, hold)

    text = body(alice.wait_message(GATEWAY, timeout=RESOLVE_TIMEOUT))
    elapsed = time.monotonic() - started
    assert text == f"Your withdrawal of 0.1 BTC to {dest} did go out: transaction {txid}."
    order = order_row(world.daemon, code)
    assert (order["state"], order["txid"]) == ("settled", txid)
    # (A refused call before it, such as a daemon probing whether the node
    # takes fee_rate, sent nothing: the proxy relays it and drops the next.)
    sends = world.proxy.sends()
    assert sends.count("reply-dropped") == 1 and sends[-1] == "reply-dropped", \
        f"sendtoaddress was called again: {sends}"
    assert order_sends(world, order["id"]) == [txid]
    sent, fee = sent_and_fee(world.node, txid)
    assert (sent, order["fee"]) == (amount, fee)
    assert balance_of(alice) == (sats("1.5") - amount - fee, 0, 0)
    assert wallet_balance(world.node) == sats("1.5") - amount - fee
    world.mine_tx(txid)
    assert received_by(world.payer, dest) == amount
    print(f"lost reply: reconciled {elapsed:.1f} s after the confirm")


# === 8. the RPC error matrix ======================================================================

# Definite refusals: nothing was sent, the hold goes at once. The messages
# are bitcoind's own for these codes.
REFUSALS = [
    (-3, "Invalid amount for send"),
    (-5, "Invalid Bitcoin address"),
    (-6, "Insufficient funds"),
    (-8, "Invalid parameter"),
    (-13, "Error: Please enter the wallet passphrase with walletpassphrase first."),
]

# Ambiguous failures: the node may have sent; the hold stays until
# reconciliation proves it did not.
AMBIGUOUS = [
    ("error", -1, "std::exception"),
    ("error", -4, "Error: The transaction was rejected!"),
    ("error", -32603, "Internal error"),
    ("http", 500, "<html><body>500 Internal Server Error</body></html>"),
    ("stall", RPC_TIMEOUT + 2),
]


def _withdrawal_through_proxy(world_factory):
    world = world_factory(proxy=True)
    alice = funded_alice(world)
    dest = world.payer.rpc("getnewaddress", "x")
    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))
    return world, alice, dest, code


@pytest.mark.parametrize("code, message", REFUSALS, ids=[str(c) for c, _ in REFUSALS])
def test_definite_refusal_releases_the_hold_at_once(world_factory, code, message):
    world, alice, dest, order_code = _withdrawal_through_proxy(world_factory)
    world.proxy.script_send(("error", code, message))
    assert ask(alice, GATEWAY, f"confirm {order_code}") == (
        f"The Bitcoin node refused this withdrawal ({message}, code {code}); nothing was sent "
        "and your funds are free again.")
    assert balance_of(alice) == (sats("1.5"), 0, 0)
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    order = order_row(world.daemon, order_code)
    assert order["state"] == "failed"
    assert world.proxy.sends() == [f"error {code}"]
    assert order_sends(world, order["id"]) == []
    assert ask(alice, GATEWAY, f"confirm {order_code}") == \
        "This payment was cancelled or failed; make a new one with pay."


@pytest.mark.parametrize("action", AMBIGUOUS,
                         ids=["-1", "-4", "-32603", "http-500-not-json", "timeout"])
def test_ambiguous_failure_holds_until_reconciliation(world_factory, action):
    world, alice, dest, order_code = _withdrawal_through_proxy(world_factory)
    hold = sats("0.1") + FEE_RESERVE
    world.proxy.script_send(action)
    started = time.monotonic()
    assert ask(alice, GATEWAY, f"confirm {order_code}",
               timeout=RPC_TIMEOUT + 10) == UNKNOWN_TEXT
    assert order_row(world.daemon, order_code)["state"] == "unknown"
    assert balance_of(alice) == (sats("1.5") - hold, 0, hold)

    # Past the grace period, the wallet has no trace of it, but no block has
    # come since: a call still queued in the node could run yet. It stays held.
    while time.monotonic() - started < GRACE + 1:
        time.sleep(0.2)
    wait_polls(world.daemon, world.daemon.log.mark(), count=2)
    assert order_row(world.daemon, order_code)["state"] == "unknown"
    world.mine(1)
    text = body(alice.wait_message(GATEWAY, timeout=RESOLVE_TIMEOUT))
    elapsed = time.monotonic() - started
    assert text == (f"Your withdrawal of 0.1 BTC to {dest} did not go out; the funds are "
                    "free again. Your balance is 1.5 BTC.")
    assert elapsed >= GRACE - 1, f"released after {elapsed:.1f} s, before the grace period"
    order = order_row(world.daemon, order_code)
    assert order["state"] == "failed"
    assert len(world.proxy.sends()) == 1, world.proxy.sends()
    assert order_sends(world, order["id"]) == []
    assert balance_of(alice) == (sats("1.5"), 0, 0)
    assert account(world.daemon, "alice") == (sats("1.5"), 0)


def test_the_nodes_own_insufficient_funds_then_the_audit_freezes(world_factory):
    """The real -6: alice's ledger says more than the wallet holds (written
    into the database: no command can make that happen), and she withdraws
    more than the wallet has."""
    world = world_factory()
    alice = funded_alice(world)
    bob = world.client("bob")
    admin = world.client("admin")
    register(bob, "bob")
    dest = world.payer.rpc("getnewaddress", "x")

    daemon = world.daemon
    daemon.stop()
    unbacked = sats("8.5")
    db_write(daemon, "INSERT INTO ledger (user_id, kind, amount, reference, created_at) "
                     "SELECT id, 'deposit', ?, 'test:unbacked', strftime('%s', 'now') "
                     "FROM users WHERE username = 'alice'", (unbacked,))
    db_write(daemon, "UPDATE users SET balance = balance + ? WHERE username = 'alice'",
             (unbacked,))
    daemon.start()
    assert balance_of(alice) == (sats("10"), 0, 0)

    code = code_of(ask(alice, GATEWAY, f"pay 5 {dest}"))
    assert ask(alice, GATEWAY, f"confirm {code}") == (
        "The Bitcoin node refused this withdrawal (Insufficient funds, code -6); nothing was "
        "sent and your funds are free again.")
    assert balance_of(alice) == (sats("10"), 0, 0)
    assert order_row(daemon, code)["state"] == "failed"

    # After the next block the daemon's own audit sees the hole.
    world.mine(1)
    alert = admin.wait_message(GATEWAY, timeout=10)
    assert body(alert) == ("Audit failed: the wallet holds 1.5 BTC but the ledger owes 10 BTC. "
                           "Withdrawals are frozen; type unfreeze once it is understood.")
    assert ask(alice, GATEWAY, f"pay 0.1 {dest}") == \
        "Withdrawals are frozen while the administrators check the wallet; payments to users still work."
    # Internal payments go on.
    code = code_of(ask(alice, GATEWAY, "pay 1 bob"))
    assert ask(alice, GATEWAY, f"confirm {code}") == "Paid 1 BTC to bob. Your balance is 9 BTC."
    assert wallet_balance(world.node) == sats("1.5")


def test_the_hourly_withdrawal_limit_refuses_and_alerts_once(world_factory):
    world = world_factory(extra_config="\n[main program]\nmax_withdrawals_per_hour = 1\n")
    alice = funded_alice(world)
    admin = world.client("admin")
    dest = world.payer.rpc("getnewaddress", "x")

    first = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))
    second = code_of(ask(alice, GATEWAY, f"pay 0.2 {dest}"))
    assert ask(alice, GATEWAY, f"confirm {first}").startswith("Sent 0.1 BTC")
    limited = ("Withdrawals are paused for a while: the gateway's hourly limit is reached. "
               "Your payment is still waiting; confirm it again later. Payments to users "
               "still work.")
    assert ask(alice, GATEWAY, f"confirm {second}") == limited
    assert order_row(world.daemon, second)["state"] == "pending"
    assert body(admin.wait_message(GATEWAY, timeout=10)) == (
        "The limit of 1 withdrawals per hour is reached; further withdrawals are refused "
        "until the hour has passed.")
    # Told once, not at every refusal.
    assert ask(alice, GATEWAY, f"confirm {second}") == limited
    time.sleep(1)
    assert messages_from(admin, GATEWAY) == []
    assert len(order_sends(world, order_row(world.daemon, first)["id"])) == 1
    assert order_sends(world, order_row(world.daemon, second)["id"]) == []


def test_an_encrypted_wallet_is_unlocked_for_each_withdrawal(world_factory, tmp_path):
    passphrase_file = tmp_path / "wallet-passphrase"
    passphrase_file.write_text("correct horse battery staple\n")
    world = world_factory(extra_config=f"\n[bitcoin]\npassphrase_file = {passphrase_file}\n")
    alice = funded_alice(world)
    dest = world.payer.rpc("getnewaddress", "x")

    # encryptwallet shuts this node down; it comes back encrypted and locked.
    node = world.node
    try:
        node.rpc("encryptwallet", "correct horse battery staple")
    except (testbed.RpcError, OSError):
        pass
    node.proc.wait(30)
    node.proc = None
    node.start()
    world.wait_synced()
    with pytest.raises(testbed.RpcError) as locked:
        node.rpc("sendtoaddress", dest, 0.01)
    assert locked.value.code == -13

    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))
    reply = ask(alice, GATEWAY, f"confirm {code}", timeout=3 * RPC_TIMEOUT + 5)
    assert reply.startswith("Sent 0.1 BTC"), reply
    assert len(order_sends(world, order_row(world.daemon, code)["id"])) == 1

    # A wrong passphrase: nothing is sent and the funds are free again.
    passphrase_file.write_text("wrong\n")
    before = balance_of(alice)
    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {dest}"))
    reply = ask(alice, GATEWAY, f"confirm {code}", timeout=3 * RPC_TIMEOUT + 5)
    assert reply.startswith("The Bitcoin node refused this withdrawal (cannot unlock the wallet"), reply
    assert "code -13" in reply
    assert balance_of(alice) == before
    assert order_row(world.daemon, code)["state"] == "failed"
    assert order_sends(world, order_row(world.daemon, code)["id"]) == []
    # The passphrase never reaches the log.
    assert "correct horse" not in world.daemon.log.text()
