"""Rules for stateful resources and database backups.

Both depend on the environment, which a policy cannot see in the resources: it comes from the
policy config (`policies/config/<environment>.json`, passed with `--policy-pack-config`).
Without config the rules assume production, so forgetting the file errs on the safe side.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import get, resource_policy

ENVIRONMENTS = ["development", "staging", "production"]
DEFAULT_RPO_MINUTES = 60
# With binlogs archived and flushed every RPO, the full backup is only the base the binlogs
# replay onto: at least daily (a large database cannot be copied every hour, data-safety #14).
FULL_BACKUP_MAX_GAP_MINUTES = 24 * 60
CRONJOB = "kubernetes:batch/v1:CronJob"

# Resources whose deletion loses data: databases, their backup archives, PVC-backed clusters,
# volumes, buckets and DNS zones.
STATEFUL_TYPES = {
    "kubernetes:k8s.mariadb.com/v1alpha1:MariaDB",
    "kubernetes:k8s.mariadb.com/v1alpha1:Database",
    "kubernetes:k8s.mariadb.com/v1alpha1:PhysicalBackup",
    "kubernetes:k8s.mariadb.com/v1alpha1:PointInTimeRecovery",
    "kubernetes:redis.redis.opstreelabs.in/v1beta2:RedisReplication",
    "kubernetes:rabbitmq.com/v1beta1:RabbitmqCluster",
    "kubernetes:core/v1:PersistentVolumeClaim",
    "kubernetes:core/v1:PersistentVolume",
    "kubernetes:apps/v1:StatefulSet",
    "aws:s3/bucket:Bucket",
    "aws:s3/bucketV2:BucketV2",
    "aws:route53/zone:Zone",
    "cloudflare:index/zone:Zone",
}

MARIADB = "kubernetes:k8s.mariadb.com/v1alpha1:MariaDB"
PHYSICAL_BACKUP = "kubernetes:k8s.mariadb.com/v1alpha1:PhysicalBackup"
PITR = "kubernetes:k8s.mariadb.com/v1alpha1:PointInTimeRecovery"

ENVIRONMENT_SCHEMA = {"type": "string", "enum": ENVIRONMENTS}


def environment(config: Mapping[str, Any]) -> str:
    return str(config.get("environment") or "production")


# ------------------------------------------------------------------------------------------
# stateful-resources-protected
# ------------------------------------------------------------------------------------------


def _protected(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type not in STATEFUL_TYPES or environment(args.get_config()) != "production":
        return
    if not args.opts.protect:
        yield (
            f"{args.resource_type.split(':')[-1]} '{args.name}' holds data but is not protect=True in "
            "production: a `pulumi destroy` or an accidental replacement would delete it"
        )


# ------------------------------------------------------------------------------------------
# database-backup-rpo
# ------------------------------------------------------------------------------------------

_FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


def _expand(field: str, low: int, high: int) -> set[int] | None:
    """The values a cron field matches, or None when it cannot be read."""
    values: set[int] = set()
    for part in field.split(","):
        match = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", part)
        if not match:
            return None
        span, step = match.group(1), int(match.group(2) or 1)
        if span == "*":
            start, end = low, high
        elif "-" in span:
            start, end = (int(x) for x in span.split("-"))
        else:
            start = int(span)
            end = high if match.group(2) else start
        if step < 1 or start < low or end > high or start > end:
            return None
        values.update(range(start, end + 1, step))
    return values


def cron_max_gap_minutes(expression: str) -> int | None:
    """Longest wait between two runs of a 5-field cron schedule, in minutes (None: unreadable).

    Day-of-month and month restrictions are treated as at most monthly (a gap of 28+ days).
    """
    fields = expression.split()
    if len(fields) != 5:
        return None
    expanded = [_expand(f, lo, hi) for f, (lo, hi) in zip(fields, _FIELD_RANGES)]
    if any(e is None for e in expanded):
        return None
    minutes, hours, _, _, weekdays = expanded
    if fields[2] != "*" or fields[3] != "*":
        return 28 * 24 * 60
    week = sorted(d * 1440 + h * 60 + m for d in weekdays for h in hours for m in minutes)  # type: ignore[union-attr]
    gaps = [b - a for a, b in zip(week, week[1:])] + [week[0] + 7 * 1440 - week[-1]]
    return max(gaps)


def _key(namespace: Any, name: Any) -> tuple[str, str]:
    return (str(namespace or ""), str(name or ""))


def _backup_rpo(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config()
    if environment(config) == "development":
        return
    rpo = int(float(config.get("rpoMinutes") or DEFAULT_RPO_MINUTES))
    by_type: dict[str, dict[tuple[str, str], Any]] = {MARIADB: {}, PHYSICAL_BACKUP: {}, PITR: {}, CRONJOB: {}}
    for resource in args.resources:
        if resource.resource_type in by_type:
            meta = get(resource.props, "metadata", default={})
            by_type[resource.resource_type][_key(meta.get("namespace"), meta.get("name"))] = resource

    for (namespace, name), mariadb in sorted(by_type[MARIADB].items()):
        backups = [
            b for (ns, _), b in sorted(by_type[PHYSICAL_BACKUP].items())
            if ns == namespace and get(b.props, "spec", "mariaDbRef", "name") == name
            and not get(b.props, "spec", "schedule", "suspend", default=False)
        ]
        gaps = [cron_max_gap_minutes(str(get(b.props, "spec", "schedule", "cron", default=""))) for b in backups]
        best = min((g for g in gaps if g is not None), default=None)
        pitr_name = get(mariadb.props, "spec", "pointInTimeRecoveryRef", "name")
        pitr = by_type[PITR].get(_key(namespace, pitr_name)) if pitr_name else None
        # The program's binlog flush (`<name>-flush-binlogs`, components/data/maintenance.py).
        flush = by_type[CRONJOB].get(_key(namespace, f"{name}-flush-binlogs"))
        flush_gap = cron_max_gap_minutes(str(get(flush.props, "spec", "schedule", default=""))) if flush else None
        archived = pitr is not None and flush_gap is not None and flush_gap <= rpo
        allowed = FULL_BACKUP_MAX_GAP_MINUTES if archived else rpo
        if best is None:
            report(f"MariaDB '{name}' has no scheduled PhysicalBackup: nothing to restore from", mariadb.urn)
        elif best > allowed:
            why = ("at least daily under its flushed binlog archive" if archived
                   else f"the RPO of {rpo} min (no binlog flush CronJob '{name}-flush-binlogs' within the RPO)")
            report(
                f"MariaDB '{name}': backups run at most every {best} min, more than {why}",
                mariadb.urn,
            )
        if pitr is None:
            report(
                f"MariaDB '{name}' does not archive its binary logs (spec.pointInTimeRecoveryRef to a "
                "PointInTimeRecovery in this stack): no point-in-time recovery between backups",
                mariadb.urn,
            )
        elif not any(
            get(b.props, "metadata", "name") == get(pitr.props, "spec", "physicalBackupRef", "name") for b in backups
        ):
            report(
                f"PointInTimeRecovery '{pitr_name}' of MariaDB '{name}' does not use one of its scheduled "
                "PhysicalBackups as full base backup",
                pitr.urn,
            )


POLICIES = [
    resource_policy(
        "stateful-resources-protected",
        "In production every resource that holds data (databases, backups, volumes, buckets, zones) is protect=True.",
        _protected,
        config_schema=PolicyConfigSchema(properties={"environment": ENVIRONMENT_SCHEMA}),
    ),
    StackValidationPolicy(
        name="database-backup-rpo",
        description=(
            "Outside development every MariaDB has a scheduled PhysicalBackup at least every RPO "
            "(default 60 min), or daily when its binlogs are flushed within the RPO, and archives "
            "its binlogs through a PointInTimeRecovery built on it."
        ),
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_backup_rpo,
        config_schema=PolicyConfigSchema(
            properties={"environment": ENVIRONMENT_SCHEMA, "rpoMinutes": {"type": "number", "minimum": 1}}
        ),
    ),
]
