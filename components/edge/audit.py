"""AuditTrail: CloudTrail audit logging of the AWS account the stack uses (`aws.auditTrail.*`).

Registered where the stack uses AWS (SES with any DNS provider, Route53, or the s3 object
storage engine; `config.uses_aws`) and `aws.auditTrail.enabled` resolves true: on by default in
production, off elsewhere (docs/configuration.md). pulumi_aws is imported only here, so a stack
without the trail never pays for the import.

What it creates (pulumi-aws 7.51.1, `aws.cloudtrail.Trail` and the split `aws.s3.Bucket*`
resources):
- a dedicated log bucket `<prefix>-<stack>-audit-trail`: SSE-S3, versioned, all four public
  access blocks, ObjectOwnership BucketOwnerEnforced (no ACLs), a lifecycle (Glacier Instant
  Retrieval after `transitionDays`, expiry after `retentionDays`, old versions after 30 days),
  TLS-only, and the bucket policy CloudTrail needs. That policy follows the AWS CloudTrail user
  guide, "Amazon S3 bucket policy for CloudTrail"
  (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-s3-bucket-policy-for-cloudtrail.html):
  the `cloudtrail.amazonaws.com` service principal may `s3:GetBucketAcl` on the bucket and
  `s3:PutObject` under `AWSLogs/<account>/` with `s3:x-amz-acl = bucket-owner-full-control`, both
  only when `aws:SourceArn` is this trail's ARN (so no other account's trail can write here);
- a multi-region trail with global service events and log file integrity validation (signed
  hourly digest files: `aws cloudtrail validate-logs` proves a log file was not changed);
- optionally (`cloudWatchLogs.enabled`) a log group with a retention and the IAM role CloudTrail
  assumes to write into it: trust limited to this trail (`aws:SourceArn`), permissions limited
  to `logs:CreateLogStream` and `logs:PutLogEvents` on that log group's streams, as the user
  guide's "Role policy document for CloudTrail to use CloudWatch Logs for monitoring"
  (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-required-policy-for-cloudwatch-logs.html).

The trail ARN has to be in the bucket policy before the trail exists (CloudTrail checks the
policy when the trail is created), so it is composed from the partition, the provider's region,
the account id and the fixed trail name. The account id comes from `aws.get_caller_identity`,
as in mail.py: STS GetCallerIdentity, which needs no permission and which the AWS provider
itself calls when it configures; no other AWS API is read at plan time.

Production protects the bucket, the trail and the log group (`protect`), and the bucket is
retained on delete: audit logs must outlive the stack that produced them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.config import StackConfig
from components.storage.buckets import hardened_bucket
from components.storage.layout import bucket_name, name_prefix

TYPE = "saas-platform:index:AuditTrail"
CLOUDTRAIL_PRINCIPAL = "cloudtrail.amazonaws.com"
NONCURRENT_VERSION_DAYS = 30
# Glacier Instant Retrieval: millisecond reads for an investigation, a fraction of STANDARD's price.
ARCHIVE_STORAGE_CLASS = "GLACIER_IR"


def trail_name(stack: str) -> str:
    return f"saas-platform-{stack}"


def trail_arn(partition: str, region: str, account_id: str, name: str) -> str:
    return f"arn:{partition}:cloudtrail:{region}:{account_id}:trail/{name}"


def cloudtrail_statements(bucket_arn: str, account_id: str, source_arn: str) -> list[dict[str, Any]]:
    """What CloudTrail needs on its bucket (AWS user guide, see the module docstring), scoped to
    this trail by `aws:SourceArn`; the bucket policy adds the TLS-only deny every bucket of the
    project carries (components/storage/buckets.py)."""
    from_this_trail = {"aws:SourceArn": source_arn}
    return [
        {
            "Sid": "AWSCloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
            "Action": "s3:GetBucketAcl",
            "Resource": bucket_arn,
            "Condition": {"StringEquals": from_this_trail},
        },
        {
            "Sid": "AWSCloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", **from_this_trail}},
        },
    ]


def lifecycle_rule(transition_days: int | None, retention_days: int) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    """Archive to Glacier Instant Retrieval after `transition_days`, expire after `retention_days`."""
    transitions = (
        [aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(days=transition_days, storage_class=ARCHIVE_STORAGE_CLASS)]
        if transition_days is not None
        else None
    )
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="archive-then-expire-audit-logs",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        transitions=transitions,
        expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=NONCURRENT_VERSION_DAYS
        ),
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=7
        ),
    )


def cloudwatch_trust_policy(source_arn: str) -> dict[str, Any]:
    """Only CloudTrail, and only for this trail, may assume the delivery role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": CLOUDTRAIL_PRINCIPAL},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceArn": source_arn}},
            }
        ],
    }


def cloudwatch_delivery_policy(log_group_arn: str) -> dict[str, Any]:
    """Create streams in, and write events to, this one log group (AWS user guide, module docstring)."""
    group = log_group_arn.removesuffix(":*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AWSCloudTrailCreateLogStream",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream"],
                "Resource": [f"{group}:log-stream:*"],
            },
            {
                "Sid": "AWSCloudTrailPutLogEvents",
                "Effect": "Allow",
                "Action": ["logs:PutLogEvents"],
                "Resource": [f"{group}:log-stream:*"],
            },
        ],
    }


@dataclass(frozen=True)
class AuditTrailArgs:
    """config: the resolved stack configuration (its `aws.auditTrail` section)."""

    config: StackConfig


class AuditTrail(pulumi.ComponentResource):
    """A multi-region CloudTrail trail into a dedicated, private, versioned bucket."""

    trail_name: str
    bucket_name: str
    log_group_name: str | None
    trail_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        section = cfg.raw.aws.auditTrail
        tags = {"app": "saas-platform", "stack": cfg.stack, "component": "audit-trail"}
        keep = pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=cfg.is_production)

        self.trail_name = trail_name(cfg.stack)
        self.bucket_name = bucket_name(name_prefix(cfg), cfg.stack, "audit-trail")
        partition = aws.get_partition_output().partition
        region = aws.get_region_output().region
        account_id = aws.get_caller_identity_output().account_id
        source_arn = pulumi.Output.all(partition, region, account_id).apply(
            lambda v: trail_arn(v[0], v[1], v[2], self.trail_name)
        )

        # The settings every bucket of the project carries (SSE-S3 without bucket keys here),
        # with the audit lifecycle and CloudTrail's statements in the bucket policy. The policy
        # waits for the public access block: with block_public_policy on, S3 checks the policy.
        bucket = hardened_bucket(
            f"{name}-bucket", self.bucket_name, None, parent=self, tags=tags,
            noncurrent_days=NONCURRENT_VERSION_DAYS, lock_days=None, keep=keep,
            lifecycle_rule=lifecycle_rule(section.transitionDays, section.retentionDays),
            bucket_key=False,
            policy_statements=lambda arn: pulumi.Output.all(arn, account_id, source_arn).apply(
                lambda v: cloudtrail_statements(v[0], v[1], v[2])
            ),
            policy_name="policy",
            policy_after_public_access_block=True,
        )

        delivery: dict[str, pulumi.Input[str]] = {}
        self.log_group_name = None
        self._delivery_deps: list[pulumi.Resource] = []
        if section.cloudWatchLogs.enabled:
            delivery = self._cloudwatch(name, cfg, tags, source_arn)

        # CloudTrail refuses to create a trail whose bucket policy does not let it write yet.
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=self.trail_name,
            s3_bucket_name=self.bucket_name,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            tags=tags,
            **delivery,
            opts=pulumi.ResourceOptions(
                parent=self, protect=cfg.protect,
                depends_on=[bucket.bucket, bucket.policy, bucket.encryption, *self._delivery_deps],
            ),
        )
        self.trail_arn = trail.arn
        self.register_outputs(
            {"trailName": self.trail_name, "trailArn": trail.arn, "bucket": self.bucket_name, "logGroup": self.log_group_name}
        )

    def _cloudwatch(
        self, name: str, cfg: StackConfig, tags: dict[str, str], source_arn: pulumi.Output[str]
    ) -> dict[str, pulumi.Input[str]]:
        """The log group and the role CloudTrail assumes to write into it; the Trail's arguments."""
        section = cfg.raw.aws.auditTrail.cloudWatchLogs
        self.log_group_name = f"/saas-platform/{cfg.stack}/cloudtrail"
        group = aws.cloudwatch.LogGroup(
            f"{name}-log-group", name=self.log_group_name, retention_in_days=section.retentionDays, tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect),
        )
        role = aws.iam.Role(
            f"{name}-cloudwatch-role",
            name=f"saas-platform-{cfg.stack}-cloudtrail-logs",
            path="/saas-platform/",
            assume_role_policy=source_arn.apply(lambda arn: json.dumps(cloudwatch_trust_policy(arn), sort_keys=True)),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        role_policy = aws.iam.RolePolicy(
            f"{name}-cloudwatch-delivery",
            role=role.name,
            name="cloudtrail-to-cloudwatch-logs",
            policy=group.arn.apply(lambda arn: json.dumps(cloudwatch_delivery_policy(arn), sort_keys=True)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        # The trail validates the role when it is created or updated: the policy must exist first.
        self._delivery_deps = [group, role, role_policy]
        return {
            # CloudTrail wants the log stream wildcard on the group's ARN (pulumi-aws Trail docs).
            "cloud_watch_logs_group_arn": group.arn.apply(lambda arn: arn if arn.endswith(":*") else f"{arn}:*"),
            "cloud_watch_logs_role_arn": role.arn,
        }
