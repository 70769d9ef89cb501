"""The `s3` engine of ObjectStorage: AWS buckets and an IAM user per consumer.

Each bucket is hardened (buckets.py: versioning, SSE-S3, ownership enforced, public access
block, lifecycle, TLS-only policy, Object Lock on backups); each consumer gets an IAM user with
an access key whose inline policy names only its buckets and the actions it needs. With
`objectStorage.replicaRegion` the buckets that cannot be rebuilt are replicated (replication.py).
Imported only by stacks with the s3 engine: pulumi_aws is a slow import.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from components.storage.buckets import hardened_bucket
from components.storage.layout import (
    BACKUP_LOCK_DAYS,
    BUCKET_ACTIONS,
    BUCKETS,
    COMPONENT,
    CONSUMERS,
    REPLICATED,
    Engine,
    OBJECT_ACTIONS,
    Keys,
    ObjectStorageArgs,
    bucket_name,
    name_prefix,
)
from components.storage.replication import BucketReplication, ReplicationArgs


def iam_policy(bucket_arns: list[str]) -> dict[str, Any]:
    """The inline IAM policy of one consumer: its buckets, its actions, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListOwnBuckets", "Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": list(bucket_arns)},
            {
                "Sid": "ReadWriteOwnObjects",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": [f"{arn}/*" for arn in bucket_arns],
            },
        ],
    }


def install(name: str, args: ObjectStorageArgs, names: Mapping[str, str], *, parent: pulumi.Resource) -> Engine:
    """The hardened buckets, their replicas, and an IAM user per consumer, children of `parent`."""
    cfg = args.config
    section = cfg.raw.objectStorage
    region = section.region
    child = pulumi.ResourceOptions(parent=parent)
    keep = pulumi.ResourceOptions(parent=parent, protect=cfg.protect, retain_on_delete=cfg.is_production)
    tags = {"app": "saas-platform", "stack": cfg.stack, "component": COMPONENT}
    hardened = {}
    for bucket, bucket_id in names.items():
        # Immutability (data-safety review #20): every backup and archived binlog version
        # is locked for BACKUP_LOCK_DAYS in governance mode. The in-cluster backup key has
        # neither s3:DeleteObjectVersion nor s3:BypassGovernanceRetention: whoever reads
        # that Secret can hide current backups behind delete markers (the operator's own
        # pruning does exactly that) but cannot destroy a version inside the window.
        hardened[bucket] = hardened_bucket(
            f"{name}-{bucket}", bucket_id, region, parent=parent, tags=tags,
            noncurrent_days=section.noncurrentVersionDays,
            lock_days=BACKUP_LOCK_DAYS if bucket == "backups" else None, keep=keep,
        )
    arns = {bucket: h.arn for bucket, h in hardened.items()}
    if section.replicaRegion:
        # A second copy in another region (issue 21 item 2, data-safety review #20).
        BucketReplication(
            f"{name}-replication",
            ReplicationArgs(
                config=cfg,
                sources={b: hardened[b] for b in REPLICATED},
                replica_names={b: bucket_name(name_prefix(cfg), cfg.stack, f"{b}-replica") for b in REPLICATED},
                role_name=bucket_name(name_prefix(cfg), cfg.stack, "s3-replication"),
                tags=tags,
            ),
            opts=child,
        )

    keys: Keys = {}
    for consumer in CONSUMERS:
        user = aws.iam.User(
            f"{name}-{consumer}",
            name=bucket_name(name_prefix(cfg), cfg.stack, f"{consumer}-s3"),
            path="/saas-platform/",
            tags=tags,
            opts=child,
        )
        own = [arns[b] for b, owner in BUCKETS.items() if owner == consumer]
        aws.iam.UserPolicy(
            f"{name}-{consumer}-buckets",
            name=f"{consumer}-buckets",
            user=user.name,
            policy=pulumi.Output.all(*own).apply(lambda values: json.dumps(iam_policy(list(values)), sort_keys=True)),
            opts=child,
        )
        key = aws.iam.AccessKey(f"{name}-{consumer}-key", user=user.name, opts=child)
        keys[consumer] = (key.id, key.secret)
    ready: list[pulumi.Resource] = [h.bucket for h in hardened.values()]
    return Engine(f"https://s3.{region}.amazonaws.com", region, False, keys, ready=ready)
