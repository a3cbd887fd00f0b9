"""Bad input against a real firebreakd, while a well-behaved client keeps posting alerts.

Each bad request gets its status code (or is cut off), nothing it carried is stored, and the
well-behaved client, on its own loopback address, keeps being answered 202 quickly.
"""
import http.client
import json
import resource
import secrets
import select
import socket
import statistics
import threading
import time

import pytest

from daemon_helpers import TOKEN, Daemon, webhook_body

PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: { name: note }
trigger:
  sources: [prometheus]
  match: { alertname: FirebreakBadInput }
steps:
  - { id: note, action: log, with: { message: "alert {{ alert.labels.n }}" } }
"""

SOURCES = ("  prometheus:\n"
           "    type: alertmanager\n"
           "    auth: { bearer: env:FIREBREAK_AM_TOKEN }\n"
           "    max_body: 64KiB\n")
HEADER_TIMEOUT_S = 2
PER_CLIENT = 600
LIMITS = (f"{{ header_timeout: {HEADER_TIMEOUT_S}s, max_connections_per_client: {PER_CLIENT}, "
          "max_body_bytes: 256KiB }")


@pytest.fixture
def daemon(tmp_path):
    # 1,000 connections and more, on both ends: the daemon inherits the raised limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    d = Daemon(tmp_path, {"note.yaml": PLAYBOOK}, sources=SOURCES, http_limits=LIMITS,
               log_level="info").start()
    yield d
    d.stop()
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def alert_body(n, count=1):
    return webhook_body([{"fingerprint": secrets.token_hex(8),
                          "labels": {"alertname": "FirebreakBadInput", "n": f"{n}-{i}"}}
                         for i in range(count)])


def raw_request(body_bytes, token=TOKEN, path="/hooks/prometheus", content_length=None,
                extra=""):
    auth = f"Authorization: Bearer {token}\r\n" if token is not None else ""
    length = len(body_bytes) if content_length is None else content_length
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {length}\r\n{extra}\r\n").encode() + body_bytes


def read_status(sock, timeout=10):
    """The status code of the response on `sock`, or None if it was closed first."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return None
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return None
    return int(data.split(b" ", 2)[1])


def connect(port, source="127.0.0.1"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return s


class GoodClient(threading.Thread):
    """Posts a new alert every 50 ms from 127.0.0.2 and times each answer."""

    def __init__(self, daemon):
        super().__init__(daemon=True)
        self.port = daemon.port
        self.stop = threading.Event()
        self.latencies = []
        self.statuses = []
        self.errors = []

    def run(self):
        i = 0
        while not self.stop.is_set():
            body = json.dumps(alert_body(f"good-{i}")).encode()
            i += 1
            start = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10,
                                                  source_address=("127.0.0.2", 0))
                conn.request("POST", "/hooks/prometheus", body,
                             {"Authorization": f"Bearer {TOKEN}",
                              "Content-Type": "application/json"})
                resp = conn.getresponse()
                resp.read()
                conn.close()
                self.statuses.append(resp.status)
                self.latencies.append(time.monotonic() - start)
            except OSError as e:
                self.errors.append(repr(e))
            time.sleep(0.05)

    def check(self, daemon):
        deadline = time.monotonic() + 10
        while len(self.statuses) < 5 and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.05)
        self.stop.set()
        self.join(timeout=30)
        assert self.errors == []
        assert len(self.statuses) >= 5
        assert set(self.statuses) == {202}
        # Sane: the bad clients cost the good one little (a loaded 2-core machine is noisy).
        assert statistics.median(self.latencies) < 0.25, self.latencies
        assert max(self.latencies) < 1.5, self.latencies
        stored = daemon.query("SELECT count(*) AS c FROM alerts WHERE "
                              "json_extract(labels_json, '$.n') LIKE 'good-%'")[0]["c"]
        assert stored == len(self.statuses)


def stored_bad(daemon):
    return daemon.query("SELECT json_extract(labels_json, '$.n') AS n FROM alerts WHERE "
                        "json_extract(labels_json, '$.n') LIKE 'bad-%'")


def test_bad_requests_get_their_status_and_store_nothing(daemon):
    good = GoodClient(daemon)
    good.start()
    body = json.dumps(alert_body("bad-ok-json")).encode()
    cases = [
        ("malformed JSON", raw_request(body[:-7]), 400),
        ("not JSON", raw_request(b"alerts=bad-1"), 400),
        ("JSON of the wrong shape", raw_request(b'{"version":"4","alerts":{"n":"bad-2"}}'), 400),
        ("missing token", raw_request(body, token=None), 401),
        ("wrong token", raw_request(body, token="wrong-" + TOKEN[6:]), 401),
        ("token of another scheme",
         raw_request(body, token=None, extra=f"Authorization: Basic {TOKEN}\r\n"), 401),
        ("body over the source's max_body",
         raw_request(json.dumps(alert_body("bad-big", 400)).encode()), 413),
        ("unknown source", raw_request(body, path="/hooks/nosuch"), 404),
        ("header over max_header_bytes",
         raw_request(body, extra="X-Padding: " + "x" * (20 << 10) + "\r\n"), 431),
        ("two Content-Lengths", raw_request(body, extra=f"Content-Length: {len(body) + 1}\r\n"),
         400),
        ("not POST", raw_request(body).replace(b"POST", b"PUT", 1), 405),
    ]
    assert len(json.dumps(alert_body("bad-big", 400))) > 64 * 1024
    try:
        for what, request, status in cases:
            s = connect(daemon.port)
            s.sendall(request)
            assert read_status(s) == status, what
            s.close()
        # A body over the server's limit is refused on its Content-Length, before it is sent.
        s = connect(daemon.port)
        s.sendall(raw_request(b"", content_length=64 << 20))
        assert read_status(s) == 413
        s.close()
        # The next request on a keep-alive connection after a refused one is still served.
        s = connect(daemon.port)
        s.sendall(raw_request(body, token=None))
        assert read_status(s) == 401
        s.sendall(raw_request(json.dumps(alert_body("after-401")).encode()))
        assert read_status(s) == 202
        s.close()
    finally:
        good.check(daemon)
    assert stored_bad(daemon) == []
    log = daemon.log.read_text()
    assert TOKEN not in log and TOKEN[6:] not in log  # neither the right token nor the wrong one


def wait_closed(socks, seconds):
    """The sockets of `socks` that the peer closed within `seconds`."""
    poller = select.poll()
    by_fd = {}
    for s in socks:
        s.setblocking(False)
        poller.register(s.fileno(), select.POLLIN | select.POLLHUP | select.POLLERR)
        by_fd[s.fileno()] = s
    closed = set()
    deadline = time.monotonic() + seconds
    while by_fd and time.monotonic() < deadline:
        for fd, _ in poller.poll(50):
            s = by_fd.get(fd)
            if s is None:
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.add(s)
                poller.unregister(fd)
                del by_fd[fd]
    for s in socks:
        s.setblocking(True)
    return closed


def test_slow_clients_are_cut_off_at_the_header_timeout(daemon):
    good = GoodClient(daemon)
    good.start()
    request = raw_request(json.dumps(alert_body("bad-slow")).encode())
    slow = [connect(daemon.port) for _ in range(20)]
    sent = [0] * len(slow)
    cut = [None] * len(slow)
    start = time.monotonic()
    try:
        # A byte a second from each, until the daemon hangs up.
        while any(c is None for c in cut) and time.monotonic() - start < HEADER_TIMEOUT_S + 8:
            for i, s in enumerate(slow):
                if cut[i] is not None:
                    continue
                try:
                    s.send(request[sent[i]:sent[i] + 1])
                    sent[i] += 1
                    s.setblocking(False)
                    if s.recv(1) == b"":
                        cut[i] = time.monotonic() - start
                except BlockingIOError:
                    pass
                except OSError:
                    cut[i] = time.monotonic() - start
                finally:
                    s.setblocking(True)
            time.sleep(1)
    finally:
        for s in slow:
            s.close()
        good.check(daemon)
    assert all(c is not None for c in cut), "a slow client was never cut off"
    assert max(cut) < HEADER_TIMEOUT_S + 3, cut
    assert max(sent) < len(request) // 4  # nowhere near a whole header
    assert stored_bad(daemon) == []


def test_a_thousand_connections_at_once(daemon):
    good = GoodClient(daemon)
    good.start()
    # 1,000 connections that send nothing, from one address: over the per-client limit they
    # are closed at once, the rest at the header timeout.
    opened = time.monotonic()
    idle = [connect(daemon.port) for _ in range(1000)]
    busy = []
    try:
        refused = wait_closed(idle, HEADER_TIMEOUT_S * 0.4)
        assert len(refused) >= 1000 - PER_CLIENT, "the per-client limit was not applied"
        admitted = [s for s in idle if s not in refused]
        # Meanwhile 500 clients from another address each post a whole request at once.
        busy = [connect(daemon.port, "127.0.0.3") for _ in range(500)]
        for i, s in enumerate(busy):
            s.sendall(raw_request(json.dumps(alert_body(f"many-{i}")).encode()))
        statuses = [read_status(s, timeout=30) for s in busy]
        # The admitted idle ones are held no longer than the header timeout.
        left = HEADER_TIMEOUT_S + 3 - (time.monotonic() - opened)
        timed_out = wait_closed(admitted, max(left, 0.1))
        assert len(timed_out) == len(admitted), "an idle connection was held open"
    finally:
        for s in idle + busy:
            s.close()
        good.check(daemon)

    # The in-flight limit (1024) is not reached: all 500 are answered 202, and stored.
    assert statuses == [202] * 500
    stored = daemon.query("SELECT count(*) AS c FROM alerts WHERE "
                          "json_extract(labels_json, '$.n') LIKE 'many-%'")[0]["c"]
    assert stored == 500
    assert stored_bad(daemon) == []
