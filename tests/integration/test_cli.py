"""The local verbs of the CLI, end to end on real files."""
import json

BAD = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: bad }
steps:
  - id: a
    action: log
    idempotnet: true
    with: { message: hi }
"""


def test_validate_reports_file_line_column_and_fails(firebreak, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD)
    proc = firebreak("validate", str(bad), check=1)
    assert f"{bad}:7:5: error: unknown key 'idempotnet'" in proc.stderr
    assert "(did you mean 'idempotent'?)" in proc.stderr


def test_validate_library_playbooks(firebreak):
    proc = firebreak("validate", "playbooks", check=0)
    assert "0 error(s)" in proc.stdout


def test_dry_run_executes_nothing(firebreak, tmp_path):
    target = tmp_path / "should-not-exist"
    pb = tmp_path / "pb.yaml"
    pb.write_text(f"""\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: dry }}
steps:
  - {{ id: touch, action: exec.run, with: {{ argv: [/usr/bin/touch, "{target}"] }} }}
""")
    proc = firebreak("run", str(pb), "--local", "--dry-run", check=0)
    assert "would run /usr/bin/touch" in proc.stdout
    assert not target.exists()
    runs = json.loads(firebreak("--json", "runs", "list", "--local", check=0).stdout)
    assert runs[0]["status"] == "succeeded" and runs[0]["dry_run"] is True


def test_actions_catalogue_lists_safety_properties(firebreak):
    catalogue = json.loads(firebreak("--json", "actions", check=0).stdout)
    by_name = {a["name"]: a for a in catalogue}
    assert by_name["backup.restore"]["destructive"] is True
    assert by_name["backup.restore"]["undo"] == "backup.undo_restore"
    assert by_name["exec.run"]["idempotent"] is False
    assert by_name["exec.run"]["step_may_declare_idempotent"] is True
    proc = firebreak("actions", "exec.rnu", check=1)
    assert "did you mean 'exec.run'?" in proc.stderr


def test_bad_param_is_a_usage_error(firebreak):
    proc = firebreak("run", "page-only", "--local", "--param", "novalue", check=2)
    assert "--param 'novalue': write it as name=value" in proc.stderr
