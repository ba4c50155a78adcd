"""Money under chain reality (issue 9), as users and admins see it through a
real Prosody, with real coins on real regtest nodes: a deposit re-mined in
another block, a deposit double-spent on a competing chain after it was
spent, a zero-value output, a payee renamed between recap and confirm, user
text that looks like a template, a user of another virtual host, and a
ledger restored from a backup before a withdrawal whose reply is lost.

The world is test_money.py's: a module-wide funded payer node and, per
test, bitcoIM's own node peered with it, a private Prosody and the daemon.
Reorganisations are made the way TESTBED.md describes ("Reorgs and
conflicts on the testbed node"): `invalidateblock` on the payer and
mining to a fresh address; or the two nodes cut apart with
`setnetworkactive`, each side mining its own spend of the same coin.

The testbed node (Bitcoin SV 1.0.13) has no `removed` in listsinceblock
and drops a conflicted deposit from it. Bitcoin Core has `removed`, with
the transactions' current confirmations. The reorg tests therefore run
twice: through tests/rpc_proxy.py's scripted double of Core's
listsinceblock ("core-proxy"), and against the node's own answers
("real-node"). The daemon must be right with both.

    cargo build --features fault-injection
    BITCOIM_BIN=target/debug/bitcoim /usr/bin/python3 -m pytest -v tests/test_chain.py
"""

import re
import shutil
import time
from decimal import Decimal

import pytest

from client import Client, body, error_condition, error_text
from helpers import ask
from jids import contact
from ledger_db import account, db_query
from test_money import (  # noqa: F401  (payer and world_factory are fixtures)
    GATEWAY, RESOLVE_TIMEOUT, UNKNOWN_TEXT, balance_of, code_of, deposit, fmt,
    funded_alice, history_of, messages_from, payer, register, sats, to_btc,
    user_contact, wait_order_state, wait_polls, world_factory)
import testbed

# RpcProxy options: listsinceblock answered as Bitcoin Core answers it.
CORE = {"core_listsinceblock": True}
SEMANTICS = {"core-proxy": CORE, "real-node": False}

# The fee of the raw transactions the tests build by hand (far above the
# node's -minminingtxfee for a one-input transaction).
RAW_FEE = Decimal("0.0001")

# After a reorganisation, how long the daemon may take to act on it: a
# few polls (1 s each) and the time to fetch what it needs.
REORG_TIMEOUT = 15.0

OTHER_DOMAIN = "elsewhere.localhost"


# --- helpers --------------------------------------------------------------------------------

def wait_balance(client, expected, timeout, why):
    """Polls the `balance` command until it shows `expected`
    (spendable, incoming, held); fails with `why` and the last reply."""
    deadline = time.monotonic() + timeout
    while True:
        seen = balance_of(client)
        if seen == expected:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{why}: `balance` still says {tuple(fmt(x) for x in seen)} "
                        f"after {timeout:.0f} s, expected {tuple(fmt(x) for x in expected)}")
        time.sleep(0.5)


def columns(daemon, table):
    return {row[1] for row in db_query(daemon, f"PRAGMA table_info({table})")}


def debt_of(daemon, username):
    """users.debt: what a user owes after a reversal that could not take
    everything back (the user's `balance` reply shows it too, see
    debt_line)."""
    assert "debt" in columns(daemon, "users"), (
        "the users table has no debt column: the daemon records no debt when a "
        "reversal cannot take back what was already spent (issue 9, item 2)")
    rows = db_query(daemon, "SELECT debt FROM users WHERE username = ? AND removed_at IS NULL",
                    (username,))
    assert len(rows) == 1, rows
    return rows[0][0]


def debt_line(client):
    """The debt line of the `balance` reply, or None."""
    text = ask(client, GATEWAY, "balance")
    m = re.search(r"^Owed after a reversed deposit: (\S+) BTC", text, re.M)
    return sats(m.group(1)) if m else None


def outpoint_net(daemon, txid, vout):
    """Credits minus reversals of one deposit outpoint: the sum, over the
    ledger entries referencing 'txid:vout', of what each changed the
    user's balance minus what it added to their debt (a reversal that could
    not take everything back takes the rest as debt). The rule:
    always 0 or the deposit's amount, never anything else."""
    net = "amount - debt" if "debt" in columns(daemon, "ledger") else "amount"
    return db_query(daemon, f"SELECT coalesce(sum({net}), 0) FROM ledger WHERE reference = ?",
                    (f"{txid}:{vout}",))[0][0]


def ledger_kinds(daemon, txid, vout):
    return [kind for (kind,) in db_query(
        daemon, "SELECT kind FROM ledger WHERE reference = ? ORDER BY id", (f"{txid}:{vout}",))]


def deposit_state(daemon, txid, vout):
    rows = db_query(daemon, "SELECT state FROM deposits WHERE txid = ? AND vout = ?", (txid, vout))
    assert rows, f"no deposits row for {txid}:{vout}"
    return rows[0][0]


def output_to(node, raw_or_txid, address):
    """The index of the output of a transaction paying `address`."""
    hex_tx = raw_or_txid
    if re.fullmatch(r"[0-9a-f]{64}", raw_or_txid):
        hex_tx = node.rpc("getrawtransaction", raw_or_txid)
    outputs = node.rpc("decoderawtransaction", hex_tx)["vout"]
    found = [o["n"] for o in outputs if o["scriptPubKey"].get("addresses") == [address]]
    assert len(found) == 1, f"{len(found)} outputs to {address}: {outputs}"
    return found[0]


def pick_coin(payer, at_least):
    """A confirmed coin of the payer worth `at_least` BTC and more, locked
    so that the payer's own sends leave it to the test."""
    for utxo in payer.rpc("listunspent", 1):
        if utxo.get("spendable") and utxo["amount"] >= at_least + 1:
            assert payer.rpc("lockunspent", False, [{"txid": utxo["txid"], "vout": utxo["vout"]}])
            return utxo
    pytest.fail(f"testbed: the payer has no confirmed coin of {at_least} BTC or more")


def signed_spend(payer, coin, outputs):
    """A transaction spending `coin` to `outputs` ({address: BTC}), signed by
    the payer and not broadcast: (hex, txid)."""
    raw = payer.rpc("createrawtransaction", [{"txid": coin["txid"], "vout": coin["vout"]}],
                    outputs)
    signed = payer.rpc("signrawtransaction", raw)
    assert signed["complete"], signed
    return signed["hex"], payer.rpc("decoderawtransaction", signed["hex"])["txid"]


def listing_key(txid):
    """Where the testbed node lists a wallet transaction: in the order of
    the txid's internal (reversed) bytes (TESTBED.md)."""
    return bytes.fromhex(txid)[::-1]


def cursor_height(world):
    """The height of the block where the daemon's deposit poller resumes
    (its listsinceblock cursor, in the state table: no command shows it);
    -1 before the first poll."""
    rows = db_query(world.daemon,
                    "SELECT value FROM state WHERE name = 'listsinceblock_cursor'")
    return world.node.rpc("getblock", rows[0][0])["height"] if rows else -1


def bury_under_cursor(world, height, mine):
    """Mines blocks with `mine(n)` until the daemon's cursor is at `height`
    or above, so that a reorganisation that replaces the block at `height`
    leaves the cursor on the stale branch: the only case where Bitcoin Core
    answers with a `removed` array. (A daemon may keep its cursor some
    blocks below the tip; a reorganisation shallower than that is listed by
    Core in `transactions` only.)"""
    for _ in range(4):
        wait_polls(world.daemon, world.daemon.log.mark(), count=2)
        missing = height - cursor_height(world)
        if missing <= 0:
            return
        mine(missing)
    pytest.fail(f"testbed: the daemon's cursor never reached height {height} "
                f"(it is at {cursor_height(world)})")


def admin_alerts(admin, needle):
    """The admin's messages from the gateway received so far that contain
    `needle`, without taking them."""
    return [m for m in messages_from(admin, GATEWAY) if needle in m]


def wait_admin_alerts(admin, needle, timeout, what):
    """admin_alerts(), once there is at least one (none taken)."""
    deadline = time.monotonic() + timeout
    while True:
        alerts = admin_alerts(admin, needle)
        if alerts:
            return alerts
        if time.monotonic() > deadline:
            pytest.fail(f"no admin alert about {what} ({needle}) within {timeout:.0f} s; "
                        f"the admin got: {messages_from(admin, GATEWAY)}")
        time.sleep(0.1)


# === 1. a credited deposit re-mined in another block =========================================

@pytest.mark.parametrize("semantics", list(SEMANTICS))
def test_credited_deposit_remined_in_another_block_stays_credited(world_factory, semantics):
    """Issue 9, item 1. The block holding a credited deposit is replaced by
    a longer chain that mines the same transaction again. The deposit never
    stopped being confirmed: alice keeps her 1 BTC, is not told it was
    taken back, and the admins are not alerted.

    Bitcoin Core then lists the transaction both in `transactions` and in
    `removed`, with its current, positive confirmations in both; the daemon
    treated every `removed` entry as conflicted (-1) and reversed it for
    good. The real node has no `removed`: it lists the re-mined transaction
    once, confirmed.

    Core answers with `removed` only when the daemon's cursor is on the
    stale branch: through the proxy, the deposit is first buried under the
    cursor (no extra block for a daemon whose cursor is the tip), so the
    reorganisation may be deeper than one block. Against the real node it
    replaces the deposit's block alone, as a typical reorganisation does."""
    world = world_factory(proxy=SEMANTICS[semantics])
    alice = world.client("alice")
    admin = world.client("admin")
    address = register(alice, "alice")
    amount = sats("1")
    txid = deposit(world, alice, address, amount)
    vout = output_to(world.node, txid, address)
    stale = world.node.rpc("gettransaction", txid)["blockhash"]
    if world.proxy is not None:
        bury_under_cursor(world, world.node.rpc("getblock", stale)["height"], world.mine)
    else:
        wait_polls(world.daemon, world.daemon.log.mark(), count=2)
    replaced = world.node.rpc("getblock", stale)["confirmations"]

    # The payer drops the block and those after it (their transactions go
    # back to its mempool) and mines one block more to a fresh address: the
    # first new block mines the deposit again, the last makes that chain
    # the longer one for bitcoIM's node.
    world.payer.rpc("invalidateblock", stale)
    assert txid in world.payer.rpc("getrawmempool"), "testbed: the deposit did not return " \
                                                    "to the payer's mempool"
    world.payer.rpc("generatetoaddress", replaced + 1, world.payer.rpc("getnewaddress", "reorg"))
    world.wait_synced()
    tx = world.node.rpc("gettransaction", txid)
    assert tx["blockhash"] != stale and tx["confirmations"] == replaced + 1, \
        f"testbed: the deposit was not re-mined in another block: {tx}"
    assert world.node.rpc("getblock", stale)["confirmations"] == -1

    wait_polls(world.daemon, world.daemon.log.mark(), count=4)
    if world.proxy is not None:
        # The situation really reached the daemon: Core's `removed` listed
        # the deposit, confirmed.
        served = [c for t, v, c in world.proxy.removed_served if (t, v) == (txid, vout)]
        assert served and all(c > 0 for c in served), \
            f"the proxy served no removed entry for the deposit: {world.proxy.removed_served}"

    assert balance_of(alice) == (amount, 0, 0), \
        "a deposit re-mined in another block was taken back from alice"
    assert account(world.daemon, "alice") == (amount, 0)
    taken_back = [m for m in messages_from(alice, contact(address)) if "taken back" in m]
    assert taken_back == [], f"alice was told her deposit was taken back: {taken_back}"
    assert admin_alerts(admin, txid[:12]) == [], "the admins were alerted about a deposit " \
                                                 "that is still confirmed"
    assert deposit_state(world.daemon, txid, vout) == "credited"
    assert ledger_kinds(world.daemon, txid, vout).count("deposit") == 1, \
        ledger_kinds(world.daemon, txid, vout)
    assert outpoint_net(world.daemon, txid, vout) == amount, \
        f"credits minus reversals of the deposit: {ledger_kinds(world.daemon, txid, vout)}"


# === 2. a credited and spent deposit double-spent on a competing chain =========================

@pytest.mark.parametrize("semantics", list(SEMANTICS))
def test_credited_and_spent_deposit_double_spent_is_reversed_with_a_debt(world_factory,
                                                                         semantics):
    """Issue 9, item 2 (and the rule "the wallet's current view decides").
    alice's 1 BTC deposit is confirmed on the chain bitcoIM's node sees
    first, credited, and she pays 0.6 BTC of it to bob. A longer chain then
    wins in which the same coin went elsewhere: the deposit is conflicted.

    The reversal takes what alice still has (0.4 BTC) and records the rest
    as her debt (0.6 BTC), which an admin is told about, naming the
    transaction; bob keeps what he was paid; alice's next deposit repays the
    debt first. Per outpoint, credits minus reversals is 0 once reversed:
    today's reversal takes min(amount, balance) and keeps no record of the
    rest, so a later re-credit of the full amount would create money.

    With Core's semantics the conflicted deposit is in `removed` with
    negative confirmations (the losing side grows until the daemon's cursor
    is on it, so that Core does list it there); the real node drops it from
    listsinceblock altogether, so the daemon can only learn it from
    gettransaction: there the losing side is one block, the winning side
    two, as in a typical reorganisation."""
    world = world_factory(proxy=SEMANTICS[semantics])
    payer = world.payer
    alice = world.client("alice")
    bob = world.client("bob")
    admin = world.client("admin")
    address = register(alice, "alice")
    register(bob, "bob")
    amount, paid = sats("1"), sats("0.6")

    # One coin of the payer, spent two ways: to alice, and to the payer.
    coin = pick_coin(payer, Decimal(2))
    deposit_hex, deposit_txid = signed_spend(payer, coin, {
        address: to_btc(amount),
        payer.rpc("getrawchangeaddress"): coin["amount"] - to_btc(amount) - RAW_FEE})
    conflict_hex, conflict_txid = signed_spend(payer, coin, {
        payer.rpc("getnewaddress", "double spend"): coin["amount"] - RAW_FEE})
    vout = output_to(payer, deposit_hex, address)

    # bitcoIM's node, cut off from the payer, sees the deposit first and
    # mines it (its block will lose).
    world.node.set_network_active(False)
    world.node.rpc("sendrawtransaction", deposit_hex)
    alice.wait_message(contact(address), timeout=15, contains="Incoming")
    fork = world.node.rpc("getblockcount")
    orphan_address = payer.rpc("getnewaddress", "orphaned")

    def mine_losing_side(n):
        world.node.rpc("generatetoaddress", n, orphan_address)

    mine_losing_side(1)
    alice.wait_message(contact(address), timeout=15, contains="credited")
    assert balance_of(alice) == (amount, 0, 0)
    code = code_of(ask(alice, GATEWAY, "pay 0.6 bob"))
    assert ask(alice, GATEWAY, f"confirm {code}") == "Paid 0.6 BTC to bob. Your balance is 0.4 BTC."
    bob.wait_message(user_contact("alice"), contains="paid you")
    if world.proxy is not None:
        bury_under_cursor(world, fork + 1, mine_losing_side)
    else:
        wait_polls(world.daemon, world.daemon.log.mark(), count=2)
    losing = world.node.rpc("getblockcount") - fork

    # Meanwhile the payer spends the same coin to itself and mines a longer
    # chain; the nodes meet again and bitcoIM's node follows it.
    payer.rpc("sendrawtransaction", conflict_hex)
    payer.rpc("generatetoaddress", losing + 1, payer.rpc("getnewaddress", "winning chain"))
    world.node.set_network_active(True)
    world.wait_synced()
    confirmations = world.node.rpc("gettransaction", deposit_txid)["confirmations"]
    assert confirmations < 0, f"testbed: the deposit is not conflicted ({confirmations})"
    assert world.node.rpc("getrawtransaction", conflict_txid, 1)["confirmations"] == losing + 1

    wait_balance(alice, (0, 0, 0), REORG_TIMEOUT,
                 "the conflicted deposit was not reversed from alice's balance")
    if world.proxy is not None:
        served = [c for t, v, c in world.proxy.removed_served if (t, v) == (deposit_txid, vout)]
        assert served and all(c < 0 for c in served), \
            f"the proxy served no conflicted removed entry: {world.proxy.removed_served}"
    alerts = wait_admin_alerts(admin, deposit_txid[:12], 5, "the reversed deposit")
    assert any(fmt(paid) in a for a in alerts), \
        f"the admins' alert about {deposit_txid} does not name the {fmt(paid)} shortfall: {alerts}"
    assert debt_of(world.daemon, "alice") == paid
    assert debt_line(alice) == paid, "alice's `balance` must tell her what she owes"
    assert account(world.daemon, "alice") == (0, 0)
    assert balance_of(bob) == (paid, 0, 0), "bob must keep what alice paid him"
    assert account(world.daemon, "bob") == (paid, 0)
    assert outpoint_net(world.daemon, deposit_txid, vout) == 0, \
        f"credits minus reversals of {deposit_txid}:{vout} is not 0: " \
        f"{ledger_kinds(world.daemon, deposit_txid, vout)}"

    # alice's next deposit repays her debt first.
    fresh = payer.rpc("sendtoaddress", address, to_btc(amount))
    world.mine_tx(fresh)
    wait_balance(alice, (amount - paid, 0, 0), REORG_TIMEOUT,
                 "alice's next deposit did not repay her debt first")
    assert debt_of(world.daemon, "alice") == 0
    assert debt_line(alice) is None
    assert account(world.daemon, "alice") == (amount - paid, 0)
    fresh_vout = output_to(world.node, fresh, address)
    assert outpoint_net(world.daemon, fresh, fresh_vout) == amount
    assert outpoint_net(world.daemon, deposit_txid, vout) == 0
    assert balance_of(bob) == (paid, 0, 0)


# === 3. a zero-value output ==================================================================

def test_zero_value_output_does_not_stop_later_deposits(world_factory):
    """Issue 9, item 3. A transaction with a 0-value output to alice's
    deposit address (the node accepts and mines it) cannot be credited. It
    must be set aside and told to the admins once, naming it, and never
    stop the poller: alice's next deposit of 0.2 BTC is credited.

    Today the zero amount fails the deposits row's CHECK on every poll, and
    the poll gives up before the entries after it and before moving its
    cursor. The 0.2 BTC deposit is built so that the node lists it after
    the zero-value one (the node lists in txid order), the order in which
    the stall hides it."""
    world = world_factory()
    payer = world.payer
    alice = world.client("alice")
    admin = world.client("admin")
    address = register(alice, "alice")

    coin = pick_coin(payer, Decimal(1))
    zero_hex, zero_txid = signed_spend(payer, coin, {
        address: Decimal(0), payer.rpc("getrawchangeaddress"): coin["amount"] - RAW_FEE})
    payer.rpc("sendrawtransaction", zero_hex)
    world.mine_tx(zero_txid)

    coin = pick_coin(payer, Decimal(1))
    change = payer.rpc("getrawchangeaddress")
    for extra in range(64):
        deposit_hex, deposit_txid = signed_spend(payer, coin, {
            address: Decimal("0.2"),
            change: coin["amount"] - Decimal("0.2") - RAW_FEE - to_btc(extra)})
        if listing_key(deposit_txid) > listing_key(zero_txid):
            break
    else:
        pytest.fail("testbed: no deposit listed after the zero-value output in 64 tries")
    payer.rpc("sendrawtransaction", deposit_hex)
    world.mine_tx(deposit_txid)
    listed = [e["txid"] for e in world.node.rpc("listsinceblock", "", 1)["transactions"]]
    assert listed.index(zero_txid) < listed.index(deposit_txid), \
        "testbed: the node does not list the zero-value output first"

    wait_balance(alice, (sats("0.2"), 0, 0), REORG_TIMEOUT,
                 "the 0.2 BTC deposit after a zero-value output was never credited")
    assert account(world.daemon, "alice") == (sats("0.2"), 0)
    wait_admin_alerts(admin, zero_txid[:12], 5, "the zero-value output")
    # Told once, not at every poll.
    wait_polls(world.daemon, world.daemon.log.mark(), count=5)
    alerts = admin_alerts(admin, zero_txid[:12])
    assert len(alerts) == 1, f"the admins were told {len(alerts)} times: {alerts}"
    assert balance_of(alice) == (sats("0.2"), 0, 0)


# === 4. a payee renamed between recap and confirm ================================================

def test_payment_follows_the_person_not_the_username(world_factory):
    """Issue 9, item 4. alice prepares "pay 0.1 bob"; bob renames himself
    robert and carol takes the name bob; alice confirms. The order was for
    the person alice saw in the recap: nothing is paid, alice is told so,
    and carol (a stranger to this order) gets neither money nor a notice.
    Today the order keeps the username and resolves it again at confirm
    time: carol gets the 0.1 BTC and "alice paid you"."""
    world = world_factory()
    alice = funded_alice(world)
    bob = world.client("bob")
    carol = world.client("carol")
    register(bob, "bob")

    code = code_of(ask(alice, GATEWAY, "pay 0.1 bob"))
    assert ask(bob, GATEWAY, "register robert") == "You are now known as robert (you were bob)."
    register(carol, "bob")
    reply = ask(alice, GATEWAY, f"confirm {code}")
    assert reply.startswith("Nothing was paid"), f"alice confirmed and was told: {reply!r}"

    # carol's balance reply comes after any notice the confirm sent her.
    assert balance_of(carol) == (0, 0, 0), "a stranger who took the name got the payment"
    notices = [m for m in messages_from(carol, user_contact("alice")) if "paid you" in m]
    assert notices == [], f"carol was told she was paid: {notices}"
    assert balance_of(bob) == (0, 0, 0)
    assert balance_of(alice) == (sats("1.5"), 0, 0)
    assert account(world.daemon, "alice") == (sats("1.5"), 0)
    assert account(world.daemon, "bob") == (0, 0)  # carol, now "bob"
    assert account(world.daemon, "robert") == (0, 0)


# === 5. user text is never a template ==========================================================

def test_comment_with_braces_reaches_the_payee_verbatim(world_factory):
    """Issue 9, item 5. A comment is user text: "{balance} {amount}
    {sender}" reaches bob as those very characters. Today the message's
    placeholders are filled one after another, so a "{balance}" in the
    comment became bob's balance."""
    world = world_factory()
    alice = funded_alice(world)
    bob = world.client("bob")
    register(bob, "bob")
    comment = "{balance} {amount} {sender}"

    recap = ask(alice, GATEWAY, f"pay 0.1 bob {comment}")
    code = code_of(recap)
    assert recap.startswith(f"Pay 0.1 BTC to bob «{comment}».\nBalance left: 1.4 BTC.\n"), recap
    assert ask(alice, GATEWAY, f"confirm {code}") == "Paid 0.1 BTC to bob. Your balance is 1.4 BTC."
    note = body(bob.wait_message(user_contact("alice")))
    assert note == f"alice paid you 0.1 BTC: «{comment}». Your balance is 0.1 BTC."
    assert history_of(bob) == [("+", sats("0.1"), f"from alice «{comment}»")]
    assert history_of(alice)[0] == ("-", sats("0.1"), f"to bob «{comment}»")


# === 6. allowed domains =========================================================================

@pytest.fixture
def two_host_prosody(tmp_path):
    """A Prosody serving localhost and a second virtual host, with alice on
    the first and zed on the second."""
    prosody = testbed.Prosody(tmp_path / "two-hosts", extra_hosts=[OTHER_DOMAIN]).start()
    prosody.register("alice", "alice-pass")
    prosody.register("zed", "zed-pass", host=OTHER_DOMAIN)
    yield prosody
    prosody.stop()


def test_user_of_another_virtual_host_is_refused(two_host_prosody, daemon_factory,
                                                 client_factory):
    """Issue 9, item 8. The default allowed_domains is the parent domain of
    the component's JID (bitcoin.localhost serves localhost). zed, a user
    of another virtual host of the same server, is refused, by chat and by
    XEP-0077, with a reply naming the domain that may register; no account
    is made. Today any JID of any domain can register and hold money."""
    daemon = daemon_factory(two_host_prosody)  # no node needed to register
    zed = Client(f"zed@{OTHER_DOMAIN}", "zed-pass", two_host_prosody.c2s_port)
    try:
        reply = ask(zed, GATEWAY, "register zed")
        assert re.search(r"(?<![\w.-])localhost\b", reply) and "only" in reply.lower(), \
            f"zed@{OTHER_DOMAIN} was not refused with the allowed domain: {reply!r}"
        iq = zed.iq(GATEWAY, "<query xmlns='jabber:iq:register'><username>zed</username></query>",
                    "set")
        assert iq.get("type") == "error" and error_condition(iq) == "not-allowed", \
            f"XEP-0077 registration from {OTHER_DOMAIN}: {iq.get('type')} " \
            f"{error_condition(iq)} {error_text(iq)!r}"
    finally:
        zed.close()
    assert db_query(daemon, "SELECT jid FROM users WHERE jid LIKE ?", (f"%@{OTHER_DOMAIN}",)) == []

    # A user of the allowed domain still registers (no node: no address yet).
    alice = client_factory(two_host_prosody, "alice")
    assert ask(alice, GATEWAY, "register alice").startswith("Welcome, alice!")
    assert db_query(daemon, "SELECT username FROM users") == [("alice",)]


# === 7. a ledger restored from a backup, then a lost reply ======================================

def copy_database(database, directory):
    """Copies the SQLite file and its -wal/-shm (of a stopped daemon)."""
    directory.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = database.with_name(database.name + suffix)
        if source.exists():
            shutil.copy2(source, directory / source.name)


def restore_database(database, directory):
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    for saved in directory.iterdir():
        shutil.copy2(saved, database.parent / saved.name)


def test_restored_ledger_then_lost_reply_settles_against_the_new_transaction(world_factory,
                                                                             tmp_path):
    """Issue 9, item 6. The operator restores the database from a backup
    made before a withdrawal that did go out: the ledger forgets it, and
    the next order gets the same SQLite rowid. That next withdrawal is
    really sent but its reply is lost. Reconciliation must settle it
    against the transaction the node made for it, never against the
    forgotten one. Today the wallet comment is "bitcoim order <rowid>", the
    same for both, and reconciliation takes the first match: the older
    transaction.

    The wallet holds 1 BTC more than the users own (an operator's float),
    so that the restored ledger, which owes more than the wallet kept,
    does not trip the solvency audit: this test is about reconciliation."""
    world = world_factory(proxy=True)
    payer = world.payer
    alice = funded_alice(world)
    daemon = world.daemon
    world.mine_tx(payer.rpc("sendtoaddress", world.node.rpc("getnewaddress", "operator float"),
                            Decimal(1)))

    daemon.stop()
    backup = tmp_path / "backup"
    copy_database(daemon.database, backup)
    daemon.start()

    first_dest = payer.rpc("getnewaddress", "first withdrawal")
    code = code_of(ask(alice, GATEWAY, f"pay 0.1 {first_dest}"))
    reply = ask(alice, GATEWAY, f"confirm {code}")
    m = re.match(rf"Sent 0\.1 BTC to {first_dest}: transaction ([0-9a-f]{{64}})\.", reply)
    assert m, reply
    first_txid = m.group(1)

    daemon.stop()
    restore_database(daemon.database, backup)
    daemon.start()
    assert db_query(daemon, "SELECT count(*) FROM orders") == [(0,)], "the backup was not restored"
    assert balance_of(alice) == (sats("1.5"), 0, 0)

    second_dest = payer.rpc("getnewaddress", "second withdrawal")
    code = code_of(ask(alice, GATEWAY, f"pay 0.05 {second_dest}"))
    world.proxy.script_send(("drop-reply",))
    assert ask(alice, GATEWAY, f"confirm {code}") == UNKNOWN_TEXT
    [second_txid] = world.proxy.dropped_results
    assert second_txid and re.fullmatch(r"[0-9a-f]{64}", second_txid), \
        f"testbed: the node's reply to the dropped call: {second_txid!r}"
    assert second_txid != first_txid

    order = wait_order_state(daemon, code, ("sent", "settled", "failed"), RESOLVE_TIMEOUT)
    assert order["txid"] == second_txid, (
        f"order {order['id']} was settled against {order['txid']}"
        + (" (the withdrawal the restored ledger forgot)" if order["txid"] == first_txid else "")
        + f", not {second_txid}, the transaction the node made for it")
    assert order["state"] in ("sent", "settled"), order
    sends = world.proxy.sends()
    assert sends.count("reply-dropped") == 1 and sends[-1] == "reply-dropped", \
        f"sendtoaddress was called again after the lost reply: {sends}"
    wallet_sends = {e["txid"] for e in world.node.rpc("listtransactions", "*", 10_000, 0)
                    if e.get("category") == "send" and e.get("address") == second_dest}
    assert wallet_sends == {second_txid}, f"the node sent {wallet_sends} for the second order"
    # alice hears how it ended (the first news of the order since the
    # unclear answer), with the right transaction.
    told = [m for m in messages_from(alice, GATEWAY) if second_dest in m]
    if not told:
        told = [body(alice.wait_message(GATEWAY, timeout=5, contains=second_dest))]
    assert told[0] == (f"Your withdrawal of 0.05 BTC to {second_dest} did go out: "
                       f"transaction {second_txid}."), told
