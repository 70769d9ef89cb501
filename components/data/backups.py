"""MariaDB backups: the scheduled full `PhysicalBackup` of an instance, the `PointInTimeRecovery`
archiving its binlogs on top of it, and the operator's S3 storage block both use.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.contracts import S3Access
from components.config.backup_timing import backup_timeout_minutes
from components.data.mariadb_base import (
    API_VERSION,
    BASE_NAME,
    MYSQL_UID,
    physical_backup_name,
    pitr_name_of,
    staging_storage,
)

# Builds the operator's S3 storage block for a prefix of the backups bucket.
StorageFor = Callable[[str], dict[str, object]]


def backup_pair(
    name: str,
    ns: pulumi.Input[str],
    cfg: StackConfig,
    storage: StorageFor,
    *,
    suspended: bool,
    depends_on: Sequence[pulumi.Resource],
    parent: pulumi.Resource,
) -> list[pulumi.Resource]:
    """The scheduled full PhysicalBackup of instance `name` and the PointInTimeRecovery
    that archives its binlogs on top of it (each under its own prefix of the bucket);
    `depends_on`: the operator, what serves the bucket and what must succeed first (the
    archive preflight)."""
    data = cfg.data
    stateful = pulumi.ResourceOptions(
        parent=parent, protect=cfg.protect, retain_on_delete=cfg.protect,
        depends_on=list(depends_on),
    )
    backup = _backup_object(
        "PhysicalBackup", physical_backup_name(name), ns,
        {
            # Not `waitForIt`: that pauses every backup while the MariaDB is not Ready (any
            # pod down, an archival error, a resize: v26.6.0
            # internal/controller/physicalbackup_controller.go:85-101, pkg/condition/ready.go);
            # target selection already checks pod readiness (docs/physical_backup.md).
            "mariaDbRef": {"name": name, "waitForIt": False},
            "schedule": {"cron": data.backup_schedule, "suspend": suspended, "immediate": not suspended},
            "maxRetention": data.backup_retention,
            "compression": "gzip",
            # Take the backup on a replica when there is one, so the primary keeps serving.
            "target": "PreferReplica",
            "storage": {"s3": storage(f"{name}/physical")},
            "timeout": f"{backup_timeout_minutes(data.mariadb.storage)}m",
            **staging_storage(cfg),
            "podSecurityContext": kube.restricted_pod_security(MYSQL_UID),
            "securityContext": kube.restricted_container_security(MYSQL_UID),
            "resources": kube.resource_values(ContainerSize("100m", "256Mi", "1Gi")),
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
        },
        stateful,
    )
    pitr = _backup_object(
        "PointInTimeRecovery", pitr_name_of(name), ns,
        {
            "physicalBackupRef": {"name": physical_backup_name(name)},
            "storage": {"s3": storage(f"{name}/binlogs")},
            "compression": "gzip",
            "archiveTimeout": "30m",
            # A target the archive does not cover fails the restore instead of silently
            # restoring the last recoverable time (v26.6.0 api/v1alpha1/pointintimerecovery_types.go:28-34).
            "strictMode": True,
        },
        pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[backup])),
    )
    return [backup, pitr]


def _backup_object(
    kind: str, name: str, ns: pulumi.Input[str], spec: dict[str, object], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        name,
        api_version=API_VERSION,
        kind=kind,
        metadata=kube.metadata(name, "mariadb-backup", ns, app=BASE_NAME),
        spec=spec,
        opts=opts,
    )


def s3_storage(access: S3Access, secret_name: pulumi.Input[str], prefix: str) -> dict[str, object]:
    """The operator's S3 storage block; it wants the endpoint without scheme, TLS separately."""
    endpoint = pulumi.Output.from_input(access.endpoint)
    return {
        "bucket": access.bucket,
        "prefix": prefix,
        "endpoint": endpoint.apply(lambda url: re.sub(r"^https?://", "", url)),
        "region": access.region,
        "accessKeyIdSecretKeyRef": {"name": secret_name, "key": "access-key-id"},
        "secretAccessKeySecretKeyRef": {"name": secret_name, "key": "secret-access-key"},
        "tls": {"enabled": endpoint.apply(lambda url: url.startswith("https://"))},
    }
