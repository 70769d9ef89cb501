"""Files replication (issue 21 item 2, data-safety review #20): with the s3 engine, the uploads
and backups buckets are copied to `objectStorage.replicaRegion` (on in prod); in-cluster
SeaweedFS keeps a second copy of every volume on another volume server outside dev.

What an operator relies on: a replica per bucket that cannot be rebuilt, in another region,
hardened like its source (a second copy is no safer than its weakest setting), Object Lock where
the source has it (S3 refuses to replicate otherwise), and a role S3 assumes that can do nothing
but replicate. The policy rules that guard this are run on the synthesized stack and on broken
copies of it, so they can fail."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.storage import layout as object_storage
from components.storage import replication as storage_replication
from tests.conftest import Synth, parse_config

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "policies"))
from saas_policies import replication as replication_rules  # noqa: E402
from saas_policies.offline import evaluate  # noqa: E402

PRIMARY, REPLICA = "eu-west-1", "eu-central-1"  # Pulumi.prod.yaml objectStorage.region / replicaRegion


def replication_records(stack: Synth) -> list[dict[str, Any]]:
    return [r for r in stack.resources if "saas-platform:index:BucketReplication" in r["urn"]]


def of(stack: Synth, kind: str) -> dict[str, dict[str, Any]]:
    """Every AWS S3 setting of one kind, by bucket name."""
    return {r["inputs"]["bucket"]: r for r in stack.of_type(f"aws:s3/{kind[0].lower()}{kind[1:]}:{kind}")}


@pytest.fixture
def prod(synthesized: dict[str, Synth]) -> Synth:
    stack = synthesized["prod"]
    assert stack.returncode == 0, stack.stderr
    return stack


def test_only_the_s3_engine_replicates(stack: Synth) -> None:
    # dev and staging run SeaweedFS: replication there is its volume placement (below).
    assert bool(replication_records(stack)) == (stack.stack == "prod")


def test_prod_replicates_uploads_and_backups_to_hardened_buckets_in_another_region(prod: Synth) -> None:
    sources = prod.outputs["objectStorage"]["buckets"]
    buckets = of(prod, "Bucket")
    replicas = {b: object_storage.bucket_name("example-com", "prod", f"{b}-replica") for b in object_storage.REPLICATED}
    # Static assets are rebuilt by a deploy: not replicated.
    assert set(object_storage.REPLICATED) == {"uploads", "backups"}
    for logical, replica in replicas.items():
        assert buckets[sources[logical]]["inputs"]["region"] == PRIMARY
        record = buckets[replica]
        assert record["inputs"]["region"] == REPLICA
        assert record["protect"] and record["retainOnDelete"], "a replica is data: protected and retained"
        assert of(prod, "BucketVersioning")[replica]["inputs"]["versioningConfiguration"]["status"] == "Enabled"
        (rule,) = of(prod, "BucketServerSideEncryptionConfiguration")[replica]["inputs"]["rules"]
        assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
        block = of(prod, "BucketPublicAccessBlock")[replica]["inputs"]
        assert all(block[f] is True for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
        (statement,) = json.loads(of(prod, "BucketPolicy")[replica]["inputs"]["policy"])["Statement"]
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        (expiry,) = of(prod, "BucketLifecycleConfiguration")[replica]["inputs"]["rules"]
        assert expiry["noncurrentVersionExpiration"]["noncurrentDays"] == 30
        for setting in ("BucketVersioning", "BucketServerSideEncryptionConfiguration", "BucketPublicAccessBlock"):
            assert of(prod, setting)[replica]["inputs"]["region"] == REPLICA, setting
    assert sources["static"] not in {r["inputs"]["bucket"] for r in prod.of_type(
        "aws:s3/bucketReplicationConfig:BucketReplicationConfig")}


def test_backup_replica_keeps_the_sources_object_lock(prod: Synth) -> None:
    locks = of(prod, "BucketObjectLockConfiguration")
    source = prod.outputs["objectStorage"]["buckets"]["backups"]
    replica = object_storage.bucket_name("example-com", "prod", "backups-replica")
    assert set(locks) == {source, replica}
    assert locks[replica]["inputs"]["rule"] == locks[source]["inputs"]["rule"]
    assert locks[replica]["inputs"]["rule"]["defaultRetention"] == {"mode": "GOVERNANCE", "days": object_storage.BACKUP_LOCK_DAYS}


def test_each_source_has_one_enabled_rule_to_its_replica_after_versioning_and_lock(prod: Synth) -> None:
    sources = prod.outputs["objectStorage"]["buckets"]
    configs = of(prod, "BucketReplicationConfig")
    assert set(configs) == {sources[b] for b in object_storage.REPLICATED}
    urns = {(r["type"].split(":")[-1], r["inputs"].get("bucket")): r["urn"] for r in prod.resources}
    (role,) = prod.of_type("aws:iam/role:Role")
    (policy,) = prod.of_type("aws:iam/rolePolicy:RolePolicy")
    for logical in object_storage.REPLICATED:
        source, replica = sources[logical], object_storage.bucket_name("example-com", "prod", f"{logical}-replica")
        config = configs[source]
        assert config["inputs"]["region"] == PRIMARY
        (rule,) = config["inputs"]["rules"]
        assert rule["status"] == "Enabled" and rule["filter"] == {"prefix": ""}
        assert rule["destination"] == {"bucket": f"arn:aws:s3:::{replica}", "storageClass": storage_replication.REPLICA_STORAGE_CLASS}
        assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
        # S3 checks versioning on both sides (and Object Lock on the destination) when the
        # configuration is put: it must come after them, and after the role's policy.
        needed = {urns[("BucketVersioning", source)], urns[("BucketVersioning", replica)], policy["urn"]}
        if logical == "backups":
            needed |= {urns[("BucketObjectLockConfiguration", source)], urns[("BucketObjectLockConfiguration", replica)]}
        assert needed <= set(config["dependencies"]), needed - set(config["dependencies"])
        assert config["inputs"]["role"].endswith(f"/{role['inputs']['name']}")


def test_replication_role_is_assumable_by_s3_for_these_buckets_only_and_grants_exactly_replication(prod: Synth) -> None:
    sources = prod.outputs["objectStorage"]["buckets"]
    source_arns = sorted(f"arn:aws:s3:::{sources[b]}" for b in object_storage.REPLICATED)
    (role,) = prod.of_type("aws:iam/role:Role")
    (trust,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "s3.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"ArnLike": {"aws:SourceArn": source_arns}}
    (policy,) = prod.of_type("aws:iam/rolePolicy:RolePolicy")
    doc = json.loads(policy["inputs"]["policy"])
    assert replication_rules.replication_grant_problems(doc) == []
    granted = {(a, r) for s in doc["Statement"] for a in s["Action"] for r in s["Resource"]}
    replica_arns = [f"arn:aws:s3:::{object_storage.bucket_name('example-com', 'prod', f'{b}-replica')}" for b in object_storage.REPLICATED]
    expected = (
        {(a, r) for a in storage_replication.SOURCE_BUCKET_ACTIONS for r in source_arns}
        | {(a, f"{r}/*") for a in storage_replication.SOURCE_OBJECT_ACTIONS for r in source_arns}
        # Lock reads only on the locked source.
        | {(a, f"arn:aws:s3:::{sources['backups']}/*") for a in storage_replication.SOURCE_LOCK_ACTIONS}
        | {(a, f"{r}/*") for a in storage_replication.DESTINATION_OBJECT_ACTIONS for r in replica_arns}
    )
    assert granted == expected
    # No KMS: the buckets use SSE-S3.
    assert not any(a.startswith("kms:") for a, _ in granted)
    # The component and the policy rule agree on what replication may hold.
    assert storage_replication.ALLOWED_ACTIONS == replication_rules.ALLOWED


def _findings(records: list[dict[str, Any]], rule: str) -> list[str]:
    return [f["message"] for f in evaluate(records, {rule: {"environment": "production"}}) if f["policy"] == rule]


def test_replication_rules_pass_prod_and_fail_on_its_broken_copies(prod: Synth) -> None:
    records = copy.deepcopy(prod.resources)
    assert _findings(records, "s3-buckets-replicated") == []
    assert _findings(records, "s3-replication-least-privilege") == []
    # Mutation 1: the backups rule is gone.
    dropped = [r for r in records if not (r["type"].endswith("BucketReplicationConfig") and r["inputs"]["bucket"].endswith("-backups"))]
    assert any("-prod-backups" in m for m in _findings(dropped, "s3-buckets-replicated"))
    # Mutation 2: the replica loses its Object Lock.
    unlocked = [r for r in records if not (r["type"].endswith("BucketObjectLockConfiguration") and r["inputs"]["bucket"].endswith("-replica"))]
    assert any("Object Lock" in m for m in _findings(unlocked, "s3-buckets-replicated"))
    # Mutation 3: the role may also overwrite source objects.
    widened = copy.deepcopy(records)
    (policy,) = [r for r in widened if r["type"] == "aws:iam/rolePolicy:RolePolicy"]
    doc = json.loads(policy["inputs"]["policy"])
    doc["Statement"][-1]["Action"].append("s3:PutObject")
    policy["inputs"]["policy"] = json.dumps(doc)
    assert any("s3:PutObject" in m for m in _findings(widened, "s3-replication-least-privilege"))


def test_seaweedfs_keeps_a_second_copy_of_every_object_outside_dev(synthesized: dict[str, Synth]) -> None:
    """SeaweedFS replication `001`: one more copy on another volume server of the same rack
    (SeaweedFS 4.44 weed/storage/super_block/replica_placement.go: digits = other data centers,
    other racks, other servers). S3 objects get the *filer's* placement: the gateway assigns
    with `Replication: ""` (weed/s3api/s3api_object_handlers_put.go), the filer fills in its
    `-defaultReplicaPlacement` (weed/server/filer_server_handlers_write.go detectStorageOption),
    which chart 4.44 always passes (templates/filer/filer-statefulset.yaml, default "000"); the
    master's `-defaultReplication` (templates/master/master-statefulset.yaml) only fills an empty
    request (weed/server/master_grpc_server_assign.go). Both must say 001, and the chart's
    global override must stay off (it would replace both)."""
    for name, expected, servers in (("dev", "000", None), ("staging", "001", 3)):
        (release,) = [r for r in synthesized[name].of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == "seaweedfs"]
        values = release["inputs"]["values"]
        assert values["master"]["defaultReplication"] == expected
        assert not values["global"]["seaweedfs"].get("enableReplication")
        if name != "dev":  # all-in-one: one process, one volume server, nothing to place
            assert values["filer"]["defaultReplicaPlacement"] == expected
        if servers:
            # Two copies need at least two volume servers; three keep writes going with one down.
            assert values["volume"]["replicas"] == servers


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        ({"engine": "s3", "region": "eu-west-1", "replicaRegion": "europe"}, "'europe' is not an AWS region"),
        ({"engine": "s3", "region": "eu-west-1", "replicaRegion": "eu-west-1"}, "replicaRegion: 'eu-west-1' is the primary region"),
        ({"engine": "seaweedfs", "replicaRegion": "eu-central-1"}, "replicaRegion: only the s3 engine"),
        ({"engine": "s3", "region": "eu-west-1"}, "objectStorage.replicaRegion: production with the s3 engine"),
    ],
)
def test_replica_region_is_validated_with_the_key_path(storage: dict[str, Any], expected: str) -> None:
    from components import config

    raw = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    values = {k.split(":", 1)[1]: v for k, v in raw.items() if k.startswith("saas-platform:")}
    values["objectStorage"] = {**storage, "bucketPrefix": "example-com"}
    if storage["engine"] == "seaweedfs":
        values["environment"] = "staging"
    with pytest.raises(config.ConfigError) as excinfo:
        parse_config(values, "prod")
    problems = excinfo.value.problems
    assert any(expected in p for p in problems), problems
    assert all("objectStorage" in p for p in problems if "eplica" in p), problems


def test_data_volumes_are_encrypted_at_rest_outside_dev(stack: Synth) -> None:
    """The `saas-data` class (MariaDB, Redis, backup staging) asks the EBS CSI driver for
    encrypted volumes (aws-ebs-csi-driver docs/parameters.md `encrypted`); dev uses the laptop
    cluster's default class and creates none."""
    classes = {c["metadata"]["name"]: c for c in stack.objects("StorageClass")}
    if stack.stack == "dev":
        assert "saas-data" not in classes
        return
    assert classes["saas-data"]["provisioner"] == "ebs.csi.aws.com"
    assert classes["saas-data"]["parameters"]["encrypted"] == "true"
