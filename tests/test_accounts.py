"""Accounts, addresses as contacts, and presence, as a user's client sees
them through a real Prosody, with a real regtest node behind the daemon.

Every test gets its own Prosody (rosters and pending subscriptions would
otherwise leak from one test to the next), its own node (so its own wallet)
and its own daemon and database.
"""

import base64
import hashlib
import shutil
import subprocess
import time

import pytest

from client import NS_CLIENT, bare, body, error_condition
from helpers import (
    befriend, expect_address_subscription, expect_new_account_subscriptions, q, refused,
    register, register_iq, result)
from jids import contact
from ledger_db import db_write
import testbed

GATEWAY = testbed.COMPONENT_JID
DOMAIN = testbed.DOMAIN
NS_REGISTER = "jabber:iq:register"
NS_DATA = "jabber:x:data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_GATEWAY = "jabber:iq:gateway"
NS_VCARD = "vcard-temp"
NS_VCARD_UPDATE = "vcard-temp:x:update"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_PING = "urn:xmpp:ping"
NS_RECEIPTS = "urn:xmpp:receipts"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

MAINNET_ADDRESS = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"


# --- fixtures: a private world per test ---------------------------------------

@pytest.fixture
def gateway(private_prosody, node, daemon_factory):
    """The daemon, configured for this test's Prosody and node."""
    return daemon_factory(private_prosody, node)


@pytest.fixture
def alice(private_prosody, gateway, client_factory):
    return client_factory(private_prosody, "alice")


@pytest.fixture
def bob(private_prosody, gateway, client_factory):
    return client_factory(private_prosody, "bob")


@pytest.fixture
def admin(private_prosody, gateway, client_factory):
    """admin@localhost, an admin in the testbed's config."""
    return client_factory(private_prosody, "admin")


# --- helpers --------------------------------------------------------------------

def registration(client):
    """The XEP-0077 form as `client` sees it: (registered?, legacy username,
    data-form username value)."""
    query = result(client.iq(GATEWAY, q(NS_REGISTER))).find(f"{{{NS_REGISTER}}}query")
    form_value = None
    for field in query.iterfind(f"{{{NS_DATA}}}x/{{{NS_DATA}}}field"):
        if field.get("var") == "username":
            form_value = field.findtext(f"{{{NS_DATA}}}value")
    return (query.find(f"{{{NS_REGISTER}}}registered") is not None,
            query.findtext(f"{{{NS_REGISTER}}}username") or None,
            form_value)


def assert_wallet_address(node, address, label):
    """A real address of the node's wallet, labelled with the username."""
    info = node.rpc("validateaddress", address)
    assert info["isvalid"] and info["ismine"], info
    received = node.rpc("listreceivedbyaddress", 0, True)
    entry = next((e for e in received if e["address"] == address), None)
    assert entry is not None, f"{address} not in listreceivedbyaddress"
    assert entry.get("label", entry.get("account")) == label, entry


def disco_identity(client, jid):
    query = result(client.iq(jid, q(NS_DISCO_INFO))).find(f"{{{NS_DISCO_INFO}}}query")
    identities = query.findall(f"{{{NS_DISCO_INFO}}}identity")
    assert len(identities) == 1, identities
    i = identities[0]
    return i.get("category"), i.get("type"), i.get("name")


def disco_items(client):
    query = result(client.iq(GATEWAY, q(NS_DISCO_ITEMS))).find(f"{{{NS_DISCO_ITEMS}}}query")
    return {item.get("jid"): item.get("name")
            for item in query.findall(f"{{{NS_DISCO_ITEMS}}}item")}


def vcard(client, jid):
    return result(client.iq(jid, q(NS_VCARD, "vCard"))).find(f"{{{NS_VCARD}}}vCard")


def set_balance(daemon, username, sats):
    """No deposits are credited yet: write the balance as a deposit would."""
    changed = db_write(daemon, "UPDATE users SET balance = ? WHERE username = ?",
                       (sats, username))
    assert changed == 1


# --- XEP-0077 registration ---------------------------------------------------------

def test_registration_form_for_a_newcomer(alice):
    query = result(alice.iq(GATEWAY, q(NS_REGISTER))).find(f"{{{NS_REGISTER}}}query")
    assert query.findtext(f"{{{NS_REGISTER}}}instructions", "").strip()
    assert query.find(f"{{{NS_REGISTER}}}username") is not None
    assert query.find(f"{{{NS_REGISTER}}}registered") is None
    form = query.find(f"{{{NS_DATA}}}x")
    assert form is not None and form.get("type") == "form"
    fields = {f.get("var"): f for f in form.iter(f"{{{NS_DATA}}}field")}
    assert fields["FORM_TYPE"].get("type") == "hidden"
    assert fields["FORM_TYPE"].findtext(f"{{{NS_DATA}}}value") == NS_REGISTER
    username = fields["username"]
    assert username.get("type") == "text-single"
    assert username.find(f"{{{NS_DATA}}}required") is not None
    assert username.findtext(f"{{{NS_DATA}}}value") is None


def test_register_gives_a_wallet_address_and_two_subscriptions(alice, node):
    result(register_iq(alice, "alice"))
    address = expect_new_account_subscriptions(alice)
    assert address[0] in "mn2", f"{address} is not a regtest base58 address"
    assert_wallet_address(node, address, "alice")
    assert registration(alice) == (True, "alice", "alice")


def test_register_with_a_data_form(alice, node):
    form = (f"<x xmlns='{NS_DATA}' type='submit'>"
            f"<field var='FORM_TYPE' type='hidden'><value>{NS_REGISTER}</value></field>"
            "<field var='username'><value>alice</value></field></x>")
    result(alice.iq(GATEWAY, q(NS_REGISTER, inner=form), "set"))
    address = expect_new_account_subscriptions(alice)
    assert_wallet_address(node, address, "alice")
    assert registration(alice) == (True, "alice", "alice")


@pytest.mark.parametrize("username, rule", [
    ("9abc", "starts with a letter"),
    ("a", "at least 2"),
    ("a" * 25, "at most 24"),
    ("bad name", "' '"),
    ("zoé", "'é'"),
])
def test_invalid_usernames_say_which_rule(alice, username, rule):
    text = refused(register_iq(alice, username), "not-acceptable")
    assert rule in text, text
    assert registration(alice) == (False, None, None)


def test_invalid_username_by_chat_says_which_rule(alice):
    reply = alice.chat(GATEWAY, "register 9abc")
    assert "starts with a letter" in reply, reply
    assert registration(alice) == (False, None, None)


def test_username_taken_by_another_user_is_a_conflict(alice, bob):
    register(alice, "alice", verify=True)
    text = refused(register_iq(bob, "alice"), "conflict")
    assert "alice" in text and "taken" in text, text
    # Usernames are case-insensitive.
    refused(register_iq(bob, "Alice"), "conflict")
    assert registration(bob) == (False, None, None)


def test_registering_again_with_another_name_renames(alice, bob):
    address = register(alice, "alice", verify=True)
    result(register_iq(alice, "alicia"))
    assert registration(alice) == (True, "alicia", "alicia")
    assert disco_identity(bob, f"alicia@{GATEWAY}") == ("account", "registered", "alicia")
    refused(bob.iq(f"alice@{GATEWAY}", q(NS_DISCO_INFO)), "item-not-found")
    # Same account: same address, and the old name is free again.
    assert disco_items(alice) == {contact(address): address}
    register(bob, "alice", verify=True)


def test_unregister_with_an_empty_wallet(alice):
    address = register(alice, "alice", verify=True)
    befriend(alice, GATEWAY)
    befriend(alice, contact(address))

    result(alice.iq(GATEWAY, q(NS_REGISTER, inner="<remove/>"), "set"))
    assert registration(alice) == (False, None, None)
    for jid in (GATEWAY, contact(address)):
        alice.wait_presence(jid, "unsubscribe")
        alice.wait_presence(jid, "unsubscribed")


def test_unregister_when_not_registered_is_registration_required(alice):
    refused(alice.iq(GATEWAY, q(NS_REGISTER, inner="<remove/>"), "set"),
            "registration-required")


def test_unregister_is_refused_while_the_wallet_holds_money(gateway, alice):
    register(alice, "alice", verify=True)
    set_balance(gateway, "alice", 1000)

    text = refused(alice.iq(GATEWAY, q(NS_REGISTER, inner="<remove/>"), "set"), "not-allowed")
    assert "0.00001 BTC" in text, text
    reply = alice.chat(GATEWAY, "unregister")
    assert "0.00001 BTC" in reply, reply
    assert registration(alice) == (True, "alice", "alice")


# --- chat ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["hello", "help"])
def test_newcomer_writing_anything_gets_the_welcome(alice, text):
    reply = alice.chat(GATEWAY, text)
    assert "register <username>" in reply, reply


def test_register_and_unregister_by_chat(bob, node):
    reply = bob.chat(GATEWAY, "register bob")
    address = expect_new_account_subscriptions(bob)
    assert "bob" in reply and address in reply, reply
    assert_wallet_address(node, address, "bob")
    assert registration(bob) == (True, "bob", "bob")

    befriend(bob, GATEWAY)
    befriend(bob, contact(address))
    reply = bob.chat(GATEWAY, "unregister")
    assert reply.strip()
    assert registration(bob) == (False, None, None)
    for jid in (GATEWAY, contact(address)):
        bob.wait_presence(jid, "unsubscribe")
        bob.wait_presence(jid, "unsubscribed")
    refused(bob.iq(f"bob@{GATEWAY}", q(NS_DISCO_INFO)), "item-not-found")

    # Registering again from the same JID brings the account back, with its
    # address.
    reply = bob.chat(GATEWAY, "register bob")
    assert expect_new_account_subscriptions(bob) == address
    assert address in reply, reply


def test_french_speakers_get_french(alice, node):
    alice.send_message(GATEWAY, "bonjour", lang="fr")
    welcome = alice.wait_message(GATEWAY)
    assert welcome.get(XML_LANG) == "fr"
    assert "inscrire <nom>" in body(welcome), body(welcome)

    alice.send_message(GATEWAY, "inscrire carol", lang="fr")
    reply = body(alice.wait_message(GATEWAY))
    address = expect_new_account_subscriptions(alice)
    assert "carol" in reply and address in reply and "Bienvenue" in reply, reply
    assert_wallet_address(node, address, "carol")
    assert registration(alice) == (True, "carol", "carol")


def test_unknown_command_from_a_registered_user(alice):
    register(alice, "alice", verify=True)
    reply = alice.chat(GATEWAY, "fly me to the moon")
    assert "I don't know" in reply, reply


@pytest.mark.parametrize("as_uri", [False, True], ids=["address", "uri"])
def test_an_address_alone_opens_a_chat_with_its_contact(alice, node, as_uri):
    register(alice, "alice", verify=True)
    other = node.rpc("getnewaddress", "somebody")
    alice.send_message(GATEWAY, f"bitcoin:{other}" if as_uri else other)
    hello = alice.wait_message(contact(other))
    assert other in body(hello), body(hello)


def test_a_mainnet_address_is_refused_on_regtest(alice):
    register(alice, "alice", verify=True)
    reply = alice.chat(GATEWAY, MAINNET_ADDRESS)
    assert "mainnet" in reply, reply


def receipt(client, sender, acked, timeout=5.0):
    """The XEP-0184 ack from `sender` (bare JID) of our message `acked`."""
    def match(s):
        received = s.find(f"{{{NS_RECEIPTS}}}received")
        return (s.tag == f"{{{NS_CLIENT}}}message" and bare(s.get("from")) == sender
                and received is not None and received.get("id") == acked)

    return client.wait_for(match, timeout, f"a receipt of {acked} from {sender}")


def disco_features(client, jid):
    query = result(client.iq(jid, q(NS_DISCO_INFO))).find(f"{{{NS_DISCO_INFO}}}query")
    return {f.get("var") for f in query.iterfind(f"{{{NS_DISCO_INFO}}}feature")}


def test_the_gateway_and_contacts_send_delivery_receipts(alice):
    address = register(alice, "alice", verify=True)
    for to in (GATEWAY, contact(address)):
        assert NS_RECEIPTS in disco_features(alice, to), to
    for n, (to, text) in enumerate([(GATEWAY, "balance"), (GATEWAY, "fly away"),
                                    (contact(address), "history")]):
        acked = f"receipt-{n}"
        alice.send_xml(f"<message to='{to}' type='chat' id='{acked}'><body>{text}</body>"
                       f"<request xmlns='{NS_RECEIPTS}'/></message>")
        ack = receipt(alice, to, acked)
        assert ack.get("type") == "chat", ack.attrib
        assert ack.get("id") and ack.get("id") != acked, ack.attrib
        assert ack.find(f"{{{NS_RECEIPTS}}}request") is None, "an ack asks for no ack"
        assert body(alice.wait_message(to)), f"{text!r} is answered as well"
    # No request, no receipt.
    alice.send_xml(f"<message to='{GATEWAY}' type='chat' id='plain'><body>balance</body></message>")
    alice.wait_message(GATEWAY)
    time.sleep(0.5)
    assert not alice.received(lambda s: s.find(f"{{{NS_RECEIPTS}}}received") is not None)


OMEMO_MESSAGE = (
    "<message to='{to}' type='chat' id='{id}'>"
    "<encrypted xmlns='eu.siacs.conversations.axolotl'><header sid='1'>"
    "<key rid='2'>a2V5</key><iv>aXY=</iv></header><payload>cGF5</payload></encrypted>"
    "<body>address</body>"
    "<encryption xmlns='urn:xmpp:eme:0' namespace='eu.siacs.conversations.axolotl'/>"
    "<request xmlns='urn:xmpp:receipts'/></message>")


def test_an_omemo_message_gets_one_sentence_and_is_not_read(alice):
    first = register(alice, "alice", verify=True)
    alice.send_xml(OMEMO_MESSAGE.format(to=GATEWAY, id="omemo-1"))
    reply = body(alice.wait_message(GATEWAY))
    assert reply.startswith("I cannot read encrypted messages"), reply
    assert "encryption off" in reply, reply
    receipt(alice, GATEWAY, "omemo-1")
    # Its fallback body, "address", was not taken as the command: no
    # second reply, no new address asking to be a contact.
    time.sleep(1)
    assert not alice.received(lambda s: s.get("from", "").endswith(GATEWAY)
                              and (body(s) is not None or s.get("type") == "subscribe"))
    assert disco_items(alice) == {contact(first): first}


# --- contacts: discovery, vCards, XEP-0100 -----------------------------------------

def test_contacts_answer_disco_info(alice, bob):
    address = register(alice, "alice", verify=True)
    assert disco_identity(bob, contact(address)) == ("hierarchy", "leaf", address)
    assert disco_identity(bob, f"alice@{GATEWAY}") == ("account", "registered", "alice")
    refused(bob.iq(f"nobody@{GATEWAY}", q(NS_DISCO_INFO)), "item-not-found")


def test_unknown_contacts_answer_item_not_found_to_presence_and_messages(alice):
    nobody = f"nobody@{GATEWAY}"
    alice.send_presence(nobody, "subscribe")
    error = alice.wait_presence(nobody, "error")
    assert error_condition(error) == "item-not-found"
    alice.send_message(nobody, "hello?")
    error = alice.wait_for(
        lambda s: s.tag == "{jabber:client}message" and s.get("from") == nobody
        and s.get("type") == "error", what=f"a message error from {nobody}")
    assert error_condition(error) == "item-not-found"


def test_only_the_owner_sees_what_an_address_received(alice, bob):
    address = register(alice, "alice", verify=True)
    mine = befriend(alice, contact(address))
    assert mine.findtext("{jabber:client}status", "").startswith("My address: received 0 BTC")
    bob.send_presence(contact(address), "subscribe")
    bob.wait_presence(contact(address), "subscribed")
    theirs = bob.wait_presence(contact(address))
    assert theirs.find("{jabber:client}status") is None, theirs.findtext("{jabber:client}status")


def test_address_vcard_has_a_qr_code_of_its_uri(alice, tmp_path):
    address = register(alice, "alice", verify=True)
    card = vcard(alice, contact(address))
    assert card.findtext(f"{{{NS_VCARD}}}FN") == address
    photo = card.find(f"{{{NS_VCARD}}}PHOTO")
    assert photo.findtext(f"{{{NS_VCARD}}}TYPE") == "image/png"
    png = base64.b64decode(photo.findtext(f"{{{NS_VCARD}}}BINVAL"))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = tmp_path / "qr.png"
    image.write_bytes(png)
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg missing: run contrib/dev/install-deps.sh"
    decoded = subprocess.run([zbarimg, "--raw", "-q", str(image)],
                             capture_output=True, text=True, timeout=30)
    assert decoded.stdout.strip() == f"bitcoin:{address}", decoded

    # XEP-0153: the contact's presence carries the photo's hash.
    presence = befriend(alice, contact(address))
    assert presence.findtext(f"{{{NS_VCARD_UPDATE}}}x/{{{NS_VCARD_UPDATE}}}photo") \
        == hashlib.sha1(png).hexdigest()


def test_user_vcard_shows_the_real_jid_only_to_self_and_admins(alice, bob, admin):
    register(alice, "alice", verify=True)
    register(bob, "bob", verify=True)
    jid = f"alice@{GATEWAY}"
    for asker, sees_jid in ((alice, True), (admin, True), (bob, False)):
        card = vcard(asker, jid)
        assert card.findtext(f"{{{NS_VCARD}}}NICKNAME") == "alice"
        assert card.findtext(f"{{{NS_VCARD}}}FN") == (f"alice@{DOMAIN}" if sees_jid else None), \
            asker.jid


def test_disco_items_show_own_addresses_and_users_to_admins(alice, bob, admin):
    address = register(alice, "alice", verify=True)
    assert disco_items(bob) == {}
    assert disco_items(alice) == {contact(address): address}
    assert disco_items(admin) == {f"alice@{GATEWAY}": "alice"}
    # Admins page through the users (XEP-0059): the page says where it
    # ends, and the page after it is empty.
    rsm = "http://jabber.org/protocol/rsm"
    page = result(admin.iq(GATEWAY, q(NS_DISCO_ITEMS))).find(f"{{{NS_DISCO_ITEMS}}}query")
    assert page.findtext(f"{{{rsm}}}set/{{{rsm}}}last") == "alice"
    after = q(NS_DISCO_ITEMS, inner=f"<set xmlns='{rsm}'><after>alice</after></set>")
    rest = result(admin.iq(GATEWAY, after)).find(f"{{{NS_DISCO_ITEMS}}}query")
    assert rest.findall(f"{{{NS_DISCO_ITEMS}}}item") == []


def test_gateway_prompt_turns_addresses_and_usernames_into_jids(alice, bob, node):
    register(alice, "alice", verify=True)
    query = result(bob.iq(GATEWAY, q(NS_GATEWAY))).find(f"{{{NS_GATEWAY}}}query")
    assert query.findtext(f"{{{NS_GATEWAY}}}desc", "").strip()
    assert query.findtext(f"{{{NS_GATEWAY}}}prompt", "").strip()

    def prompt(text):
        return bob.iq(GATEWAY, q(NS_GATEWAY, inner=f"<prompt>{text}</prompt>"), "set")

    other = node.rpc("getnewaddress", "somebody")
    for typed, jid in ((other, contact(other)), (f"bitcoin:{other}", contact(other)),
                       ("alice", f"alice@{GATEWAY}")):
        reply = result(prompt(typed))
        assert reply.findtext(f"{{{NS_GATEWAY}}}query/{{{NS_GATEWAY}}}jid") == jid, typed
    refused(prompt("no such thing"), "item-not-found")


# --- presence -------------------------------------------------------------------------

def caps_ver(query):
    """XEP-0115 section 5.1, for a disco#info reply without extended forms."""
    identities = sorted(
        "/".join((i.get("category"), i.get("type"), i.get(XML_LANG) or "", i.get("name") or ""))
        for i in query.findall(f"{{{NS_DISCO_INFO}}}identity"))
    features = sorted(f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature"))
    s = "".join(x + "<" for x in identities + features)
    return base64.b64encode(hashlib.sha1(s.encode()).digest()).decode()


def features_of(reply):
    query = reply.find(f"{{{NS_DISCO_INFO}}}query")
    return {f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature")}


def test_subscribing_to_the_gateway_shows_the_balance_and_caps(alice):
    register(alice, "alice", verify=True)
    alice.send_presence(GATEWAY, "subscribe")
    alice.wait_presence(GATEWAY, "subscribed")
    presence = alice.wait_presence(GATEWAY)
    status = presence.findtext("{jabber:client}status", "")
    assert status.startswith("Balance: 0 BTC"), status

    caps = presence.find(f"{{{NS_CAPS}}}c")
    assert caps is not None and caps.get("hash") == "sha-1"
    node, ver = caps.get("node"), caps.get("ver")
    assert node and ver
    plain = result(alice.iq(GATEWAY, q(NS_DISCO_INFO)))
    assert caps_ver(plain.find(f"{{{NS_DISCO_INFO}}}query")) == ver
    by_node = result(alice.iq(GATEWAY, q(NS_DISCO_INFO, node=f"{node}#{ver}")))
    assert features_of(by_node) == features_of(plain)


def test_newcomer_subscribing_to_the_gateway_is_told_to_register(alice):
    alice.send_presence(GATEWAY, "subscribe")
    alice.wait_presence(GATEWAY, "subscribed")
    status = alice.wait_presence(GATEWAY).findtext("{jabber:client}status", "")
    assert "register" in status, status


def test_probe_is_answered_with_the_balance(gateway, alice):
    register(alice, "alice", verify=True)
    set_balance(gateway, "alice", 250_000)
    alice.send_presence(GATEWAY, "probe")
    status = alice.wait_presence(GATEWAY).findtext("{jabber:client}status", "")
    assert status.startswith("Balance: 0.0025 BTC"), status


def test_goodbye_on_sigterm_and_probes_on_start_up(gateway, alice):
    register(alice, "alice", verify=True)
    befriend(alice, GATEWAY)

    assert gateway.stop() == 0
    alice.wait_presence(GATEWAY, "unavailable")
    assert "said goodbye to 1 online users" in gateway.log.text()
    # The goodbye came last from the old daemon: what arrived before it
    # is stale.
    alice.forget()

    since = gateway.log.mark()
    gateway.start()
    gateway.log.wait_for("probing 1 registered users", since=since, timeout=5)
    # Prosody answers the probe with alice's presence; the gateway answers
    # that with its own.
    status = alice.wait_presence(GATEWAY).findtext("{jabber:client}status", "")
    assert status.startswith("Balance: 0 BTC"), status


# --- the node comes and goes -----------------------------------------------------------

# The daemon looks at a node that was down again every 30 s.
NODE_BACK_TIMEOUT = 60


def test_node_down_at_start_up(private_prosody, node, daemon_factory, client_factory):
    node.stop()
    daemon = daemon_factory(private_prosody, node)
    alice = client_factory(private_prosody, "alice")

    reply = alice.chat(GATEWAY, "register alice")
    assert "unreachable" in reply, reply
    alice.wait_presence(GATEWAY, "subscribe")
    assert registration(alice) == (True, "alice", "alice")

    node.start()
    address = expect_address_subscription(alice, timeout=NODE_BACK_TIMEOUT)
    assert_wallet_address(node, address, "alice")
    assert disco_items(alice) == {contact(address): address}
    assert daemon.proc.poll() is None


def test_node_going_away_mid_run(gateway, node, alice, bob):
    register(alice, "alice", verify=True)
    node.stop()

    reply = bob.chat(GATEWAY, "register bob")
    assert "unreachable" in reply, reply
    bob.wait_presence(GATEWAY, "subscribe")
    assert registration(bob) == (True, "bob", "bob")
    result(bob.iq(GATEWAY, q(NS_PING, "ping")))
    result(alice.iq(GATEWAY, q(NS_PING, "ping")))

    node.start()
    address = expect_address_subscription(bob, timeout=NODE_BACK_TIMEOUT)
    assert_wallet_address(node, address, "bob")
    assert gateway.proc.poll() is None
