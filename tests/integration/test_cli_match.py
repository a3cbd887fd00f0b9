"""firebreak match: saved Alertmanager captures through the real parser and router, offline."""
import json

from daemon_helpers import FIXTURES

MATCHING = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: contain-function }}
trigger:
  sources: [prometheus]
  match: {{ alertname: LambdaErrorSpike, severity: "=~critical|page" }}
  when: alert.labels.env == "prod"
params:
  function: {{ default: "{{{{ alert.labels.function }}}}", required: true }}
  where: {{ default: "{{{{ params.function }}}} in {{{{ alert.labels.region }}}}" }}
steps:
  - {{ id: mark, action: exec.run, with: {{ argv: [/usr/bin/touch, "{mark}"] }} }}
"""

OTHER_SOURCE = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: from-grafana }
trigger:
  sources: [grafana]
  match: { alertname: LambdaErrorSpike }
steps:
  - { id: a, action: log, with: { message: hi } }
"""

STAGING_ONLY = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: staging-only }
trigger:
  match: { alertname: LambdaErrorSpike }
  when: alert.labels.env == "staging"
steps:
  - { id: a, action: log, with: { message: hi } }
"""


def setup(tmp_path):
    pbs = tmp_path / "pbs"
    pbs.mkdir()
    (pbs / "contain.yaml").write_text(MATCHING.format(mark=tmp_path / "ran"))
    (pbs / "other.yaml").write_text(OTHER_SOURCE)
    (pbs / "staging.yaml").write_text(STAGING_ONLY)
    config = tmp_path / "firebreak.yaml"
    config.write_text("listen: 127.0.0.1:9095\n"
                      f"playbooks: [{pbs}]\n"
                      "sources:\n"
                      "  prometheus: { type: alertmanager, auth: none }\n"
                      "  grafana: { type: generic, auth: none }\n")
    return config, pbs


def test_match_shows_runs_params_and_why_not_and_runs_nothing(firebreak, tmp_path):
    config, _ = setup(tmp_path)
    capture = FIXTURES / "03-noauth-firing-2-alerts-same-group.json"
    proc = firebreak("match", "--alert", str(capture), "--config", str(config), "--json", check=0)
    out = json.loads(proc.stdout)
    assert out["source"] == "prometheus" and out["type"] == "alertmanager"
    assert out["matched"] == 2
    functions = []
    for alert in out["alerts"]:
        [m] = alert["matched"]
        assert m["playbook"] == "contain-function"
        fn = alert["labels"]["function"]
        functions.append(fn)
        assert m["params"] == {"function": fn, "where": f"{fn} in us-east-1"}
        # No dedup key in the playbook: each alert is its own incident, keyed by its identity.
        assert m["dedup_key"].startswith("contain-function|prometheus/")
        assert m["dedup_key"].endswith("/" + alert["fingerprint"])
        reasons = {n["playbook"]: n["reason"] for n in alert["not_matched"]}
        assert reasons == {
            "from-grafana": "trigger.sources is [grafana], the alert came from 'prometheus'",
            "staging-only": "trigger.when is false",
        }
    assert sorted(functions) == ["orders-handler", "payments-handler"]
    # Nothing ran and nothing was stored.
    assert not (tmp_path / "ran").exists()
    assert not firebreak.data_dir.exists()


def test_match_reads_a_whole_captured_request_and_prints_text(firebreak, tmp_path):
    config, _ = setup(tmp_path)
    capture = FIXTURES / "01-noauth-firing-1-alert.http"
    proc = firebreak("match", "--alert", str(capture), "--config", str(config), check=0)
    assert "would run  contain-function" in proc.stdout
    assert "params.function = payments-handler" in proc.stdout
    assert "params.where = payments-handler in us-east-1" in proc.stdout
    assert "1 run(s) would start; nothing was run" in proc.stdout


def test_no_match_exits_1_with_reasons(firebreak, tmp_path):
    config, pbs = setup(tmp_path)
    resolved = FIXTURES / "05-noauth-resolved-last-alert.json"
    proc = firebreak("match", "--alert", str(resolved), "--config", str(config), "--json", check=1)
    [alert] = json.loads(proc.stdout)["alerts"]
    reasons = {n["playbook"]: n["reason"] for n in alert["not_matched"]}
    assert reasons["contain-function"] == "trigger.on is firing, the alert is resolved"
    # The library playbooks, no config: an ad hoc alertmanager source, and no playbook fits.
    firing = FIXTURES / "01-noauth-firing-1-alert.json"
    proc = firebreak("match", "--alert", str(firing), "--playbooks", "playbooks", "--json",
                     check=1)
    out = json.loads(proc.stdout)
    assert out["source"] == "alertmanager" and out["playbooks_loaded"] >= 3
    reasons = {n["playbook"]: n["reason"] for n in out["alerts"][0]["not_matched"]}
    assert reasons["page-only"] == "trigger.sources is [prometheus], the alert came from " \
                                   "'alertmanager'"
    assert reasons["disk-full-cleanup"] == ('trigger.match alertname="NodeFilesystemAlmostOutOfSpace"'
                                            ' fails: alertname is "LambdaErrorSpike"')
    # With --source named as in the library's playbooks, page-only gets to its matchers.
    proc = firebreak("match", "--alert", str(firing), "--playbooks", "playbooks", "--source",
                     "prometheus", "--json", check=1)
    reasons = {n["playbook"]: n["reason"] for n in
               json.loads(proc.stdout)["alerts"][0]["not_matched"]}
    assert reasons["page-only"] == 'trigger.match severity="page" fails: severity is "critical"'


def test_bad_input_is_a_usage_error_that_says_where(firebreak, tmp_path):
    config, _ = setup(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"version": "4", "status": "firing", "alerts": [{"status": "firing", '
                   '"labels": {}, "startsAt": "yesterday"}]}')
    proc = firebreak("match", "--alert", str(bad), "--config", str(config), check=2)
    assert proc.stderr.startswith(f"{bad}: error: alerts[0]"), proc.stderr
    proc = firebreak("match", "--alert", str(bad), "--config", str(config), "--source",
                     "promethues", check=2)
    assert "no such source" in proc.stderr and "(did you mean 'prometheus'?)" in proc.stderr
    proc = firebreak("match", "--alert", str(tmp_path / "missing.json"), check=2)
    assert "missing.json: cannot read it" in proc.stderr
    firebreak("match", check=2)  # --alert is required
