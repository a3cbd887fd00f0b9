"""firebreakd's management API driven through the firebreak CLI, both real, on loopback.

Tokens of three roles; a manual run followed with --wait; listings with --json; an approval
decided by a responder while a viewer is refused (403); a wrong token (401); an unreachable
server; and a silence that keeps an Alertmanager webhook from starting a run until it expires.
"""
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import urllib.request

import pytest

from conftest import BUILD, ROOT
from daemon_helpers import free_port, wait_for

FIXTURES = ROOT.parent / "shared" / "fixtures" / "alertmanager"
AM_TOKEN = "am-bearer-token-for-tests-0123"
TOKENS = {"oncall": ("responder", "tok-responder-5f1c2a"),
          "dashboard": ("viewer", "tok-viewer-9d0e7b"),
          "lead": ("admin", "tok-admin-33aa01")}
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Daemon:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.marks = tmp_path / "marks"
        books = tmp_path / "playbooks"
        books.mkdir()
        (books / "mark.yaml").write_text(f"""\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: mark-it }}
params:
  what: {{ required: true }}
steps:
  - {{ id: mark, action: exec.run, with: {{ argv: [/bin/sh, -c, "echo manual-{{{{ params.what }}}} >> {self.marks}"] }} }}
""")
        (books / "fails.yaml").write_text("""\
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: always-fails }
steps:
  - { id: boom, action: exec.run, with: { argv: [/bin/false] } }
""")
        (books / "gated.yaml").write_text(f"""\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: gated }}
steps:
  - id: go
    approval: {{ role: responder, timeout: 10m }}
  - {{ id: mark, action: exec.run, with: {{ argv: [/bin/sh, -c, "echo approved >> {self.marks}"] }} }}
""")
        (books / "alert.yaml").write_text(f"""\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: contain-function }}
trigger:
  sources: [prometheus]
  match: {{ alertname: LambdaErrorSpike }}
steps:
  - {{ id: mark, action: exec.run, with: {{ argv: [/bin/sh, -c, "echo alert-{{{{ alert.labels.function }}}} >> {self.marks}"] }} }}
""")
        tokens = "".join(
            f"    - {{ name: {name}, sha256: \"{hashlib.sha256(tok.encode()).hexdigest()}\", role: {role} }}\n"
            for name, (role, tok) in TOKENS.items())
        (tmp_path / "firebreak.yaml").write_text(
            "listen: 127.0.0.1:0\n"
            f"data_dir: {tmp_path / 'var'}\n"
            f"playbooks: [{books}]\n"
            "drills: []\n"
            "log: { level: debug, format: json }\n"
            "sources:\n"
            "  prometheus:\n"
            "    type: alertmanager\n"
            "    auth: { bearer: env:FIREBREAK_AM_TOKEN }\n"
            "api:\n"
            "  tokens:\n" + tokens)
        for name, (_, tok) in TOKENS.items():
            (tmp_path / f"{name}.token").write_text(tok + "\n")
        (tmp_path / "wrong.token").write_text("not-a-known-token\n")
        self.log = tmp_path / "firebreakd.log"

    def start(self):
        env = dict(os.environ, FIREBREAK_AM_TOKEN=AM_TOKEN)
        self.log_file = open(self.log, "a")
        self.proc = subprocess.Popen(
            [str(BUILD / "daemon" / "app" / "firebreakd"), "--config", str(self.dir / "firebreak.yaml")],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env)

        def ready():
            for line in self.log.read_text().splitlines():
                msg = json.loads(line)["msg"]
                if msg.startswith("ready: webhooks on 127.0.0.1:"):
                    return int(msg.split(":")[2].split(",")[0])
            assert self.proc.poll() is None, self.log.read_text()
            return None

        self.port = wait_for(ready, 30, "firebreakd to listen")
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0, self.log.read_text()
        self.log_file.close()

    def query(self, sql, *args):
        conn = sqlite3.connect(f"file:{self.dir / 'var' / 'firebreak.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, args)]
        finally:
            conn.close()

    def marks_written(self):
        return self.marks.read_text().split() if self.marks.exists() else []

    def hook(self, body):
        req = urllib.request.Request(
            f"{self.url}/hooks/prometheus", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"})
        with OPENER.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    d.stop()
    log = d.log.read_text()
    for _, tok in TOKENS.values():
        assert tok not in log, "a token reached the daemon's log"


@pytest.fixture
def cli(firebreak, daemon):
    """The CLI against the daemon, as the named token."""
    def run(token, *args, check=None, timeout=60):
        return firebreak("--server", daemon.url, "--token-file", str(daemon.dir / f"{token}.token"),
                         *args, check=check, timeout=timeout)
    return run


def test_manual_run_waits_for_its_end_and_lists_as_json(cli, daemon):
    proc = cli("oncall", "run", "mark-it", "--param", "what=hello", "--wait", check=0)
    assert "run r-" in proc.stdout and "succeeded" in proc.stdout
    assert daemon.marks_written() == ["manual-hello"]
    runs = json.loads(cli("dashboard", "--json", "runs", "list", check=0).stdout)
    assert [(r["playbook"], r["status"], r["trigger"]) for r in runs] == [("mark-it", "succeeded", "manual")]
    shown = json.loads(cli("dashboard", "--json", "runs", "show", runs[0]["id"], check=0).stdout)
    assert shown["steps"][0]["step"] == "mark" and shown["steps"][0]["status"] == "succeeded"
    # Read from the store itself, the CLI prints the same JSON as the daemon answers.
    local = cli("dashboard", "--json", "runs", "show", runs[0]["id"], "--local", check=0)
    assert json.loads(local.stdout) == shown
    # A run that fails: --wait exits 1.
    failed = cli("oncall", "--json", "run", "always-fails", "--wait", check=1)
    assert json.loads(failed.stdout)["status"] == "failed"
    listed = json.loads(cli("dashboard", "--json", "runs", "list", "--status", "failed", check=0).stdout)
    assert [r["playbook"] for r in listed] == ["always-fails"]
    # Missing required param: the daemon's message, and nothing ran.
    bad = cli("oncall", "run", "mark-it", "--wait", check=2)
    assert "400:" in bad.stderr and "what" in bad.stderr
    # The mutating calls are logged with the token's name.
    assert '"msg":"api: POST /api/v1/runs by \'oncall\' (responder): 201"' in daemon.log.read_text()


def test_approval_by_a_responder_and_a_viewer_refused(cli, daemon):
    started = cli("oncall", "--json", "run", "gated", check=0)
    run_id = json.loads(started.stdout)["run_id"]

    def waiting():
        shown = json.loads(cli("dashboard", "--json", "runs", "show", run_id, check=0).stdout)
        return shown["status"] == "waiting-approval"

    wait_for(waiting, 20, "the run to wait for its approval")
    refused = cli("dashboard", "approve", run_id, "go", check=1)
    assert "403: this needs the role responder; token 'dashboard' has viewer" in refused.stderr
    assert daemon.marks_written() == []
    proc = cli("oncall", "approve", run_id, "go", "--reason", "checked", check=0)
    assert "approved as oncall" in proc.stdout

    def finished():
        shown = json.loads(cli("dashboard", "--json", "runs", "show", run_id, check=0).stdout)
        return shown if shown["status"] == "succeeded" else None

    shown = wait_for(finished, 20, "the run to finish")
    assert shown["approvals"][0]["decided_by"] == "oncall"
    assert shown["approvals"][0]["reason"] == "checked"
    assert daemon.marks_written() == ["approved"]
    again = cli("oncall", "deny", run_id, "go", check=1)
    assert "409:" in again.stderr


def test_wrong_token_is_401_and_an_unreachable_server_is_clear(firebreak, cli, daemon):
    proc = cli("wrong", "runs", "list", check=1)
    assert "firebreak: 401: token not accepted" in proc.stderr
    proc = firebreak("--server", daemon.url, "incidents", "list", check=1)
    assert "401: token not accepted (no token given" in proc.stderr
    port = free_port()
    proc = firebreak("--server", f"http://127.0.0.1:{port}", "--token-file",
                     str(daemon.dir / "oncall.token"), "runs", "list", check=1)
    assert f"cannot reach http://127.0.0.1:{port}: connection refused" in proc.stderr
    # An admin route refuses a responder.
    proc = cli("oncall", "incidents", "resolve", "inc-nope", check=1)
    assert "403: this needs the role admin" in proc.stderr
    proc = cli("lead", "incidents", "resolve", "inc-nope", check=1)
    assert "404: no incident inc-nope" in proc.stderr


def alert_body(function, starts_at):
    body = json.loads((FIXTURES / "01-noauth-firing-1-alert.json").read_text())
    a = body["alerts"][0]
    a["labels"]["function"] = function
    a["fingerprint"] = hashlib.sha256(function.encode()).hexdigest()[:16]
    a["startsAt"] = starts_at
    body["commonLabels"]["function"] = function
    return body


def test_a_silence_keeps_a_webhook_from_starting_a_run_until_it_expires(cli, daemon):
    refused = cli("dashboard", "silence", "add", 'alertname="LambdaErrorSpike"', "--for", "1h",
                  "--reason", "x", check=1)
    assert "403:" in refused.stderr
    bad = cli("oncall", "silence", "add", 'function=~"("', "--for", "1h", "--reason", "x", check=2)
    assert "invalid regular expression" in bad.stderr
    added = cli("oncall", "--json", "silence", "add", 'alertname="LambdaErrorSpike"',
                'function=~"payments-.*"', "--for", "1h", "--reason", "deploying payments", check=0)
    silence = json.loads(added.stdout)
    assert silence["created_by"] == "oncall" and silence["active"] is True

    status, answer = daemon.hook(alert_body("payments-handler", "2026-11-23T01:54:45Z"))
    assert status == 202 and answer["accepted"] == 1
    # Decided in the alert's own commit: no run recorded for it, and the alert marked.
    rows = daemon.query("SELECT silence_id FROM alerts")
    assert rows == [{"silence_id": silence["id"]}]
    assert daemon.query("SELECT * FROM pending_starts") == []
    assert daemon.query("SELECT * FROM runs") == []
    # Another function is not silenced.
    status, _ = daemon.hook(alert_body("orders-handler", "2026-11-23T01:54:45Z"))
    assert status == 202
    wait_for(lambda: "alert-orders-handler" in daemon.marks_written(), 20, "the unsilenced run")

    listed = json.loads(cli("dashboard", "--json", "silence", "list", check=0).stdout)
    assert [s["id"] for s in listed] == [silence["id"]]
    assert "expired" in cli("oncall", "silence", "expire", silence["id"], check=0).stdout
    assert json.loads(cli("dashboard", "--json", "silence", "list", check=0).stdout) == []
    assert "409:" in cli("oncall", "silence", "expire", silence["id"], check=1).stderr

    # Expired: a new firing of the same alert starts its run.
    status, answer = daemon.hook(alert_body("payments-handler", "2026-11-23T03:00:00Z"))
    assert status == 202 and answer["accepted"] == 1
    wait_for(lambda: "alert-payments-handler" in daemon.marks_written(), 20, "the run after expiry")
    incidents = json.loads(cli("dashboard", "--json", "incidents", "list", check=0).stdout)
    assert len(incidents) == 2 and all(i["status"] == "open" for i in incidents)
    shown = json.loads(cli("dashboard", "--json", "incidents", "show", incidents[0]["id"], check=0).stdout)
    assert shown["runs"][0]["playbook"] == "contain-function"
