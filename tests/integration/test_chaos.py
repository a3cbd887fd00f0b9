"""chaos.block_port for real: inside a network namespace of its own (unshare -Urn), a TCP
listener on 127.0.0.1 stops answering once the `firebreak` CLI has run a playbook that blocks
its port, and answers again after a playbook with chaos.unblock_port. The unit tests of the other
chaos actions are in tests/actions/chaos/."""
import json
import shutil
import subprocess
import sys

import pytest

from conftest import BUILD

NFT = shutil.which("nft") or "/usr/sbin/nft"
IP = shutil.which("ip") or "/usr/sbin/ip"
PORT = 18431

# Runs inside the namespace: everything (listener, both runs, connects) must share it, and the
# namespace ends with this process.
INNER = r'''
import json, socket, subprocess, sys, threading

firebreak, data_dir, block, unblock, ip, port = sys.argv[1:7]
port = int(port)
subprocess.run([ip, "link", "set", "lo", "up"], check=True)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(16)

def serve():
    while True:
        try:
            conn, _ = srv.accept()
            conn.close()
        except OSError:
            return

threading.Thread(target=serve, daemon=True).start()

def connects():
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.5):
            return True
    except OSError:
        return False

def run(playbook):
    p = subprocess.run([firebreak, "--data-dir", data_dir, "run", playbook, "--local"],
                       capture_output=True, text=True, timeout=120)
    return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}

def nft_rules():
    p = subprocess.run([sys.argv[7], "list", "ruleset"], capture_output=True, text=True)
    return p.stdout + p.stderr

result = {"before": connects()}
result["block"] = run(block)
result["rules_blocked"] = nft_rules()
result["while_blocked"] = connects()
result["block_again"] = run(block)  # a second run (another key) adds its own rule
result["unblock"] = run(unblock)
result["rules_after"] = nft_rules()
result["after"] = connects()
print(json.dumps(result))
'''


def playbook(name, action, port):
    return f"""\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: {name} }}
steps:
  - id: port
    action: {action}
    with:
      scope: {{ ports: [{port}] }}
      port: {port}
      protocol: tcp
      direction: input
      nft: {NFT}
"""


def unshare_works():
    try:
        p = subprocess.run(["unshare", "-Urn", "true"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    return p.returncode == 0, p.stderr.strip()


def test_block_port_drops_connections_until_unblocked(tmp_path):
    binary = BUILD / "cli" / "firebreak"
    assert binary.exists(), f"{binary} is missing: build first (make build)"
    ok, why = unshare_works()
    if not ok:
        pytest.skip(f"cannot create a user and network namespace (unshare -Urn): {why}")
    assert shutil.which("nft") or pytest.fail("nft is missing: scripts/install-deps.sh installs nftables")

    block = tmp_path / "block.yaml"
    block.write_text(playbook("chaos-block", "chaos.block_port", PORT))
    unblock = tmp_path / "unblock.yaml"
    unblock.write_text(playbook("chaos-unblock", "chaos.unblock_port", PORT))
    inner = tmp_path / "inner.py"
    inner.write_text(INNER)
    proc = subprocess.run(
        ["unshare", "-Urn", sys.executable, str(inner), str(binary), str(tmp_path / "var"),
         str(block), str(unblock), IP, str(PORT), NFT],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])

    assert r["before"] is True, "the listener does not answer before the block"
    assert r["block"]["rc"] == 0, r["block"]
    assert "firebreak_chaos" in r["rules_blocked"] and f"tcp dport {PORT} drop" in r["rules_blocked"], r
    assert 'comment "firebreak:' in r["rules_blocked"], r["rules_blocked"]
    assert r["while_blocked"] is False, "a connect succeeded while the port was blocked"
    assert r["block_again"]["rc"] == 0, r["block_again"]
    assert r["unblock"]["rc"] == 0, r["unblock"]
    assert "firebreak_chaos" not in r["rules_after"], "the emptied table was left behind: " + r["rules_after"]
    assert r["after"] is True, "the port still drops after the unblock"


def test_block_port_outside_scope_is_refused_in_a_dry_run(tmp_path, firebreak):
    pb = tmp_path / "pb.yaml"
    pb.write_text(playbook("chaos-out", "chaos.block_port", PORT).replace(f"ports: [{PORT}]", "ports: [1]"))
    proc = firebreak("run", str(pb), "--local", "--dry-run")
    assert proc.returncode != 0, proc.stdout
    assert f"port {PORT} is outside the scope" in proc.stdout + proc.stderr
