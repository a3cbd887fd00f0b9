"""Helpers shared by the integration tests that run firebreakd and the real Alertmanager.

Everything is on loopback with free ports; the daemon's SQLite file is only ever opened
read-only from here.
"""
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from conftest import BUILD, ROOT

FIXTURES = ROOT.parent / "shared" / "fixtures" / "alertmanager"
ALERTMANAGER = shutil.which("prometheus-alertmanager")
TOKEN = "test-bearer-token-0123456789abcdef"
# Loopback only: never through a proxy the environment may name.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

BEARER_SOURCE = ("  prometheus:\n"
                 "    type: alertmanager\n"
                 "    auth: { bearer: env:FIREBREAK_AM_TOKEN }\n")

# Runs that will not move again without an operator or an approval.
SETTLED_RUN_STATUSES = {"succeeded", "failed", "aborted", "denied", "needs-attention"}


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


def http(method, url, body=None, headers=None, timeout=10, opener=OPENER):
    """(status, body text) of a request with a JSON body; `opener` may carry a TLS context."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def webhook_body(alerts, group_key="{}:{alertname=\"FirebreakTest\"}"):
    """An Alertmanager webhook (version 4) carrying `alerts`, each {labels, fingerprint}."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    return {
        "receiver": "firebreak", "status": "firing", "version": "4", "groupKey": group_key,
        "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9093",
        "alerts": [{"status": "firing", "labels": a["labels"], "annotations": {},
                    "startsAt": a.get("startsAt", (now - timedelta(minutes=1)).isoformat()),
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                    "fingerprint": a["fingerprint"]} for a in alerts],
    }


class Daemon:
    """firebreakd with its own config, playbooks and data dir under tmp_path.

    `port=0` takes any free port at every start; a fixed port survives restarts (the
    Alertmanager in front keeps its URL). `http_limits` is YAML for the `http:` section.
    """

    def __init__(self, tmp_path, playbooks, sources=BEARER_SOURCE, port=0, http_limits=None,
                 log_level="debug", extra_config="", env=None):
        self.dir = tmp_path
        self.marks = tmp_path / "marks"
        (tmp_path / "playbooks").mkdir(exist_ok=True)
        for name, text in playbooks.items():
            (tmp_path / "playbooks" / name).write_text(text)
        config = (f"listen: 127.0.0.1:{port}\n"
                  f"data_dir: {tmp_path / 'var'}\n"
                  f"playbooks: [{tmp_path / 'playbooks'}]\n"
                  f"log: {{ level: {log_level}, format: json }}\n"
                  f"sources:\n{sources}")
        if http_limits:
            config += f"http: {http_limits}\n"
        # Not the default ./drills: that is the repository's when the tests run from its root.
        if "drills:" not in extra_config:
            config += "drills: []\n"
        config += extra_config
        self.env = env
        (tmp_path / "firebreak.yaml").write_text(config)
        self.log = tmp_path / "firebreakd.log"
        self.log.touch()
        self.proc = None
        self.port = None
        self.log_file = None
        self._log_start = 0

    def start(self):
        env = dict(self.env if self.env is not None else os.environ, FIREBREAK_AM_TOKEN=TOKEN)
        self._log_start = self.log.stat().st_size  # a restart reads only its own lines
        self.log_file = open(self.log, "a")
        self.proc = subprocess.Popen(
            [str(BUILD / "daemon" / "app" / "firebreakd"), "--config",
             str(self.dir / "firebreak.yaml")],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env)

        def ready():
            for msg in self._messages(self._log_start):
                if msg.startswith("ready: webhooks on 127.0.0.1:"):
                    return int(msg.split(":")[2].split(",")[0])
            assert self.proc.poll() is None, self.log.read_text()
            return None

        self.port = wait_for(ready, 30, "firebreakd to listen")
        return self

    def kill(self):
        """SIGKILL: no drain, no clean close of the database."""
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL
        self.log_file.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            assert self.proc.wait(timeout=30) == 0, self.log.read_text()
        if self.log_file and not self.log_file.closed:
            self.log_file.close()

    def url(self, path="/hooks/prometheus"):
        return f"http://127.0.0.1:{self.port}{path}"

    def post(self, body, token=TOKEN, path="/hooks/prometheus", timeout=10):
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return http("POST", self.url(path), body, headers, timeout=timeout)

    def db(self):
        conn = sqlite3.connect(f"file:{self.dir / 'var' / 'firebreak.db'}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    def query(self, sql, args=()):
        conn = self.db()
        try:
            return [dict(r) for r in conn.execute(sql, args)]
        finally:
            conn.close()

    def marks_written(self):
        return self.marks.read_text().split() if self.marks.exists() else []

    def _messages(self, start=0):
        with open(self.log) as f:
            f.seek(start)
            text = f.read()
        # A line cut by SIGKILL is not JSON: only whole lines count.
        return [json.loads(l)["msg"] for l in text.split("\n")[:-1] if l.strip()]

    def logged(self, prefix):
        return [m for m in self._messages() if m.startswith(prefix)]


class Alertmanager:
    """The real Prometheus Alertmanager, one webhook receiver with bearer auth to `hook_url`."""

    def __init__(self, tmp_path, hook_url, group_by=("alertname",), group_wait="100ms",
                 group_interval="1s", repeat_interval="1s"):
        self.port = free_port()
        self.dir = tmp_path / "am"
        self.dir.mkdir()
        (self.dir / "alertmanager.yml").write_text(f"""\
route:
  receiver: firebreak
  group_by: {json.dumps(list(group_by))}
  group_wait: {group_wait}
  group_interval: {group_interval}
  repeat_interval: {repeat_interval}
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

    def post_alerts(self, labels_list, ends_at=None):
        now = datetime.now(timezone.utc)
        alerts = []
        for labels in labels_list:
            alert = {"labels": labels, "annotations": {"summary": "error rate above 5%"},
                     "startsAt": (now - timedelta(minutes=1)).isoformat()}
            if ends_at is not None:
                alert["endsAt"] = ends_at.isoformat()
            alerts.append(alert)
        status, body = http("POST", f"http://127.0.0.1:{self.port}/api/v2/alerts", alerts)
        assert status == 200, body

    def post_alert(self, labels, ends_at=None):
        self.post_alerts([labels], ends_at)

    def notify_failures(self):
        """Lines of Alertmanager's log that report a failed notification attempt."""
        return [l for l in (self.dir / "log").read_text().splitlines()
                if "Notify for alerts failed" in l or "Notify attempt failed" in l]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
