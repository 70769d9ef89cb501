"""The CloudTrail audit trail (components/edge/audit.py, `aws.auditTrail.*`) per stack: on and
protected in production, absent where it is off (staging by default) or where no AWS is used
(dev); the bucket policy CloudTrail needs, scoped to this trail; the optional CloudWatch Logs
delivery with a least-privilege role (a staging variant with it on)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import config as cfg_module
from tests.conftest import ROOT, Synth, parse_config, run_synth

TRAIL = "aws:cloudtrail/trail:Trail"
ACCOUNT = "123456789012"  # synth/mocks.py AWS_ACCOUNT


def _audit(synth: Synth, type_: str) -> list[dict[str, Any]]:
    return [r for r in synth.of_type(type_) if "saas-platform:index:AuditTrail$" in r["urn"]]


def _one(synth: Synth, type_: str) -> dict[str, Any]:
    found = _audit(synth, type_)
    assert len(found) == 1, f"{synth.stack}: expected one {type_}, found {len(found)}"
    return found[0]


def test_trail_is_on_where_the_stack_uses_aws_in_production(stack: Synth) -> None:
    trails = _audit(stack, TRAIL)
    if stack.stack != "prod":
        # dev uses no AWS at all; staging uses SES but keeps the default (off outside production).
        assert trails == []
        assert "auditTrail" not in stack.outputs
        return
    (trail,) = trails
    inputs = trail["inputs"]
    assert inputs["isMultiRegionTrail"] is True
    assert inputs["includeGlobalServiceEvents"] is True
    assert inputs["enableLogFileValidation"] is True
    assert inputs["enableLogging"] is True
    assert inputs["s3BucketName"] == "example-com-prod-audit-trail"
    assert trail["protect"] is True
    assert stack.outputs["auditTrail"] == {"trail": "saas-platform-prod", "bucket": "example-com-prod-audit-trail", "logGroup": None}


def test_prod_trail_bucket_is_private_versioned_encrypted_and_expires(synthesized: dict[str, Synth]) -> None:
    prod = synthesized["prod"]
    bucket = _one(prod, "aws:s3/bucket:Bucket")
    assert bucket["protect"] is True
    name = bucket["inputs"]["bucket"]
    block = _one(prod, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")["inputs"]
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert _one(prod, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")["inputs"]["rule"] == {
        "objectOwnership": "BucketOwnerEnforced"
    }
    assert _one(prod, "aws:s3/bucketVersioning:BucketVersioning")["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    encryption = _one(prod, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert encryption["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    (rule,) = _one(prod, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["inputs"]["rules"]
    # The defaults of aws.auditTrail: Glacier IR after 90 days, gone after a year.
    assert rule["transitions"] == [{"days": 90, "storageClass": "GLACIER_IR"}]
    assert rule["expiration"]["days"] == 365
    assert rule["noncurrentVersionExpiration"]["noncurrentDays"] == 30
    assert all(r["inputs"]["bucket"] == name for r in _audit(prod, "aws:s3/bucketPolicy:BucketPolicy"))


def test_prod_bucket_policy_lets_only_this_trail_write_its_account_prefix(synthesized: dict[str, Synth]) -> None:
    """AWS CloudTrail user guide, "Amazon S3 bucket policy for CloudTrail": GetBucketAcl on the
    bucket and PutObject under AWSLogs/<account>/ with bucket-owner-full-control, both limited by
    aws:SourceArn to the trail's ARN."""
    prod = synthesized["prod"]
    doc = json.loads(_one(prod, "aws:s3/bucketPolicy:BucketPolicy")["inputs"]["policy"])
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    trail_arn = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/saas-platform-prod"
    acl, write = by_sid["AWSCloudTrailAclCheck"], by_sid["AWSCloudTrailWrite"]
    for statement in (acl, write):
        assert statement["Principal"] == {"Service": "cloudtrail.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["aws:SourceArn"] == trail_arn
    assert acl["Action"] == "s3:GetBucketAcl" and acl["Resource"] == "arn:aws:s3:::example-com-prod-audit-trail"
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == f"arn:aws:s3:::example-com-prod-audit-trail/AWSLogs/{ACCOUNT}/*"
    assert write["Condition"]["StringEquals"]["s3:x-amz-acl"] == "bucket-owner-full-control"
    assert by_sid["DenyInsecureTransport"]["Effect"] == "Deny"
    # The trail is created after the policy it needs (CloudTrail checks it at creation).
    trail = _one(prod, TRAIL)
    policy_urn = _one(prod, "aws:s3/bucketPolicy:BucketPolicy")["urn"]
    assert policy_urn in trail["dependencies"]


@pytest.fixture(scope="module")
def with_cloudwatch(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Staging with the trail and its CloudWatch Logs delivery turned on."""
    base = tmp_path_factory.mktemp("audit")
    config = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    config["saas-platform:aws"] = {"auditTrail": {"enabled": True, "cloudWatchLogs": {"enabled": True, "retentionDays": 30}}}
    stack_file = base / "Pulumi.audit.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    proc = run_synth("audit", base / "out", "--stack-file", str(stack_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Synth.load("audit", base / "out", proc)


def test_cloudwatch_delivery_has_a_retention_and_a_least_privilege_role(with_cloudwatch: Synth) -> None:
    synth = with_cloudwatch
    group = _one(synth, "aws:cloudwatch/logGroup:LogGroup")["inputs"]
    assert group == {**group, "name": "/saas-platform/audit/cloudtrail", "retentionInDays": 30}
    trail = _one(synth, TRAIL)
    assert trail["inputs"]["cloudWatchLogsGroupArn"].endswith("log-group:/saas-platform/audit/cloudtrail:*")
    assert trail["inputs"]["cloudWatchLogsRoleArn"]
    # Outside production nothing is protected (a staging trail can be torn down).
    assert trail["protect"] is False and _one(synth, "aws:s3/bucket:Bucket")["protect"] is False

    role = _one(synth, "aws:iam/role:Role")["inputs"]
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "cloudtrail.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"]["aws:SourceArn"].endswith(":trail/saas-platform-audit")
    doc = json.loads(_one(synth, "aws:iam/rolePolicy:RolePolicy")["inputs"]["policy"])
    actions = sorted(a for s in doc["Statement"] for a in s["Action"])
    assert actions == ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = {r for s in doc["Statement"] for r in s["Resource"]}
    assert len(resources) == 1 and next(iter(resources)).endswith("log-group:/saas-platform/audit/cloudtrail:log-stream:*")
    assert synth.outputs["auditTrail"]["logGroup"] == "/saas-platform/audit/cloudtrail"
    assert [f for f in synth.findings if f["level"] == "mandatory"] == []


def _raw(stack: str) -> dict[str, Any]:
    config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("saas-platform:")}


@pytest.mark.parametrize(
    ("stack", "section", "expected"),
    [
        ("prod", {"enabled": False}, "saas-platform:aws.auditTrail.enabled: production keeps the CloudTrail audit trail"),
        ("dev", {"enabled": True}, "saas-platform:aws.auditTrail.enabled: this stack uses no AWS"),
        ("prod", {"retentionDays": 7}, "saas-platform:aws.auditTrail.retentionDays: input should be greater than or equal to 30"),
        ("prod", {"transitionDays": 400}, "saas-platform:aws.auditTrail: transitionDays (400) must be less than retentionDays (365)"),
        ("prod", {"cloudWatchLogs": {"retentionDays": 42}}, "saas-platform:aws.auditTrail.cloudWatchLogs.retentionDays: 42 is not a CloudWatch"),
        ("prod", {"enabeld": True}, "saas-platform:aws.auditTrail.enabeld: unknown key"),
    ],
)
def test_bad_audit_trail_config_names_the_key(stack: str, section: dict[str, Any], expected: str) -> None:
    with pytest.raises(cfg_module.ConfigError) as caught:
        parse_config({**_raw(stack), "aws": {"auditTrail": section}}, stack)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems


def test_audit_trail_defaults_follow_the_environment() -> None:
    assert cfg_module.audit_trail_enabled(parse_config(_raw("prod"), "prod").raw) is True
    assert cfg_module.audit_trail_enabled(parse_config(_raw("staging"), "staging").raw) is False
    assert cfg_module.audit_trail_enabled(parse_config(_raw("dev"), "dev").raw) is False
    opted_in = {**_raw("staging"), "aws": {"auditTrail": {"enabled": True}}}
    assert cfg_module.audit_trail_enabled(parse_config(opted_in, "staging").raw) is True
