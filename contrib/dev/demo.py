"""bitcoIM on this machine, for a person with a chat client: Prosody, a
regtest node and the daemon, all on 127.0.0.1. Started by contrib/dev/demo.sh
(which installs the dependencies and builds the release binary first).

Everything lives in target/testbed/demo/ (wiped at each start, kept after
exit so the logs can be read). Ctrl-C stops everything.
"""

import os
import shutil
import signal
import subprocess
import sys

import testbed

USERS = {"alice": "alice-pass", "bob": "bob-pass"}
DEFAULT_RPC_PORTS = {"regtest": 18443, "signet": 38332}


class OwnNode:
    """A bitcoind the person runs themself (contrib/dev/demo.sh --own-node),
    on regtest or signet, its RPC on 127.0.0.1."""

    def __init__(self, network):
        self.network = network
        self.rpc_port = int(os.environ.get("DEMO_RPC_PORT") or DEFAULT_RPC_PORTS[network])
        self.cookie = os.environ.get("DEMO_COOKIE")
        self.rpc_user = os.environ.get("DEMO_RPC_USER")
        self.rpc_password = os.environ.get("DEMO_RPC_PASSWORD")
        if not self.cookie and not (self.rpc_user and self.rpc_password):
            sys.exit("demo: --own-node needs --cookie PATH, or --rpc-user and --rpc-password")

    def bitcoin_section(self):
        auth = (f"cookie = {self.cookie}\n" if self.cookie else
                f"user = {self.rpc_user}\npassword = {self.rpc_password}\n")
        return f"{auth}host = 127.0.0.1\nport = {self.rpc_port}\nnetwork = {self.network}\n"

    def start(self):
        return self

    def stop(self):
        pass


def main():
    workdir = testbed.REPO / "target" / "testbed" / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    # The usual ports when they are free, so a client's defaults just work.
    # The usual ports when they are free (a system Prosody may hold 5222:
    # the next free one is used, and printed).
    # Its rooms show real JIDs to everyone, so that tips work in them at once.
    prosody = testbed.Prosody(workdir, c2s_port=testbed.free_port(5222),
                              component_port=testbed.free_port(5347), public_jids=True)
    own = os.environ.get("DEMO_OWN_NODE")
    node = OwnNode(own) if own else testbed.RegtestNode(
        workdir, rpc_port=testbed.free_port(18443), p2p_port=testbed.free_port(18444))
    daemon = testbed.Bitcoim(workdir, prosody, node, admins="alice@localhost")
    try:
        prosody.start()
        for user, password in USERS.items():
            prosody.register(user, password)
        node.start()
        if not own:
            node.generate(101)  # coinbase outputs mature after 100 blocks
        print(instructions(prosody, node, daemon), flush=True)
        return run_in_foreground(daemon)
    finally:
        node.stop()
        prosody.stop()
        print(f"\nStopped. Logs are in {workdir}/", flush=True)


def run_in_foreground(daemon):
    # Same process group as us: Ctrl-C reaches the daemon, which says
    # goodbye to the server and exits on its own.
    proc = subprocess.Popen(daemon.argv(), stdin=subprocess.DEVNULL)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            return proc.wait()


def instructions(prosody, node, daemon):
    c2s = prosody.c2s_port
    gw = testbed.COMPONENT_JID
    if isinstance(node, OwnNode):
        auth = (f"-rpccookiefile={node.cookie}" if node.cookie else
                f"-rpcuser={node.rpc_user} -rpcpassword=...")
        cli = f"bitcoin-cli -{node.network} -rpcport={node.rpc_port} {auth}"
        chain = f"your own {node.network} node"
    else:
        cli = (f"{testbed.NODE_DIR}/bitcoin-cli -regtest -rpcport={node.rpc_port} "
               f"-rpcuser={node.rpc_user} -rpcpassword={node.rpc_password}")
        chain = "regtest, 101 blocks mined"
    tries = "\n".join(f"      {command:<44} {what}" for command, what in (
        (f"/msg {gw} hello", "the welcome says how to start"),
        (f"/msg {gw} register alice", "your wallet, and a first deposit address"),
        ("(accept the two contact requests)", "the gateway and your address"),
        (f"/msg {gw} help", "every command"),
        ("(in a shell) BITCOIN-CLI sendtoaddress ADDR 1", "a deposit: announced at once..."),
        ("(in a shell) BITCOIN-CLI generate 1", "...and credited after a block"),
        (f"/msg {gw} balance", ""),
        (f"/msg {gw} pay 0.1 bob lunch", "then: confirm <code> (bob must register)"),
        (f"/msg {gw} pay 0.2 ADDR2", "a withdrawal: recap with the fee, then confirm"),
        (f"/msg {gw} history", ""),
        (f"/join tips@{testbed.MUC_JID}", "a room (bob can /join it too)"),
        (f"/invite send {gw}", "in the room: the gateway joins it"),
        ("tip 1000 sat bob thanks", "in the room: the recap comes privately"),
        (f"/msg {gw} tiplimit 5000 sat", "smaller tips are then paid at once"),
        (f"/disco info {gw}", "service discovery: a bitcoin gateway"),
        (f"/cmd list {gw}", "the same as forms (XEP-0050)"),
    ))
    return f"""
=====================================================================
 bitcoIM demo: Prosody, a regtest bitcoind and bitcoIM on 127.0.0.1
=====================================================================
 XMPP client port  127.0.0.1:{c2s}   (no TLS)
 component port    127.0.0.1:{prosody.component_port}   (secret in {prosody.config})
 bitcoind RPC      127.0.0.1:{node.rpc_port}   ({chain})
 bitcoIM config    {daemon.config}

 Accounts: alice@localhost / alice-pass  (bitcoIM admin)
           bob@localhost   / bob-pass

 1. Get a client that can connect without TLS (this private Prosody has
    no certificate): the terminal one,  apt-get install profanity
    (Gajim also can: account, advanced, connection type "Plain", host
    127.0.0.1, port {c2s}; Dino, Conversations and Monal insist on TLS:
    use them with bitcoIM on your real server instead).
 2. In another terminal:  profanity
      /connect alice@localhost server 127.0.0.1 port {c2s} tls disable
    and type the password alice-pass.
 3. Try:
{tries}
 4. BITCOIN-CLI above is the regtest node's client:
      {cli}
    ADDR is your deposit address (from register or address), ADDR2 any
    other: BITCOIN-CLI getnewaddress. This demo has one node, so a deposit
    is the node's wallet paying itself: fine to try, not how money flows.

 bitcoIM's log follows. Ctrl-C stops bitcoIM, bitcoind and Prosody.
=====================================================================
"""


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)  # interrupted while starting
