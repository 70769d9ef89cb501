"""Good and bad resources for the replication rules (components/storage/replication.py)."""

from __future__ import annotations

import json
from typing import Any

from tests.policy_cases.common import Case, record

SOURCE = "example-com-prod-backups"
REPLICA = "example-com-prod-backups-replica"
ARN, REPLICA_ARN = f"arn:aws:s3:::{SOURCE}", f"arn:aws:s3:::{REPLICA}"


def role_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return record("aws:iam/rolePolicy:RolePolicy", "replication-role-policy", {
        "role": "replication", "policy": json.dumps({"Version": "2012-10-17", "Statement": list(statements)}),
    })


def allow(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


EXACT = [
    allow(["s3:GetReplicationConfiguration", "s3:ListBucket"], [ARN]),
    allow(["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging",
           "s3:GetObjectRetention", "s3:GetObjectLegalHold"], [f"{ARN}/*"]),
    allow(["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"], [f"{REPLICA_ARN}/*"]),
]


def stack(*, rule_status: str = "Enabled", replica_region: str = "eu-central-1", replica_lock: bool = True,
          replicated: bool = True) -> list[dict[str, Any]]:
    """A locked backups bucket in eu-west-1 and its replica; keywords break one part."""
    out = [
        record("aws:s3/bucket:Bucket", "backups", {"bucket": SOURCE, "region": "eu-west-1"}),
        record("aws:s3/bucket:Bucket", "backups-replica", {"bucket": REPLICA, "region": replica_region}),
        record("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "backups-lock",
               {"bucket": SOURCE, "objectLockEnabled": "Enabled"}),
    ]
    if replica_lock:
        out.append(record("aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration", "replica-lock",
                          {"bucket": REPLICA, "objectLockEnabled": "Enabled"}))
    if replicated:
        out.append(record("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "backups-rule", {
            "bucket": SOURCE, "role": "arn:aws:iam::123456789012:role/replication",
            "rules": [{"status": rule_status, "destination": {"bucket": REPLICA_ARN}}],
        }))
    return out


CASES: list[Case] = [
    ("s3-replication-least-privilege", [role_policy(*EXACT)],
     [role_policy(*EXACT, allow(["s3:PutObject"], [f"{REPLICA_ARN}/*"]))]),
    # Replicate* on every bucket of the account instead of the replica's objects.
    ("s3-replication-least-privilege", [role_policy(*EXACT)],
     [role_policy(*EXACT[:2], allow(["s3:ReplicateObject"], ["*"]))]),
    # Source versions readable in a whole bucket ARN instead of its objects; ListBucket on objects.
    ("s3-replication-least-privilege", [role_policy(*EXACT)],
     [role_policy(allow(["s3:ListBucket"], [f"{ARN}/*"]), *EXACT[1:])]),
    ("s3-replication-least-privilege", [role_policy(*EXACT)],
     [role_policy(*EXACT, {"Effect": "Allow", "NotAction": ["s3:DeleteBucket"], "Resource": [f"{ARN}/*"],
                           "Action": ["s3:ReplicateObject"]})]),
    ("s3-buckets-replicated", stack(), stack(replicated=False)),
    ("s3-buckets-replicated", stack(), stack(rule_status="Disabled")),
    ("s3-buckets-replicated", stack(), stack(replica_region="eu-west-1")),
    ("s3-buckets-replicated", stack(), stack(replica_lock=False)),
]
