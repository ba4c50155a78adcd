"""The README's first command, contrib/dev/demo.sh, as a newcomer meets it:
what it checks before installing anything, and the demo itself, with its
own regtest node and with the person's own node (--own-node)."""

import os
import signal
import subprocess
import time

import testbed

DEPS = testbed.REPO / "contrib" / "dev" / "install-deps.sh"
DEMO = testbed.REPO / "contrib" / "dev" / "demo.py"


def fake_bin(tmp_path, name, script):
    """A directory with one fake command, to put first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(0o755)
    return bin_dir


def test_the_demo_refuses_a_machine_its_node_cannot_run_on(tmp_path):
    bin_dir = fake_bin(tmp_path, "uname", 'echo aarch64')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(DEPS), "--demo"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run
    assert "this machine is aarch64" in run.stderr, run.stderr
    assert "x86_64 only" in run.stderr and "--own-node regtest" in run.stderr, run.stderr


def test_with_your_own_node_the_demo_needs_no_x86_64(tmp_path):
    bin_dir = fake_bin(tmp_path, "uname", 'echo aarch64')
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    run = subprocess.run(["bash", str(DEPS), "--demo", "--own-node"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "all demo dependencies present" in run.stderr, run.stderr


def test_a_missing_rust_is_named_with_the_command_that_installs_it(tmp_path):
    # cargo lives in ~/.cargo/bin, never in the system directories.
    env = {**os.environ, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    run = subprocess.run(["bash", str(DEPS), "--demo"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run
    assert "cargo is not installed" in run.stderr, run.stderr
    assert "https://sh.rustup.rs" in run.stderr, run.stderr


def run_demo(tmp_path, env, timeout=60):
    """Starts demo.py, waits for bitcoIM to be connected, stops it with
    Ctrl-C; what it printed."""
    out = tmp_path / "demo.out"
    with open(out, "w") as f:
        proc = subprocess.Popen(["/usr/bin/python3", str(DEMO)], env=env, stdout=f,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while "component connected as" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
    return out.read_text()


def test_the_demo_prints_the_ports_it_really_uses_and_a_client_that_works(tmp_path):
    text = run_demo(tmp_path, dict(os.environ))
    assert "XMPP client port  127.0.0.1:" in text, text
    port = text.split("XMPP client port  127.0.0.1:")[1].split()[0]
    assert f"/connect alice@localhost server 127.0.0.1 port {port} tls disable" in text, text
    assert "(regtest, 101 blocks mined)" in text, text
    assert "Dino, Conversations and Monal insist on TLS" in text, text


def test_the_demo_runs_with_your_own_node(tmp_path, node):
    env = {**os.environ, "DEMO_OWN_NODE": "regtest", "DEMO_RPC_PORT": str(node.rpc_port),
           "DEMO_RPC_USER": node.rpc_user, "DEMO_RPC_PASSWORD": node.rpc_password}
    text = run_demo(tmp_path, env)
    assert f"bitcoind RPC      127.0.0.1:{node.rpc_port}   (your own regtest node)" in text, text
    # bitcoIM talked to that node: its first poll ran.
    assert "listsinceblock" in text, text
