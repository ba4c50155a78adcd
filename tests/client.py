"""slixmpp as the user's client, driven from the synchronous test thread.

slixmpp is a client we did not write, so the daemon's XML code is checked
against someone else's. Debian's slixmpp only imports in /usr/bin/python3.
"""

import asyncio
import copy
import threading
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError

NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class Client:
    """A slixmpp client whose asyncio loop runs in a thread of its own.

    slixmpp objects may only be touched from their loop's thread, so every
    call from the test thread is handed over with run_coroutine_threadsafe.
    """

    def __init__(self, jid, password, port, timeout=15.0):
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
        ready = self.loop.create_future()

        def fail(reason):
            if not ready.done():
                ready.set_exception(RuntimeError(f"{jid}: {reason}"))

        xmpp.add_event_handler("session_start", lambda _: ready.done() or ready.set_result(None))
        xmpp.add_event_handler("failed_all_auth", lambda _: fail("authentication failed"))
        xmpp.add_event_handler("connection_failed", lambda e: fail(f"connection failed: {e}"))
        xmpp.connect(("127.0.0.1", port), force_starttls=False, disable_starttls=True)
        await ready
        xmpp.send_presence()
        return xmpp

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
