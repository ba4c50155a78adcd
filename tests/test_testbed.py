"""The testbed itself, without bitcoIM: when these fail, the daemon's tests
cannot say anything, so read these first."""

from decimal import Decimal

from client import error_condition

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def test_slixmpp_talks_to_prosody(alice):
    reply = alice.iq("localhost", f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert reply.get("type") == "result"
    identities = reply.findall(f"{{{NS_DISCO_INFO}}}query/{{{NS_DISCO_INFO}}}identity")
    assert ("server", "im") in {(i.get("category"), i.get("type")) for i in identities}


def test_prosody_bounces_iqs_while_no_component_is_connected(alice):
    # So a daemon that is down shows up as this error, not as a timeout.
    reply = alice.iq("bitcoin.localhost", "<ping xmlns='urn:xmpp:ping'/>")
    assert error_condition(reply) == "remote-server-timeout"


def test_regtest_node_mines_and_amounts_are_exact_decimals(node):
    assert len(node.generate(101)) == 101
    balance = node.rpc("getbalance")
    assert isinstance(balance, Decimal) and balance == Decimal("50")
