"""aws.ec2.isolate_instance, aws.ec2.snapshot_volumes and aws.s3.block_public_access (and the
undos) run by the real CLI against a real moto_server, state read back with boto3: each
changes exactly what it should and nothing else (other instances, other interfaces, other
buckets), the engine's undo puts back the state before, dry-run changes nothing, a second
execution with the same idempotency key changes nothing more (fb_aws_action: no second
isolation group, no second snapshot), and a protected resource is never touched.

Instances are launched with per-interface groups (NetworkInterfaces[].Groups), not the
instance-level SecurityGroupIds: moto reports every interface's groups as its own plus the
instance-level ones, which no interface call can change; on AWS the instance-level groups are
the primary interface's.
"""
import json
import subprocess

import pytest

from test_aws_actions import CLI, FAIL_STEP, action_tool, cli, step_output  # noqa: F401
# `moto`: the moto_server fixture, one per module, shared with the client tests.
from test_aws_client import ACCOUNT, REGION, clean_env, moto  # noqa: F401

ISOLATE = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: isolate }}
params:
  instance: {{ required: true }}
steps:
  - id: isolate
    action: aws.ec2.isolate_instance
    with: {{ instance: "{{{{ params.instance }}}}" }}
{fail}"""

SNAPSHOT = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: evidence }}
params:
  instance: {{ required: true }}
steps:
  - id: snapshot
    action: aws.ec2.snapshot_volumes
    with: {{ instance: "{{{{ params.instance }}}}" }}
{fail}"""

BLOCK = """\
apiVersion: firebreak/v1
kind: Playbook
metadata: {{ name: block }}
params:
  bucket: {{ required: true }}
steps:
  - id: block
    action: aws.s3.block_public_access
    with: {{ bucket: "{{{{ params.bucket }}}}" }}
{fail}"""

ISOLATION = "firebreak-isolation"
ALL_BLOCKED = {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
               "RestrictPublicBuckets": True}
_cidr = iter(range(10, 250))


def undone(record):
    return any(e["kind"] == "step.undone" for e in record["timeline"])


# ---- EC2 ----

class Net:
    """A VPC of its own (the isolation group is per VPC), a subnet and three app groups."""

    def __init__(self, moto, name):
        self.ec2 = moto.client("ec2")
        n = next(_cidr)
        self.vpc = self.ec2.create_vpc(CidrBlock=f"10.{n}.0.0/16")["Vpc"]["VpcId"]
        self.subnet = self.ec2.create_subnet(VpcId=self.vpc, CidrBlock=f"10.{n}.1.0/24")[
            "Subnet"]["SubnetId"]
        self.groups = [self.ec2.create_security_group(GroupName=f"{name}-app-{i}",
                                                      Description="app", VpcId=self.vpc)["GroupId"]
                       for i in range(3)]
        self.ami = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def instance(self, groups_per_eni, volumes=("/dev/sdf",)):
        nics = [{"DeviceIndex": i, "SubnetId": self.subnet, "Groups": list(g)}
                for i, g in enumerate(groups_per_eni)]
        disks = [{"DeviceName": d, "Ebs": {"VolumeSize": 4}} for d in volumes]
        inst = self.ec2.run_instances(ImageId=self.ami, MinCount=1, MaxCount=1,
                                      NetworkInterfaces=nics, BlockDeviceMappings=disks)
        return inst["Instances"][0]["InstanceId"]

    def enis(self, instance):
        """{eni id: set of group ids} of the instance, read back now."""
        inst = self.ec2.describe_instances(InstanceIds=[instance])["Reservations"][0][
            "Instances"][0]
        return {ni["NetworkInterfaceId"]: {g["GroupId"] for g in ni["Groups"]}
                for ni in inst["NetworkInterfaces"]}

    def isolation_groups(self, name=ISOLATION):
        return self.ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [self.vpc]},
            {"Name": "group-name", "Values": [name]}])["SecurityGroups"]

    def rules(self):
        """Every app group's rules, to show they are left as they were."""
        return {g["GroupId"]: (g["IpPermissions"], g["IpPermissionsEgress"])
                for g in self.ec2.describe_security_groups(GroupIds=self.groups)[
                    "SecurityGroups"]}


def test_isolate_moves_every_interface_and_nothing_else(cli, moto):
    net = Net(moto, "iso")
    a, b, c = net.groups
    target = net.instance([(a, b), (c,)])
    neighbour = net.instance([(a,)])
    before, neighbour_before, rules_before = net.enis(target), net.enis(neighbour), net.rules()
    proc, record = cli(ISOLATE.format(fail=""), "--param", f"instance={target}")
    assert proc.returncode == 0, proc.text

    [group] = net.isolation_groups()
    # No rule either way: the default allow-all egress was revoked.
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []
    assert {"Key": "firebreak:isolation", "Value": "true"} in group["Tags"]
    assert net.enis(target) == {eni: {group["GroupId"]} for eni in before}
    assert net.enis(neighbour) == neighbour_before
    assert net.rules() == rules_before

    out = step_output(record, "isolate")
    assert out["instance_arn"] == f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{target}"
    assert out["isolation_group_id"] == group["GroupId"]
    assert out["isolation_groups"] == {net.vpc: group["GroupId"]}
    assert {ni["network_interface_id"]: set(ni["previous_groups"])
            for ni in out["network_interfaces"]} == before


def test_isolate_undone_exactly_when_a_later_step_fails(cli, moto):
    net = Net(moto, "iso-undo")
    a, b, c = net.groups
    target = net.instance([(a, b), (c,)])
    before = net.enis(target)
    proc, record = cli(ISOLATE.format(fail=FAIL_STEP), "--param", f"instance={target}")
    assert proc.returncode == 1, proc.text
    assert undone(record), proc.text
    assert net.enis(target) == before
    # The group stays, empty, for the next isolation in this VPC.
    [group] = net.isolation_groups()
    assert group["IpPermissionsEgress"] == []


def test_isolate_dry_run_changes_nothing(cli, moto):
    net = Net(moto, "iso-dry")
    target = net.instance([net.groups[:2]])
    before = net.enis(target)
    proc, record = cli(ISOLATE.format(fail=""), "--param", f"instance={target}", "--dry-run")
    assert proc.returncode == 0, proc.text
    plan = json.dumps(record)
    assert f"would create security group {ISOLATION} in {net.vpc} with no rules" in plan
    assert "replace the groups of" in plan
    assert net.enis(target) == before
    assert net.isolation_groups() == []


def test_isolate_never_touches_a_protected_instance_or_interface(cli, moto, tmp_path):
    net = Net(moto, "iso-prot")
    target = net.instance([net.groups[:1], net.groups[1:2]])
    before = net.enis(target)
    pattern = f"arn:aws:ec2:*:instance/{target}"
    proc, record = cli(ISOLATE.format(fail=""), "--param", f"instance={target}",
                       protected=[pattern])
    assert proc.returncode == 1
    assert pattern in proc.text
    # A protected secondary interface stops the whole step, before anything is made.
    second = sorted(before)[1]
    rc, out = action_tool(moto, tmp_path, "aws.ec2.isolate_instance", {"instance": target},
                          "--protect", f"arn:aws:ec2:*:network-interface/{second}")
    assert rc == 1, out
    assert "is protected" in out["message"]
    assert net.enis(target) == before
    assert net.isolation_groups() == []


def test_isolate_same_key_twice_changes_nothing_more(moto, tmp_path):
    net = Net(moto, "iso-idem")
    a, b, c = net.groups
    target = net.instance([(a, b), (c,)])
    before = net.enis(target)
    params = {"instance": target}
    rc, first = action_tool(moto, tmp_path, "aws.ec2.isolate_instance", params, "--key", "e1")
    assert rc == 0, first
    rc, second = action_tool(moto, tmp_path, "aws.ec2.isolate_instance", params, "--key", "e1")
    assert rc == 0, second
    # The groups before the first execution, not the isolation group it put there.
    assert second["output"] == first["output"]
    [group] = net.isolation_groups()
    assert net.enis(target) == {eni: {group["GroupId"]} for eni in before}
    # The undo, given that state, puts back exactly the groups per interface; again, nothing more.
    for _ in range(2):
        rc, undo = action_tool(moto, tmp_path, "aws.ec2.restore_instance_groups", {},
                               "--undo-state", json.dumps(first["output"]))
        assert rc == 0, undo
        assert net.enis(target) == before
    assert "already as recorded" in undo["message"]


def test_restore_leaves_an_interface_detached_since_alone(moto, tmp_path):
    net = Net(moto, "iso-detach")
    a, b, c = net.groups
    target = net.instance([(a, b), (c,)])
    primary, second = sorted(net.enis(target).items(), key=lambda kv: kv[1] != {a, b})
    rc, first = action_tool(moto, tmp_path, "aws.ec2.isolate_instance", {"instance": target},
                            "--key", "d1")
    assert rc == 0, first
    iso = first["output"]["isolation_group_id"]
    eni = net.ec2.describe_network_interfaces(NetworkInterfaceIds=[second[0]])[
        "NetworkInterfaces"][0]
    net.ec2.detach_network_interface(AttachmentId=eni["Attachment"]["AttachmentId"], Force=True)
    rc, undo = action_tool(moto, tmp_path, "aws.ec2.restore_instance_groups",
                           {"instance": target}, "--undo-state", json.dumps(first["output"]))
    assert rc == 0, undo
    assert undo["output"]["skipped"] == [second[0]]
    assert net.enis(target) == {primary[0]: {a, b}}
    # Not the instance's any more: not the undo's to change.
    detached = net.ec2.describe_network_interfaces(NetworkInterfaceIds=[second[0]])[
        "NetworkInterfaces"][0]
    assert {g["GroupId"] for g in detached["Groups"]} == {iso}


def test_isolate_reuses_its_group_and_refuses_someone_elses(moto, tmp_path):
    net = Net(moto, "iso-reuse")
    first_target = net.instance([net.groups[:1]])
    rc, first = action_tool(moto, tmp_path, "aws.ec2.isolate_instance",
                            {"instance": first_target}, "--key", "r1")
    assert rc == 0, first
    [group] = net.isolation_groups()
    # Someone adds a rule to the isolation group: the next isolation revokes it.
    net.ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    second_target = net.instance([net.groups[1:2]])
    rc, second = action_tool(moto, tmp_path, "aws.ec2.isolate_instance",
                             {"instance": second_target}, "--key", "r2")
    assert rc == 0, second
    assert second["output"]["isolation_group_id"] == group["GroupId"]
    [group] = net.isolation_groups()
    assert group["IpPermissions"] == [] and group["IpPermissionsEgress"] == []

    # A group of that name firebreak did not make, with rules, is never edited or used.
    theirs = net.ec2.create_security_group(GroupName="quarantine", Description="theirs",
                                           VpcId=net.vpc)["GroupId"]
    third = net.instance([net.groups[2:3]])
    before = net.enis(third)
    rc, out = action_tool(moto, tmp_path, "aws.ec2.isolate_instance",
                          {"instance": third, "isolation_group_name": "quarantine"})
    assert rc == 1, out
    assert "not made by firebreak" in out["message"]
    assert net.enis(third) == before
    [kept] = net.ec2.describe_security_groups(GroupIds=[theirs])["SecurityGroups"]
    assert kept["IpPermissionsEgress"] != []


def snapshots_of(moto, instance):
    snaps = moto.client("ec2").describe_snapshots(OwnerIds=["self"], Filters=[
        {"Name": "tag:firebreak:instance", "Values": [instance]}])["Snapshots"]
    return {s["SnapshotId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])} | {
        "volume": s["VolumeId"]} for s in snaps}


def volumes_of(moto, instance):
    inst = moto.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0][
        "Instances"][0]
    return {m["Ebs"]["VolumeId"]: m["DeviceName"] for m in inst["BlockDeviceMappings"]}


def test_snapshot_volumes_takes_one_tagged_snapshot_per_volume(cli, moto):
    net = Net(moto, "snap")
    target = net.instance([net.groups[:1]], volumes=("/dev/sdf", "/dev/sdg"))
    other = net.instance([net.groups[:1]])
    groups_before = net.enis(target)
    proc, record = cli(SNAPSHOT.format(fail=""), "--param", f"instance={target}")
    assert proc.returncode == 0, proc.text
    volumes = volumes_of(moto, target)
    snaps = snapshots_of(moto, target)
    assert sorted(s["volume"] for s in snaps.values()) == sorted(volumes)
    out = step_output(record, "snapshot")
    assert {s["volume_id"]: s["snapshot_id"] for s in out["snapshots"]} == {
        s["volume"]: sid for sid, s in snaps.items()}
    assert {s["volume_id"]: s["device"] for s in out["snapshots"]} == volumes
    assert sorted(out["created"]) == sorted(snaps)
    for sid, tags in snaps.items():
        assert tags["firebreak:volume"] == tags["volume"]
        assert tags["firebreak:instance"] == target
        assert tags["firebreak:step"]
        # A manual run has no incident: the tag is left out rather than empty.
        assert "firebreak:incident" not in tags
    # Only that instance's volumes, and nothing about the instance changed.
    assert snapshots_of(moto, other) == {}
    assert net.enis(target) == groups_before


def test_snapshot_volumes_same_key_twice_takes_no_second_snapshot(moto, tmp_path):
    net = Net(moto, "snap-idem")
    target = net.instance([net.groups[:1]], volumes=("/dev/sdf", "/dev/sdg"))
    params = {"instance": target, "description": "case 42"}
    rc, first = action_tool(moto, tmp_path, "aws.ec2.snapshot_volumes", params, "--key", "s1")
    assert rc == 0, first
    assert len(first["output"]["created"]) == 2
    rc, second = action_tool(moto, tmp_path, "aws.ec2.snapshot_volumes", params, "--key", "s1")
    assert rc == 0, second
    assert second["output"]["created"] == []
    assert second["output"]["snapshots"] == first["output"]["snapshots"]
    snaps = snapshots_of(moto, target)
    assert len(snaps) == 2 and all(t["firebreak:step"] == "s1" for t in snaps.values())
    descriptions = {s["Description"] for s in moto.client("ec2").describe_snapshots(
        SnapshotIds=list(snaps))["Snapshots"]}
    assert descriptions == {"case 42"}
    # Another step (another key) is another set of evidence.
    rc, third = action_tool(moto, tmp_path, "aws.ec2.snapshot_volumes", params, "--key", "s2")
    assert rc == 0, third
    assert len(third["output"]["created"]) == 2
    assert len(snapshots_of(moto, target)) == 4


def test_snapshot_volumes_dry_run_and_protected_take_nothing(cli, moto):
    net = Net(moto, "snap-dry")
    target = net.instance([net.groups[:1]])
    proc, record = cli(SNAPSHOT.format(fail=""), "--param", f"instance={target}", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert "would snapshot vol-" in json.dumps(record)
    assert snapshots_of(moto, target) == {}
    pattern = f"arn:aws:ec2:*:instance/{target}"
    proc, record = cli(SNAPSHOT.format(fail=""), "--param", f"instance={target}",
                       protected=[pattern])
    assert proc.returncode == 1
    assert pattern in proc.text
    assert snapshots_of(moto, target) == {}


def test_snapshot_is_evidence_kept_when_a_later_step_fails(cli, moto):
    net = Net(moto, "snap-keep")
    target = net.instance([net.groups[:1]])
    proc, record = cli(SNAPSHOT.format(fail=FAIL_STEP), "--param", f"instance={target}")
    assert proc.returncode == 1, proc.text
    assert not undone(record)
    assert len(snapshots_of(moto, target)) == 1


def test_specs_in_the_catalogue(tmp_path):
    proc = subprocess.run([str(CLI), "--json", "actions"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, env=clean_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    specs = {a["name"]: a for a in (listed if isinstance(listed, list) else listed["actions"])}
    iso = specs["aws.ec2.isolate_instance"]
    assert iso["undo"] == "aws.ec2.restore_instance_groups" and iso["destructive"]
    assert {"action": "ec2:ModifyNetworkInterfaceAttribute",
            "resource": "arn:aws:ec2:*:*:network-interface/*"} in iso["permissions"]
    snap = specs["aws.ec2.snapshot_volumes"]
    assert snap["phase"] == "observe" and not snap["destructive"] and snap["undo"] == ""
    assert snap["idempotent"]
    block = specs["aws.s3.block_public_access"]
    assert block["undo"] == "aws.s3.restore_public_access"
    assert {"action": "s3:PutBucketPublicAccessBlock",
            "resource": "arn:aws:s3:::{bucket}"} in block["permissions"]
    assert "aws.ec2.restore_instance_groups" in specs and "aws.s3.restore_public_access" in specs


# ---- S3 ----

PARTIAL = {"BlockPublicAcls": True, "IgnorePublicAcls": False, "BlockPublicPolicy": True,
           "RestrictPublicBuckets": False}


def make_bucket(moto, name, config=None):
    s3 = moto.client("s3")
    s3.create_bucket(Bucket=name)
    if config is not None:
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=config)


def public_access(moto, name):
    s3 = moto.client("s3")
    try:
        return s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "NoSuchPublicAccessBlockConfiguration", e
        return None


@pytest.mark.parametrize("before", [None, PARTIAL])
def test_block_public_access_sets_all_four_and_records_before(cli, moto, before):
    name = f"fb-block-{int(before is not None)}"
    make_bucket(moto, name, before)
    make_bucket(moto, name + "-other", PARTIAL)
    proc, record = cli(BLOCK.format(fail=""), "--param", f"bucket={name}")
    assert proc.returncode == 0, proc.text
    assert public_access(moto, name) == ALL_BLOCKED
    assert public_access(moto, name + "-other") == PARTIAL
    out = step_output(record, "block")
    assert out["previous"] == before
    assert out["bucket_arn"] == f"arn:aws:s3:::{name}"
    assert out["public_access_block"] == ALL_BLOCKED


@pytest.mark.parametrize("before", [None, PARTIAL])
def test_block_public_access_undone_exactly_when_a_later_step_fails(cli, moto, before):
    name = f"fb-block-undo-{int(before is not None)}"
    make_bucket(moto, name, before)
    proc, record = cli(BLOCK.format(fail=FAIL_STEP), "--param", f"bucket={name}")
    assert proc.returncode == 1, proc.text
    assert undone(record), proc.text
    assert public_access(moto, name) == before


def test_block_public_access_dry_run_and_protected_change_nothing(cli, moto):
    make_bucket(moto, "fb-block-dry")
    proc, record = cli(BLOCK.format(fail=""), "--param", "bucket=fb-block-dry", "--dry-run")
    assert proc.returncode == 0, proc.text
    assert "would set the public access block of bucket fb-block-dry from none" in proc.text
    assert public_access(moto, "fb-block-dry") is None
    make_bucket(moto, "prod-website", PARTIAL)
    for pattern in ("arn:aws:s3:::prod-*", "prod-website"):
        proc, record = cli(BLOCK.format(fail=""), "--param", "bucket=prod-website",
                           protected=[pattern])
        assert proc.returncode == 1
        assert pattern in proc.text
        assert public_access(moto, "prod-website") == PARTIAL


def test_block_public_access_same_key_twice_changes_nothing_more(moto, tmp_path):
    make_bucket(moto, "fb-block-idem", PARTIAL)
    params = {"bucket": "arn:aws:s3:::fb-block-idem"}
    rc, first = action_tool(moto, tmp_path, "aws.s3.block_public_access", params, "--key", "b1")
    assert rc == 0, first
    rc, second = action_tool(moto, tmp_path, "aws.s3.block_public_access", params, "--key", "b1")
    assert rc == 0, second
    # The configuration before the first execution, not the one it made.
    assert second["output"] == first["output"]
    assert first["output"]["previous"] == PARTIAL
    assert public_access(moto, "fb-block-idem") == ALL_BLOCKED
    for _ in range(2):
        rc, undo = action_tool(moto, tmp_path, "aws.s3.restore_public_access", {},
                               "--undo-state", json.dumps(first["output"]))
        assert rc == 0, undo
        assert public_access(moto, "fb-block-idem") == PARTIAL
