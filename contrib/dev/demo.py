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
    tries = "\n".join(f"      {command:<40} {what}" for command, what in (
        (f"/disco info {gw}", "service discovery: a bitcoin gateway"),
        (f"/disco items {gw}", "what it offers you"),
        (f"/serversoftware {gw}", "software version (XEP-0092)"),
        (f"/lastactivity get {gw}", "uptime (XEP-0012)"),
        (f"/msg {gw} help", "a chat with the gateway"),
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
 4. Drive the node yourself:
      {testbed.NODE_DIR}/bitcoin-cli -regtest -rpcport={node.rpc_port} \\
        -rpcuser={node.rpc_user} -rpcpassword={node.rpc_password} getblockcount

 bitcoIM's log follows. Ctrl-C stops bitcoIM, bitcoind and Prosody.
=====================================================================
"""


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)  # interrupted while starting
