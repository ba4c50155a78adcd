"""slixmpp as the user's client, driven from the synchronous test thread.

slixmpp is a client we did not write, so the daemon's XML code is checked
against someone else's. Debian's slixmpp only imports in /usr/bin/python3.
"""

import asyncio
import copy
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class Client:
    """A slixmpp client whose asyncio loop runs in a thread of its own.

    slixmpp objects may only be touched from their loop's thread, so every
    call from the test thread is handed over with run_coroutine_threadsafe.
    """

    def __init__(self, jid, password, port, timeout=15.0):
        self.jid = jid
        # Every <message> and <presence> received, oldest first, as private
        # copies; wait_for() takes them out as they are matched.
        self._inbox = []
        self._inbox_changed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.xmpp = self._run(self._connect(jid, password, port), timeout)

    def _run(self, coro, timeout):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _connect(self, jid, password, port):
        xmpp = slixmpp.ClientXMPP(
            jid, password,
            # Prosody here has no TLS; PLAIN in the clear is its fallback.
            plugin_config={"feature_mechanisms": {"unencrypted_plain": True}},
        )

        # slixmpp resolves the JID's domain even when given an IP address:
        # answer it ourselves so that no DNS query leaves the machine.
        async def loopback_only(domain, _default_port=None):
            return [(domain, "127.0.0.1", port)]

        xmpp.get_dns_records = loopback_only
        # Subscription requests are left to the test (accept() / reject()):
        # slixmpp would otherwise approve them and ask back on its own.
        xmpp.auto_authorize = None
        xmpp.auto_subscribe = False
        for kind in ("message", "presence"):
            xmpp.register_handler(Callback(
                f"capture {kind}", MatchXPath(f"{{{NS_CLIENT}}}{kind}"), self._capture))
        ready = self.loop.create_future()

        def fail(reason):
            if not ready.done():
                ready.set_exception(RuntimeError(f"{jid}: {reason}"))

        xmpp.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(None))
        xmpp.add_event_handler("failed_all_auth", lambda _: fail("authentication failed"))
        xmpp.add_event_handler("connection_failed", lambda e: fail(f"connection failed: {e}"))
        xmpp.connect(("127.0.0.1", port), force_starttls=False, disable_starttls=True)
        await ready
        # Like a real client: the roster first (the server sends subscription
        # requests only to resources that asked for it), then presence.
        await xmpp.get_roster(timeout=10)
        xmpp.send_presence()
        return xmpp

    def _capture(self, stanza):
        # Runs in the loop's thread: keep a copy the test thread may read.
        element = copy.deepcopy(stanza.xml)
        with self._inbox_changed:
            self._inbox.append(element)
            self._inbox_changed.notify_all()

    def send_xml(self, xml):
        """Sends a stanza written as XML text (default namespace jabber:client)."""

        async def send():
            self.xmpp.send_raw(xml)

        self._run(send(), 10)

    def send_message(self, to, body, lang=None, type="chat"):
        lang_attr = f" xml:lang={quoteattr(lang)}" if lang else ""
        self.send_xml(f"<message to={quoteattr(to)} type={quoteattr(type)}{lang_attr}>"
                      f"<body>{escape(body)}</body></message>")

    def send_presence(self, to, type=None, payload=""):
        type_attr = f" type={quoteattr(type)}" if type else ""
        self.send_xml(f"<presence to={quoteattr(to)}{type_attr}>{payload}</presence>")

    def accept(self, contact):
        """Approves a contact's subscription request (as a user's click would)."""
        self.send_presence(contact, "subscribed")

    def wait_for(self, predicate, timeout=5.0, what="a matching stanza"):
        """The first received stanza for which predicate(stanza) is true,
        taken out of the inbox; waits up to `timeout` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._inbox_changed:
            while True:
                for i, stanza in enumerate(self._inbox):
                    if predicate(stanza):
                        return self._inbox.pop(i)
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(ET.tostring(s, encoding="unicode") for s in self._inbox)
                    raise AssertionError(
                        f"{self.jid} got no {what} within {timeout} s; "
                        f"unmatched stanzas received:\n{seen or '(none)'}")
                self._inbox_changed.wait(left)

    def forget(self):
        """Drops every stanza received so far, so that later waits see only
        what comes next."""
        with self._inbox_changed:
            self._inbox.clear()

    def received(self, predicate):
        """The stanzas received so far that match, without waiting or taking."""
        with self._inbox_changed:
            return [s for s in self._inbox if predicate(s)]

    def wait_presence(self, sender, type=None, timeout=5.0):
        """A presence from `sender` (bare JID; any resource) of that type
        (None: available)."""
        return self.wait_for(
            lambda s: is_presence(s, sender, type), timeout,
            f"<presence type={type or 'available'}> from {sender}")

    def wait_message(self, sender, timeout=5.0, contains=None):
        """A message with a body from `sender` (bare JID)."""

        def match(s):
            return (s.tag == f"{{{NS_CLIENT}}}message" and bare(s.get("from")) == sender
                    and s.get("type") != "error" and body(s) is not None
                    and (contains is None or contains in body(s)))

        what = f"message from {sender}" + (f" containing {contains!r}" if contains else "")
        return self.wait_for(match, timeout, what)

    def chat(self, to, text, lang=None, timeout=5.0):
        """Sends `text` to `to` and returns the body of its next reply."""
        self.send_message(to, text, lang)
        return body(self.wait_message(to, timeout))

    def iq(self, to, payload=None, type="get", timeout=10.0):
        """Sends <iq type=... to=...>payload</iq> and returns the reply.

        The reply is an ElementTree element (tags like '{jabber:client}iq'),
        whether it is a result or an error; no reply raises IqTimeout.
        """

        async def send():
            iq = self.xmpp.make_iq(id=self.xmpp.new_id(), ito=to, itype=type)
            if payload is not None:
                iq.append(ET.fromstring(payload))
            try:
                reply = await iq.send(timeout=timeout)
            except IqError as e:
                reply = e.iq
            # A private copy: the original belongs to the loop's thread.
            return copy.deepcopy(reply.xml)

        return self._run(send(), timeout + 5)

    def close(self):
        async def bye():
            try:
                await asyncio.wait_for(self.xmpp.disconnect(), 5)
            except Exception:
                pass  # the server may already be gone (restart tests)
            # slixmpp leaves tasks behind; end them here rather than let the
            # interpreter complain about them at exit.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._run(bye(), 15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def error_condition(reply):
    """The defined condition of an error reply ('item-not-found'), or None."""
    error = reply.find("{jabber:client}error")
    if error is None:
        return None
    for child in error:
        if child.tag.startswith("{%s}" % NS_STANZAS) and not child.tag.endswith("}text"):
            return child.tag.split("}", 1)[1]
    return None


def bare(jid):
    return (jid or "").split("/", 1)[0]


def body(stanza):
    return stanza.findtext(f"{{{NS_CLIENT}}}body")


def is_presence(stanza, sender, type=None):
    return (stanza.tag == f"{{{NS_CLIENT}}}presence" and bare(stanza.get("from")) == sender
            and stanza.get("type") == type)


def error_text(reply):
    """The human-readable <text/> of an error reply, or None."""
    return reply.findtext(f"{{{NS_CLIENT}}}error/{{{NS_STANZAS}}}text")
