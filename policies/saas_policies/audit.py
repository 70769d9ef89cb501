"""Rules for the AWS audit trail (components/edge/audit.py): a production stack that creates AWS
resources also records who did what in that account (CloudTrail), in every region, with log
files whose integrity can be proven, into a bucket nobody outside the account can read.

The generic bucket rules (storage.py) already hold the trail's bucket to versioning, encryption
and a public access block; `cloudtrail-bucket-private` adds what is specific to an audit bucket:
no ACLs (ObjectOwnership BucketOwnerEnforced) and CloudTrail's write access scoped to this
trail by `aws:SourceArn` (AWS CloudTrail user guide, "Amazon S3 bucket policy for CloudTrail").
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import ENVIRONMENT_SCHEMA, environment, get, resource_policy
from saas_policies.storage import BUCKET, BUCKET_POLICY, PUBLIC_ACCESS_BLOCK, PUBLIC_ACCESS_FLAGS, as_list, document, statements

TRAIL = "aws:cloudtrail/trail:Trail"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
CLOUDTRAIL_PRINCIPAL = "cloudtrail.amazonaws.com"


def _uses_aws(resources: list[PolicyResource]) -> list[PolicyResource]:
    """AWS resources other than the trail's own (providers are not resources of the account)."""
    return [r for r in resources if r.resource_type.startswith("aws:") and not r.resource_type.startswith("pulumi:")]


def _trail_required(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    if environment(args.get_config()) != "production":
        return
    used = _uses_aws(args.resources)
    if not used:
        return
    trails = [r for r in args.resources if r.resource_type == TRAIL and get(r.props, "enableLogging") is not False]
    if not trails:
        kinds = sorted({r.resource_type.split(":")[1].split("/")[0] for r in used})
        yield "", (
            f"this production stack creates AWS resources ({', '.join(kinds)}) but no CloudTrail trail records "
            "what is done in that account: keep saas-platform:aws.auditTrail.enabled on"
        )


def _log_file_validation(args: Any) -> Iterator[str]:
    if args.resource_type == TRAIL and get(args.props, "enableLogFileValidation") is not True:
        yield (
            f"CloudTrail trail '{args.name}' has no log file validation: without the signed digest files nobody "
            "can prove a log file was not altered or deleted (enable_log_file_validation=True)"
        )


def _multi_region(args: Any) -> Iterator[str]:
    if args.resource_type != TRAIL:
        return
    if get(args.props, "isMultiRegionTrail") is not True:
        yield (
            f"CloudTrail trail '{args.name}' records one region only: activity in any other region (a forgotten "
            "bucket, a rogue instance) goes unrecorded (is_multi_region_trail=True)"
        )
    if get(args.props, "includeGlobalServiceEvents") is False:
        yield f"CloudTrail trail '{args.name}' leaves out global service events (IAM, STS): who changed access is not recorded"


def _of_bucket(name: str, resources: list[PolicyResource], type_: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == type_ and get(r.props, "bucket") == name]


def _cloudtrail_grants_scoped(policy: PolicyResource) -> list[str]:
    """The Allow statements for the CloudTrail principal that are not limited by aws:SourceArn."""
    loose = []
    for statement in statements(document(get(policy.props, "policy")) or {}):
        principal = statement.get("Principal")
        services = as_list(get(principal, "Service")) if isinstance(principal, Mapping) else []
        if statement.get("Effect") != "Allow" or CLOUDTRAIL_PRINCIPAL not in services:
            continue
        condition = statement.get("Condition") or {}
        scoped = any(isinstance(block, Mapping) and "aws:SourceArn" in block for block in condition.values())
        if not scoped:
            loose += [str(a) for a in as_list(statement.get("Action"))]
    return loose


def _bucket_private(args: StackValidationArgs) -> Iterator[tuple[str, str]]:
    resources = args.resources
    for trail in (r for r in resources if r.resource_type == TRAIL):
        name = get(trail.props, "s3BucketName")
        if not name:
            continue
        label = f"CloudTrail trail '{trail.name}' bucket '{name}'"
        if not any(get(b.props, "bucket") == name for b in resources if b.resource_type == BUCKET):
            yield trail.urn, f"{label} is not managed by this stack: its privacy, versioning and lifecycle cannot be checked"
            continue
        blocks = _of_bucket(name, resources, PUBLIC_ACCESS_BLOCK)
        if not any(all(get(b.props, flag) is True for flag in PUBLIC_ACCESS_FLAGS) for b in blocks):
            yield trail.urn, f"{label} lacks a public access block with all four settings on"
        owners = _of_bucket(name, resources, OWNERSHIP)
        if not any(get(o.props, "rule", "objectOwnership") == "BucketOwnerEnforced" for o in owners):
            yield trail.urn, f"{label} still honours ACLs: set ObjectOwnership BucketOwnerEnforced"
        for policy in _of_bucket(name, resources, BUCKET_POLICY):
            loose = _cloudtrail_grants_scoped(policy)
            if loose:
                yield trail.urn, (
                    f"{label}: the bucket policy lets {CLOUDTRAIL_PRINCIPAL} {', '.join(sorted(set(loose)))} without an "
                    "aws:SourceArn condition, so any account's trail could write into it (confused deputy)"
                )


def _stack_rule(name: str, description: str, check: Any, schema: PolicyConfigSchema | None = None) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for urn, message in check(args):
            report_violation(message, urn or None)

    return StackValidationPolicy(
        name=name, description=description, enforcement_level=EnforcementLevel.MANDATORY, validate=validate,
        config_schema=schema,
    )


POLICIES = [
    _stack_rule(
        "cloudtrail-enabled-where-aws-is-used",
        "A production stack that creates AWS resources also has a CloudTrail trail with logging on.",
        _trail_required,
        PolicyConfigSchema(properties=ENVIRONMENT_SCHEMA),
    ),
    resource_policy(
        "cloudtrail-log-file-validation",
        "Every CloudTrail trail writes signed digest files (log file integrity validation).",
        _log_file_validation,
    ),
    resource_policy(
        "cloudtrail-multi-region",
        "Every CloudTrail trail records all regions and the global services (IAM, STS).",
        _multi_region,
    ),
    _stack_rule(
        "cloudtrail-bucket-private",
        "A trail's bucket is in the stack, fully public-access-blocked, ACL-free, and only this trail may write to it.",
        _bucket_private,
    ),
]
