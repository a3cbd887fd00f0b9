"""GET /metrics after real webhooks, and SIGHUP reloading config and playbooks together.

The daemon runs on a free loopback port with its own config and data dir; every check reads
what the running process answers or logs.
"""
import json
import re
import signal

from daemon_helpers import FIXTURES, OPENER, Daemon, http, wait_for, webhook_body

PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: contain }}
trigger:
  sources: [prometheus]
  match: {{ alertname: LambdaErrorSpike }}
steps:
  - id: mark
    action: exec.run
    with: {{ argv: [/bin/sh, -c, "echo {tag}:{{{{ alert.labels.function }}}} >> {marks}"] }}
"""

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')


def parse_metrics(text):
    """The text format 0.0.4, strictly: HELP and TYPE before a family's samples."""
    types, samples = {}, {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert name not in types, line
            types[name] = kind
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, labels_text, value = m.groups()
        labels = {}
        if labels_text:
            pos = 0
            for lm in LABEL.finditer(labels_text):
                assert lm.start() == pos, f"bad labels in {line!r}"
                labels[lm.group(1)] = re.sub(r'\\(.)', lambda e: "\n" if e.group(1) == "n"
                                             else e.group(1), lm.group(2))
                pos = lm.end()
            assert pos == len(labels_text), f"bad labels in {line!r}"
        family = re.sub(r'_(bucket|sum|count)$', '', name)
        assert name in types or types.get(family) == "histogram", f"{name} before its TYPE"
        samples[(name, tuple(sorted(labels.items())))] = float(value)
    return types, samples


def scrape(daemon):
    status, text = http("GET", daemon.url("/metrics"))
    assert status == 200, text
    return parse_metrics(text)


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def token_source(token_file):
    return ("  prometheus:\n"
            "    type: alertmanager\n"
            f"    auth: {{ bearer: 'file:{token_file}' }}\n")


def test_metrics_move_with_webhooks_and_runs(tmp_path):
    d = Daemon(tmp_path, {"contain.yaml": PLAYBOOK.format(tag="v1", marks=tmp_path / "marks")})
    d.start()
    try:
        with OPENER.open(d.url("/metrics"), timeout=10) as resp:
            assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        types, before = scrape(d)
        assert types["firebreak_alerts_received_total"] == "counter"
        assert types["firebreak_step_duration_seconds"] == "histogram"
        assert value(before, "firebreak_playbooks_loaded") == 1
        assert value(before, "firebreak_start_time_seconds") > 1.7e9

        body = json.loads((FIXTURES / "06-bearer-firing-2-alerts.json").read_text())
        assert d.post(body)[0] == 202
        assert d.post(body)[0] == 202          # the same notification again: 2 repeats
        assert d.post(body, token="wrong")[0] == 401
        assert d.post(body, path="/hooks/no-such-source-xyz")[0] == 404
        wait_for(lambda: len(d.marks_written()) == 2, 30, "both runs")

        def settled():
            _, s = scrape(d)
            return s if value(s, "firebreak_runs_total", playbook="contain",
                              status="succeeded") == 2 else None
        s = wait_for(settled, 30, "runs_total to count both runs")
        src = {"source": "prometheus"}
        assert value(s, "firebreak_alerts_received_total", outcome="new", **src) == 2
        assert value(s, "firebreak_alerts_received_total", outcome="repeat", **src) == 2
        assert value(s, "firebreak_webhook_requests_total", outcome="accepted", **src) == 2
        assert value(s, "firebreak_webhook_requests_total", outcome="unauthorized", **src) == 1
        hooks = "/hooks/{source}"
        assert value(s, "firebreak_http_requests_total", route=hooks, code="202") == 2
        assert value(s, "firebreak_http_requests_total", route=hooks, code="401") == 1
        assert value(s, "firebreak_http_requests_total", route=hooks, code="404") == 1
        assert value(s, "firebreak_http_requests_total", route="/metrics", code="200") >= 2
        # A client's path never becomes a label value.
        assert not any("no-such-source-xyz" in str(k) for k in s)
        steps = {"action": "exec.run"}
        assert value(s, "firebreak_step_duration_seconds_count", **steps) == 2
        assert value(s, "firebreak_step_duration_seconds_bucket", le="+Inf", **steps) == 2
        assert value(s, "firebreak_store_commit_batch_size_count") > 0
        assert value(s, "firebreak_store_commit_duration_seconds_count") == \
            value(s, "firebreak_store_commit_batch_size_count")
        assert value(s, "firebreak_runs_waiting_approval") == 0
    finally:
        d.stop()


def test_sighup_reloads_tokens_and_playbooks_and_keeps_the_set_on_errors(tmp_path):
    old_token, new_token = tmp_path / "token-old", tmp_path / "token-new"
    old_token.write_text("old-secret-token-0123456789")
    new_token.write_text("new-secret-token-9876543210")
    marks = tmp_path / "marks"
    d = Daemon(tmp_path, {"contain.yaml": PLAYBOOK.format(tag="v1", marks=marks)},
               sources=token_source(old_token))
    d.start()
    try:
        def alert(fp, function):
            return webhook_body([{"labels": {"alertname": "LambdaErrorSpike",
                                             "function": function}, "fingerprint": fp}])

        assert d.post(alert("a1", "one"), token=old_token.read_text())[0] == 202
        wait_for(lambda: d.marks_written() == ["v1:one"], 30, "the first run")

        # A new token for the source and a new version of the playbook, then SIGHUP.
        config = d.dir / "firebreak.yaml"
        good = config.read_text().replace(str(old_token), str(new_token))
        config.write_text(good)
        (d.dir / "playbooks" / "contain.yaml").write_text(PLAYBOOK.format(tag="v2", marks=marks))
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: d.logged("reloaded: 1 playbook(s), 1 source(s)"), 30, "the reload")
        assert d.post(alert("a2", "two"), token=old_token.read_text())[0] == 401
        assert d.post(alert("a2", "two"), token=new_token.read_text())[0] == 202
        wait_for(lambda: d.marks_written() == ["v1:one", "v2:two"], 30, "a run of the new playbook")

        # A broken config: the reload is refused, the log says where, the set in use serves.
        lines = good.splitlines()
        lines.insert(1, "dry_rnu: true")
        config.write_text("\n".join(lines) + "\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: d.logged("reload refused"), 30, "the refusal")
        errors = d.logged("reload: ")
        assert any(f"{config}:2:1: error: unknown key 'dry_rnu'" in e for e in errors), errors
        assert d.post(alert("a3", "three"), token=new_token.read_text())[0] == 202
        wait_for(lambda: d.marks_written()[-1:] == ["v2:three"], 30, "the old set to still run")

        # A broken playbook beside a good config: refused as a whole, nothing of it is used.
        config.write_text(good)
        (d.dir / "playbooks" / "contain.yaml").write_text(
            PLAYBOOK.format(tag="v3", marks=marks).replace("action: exec.run",
                                                           "action: exec.rnu"))
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(d.logged("reload refused")) == 2, 30, "the second refusal")
        assert any("contain.yaml:9:" in e and "exec.rnu" in e
                   for e in d.logged("reload: ")), d.logged("reload: ")
        assert d.post(alert("a4", "four"), token=new_token.read_text())[0] == 202
        wait_for(lambda: d.marks_written()[-1:] == ["v2:four"], 30, "v2 to keep running")

        _, s = scrape(d)
        assert value(s, "firebreak_reloads_total", result="ok") == 1
        assert value(s, "firebreak_reloads_total", result="failed") == 2
        assert value(s, "firebreak_config_last_reload_successful") == 0

        # A key that needs a restart: the reload applies the rest and says so.
        (d.dir / "playbooks" / "contain.yaml").write_text(PLAYBOOK.format(tag="v2", marks=marks))
        config.write_text(good.replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:1"))
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(d.logged("reloaded: ")) == 2, 30, "the third reload")
        assert d.logged("reload: listen (127.0.0.1:0 -> 127.0.0.1:1) changed; it takes effect "
                        "only after a restart")
        assert d.post(alert("a5", "five"), token=new_token.read_text())[0] == 202
        wait_for(lambda: d.marks_written()[-1:] == ["v2:five"], 30, "the run after that reload")

        # dry_run changes on reload: the next run plans its step and executes nothing.
        config.write_text("dry_run: true\n" + good)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: d.logged("reloaded: 1 playbook(s), 1 source(s), dry-run"), 30,
                 "the dry-run reload")
        assert d.post(alert("a6", "six"), token=new_token.read_text())[0] == 202
        wait_for(lambda: d.query("SELECT count(*) AS n FROM runs WHERE dry_run = 1 AND "
                                 "status = 'succeeded'") == [{"n": 1}], 30, "a dry run")
        assert "v2:six" not in d.marks_written()
        # No secret in the log, whatever happened.
        log = d.log.read_text()
        assert old_token.read_text() not in log and new_token.read_text() not in log
    finally:
        d.stop()


def test_unknown_trigger_source_is_a_warning_at_start_and_in_validate(tmp_path, firebreak):
    pb = PLAYBOOK.format(tag="v1", marks=tmp_path / "marks").replace("[prometheus]",
                                                                      "[prometheus, cloudwatch]")
    d = Daemon(tmp_path, {"contain.yaml": pb})
    d.start()
    try:
        warnings = [m for m in d._messages() if "trigger.sources names 'cloudwatch'" in m]
        assert warnings and warnings[0].startswith(f"{d.dir / 'playbooks' / 'contain.yaml'}:5:25: "
                                                   "warning: playbook 'contain'"), warnings
    finally:
        d.stop()
    proc = firebreak("validate", str(d.dir / "firebreak.yaml"), str(d.dir / "playbooks"), check=0)
    assert f"{d.dir / 'playbooks' / 'contain.yaml'}:5:25: warning: playbook 'contain': " \
           "trigger.sources names 'cloudwatch', which is not a source in " \
           f"{d.dir / 'firebreak.yaml'} (sources: prometheus)" in proc.stderr
    assert "1 playbook(s) valid, 0 error(s), 1 warning(s)" in proc.stdout
