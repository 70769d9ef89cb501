"""One hardened AWS S3 bucket: the settings every bucket of this program carries, whether it is
a primary bucket (s3.py) or its replica in another region
(replication.py).

Versioning, default encryption (SSE-S3, bucket key), ownership enforced (no ACLs), a public
access block, a lifecycle rule expiring noncurrent versions and aborted multipart uploads, a
bucket policy denying every request not made over TLS and, for backup buckets, a governance-mode
Object Lock. Imported only by stacks with the s3 engine (pulumi_aws is a slow import).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pulumi
import pulumi_aws as aws


def tls_only_policy(bucket_arn: str) -> dict[str, Any]:
    """Deny every request to the bucket that does not use TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


@dataclass(frozen=True)
class HardenedBucket:
    """A bucket and the settings others must wait for (replication needs versioning on both
    sides, and Object Lock on the destination when the source has it)."""

    name: str
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning
    object_lock: aws.s3.BucketObjectLockConfiguration | None
    lock_days: int | None
    encryption: aws.s3.BucketServerSideEncryptionConfiguration | None = None
    policy: aws.s3.BucketPolicy | None = None

    @property
    def arn(self) -> pulumi.Output[str]:
        return self.bucket.arn

    @property
    def settled(self) -> list[pulumi.Resource]:
        """What a consumer of the bucket's versions depends on."""
        return [self.bucket, self.versioning, *([self.object_lock] if self.object_lock else [])]


def hardened_bucket(
    resource_name: str,
    bucket_id: str,
    region: str | None,
    *,
    parent: pulumi.Resource,
    tags: Mapping[str, str],
    noncurrent_days: int,
    lock_days: int | None,
    keep: pulumi.ResourceOptions,
    lifecycle_rule: aws.s3.BucketLifecycleConfigurationRuleArgs | None = None,
    bucket_key: bool = True,
    policy_statements: Callable[[pulumi.Output[str]], pulumi.Output[list[dict[str, Any]]]] | None = None,
    policy_name: str = "tls-only",
    policy_after_public_access_block: bool = False,
) -> HardenedBucket:
    """Create `bucket_id` in `region` with every setting above, children of `parent`.

    `region`: None for the provider's region. `keep`: the bucket's own options (protect,
    retain_on_delete). `lock_days`: governance-mode Object Lock default retention in days, None
    for no Object Lock. `lifecycle_rule`: the bucket's one lifecycle rule instead of expiring
    noncurrent versions after `noncurrent_days` (the audit trail archives and expires its logs).
    `bucket_key`: S3 Bucket Keys on the default encryption. `policy_statements`: statements
    (from the bucket ARN) the bucket policy carries before the TLS-only deny, in the policy
    `<resource_name>-<policy_name>`; with `policy_after_public_access_block` the policy waits
    for the public access block (S3 checks a policy that grants a service principal access
    against `block_public_policy`).
    """
    resource = aws.s3.Bucket(resource_name, bucket=bucket_id, region=region, tags=dict(tags), opts=keep)
    # The settings name the bucket by the name we chose (known at preview, unlike its id) and
    # depend on it explicitly.
    on_bucket = pulumi.ResourceOptions(parent=parent, depends_on=[resource])
    aws.s3.BucketOwnershipControls(
        f"{resource_name}-ownership", bucket=bucket_id, region=region,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=on_bucket,
    )
    public_access_block = aws.s3.BucketPublicAccessBlock(
        f"{resource_name}-public-access-block", bucket=bucket_id, region=region,
        block_public_acls=True, block_public_policy=True, ignore_public_acls=True,
        restrict_public_buckets=True, opts=on_bucket,
    )
    versioning = aws.s3.BucketVersioning(
        f"{resource_name}-versioning", bucket=bucket_id, region=region,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        opts=on_bucket,
    )
    encryption = aws.s3.BucketServerSideEncryptionConfiguration(
        f"{resource_name}-encryption", bucket=bucket_id, region=region,
        rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
            apply_server_side_encryption_by_default=(
                aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                )
            ),
            bucket_key_enabled=True if bucket_key else None,
        )],
        opts=on_bucket,
    )
    # A lifecycle rule on noncurrent versions (and Object Lock) need versioning to be on first.
    after_versioning = pulumi.ResourceOptions(parent=parent, depends_on=[resource, versioning])
    aws.s3.BucketLifecycleConfiguration(
        f"{resource_name}-lifecycle", bucket=bucket_id, region=region,
        rules=[lifecycle_rule or aws.s3.BucketLifecycleConfigurationRuleArgs(
            id="expire-noncurrent-versions",
            status="Enabled",
            filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
            noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=noncurrent_days
            ),
            abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=7
            ),
        )],
        opts=after_versioning,
    )
    lock = None
    if lock_days is not None:
        lock = aws.s3.BucketObjectLockConfiguration(
            f"{resource_name}-object-lock", bucket=bucket_id, region=region,
            object_lock_enabled="Enabled",
            rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                    mode="GOVERNANCE", days=lock_days
                )
            ),
            opts=after_versioning,
        )
    if policy_statements is None:
        policy = resource.arn.apply(lambda arn: json.dumps(tls_only_policy(arn), sort_keys=True))
    else:
        policy = pulumi.Output.all(resource.arn, policy_statements(resource.arn)).apply(
            lambda v: json.dumps(
                {"Version": "2012-10-17", "Statement": [*v[1], *tls_only_policy(v[0])["Statement"]]}, sort_keys=True
            )
        )
    bucket_policy = aws.s3.BucketPolicy(
        f"{resource_name}-{policy_name}", bucket=bucket_id, region=region,
        policy=policy,
        opts=(
            pulumi.ResourceOptions(parent=parent, depends_on=[resource, public_access_block])
            if policy_after_public_access_block
            else on_bucket
        ),
    )
    return HardenedBucket(
        name=bucket_id, bucket=resource, versioning=versioning, object_lock=lock, lock_days=lock_days,
        encryption=encryption, policy=bucket_policy,
    )
