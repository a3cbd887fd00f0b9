"""Post-incident reports written by the real firebreakd and fetched with the firebreak CLI.

An Alertmanager alert starts a playbook that contains, recovers and notifies; its resolution
resolves the incident, and the daemon writes <data_dir>/reports/<incident>.{md,html,json}.
`firebreak report ID --format html -o F` fetches the same report through the API. The HTML
renders in headless Chromium (Debian's package; no browser is downloaded) without console
errors, with one `svg .mark` per timeline event of the JSON report; the Markdown passes
pymarkdownlnt; the JSON validates against docs/report.schema.json.
"""
import hashlib
import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

from conftest import BUILD, ROOT
from daemon_helpers import Daemon, http, wait_for, webhook_body

VIEWER = "tok-viewer-reports-41d2"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
# Rules turned off, each with its reason.
MARKDOWN_DISABLED = {
    # Tables of timeline events, parameters and metric definitions cannot wrap at 80 columns.
    "md013",
}

PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: report-db-recover }
trigger:
  sources: [prometheus]
  match: { alertname: ReportDatabaseDown }
steps:
  - id: isolate
    phase: contain
    action: exec.run
    with: { argv: [/bin/sh, -c, "echo isolated | cat"], env: { API_TOKEN: not-a-real-one } }
  - id: restart
    phase: recover
    action: exec.run
    with: { argv: [/bin/true] }
  - { id: note, action: log, with: { message: "recovered <db> | {{ alert.labels.instance }}" } }
"""


def tokens_config():
    digest = hashlib.sha256(VIEWER.encode()).hexdigest()
    return f"api:\n  tokens:\n    - {{ name: dashboard, sha256: \"{digest}\", role: viewer }}\n"


@pytest.fixture
def daemon(tmp_path):
    d = Daemon(tmp_path, {"db.yaml": PLAYBOOK}, extra_config=tokens_config()).start()
    (tmp_path / "viewer.token").write_text(VIEWER + "\n")
    yield d
    d.stop()


def alert(status, starts_at):
    # The same startsAt in both: it is part of the alert's identity.
    body = webhook_body([{"labels": {"alertname": "ReportDatabaseDown", "severity": "critical",
                                     "instance": "db-1|primary"},
                          "fingerprint": "fp-report-1", "startsAt": starts_at}])
    body["status"] = status
    for a in body["alerts"]:
        a["status"] = status
        a["annotations"] = {"summary": "the *main* database <db-1> is down"}
        if status == "resolved":
            a["endsAt"] = a["startsAt"]
    return body


def resolved_incident(daemon):
    starts_at = (datetime.now(timezone.utc).replace(microsecond=0)
                 - timedelta(seconds=5)).isoformat()
    status, text = daemon.post(alert("firing", starts_at))
    assert status == 202, text
    incident = json.loads(text)["incidents"][0]
    wait_for(lambda: [r for r in daemon.query("SELECT status FROM runs WHERE incident_id = ?",
                                               (incident,))
                      if r["status"] in ("succeeded", "failed")], 30, "the run to finish")
    status, text = daemon.post(alert("resolved", starts_at))
    assert status == 202, text
    return incident


def chromium_page_check(html_path):
    """(console errors, page errors, number of `svg .mark` elements) of the rendered file."""
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/install-deps.sh "
                    "does); the HTML report is checked in a real browser")
    from playwright.sync_api import sync_playwright
    errors, page_errors = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
            page.goto(html_path.as_uri(), wait_until="load")
            marks = page.locator("svg .mark").count()
            titles = page.locator("svg .mark title").count()
            ticks = page.locator("svg .tick").count()
            page.pdf(path=str(html_path.with_suffix(".pdf")))  # printing works too
        finally:
            browser.close()
    return errors, page_errors, marks, titles, ticks


def lint_markdown(path):
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pymarkdown"), "--disable-rules",
         ",".join(sorted(MARKDOWN_DISABLED)), "scan", str(path)],
        capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


def test_the_daemon_writes_every_format_when_the_incident_resolves(daemon, tmp_path):
    incident = resolved_incident(daemon)
    reports = tmp_path / "var" / "reports"
    files = {ext: reports / f"{incident}.{ext}" for ext in ("md", "html", "json")}
    wait_for(lambda: all(f.exists() for f in files.values()), 30, "the report files")
    leftovers = [p.name for p in reports.iterdir() if ".tmp" in p.name]
    assert leftovers == []

    report = json.loads(files["json"].read_text())
    assert report["kind"] == "incident" and report["id"] == incident
    assert report["summary"]["status"] == "resolved"
    assert report["summary"]["playbook"] == "report-db-recover"
    names = {m["name"]: m for m in report["metrics"]}
    for name in ("time to detect", "time to acknowledge", "time to contain", "time to recover",
                 "time to resolve", "RTO achieved", "RPO achieved"):
        assert names[name]["definition"], name
    assert names["time to contain"]["value_ms"] is not None
    assert names["time to recover"]["value_ms"] is not None
    assert names["time to resolve"]["value_ms"] is not None
    isolate = [a for a in report["actions"] if a["step_id"] == "isolate"][0]
    assert isolate["params"]["env"]["API_TOKEN"] == "[redacted]"
    assert "not-a-real-one" not in files["md"].read_text()
    assert "not-a-real-one" not in files["html"].read_text()

    import jsonschema
    schema = json.loads((ROOT / "docs" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(report)

    code, out = lint_markdown(files["md"])
    assert code == 0, out

    errors, page_errors, marks, titles, ticks = chromium_page_check(files["html"])
    assert errors == [] and page_errors == [], (errors, page_errors)
    assert marks == len(report["timeline"]) > 0
    assert titles == marks
    assert ticks >= 2


def test_the_cli_fetches_a_report_through_the_api(daemon, tmp_path, firebreak):
    incident = resolved_incident(daemon)
    server = ["--server", f"http://127.0.0.1:{daemon.port}",
              "--token-file", str(tmp_path / "viewer.token")]
    out = tmp_path / "fetched.html"
    firebreak(*server, "report", incident, "--format", "html", "-o", str(out), check=0)
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html

    js = firebreak(*server, "report", incident, "--format", "json", check=0)
    report = json.loads(js.stdout)
    errors, page_errors, marks, _, _ = chromium_page_check(out)
    assert errors == [] and page_errors == [], (errors, page_errors)
    assert marks == len(report["timeline"])

    md = tmp_path / "fetched.md"
    firebreak(*server, "report", incident, "-o", str(md), check=0)
    code, lint = lint_markdown(md)
    assert code == 0, lint

    status, text = http("GET", daemon.url(f"/api/v1/reports/{incident}?format=md"),
                        headers={"Authorization": f"Bearer {VIEWER}"})
    assert status == 200 and text.startswith("# Incident ")
    status, _ = http("GET", daemon.url("/api/v1/reports/inc-unknown?format=html"),
                     headers={"Authorization": f"Bearer {VIEWER}"})
    assert status == 404
    status, _ = http("GET", daemon.url(f"/api/v1/reports/{incident}?format=pdf"),
                     headers={"Authorization": f"Bearer {VIEWER}"})
    assert status == 400
    missing = firebreak(*server, "report", "inc-unknown", check=1)
    assert "404" in missing.stderr
    firebreak(*server, "report", incident, "--format", "pdf", check=2)
