"""ObjectStorage per stack and per engine: seaweedfs (dev, staging), s3 (prod), minio (variant).

Every engine gives the same three buckets and a credential per consumer; the s3 engine's IAM
documents are parsed and held to exactly what each consumer needs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.storage.layout import BUCKET_ACTIONS, OBJECT_ACTIONS, bucket_name
from components.storage.seaweedfs import (
    SEAWEEDFS_CHART,
    SEAWEEDFS_CONFIG_SECRET,
    SEAWEEDFS_VERSION,
    seaweedfs_identities,
)
from tests.conftest import Synth
from tests.upstream import chart_dir, chart_version, unknown_value_paths

BUCKETS = {"uploads", "static", "backups"}
ENGINE = {"dev": "seaweedfs", "staging": "seaweedfs", "prod": "s3"}
# The buckets each consumer may touch (the `access` contract: uploads+static -> app).
CONSUMER_BUCKETS = {"app": {"uploads", "static"}, "backups": {"backups"}}
# `s3.createBuckets` is documented in the chart's values.yaml only as a commented example.
# Documented as commented examples in chart 4.44 values.yaml (under s3: and allInOne.s3:).
SEAWEEDFS_DOCUMENTED_IN_COMMENTS = ("s3.createBuckets", "allInOne.s3.createBuckets")


def test_every_stack_exposes_the_three_buckets(stack: Synth) -> None:
    buckets = stack.outputs["objectStorage"]["buckets"]
    assert set(buckets) == BUCKETS
    for logical, name in buckets.items():
        # The committed stacks fix the prefix to their domain with dashes (bucketPrefix).
        assert name == bucket_name(stack.outputs["domain"].replace(".", "-"), stack.stack, logical)
        assert 3 <= len(name) <= 63 and name == name.lower()


def test_bucket_names_stay_within_s3_limits() -> None:
    name = bucket_name("a" * 40, "production-eu", "backups")
    assert len(name) <= 63 and name.endswith("-production-eu-backups") and not name.startswith("-")


# ---- seaweedfs -----------------------------------------------------------------------------


def seaweedfs(stack: Synth) -> dict[str, Any]:
    (release,) = [r for r in stack.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == SEAWEEDFS_CHART]
    return release


def test_engine_matches_the_stack(stack: Synth) -> None:
    releases = [r for r in stack.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == SEAWEEDFS_CHART]
    buckets = stack.of_type("aws:s3/bucket:Bucket")
    if ENGINE[stack.stack] == "seaweedfs":
        assert len(releases) == 1 and buckets == []
        # dev runs the chart's all-in-one Deployment, whose Service is `<release>-all-in-one`
        # (seaweedfs 4.44 k8s/charts/seaweedfs/templates/all-in-one/all-in-one-service.yml).
        service = "seaweedfs-all-in-one" if stack.stack == "dev" else "seaweedfs-s3"
        assert stack.outputs["objectStorage"]["endpoint"] == f"http://{service}.saas-data.svc.cluster.local:8333"
    else:
        # The three buckets, plus the replicas of uploads and backups in objectStorage.replicaRegion
        # (tests/test_storage_replication.py).
        # The audit trail's bucket (components/edge/audit.py) is not ObjectStorage's.
        buckets = [b for b in buckets if "AuditTrail" not in b["urn"]]
        primary = [b for b in buckets if b["inputs"]["region"] == "eu-west-1"]
        assert releases == [] and len(primary) == 3 and len(buckets) == 5
        # The cluster's region (Pulumi.prod.yaml aws:region), not S3's default us-east-1.
        assert stack.outputs["objectStorage"]["endpoint"] == "https://s3.eu-west-1.amazonaws.com"


@pytest.mark.parametrize("name", ["dev", "staging"])
def test_seaweedfs_chart_is_pinned_and_values_exist_upstream(synthesized: dict[str, Synth], name: str) -> None:
    release = seaweedfs(synthesized[name])["inputs"]
    assert release["version"] == SEAWEEDFS_VERSION == chart_version("seaweedfs")
    assert release["repositoryOpts"]["repo"] == "https://seaweedfs.github.io/seaweedfs/helm"
    assert release["namespace"] == "saas-data"
    assert unknown_value_paths("seaweedfs", release["values"], free_form=SEAWEEDFS_DOCUMENTED_IN_COMMENTS) == []
    upstream = (chart_dir("seaweedfs") / "values.yaml").read_text()
    assert "  # createBuckets:\n  #   - name: bucket-a" in upstream  # the commented example we rely on


def test_seaweedfs_values_check_catches_a_typo(synthesized: dict[str, Synth]) -> None:
    values = json.loads(json.dumps(seaweedfs(synthesized["staging"])["inputs"]["values"]))
    values["s3"]["enableAuthentication"] = True
    values["filer"]["encryptVolume"] = True
    unknown = unknown_value_paths("seaweedfs", values, free_form=SEAWEEDFS_DOCUMENTED_IN_COMMENTS)
    assert unknown == ["filer.encryptVolume", "s3.enableAuthentication"]


@pytest.mark.parametrize("name", ["dev", "staging"])
def test_seaweedfs_gateway_buckets_encryption_and_tenants(synthesized: dict[str, Synth], name: str) -> None:
    stack = synthesized[name]
    values = seaweedfs(stack)["inputs"]["values"]
    if name == "dev":
        # One `weed server` process (chart all-in-one mode): the separate components are off
        # and the all-in-one pod serves S3 with the same identities, buckets and encryption;
        # the bucket hook reads allInOne.s3.* in this mode (templates/shared/post-install-bucket-hook.yaml).
        assert [values[c]["enabled"] for c in ("master", "volume", "filer", "s3")] == [False] * 4
        assert values["allInOne"]["enabled"] is True and values["allInOne"]["replicas"] == 1
        assert values["allInOne"]["data"]["type"] == "persistentVolumeClaim"
        s3 = values["allInOne"]["s3"]
    else:
        s3 = values["s3"]
        assert values["volume"]["dataDirs"][0]["type"] == "persistentVolumeClaim"
        assert values["master"]["replicas"] == 3 and values["volume"]["replicas"] == 3 and s3["replicas"] == 2
    assert s3["enabled"] is True and s3["enableAuth"] is True
    assert s3["existingConfigSecret"] == SEAWEEDFS_CONFIG_SECRET
    secret = stack.object("Secret", SEAWEEDFS_CONFIG_SECRET, "saas-data")
    assert secret["stringData"] == {"seaweedfs_s3_config": "[secret]"}
    created = {b["name"]: b for b in s3["createBuckets"]}
    assert set(created) == set(stack.outputs["objectStorage"]["buckets"].values())
    # The application's buckets keep versions; the backups bucket does not: mariadb-operator
    # prunes with a plain RemoveObject (v26.6.0 pkg/minio/minio.go:256), which on a versioned
    # SeaweedFS 4.44 bucket only adds a delete marker (weed/s3api/s3api_object_handlers_delete.go
    # :151-159), so expired backups would never free space (data-safety review #8).
    backups = stack.outputs["objectStorage"]["buckets"]["backups"]
    assert "versioning" not in created[backups]
    assert {b["versioning"] for n, b in created.items() if n != backups} == {"Enabled"}
    # Two filers, each with a full copy of the metadata holding every chunk's cipher key.
    if name != "dev":  # dev runs SeaweedFS all-in-one
        assert values["filer"]["replicas"] == 2
    assert values["filer"]["encryptVolumeData"] is True


@pytest.mark.parametrize("name", ["dev", "staging"])
def test_seaweedfs_pods_are_restricted_with_resources(synthesized: dict[str, Synth], name: str) -> None:
    values = seaweedfs(synthesized[name])["inputs"]["values"]
    for component in ("allInOne",) if name == "dev" else ("master", "volume", "filer", "s3"):
        pod, container = values[component]["podSecurityContext"], values[component]["containerSecurityContext"]
        assert pod["enabled"] and pod["runAsNonRoot"] and pod["seccompProfile"] == {"type": "RuntimeDefault"}, component
        assert container["enabled"] and container["allowPrivilegeEscalation"] is False, component
        assert container["capabilities"] == {"drop": ["ALL"]}, component
        resources = values[component]["resources"]
        assert resources["requests"]["cpu"] and resources["limits"]["memory"], component
    policy = values["networkPolicy"]
    assert policy["enabled"] and policy["egress"]["enabled"]
    sources = {
        rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: rule["ports"][0]["port"]
        for rule in policy["extraIngress"]
    }
    # The all-in-one process has one metrics endpoint (allInOne.metricsPort 9324).
    assert sources == {"saas-app": 8333, "saas-monitoring": 9324 if name == "dev" else 9327}
    # Only the backend workloads and Prometheus, not every pod of those namespaces.
    pods = {rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for rule in policy["extraIngress"]}
    assert pods == {"backend", "prometheus"}


def test_seaweedfs_waits_for_the_servicemonitor_crd(stack: Synth) -> None:
    """The chart renders ServiceMonitors (`global.seaweedfs.monitoring.enabled`) with no
    Capabilities guard (seaweedfs 4.44 templates/*/…-servicemonitor.yaml): Helm fails the whole
    release when that CRD is missing, so the release depends on kube-prometheus-stack."""
    if ENGINE[stack.stack] != "seaweedfs":
        return
    kps = [r["urn"] for r in stack.of_type("kubernetes:helm.sh/v3:Release") if r["name"] == "kube-prometheus-stack"]
    assert len(kps) == 1 and kps[0] in seaweedfs(stack)["dependencies"]


def test_seaweedfs_identities_are_scoped_to_their_buckets() -> None:
    names = {"uploads": "p-s-uploads", "static": "p-s-static", "backups": "p-s-backups"}
    document = seaweedfs_identities({"app": ("AK1", "SK1"), "backups": ("AK2", "SK2")}, names)
    by_name = {i["name"]: i for i in document["identities"]}
    assert set(by_name) == {"app", "backups"}
    for consumer, identity in by_name.items():
        buckets = {action.split(":", 1)[1] for action in identity["actions"]}
        assert buckets == {names[b] for b in CONSUMER_BUCKETS[consumer]}, consumer
        assert all(":" in action and action.split(":")[0] != "Admin" for action in identity["actions"])
    assert by_name["app"]["credentials"] == [{"accessKey": "AK1", "secretKey": "SK1"}]


# ---- s3 (prod) -----------------------------------------------------------------------------


def aws(stack: Synth, kind: str) -> list[dict[str, Any]]:
    """ObjectStorage's AWS resources of one kind (EdgeDNS has IAM users of its own)."""
    return [
        r["inputs"] for r in stack.resources
        if r["type"].startswith("aws:") and r["type"].endswith(f":{kind}") and "saas-platform:index:ObjectStorage$" in r["urn"]
    ]


def by_bucket(stack: Synth, kind: str) -> dict[str, dict[str, Any]]:
    settings = aws(stack, kind)
    out = {s["bucket"]: s for s in settings}
    assert len(out) == len(settings) == 3, kind
    return out


@pytest.fixture
def prod(synthesized: dict[str, Synth]) -> Synth:
    stack = synthesized["prod"]
    assert stack.returncode == 0, stack.stderr
    return stack


def test_s3_buckets_are_versioned_encrypted_private_and_expire_old_versions(prod: Synth) -> None:
    names = set(prod.outputs["objectStorage"]["buckets"].values())
    assert {b["bucket"] for b in aws(prod, "Bucket")} == names
    assert {b: s["versioningConfiguration"]["status"] for b, s in by_bucket(prod, "BucketVersioning").items()} == dict.fromkeys(names, "Enabled")
    for settings in by_bucket(prod, "BucketServerSideEncryptionConfiguration").values():
        assert settings["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    for settings in by_bucket(prod, "BucketPublicAccessBlock").values():
        assert all(settings[f] is True for f in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    for settings in by_bucket(prod, "BucketOwnershipControls").values():
        assert settings["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    for settings in by_bucket(prod, "BucketLifecycleConfiguration").values():
        (rule,) = settings["rules"]
        assert rule["status"] == "Enabled"
        assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
        assert rule["abortIncompleteMultipartUpload"]["daysAfterInitiation"] == 7


def test_s3_bucket_policies_deny_everything_without_tls(prod: Synth) -> None:
    for bucket, settings in by_bucket(prod, "BucketPolicy").items():
        (statement,) = json.loads(settings["policy"])["Statement"]
        assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
        assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]


def test_s3_buckets_are_protected_in_production(prod: Synth) -> None:
    for record in prod.of_type("aws:s3/bucket:Bucket"):
        assert record["protect"] and record["retainOnDelete"], record["name"]


def iam_documents(stack: Synth) -> dict[str, dict[str, Any]]:
    """Each IAM user's inline policy document, by consumer."""
    users = {u["name"]: u for u in aws(stack, "User")}
    docs = {}
    for policy in aws(stack, "UserPolicy"):
        assert policy["user"] in users
        consumer = policy["name"].removesuffix("-buckets")
        docs[consumer] = json.loads(policy["policy"])
    return docs


def iam_problems(doc: dict[str, Any], own: set[str]) -> list[str]:
    """Why an IAM document grants more (or other) than its consumer's buckets need."""
    problems = []
    granted: dict[str, set[str]] = {}
    for statement in doc["Statement"]:
        if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
            problems.append(f"unexpected statement {statement}")
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        problems += [f"wildcard action {a}" for a in actions if "*" in a]
        problems += [f"foreign resource {r}" for r in resources if r == "*" or r.removesuffix("/*") not in own]
        for action in actions:
            granted.setdefault(action, set()).update(resources)
    # Bucket-level actions on the buckets, object-level actions on their objects, nothing else.
    if set(granted) != set(BUCKET_ACTIONS) | set(OBJECT_ACTIONS):
        problems.append(f"actions {sorted(granted)}")
    problems += [f"{a} on {granted.get(a)}" for a in BUCKET_ACTIONS if granted.get(a) != own]
    problems += [f"{a} on {granted.get(a)}" for a in OBJECT_ACTIONS if granted.get(a) != {f"{arn}/*" for arn in own}]
    return problems


def own_arns(stack: Synth, consumer: str) -> set[str]:
    buckets = stack.outputs["objectStorage"]["buckets"]
    return {f"arn:aws:s3:::{buckets[b]}" for b in CONSUMER_BUCKETS[consumer]}


def test_s3_iam_policies_grant_each_consumer_only_its_buckets_and_actions(prod: Synth) -> None:
    docs = iam_documents(prod)
    assert set(docs) == set(CONSUMER_BUCKETS)
    for consumer, doc in docs.items():
        assert iam_problems(doc, own_arns(prod, consumer)) == [], consumer


@pytest.mark.parametrize(
    "tamper",
    [
        lambda doc: doc["Statement"][1]["Action"].append("s3:*"),
        lambda doc: doc["Statement"][0]["Resource"].append("*"),
        lambda doc: doc["Statement"][0]["Action"].append("s3:DeleteBucket"),
        lambda doc: doc["Statement"][1]["Resource"].append("arn:aws:s3:::example-com-prod-backups/*"),
    ],
    ids=["wildcard-action", "wildcard-resource", "extra-action", "foreign-bucket"],
)
def test_iam_check_catches_a_broader_document(prod: Synth, tamper: Any) -> None:
    doc = iam_documents(prod)["app"]
    tamper(doc)
    assert iam_problems(doc, own_arns(prod, "app"))


def test_s3_each_consumer_has_its_own_identity_and_key(prod: Synth) -> None:
    users = aws(prod, "User")
    assert sorted(u["name"] for u in users) == ["example-com-prod-app-s3", "example-com-prod-backups-s3"]
    assert all(u["path"] == "/saas-platform/" for u in users)
    assert sorted(k["user"] for k in aws(prod, "AccessKey")) == sorted(u["name"] for u in users)


# ---- minio (variant) -----------------------------------------------------------------------


def test_minio_engine_uses_the_configured_endpoint_and_secret_credentials(variant: Synth) -> None:
    storage = variant.outputs["objectStorage"]
    assert storage["endpoint"] == "https://s3.files.example.net"
    assert storage["buckets"] == {b: f"acme-files-variant-{b}" for b in BUCKETS}
    assert not [r for r in variant.resources if r["type"].startswith("aws:") and "saas-platform:index:ObjectStorage$" in r["urn"]]
    assert not [r for r in variant.of_type("kubernetes:helm.sh/v3:Release") if r["inputs"]["chart"] == SEAWEEDFS_CHART]
    text = (variant.out / "resources.json").read_text() + (variant.out / "outputs.json").read_text()
    assert "synth-placeholder" not in text  # the secret credentials never appear in clear
