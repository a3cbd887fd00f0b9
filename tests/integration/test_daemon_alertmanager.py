"""firebreakd behind the real Prometheus Alertmanager (Debian's package), both on loopback.

An alert posted to Alertmanager reaches the daemon through a bearer-authenticated
webhook_configs receiver; the matching playbook runs and leaves its mark; Alertmanager's
repeated notifications of the same group start no second run; the resolved notification
resolves the incident.
"""
import json
from datetime import datetime, timezone

import pytest

from daemon_helpers import ALERTMANAGER, FIXTURES, TOKEN, Alertmanager, Daemon, http, wait_for

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


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path, {"contain.yaml": PLAYBOOK.format(marks=tmp_path / "marks")}).start()
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
