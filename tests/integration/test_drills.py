"""Drills run by the real firebreakd, driven through the firebreak CLI and its API.

A synthetic alert that its playbook contains in time passes, with the measured times in the
drill run and in its report; a playbook too slow for `contained_within` fails that objective
and only that one; a failing steady-state probe aborts before anything is injected; a daemon
killed with SIGKILL in the middle of a drill rolls it back after its restart; and a real local
service killed by chaos.kill_process is restored from its backup by its playbook, with a
recovery time that matches the run's timeline.
"""
import hashlib
import json
import os
import pathlib
import sqlite3
import subprocess
import sys
from datetime import datetime

from conftest import BUILD
from daemon_helpers import Daemon, free_port, http, wait_for, webhook_body

ADMIN = "tok-admin-drills-7c1e"


def tokens_config():
    digest = hashlib.sha256(ADMIN.encode()).hexdigest()
    return f"api:\n  tokens:\n    - {{ name: lead, sha256: \"{digest}\", role: admin }}\n"


class DrillDaemon(Daemon):
    def __init__(self, tmp_path, playbooks, drills):
        (tmp_path / "drills").mkdir(exist_ok=True)
        for name, text in drills.items():
            (tmp_path / "drills" / name).write_text(text)
        super().__init__(tmp_path, playbooks,
                         extra_config=f"drills: [{tmp_path / 'drills'}]\n" + tokens_config())
        (tmp_path / "admin.token").write_text(ADMIN + "\n")

    def cli(self, *args, timeout=120):
        cmd = [str(BUILD / "cli" / "firebreak"), "--server", f"http://127.0.0.1:{self.port}",
               "--token-file", str(self.dir / "admin.token"), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def api(self, method, path, body=None):
        status, text = http(method, self.url(path), body,
                            {"Authorization": f"Bearer {ADMIN}"})
        return status, json.loads(text) if text else None

    def drill_run(self, run_id):
        status, body = self.api("GET", f"/api/v1/drill-runs/{run_id}")
        assert status == 200, body
        return body

    def wait_drill(self, run_id, timeout=60):
        return wait_for(lambda: (lambda r: r if r["status"] != "running" else None)(
            self.drill_run(run_id)), timeout, f"drill run {run_id} to finish")


def ms(text):
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def objectives(run):
    return {o["name"]: o for o in run["objectives"]}


CONTAIN_PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: contain-fn }}
trigger:
  match: {{ alertname: FunctionAbuse }}
steps:
  - {{ id: look, action: log, with: {{ message: "abuse of {{{{ alert.labels.function }}}}" }} }}
  - {{ id: slow, action: wait, with: {{ duration: {wait} }} }}
  - {{ id: throttle, action: exec.run, with: {{ argv: [/bin/true] }}, phase: contain }}
  - {{ id: restore, action: exec.run, with: {{ argv: [/bin/true] }}, phase: recover }}
"""

SYNTHETIC_DRILL = """\
apiVersion: firebreak/v1
kind: Drill
metadata: {{ name: {name} }}
mode: {mode}
inject:
  alert: {{ source: prometheus, labels: {{ alertname: FunctionAbuse, function: drill-fn, severity: critical }} }}
expect:
  playbook: contain-fn
  detected_within: 2s
  contained_within: {contained}
  recovered_within: 30s
{extra}
"""


def synthetic(name, mode="dry-run", contained="10s", extra=""):
    return SYNTHETIC_DRILL.format(name=name, mode=mode, contained=contained, extra=extra)


def test_synthetic_alert_drill_passes_and_reports_its_times(tmp_path):
    d = DrillDaemon(tmp_path, {"contain.yaml": CONTAIN_PLAYBOOK.format(wait="200ms")},
                    {"fn.yaml": synthetic("fn-weekly")}).start()
    try:
        listed = d.cli("--json", "drill", "list")
        assert listed.returncode == 0, listed.stderr
        assert [x["name"] for x in json.loads(listed.stdout)] == ["fn-weekly"]

        proc = d.cli("--json", "drill", "run", "fn-weekly")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        run = json.loads(proc.stdout)
        assert run["status"] == "passed", run
        assert run["dry_run"] is True
        assert run["measured"]["rollback"] == "done"
        obj = objectives(run)
        assert set(obj) == {"detected_within", "contained_within", "recovered_within"}
        assert all(o["passed"] for o in obj.values()), obj
        # Dry-run: the steps were planned, and a planned step counts as done.
        assert 0 <= obj["contained_within"]["measured_ms"] <= 10_000
        assert obj["recovered_within"]["measured_ms"] >= obj["contained_within"]["measured_ms"]
        assert "first containment step" in obj["contained_within"]["definition"]

        # Marked as a drill wherever it is stored; the playbook ran dry; the incident resolved.
        alerts = d.query("SELECT is_drill, incident_id FROM alerts")
        assert alerts and all(a["is_drill"] == 1 for a in alerts)
        incident = d.query("SELECT * FROM incidents")[0]
        assert incident["is_drill"] == 1 and incident["status"] == "resolved"
        runs = d.query("SELECT trigger, dry_run FROM runs WHERE playbook = 'contain-fn'")
        assert runs == [{"trigger": "drill", "dry_run": 1}]
        assert run["incident_id"] == incident["id"]

        # The measurement agrees with the steps: contained = throttle's end - injection.
        step = d.query("SELECT finished_ms FROM steps WHERE step_id = 'throttle' AND stage = 'main'")
        injected = run["measured"]["injected_ms"]
        assert obj["contained_within"]["measured_ms"] == step[0]["finished_ms"] - injected

        history = d.cli("--json", "drill", "history", "fn-weekly")
        assert history.returncode == 0, history.stderr
        assert [h["id"] for h in json.loads(history.stdout)] == [run["id"]]
        text = d.cli("drill", "history", "fn-weekly").stdout
        assert run["id"] in text and "passed" in text

        # A second run is a new drill run; a live run must be asked for.
        status, body = d.api("POST", "/api/v1/drills/fn-weekly/run", {"live": True})
        assert status == 201 and body["dry_run"] is False
        live = d.wait_drill(body["drill_run_id"])
        assert live["dry_run"] is False
        assert d.query("SELECT dry_run FROM runs WHERE playbook = 'contain-fn' "
                       "ORDER BY created_ms DESC LIMIT 1") == [{"dry_run": 0}]
        # Live, the 200 ms wait before containment is really waited, and measured.
        assert live["status"] == "passed", live
        assert objectives(live)["contained_within"]["measured_ms"] >= 200

        # Its report, written by the daemon when it finished, holds the measured times.
        report = tmp_path / "var" / "reports" / f"{run['id']}.json"
        wait_for(report.exists, 10, "the drill report")
        data = json.loads(report.read_text())
        measured = {o["name"]: o.get("measured_ms") for o in data["objectives"]}
        assert measured["contained_within"] == obj["contained_within"]["measured_ms"]
        assert measured["recovered_within"] == obj["recovered_within"]["measured_ms"]
        assert (tmp_path / "var" / "reports" / f"{run['id']}.html").exists()
    finally:
        d.stop()


def test_a_playbook_too_slow_fails_the_contain_objective_only(tmp_path):
    d = DrillDaemon(tmp_path, {"contain.yaml": CONTAIN_PLAYBOOK.format(wait="1500ms")},
                    {"fn.yaml": synthetic("fn-slow", mode="live", contained="500ms")}).start()
    try:
        proc = d.cli("--json", "drill", "run", "fn-slow")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        run = json.loads(proc.stdout)
        assert run["status"] == "failed", run
        obj = objectives(run)
        assert obj["contained_within"]["passed"] is False
        assert obj["contained_within"]["measured_ms"] >= 1500
        assert obj["detected_within"]["passed"] is True
        assert obj["recovered_within"]["passed"] is True
        human = d.cli("drill", "history", "fn-slow").stdout
        assert "failed" in human
    finally:
        d.stop()


def test_a_failing_steady_state_aborts_before_injection(tmp_path):
    closed = free_port()
    extra = ("steady_state:\n"
             f"  - {{ id: up, action: http.probe, with: {{ url: \"http://127.0.0.1:{closed}/health\", timeout: 1s }} }}\n")
    d = DrillDaemon(tmp_path, {"contain.yaml": CONTAIN_PLAYBOOK.format(wait="10ms")},
                    {"fn.yaml": synthetic("fn-unsteady", extra=extra)}).start()
    try:
        proc = d.cli("--json", "drill", "run", "fn-unsteady")
        assert proc.returncode == 1
        run = json.loads(proc.stdout)
        assert run["status"] == "aborted", run
        assert "steady state did not hold" in run["error"]
        assert run["injected"] == ""
        assert d.query("SELECT COUNT(*) AS n FROM alerts") == [{"n": 0}]
        assert d.query("SELECT COUNT(*) AS n FROM runs WHERE playbook = 'contain-fn'") == [{"n": 0}]
        assert [p["ok"] for p in run["probes"]] == [False]
    finally:
        d.stop()


def test_sigkill_mid_drill_still_ends_with_the_rollback_done(tmp_path):
    marks = tmp_path / "rolled-back"
    extra = ("rollback:\n"
             f"  - {{ id: mark, action: exec.run, with: {{ argv: [/usr/bin/touch, \"{marks}\"] }}, idempotent: true }}\n"
             "timeout: 2m\n")
    d = DrillDaemon(tmp_path, {"contain.yaml": CONTAIN_PLAYBOOK.format(wait="60s")},
                    {"fn.yaml": synthetic("fn-killed", mode="live", extra=extra)}).start()
    try:
        status, body = d.api("POST", "/api/v1/drills/fn-killed/run", {})
        assert status == 201, body
        run_id = body["drill_run_id"]
        wait_for(lambda: d.drill_run(run_id)["stage"] == "watch", 20, "the drill to inject")
        wait_for(lambda: d.query("SELECT 1 FROM steps WHERE step_id = 'slow'"), 20,
                 "the playbook to be waiting")
        d.kill()
        assert not marks.exists()
        d.start()
        run = d.wait_drill(run_id)
        assert run["status"] == "error", run
        assert "interrupted by a restart" in run["error"]
        assert run["measured"]["rollback"] == "done"
        assert marks.exists()
        roles = [r["role"] for r in run["runs"]]
        assert "rollback" in roles
        # The injected alert was resolved on rollback, and with it the drill's incident.
        assert d.query("SELECT status FROM incidents") == [{"status": "resolved"}]
    finally:
        d.stop()


APP = r'''
import http.server, os, sqlite3, sys
port, pid_file, db = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with open(pid_file + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(pid_file + ".tmp", pid_file)
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM items").fetchone()[0]
        self.send_response(200)
        self.end_headers()
        self.wfile.write(str(rows).encode())
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''


def test_killed_service_is_restored_from_backup_and_the_recovery_time_matches(tmp_path, firebreak):
    port = free_port()
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    backups = tmp_path / "backups"
    db = app_dir / "app.db"
    pid_file = app_dir / "app.pid"
    (tmp_path / "app.py").write_text(APP)
    start = tmp_path / "start.sh"
    start.write_text(f"#!/bin/sh\nsetsid {sys.executable} {tmp_path / 'app.py'} {port} {pid_file} {db} "
                     "</dev/null >/dev/null 2>&1 &\n")
    start.chmod(0o755)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE items (x)")
    conn.executemany("INSERT INTO items VALUES (?)", [(i,) for i in range(3)])
    conn.commit()
    conn.close()
    backup_pb = tmp_path / "backup.yaml"
    backup_pb.write_text(f"""\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: backup-app }}
steps:
  - {{ id: b, action: backup.create, with: {{ kind: sqlite, source: "{db}", dest_dir: "{backups}" }} }}
""")
    firebreak("run", str(backup_pb), "--local", check=0)
    # Written after the backup: the restore must take it away.
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO items VALUES (99)")
    conn.commit()
    conn.close()
    subprocess.run([str(start)], check=True)
    wait_for(lambda: pid_file.exists() and http("GET", f"http://127.0.0.1:{port}/")[0] == 200,
             20, "the app to serve")

    comm = (pathlib.Path("/proc") / pid_file.read_text().strip() / "comm").read_text().strip()
    restore = f"""\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: app-restore }}
trigger:
  match: {{ alertname: AppDown }}
steps:
  - id: restore
    action: backup.restore
    with: {{ kind: sqlite, backup: latest, dest_dir: "{backups}", target: "{db}" }}
  - id: start
    action: exec.run
    with: {{ argv: ["{start}"] }}
    idempotent: true
    phase: recover
  - id: healthy
    action: http.probe
    with: {{ url: "http://127.0.0.1:{port}/", expect_status: 200, timeout: 2s }}
    retry: {{ attempts: 20, backoff: 100ms, max_backoff: 200ms }}
"""
    drill = f"""\
apiVersion: firebreak/v1
kind: Drill
metadata: {{ name: app-killed }}
mode: live
scope: {{ processes: ["{comm}"], paths: ["{app_dir}"] }}
inject:
  action: chaos.kill_process
  with: {{ pid_file: "{pid_file}", signal: KILL }}
expect:
  playbook: app-restore
  detected_within: 10s
  recovered_within: 30s
steady_state:
  - {{ id: up, action: http.probe, with: {{ url: "http://127.0.0.1:{port}/", expect_status: 200, timeout: 2s }} }}
timeout: 1m
"""
    d = DrillDaemon(tmp_path, {"restore.yaml": restore}, {"app.yaml": drill}).start()
    old_pid = int(pid_file.read_text())
    try:
        status, body = d.api("POST", "/api/v1/drills/app-killed/run", {})
        assert status == 201, body
        run_id = body["drill_run_id"]

        # The test is the monitoring: it sees the app die and alerts through Alertmanager's
        # webhook format, as Prometheus would.
        def down():
            try:
                os.kill(old_pid, 0)
                return False
            except ProcessLookupError:
                return True
        wait_for(down, 20, "the drill to kill the app")
        alert = {"labels": {"alertname": "AppDown", "severity": "critical"},
                 "fingerprint": "a1b2c3d4e5f60718"}
        status, text = d.post(webhook_body([alert]))
        assert status == 202, text

        run = d.wait_drill(run_id, timeout=60)
        assert run["status"] == "passed", run
        new_pid = int(pid_file.read_text())
        assert new_pid != old_pid
        # Restored: the row written after the backup is gone.
        assert http("GET", f"http://127.0.0.1:{port}/")[1] == "3"

        obj = objectives(run)
        recovered = obj["recovered_within"]["measured_ms"]
        playbook_run = [r["id"] for r in run["runs"] if r["role"] == "playbook"][0]
        status, shown = d.api("GET", f"/api/v1/runs/{playbook_run}")
        finished = [e for e in shown["timeline"]
                    if e["kind"] == "step.finished" and e["step"] == "start"]
        assert finished, shown["timeline"]
        injected = ms(run["injected"])
        assert abs(recovered - (ms(finished[-1]["at"]) - injected)) <= 5, (recovered, finished)
    finally:
        d.stop()
        try:
            os.kill(int(pid_file.read_text()), 9)
        except (OSError, ValueError):
            pass
