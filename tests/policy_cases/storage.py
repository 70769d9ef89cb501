"""Good and bad resources for the object storage rules (S3 buckets, IAM policies)."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.policy_cases.common import Case, record

BUCKET = "aws:s3/bucket:Bucket"
# The static-assets bucket: held to every bucket rule but not to replication (s3-buckets-replicated
# covers uploads and backups, tests/policy_cases/replication.py).
NAME = "example-com-prod-static"
ARN = f"arn:aws:s3:::{NAME}"


def bucket_stack(**drop_or_replace: Any) -> list[dict[str, Any]]:
    """A bucket with every setting the rules want; `name=None` drops that setting, a dict
    replaces its inputs."""
    bucket = record(BUCKET, "uploads", {"bucket": NAME})
    depends = [bucket["urn"]]
    settings = {
        "versioning": record(
            "aws:s3/bucketVersioning:BucketVersioning", "uploads-versioning",
            {"bucket": NAME, "versioningConfiguration": {"status": "Enabled"}}, dependencies=depends,
        ),
        "encryption": record(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "uploads-encryption",
            {"bucket": NAME, "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]},
            dependencies=depends,
        ),
        "public_access_block": record(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "uploads-pab",
            {"bucket": NAME, "blockPublicAcls": True, "blockPublicPolicy": True,
             "ignorePublicAcls": True, "restrictPublicBuckets": True},
            dependencies=depends,
        ),
        "policy": record(
            "aws:s3/bucketPolicy:BucketPolicy", "uploads-tls-only",
            {"bucket": NAME, "policy": json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [ARN, f"{ARN}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }]})},
            dependencies=depends,
        ),
    }
    out = [bucket]
    for key, resource in settings.items():
        if key in drop_or_replace:
            replacement = drop_or_replace[key]
            if replacement is None:
                continue
            resource = copy.deepcopy(resource)
            resource["inputs"].update(replacement)
        out.append(resource)
    return out


def iam_policy(*actions: str, effect: str = "Allow", key: str = "Action") -> dict[str, Any]:
    return record("aws:iam/userPolicy:UserPolicy", "app-buckets", {
        "user": "app",
        "policy": json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": effect, key: list(actions), "Resource": [ARN, f"{ARN}/*"]},
        ]}),
    })


PUBLIC_POLICY = {"policy": json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": f"{ARN}/*"},
]})}

CASES: list[Case] = [
    ("s3-bucket-versioned", bucket_stack(), bucket_stack(versioning=None)),
    ("s3-bucket-versioned", bucket_stack(), bucket_stack(versioning={"versioningConfiguration": {"status": "Suspended"}})),
    ("s3-bucket-encrypted", bucket_stack(), bucket_stack(encryption=None)),
    ("s3-bucket-encrypted", bucket_stack(encryption={"rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]}),
     bucket_stack(encryption={"rules": []})),
    ("s3-bucket-not-public", bucket_stack(), bucket_stack(public_access_block=None)),
    ("s3-bucket-not-public", bucket_stack(), bucket_stack(public_access_block={"restrictPublicBuckets": False})),
    ("s3-bucket-not-public", bucket_stack(), bucket_stack(policy=PUBLIC_POLICY)),
    ("iam-no-wildcard-actions", [iam_policy("s3:GetObject", "s3:PutObject")], [iam_policy("s3:*")]),
    ("iam-no-wildcard-actions", [iam_policy("s3:GetObject")], [iam_policy("*")]),
    ("iam-no-wildcard-actions", [iam_policy("s3:*", effect="Deny")], [iam_policy("s3:Get*", "s3:PutObject")]),
    ("iam-no-wildcard-actions", [iam_policy("s3:ListBucket")], [iam_policy("s3:DeleteBucket", key="NotAction")]),
]
