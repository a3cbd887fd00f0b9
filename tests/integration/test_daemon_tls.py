"""firebreakd serving HTTPS (tls: cert, key, client_ca) with certificates made for the test.

A webhook posted over HTTPS with Python's ssl, plain HTTP refused on the TLS port, mutual TLS
(a client certificate from the configured CA required), the real Alertmanager sending over
HTTPS with its tls_config, and a daemon that refuses to start without a readable key.
"""
import http.client as http_client
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import BUILD, ROOT
from daemon_helpers import (ALERTMANAGER, FIXTURES, TOKEN, Alertmanager, Daemon, free_port,
                            http, wait_for)

PLAYBOOK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: contain-function }}
trigger:
  sources: [prometheus]
  match: {{ alertname: LambdaErrorSpike, severity: critical }}
steps:
  - id: mark
    action: exec.run
    with: {{ argv: [/bin/sh, -c, "echo {{{{ alert.labels.function }}}} >> {marks}"] }}
"""


@pytest.fixture
def pki(tmp_path):
    """The files of tests/data/tls/make-pki.sh: ca, server, client, other-ca, other-client."""
    d = tmp_path / "pki"
    subprocess.run(["sh", str(ROOT / "tests" / "data" / "tls" / "make-pki.sh"), str(d)],
                   check=True, capture_output=True)
    return d


def tls_daemon(tmp_path, pki, client_ca=False):
    d = Daemon(tmp_path, {"contain.yaml": PLAYBOOK.format(marks=tmp_path / "marks")})
    tls = f"tls: {{ cert: {pki / 'server.crt'}, key: {pki / 'server.key'}"
    if client_ca:
        tls += f", client_ca: {pki / 'ca.crt'}"
    with open(tmp_path / "firebreak.yaml", "a") as f:
        f.write(tls + " }\n")
    return d.start()


def https(method, url, pki, body=None, headers=None, cert=None, timeout=10):
    """A request trusting only the test CA; `cert` names a client certificate of the PKI."""
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx))
    return http(method, url, body, headers, timeout, opener)


def fixture_body():
    return json.loads((FIXTURES / "06-bearer-firing-2-alerts.json").read_text())


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_webhook_over_https_and_plain_http_refused(tmp_path, pki):
    d = tls_daemon(tmp_path, pki)
    try:
        base = f"https://127.0.0.1:{d.port}"
        assert https("GET", base + "/readyz", pki)[0] == 200
        status, text = https("POST", base + "/hooks/prometheus", pki, fixture_body(), AUTH)
        assert status == 202, text
        assert json.loads(text)["accepted"] == 2
        assert d.query("SELECT count(*) AS n FROM alerts") == [{"n": 2}]

        # Plain HTTP to the TLS port: no answer, nothing stored, the daemon keeps serving.
        with pytest.raises((ConnectionError, http_client.HTTPException, OSError)):
            http("POST", f"http://127.0.0.1:{d.port}/hooks/prometheus", fixture_body(), AUTH)
        assert d.query("SELECT count(*) AS n FROM alerts") == [{"n": 2}]
        assert https("GET", base + "/healthz", pki)[0] == 200
        assert d.proc.poll() is None
    finally:
        d.stop()


def test_keep_alive_over_https(tmp_path, pki):
    d = tls_daemon(tmp_path, pki)
    try:
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        conn = http_client.HTTPSConnection("127.0.0.1", d.port, context=ctx, timeout=10)
        conn.connect()
        first = conn.sock
        for _ in range(3):
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
            assert conn.sock is first  # the same TLS connection every time
        conn.close()
    finally:
        d.stop()


def test_client_certificate_required_with_client_ca(tmp_path, pki):
    d = tls_daemon(tmp_path, pki, client_ca=True)
    try:
        url = f"https://127.0.0.1:{d.port}/hooks/prometheus"
        for cert in (None, "other-client"):  # none, and one from a CA the daemon does not trust
            with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
                https("POST", url, pki, fixture_body(), AUTH, cert=cert)
        assert d.query("SELECT count(*) AS n FROM alerts") == [{"n": 0}]
        status, text = https("POST", url, pki, fixture_body(), AUTH, cert="client")
        assert status == 202, text
        assert d.query("SELECT count(*) AS n FROM alerts") == [{"n": 2}]
    finally:
        d.stop()


@pytest.mark.parametrize("problem", ["missing", "directory"])
def test_daemon_refuses_to_start_without_a_readable_key(tmp_path, pki, problem):
    key = tmp_path / "absent.key"
    if problem == "directory":
        key.mkdir()
    config = tmp_path / "firebreak.yaml"
    config.write_text(f"listen: 127.0.0.1:0\n"
                      f"data_dir: {tmp_path / 'var'}\n"
                      f"playbooks: []\n"
                      "drills: []\n"
                      f"tls: {{ cert: {pki / 'server.crt'}, key: {key} }}\n")
    proc = subprocess.run([str(BUILD / "daemon" / "app" / "firebreakd"), "--config", str(config)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1, proc.stderr
    if problem == "missing":
        assert f"tls.key '{key}': cannot read it: No such file or directory" in proc.stderr
    else:
        assert f"tls.key '{key}': not a PEM private key" in proc.stderr
    assert "ready:" not in proc.stderr
    assert not (tmp_path / "var" / "firebreak.db").exists()  # nothing was started


class HttpsAlertmanager(Alertmanager):
    """The real Alertmanager sending to an HTTPS receiver: the test CA, a client certificate."""

    def __init__(self, tmp_path, hook_url, pki):
        self.port = free_port()
        self.dir = tmp_path / "am"
        self.dir.mkdir()
        (self.dir / "alertmanager.yml").write_text(f"""\
route:
  receiver: firebreak
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: firebreak
    webhook_configs:
      - url: '{hook_url}'
        send_resolved: true
        http_config:
          authorization: {{ type: Bearer, credentials: '{TOKEN}' }}
          tls_config:
            ca_file: {pki / 'ca.crt'}
            cert_file: {pki / 'client.crt'}
            key_file: {pki / 'client.key'}
""")
        self.proc = subprocess.Popen(
            [ALERTMANAGER, f"--config.file={self.dir / 'alertmanager.yml'}",
             f"--storage.path={self.dir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=open(self.dir / "log", "w"), stderr=subprocess.STDOUT)
        wait_for(lambda: self._up(), 30, "Alertmanager to answer")


@pytest.mark.skipif(ALERTMANAGER is None, reason="prometheus-alertmanager is not installed")
def test_alertmanager_sends_over_mutual_tls(tmp_path, pki):
    d = tls_daemon(tmp_path, pki, client_ca=True)
    am = HttpsAlertmanager(tmp_path, f"https://127.0.0.1:{d.port}/hooks/prometheus", pki)
    try:
        am.post_alert({"alertname": "LambdaErrorSpike", "severity": "critical",
                       "function": "orders-handler"})
        wait_for(lambda: d.marks_written() == ["orders-handler"], 30, "the playbook's mark")
        assert d.query("SELECT count(*) AS n FROM alerts") == [{"n": 1}]
        assert am.notify_failures() == []
    finally:
        am.stop()
        d.stop()
