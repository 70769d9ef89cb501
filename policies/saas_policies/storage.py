"""Rules for object storage on AWS: buckets versioned, encrypted and not public; IAM policies
that name their actions.

Bucket settings live in separate resources in pulumi_aws 7 (BucketVersioning,
BucketServerSideEncryptionConfiguration, BucketPublicAccessBlock, BucketPolicy), so the bucket
rules look at the whole stack: a setting belongs to a bucket when its `bucket` input is the
bucket's name or it depends on the bucket. Inline settings on the Bucket are accepted too.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Mapping, Sequence

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import get, resource_policy

BUCKET = "aws:s3/bucket:Bucket"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
IAM_POLICIES = {
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/groupPolicy:GroupPolicy",
}
ENCRYPTION_ALGORITHMS = {"AES256", "aws:kms", "aws:kms:dsse"}
PUBLIC_ACL = {"public-read", "public-read-write", "authenticated-read"}
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _settings_of(bucket: PolicyResource, resources: Iterable[PolicyResource], type_: str) -> list[PolicyResource]:
    name = get(bucket.props, "bucket")
    return [
        r for r in resources
        if r.resource_type == type_
        and ((name and get(r.props, "bucket") == name) or any(d.urn == bucket.urn for d in r.dependencies or []))
    ]


def _bucket_label(bucket: PolicyResource) -> str:
    return f"bucket '{get(bucket.props, 'bucket') or bucket.name}'"


def document(value: Any) -> Mapping[str, Any] | None:
    """A policy document given as JSON text or as a mapping; None when unknown or unreadable."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return None
        return parsed if isinstance(parsed, Mapping) else None
    return None


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = doc.get("Statement") or []
    return [s for s in as_list(found) if isinstance(s, Mapping)]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    # Policy props arrive as read-only proxies: Sequence and Mapping, not list and dict.
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def _is_public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, Mapping):
        return any("*" in as_list(v) for v in principal.values())
    return False


def _stack_rule(name: str, description: str, check) -> StackValidationPolicy:  # type: ignore[no-untyped-def]
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        for urn, message in check(args.resources):
            report_violation(message, urn)

    return StackValidationPolicy(
        name=name, description=description, enforcement_level=EnforcementLevel.MANDATORY, validate=validate
    )


def _versioned(resources: list[PolicyResource]) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.resource_type == BUCKET):
        inline = get(bucket.props, "versioning", "enabled") is True
        separate = any(
            get(v.props, "versioningConfiguration", "status") == "Enabled"
            for v in _settings_of(bucket, resources, VERSIONING)
        )
        if not (inline or separate):
            yield bucket.urn, (
                f"{_bucket_label(bucket)} is not versioned: an overwrite or delete loses the object for good "
                "(add a BucketVersioning with status Enabled)"
            )


def _algorithms(rules: Any) -> set[str]:
    return {
        str(get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm"))
        for rule in as_list(rules)
        if get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
    }


def _encrypted(resources: list[PolicyResource]) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.resource_type == BUCKET):
        found = _algorithms(get(bucket.props, "serverSideEncryptionConfiguration", "rule", default=None))
        for config in _settings_of(bucket, resources, ENCRYPTION):
            found |= _algorithms(get(config.props, "rules"))
        if not found & ENCRYPTION_ALGORITHMS:
            yield bucket.urn, (
                f"{_bucket_label(bucket)} has no default encryption "
                "(add a BucketServerSideEncryptionConfiguration with AES256 or aws:kms)"
            )


def _not_public(resources: list[PolicyResource]) -> Iterator[tuple[str, str]]:
    for bucket in (r for r in resources if r.resource_type == BUCKET):
        label = _bucket_label(bucket)
        blocks = _settings_of(bucket, resources, PUBLIC_ACCESS_BLOCK)
        if not any(all(get(b.props, flag) is True for flag in PUBLIC_ACCESS_FLAGS) for b in blocks):
            yield bucket.urn, (
                f"{label} lacks a public access block with all four settings on "
                f"({', '.join(PUBLIC_ACCESS_FLAGS)})"
            )
        acls = [get(bucket.props, "acl")] + [get(a.props, "acl") for a in _settings_of(bucket, resources, BUCKET_ACL)]
        if any(acl in PUBLIC_ACL for acl in acls):
            yield bucket.urn, f"{label} has a public canned ACL"
        for policy in _settings_of(bucket, resources, BUCKET_POLICY):
            doc = document(get(policy.props, "policy"))
            for statement in statements(doc or {}):
                if statement.get("Effect") == "Allow" and _is_public_principal(statement.get("Principal")):
                    yield bucket.urn, f"{label}: its bucket policy allows anyone (Principal *)"


def wildcard_actions(doc: Mapping[str, Any]) -> list[str]:
    """The wildcard actions (and NotAction grants) an IAM policy document allows."""
    found = []
    for statement in statements(doc):
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement:
            found.append(f"NotAction {as_list(statement['NotAction'])}")
        found += [str(a) for a in as_list(statement.get("Action")) if "*" in str(a)]
    return found


def _iam_no_wildcards(args: Any) -> Iterator[str]:
    if args.resource_type not in IAM_POLICIES:
        return
    raw = get(args.props, "policy")
    doc = document(raw)
    if doc is None:
        if isinstance(raw, str):
            yield f"IAM policy '{args.name}' is not a readable JSON policy document"
        return
    wildcards = wildcard_actions(doc)
    if wildcards:
        yield (
            f"IAM policy '{args.name}' allows wildcard actions {', '.join(sorted(set(wildcards)))}: "
            "grant the exact actions the consumer needs"
        )


RESOURCE_POLICIES = [
    resource_policy(
        "iam-no-wildcard-actions",
        "IAM policies allow named actions only: no '*', no 'service:*' or 'service:Get*', no NotAction grants.",
        _iam_no_wildcards,
    ),
]

STACK_POLICIES = [
    _stack_rule(
        "s3-bucket-versioned",
        "Every S3 bucket has versioning enabled, so an overwrite or delete can be undone.",
        _versioned,
    ),
    _stack_rule(
        "s3-bucket-encrypted",
        "Every S3 bucket has default server-side encryption (AES256 or aws:kms).",
        _encrypted,
    ),
    _stack_rule(
        "s3-bucket-not-public",
        "Every S3 bucket has a full public access block, no public ACL and no bucket policy allowing Principal '*'.",
        _not_public,
    ),
]

POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
