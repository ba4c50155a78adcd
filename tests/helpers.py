"""Steps that several test files take the same way, written once: the
payload of an IQ, the check of its reply, a chat exchange with a contact,
registration with the gateway and the subscription requests that follow,
and approving a contact.

What lives elsewhere:
- client.py: the slixmpp client itself and the readers of any stanza
  (body, bare, error_condition, error_text); it knows nothing of bitcoIM.
- jids.py: the contacts' JIDs, computed as src/bitcoin/address.rs documents them.
- ledger_db.py: the daemon's SQLite database, read and written.
- conftest.py: the pytest fixtures (Prosody, node, daemon, clients).
- A test file keeps the helpers that only it uses.
"""

import re

from client import NS_CLIENT, bare, error_condition, error_text
from jids import GATEWAY, address_nick_pattern, contact, node_address

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_NICK = "http://jabber.org/protocol/nick"
NS_REGISTER = "jabber:iq:register"

# --- IQs ------------------------------------------------------------------------

def q(ns, name="query", inner="", **attrs):
    """A payload element, e.g. q(NS_VERSION) is <query xmlns='jabber:iq:version'>
    </query>; `inner` is its XML content, `attrs` more attributes."""
    extra = "".join(f" {k}='{v}'" for k, v in attrs.items())
    return f"<{name} xmlns='{ns}'{extra}>{inner}</{name}>"

def result(reply):
    """The reply, after checking that it is a result (else show the error)."""
    assert reply.get("type") == "result", (
        f"expected a result, got {error_condition(reply)}: {error_text(reply)}")
    return reply

def refused(reply, condition, app=None):
    """Checks that the reply is an error with that defined condition (and,
    with `app`, that XEP-0050 application condition, e.g. 'bad-sessionid');
    returns the error's text, '' if it has none."""
    assert reply.get("type") == "error", "expected an error, got a result"
    assert error_condition(reply) == condition, (
        f"expected {condition}, got {error_condition(reply)}: {error_text(reply)}")
    if app:
        error = reply.find(f"{{{NS_CLIENT}}}error")
        assert error.find(f"{{{NS_COMMANDS}}}{app}") is not None, (
            f"no <{app} xmlns='{NS_COMMANDS}'/> in the error")
    return error_text(reply) or ""

# --- chat -----------------------------------------------------------------------

def ask(client, to, text, timeout=10.0):
    """Sends `text` to `to`; the body of the next message from `to`."""
    return client.chat(to, text, timeout=timeout)

# --- registration and contacts -----------------------------------------------------

def register_iq(client, username):
    """The reply to a XEP-0077 registration under `username`."""
    return client.iq(GATEWAY, q(NS_REGISTER, inner=f"<username>{username}</username>"), "set")

def expect_address_subscription(client, timeout=5.0, verify=True, rank=None):
    """A subscription request from an address contact; returns the address
    (decoded from the contact's JID). verify: check that the contact's JID
    is that address's encoding and that the request has the nick "deposit
    N (abcd…yz)" (with `rank`, that N is rank)."""
    sub = client.wait_for(
        lambda s: s.tag == f"{{{NS_CLIENT}}}presence" and s.get("type") == "subscribe"
        and s.get("from", "").endswith(f"@{GATEWAY}"),
        timeout, "a subscription request from an address contact")
    address = node_address(bare(sub.get("from")).split("@")[0])
    if verify:
        assert sub.get("from") == contact(address), (
            f"contact JID {sub.get('from')} is not the encoding of {address}")
        nick = sub.findtext(f"{{{NS_NICK}}}nick")
        assert nick, "the address contact's subscription request has no nick"
        m = re.fullmatch(address_nick_pattern(address), nick)
        assert m, f"nick {nick!r} does not name {address}"
        assert rank is None or int(m.group(2)) == rank, f"{nick!r}: not address {rank}"
    return address

def expect_new_account_subscriptions(client, verify=True):
    """The two subscription requests a new account receives, the gateway's
    then its first address's; returns that address. verify: check the
    gateway's nick and the address contact (expect_address_subscription)."""
    gw = client.wait_presence(GATEWAY, "subscribe")
    if verify:
        assert gw.findtext(f"{{{NS_NICK}}}nick") == "bitcoIM"
    return expect_address_subscription(client, verify=verify, rank=1)

def register(client, username, verify=False):
    """Registers by XEP-0077 and takes the account's two subscription
    requests; returns the first deposit address. verify: also check those
    requests (expect_new_account_subscriptions), as test_accounts.py does."""
    result(register_iq(client, username))
    return expect_new_account_subscriptions(client, verify)

def befriend(client, jid):
    """What a client does with a contact that asked to be added: approve
    it and subscribe back; returns the contact's available presence."""
    client.accept(jid)
    client.send_presence(jid, "subscribe")
    client.wait_presence(jid, "subscribed")
    return client.wait_presence(jid)

def go_online(client):
    """Befriends the gateway, so that the daemon sees the user's presence
    (and knows when they leave)."""
    befriend(client, GATEWAY)
