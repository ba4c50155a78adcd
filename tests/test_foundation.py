"""The gateway's basic XMPP surface, as a user's client sees it through a
real Prosody: discovery, version, ping, last activity, vCard, errors, and
the daemon's life cycle (reconnect after a server restart, clean SIGTERM,
--check)."""

import subprocess
import time

from client import error_condition
from helpers import q, result
import testbed

GATEWAY = testbed.COMPONENT_JID
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_VERSION = "jabber:iq:version"
NS_LAST = "jabber:iq:last"
NS_PING = "urn:xmpp:ping"
NS_VCARD = "vcard-temp"


def test_disco_info_says_bitcoin_gateway_and_lists_features(daemon, alice):
    query = result(alice.iq(GATEWAY, q(NS_DISCO_INFO))).find(f"{{{NS_DISCO_INFO}}}query")
    identities = {
        (i.get("category"), i.get("type"))
        for i in query.findall(f"{{{NS_DISCO_INFO}}}identity")
    }
    assert ("gateway", "bitcoin") in identities
    features = {f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature")}
    for feature in (NS_DISCO_INFO, NS_DISCO_ITEMS, NS_VERSION, NS_LAST, NS_PING, NS_VCARD):
        assert feature in features


def test_disco_items_answers(daemon, alice):
    reply = result(alice.iq(GATEWAY, q(NS_DISCO_ITEMS)))
    assert reply.find(f"{{{NS_DISCO_ITEMS}}}query") is not None


def test_version_is_bitcoim_and_matches_the_binary(daemon, alice):
    query = result(alice.iq(GATEWAY, q(NS_VERSION))).find(f"{{{NS_VERSION}}}query")
    assert query.findtext(f"{{{NS_VERSION}}}name") == "bitcoIM"
    version = query.findtext(f"{{{NS_VERSION}}}version")
    assert version
    cli = subprocess.run([str(testbed.bitcoim_bin()), "--version"],
                         capture_output=True, text=True, timeout=10)
    assert version in cli.stdout


def test_ping_gets_a_result(daemon, alice):
    result(alice.iq(GATEWAY, q(NS_PING, "ping")))


def test_last_activity_is_an_uptime_that_grows(daemon, alice):
    def seconds():
        query = result(alice.iq(GATEWAY, q(NS_LAST))).find(f"{{{NS_LAST}}}query")
        return int(query.get("seconds"))

    first = seconds()
    assert first >= 0
    # More than a second apart, so a whole-second counter must have moved.
    time.sleep(1.2)
    assert seconds() > first


def test_vcard_names_the_gateway(daemon, alice):
    vcard = result(alice.iq(GATEWAY, q(NS_VCARD, "vCard"))).find(f"{{{NS_VCARD}}}vCard")
    assert vcard.findtext(f"{{{NS_VCARD}}}FN") == "bitcoIM"
    assert vcard.findtext(f"{{{NS_VCARD}}}DESC", "").strip()


def test_unknown_namespace_is_service_unavailable(daemon, alice):
    reply = alice.iq(GATEWAY, q("urn:example:no-such-protocol"))
    assert reply.get("type") == "error"
    assert error_condition(reply) == "service-unavailable"
    assert reply.find("{jabber:client}error").get("type") == "cancel"


def test_unknown_set_is_service_unavailable(daemon, alice):
    reply = alice.iq(GATEWAY, q("urn:example:no-such-protocol"), type="set")
    assert error_condition(reply) == "service-unavailable"


def test_unknown_user_node_is_item_not_found(daemon, alice):
    reply = alice.iq(f"nobody@{GATEWAY}", q(NS_DISCO_INFO))
    assert reply.get("type") == "error"
    assert error_condition(reply) == "item-not-found"


def test_component_comes_back_after_prosody_restarts(private_prosody, daemon_factory, client_factory):
    prosody = private_prosody
    daemon = daemon_factory(prosody)
    result(client_factory(prosody).iq(GATEWAY, q(NS_PING, "ping")))

    since = daemon.log.mark()
    prosody.stop()
    time.sleep(1.0)
    prosody.start()
    # The daemon reconnects on its own, with backoff starting at 1 s.
    daemon.wait_connected(since=since, timeout=10)
    assert daemon.proc.poll() is None, "the daemon exited instead of reconnecting"
    result(client_factory(prosody).iq(GATEWAY, q(NS_PING, "ping")))


def test_sigterm_exits_zero(daemon, alice):
    result(alice.iq(GATEWAY, q(NS_PING, "ping")))
    assert daemon.stop() == 0


def test_check_passes_with_node_and_fails_without(prosody, node, tmp_path):
    bitcoim = testbed.Bitcoim(tmp_path, prosody, node)
    ok = bitcoim.check()
    assert ok.returncode == 0, f"--check failed:\n{ok.stdout}\n{ok.stderr}"
    assert ok.stdout.strip(), "--check printed no summary"
    # It really hands shake with the server, so the secret is checked too.
    assert "handshake accepted for bitcoin.localhost" in ok.stdout, ok.stdout

    config = bitcoim.config.read_text()
    bitcoim.config.write_text(config.replace(f"password = {prosody.secret}",
                                             "password = not-the-secret"))
    wrong = bitcoim.check()
    assert wrong.returncode == 1, wrong.stdout
    assert "wrong component secret" in wrong.stdout, wrong.stdout
    bitcoim.config.write_text(config)

    node.stop()
    down = bitcoim.check()
    assert down.returncode != 0, f"--check passed with the node down:\n{down.stdout}"
    assert "bitcoin" in (down.stdout + down.stderr).lower()
