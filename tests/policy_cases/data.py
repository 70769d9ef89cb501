"""Good and bad resources for the data rules (protection, backups within the RPO).

Each record carries its environment the way the engine would get it: the rules read it from
policy config, and `evaluate` here is called with the production config (see `CONFIG`).
"""

from __future__ import annotations

import copy
from typing import Any

from tests.policy_cases.common import Case, record

MARIADB_TYPE = "kubernetes:k8s.mariadb.com/v1alpha1:MariaDB"


def _cr(kind: str, name: str, spec: dict[str, Any], *, protect: bool = True) -> dict[str, Any]:
    return record(
        f"kubernetes:k8s.mariadb.com/v1alpha1:{kind}",
        name,
        {
            "apiVersion": "k8s.mariadb.com/v1alpha1",
            "kind": kind,
            "metadata": {"name": name, "namespace": "saas-data"},
            "spec": spec,
        },
        protect=protect,
    )


def mariadb(*, protect: bool = True, pitr: str | None = "mariadb-pitr") -> dict[str, Any]:
    spec: dict[str, Any] = {"replicas": 2, "replication": {"enabled": True}}
    if pitr:
        spec["pointInTimeRecoveryRef"] = {"name": pitr}
    return _cr("MariaDB", "mariadb", spec, protect=protect)


def physical_backup(cron: str = "0 * * * *", *, suspend: bool = False, target: str = "mariadb") -> dict[str, Any]:
    return _cr(
        "PhysicalBackup",
        "mariadb-physical",
        {"mariaDbRef": {"name": target}, "schedule": {"cron": cron, "suspend": suspend}, "storage": {"s3": {}}},
    )


def pitr(base_backup: str = "mariadb-physical") -> dict[str, Any]:
    return _cr("PointInTimeRecovery", "mariadb-pitr", {"physicalBackupRef": {"name": base_backup}, "storage": {"s3": {}}})


def flush_binlogs(cron: str = "*/10 * * * *") -> dict[str, Any]:
    return record(
        "kubernetes:batch/v1:CronJob",
        "mariadb-flush-binlogs",
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "mariadb-flush-binlogs", "namespace": "saas-data"},
         "spec": {"schedule": cron}},
    )


def backed_up(**overrides: Any) -> list[dict[str, Any]]:
    return [mariadb(), physical_backup(**overrides), pitr()]


def pvc(protect: bool) -> dict[str, Any]:
    return record(
        "kubernetes:core/v1:PersistentVolumeClaim",
        "uploads",
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "uploads", "namespace": "saas-app"}},
        protect=protect,
    )


def unprotected(resource: dict[str, Any]) -> dict[str, Any]:
    resource = copy.deepcopy(resource)
    resource["protect"] = False
    return resource


CASES: list[Case] = [
    ("stateful-resources-protected", [mariadb()], [mariadb(protect=False)]),
    ("stateful-resources-protected", [pvc(True), physical_backup()], [pvc(False), unprotected(physical_backup())]),
    ("database-backup-rpo", backed_up(), [mariadb(), pitr()]),  # no backup at all
    ("database-backup-rpo", backed_up(cron="*/30 * * * *"), backed_up(cron="0 3 * * *")),  # daily: 24 h > RPO
    # Daily fulls under binlogs flushed every 10 min (the large tier, data-safety #14) pass; a
    # flush slower than the RPO does not, nor fulls less often than daily.
    ("database-backup-rpo", [*backed_up(cron="0 2 * * *"), flush_binlogs()], [*backed_up(cron="0 2 * * *"), flush_binlogs("0 */2 * * *")]),
    ("database-backup-rpo", [*backed_up(cron="0 2 * * *"), flush_binlogs()], [*backed_up(cron="0 2 * * 1"), flush_binlogs()]),
    ("database-backup-rpo", backed_up(cron="15,45 * * * *"), backed_up(cron="0 * * * 1-5")),  # weekend gap
    ("database-backup-rpo", backed_up(), backed_up(suspend=True)),  # suspended schedule
    ("database-backup-rpo", backed_up(), [mariadb(pitr=None), physical_backup()]),  # no binlog archiving
    ("database-backup-rpo", backed_up(), [mariadb(), physical_backup(), pitr("other-backup")]),
]
