"""Data layer, part 1 (issue 4): the `data` section (MariaDB and Redis sizing, volumes, backups,
restore, drills, in-transit TLS, MaxScale) and the backup schedule rules.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from components.config import backup_timing
from components.config.base import QUANTITY_RE, _Strict, matching


_CRON_FIELD_RE = re.compile(r"^[0-9*/,-]+$")
_DURATION_RE = re.compile(r"^[1-9][0-9]*h$")
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD_RE.match(f) for f in fields):
        raise ValueError(f"'{value}' is not a five-field cron expression such as '0 * * * *'")
    return value


def _utc_time(value: str) -> str:
    from datetime import datetime

    if not _RFC3339_RE.match(value):
        raise ValueError(f"'{value}' is not a UTC time such as 2026-11-20T18:00:00Z")
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise ValueError(f"'{value}' is not a valid date and time") from None
    return value


def _storage_class(value: str) -> str:
    if not _K8S_NAME_RE.match(value) or len(value) > 253:
        raise ValueError(f"'{value}' is not a StorageClass name (lowercase letters, digits, '-')")
    return value


Quantity = Annotated[str, matching(QUANTITY_RE, "a size such as 512Mi, 20Gi or 1Ti")]
Cron = Annotated[str, AfterValidator(_cron)]
Hours = Annotated[str, matching(_DURATION_RE, "a duration in whole hours such as 720h")]
UtcTime = Annotated[str, AfterValidator(_utc_time)]
StorageClassName = Annotated[str, AfterValidator(_storage_class)]


class RestoreSection(_Strict):
    """Bootstrap a new MariaDB from point-in-time recovery: a restore is a `pulumi up`.

    targetTime: the UTC point to recover; the new instance is `mariadb-r<digits of the time>`.
    newCluster: the cluster the instance in service ran on is gone (cluster-loss runbook):
        the program then renders only that instance's archive (suspended, read-only) and not
        the instance itself, so nothing new writes into its backup prefixes.
    """

    targetTime: UtcTime
    newCluster: bool = False


# `mariadb`, or `mariadb-r<14 digits>` (an instance restored to that UTC time).
_INSTANCE_RE = re.compile(r"^mariadb(-r[0-9]{14})?$")
MariaDBInstance = Annotated[
    str,
    matching(_INSTANCE_RE, "a MariaDB instance of this stack: 'mariadb' or 'mariadb-r<YYYYMMDDhhmmss>' (the name a restore gave it)"),
]


class MariaDBSection(_Strict):
    storageClass: StorageClassName | None = None
    storage: Quantity | None = None
    memory: Quantity | None = None
    # The MariaDB in service; after a restore, set it to the restored instance's name (and
    # remove `restore`) to finish the restore (docs/operations.md, "Restore").
    instance: MariaDBInstance = "mariadb"
    restore: RestoreSection | None = None

    @model_validator(mode="after")
    def _restore_target_is_new(self) -> "MariaDBSection":
        if self.restore and restore_instance_name(self.restore.targetTime) == self.instance:
            raise ValueError(
                f"restore.targetTime: instance {self.instance} is already the restore to that time; "
                "remove data.mariadb.restore to finish the restore"
            )
        return self


def restore_instance_name(target_time: str) -> str:
    """The MariaDB a restore to `target_time` creates: `mariadb-r<digits of the time>`."""
    return "mariadb-r" + re.sub(r"[^0-9]", "", target_time)


def _provisioner(value: str) -> str:
    if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9-]+)?$", value) or len(value) > 253:
        raise ValueError(f"'{value}' is not a CSI provisioner name such as ebs.csi.aws.com")
    return value


class VolumesSection(_Strict):
    """`data.volumes:` the StorageClass the program creates for the data stores' volumes
    (staging and production, unless a store names its own `storageClass`): volume expansion
    on, so a size increase is an online resize instead of a database stuck "resizing"."""

    # Whether the program creates the `saas-data` StorageClass (default: outside development).
    managed: bool | None = None
    provisioner: Annotated[str, AfterValidator(_provisioner)] = "ebs.csi.aws.com"
    # `encrypted: "true"`: EBS encryption at rest with the account's default EBS key whatever
    # the account-level default (aws-ebs-csi-driver docs/parameters.md; `kmsKeyId` names
    # another key). A map of your own replaces this one: keep `encrypted` in it.
    parameters: dict[str, str] = Field(default_factory=lambda: {"type": "gp3", "encrypted": "true"})


class RedisSection(_Strict):
    storageClass: StorageClassName | None = None
    storage: Quantity | None = None
    memory: Quantity | None = None


class RedisCacheSection(_Strict):
    """The application cache's own Redis (`redis-cache`, `allkeys-lru`, no volumes): data-safety
    review #9, a cache that fills up evicts only cache keys, never a job or a session."""

    memory: Quantity | None = None
    cpu: Quantity | None = None
    # A Redis Cluster (sharded, components/data/redis_cluster.py) instead of a Sentinel
    # replication: default on in the large tier only (the architecture's "Cache: Redis cluster").
    cluster: bool | None = None
    # Shards (leaders) of that cluster, each with one follower; Redis Cluster needs at least 3.
    shards: int = Field(default=3, ge=3, le=16)


class FailedJobsSection(_Strict):
    """The volume of Laravel's `file` failed-job store (data-safety review #10), shared by every
    queue worker. Outside development the workers run on several nodes, so its class must
    offer ReadWriteMany (EFS, CephFS, Longhorn RWX, NFS); development (one node) uses
    ReadWriteOnce on the default class."""

    storageClass: StorageClassName | None = None
    storage: Quantity = "1Gi"


class BackupsSection(_Strict):
    enabled: bool | None = None
    schedule: Cron | None = None
    retention: Hours | None = None


class DataTlsSection(_Strict):
    """`data.tls:` encryption in transit between the applications and MariaDB, Redis (and
    Sentinel) and RabbitMQ, with certificates from cert-manager (components/data/tls.py).
    Default: on outside development; production may not turn it off."""

    enabled: bool | None = None


class MaxScaleSection(_Strict):
    """`data.maxscale:` MariaDB MaxScale in front of the replicated MariaDB (components/data/maxscale.py):
    one host for the application, read/write split, connection pool, failover by MaxScale.

    enabled: default on in the medium and large tiers outside development; small and dev stay direct.
    replicas: MaxScale pods (2: one may be drained or lost while the other routes).
    licensed: MaxScale 23.08 is under the Business Source License, whose Additional Use Grant
        covers production use with fewer than three database servers (LICENSE2308.TXT); a
        production stack fronting three or more must hold a MariaDB subscription and say so here.
    """

    enabled: bool | None = None
    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    licensed: bool = False


_SQL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
SqlName = Annotated[str, matching(_SQL_NAME_RE, "a table or column name (letters, digits, '_', at most 64)")]


class DrillFreshnessSection(_Strict):
    """The table and timestamp column whose newest value tells how old the restored data is
    (pick one the application writes continuously; `updated_at` is UTC in Laravel)."""

    table: SqlName = "users"
    column: SqlName = "updated_at"


class DrillsSection(_Strict):
    """`data.drills:` the monthly recovery drill (components/data/drills.py).

    enabled: default on in production (where backups are on), off elsewhere.
    schedule: cron of the drill, by default monthly, half an hour after an hourly backup.
    tables: tables of the application schema that must hold rows after the restore.
    """

    enabled: bool | None = None
    schedule: Cron = "30 4 1 * *"
    tables: list[SqlName] = Field(default_factory=lambda: ["migrations", "users"], min_length=1)
    freshness: DrillFreshnessSection = DrillFreshnessSection()


class DataSection(_Strict):
    mariadb: MariaDBSection = MariaDBSection()
    maxscale: MaxScaleSection = MaxScaleSection()
    redis: RedisSection = RedisSection()
    redisCache: RedisCacheSection = RedisCacheSection()
    failedJobs: FailedJobsSection = FailedJobsSection()
    backups: BackupsSection = BackupsSection()
    volumes: VolumesSection = VolumesSection()
    drills: DrillsSection = DrillsSection()
    tls: DataTlsSection = DataTlsSection()


def check_backup_schedule(schedule: str, storage: str, environment: str) -> None:
    """Outside development full backups run every day, hourly or daily, and one must end
    before the next starts (data-safety review #14): the RPO rests on the archived binlogs
    (flushed every 10 min), the full backup is the base they replay onto."""
    minute, hour, *days = schedule.split()
    if days != ["*"] * 3:
        raise ValueError(
            f"data.backups.schedule: '{schedule}' does not run every day; {environment} needs a full "
            "backup hourly ('0 * * * *') or daily ('0 2 * * *') under the binlog archive (RPO <= 1 h)"
        )
    hourly = hour == "*" and minute.isdigit()
    daily = hour.isdigit() and minute.isdigit()
    if not (hourly or daily):
        raise ValueError(
            f"data.backups.schedule: '{schedule}' is neither hourly ('0 * * * *') nor daily ('0 2 * * *')"
        )
    took = backup_timing.full_backup_minutes(storage)
    if hourly and backup_timing.backup_timeout_minutes(storage) >= 60:
        raise ValueError(
            f"data.backups.schedule: '{schedule}' is hourly but a full backup of {storage} takes ~{took} min "
            f"at {backup_timing.BACKUP_THROUGHPUT_MB_S} MB/s (timeout {backup_timing.backup_timeout_minutes(storage)} min): "
            "use a daily schedule such as '0 2 * * *' (the RPO rests on the archived binlogs)"
        )


def default_backup_schedule(environment: str, storage: str) -> str:
    """Hourly full backups where one fits in the hour, else daily at 02:00 UTC (large tier)."""
    if environment == "development":
        return "0 3 * * *"
    return "0 * * * *" if backup_timing.backup_timeout_minutes(storage) < 60 else "0 2 * * *"


# The StorageClass the program creates for the data stores (see VolumesSection).
DATA_STORAGE_CLASS = "saas-data"
