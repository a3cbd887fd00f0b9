"""firebreakd's systemd notify protocol against a real datagram socket standing in for systemd.

READY=1 once the listener answers (store open, playbooks loaded), WATCHDOG=1 at half of
WATCHDOG_USEC for as long as it runs, RELOADING=1 then READY=1 around a SIGHUP reload,
STOPPING=1 at SIGTERM; nothing without NOTIFY_SOCKET.
"""
import os
import signal
import socket
import threading
import time

import pytest

from daemon_helpers import Daemon, http


class NotifySocket:
    """A bound AF_UNIX datagram socket; every message it receives, with its arrival time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages = []
        self.lock = threading.Lock()
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            with self.lock:
                self.messages.append((time.monotonic(), data.decode()))

    def having(self, assignment):
        with self.lock:
            return [(t, m) for t, m in self.messages if assignment in m.split("\n")]

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def notify(tmp_path, monkeypatch):
    sock = NotifySocket(tmp_path / "notify.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock.path))
    yield sock
    sock.close()


def test_ready_watchdog_and_stopping(tmp_path, notify, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # pings every 100 ms
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    d = Daemon(tmp_path, {}).start()
    try:
        wait_until(lambda: notify.having("READY=1"), 10, "READY=1")
        [(_, ready)] = notify.having("READY=1")
        assert f"STATUS=serving on 127.0.0.1:{d.port}" in ready.split("\n")
        # Ready means serving: the listener answers and /readyz says so.
        assert http("GET", f"http://127.0.0.1:{d.port}/readyz")[0] == 200

        wait_until(lambda: len(notify.having("WATCHDOG=1")) >= 6, 10, "six WATCHDOG=1")
        times = [t for t, _ in notify.having("WATCHDOG=1")]
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert max(gaps) < 0.2, gaps  # within WATCHDOG_USEC every time
        assert sum(gaps) / len(gaps) > 0.05, gaps  # paced, not a flood
        assert notify.having("STOPPING=1") == []

        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=30) == 0
        [(_, stopping)] = notify.having("STOPPING=1")
        assert any(line.startswith("STATUS=") for line in stopping.split("\n"))
        assert len(notify.having("READY=1")) == 1
    finally:
        d.stop()


def test_reload_is_announced_and_ends_ready(tmp_path, notify, monkeypatch):
    # systemd's `systemctl reload` waits for READY=1 after RELOADING=1, taken or refused.
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    d = Daemon(tmp_path, {}).start()
    try:
        wait_until(lambda: notify.having("READY=1"), 10, "READY=1")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: len(notify.having("READY=1")) == 2, 10, "READY=1 after the reload")
        [(reloading_at, _)] = notify.having("RELOADING=1")
        ready_at = notify.having("READY=1")[1][0]
        assert reloading_at <= ready_at
    finally:
        d.stop()


def test_no_watchdog_unless_asked(tmp_path, notify, monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    d = Daemon(tmp_path, {}).start()
    try:
        wait_until(lambda: notify.having("READY=1"), 10, "READY=1")
        time.sleep(0.5)  # long enough for pings at any interval the daemon could pick
        assert notify.having("WATCHDOG=1") == []
    finally:
        d.stop()
    assert len(notify.having("STOPPING=1")) == 1


def test_watchdog_for_another_pid_is_not_ours(tmp_path, notify, monkeypatch):
    # WATCHDOG_PID names the process systemd watches; a child that inherited it must not ping.
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    d = Daemon(tmp_path, {}).start()
    try:
        wait_until(lambda: notify.having("READY=1"), 10, "READY=1")
        time.sleep(0.5)
        assert notify.having("WATCHDOG=1") == []
    finally:
        d.stop()


def test_nothing_without_notify_socket(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    d = Daemon(tmp_path, {}).start()
    assert http("GET", f"http://127.0.0.1:{d.port}/readyz")[0] == 200
    d.stop()  # exits 0: no notify attempt failed or blocked it
