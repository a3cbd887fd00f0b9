"""More AWS actions against a real moto_server, run by the real CLI and by fb_aws_action:
aws.iam.quarantine_role / quarantine_user (and release_*), aws.lambda.disable_event_sources
(and enable_event_sources), aws.lambda.snapshot_function, aws.sns.publish and
aws.secretsmanager.rotate_secret.

Each: state read back with boto3 shows it changed exactly what it should; the engine's undo
(a later step fails) puts back the state before; dry-run changes nothing; a second execution
with the same idempotency key changes nothing more; a protected resource is never touched.
moto knows the AWS managed policy AWSDenyAll, but the tests mostly attach a customer managed
deny-all policy of their own, as an account without it would.
"""
import json
import re
import subprocess

import pytest

from conftest import BUILD
from test_aws_actions import (FAIL_STEP, action_tool, cli, make_function,  # noqa: F401
                              make_role, make_user, step_output)
from test_aws_client import ACCOUNT, REGION, clean_env, moto  # noqa: F401

CLI = BUILD / "cli" / "firebreak"
DENY_ALL = json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def playbook(action, with_, params, fail=""):
    """One step of `action` with `with_` (a flow mapping), the playbook's params required."""
    declared = "".join(f"  {p}: {{ required: true }}\n" for p in params)
    return (f"apiVersion: firebreak/v1\nkind: Playbook\nmetadata: {{ name: more }}\n"
            f"params:\n{declared}steps:\n  - id: act\n    action: {action}\n"
            f"    with: {with_}\n{fail}")


def timeline_kinds(record):
    return [e["kind"] for e in record["timeline"]]


# ---- aws.iam.quarantine_role / quarantine_user ----

def deny_policy(moto, name="fb-deny-all"):
    iam = moto.client("iam")
    arn = f"arn:aws:iam::{ACCOUNT}:policy/{name}"
    try:
        iam.get_policy(PolicyArn=arn)
    except iam.exceptions.NoSuchEntityException:
        iam.create_policy(PolicyName=name, PolicyDocument=DENY_ALL)
    return arn


def attached(moto, kind, name):
    iam = moto.client("iam")
    if kind == "role":
        got = iam.list_attached_role_policies(RoleName=name)
    else:
        got = iam.list_attached_user_policies(UserName=name)
    return sorted(p["PolicyArn"] for p in got["AttachedPolicies"])


def other_policy(moto, name):
    doc = json.dumps({"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket",
                                     "Resource": "*"}]})
    return moto.client("iam").create_policy(PolicyName=name, PolicyDocument=doc)["Policy"]["Arn"]


def quarantine_playbook(kind, fail=""):
    return playbook(f"aws.iam.quarantine_{kind}",
                    f'{{ {kind}: "{{{{ params.who }}}}", policy_arn: "{{{{ params.policy }}}}" }}',
                    ["who", "policy"], fail)


@pytest.mark.parametrize("kind", ["role", "user"])
def test_quarantine_attaches_only_the_policy(cli, moto, kind):
    name = f"fb-q-{kind}"
    if kind == "role":
        arn = make_role(moto, name)["Arn"]
        moto.client("iam").attach_role_policy(RoleName=name,
                                              PolicyArn=other_policy(moto, f"fb-other-{kind}"))
    else:
        arn = make_user(moto, name)[0]["Arn"]
        moto.client("iam").attach_user_policy(UserName=name,
                                              PolicyArn=other_policy(moto, f"fb-other-{kind}"))
    before = attached(moto, kind, name)
    policy = deny_policy(moto)
    proc, record = cli(quarantine_playbook(kind), "--param", f"who={arn}", "--param",
                       f"policy={policy}")
    assert proc.returncode == 0, proc.text
    assert attached(moto, kind, name) == sorted(before + [policy])
    out = step_output(record, "act")
    assert out == {kind: name, f"{kind}_arn": arn, "policy_arn": policy, "attached_before": False}


@pytest.mark.parametrize("kind,before", [("role", False), ("role", True), ("user", False),
                                         ("user", True)])
def test_quarantine_undone_only_when_this_step_attached_it(cli, moto, kind, before):
    name = f"fb-q-undo-{kind}-{int(before)}"
    policy = deny_policy(moto)
    iam = moto.client("iam")
    if kind == "role":
        make_role(moto, name)
        if before:
            iam.attach_role_policy(RoleName=name, PolicyArn=policy)
    else:
        make_user(moto, name)
        if before:
            iam.attach_user_policy(UserName=name, PolicyArn=policy)
    proc, record = cli(quarantine_playbook(kind, FAIL_STEP), "--param", f"who={name}", "--param",
                       f"policy={policy}")
    assert proc.returncode == 1, proc.text
    assert "step.undone" in timeline_kinds(record), proc.text
    # A quarantine that was there before stays; the one this step made is gone.
    assert attached(moto, kind, name) == ([policy] if before else [])


def test_quarantine_dry_run_and_protected_change_nothing(cli, moto):
    make_role(moto, "break-glass-q")
    make_user(moto, "break-glass-qu")
    policy = deny_policy(moto)
    proc, record = cli(quarantine_playbook("role"), "--param", "who=break-glass-q", "--param",
                       f"policy={policy}", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert f"would attach managed policy {policy} to role" in proc.text
    assert attached(moto, "role", "break-glass-q") == []
    for kind, name, pattern in (("role", "break-glass-q", "arn:aws:iam::*:role/break-glass*"),
                                ("user", "break-glass-qu", "arn:aws:iam::*:user/break-glass*")):
        proc, record = cli(quarantine_playbook(kind), "--param", f"who={name}", "--param",
                           f"policy={policy}", protected=[pattern])
        assert proc.returncode == 1, proc.text
        assert pattern in proc.text
        assert attached(moto, kind, name) == []


def test_quarantine_dry_run_names_a_missing_policy(cli, moto):
    make_role(moto, "fb-q-missing")
    missing = f"arn:aws:iam::{ACCOUNT}:policy/no-such-policy"
    proc, record = cli(quarantine_playbook("role"), "--param", "who=fb-q-missing", "--param",
                       f"policy={missing}", "--dry-run")
    assert proc.returncode == 1, proc.text
    assert f"reading policy {missing}" in proc.text


@pytest.mark.parametrize("kind", ["role", "user"])
def test_quarantine_same_key_twice_changes_nothing_more(moto, tmp_path, kind):
    name = f"fb-q-idem-{kind}"
    if kind == "role":
        make_role(moto, name)
    else:
        make_user(moto, name)
    policy = deny_policy(moto)
    params = {kind: name, "policy_arn": policy}
    rc, first = action_tool(moto, tmp_path, f"aws.iam.quarantine_{kind}", params, "--key", "q1")
    assert rc == 0, first
    assert first["output"]["attached_before"] is False
    rc, second = action_tool(moto, tmp_path, f"aws.iam.quarantine_{kind}", params, "--key", "q1")
    assert rc == 0, second
    # Its own attachment is not "attached before": the undo still detaches it.
    assert second["output"] == first["output"]
    assert attached(moto, kind, name) == [policy]
    for _ in range(2):
        rc, undo = action_tool(moto, tmp_path, f"aws.iam.release_{kind}", {}, "--undo-state",
                               json.dumps(first["output"]))
        assert rc == 0, undo
        assert attached(moto, kind, name) == []
    assert undo["output"]["detached"] is False  # the second release had nothing to do


def test_quarantine_policy_from_the_config_and_the_aws_default(moto, tmp_path):
    """providers.aws.quarantine_policy_arn when the step names none; else AWSDenyAll."""
    make_role(moto, "fb-q-config")
    make_role(moto, "fb-q-default")
    policy = deny_policy(moto, "fb-deny-config")
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    pb = tmp_path / "pb.yaml"
    pb.write_text(playbook("aws.iam.quarantine_role", '{ role: "{{ params.who }}" }', ["who"]))
    results = {}
    for role, extra in (("fb-q-config", f', quarantine_policy_arn: "{policy}"'),
                        ("fb-q-default", "")):
        cfg = tmp_path / "firebreak.yaml"
        cfg.write_text(f"data_dir: {tmp_path / 'var'}\nplaybooks: [{tmp_path / 'playbooks'}]\n"
                       "providers:\n"
                       f"  aws: {{ region: {REGION}, endpoint_url: \"{moto.url}\"{extra} }}\n")
        results[role] = subprocess.run([str(CLI), "--config", str(cfg), "--json", "run", str(pb),
                                        "--local", "--param", f"who={role}"], capture_output=True,
                                       text=True, timeout=120, cwd=tmp_path, env=env)
    proc = results["fb-q-config"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert attached(moto, "role", "fb-q-config") == [policy]
    # moto_server loads no AWS managed policy (unless MOTO_IAM_LOAD_MANAGED_POLICIES is set), so
    # the default's attach fails there: naming the default ARN, which is what is checked.
    proc = results["fb-q-default"]
    assert proc.returncode == 1
    assert "attaching policy arn:aws:iam::aws:policy/AWSDenyAll to role fb-q-default" in \
        proc.stdout + proc.stderr
    assert attached(moto, "role", "fb-q-default") == []
    # A value that is not an ARN is refused when the config is read.
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\nplaybooks: [{tmp_path / 'playbooks'}]\n"
                   "providers:\n"
                   f"  aws: {{ region: {REGION}, quarantine_policy_arn: AWSDenyAll }}\n")
    proc = subprocess.run([str(CLI), "validate", str(cfg)], capture_output=True,
                          text=True, timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode != 0
    assert "quarantine_policy_arn" in proc.stdout + proc.stderr


# ---- aws.lambda.disable_event_sources / enable_event_sources ----

def with_mappings(moto, name, enabled=(True, True, False)):
    """A function with one SQS event source mapping per entry of `enabled`; their UUIDs."""
    make_function(moto, name)
    sqs, lam = moto.client("sqs"), moto.client("lambda")
    uuids = []
    for i, on in enumerate(enabled):
        url = sqs.create_queue(QueueName=f"{name}-q{i}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"]
        uuids.append(lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name,
                                                     Enabled=on)["UUID"])
    return uuids


def mapping_states(moto, name):
    got = moto.client("lambda").list_event_source_mappings(FunctionName=name)
    return {m["UUID"]: m["State"] for m in got["EventSourceMappings"]}


DISABLE = playbook("aws.lambda.disable_event_sources", '{ function: "{{ params.function }}" }',
                   ["function"])


def test_disable_event_sources_disables_the_enabled_ones(cli, moto):
    a, b, c = with_mappings(moto, "fb-esm")
    proc, record = cli(DISABLE, "--param", "function=fb-esm")
    assert proc.returncode == 0, proc.text
    assert mapping_states(moto, "fb-esm") == {a: "Disabled", b: "Disabled", c: "Disabled"}
    out = step_output(record, "act")
    assert sorted(out["disabled"]) == sorted([a, b])
    assert {m["uuid"]: m["previous_state"] for m in out["mappings"]} == {
        a: "Enabled", b: "Enabled", c: "Disabled"}
    assert out["function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fb-esm"


def test_disable_event_sources_undone_to_exactly_the_states_before(cli, moto):
    a, b, c = with_mappings(moto, "fb-esm-undo")
    proc, record = cli(playbook("aws.lambda.disable_event_sources",
                                '{ function: "{{ params.function }}" }', ["function"], FAIL_STEP),
                       "--param", "function=fb-esm-undo")
    assert proc.returncode == 1, proc.text
    assert "step.undone" in timeline_kinds(record), proc.text
    # c was disabled before: it stays so.
    assert mapping_states(moto, "fb-esm-undo") == {a: "Enabled", b: "Enabled", c: "Disabled"}


def test_disable_event_sources_dry_run_and_protected_change_nothing(cli, moto):
    a, b, c = with_mappings(moto, "prod-esm")
    states = mapping_states(moto, "prod-esm")
    proc, record = cli(DISABLE, "--param", "function=prod-esm", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert "would disable event source mapping(s)" in proc.text and a in proc.text
    assert mapping_states(moto, "prod-esm") == states
    pattern = "arn:aws:lambda:*:function:prod-*"
    proc, record = cli(DISABLE, "--param", "function=prod-esm", protected=[pattern])
    assert proc.returncode == 1, proc.text
    assert pattern in proc.text
    assert mapping_states(moto, "prod-esm") == states


def test_disable_event_sources_same_key_twice_changes_nothing_more(moto, tmp_path):
    a, b, c = with_mappings(moto, "fb-esm-idem", enabled=(True, False, True))
    params = {"function": "fb-esm-idem"}
    rc, first = action_tool(moto, tmp_path, "aws.lambda.disable_event_sources", params,
                            "--key", "e1")
    assert rc == 0, first
    rc, second = action_tool(moto, tmp_path, "aws.lambda.disable_event_sources", params,
                             "--key", "e1")
    assert rc == 0, second
    # The states the first execution found, not the ones it left.
    assert second["output"] == first["output"]
    assert sorted(first["output"]["disabled"]) == sorted([a, c])
    assert set(mapping_states(moto, "fb-esm-idem").values()) == {"Disabled"}
    for _ in range(2):
        rc, undo = action_tool(moto, tmp_path, "aws.lambda.enable_event_sources", {},
                               "--undo-state", json.dumps(first["output"]))
        assert rc == 0, undo
        assert mapping_states(moto, "fb-esm-idem") == {a: "Enabled", b: "Disabled",
                                                       c: "Enabled"}
    assert undo["output"]["enabled"] == []  # the second one found them enabled already


def test_enable_event_sources_skips_a_mapping_deleted_since(moto, tmp_path):
    a, b = with_mappings(moto, "fb-esm-gone", enabled=(True, True))
    rc, first = action_tool(moto, tmp_path, "aws.lambda.disable_event_sources",
                            {"function": "fb-esm-gone"}, "--key", "e2")
    assert rc == 0, first
    moto.client("lambda").delete_event_source_mapping(UUID=b)
    rc, undo = action_tool(moto, tmp_path, "aws.lambda.enable_event_sources", {},
                           "--undo-state", json.dumps(first["output"]))
    assert rc == 0, undo
    assert undo["output"]["missing"] == [b] and undo["output"]["enabled"] == [a]
    assert mapping_states(moto, "fb-esm-gone") == {a: "Enabled"}


# ---- aws.lambda.snapshot_function ----

SNAPSHOT = playbook("aws.lambda.snapshot_function", '{ function: "{{ params.function }}" }',
                    ["function"])
SECRET_VALUE = "s3cr3t-value-that-must-not-leak"


def configuration(moto, name):
    got = moto.client("lambda").get_function_configuration(FunctionName=name)
    got.pop("ResponseMetadata", None)
    return got


def test_snapshot_records_the_evidence_without_env_values(cli, moto):
    make_function(moto, "fb-snap")
    lam = moto.client("lambda")
    lam.update_function_configuration(FunctionName="fb-snap", Environment={
        "Variables": {"DB_PASSWORD": SECRET_VALUE, "STAGE": "prod-like"}})
    lam.add_permission(FunctionName="fb-snap", StatementId="from-s3",
                       Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    lam.put_function_concurrency(FunctionName="fb-snap", ReservedConcurrentExecutions=3)
    esm = with_mappings(moto, "fb-snap-src", enabled=(True,))  # on another function: not listed
    before = configuration(moto, "fb-snap")
    proc, record = cli(SNAPSHOT, "--param", "function=fb-snap")
    assert proc.returncode == 0, proc.text
    out = step_output(record, "act")
    config = out["configuration"]
    assert config["runtime"] == "python3.11" and config["handler"] == "index.handler"
    assert config["role"] == before["Role"] and out["role"] == before["Role"]
    assert config["code_sha256"] == before["CodeSha256"]
    assert config["code_size"] == before["CodeSize"]
    assert config["last_modified"] == before["LastModified"] and config["version"] == "$LATEST"
    assert config["layers"] == []
    assert sorted(config["environment_variable_names"]) == ["DB_PASSWORD", "STAGE"]
    assert out["reserved_concurrency"] == 3
    assert [s["Sid"] for s in out["resource_policy"]["Statement"]] == ["from-s3"]
    assert out["event_source_mappings"] == []
    assert esm[0] not in json.dumps(out)
    # Not in the output, the run record, the messages or the logs.
    assert SECRET_VALUE not in proc.text and "prod-like" not in proc.text
    # Nothing changed.
    assert configuration(moto, "fb-snap") == before


def test_snapshot_of_a_bare_protected_function_reads_and_changes_nothing(cli, moto):
    (uuid,) = with_mappings(moto, "prod-snap", enabled=(True,))
    before = configuration(moto, "prod-snap")
    # Reading is not touching: a protected function's evidence is wanted too.
    proc, record = cli(SNAPSHOT, "--param", "function=prod-snap",
                       protected=["arn:aws:lambda:*:function:prod-*"])
    assert proc.returncode == 0, proc.text
    out = step_output(record, "act")
    assert out["resource_policy"] is None and out["reserved_concurrency"] is None
    assert [m["uuid"] for m in out["event_source_mappings"]] == [uuid]
    assert out["event_source_mappings"][0]["state"] == "Enabled"
    assert out["configuration"]["environment_variable_names"] == []
    proc, record = cli(SNAPSHOT, "--param", "function=prod-snap", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert "would record the configuration" in proc.text
    assert configuration(moto, "prod-snap") == before
    assert mapping_states(moto, "prod-snap") == {uuid: "Enabled"}


def test_snapshot_same_key_twice(moto, tmp_path):
    make_function(moto, "fb-snap-idem")
    params = {"function": "fb-snap-idem"}
    rc, first = action_tool(moto, tmp_path, "aws.lambda.snapshot_function", params, "--key", "s1")
    assert rc == 0, first
    rc, second = action_tool(moto, tmp_path, "aws.lambda.snapshot_function", params, "--key", "s1")
    assert rc == 0, second
    first["output"].pop("taken_at"), second["output"].pop("taken_at")
    assert second["output"] == first["output"]


def test_snapshot_of_a_missing_function_fails_naming_it(moto, tmp_path):
    rc, out = action_tool(moto, tmp_path, "aws.lambda.snapshot_function", {"function": "nope"})
    assert rc == 1 and out["outcome"] == "permanent"
    assert "reading function nope" in out["message"]


# ---- aws.sns.publish ----

def topic_with_queue(moto, name, fifo=False):
    """A topic with an SQS queue subscribed (raw delivery); (topic ARN, queue URL)."""
    sns, sqs = moto.client("sns"), moto.client("sqs")
    suffix = ".fifo" if fifo else ""
    attrs = {"FifoTopic": "true"} if fifo else {}
    topic = sns.create_topic(Name=name + suffix, Attributes=attrs)["TopicArn"]
    qattrs = {"FifoQueue": "true"} if fifo else {}
    url = sqs.create_queue(QueueName=name + "-q" + suffix, Attributes=qattrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true"})
    return topic, url


def received(moto, url):
    """Every message in the queue, each deleted once read (a FIFO queue hands out a group's
    next message only after the one before is deleted)."""
    sqs, out = moto.client("sqs"), []
    for _ in range(20):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                  MessageAttributeNames=["All"], WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            break
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        out += messages
    return out


PUBLISH = playbook("aws.sns.publish",
                   '{ topic_arn: "{{ params.topic }}", message: "function {{ params.fn }} '
                   'throttled", subject: "firebreak: containment", '
                   'message_attributes: { severity: critical, team: payments } }',
                   ["topic", "fn"])


def test_publish_delivers_the_message_with_its_attributes(cli, moto):
    topic, url = topic_with_queue(moto, "fb-alerts")
    proc, record = cli(PUBLISH, "--param", f"topic={topic}", "--param", "fn=payments-api")
    assert proc.returncode == 0, proc.text
    out = step_output(record, "act")
    assert out["topic_arn"] == topic and out["fifo"] is False and out["message_id"]
    (msg,) = received(moto, url)
    assert msg["Body"] == "function payments-api throttled"
    assert {k: v["StringValue"] for k, v in msg["MessageAttributes"].items()} == {
        "severity": "critical", "team": "payments"}


def test_publish_dry_run_and_protected_send_nothing(cli, moto):
    topic, url = topic_with_queue(moto, "break-glass-alerts")
    proc, record = cli(PUBLISH, "--param", f"topic={topic}", "--param", "fn=x", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert f"would publish a 20-byte message with subject 'firebreak: containment' to {topic}" \
        in proc.text
    pattern = "arn:aws:sns:*:break-glass-*"
    proc, record = cli(PUBLISH, "--param", f"topic={topic}", "--param", "fn=x",
                       protected=[pattern])
    assert proc.returncode == 1, proc.text
    assert pattern in proc.text
    assert received(moto, url) == []


def test_publish_same_key_twice_publishes_once(moto, tmp_path):
    topic, url = topic_with_queue(moto, "fb-alerts-idem")
    params = {"topic_arn": topic, "message": "once"}
    rc, first = action_tool(moto, tmp_path, "aws.sns.publish", params, "--key", "p1")
    assert rc == 0, first
    rc, second = action_tool(moto, tmp_path, "aws.sns.publish", params, "--key", "p1")
    assert rc == 0, second
    assert second["output"] == first["output"]
    assert "already published" in second["message"]
    assert [m["Body"] for m in received(moto, url)] == ["once"]


def test_publish_fifo_deduplicated_by_the_key_even_without_the_record(moto, tmp_path):
    """On a FIFO topic SNS itself drops the second copy: the MessageDeduplicationId is the
    key's, so a re-execution that lost its record (another data dir) sends no duplicate."""
    topic, url = topic_with_queue(moto, "fb-alerts-fifo", fifo=True)
    params = {"topic_arn": topic, "message": "fifo once"}
    outs = []
    for data in ("one", "two"):
        rc, out = action_tool(moto, tmp_path / data, "aws.sns.publish", params, "--key", "p2")
        assert rc == 0, out
        outs.append(out["output"])
    assert outs[0]["deduplication_id"] == outs[1]["deduplication_id"]
    assert re.fullmatch(r"[0-9a-f]{64}", outs[0]["deduplication_id"])
    assert outs[0]["fifo"] is True
    rc, out = action_tool(moto, tmp_path, "aws.sns.publish", params, "--key", "p3")
    assert rc == 0, out
    assert [m["Body"] for m in received(moto, url)] == ["fifo once", "fifo once"]


def test_publish_to_a_missing_topic_fails_naming_it(moto, tmp_path):
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:no-such-topic"
    rc, out = action_tool(moto, tmp_path, "aws.sns.publish", {"topic_arn": topic, "message": "x"})
    assert rc == 1 and out["outcome"] == "permanent"
    assert f"reading topic {topic}" in out["message"]


# ---- aws.secretsmanager.rotate_secret ----

ROTATE = playbook("aws.secretsmanager.rotate_secret", '{ secret_id: "{{ params.secret }}" }',
                  ["secret"])


def make_secret(moto, name):
    return moto.client("secretsmanager").create_secret(Name=name, SecretString=SECRET_VALUE)


def stages(moto, name):
    got = moto.client("secretsmanager").describe_secret(SecretId=name)
    return got.get("VersionIdsToStages", {})


def test_rotate_secret_makes_one_new_current_version(cli, moto):
    created = make_secret(moto, "fb-db-rotate")
    proc, record = cli(ROTATE, "--param", "secret=fb-db-rotate")
    assert proc.returncode == 0, proc.text
    out = step_output(record, "act")
    assert out["secret_arn"] == created["ARN"]
    assert out["previous_version"] == created["VersionId"]
    assert UUID.match(out["new_version"]), out
    # moto, with no rotation function, makes the new version current at once.
    assert stages(moto, "fb-db-rotate") == {created["VersionId"]: ["AWSPREVIOUS"],
                                             out["new_version"]: ["AWSCURRENT"]}
    assert SECRET_VALUE not in proc.text


def test_rotate_secret_is_not_undone_when_a_later_step_fails(cli, moto):
    created = make_secret(moto, "fb-db-rotate-kept")
    proc, record = cli(playbook("aws.secretsmanager.rotate_secret",
                                '{ secret_id: "{{ params.secret }}" }', ["secret"], FAIL_STEP),
                       "--param", "secret=fb-db-rotate-kept")
    assert proc.returncode == 1, proc.text
    out = step_output(record, "act")
    # No undo: the new version stays current.
    assert stages(moto, "fb-db-rotate-kept")[out["new_version"]] == ["AWSCURRENT"]
    assert stages(moto, "fb-db-rotate-kept")[created["VersionId"]] == ["AWSPREVIOUS"]


def test_rotate_secret_dry_run_and_protected_change_nothing(cli, moto):
    created = make_secret(moto, "break-glass-db")
    before = stages(moto, "break-glass-db")
    proc, record = cli(ROTATE, "--param", "secret=break-glass-db", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert f"would rotate {created['ARN']}" in proc.text
    assert f"AWSCURRENT is version {created['VersionId']}" in proc.text
    pattern = "arn:aws:secretsmanager:*:secret:break-glass-*"
    proc, record = cli(ROTATE, "--param", "secret=break-glass-db", protected=[pattern])
    assert proc.returncode == 1, proc.text
    assert pattern in proc.text
    assert stages(moto, "break-glass-db") == before
    assert SECRET_VALUE not in proc.text


def test_rotate_secret_same_key_twice_rotates_once(moto, tmp_path):
    created = make_secret(moto, "fb-db-rotate-idem")
    params = {"secret_id": "fb-db-rotate-idem"}
    rc, first = action_tool(moto, tmp_path, "aws.secretsmanager.rotate_secret", params,
                            "--key", "r1")
    assert rc == 0, first
    after = stages(moto, "fb-db-rotate-idem")
    rc, second = action_tool(moto, tmp_path, "aws.secretsmanager.rotate_secret", params,
                             "--key", "r1")
    assert rc == 0, second
    assert second["output"] == first["output"]
    assert first["output"]["previous_version"] == created["VersionId"]
    assert stages(moto, "fb-db-rotate-idem") == after and len(after) == 2
    # The same key without the record (another data dir) finds its version and stops too.
    rc, third = action_tool(moto, tmp_path / "other", "aws.secretsmanager.rotate_secret", params,
                            "--key", "r1")
    assert rc == 0, third
    assert third["output"]["new_version"] == first["output"]["new_version"]
    assert third["output"]["previous_version"] == created["VersionId"]
    assert stages(moto, "fb-db-rotate-idem") == after
    # Another step (another key) rotates again.
    rc, other = action_tool(moto, tmp_path, "aws.secretsmanager.rotate_secret", params,
                            "--key", "r2")
    assert rc == 0, other
    assert other["output"]["new_version"] != first["output"]["new_version"]
    assert stages(moto, "fb-db-rotate-idem")[other["output"]["new_version"]] == ["AWSCURRENT"]


def test_rotate_secret_with_a_missing_rotation_function_fails_naming_it(moto, tmp_path):
    make_secret(moto, "fb-db-rotate-fn")
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:no-such-rotator"
    rc, out = action_tool(moto, tmp_path, "aws.secretsmanager.rotate_secret",
                          {"secret_id": "fb-db-rotate-fn", "rotation_lambda_arn": fn})
    assert rc == 1 and out["outcome"] == "permanent"
    assert "rotating secret arn:aws:secretsmanager:" in out["message"]
    assert fn in out["message"]


def test_new_actions_are_listed_with_their_permissions(tmp_path):
    env = clean_env(tmp_path)
    proc = subprocess.run([str(CLI), "--json", "actions"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for name in ("aws.iam.quarantine_role", "aws.iam.release_role", "aws.iam.quarantine_user",
                 "aws.iam.release_user", "aws.lambda.disable_event_sources",
                 "aws.lambda.enable_event_sources", "aws.lambda.snapshot_function",
                 "aws.sns.publish", "aws.secretsmanager.rotate_secret"):
        assert name in text
    for permission in ("iam:AttachRolePolicy", "iam:DetachUserPolicy",
                       "lambda:UpdateEventSourceMapping", "lambda:GetPolicy", "sns:Publish",
                       "secretsmanager:RotateSecret"):
        assert permission in text
