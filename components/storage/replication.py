"""BucketReplication: a second copy of the uploads and backups buckets in another AWS region
(`objectStorage.replicaRegion`, s3 engine; seed "Files: Object storage replication", issue 21
item 2, data-safety review #20).

Per source bucket: a replica bucket in the replica region with the same hardening as the source
(buckets.py: versioning, SSE-S3, public access block, TLS-only policy, lifecycle,
Object Lock when the source has it), and one replication rule on the source. One IAM role that
Amazon S3 assumes, trusted only for these source buckets, with exactly the actions S3 replication
needs (AWS S3 User Guide, "Setting up permissions for live replication",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/setting-repl-config-perm-overview.html,
and "Object Lock considerations / Using Object Lock with S3 Replication",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-replication).

Resources in the replica region carry `region=` (pulumi_aws 7's per-resource region, the same
mechanism the primary buckets use), so no second provider is needed: IAM is global, and S3
takes each request in the region named on the resource.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_aws as aws

from components.storage.buckets import HardenedBucket, hardened_bucket
from components.config import StackConfig

TYPE = "saas-platform:index:BucketReplication"

# Read the source bucket's replication configuration and list it.
SOURCE_BUCKET_ACTIONS = ("s3:GetReplicationConfiguration", "s3:ListBucket")
# Read each object version to copy, with its ACL and tags (AWS's documented set).
SOURCE_OBJECT_ACTIONS = (
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
)
# Only for a source with Object Lock: the retention and legal hold travel with each version.
SOURCE_LOCK_ACTIONS = ("s3:GetObjectRetention", "s3:GetObjectLegalHold")
# Write versions, delete markers and tags into the replica.
DESTINATION_OBJECT_ACTIONS = ("s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags")
# Every action the role may ever hold (the policy rule `s3-replication-least-privilege` checks
# replication policies against this set). SSE-S3 needs no KMS grant; a KMS key would add
# kms:Decrypt/kms:Encrypt here.
ALLOWED_ACTIONS = frozenset(
    SOURCE_BUCKET_ACTIONS + SOURCE_OBJECT_ACTIONS + SOURCE_LOCK_ACTIONS + DESTINATION_OBJECT_ACTIONS
)
# Replicas are read only in a disaster: Standard-IA costs about 45 % less per GB-month than
# Standard (minimum 30 days per object, which the backups' retention already exceeds; per-GB
# retrieval fee on restore). Amazon S3 pricing, storage classes.
REPLICA_STORAGE_CLASS = "STANDARD_IA"


def replication_policy(
    sources: Mapping[str, str], destinations: Mapping[str, str], locked: frozenset[str]
) -> dict[str, Any]:
    """The role's policy: `sources`/`destinations` map a logical bucket to its ARN; `locked` are
    the logical buckets whose source has Object Lock."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadSourceConfiguration",
            "Effect": "Allow",
            "Action": list(SOURCE_BUCKET_ACTIONS),
            "Resource": sorted(sources.values()),
        },
        {
            "Sid": "ReadSourceVersions",
            "Effect": "Allow",
            "Action": list(SOURCE_OBJECT_ACTIONS),
            "Resource": sorted(f"{arn}/*" for arn in sources.values()),
        },
    ]
    if locked:
        statements.append({
            "Sid": "ReadSourceLocks",
            "Effect": "Allow",
            "Action": list(SOURCE_LOCK_ACTIONS),
            "Resource": sorted(f"{sources[b]}/*" for b in locked),
        })
    statements.append({
        "Sid": "WriteReplicas",
        "Effect": "Allow",
        "Action": list(DESTINATION_OBJECT_ACTIONS),
        "Resource": sorted(f"{arn}/*" for arn in destinations.values()),
    })
    return {"Version": "2012-10-17", "Statement": statements}


def trust_policy(source_arns: list[str]) -> dict[str, Any]:
    """Only Amazon S3 may assume the role, and only on behalf of these source buckets (the
    confused-deputy guard `aws:SourceArn`)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {"ArnLike": {"aws:SourceArn": sorted(source_arns)}},
        }],
    }


@dataclass(frozen=True)
class ReplicationArgs:
    """Inputs of BucketReplication.

    config: the stack configuration (`objectStorage.replicaRegion`, `noncurrentVersionDays`,
        protect/retain in production).
    sources: logical bucket -> the hardened source bucket (buckets.py).
    replica_names: logical bucket -> the replica's bucket name (global on AWS).
    role_name: the IAM role's name.
    tags: tags of every AWS resource here.
    """

    config: StackConfig
    sources: Mapping[str, HardenedBucket]
    replica_names: Mapping[str, str]
    role_name: str
    tags: Mapping[str, str]


class BucketReplication(pulumi.ComponentResource):
    """Replica buckets in `objectStorage.replicaRegion` and the replication rules feeding them.

    `replicas`: logical bucket -> replica bucket name; `role_arn`: the role S3 assumes.
    """

    replicas: dict[str, str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ReplicationArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        section = cfg.raw.objectStorage
        replica_region = section.replicaRegion
        if not replica_region:
            raise ValueError("BucketReplication needs objectStorage.replicaRegion")
        keep = pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=cfg.is_production)
        replicas = {
            bucket: hardened_bucket(
                f"{name}-{bucket}", args.replica_names[bucket], replica_region, parent=self, tags=args.tags,
                noncurrent_days=section.noncurrentVersionDays,
                # S3 refuses to replicate from an Object Lock bucket into one without it
                # (failure reason DstBucketObjectLockConfigMissing); the replica keeps the
                # retention each version carries, and the same default for the rest.
                lock_days=source_lock_days(source),
                keep=keep,
            )
            for bucket, source in args.sources.items()
        }
        locked = frozenset(b for b, s in args.sources.items() if s.object_lock is not None)
        role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            path="/saas-platform/",
            description="Amazon S3 replicates the uploads and backups buckets to the replica region",
            assume_role_policy=pulumi.Output.all(*[s.arn for s in args.sources.values()]).apply(
                lambda arns: json.dumps(trust_policy(list(arns)), sort_keys=True)
            ),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        order = list(args.sources)
        policy = aws.iam.RolePolicy(
            f"{name}-role-policy",
            name="s3-replication",
            role=role.id,
            policy=pulumi.Output.all(
                *[args.sources[b].arn for b in order], *[replicas[b].arn for b in order]
            ).apply(lambda arns: json.dumps(replication_policy(
                dict(zip(order, arns[: len(order)])), dict(zip(order, arns[len(order):])), locked
            ), sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        for bucket, source in args.sources.items():
            replica = replicas[bucket]
            aws.s3.BucketReplicationConfig(
                f"{name}-{bucket}-rule",
                bucket=source.name,
                region=section.region,
                role=role.arn,
                rules=[aws.s3.BucketReplicationConfigRuleArgs(
                    id=f"copy-to-{replica_region}",
                    status="Enabled",
                    priority=1,
                    filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=""),
                    # Delete markers follow (the operator's pruning, a deleted upload), so the
                    # replica mirrors what is current; deletions of versions never replicate
                    # (S3 replication V2), so a version destroyed at the source survives here
                    # until the replica's own noncurrent expiry.
                    delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Enabled"
                    ),
                    destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=replica.arn, storage_class=REPLICA_STORAGE_CLASS
                    ),
                )],
                # S3 validates versioning on both sides, Object Lock on the destination and the
                # role when the configuration is put.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[*source.settled, *replica.settled, policy]
                ),
            )
        self.replicas = {bucket: r.name for bucket, r in replicas.items()}
        self.role_arn = role.arn
        self.register_outputs({"replicas": self.replicas, "roleArn": self.role_arn})


def source_lock_days(source: HardenedBucket) -> int | None:
    """The source's Object Lock default retention in days, None without Object Lock."""
    return source.lock_days if source.object_lock is not None else None
