"""firebreakd killed with SIGKILL, or unable to store, while the real Alertmanager keeps sending.

What is proved, from the SQLite file (opened read-only) after the daemon is back:
- every alert answered 202 is stored exactly once (a request that got 202 was committed);
- every alert posted to Alertmanager is stored exactly once: its retries after refused
  connections and 503s lose nothing, and its re-sends of the same groups duplicate nothing;
- every alert's run was started once and settled: finished or waiting in needs-attention.
"""
import secrets
import sqlite3
import threading
import time
import urllib.error

import pytest

from daemon_helpers import (ALERTMANAGER, SETTLED_RUN_STATUSES, Alertmanager, Daemon, free_port,
                            wait_for, webhook_body)

pytestmark = pytest.mark.skipif(ALERTMANAGER is None,
                                reason="prometheus-alertmanager is not installed")

# One run per alert (its own dedup key); a command that takes a moment, so a kill lands
# while steps are running.
PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: record-alert }
trigger:
  sources: [prometheus]
  match: { alertname: FirebreakCrashTest }
dedup: { key: "{{ alert.labels.n }}", window: 1h }
steps:
  - id: mark
    action: exec.run
    with: { argv: [/bin/sh, -c, "sleep 0.05; echo {{ alert.labels.n }} >> %s"] }
"""


def make_daemon(tmp_path):
    return Daemon(tmp_path, {"record.yaml": PLAYBOOK % (tmp_path / "marks")}, port=free_port())


class DirectSender(threading.Thread):
    """Posts webhooks of 2 new alerts each, back to back, and records which got a 202."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.daemon_ = daemon
        self.stop = threading.Event()
        self.answered = {}  # fingerprint -> status, for requests that got an answer
        self.failed = 0     # refused, reset or timed out: no answer
        self.sent = 0

    def run(self):
        while not self.stop.is_set():
            alerts = []
            for _ in range(2):
                fp = secrets.token_hex(8)
                alerts.append({"fingerprint": fp,
                               "labels": {"alertname": "FirebreakCrashTest", "n": "d-" + fp}})
            self.sent += 1
            try:
                status, _ = self.daemon_.post(webhook_body(alerts), timeout=5)
            except (OSError, urllib.error.URLError):
                self.failed += 1
                time.sleep(0.02)
                continue
            for a in alerts:
                self.answered[a["fingerprint"]] = status

    def accepted(self):
        return [fp for fp, status in self.answered.items() if status == 202]


def am_labels(i):
    return {"alertname": "FirebreakCrashTest", "n": f"am-{i}", "batch": str(i // 10)}


def stored_counts(daemon, prefix):
    rows = daemon.query(
        "SELECT json_extract(labels_json, '$.n') AS n, count(*) AS c FROM alerts "
        "WHERE json_extract(labels_json, '$.n') LIKE ? GROUP BY n", (prefix + "%",))
    return {r["n"]: r["c"] for r in rows}


def check_store(daemon, direct, am_alerts):
    # Alertmanager retries until every alert it holds is delivered.
    wanted = {f"am-{i}" for i in range(am_alerts)}
    wait_for(lambda: wanted <= set(stored_counts(daemon, "am-")), 90,
             "every alert posted to Alertmanager to be stored")

    am_counts = stored_counts(daemon, "am-")
    assert set(am_counts) == wanted
    assert {n: c for n, c in am_counts.items() if c != 1} == {}, "stored more than once"

    direct_counts = stored_counts(daemon, "d-")
    accepted = direct.accepted()
    assert accepted, "no direct request was answered 202"
    missing = [fp for fp in accepted if direct_counts.get("d-" + fp, 0) == 0]
    assert missing == [], "answered 202 but not stored"
    assert {n: c for n, c in direct_counts.items() if c != 1} == {}, "stored more than once"
    # Requests refused while the daemon could not store left nothing behind. (A request the
    # kill cut off may or may not have committed: both are correct, so those are not checked.)
    refused = [fp for fp, status in direct.answered.items() if status != 202]
    assert [fp for fp in refused if "d-" + fp in direct_counts] == []

    # One run per stored alert (each has its own dedup key), each started once, all settled.
    def runs_settled():
        runs = daemon.query("SELECT status, json_extract(alert_json, '$.labels.n') AS n FROM runs")
        pending = daemon.query("SELECT count(*) AS c FROM pending_starts")[0]["c"]
        total = len(am_counts) + len(direct_counts)
        if pending or len(runs) < total or any(r["status"] not in SETTLED_RUN_STATUSES
                                               for r in runs):
            return None
        return runs

    runs = wait_for(runs_settled, 120, "every run to finish or need attention")
    names = [r["n"] for r in runs]
    assert sorted(names) == sorted(set(names)), "an alert started two runs"
    assert set(names) == set(am_counts) | set(direct_counts)
    return runs


def test_kill_9_while_alertmanager_sends(tmp_path):
    daemon = make_daemon(tmp_path).start()
    am = Alertmanager(tmp_path, daemon.url(), group_by=("batch",), group_wait="100ms",
                      group_interval="500ms", repeat_interval="1s")
    direct = DirectSender(daemon)
    posted = 0
    try:
        direct.start()

        def post_some(seconds):
            nonlocal posted
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                am.post_alerts([am_labels(i) for i in range(posted, posted + 5)])
                posted += 5
                time.sleep(0.05)

        post_some(1.5)
        # Work is in flight: requests being committed, runs with steps running.
        wait_for(lambda: daemon.query("SELECT count(*) AS c FROM runs")[0]["c"] > 0, 30,
                 "runs to start before the kill")
        daemon.kill()
        post_some(1.5)  # Alertmanager's sends and the direct ones are refused now
        failed_while_down = direct.failed
        assert failed_while_down > 0
        daemon.start()
        post_some(1.5)
        direct.stop.set()
        direct.join(timeout=30)

        runs = check_store(daemon, direct, posted)
        assert am.notify_failures(), "Alertmanager never saw a refused connection"
        # Steps cut by the kill are not idempotent: those runs wait for an operator.
        statuses = {r["status"] for r in runs}
        assert statuses <= {"succeeded", "needs-attention"}, statuses
        assert daemon.logged("ready: webhooks on")  # both starts
    finally:
        direct.stop.set()
        am.stop()
        daemon.stop()


def test_store_unavailable_answers_503_and_alertmanager_retries(tmp_path):
    daemon = make_daemon(tmp_path).start()
    am = Alertmanager(tmp_path, daemon.url(), group_by=("batch",), group_wait="100ms",
                      group_interval="500ms", repeat_interval="1s")
    try:
        am.post_alerts([am_labels(i) for i in range(0, 10)])
        wait_for(lambda: len(stored_counts(daemon, "am-")) == 10, 30, "the first alerts")
        # Their runs finish first: a run that cannot journal its step's start fails, and
        # that is not what this test is about.
        wait_for(lambda: daemon.query("SELECT count(*) AS c FROM runs WHERE status = "
                                      "'succeeded'")[0]["c"] == 10, 30, "the first runs")

        # Another process holds the database's write lock: the daemon cannot commit (its busy
        # timeout runs out) and must answer 5xx, storing nothing.
        blocker = sqlite3.connect(tmp_path / "var" / "firebreak.db", isolation_level=None,
                                  timeout=30)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            am.post_alerts([am_labels(i) for i in range(10, 40)])
            fp = secrets.token_hex(8)
            status, text = daemon.post(webhook_body(
                [{"fingerprint": fp, "labels": {"alertname": "FirebreakCrashTest",
                                                "n": "d-" + fp}}]), timeout=30)
            assert status == 503, text
            wait_for(lambda: any("status code 503" in l for l in am.notify_failures()), 60,
                     "Alertmanager to be answered 503")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert stored_counts(daemon, "d-") == {}

        wanted = {f"am-{i}" for i in range(40)}
        wait_for(lambda: wanted <= set(stored_counts(daemon, "am-")), 90,
                 "Alertmanager's retries to be stored")
        counts = stored_counts(daemon, "am-")
        assert set(counts) == wanted
        assert {n: c for n, c in counts.items() if c != 1} == {}
        assert "d-" + fp not in stored_counts(daemon, "d-")
        wait_for(lambda: daemon.query("SELECT count(*) AS c FROM runs WHERE status "
                                      "IN ('succeeded', 'needs-attention')")[0]["c"] == 40, 60,
                 "a settled run per alert")
        assert daemon.query("SELECT count(*) AS c FROM runs")[0]["c"] == 40
        # The 503's cause is logged.
        assert [m for m in daemon.logged("source prometheus: ") if "database is locked" in m]
    finally:
        am.stop()
        daemon.stop()
