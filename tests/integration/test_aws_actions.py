"""The AWS actions (aws.lambda.set_concurrency, aws.iam.revoke_role_sessions,
aws.iam.deactivate_access_key and their undos)
run by the real CLI against a real moto_server: each changes exactly what it should (read back
with boto3), the engine's undo puts back the state before, dry-run changes nothing, a second
execution with the same idempotency key changes nothing (fb_aws_action), and a protected
function or role is never touched.
"""
import io
import json
import os
import subprocess
import zipfile

import pytest

from conftest import BUILD, ROOT
# `moto`: the moto_server fixture, one per module, shared with the client tests.
from test_aws_client import ACCOUNT, REGION, TRUST, clean_env, moto  # noqa: F401

CLI = BUILD / "cli" / "firebreak"
ACTION_TOOL = BUILD / "tests" / "fb_aws_action"
POLICY = "AWSRevokeOlderSessions"

SET_CONCURRENCY = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: throttle }}
params:
  function: {{ required: true }}
steps:
  - id: throttle
    action: aws.lambda.set_concurrency
    with: {{ function: "{{{{ params.function }}}}", reserved: 0 }}
{fail}"""

REVOKE = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: revoke }}
params:
  role: {{ required: true }}
steps:
  - id: revoke
    action: aws.iam.revoke_role_sessions
    with: {{ role: "{{{{ params.role }}}}" }}
{fail}"""

DEACTIVATE = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: keys }}
params:
  user: {{ required: true }}
  key: {{ default: "" }}
steps:
  - id: deactivate
    action: aws.iam.deactivate_access_key
    with: {with_}
{fail}"""

FAIL_STEP = """\
  - id: breaks
    action: exec.run
    with: { argv: [/bin/false] }
"""


@pytest.fixture
def cli(tmp_path, moto):
    """Runs `firebreak --config` with a config naming moto; returns (proc, run record)."""
    assert CLI.exists(), f"{CLI} is missing: build the firebreak target first"
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

    def write_config(protected=(), providers=True):
        cfg = tmp_path / "firebreak.yaml"
        text = f"data_dir: {tmp_path / 'var'}\nplaybooks: [{tmp_path / 'playbooks'}]\n"
        if providers:
            text += f"providers:\n  aws: {{ region: {REGION}, endpoint_url: \"{moto.url}\" }}\n"
        if protected:
            text += "limits:\n  protected: [" + ", ".join(f'"{p}"' for p in protected) + "]\n"
        cfg.write_text(text)
        return cfg

    def run(playbook_text, *args, protected=(), providers=True, extra_env=None):
        cfg = write_config(protected, providers)
        pb = tmp_path / "pb.yaml"
        pb.write_text(playbook_text)
        proc = subprocess.run([str(CLI), "--config", str(cfg), "--json", "run", str(pb), "--local",
                               *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                              env=dict(env, **(extra_env or {})))
        record = json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else None
        if record and record.get("id"):
            # The run with its steps (outputs, errors) and timeline.
            shown = subprocess.run([str(CLI), "--config", str(cfg), "--json", "runs", "show",
                                    record["id"], "--local"], capture_output=True, text=True,
                                   timeout=60, cwd=tmp_path, env=env)
            assert shown.returncode == 0, shown.stderr
            record = json.loads(shown.stdout)
        proc.text = proc.stdout + proc.stderr + json.dumps(record)
        return proc, record

    run.env = env
    return run


def make_function(moto, name):
    iam, lam = moto.client("iam"), moto.client("lambda")
    try:
        role = iam.get_role(RoleName="fb-actions-exec")["Role"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="fb-actions-exec", AssumeRolePolicyDocument=TRUST)["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 1\n")
    return lam.create_function(FunctionName=name, Runtime="python3.11", Role=role["Arn"],
                               Handler="index.handler", Code={"ZipFile": code.getvalue()})


def reserved(moto, name):
    return moto.client("lambda").get_function_concurrency(FunctionName=name).get(
        "ReservedConcurrentExecutions")


def revoke_policy(moto, role):
    iam = moto.client("iam")
    try:
        return iam.get_role_policy(RoleName=role, PolicyName=POLICY)["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None


def step_output(record, step_id):
    for s in record.get("steps", []):
        if s.get("step") == step_id and s.get("stage") != "undo":
            return s.get("output")
    raise AssertionError(f"no step {step_id} in {json.dumps(record)[:2000]}")


def action_tool(moto, tmp_path, name, params, *args):
    assert ACTION_TOOL.exists(), f"{ACTION_TOOL} is missing: build fb_aws_action first"
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    proc = subprocess.run([str(ACTION_TOOL), "--region", REGION, "--endpoint-url", moto.url,
                           "--data-dir", str(tmp_path / "tool"), *args, name, json.dumps(params)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


# ---- the catalogue ----

def test_actions_listed_without_any_aws_settings(tmp_path):
    env = clean_env(tmp_path)
    proc = subprocess.run([str(CLI), "--json", "actions"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for name in ("aws.lambda.set_concurrency", "aws.lambda.restore_concurrency",
                 "aws.iam.revoke_role_sessions", "aws.iam.restore_role_sessions"):
        assert name in text
    for permission in ("lambda:PutFunctionConcurrency", "iam:PutRolePolicy",
                       "iam:DeleteRolePolicy"):
        assert permission in text
    # The engine retries them as the AWS SDKs do, unless a step says otherwise.
    by_name = {a["name"]: a for a in json.loads(text)}
    assert by_name["aws.lambda.set_concurrency"]["retry"] == {
        "attempts": 3, "backoff": "1s", "max_backoff": "20s"}
    assert by_name["log"]["retry"]["attempts"] == 1
    assert {"assume_role", "region"} <= {p["name"] for p in
                                         by_name["aws.iam.revoke_role_sessions"]["params"]}


def test_missing_region_fails_the_step_clearly(cli, moto):
    make_function(moto, "fb-noregion")
    proc, record = cli(SET_CONCURRENCY.format(fail=""), "--param", "function=fb-noregion",
                       providers=False)
    assert proc.returncode == 1
    assert "no AWS region" in proc.text
    assert reserved(moto, "fb-noregion") is None


# ---- aws.lambda.set_concurrency ----

def test_set_concurrency_throttles_and_records_none(cli, moto):
    make_function(moto, "fb-set")
    proc, record = cli(SET_CONCURRENCY.format(fail=""), "--param", "function=fb-set")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert reserved(moto, "fb-set") == 0
    out = step_output(record, "throttle")
    assert out["previous"] is None and out["reserved"] == 0
    assert out["function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fb-set"


@pytest.mark.parametrize("before", [None, 7])
def test_set_concurrency_undone_exactly_when_a_later_step_fails(cli, moto, before):
    name = f"fb-undo-{before}"
    make_function(moto, name)
    if before is not None:
        moto.client("lambda").put_function_concurrency(FunctionName=name,
                                                       ReservedConcurrentExecutions=before)
    proc, record = cli(SET_CONCURRENCY.format(fail=FAIL_STEP), "--param", f"function={name}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert any(e["kind"] == "step.undone" for e in record["timeline"]), proc.text
    assert reserved(moto, name) == before


def test_set_concurrency_dry_run_changes_nothing(cli, moto):
    make_function(moto, "fb-dry")
    moto.client("lambda").put_function_concurrency(FunctionName="fb-dry",
                                                   ReservedConcurrentExecutions=3)
    proc, record = cli(SET_CONCURRENCY.format(fail=""), "--param", "function=fb-dry", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "would set reserved concurrency of fb-dry from 3 to 0" in json.dumps(record)
    assert reserved(moto, "fb-dry") == 3


def test_set_concurrency_never_touches_a_protected_function(cli, moto):
    make_function(moto, "prod-payments")
    pattern = "arn:aws:lambda:*:function:prod-*"
    proc, record = cli(SET_CONCURRENCY.format(fail=""), "--param", "function=prod-payments",
                       protected=[pattern])
    assert proc.returncode == 1
    assert pattern in proc.text
    assert reserved(moto, "prod-payments") is None


def test_set_concurrency_same_key_twice_changes_nothing_more(moto, tmp_path):
    make_function(moto, "fb-idem")
    moto.client("lambda").put_function_concurrency(FunctionName="fb-idem",
                                                   ReservedConcurrentExecutions=5)
    params = {"function": "fb-idem", "reserved": 0}
    rc, first = action_tool(moto, tmp_path, "aws.lambda.set_concurrency", params, "--key", "k1")
    assert rc == 0, first
    assert first["output"]["previous"] == 5 and reserved(moto, "fb-idem") == 0
    rc, second = action_tool(moto, tmp_path, "aws.lambda.set_concurrency", params, "--key", "k1")
    assert rc == 0, second
    # The setting before the first execution, not the one it made.
    assert second["output"] == first["output"]
    assert reserved(moto, "fb-idem") == 0
    # The undo, given that state, puts back exactly 5; again, nothing more.
    for _ in range(2):
        rc, undo = action_tool(moto, tmp_path, "aws.lambda.restore_concurrency",
                               {"function": "fb-idem"}, "--undo-state",
                               json.dumps(first["output"]))
        assert rc == 0, undo
        assert reserved(moto, "fb-idem") == 5


# ---- aws.iam.revoke_role_sessions ----

def make_role(moto, name):
    return moto.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]


def test_revoke_role_sessions_puts_the_consoles_policy(cli, moto):
    role = make_role(moto, "fb-revoke")
    proc, record = cli(REVOKE.format(fail=""), "--param", f"role={role['Arn']}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = revoke_policy(moto, "fb-revoke")
    assert doc is not None
    out = step_output(record, "revoke")
    assert doc == {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": out["revoked_before"]}}}]}
    assert out["previous_policy"] is None and out["role_arn"] == role["Arn"]
    # Nothing else on the role changed.
    assert moto.client("iam").list_role_policies(RoleName="fb-revoke")["PolicyNames"] == [POLICY]


@pytest.mark.parametrize("earlier", [False, True])
def test_revoke_role_sessions_undone_exactly(cli, moto, earlier):
    name = f"fb-revoke-undo-{int(earlier)}"
    make_role(moto, name)
    old = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Action": "*", "Resource": "*",
        "Condition": {"DateLessThan": {"aws:TokenIssueTime": "2020-01-01T00:00:00.000Z"}}}]}
    if earlier:
        moto.client("iam").put_role_policy(RoleName=name, PolicyName=POLICY,
                                           PolicyDocument=json.dumps(old))
    proc, record = cli(REVOKE.format(fail=FAIL_STEP), "--param", f"role={name}")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert revoke_policy(moto, name) == (old if earlier else None)


def test_revoke_role_sessions_dry_run_changes_nothing(cli, moto):
    make_role(moto, "fb-revoke-dry")
    proc, record = cli(REVOKE.format(fail=""), "--param", "role=fb-revoke-dry", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"would put inline policy {POLICY}" in json.dumps(record)
    assert revoke_policy(moto, "fb-revoke-dry") is None


def test_revoke_role_sessions_never_touches_a_protected_role(cli, moto):
    make_role(moto, "break-glass-admin")
    pattern = "arn:aws:iam::*:role/break-glass*"
    proc, record = cli(REVOKE.format(fail=""), "--param", "role=break-glass-admin",
                       protected=[pattern])
    assert proc.returncode == 1
    assert pattern in proc.text
    assert revoke_policy(moto, "break-glass-admin") is None


def test_revoke_role_sessions_same_key_twice_changes_nothing_more(moto, tmp_path):
    make_role(moto, "fb-revoke-idem")
    rc, first = action_tool(moto, tmp_path, "aws.iam.revoke_role_sessions",
                            {"role": "fb-revoke-idem"}, "--key", "k2")
    assert rc == 0, first
    doc = revoke_policy(moto, "fb-revoke-idem")
    rc, second = action_tool(moto, tmp_path, "aws.iam.revoke_role_sessions",
                             {"role": "fb-revoke-idem"}, "--key", "k2")
    assert rc == 0, second
    assert second["output"] == first["output"]
    assert revoke_policy(moto, "fb-revoke-idem") == doc
    rc, undo = action_tool(moto, tmp_path, "aws.iam.restore_role_sessions",
                           {"role": "fb-revoke-idem"}, "--undo-state",
                           json.dumps(first["output"]))
    assert rc == 0, undo
    assert revoke_policy(moto, "fb-revoke-idem") is None


# ---- aws.iam.deactivate_access_key ----

def make_user(moto, name, inactive=0):
    """A user with two keys, the last `inactive` of them Inactive; their ids in order."""
    iam = moto.client("iam")
    user = iam.create_user(UserName=name)["User"]
    ids = [iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    for key in ids[len(ids) - inactive:]:
        iam.update_access_key(UserName=name, AccessKeyId=key, Status="Inactive")
    return user, ids


def statuses(moto, name):
    keys = moto.client("iam").list_access_keys(UserName=name)["AccessKeyMetadata"]
    return {k["AccessKeyId"]: k["Status"] for k in keys}


EVERY_KEY = '{ user: "{{ params.user }}" }'
ONE_KEY = '{ user: "{{ params.user }}", access_key_id: "{{ params.key }}" }'


def test_deactivate_one_key_changes_only_that_key(cli, moto):
    _, (a, b) = make_user(moto, "fb-keys-one")
    proc, record = cli(DEACTIVATE.format(with_=ONE_KEY, fail=""), "--param", "user=fb-keys-one",
                       "--param", f"key={a}")
    assert proc.returncode == 0, proc.text
    assert statuses(moto, "fb-keys-one") == {a: "Inactive", b: "Active"}
    out = step_output(record, "deactivate")
    assert out["keys"] == [{"access_key_id": a, "previous_status": "Active"}]


def test_deactivate_every_key_undone_to_the_statuses_before(cli, moto):
    _, (a, b) = make_user(moto, "fb-keys-undo", inactive=1)
    proc, record = cli(DEACTIVATE.format(with_=EVERY_KEY, fail=FAIL_STEP), "--param",
                       "user=fb-keys-undo")
    assert proc.returncode == 1, proc.text
    assert any(e["kind"] == "step.undone" for e in record["timeline"]), proc.text
    # b was Inactive before: it stays so; a is Active again.
    assert statuses(moto, "fb-keys-undo") == {a: "Active", b: "Inactive"}


def test_deactivate_dry_run_and_protected_change_nothing(cli, moto):
    _, (a, b) = make_user(moto, "break-glass-keys")
    proc, record = cli(DEACTIVATE.format(with_=EVERY_KEY, fail=""), "--param",
                       "user=break-glass-keys", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert "would set access key(s)" in proc.text
    assert statuses(moto, "break-glass-keys") == {a: "Active", b: "Active"}
    pattern = "arn:aws:iam::*:user/break-glass*"
    proc, record = cli(DEACTIVATE.format(with_=EVERY_KEY, fail=""), "--param",
                       "user=break-glass-keys", protected=[pattern])
    assert proc.returncode == 1
    assert pattern in proc.text
    assert statuses(moto, "break-glass-keys") == {a: "Active", b: "Active"}


def test_deactivate_same_key_twice_changes_nothing_more(moto, tmp_path):
    _, (a, b) = make_user(moto, "fb-keys-idem")
    params = {"user": "fb-keys-idem"}
    rc, first = action_tool(moto, tmp_path, "aws.iam.deactivate_access_key", params, "--key", "k3")
    assert rc == 0, first
    rc, second = action_tool(moto, tmp_path, "aws.iam.deactivate_access_key", params, "--key", "k3")
    assert rc == 0, second
    assert second["output"]["keys"] == first["output"]["keys"]
    assert all(k["previous_status"] == "Active" for k in second["output"]["keys"])
    assert statuses(moto, "fb-keys-idem") == {a: "Inactive", b: "Inactive"}
    rc, undo = action_tool(moto, tmp_path, "aws.iam.reactivate_access_key", params,
                           "--undo-state", json.dumps(first["output"]))
    assert rc == 0, undo
    assert statuses(moto, "fb-keys-idem") == {a: "Active", b: "Active"}


# ---- another account: a step's own assume_role ----

CROSS_ACCOUNT = "111111111111"
CROSS_ROLE = f"arn:aws:iam::{CROSS_ACCOUNT}:role/fb-cross"

THROTTLE_THERE = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: throttle-there }}
steps:
  - id: throttle
    action: aws.lambda.set_concurrency
    with:
      function: fb-cross
      reserved: 0
      assume_role: {assume_role}
"""


def other_account(moto):
    """Clients in CROSS_ACCOUNT: moto keeps one account per assumed role's ARN."""
    c = moto.client("sts").assume_role(RoleArn=CROSS_ROLE, RoleSessionName="set-up")[
        "Credentials"]
    import boto3
    return lambda service: boto3.client(
        service, endpoint_url=moto.url, region_name=REGION, aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])


def test_a_step_acts_in_the_account_of_the_role_it_assumes(cli, moto):
    there = other_account(moto)
    role = there("iam").create_role(RoleName="fb-cross-exec",
                                    AssumeRolePolicyDocument=TRUST)["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 1\n")
    there("lambda").create_function(FunctionName="fb-cross", Runtime="python3.11",
                                    Role=role["Arn"], Handler="index.handler",
                                    Code={"ZipFile": code.getvalue()})
    make_function(moto, "fb-cross")  # the same name in the daemon's own account
    proc, record = cli(THROTTLE_THERE.format(
        assume_role=f'{{ role_arn: "{CROSS_ROLE}", session_name: fb-incident }}'))
    assert proc.returncode == 0, proc.text
    out = step_output(record, "throttle")
    assert out["function_arn"].split(":")[4] == CROSS_ACCOUNT, out
    assert there("lambda").get_function_concurrency(FunctionName="fb-cross")[
        "ReservedConcurrentExecutions"] == 0
    assert reserved(moto, "fb-cross") is None


def test_a_bad_assume_role_fails_the_step_naming_the_key(cli, moto):
    proc, record = cli(THROTTLE_THERE.format(assume_role=f'{{ role: "{CROSS_ROLE}" }}'))
    assert proc.returncode == 1
    assert "'assume_role' has no key 'role' (role_arn, external_id, session_name)" in proc.text
