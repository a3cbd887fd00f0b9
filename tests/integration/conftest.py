"""Shared fixtures: where the built binaries are, and a scratch directory per test."""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("FIREBREAK_BUILD", ROOT / "build"))


@pytest.fixture
def firebreak(tmp_path):
    """Runs the firebreak CLI with --data-dir in this test's scratch dir."""
    binary = BUILD / "cli" / "firebreak"
    assert binary.exists(), f"{binary} is missing: build first (make build)"

    def run(*args, timeout=60, check=None):
        cmd = [str(binary), "--data-dir", str(tmp_path / "var"), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check is not None:
            assert proc.returncode == check, f"{cmd}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        return proc

    run.binary = binary
    run.data_dir = tmp_path / "var"
    return run
