"""A run killed with SIGKILL in the middle of a step resumes without repeating finished steps."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: kill-test }}
steps:
  - id: first
    action: exec.run
    with: {{ argv: [/bin/sh, -c, "echo first >> {marker}"] }}
    idempotent: true
  - id: second
    action: exec.run
    with: {{ argv: [/bin/sh, -c, "echo second >> {marker}; exec sleep 3"] }}
    {idempotent}
  - id: third
    action: exec.run
    with: {{ argv: [/bin/sh, -c, "echo third >> {marker}"] }}
    idempotent: true
"""


def start_and_kill_during_second(firebreak, playbook_path):
    """Starts `run --local`, waits until step 'second' has started, then SIGKILLs it."""
    proc = subprocess.Popen(
        [str(firebreak.binary), "--data-dir", str(firebreak.data_dir), "run", str(playbook_path),
         "--local"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = None
    deadline = time.monotonic() + 30
    for line in proc.stdout:
        m = re.match(r"run (r-\S+) started", line)
        if m:
            run_id = m.group(1)
        if "step.started" in line and "'second'" in line:
            break
        assert time.monotonic() < deadline, "step 'second' never started"
    assert run_id, "the run id was never printed"
    # Step 'second' is journaled as started before its command runs; give the command a
    # moment to write its mark so the kill lands inside the step, not before it.
    marker = playbook_path.parent / "marker"
    deadline = time.monotonic() + 10
    while "second" not in (marker.read_text() if marker.exists() else ""):
        assert time.monotonic() < deadline, "step 'second' never ran its command"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return run_id


def marks(tmp_path):
    return (tmp_path / "marker").read_text().split()


def run_status(firebreak, run_id):
    shown = firebreak("--json", "runs", "show", run_id, "--local", check=0)
    return json.loads(shown.stdout)


def test_idempotent_step_is_rerun_and_finished_steps_are_not(firebreak, tmp_path):
    pb = tmp_path / "pb.yaml"
    pb.write_text(PLAYBOOK.format(marker=tmp_path / "marker", idempotent="idempotent: true"))
    run_id = start_and_kill_during_second(firebreak, pb)
    assert run_status(firebreak, run_id)["status"] == "running"  # as the dead process left it

    resumed = firebreak("runs", "resume", run_id, "--local", check=0)
    assert f"run {run_id} succeeded" in resumed.stdout
    assert marks(tmp_path) == ["first", "second", "second", "third"]
    steps = run_status(firebreak, run_id)["steps"]
    second = [s for s in steps if s["step"] == "second"]
    assert [s["attempt"] for s in second] == [1, 2]
    assert second[0]["idempotency_key"] == second[1]["idempotency_key"]


def test_non_idempotent_step_needs_attention_then_operator_decides(firebreak, tmp_path):
    pb = tmp_path / "pb.yaml"
    pb.write_text(PLAYBOOK.format(marker=tmp_path / "marker", idempotent=""))
    run_id = start_and_kill_during_second(firebreak, pb)

    resumed = firebreak("runs", "resume", run_id, "--local", check=1)
    assert f"run {run_id} needs-attention" in resumed.stdout
    assert "was interrupted and is not idempotent" in resumed.stdout
    assert marks(tmp_path) == ["first", "second"]
    assert run_status(firebreak, run_id)["status"] == "needs-attention"

    skipped = firebreak("runs", "skip", run_id, "--local", check=0)
    assert f"run {run_id} succeeded" in skipped.stdout
    assert marks(tmp_path) == ["first", "second", "third"]


def test_a_second_process_cannot_run_steps_on_the_same_data_dir(firebreak, tmp_path):
    pb = tmp_path / "pb.yaml"
    pb.write_text(PLAYBOOK.format(marker=tmp_path / "marker", idempotent="idempotent: true"))
    proc = subprocess.Popen(
        [str(firebreak.binary), "--data-dir", str(firebreak.data_dir), "run", str(pb), "--local"],
        stdout=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if "step.started" in line:
                break
        second = firebreak("run", str(pb), "--local", check=1)
        assert "another firebreak process (pid" in second.stderr
    finally:
        proc.wait(timeout=30)
