"""CloudWatch alarms through SNS into firebreakd, end to end.

The signed vectors of ../shared/fixtures/sns go through the real daemon (their signing
certificate pinned in the config, since it is a local test certificate and not Amazon's), and
fresh notifications signed now with the same test key drive the library playbook
`lambda-abuse` against a real moto_server: the function is throttled and its role's sessions
revoked within a second, once, however often SNS re-sends the message.
"""
import base64
import http.server
import io
import json
import threading
import time
import uuid
import zipfile
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import ROOT
from daemon_helpers import Daemon, http as http_call, wait_for
from test_aws_actions import POLICY, reserved, revoke_policy
# `moto`: the moto_server fixture, one per module, shared with the client tests.
from test_aws_client import ACCOUNT, REGION, TRUST, clean_env, moto  # noqa: F401

SNS = ROOT.parent / "shared" / "fixtures" / "sns"
TOPIC = "arn:aws:sns:us-east-1:123456789012:incident-alerts"
CERT_URL = ("https://sns.us-east-1.amazonaws.com/"
            "SimpleNotificationService-70a1ea66d0a36df605047fde42ed91f0.pem")
KEY = serialization.load_pem_private_key((SNS / "signing-key.TEST-ONLY.pem").read_bytes(), None)


def sns_source(max_age="1h", topics=(TOPIC,)):
    return ("  cloudwatch:\n"
            "    type: sns\n"
            "    sns:\n"
            f"      topics: {json.dumps(list(topics))}\n"
            f"      max_age: {max_age}\n"
            f"      certificates: {{ \"{CERT_URL}\": \"{SNS / 'signing-cert.pem'}\" }}\n")


def post(daemon, body, message_type=None):
    """POSTs an SNS delivery as SNS does: text/plain, its message-type header."""
    text = body if isinstance(body, str) else json.dumps(body, indent=2)
    headers = {"Content-Type": "text/plain; charset=UTF-8",
               "x-amz-sns-message-type": message_type or json.loads(text)["Type"],
               "x-amz-sns-topic-arn": json.loads(text).get("TopicArn", "")}
    import urllib.request
    req = urllib.request.Request(daemon.url("/hooks/cloudwatch"), data=text.encode(),
                                 method="POST", headers=headers)
    from daemon_helpers import OPENER
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def signed_notification(alarm, message_id=None, version="2", when=None):
    """A Notification carrying `alarm` (a CloudWatch alarm document), signed now."""
    when = when or datetime.now(timezone.utc)
    m = {"Type": "Notification", "MessageId": message_id or str(uuid.uuid4()), "TopicArn": TOPIC,
         "Subject": f'ALARM: "{alarm["AlarmName"]}" in US East (N. Virginia)',
         "Message": json.dumps(alarm),
         "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
         "SignatureVersion": version, "SigningCertURL": CERT_URL,
         "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1"}
    to_sign = "".join(f"{k}\n{m[k]}\n" for k in
                      ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"))
    digest = hashes.SHA256() if version == "2" else hashes.SHA1()
    m["Signature"] = base64.b64encode(
        KEY.sign(to_sign.encode(), padding.PKCS1v15(), digest)).decode()
    return m


def lambda_alarm(function, state="ALARM", name=None):
    name = name or f"{function}-abuse"
    return {"AlarmName": name, "AlarmDescription": "invocations far above normal",
            "AWSAccountId": ACCOUNT, "NewStateValue": state,
            "NewStateReason": "Threshold Crossed", "StateChangeTime": "2026-12-01T10:00:00.000+0000",
            "Region": "US East (N. Virginia)",
            "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
            "OldStateValue": "OK",
            "Trigger": {"MetricName": "Invocations", "Namespace": "AWS/Lambda",
                        "Statistic": "SUM", "Dimensions": [{"value": function,
                                                            "name": "FunctionName"}],
                        "Period": 60, "EvaluationPeriods": 1,
                        "ComparisonOperator": "GreaterThanThreshold", "Threshold": 1000.0}}


class Slack:
    """A local webhook receiver standing in for Slack: it keeps what it is sent."""

    def __init__(self):
        self.messages = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                outer.messages.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slack():
    s = Slack()
    yield s
    s.stop()


def make_function_with_role(moto, name):
    iam, lam = moto.client("iam"), moto.client("lambda")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 1\n")
    lam.create_function(FunctionName=name, Runtime="python3.11", Role=role["Arn"],
                        Handler="index.handler", Code={"ZipFile": code.getvalue()})
    return role


def daemon_env(tmp_path, slack):
    return clean_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                     SLACK_WEBHOOK_URL=slack.url)


def aws_daemon(tmp_path, moto, slack, playbooks=None, extra=""):
    playbooks = playbooks or {"lambda-abuse.yaml":
                              (ROOT / "playbooks" / "lambda-abuse.yaml").read_text()}
    return Daemon(tmp_path, playbooks, sources=sns_source(),
                  extra_config=(f"providers:\n  aws: {{ region: {REGION}, "
                                f"endpoint_url: \"{moto.url}\" }}\n" + extra),
                  env=daemon_env(tmp_path, slack)).start()


def runs_of(daemon, playbook):
    return daemon.query("SELECT id, status FROM runs WHERE playbook = ?", (playbook,))


# ---- the fixture vectors, through the daemon ----

@pytest.fixture
def vector_daemon(tmp_path, slack):
    # The vectors were signed in 2025: only a max_age that reaches back that far accepts them.
    d = Daemon(tmp_path, {}, sources=sns_source(max_age="1000d"),
               env=daemon_env(tmp_path, slack)).start()
    yield d
    d.stop()


@pytest.mark.parametrize("stem", ["01-notification-lambda-errors-ALARM-sv1",
                                  "02-notification-lambda-errors-ALARM-sv2"])
def test_signed_vectors_are_accepted_and_stored(vector_daemon, stem):
    status, body = post(vector_daemon, (SNS / f"{stem}.json").read_text())
    assert status == 202, body
    assert body["accepted"] == 1
    rows = vector_daemon.query("SELECT name, status FROM alerts")
    assert len(rows) == 1 and rows[0]["status"] == "firing", rows


def test_a_signed_message_that_is_not_an_alarm_is_refused_naming_the_field(vector_daemon):
    # Signed and from an allowed topic, so it gets as far as the CloudWatch reader.
    status, body = post(vector_daemon, (SNS / "07-notification-no-subject-sv1.json").read_text())
    assert status == 400, body
    assert body["error"].startswith("Message: "), body
    assert vector_daemon.query("SELECT * FROM alerts") == []


@pytest.mark.parametrize("stem", ["90-INVALID-notification-tampered-message-sv2",
                                  "91-INVALID-notification-sv2-signature-labelled-sv1"])
def test_invalid_signatures_are_refused_and_nothing_is_stored(vector_daemon, stem):
    status, body = post(vector_daemon, (SNS / f"{stem}.json").read_text())
    assert status == 403, body
    assert "signature" in body["error"]
    assert vector_daemon.query("SELECT * FROM alerts") == []


def test_ok_resolves_what_alarm_opened(vector_daemon):
    assert post(vector_daemon, (SNS / "02-notification-lambda-errors-ALARM-sv2.json")
                .read_text())[0] == 202
    status, body = post(vector_daemon,
                        (SNS / "06-notification-lambda-errors-OK-sv2.json").read_text())
    assert status == 202, body
    # The same alert (the alarm's identity), first firing, then resolved.
    rows = vector_daemon.query("SELECT status, identity FROM alerts ORDER BY received_at_ms")
    assert [r["status"] for r in rows] == ["firing", "resolved"], rows
    assert rows[0]["identity"] == rows[1]["identity"] != "", rows


def test_unsubscribe_confirmation_is_acknowledged_only(vector_daemon):
    status, body = post(vector_daemon,
                        (SNS / "08-unsubscribe-confirmation-sv2.json").read_text())
    assert status == 200, body
    assert body == {"unsubscribed": TOPIC}
    assert vector_daemon.query("SELECT * FROM alerts") == []


def test_another_topics_subscription_is_never_confirmed(tmp_path, slack):
    d = Daemon(tmp_path, {}, sources=sns_source(max_age="1000d",
                                                topics=["arn:aws:sns:*:*:other"]),
               env=daemon_env(tmp_path, slack)).start()
    try:
        status, body = post(d, (SNS / "04-subscription-confirmation-sv2.json").read_text())
        assert status == 403, body
        assert "is not one of the source's sns.topics" in body["error"]
        assert not d.logged("source cloudwatch: subscription")
    finally:
        d.stop()


def test_an_old_message_is_refused_with_the_default_max_age(tmp_path, slack):
    d = Daemon(tmp_path, {}, sources=sns_source(), env=daemon_env(tmp_path, slack)).start()
    try:
        status, body = post(d, (SNS / "02-notification-lambda-errors-ALARM-sv2.json").read_text())
        assert status == 403, body
        assert d.query("SELECT * FROM alerts") == []
    finally:
        d.stop()


def test_header_and_body_must_agree(vector_daemon):
    status, body = post(vector_daemon, (SNS / "02-notification-lambda-errors-ALARM-sv2.json")
                        .read_text(), message_type="SubscriptionConfirmation")
    assert status == 400, body
    assert "x-amz-sns-message-type" in body["error"]


# ---- end to end: an alarm contains the function in moto ----

def test_alarm_throttles_the_function_and_revokes_its_role_once(tmp_path, moto, slack):
    role = make_function_with_role(moto, "fb-sns-abused")
    d = aws_daemon(tmp_path, moto, slack)
    try:
        message = signed_notification(lambda_alarm("fb-sns-abused"))
        started = time.monotonic()
        status, body = post(d, message)
        assert status == 202, body
        wait_for(lambda: reserved(moto, "fb-sns-abused") == 0
                 and revoke_policy(moto, role["RoleName"]) is not None, 1.0,
                 "the function throttled and its role's sessions revoked")
        contained_in = time.monotonic() - started
        assert contained_in < 1.0, contained_in

        # SNS re-sends a delivery it did not see answered, with the same MessageId; the alarm
        # may also notify again for the same state. Neither starts a second run.
        for _ in range(5):
            assert post(d, message)[0] == 202
        assert post(d, signed_notification(lambda_alarm("fb-sns-abused")))[0] == 202
        wait_for(lambda: all(r["status"] == "succeeded" for r in runs_of(d, "lambda-abuse")),
                 10, "the run to finish")
        assert len(runs_of(d, "lambda-abuse")) == 1
        assert len(slack.messages) == 1, slack.messages
        assert "fb-sns-abused contained" in slack.messages[0]["text"]
        statement = revoke_policy(moto, role["RoleName"])["Statement"][0]
        assert statement["Effect"] == "Deny"
    finally:
        d.stop()


def test_protected_role_is_never_touched(tmp_path, moto, slack):
    role = make_function_with_role(moto, "fb-sns-guarded")
    d = aws_daemon(tmp_path, moto, slack,
                   extra=f"limits:\n  protected: [\"arn:aws:iam::*:role/{role['RoleName']}\"]\n")
    try:
        assert post(d, signed_notification(lambda_alarm("fb-sns-guarded")))[0] == 202
        wait_for(lambda: [r["status"] for r in runs_of(d, "lambda-abuse")] == ["failed"], 10,
                 "the run to fail at the protected role")
        assert revoke_policy(moto, role["RoleName"]) is None
        # The containment before it was undone when the run failed.
        assert reserved(moto, "fb-sns-guarded") is None
        assert any("failed and was undone" in m["text"] for m in slack.messages), slack.messages
    finally:
        d.stop()


BUDGET = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: throttle-all }}
trigger: {{ sources: [cloudwatch], match: {{ alertname: throttle-all }} }}
steps:
{steps}"""


def test_the_eleventh_destructive_action_in_a_minute_waits_for_approval(tmp_path, moto, slack):
    names = [f"fb-budget-{i}" for i in range(11)]
    for n in names:
        make_function_with_role(moto, n)
    steps = "".join(f"  - {{ id: t{i}, action: aws.lambda.set_concurrency, "
                    f"with: {{ function: {n}, reserved: 0 }} }}\n" for i, n in enumerate(names))
    d = aws_daemon(tmp_path, moto, slack,
                   playbooks={"budget.yaml": BUDGET.format(steps=steps)},
                   extra="limits: { destructive_actions_per_minute: 10 }\n")
    try:
        assert post(d, signed_notification(lambda_alarm("any", name="throttle-all")))[0] == 202
        wait_for(lambda: d.query("SELECT * FROM approvals WHERE status = 'pending'"), 10,
                 "the eleventh step to wait for approval")
        assert [reserved(moto, n) for n in names] == [0] * 10 + [None]
        (approval,) = d.query("SELECT step_id FROM approvals WHERE status = 'pending'")
        assert approval["step_id"].startswith("t10"), approval
    finally:
        d.stop()
