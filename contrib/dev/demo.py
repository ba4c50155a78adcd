"""bitcoIM on this machine, for a person with a chat client: Prosody, a
regtest node and the daemon, all on 127.0.0.1. Started by contrib/dev/demo.sh
(which installs the dependencies and builds the release binary first).

Everything lives in target/testbed/demo/ (wiped at each start, kept after
exit so the logs can be read). Ctrl-C stops everything.
"""

import shutil
import signal
import subprocess
import sys

import testbed

USERS = {"alice": "alice-pass", "bob": "bob-pass"}


def main():
    workdir = testbed.REPO / "target" / "testbed" / "demo"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    # The usual ports when they are free, so a client's defaults just work.
    prosody = testbed.Prosody(workdir, c2s_port=testbed.free_port(5222),
                              component_port=testbed.free_port(5347))
    node = testbed.RegtestNode(workdir, rpc_port=testbed.free_port(18443),
                               p2p_port=testbed.free_port(18444))
    daemon = testbed.Bitcoim(workdir, prosody, node, admins="alice@localhost")
    try:
        prosody.start()
        for user, password in USERS.items():
            prosody.register(user, password)
        node.start()
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
    cli = (f"{testbed.NODE_DIR}/bitcoin-cli -regtest -rpcport={node.rpc_port} "
           f"-rpcuser={node.rpc_user} -rpcpassword={node.rpc_password}")
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
        (f"/disco info {gw}", "service discovery: a bitcoin gateway"),
        (f"/cmd list {gw}", "the same as forms (XEP-0050)"),
    ))
    return f"""
=====================================================================
 bitcoIM demo: Prosody, a regtest bitcoind and bitcoIM on 127.0.0.1
=====================================================================
 XMPP client port  127.0.0.1:{c2s}   (no TLS)
 component port    127.0.0.1:{prosody.component_port}   (secret in {prosody.config})
 bitcoind RPC      127.0.0.1:{node.rpc_port}   (regtest, 101 blocks mined)
 bitcoIM config    {daemon.config}

 Accounts: alice@localhost / alice-pass  (bitcoIM admin)
           bob@localhost   / bob-pass

 1. Get a client, e.g. the terminal one:  apt-get install profanity
    (Gajim or Dino work too: server 127.0.0.1, port {c2s}, TLS off.)
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
