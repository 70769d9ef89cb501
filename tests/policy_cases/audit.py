"""Good and bad resources for the CloudTrail rules (policies/saas_policies/audit.py), shaped like
what components/edge/audit.py registers in the prod synthesis."""

from __future__ import annotations

import copy
import json
from typing import Any

from tests.policy_cases.common import Case, record

NAME = "example-com-prod-audit-trail"
ARN = f"arn:aws:s3:::{NAME}"
TRAIL_ARN = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/saas-platform-prod"
SCOPED = {"aws:SourceArn": TRAIL_ARN}


def _bucket_policy(scoped: bool = True) -> dict[str, Any]:
    extra = SCOPED if scoped else {}
    return {"bucket": NAME, "policy": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:GetBucketAcl", "Resource": ARN, **({"Condition": {"StringEquals": extra}} if extra else {})},
        {"Sid": "AWSCloudTrailWrite", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"},
         "Action": "s3:PutObject", "Resource": f"{ARN}/AWSLogs/123456789012/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **extra}}},
    ]})}


def trail_stack(**replace: Any) -> list[dict[str, Any]]:
    """The trail and its bucket with every setting the rules want; `key=None` drops a resource,
    a dict updates its inputs."""
    parts = {
        "bucket": record("aws:s3/bucket:Bucket", "audit-trail-bucket", {"bucket": NAME}, protect=True),
        "public_access_block": record(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "audit-trail-bucket-public-access-block",
            {"bucket": NAME, "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True,
             "restrictPublicBuckets": True},
        ),
        "ownership": record(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls", "audit-trail-bucket-ownership",
            {"bucket": NAME, "rule": {"objectOwnership": "BucketOwnerEnforced"}},
        ),
        "policy": record("aws:s3/bucketPolicy:BucketPolicy", "audit-trail-bucket-policy", _bucket_policy()),
        "trail": record("aws:cloudtrail/trail:Trail", "audit-trail-trail", {
            "name": "saas-platform-prod", "s3BucketName": NAME, "isMultiRegionTrail": True,
            "includeGlobalServiceEvents": True, "enableLogFileValidation": True, "enableLogging": True,
        }, protect=True),
        "ses": record("aws:sesv2/emailIdentity:EmailIdentity", "edge-ses-identity", {"emailIdentity": "example.com"}),
    }
    out = []
    for key, resource in parts.items():
        if key in replace:
            if replace[key] is None:
                continue
            resource = copy.deepcopy(resource)
            resource["inputs"].update(replace[key])
        out.append(resource)
    return out


CASES: list[Case] = [
    # A production stack with SES but no trail (or one whose logging is stopped).
    ("cloudtrail-enabled-where-aws-is-used", trail_stack(), trail_stack(trail=None)),
    ("cloudtrail-enabled-where-aws-is-used", trail_stack(), trail_stack(trail={"enableLogging": False})),
    ("cloudtrail-log-file-validation", trail_stack(), trail_stack(trail={"enableLogFileValidation": False})),
    # Not set at all: the provider's default is off.
    ("cloudtrail-log-file-validation", trail_stack(), trail_stack(trail={"enableLogFileValidation": None})),
    ("cloudtrail-multi-region", trail_stack(), trail_stack(trail={"isMultiRegionTrail": False})),
    ("cloudtrail-multi-region", trail_stack(), trail_stack(trail={"includeGlobalServiceEvents": False})),
    ("cloudtrail-bucket-private", trail_stack(), trail_stack(public_access_block={"blockPublicPolicy": False})),
    ("cloudtrail-bucket-private", trail_stack(), trail_stack(ownership={"rule": {"objectOwnership": "ObjectWriter"}})),
    ("cloudtrail-bucket-private", trail_stack(), trail_stack(policy=_bucket_policy(scoped=False))),
    ("cloudtrail-bucket-private", trail_stack(), trail_stack(bucket=None)),
]
