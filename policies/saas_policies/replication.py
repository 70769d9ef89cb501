"""Rules for the second copy of the files (seed "Files: Object storage replication"; issue 21
item 2, data-safety review #20).

- `s3-replication-least-privilege`: an IAM policy that replicates (any `s3:Replicate*` or
  `s3:GetObjectVersionForReplication`) holds only the actions Amazon S3 replication needs, the
  source-side ones on named buckets and the `Replicate*` ones on objects of named buckets (AWS S3
  User Guide, "Setting up permissions for live replication" and "Using Object Lock with S3
  Replication"). A wider grant turns the role S3 assumes into a way to read or overwrite data.
- `s3-buckets-replicated` (stack, production): every uploads and backups bucket (the names end
  in `-uploads`/`-backups`, components/storage/layout.py `bucket_name`) has an enabled
  replication rule to a bucket of this stack in another region; the destination is versioned
  (the versioning rule) and has Object Lock when the source does (S3 refuses otherwise:
  `DstBucketObjectLockConfigMissing`).
"""

from __future__ import annotations

from typing import Any, Iterator

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import ENVIRONMENT_SCHEMA, environment, get, resource_policy
from saas_policies.storage import BUCKET, IAM_POLICIES, as_list, document, statements

REPLICATION_CONFIG = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"

SOURCE_BUCKET_ACTIONS = frozenset({"s3:GetReplicationConfiguration", "s3:ListBucket"})
SOURCE_OBJECT_ACTIONS = frozenset({
    "s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl", "s3:GetObjectVersionTagging",
    # Object Lock sources only: retention and legal hold travel with each version.
    "s3:GetObjectRetention", "s3:GetObjectLegalHold",
})
DESTINATION_OBJECT_ACTIONS = frozenset({"s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"})
ALLOWED = SOURCE_BUCKET_ACTIONS | SOURCE_OBJECT_ACTIONS | DESTINATION_OBJECT_ACTIONS
# The names that make a policy a replication policy.
MARKERS = DESTINATION_OBJECT_ACTIONS | {"s3:GetObjectVersionForReplication"}
REPLICATED_SUFFIXES = ("-uploads", "-backups")


def _is_bucket_arn(resource: str) -> bool:
    return resource.startswith("arn:") and ":::" in resource and "/" not in resource and "*" not in resource


def _is_object_arn(resource: str) -> bool:
    bucket, _, key = resource.partition("/")
    return _is_bucket_arn(bucket) and key == "*"


def replication_grant_problems(doc: Any) -> list[str]:
    """What a replication policy grants beyond what S3 replication needs; [] when it is exact."""
    problems: list[str] = []
    for statement in statements(doc):
        if statement.get("Effect") != "Allow":
            continue
        if "NotResource" in statement or "NotAction" in statement:
            problems.append("a NotAction/NotResource grant")
            continue
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        for action in (str(a) for a in as_list(statement.get("Action"))):
            if action not in ALLOWED:
                problems.append(f"{action} (not a replication action)")
            elif action in SOURCE_BUCKET_ACTIONS:
                problems += [f"{action} on {r} (a bucket ARN is expected)" for r in resources if not _is_bucket_arn(r)]
            else:
                problems += [
                    f"{action} on {r} (the objects of one named bucket, '<bucket-arn>/*', are expected)"
                    for r in resources if not _is_object_arn(r)
                ]
    return sorted(set(problems))


def _least_privilege(args: Any) -> Iterator[str]:
    if args.resource_type not in IAM_POLICIES:
        return
    doc = document(get(args.props, "policy"))
    if doc is None:
        return
    actions = {str(a) for s in statements(doc) for a in as_list(s.get("Action"))}
    if not actions & MARKERS:
        return
    problems = replication_grant_problems(doc)
    if problems:
        yield f"replication policy '{args.name}' grants more than S3 replication needs: {'; '.join(problems)}"


def _region(resource: PolicyResource) -> str:
    return str(get(resource.props, "region") or "")


def _replicated(args: StackValidationArgs, report: ReportViolation) -> None:
    if environment(args.get_config()) != "production":
        return
    buckets = {str(get(b.props, "bucket")): b for b in args.resources if b.resource_type == BUCKET}
    locked = {str(get(r.props, "bucket")) for r in args.resources if r.resource_type == OBJECT_LOCK}
    rules: dict[str, list[Any]] = {}
    for config in (r for r in args.resources if r.resource_type == REPLICATION_CONFIG):
        rules.setdefault(str(get(config.props, "bucket")), []).extend(as_list(get(config.props, "rules")))
    destinations = {f"arn:aws:s3:::{name}" for name in buckets}
    for name, bucket in sorted(buckets.items()):
        if not name.endswith(REPLICATED_SUFFIXES) or f"arn:aws:s3:::{name}" in _targets(rules):
            continue
        targets = [
            str(get(rule, "destination", "bucket"))
            for rule in rules.get(name, []) if get(rule, "status") == "Enabled"
        ]
        good = [
            t for t in targets
            if t in destinations and _region(buckets[t.removeprefix("arn:aws:s3:::")]) != _region(bucket)
        ]
        if not good:
            report(
                f"bucket '{name}' has no enabled replication rule to a bucket of this stack in another region: "
                "a region loss or a destroyed version loses it for good (objectStorage.replicaRegion)",
                bucket.urn,
            )
        elif name in locked and not any(t.removeprefix("arn:aws:s3:::") in locked for t in good):
            report(
                f"bucket '{name}' has Object Lock but its replica has none: S3 refuses to replicate "
                "(DstBucketObjectLockConfigMissing)",
                bucket.urn,
            )


def _targets(rules: dict[str, list[Any]]) -> set[str]:
    """Buckets that are themselves replicas (a replica is not replicated again)."""
    return {str(get(rule, "destination", "bucket")) for listed in rules.values() for rule in listed}


POLICIES = [
    resource_policy(
        "s3-replication-least-privilege",
        "An IAM policy for S3 replication grants only the replication actions, on named source buckets and "
        "on the objects of named buckets.",
        _least_privilege,
    ),
    StackValidationPolicy(
        name="s3-buckets-replicated",
        description=(
            "In production every uploads and backups bucket replicates to a bucket of the stack in another "
            "region, with Object Lock on the replica when the source has it."
        ),
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_replicated,
        config_schema=PolicyConfigSchema(properties={"environment": ENVIRONMENT_SCHEMA}),
    ),
]
