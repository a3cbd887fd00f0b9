"""firebreakd behind the real Prometheus Alertmanager (Debian's package), both on loopback.

An alert posted to Alertmanager reaches the daemon through a bearer-authenticated
webhook_configs receiver; the matching playbook runs and leaves its mark; Alertmanager's
repeated notifications of the same group start no second run; the resolved notification
resolves the incident.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import BUILD, ROOT

FIXTURES = ROOT.parent / "shared" / "fixtures" / "alertmanager"

ALERTMANAGER = shutil.which("prometheus-alertmanager")
TOKEN = "test-bearer-token-0123456789abcdef"
# Loopback only: never through a proxy the environment may name.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: contain-function }}
trigger:
  sources: [prometheus]
  match: {{ alertname: LambdaErrorSpike, severity: critical }}
steps:
  - id: mark
    action: exec.run
    with: {{ argv: [/bin/sh, -c, "echo {{{{ alert.labels.function }}}} >> {marks}"] }}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with OPENER.open(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class Daemon:
    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.marks = tmp_path / "marks"
        (tmp_path / "playbooks").mkdir()
        (tmp_path / "playbooks" / "contain.yaml").write_text(PLAYBOOK.format(marks=self.marks))
        (tmp_path / "firebreak.yaml").write_text(
            "listen: 127.0.0.1:0\n"
            f"data_dir: {tmp_path / 'var'}\n"
            f"playbooks: [{tmp_path / 'playbooks'}]\n"
            "log: { level: debug, format: json }\n"
            "sources:\n"
            "  prometheus:\n"
            "    type: alertmanager\n"
            "    auth: { bearer: env:FIREBREAK_AM_TOKEN }\n")
        self.log = tmp_path / "firebreakd.log"
        self.proc = None
        self.port = None

    def start(self):
        env = dict(os.environ, FIREBREAK_AM_TOKEN=TOKEN)
        self.log_file = open(self.log, "a")
        self.proc = subprocess.Popen(
            [str(BUILD / "daemon" / "app" / "firebreakd"), "--config",
             str(self.dir / "firebreak.yaml")],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env)

        def ready():
            for line in self.log.read_text().splitlines():
                msg = json.loads(line)["msg"]  # every line is JSON
                if msg.startswith("ready: webhooks on 127.0.0.1:"):
                    return int(msg.split(":")[2].split(",")[0])
            assert self.proc.poll() is None, self.log.read_text()
            return None

        self.port = wait_for(ready, 30, "firebreakd to listen")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0, self.log.read_text()
        self.log_file.close()

    def db(self):
        conn = sqlite3.connect(f"file:{self.dir / 'var' / 'firebreak.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql):
        with self.db() as conn:
            return [dict(r) for r in conn.execute(sql)]

    def marks_written(self):
        return self.marks.read_text().split() if self.marks.exists() else []

    def logged(self, prefix):
        lines = [json.loads(l)["msg"] for l in self.log.read_text().splitlines() if l.strip()]
        return [m for m in lines if m.startswith(prefix)]


class Alertmanager:
    def __init__(self, tmp_path, hook_url):
        self.port = free_port()
        self.dir = tmp_path / "am"
        self.dir.mkdir()
        (self.dir / "alertmanager.yml").write_text(f"""\
route:
  receiver: firebreak
  group_by: ['alertname']
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: firebreak
    webhook_configs:
      - url: '{hook_url}'
        send_resolved: true
        http_config:
          authorization: {{ type: Bearer, credentials: '{TOKEN}' }}
""")
        self.proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={self.dir / 'alertmanager.yml'}",
             f"--storage.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=open(self.dir / "log", "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: self._up(), 30, "Alertmanager to answer")

    def _up(self):
        assert self.proc.poll() is None, (self.dir / "log").read_text()
        try:
            return http("GET", f"http://127.0.0.1:{self.port}/-/ready")[0] == 200
        except OSError:
            return False

    def post_alert(self, labels, ends_at=None):
        now = datetime.now(timezone.utc)
        alert = {"labels": labels, "annotations": {"summary": "error rate above 5%"},
                 "startsAt": (now - timedelta(minutes=1)).isoformat()}
        if ends_at is not None:
            alert["endsAt"] = ends_at.isoformat()
        status, body = http("POST", f"http://127.0.0.1:{self.port}/api/v2/alerts", [alert])
        assert status == 200, body

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path).start()
    yield d
    d.stop()


@pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not installed")
def test_alert_through_alertmanager_runs_once_and_resolves(daemon, tmp_path):
    am = Alertmanager(tmp_path, f"http://127.0.0.1:{daemon.port}/hooks/prometheus")
    try:
        labels = {"alertname": "LambdaErrorSpike", "severity": "critical",
                  "function": "orders-handler"}
        am.post_alert(labels)
        wait_for(lambda: daemon.marks_written() == ["orders-handler"], 30, "the playbook's mark")
        # Alertmanager re-sends the group every second (repeat_interval): wait for several
        # repeats, each recognised, none starting a run.
        wait_for(lambda: len(daemon.logged("source prometheus: 0 accepted, 1 repeat")) >= 3, 30,
                 "repeated notifications")
        assert daemon.marks_written() == ["orders-handler"]
        runs = daemon.query("SELECT playbook, status, \"trigger\" FROM runs")
        assert runs == [{"playbook": "contain-function", "status": "succeeded",
                         "trigger": "alert"}]
        assert daemon.query("SELECT count(*) AS n FROM alerts") == [{"n": 1}]
        [incident] = daemon.query("SELECT id, status FROM incidents")
        assert incident["status"] == "open"

        # Resolve it in Alertmanager: the resolved notification closes the incident.
        am.post_alert(labels, ends_at=datetime.now(timezone.utc))
        wait_for(lambda: daemon.query("SELECT status FROM incidents")[0]["status"] == "resolved",
                 30, "the incident to resolve")
        statuses = [r["status"] for r in daemon.query("SELECT status FROM alerts ORDER BY rowid")]
        assert statuses == ["firing", "resolved"]
        assert daemon.marks_written() == ["orders-handler"]  # `on: firing` only
    finally:
        am.stop()


def test_refused_requests_store_nothing(daemon):
    url = f"http://127.0.0.1:{daemon.port}/hooks/prometheus"
    body = json.loads((FIXTURES / "06-bearer-firing-2-alerts.json").read_text())
    assert http("POST", url, body)[0] == 401
    assert http("POST", url, body, {"Authorization": "Bearer wrong"})[0] == 401
    status, text = http("POST", url, {"version": "4", "alerts": "nope"},
                        {"Authorization": f"Bearer {TOKEN}"})
    assert status == 400 and "alerts" in text
    assert http("POST", f"http://127.0.0.1:{daemon.port}/hooks/nosuch", body,
                {"Authorization": f"Bearer {TOKEN}"})[0] == 404
    assert daemon.query("SELECT count(*) AS n FROM alerts") == [{"n": 0}]
    status, text = http("POST", url, body, {"Authorization": f"Bearer {TOKEN}"})
    assert status == 202, text
    assert json.loads(text)["accepted"] == 2
    assert daemon.query("SELECT count(*) AS n FROM alerts") == [{"n": 2}]
    assert http("GET", f"http://127.0.0.1:{daemon.port}/readyz")[0] == 200
