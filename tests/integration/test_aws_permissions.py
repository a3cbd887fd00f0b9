"""`firebreak permissions` against moto_server with request authentication on.

The policy printed for the library playbooks, attached to the daemon's IAM user, lets them
run; without any one of its statements a step fails with AccessDenied, reported in the run.

moto checks each call's action against the policy but evaluates every call as if on resource
"*" (it has no resource-level permissions), so the statements are attached with `"*"` as their
resource; the resource scoping itself is unit-tested (tests/daemon/playbook/permissions_test).
lambda-abuse is not run here: moto 5.2 with authentication on rejects botocore's own Lambda
signatures (see test_aws_client.py), so it cannot judge ours.
"""
import json
import subprocess

import pytest

from conftest import BUILD, ROOT
from test_aws_client import ACCOUNT, REGION, MotoServer, clean_env
from test_sns_cloudwatch import Slack

CLI = BUILD / "cli" / "firebreak"
PLAYBOOKS = [ROOT / "playbooks" / "access-key-leaked.yaml",
             ROOT / "playbooks" / "instance-compromised.yaml"]
# AWS requires ec2:CreateTags to tag a resource as it is created (CreateSnapshot and
# CreateSecurityGroup with TagSpecification); moto checks only the call's own action.
MOTO_UNCHECKED = {"ec2:CreateTags"}
DENY_ALL = json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})


@pytest.fixture(scope="module")
def authed(tmp_path_factory):
    """moto with authentication; an admin user for the set-up, the daemon's user without any
    policy yet."""
    # The first three calls (the admin user) go unauthenticated; every later one is checked.
    server = MotoServer(tmp_path_factory.mktemp("moto-perm"),
                        env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    iam = server.client("iam")
    iam.create_user(UserName="fb-admin")
    iam.put_user_policy(UserName="fb-admin", PolicyName="all", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                                 "Resource": "*"}]}))
    admin = iam.create_access_key(UserName="fb-admin")["AccessKey"]
    server.admin = lambda service: server.client(service, admin["AccessKeyId"],
                                                 admin["SecretAccessKey"])
    a = server.admin("iam")
    a.create_user(UserName="fb-daemon")
    server.daemon_key = a.create_access_key(UserName="fb-daemon")["AccessKey"]
    server.deny_all = a.create_policy(PolicyName="fb-deny-all",
                                      PolicyDocument=DENY_ALL)["Policy"]["Arn"]
    yield server
    server.stop()


@pytest.fixture
def slack():
    s = Slack()
    yield s
    s.stop()


def printed_policy():
    proc = subprocess.run([str(CLI), "permissions", *map(str, PLAYBOOKS)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def attach(authed, statements):
    doc = {"Version": "2012-10-17",
           "Statement": [dict(s, Resource="*") for s in statements]}
    authed.admin("iam").put_user_policy(UserName="fb-daemon", PolicyName="firebreak",
                                        PolicyDocument=json.dumps(doc))


def targets(authed, tag):
    """A user with an active key, and a running instance with a volume, made by the admin."""
    iam, ec2 = authed.admin("iam"), authed.admin("ec2")
    user = f"fb-leaky-{tag}"
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
                                 InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    return user, key, instance


def run_playbooks(authed, tmp_path, slack, user, key, instance):
    """Both library playbooks by the CLI as the daemon's user, each in dry-run (what only a
    plan reads is needed too) and then live; their run records."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "firebreak.yaml"
    cfg.write_text(f"data_dir: {tmp_path / 'var'}\n"
                   f"providers:\n  aws: {{ region: {REGION}, endpoint_url: \"{authed.url}\", "
                   f"quarantine_policy_arn: \"{authed.deny_all}\" }}\n")
    env = clean_env(tmp_path, AWS_ACCESS_KEY_ID=authed.daemon_key["AccessKeyId"],
                    AWS_SECRET_ACCESS_KEY=authed.daemon_key["SecretAccessKey"],
                    SLACK_WEBHOOK_URL=slack.url)
    records = {}
    for (playbook, params), mode in [(p, m) for p in (
            (PLAYBOOKS[0], [f"user={user}", f"access_key_id={key}"]),
            (PLAYBOOKS[1], [f"instance_id={instance}"])) for m in (["--dry-run"], [])]:
        args = [a for p in params for a in ("--param", p)] + mode
        proc = subprocess.run([str(CLI), "--config", str(cfg), "--json", "run", str(playbook),
                               "--local", *args], capture_output=True, text=True, timeout=120,
                              cwd=tmp_path, env=env)
        assert proc.stdout.strip().startswith("{"), proc.stdout + proc.stderr
        run = json.loads(proc.stdout)
        shown = subprocess.run([str(CLI), "--config", str(cfg), "--json", "runs", "show",
                                run["id"], "--local"], capture_output=True, text=True,
                               timeout=60, cwd=tmp_path, env=env)
        assert shown.returncode == 0, shown.stderr
        records[playbook.stem + (" (dry-run)" if mode else "")] = json.loads(shown.stdout)
    return records


def test_the_printed_policy_is_enough_and_every_statement_is_needed(authed, tmp_path, slack):
    policy = printed_policy()
    statements = policy["Statement"]
    assert statements, policy
    actions = {a for s in statements for a in s["Action"]}
    for needed in ("iam:UpdateAccessKey", "iam:AttachUserPolicy", "ec2:CreateSnapshot",
                   "ec2:ModifyNetworkInterfaceAttribute"):
        assert needed in actions, policy

    attach(authed, statements)
    user, key, instance = targets(authed, "all")
    records = run_playbooks(authed, tmp_path / "all", slack, user, key, instance)
    for name, record in records.items():
        assert record["status"] == "succeeded", json.dumps(record)[:3000]
    # What the library playbooks are for, read back as the admin.
    iam, ec2 = authed.admin("iam"), authed.admin("ec2")
    assert [k["Status"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == \
        ["Inactive"]
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [authed.deny_all]
    (reservation,) = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    for eni in reservation["Instances"][0]["NetworkInterfaces"]:
        assert [g["GroupName"] for g in eni["Groups"]] == ["firebreak-isolation"], eni
    snapshots = ec2.describe_snapshots(
        Filters=[{"Name": "tag:firebreak:instance", "Values": [instance]}])["Snapshots"]
    assert len(snapshots) == len(reservation["Instances"][0]["BlockDeviceMappings"]) >= 1
    assert len(slack.messages) == 2, slack.messages

    for i, left_out in enumerate(statements):
        if set(left_out["Action"]) <= MOTO_UNCHECKED:
            continue
        attach(authed, statements[:i] + statements[i + 1:])
        records = run_playbooks(authed, tmp_path / f"without-{i}", slack,
                                *targets(authed, f"w{i}"))
        failed = [s for r in records.values() for s in r.get("steps", [])
                  if s.get("status") == "failed"]
        assert failed, f"without statement {left_out['Sid']}: nothing failed"
        errors = " ".join(s.get("error", "") for s in failed)
        assert "AccessDenied" in errors, errors
        # The error names the call refused, which is one of the statement's actions.
        assert any(a.split(":")[1] in errors for a in left_out["Action"]), errors
