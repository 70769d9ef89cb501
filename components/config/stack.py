"""Resolved configuration handed to the components: StackConfig and what `resolve` derives from RawConfig."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

import pulumi

from components.config.base import Environment
from components.config.data import (
    DATA_STORAGE_CLASS,
    DrillsSection,
    MariaDBSection,
    RedisCacheSection,
    RedisSection,
    default_backup_schedule,
)
from components.config.edge import EdgeSection
from components.config.monitoring import (
    MONITORING_DEFAULTS,
    TRACING_DEFAULTS,
    MonitoringSettings,
    TracingSettings,
)
from components.config.raw import RawConfig
from components.config.secrets import INTEGRATION_SECRETS
from components.config.tiers import (
    DEVELOPMENT_MARIADB,
    DEVELOPMENT_REDIS,
    DEVELOPMENT_TIER,
    MARIADB_SIZING,
    REDIS_SIZING,
    TIERS,
    Bounds,
    ContainerSize,
)


@dataclass(frozen=True)
class Replicas:
    frontend: Bounds
    backend: Bounds
    workers: Bounds
    database_replicas: int


@dataclass(frozen=True)
class Sizes:
    frontend: ContainerSize
    backend: ContainerSize


@dataclass(frozen=True)
class StoreSizing:
    """Volume and memory of one data store's pods (MariaDB or Redis)."""

    storage_class: str | None
    storage: str
    memory: str
    cpu: str


@dataclass(frozen=True)
class VolumeClass:
    """The `saas-data` StorageClass: provisioner and its parameters (expansion on, Retain)."""

    name: str
    provisioner: str
    parameters: Mapping[str, str]


@dataclass(frozen=True)
class DataConfig:
    """The data layer, resolved: sizing per store, backup schedule and the optional restore.

    backups_enabled: scheduled PhysicalBackups plus point-in-time binlog archiving (on outside
        development; staging and production may not turn them off).
    backup_schedule: cron of the full physical backup; every RPO window gets one.
    backup_retention: how long backups are kept in object storage (`maxRetention`).
    restore_target: when set, a new MariaDB is bootstrapped from point-in-time recovery at
        this UTC time (RFC 3339) and the endpoints move to it.
    rpo_minutes: the recovery point objective the schedule must meet (architecture overview: 1 hour).
    """

    mariadb: StoreSizing
    redis: StoreSizing
    backups_enabled: bool
    backup_schedule: str
    backup_retention: str
    restore_target: str | None
    rpo_minutes: int = 60
    # The MariaDB in service (`data.mariadb.instance`) and, during a restore onto a rebuilt
    # cluster, whether that instance is gone (only its archive is rendered).
    instance: str = "mariadb"
    restore_new_cluster: bool = False
    # The program-owned expandable StorageClass for the stores' volumes, when it is created.
    volume_class: "VolumeClass | None" = None
    # The application cache's Redis (memory and cpu; it keeps no volume); None: the cache
    # shares the durable Redis (development).
    redis_cache: StoreSizing | None = None
    # The cache runs as a Redis Cluster of this many shards (0: a Sentinel replication).
    redis_cache_shards: int = 0
    # The recovery drill (`data.drills`), None where it is off.
    drills: "DrillsSection | None" = None


@dataclass(frozen=True)
class StackConfig:
    """What the components consume: the raw sections plus everything derived from them."""

    stack: str
    raw: RawConfig
    replicas: Replicas
    sizes: Sizes
    data: DataConfig
    monitoring: MonitoringSettings
    # Secret config values by key (see SECRET_KEYS), as secret Outputs; only the keys set.
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    # Secret config (pulumi.Output marked secret), None when the key is not set.
    alert_webhook_url: pulumi.Output[str] | None = None
    # "slack" for a Slack incoming webhook (hooks.slack.com), else "webhook" (generic JSON):
    # the kind of receiver Alertmanager needs; derived from the URL's host, not secret itself.
    alert_webhook_kind: Literal["slack", "webhook"] | None = None

    @property
    def domain(self) -> str:
        return self.raw.domain

    @property
    def environment(self) -> Environment:
        return self.raw.environment

    @property
    def is_production(self) -> bool:
        return self.raw.environment == "production"

    @property
    def highly_available(self) -> bool:
        """Staging and production run redundant controllers, PDBs and zone spreading."""
        return self.raw.environment != "development"

    @property
    def acme_email(self) -> str:
        return self.raw.tls.acmeEmail or f"hostmaster@{self.raw.domain}"

    @property
    def edge(self) -> EdgeSection:
        return self.raw.edge

    @property
    def integration_secrets(self) -> dict[str, pulumi.Output[str]]:
        """The integration secrets the stack sets, by the environment variable the app reads."""
        return {env: self.secrets[key] for key, env in INTEGRATION_SECRETS.items() if key in self.secrets}

    def secret(self, key: str) -> pulumi.Output[str]:
        """A secret config value (`SECRET_KEYS`); KeyError when the stack does not set it."""
        return self.secrets[key]

    @property
    def protect(self) -> bool:
        """Stateful resources are `protect=True` in production: a `pulumi destroy` must not eat data."""
        return self.is_production


def data_tls_enabled(cfg: StackConfig) -> bool:
    """`data.tls.enabled`, defaulting to on outside development (components/data/tls.py builds
    the chain; the platform issues it)."""
    explicit = cfg.raw.data.tls.enabled
    return explicit if explicit is not None else cfg.environment != "development"


def resolve(stack: str, raw: RawConfig) -> StackConfig:
    tier = DEVELOPMENT_TIER if raw.environment == "development" else TIERS[raw.size]
    replicas = Replicas(
        frontend=raw.frontend.replicas or tier.frontend,
        backend=raw.backend.replicas or tier.backend,
        workers=raw.backend.workers or tier.workers,
        database_replicas=tier.database_replicas,
    )
    sizes = Sizes(frontend=tier.frontend_size, backend=tier.backend_size)
    return StackConfig(
        stack=stack, raw=raw, replicas=replicas, sizes=sizes, data=_resolve_data(raw), monitoring=resolve_monitoring(raw)
    )


def resolve_monitoring(raw: RawConfig) -> MonitoringSettings:
    section = raw.monitoring
    retention, storage, logs_storage = MONITORING_DEFAULTS[raw.environment]
    highly_available = raw.environment != "development"
    # Development runs on a laptop: no Graylog (it alone wants ~8 GiB) and no node-exporter
    # (host mounts; Docker Desktop's root is not a shared mount and node-exporter fails there).
    default_on = raw.environment != "development"
    return MonitoringSettings(
        retention=section.prometheus.retention or retention,
        storage=section.prometheus.storage or storage,
        prometheus_replicas=2 if raw.environment == "production" else 1,
        alertmanager_replicas=2 if highly_available else 1,
        logs_enabled=default_on if section.logs.enabled is None else section.logs.enabled,
        logs_storage=section.logs.storage or logs_storage,
        node_exporter=default_on if section.nodeExporter is None else section.nodeExporter,
        alert_email_to=tuple(section.alerts.emailTo or (f"ops@{raw.domain}",)),
        tracing=resolve_tracing(raw),
    )


def resolve_tracing(raw: RawConfig) -> TracingSettings:
    section = raw.monitoring.tracing
    rate, retention, storage = TRACING_DEFAULTS[raw.environment]
    retention = section.retention or retention
    hours = int(retention[:-1]) * (24 if retention.endswith("d") else 1)
    return TracingSettings(
        enabled=raw.environment != "development" if section.enabled is None else section.enabled,
        sample_rate=rate if section.sampleRate is None else section.sampleRate,
        sampling=section.sampling or "head",
        slow_threshold_ms=section.slowThresholdMs or 1000,
        retention_hours=hours,
        storage=section.storage or storage,
    )


def _sizing(section: MariaDBSection | RedisSection, default: tuple[str, str, str], volume_class: str | None) -> StoreSizing:
    storage, memory, cpu = default
    return StoreSizing(section.storageClass or volume_class, section.storage or storage, section.memory or memory, cpu)


def _resolve_data(raw: RawConfig) -> DataConfig:
    development = raw.environment == "development"
    data = raw.data
    backups_enabled = data.backups.enabled if data.backups.enabled is not None else not development
    managed = data.volumes.managed if data.volumes.managed is not None else not development
    volume_class = VolumeClass(DATA_STORAGE_CLASS, data.volumes.provisioner, dict(data.volumes.parameters)) if managed else None
    class_name = volume_class.name if volume_class else None
    mariadb_sizing = _sizing(data.mariadb, DEVELOPMENT_MARIADB if development else MARIADB_SIZING[raw.size], class_name)
    return DataConfig(
        mariadb=mariadb_sizing,
        redis=_sizing(data.redis, DEVELOPMENT_REDIS if development else REDIS_SIZING[raw.size], class_name),
        backups_enabled=backups_enabled,
        # The RPO of 1 hour rests on the binlog archive (flushed every 10 min); full backups
        # are hourly where one fits in the hour, daily in the large tier (review #14).
        backup_schedule=data.backups.schedule or default_backup_schedule(raw.environment, mariadb_sizing.storage),
        backup_retention=data.backups.retention or ("168h" if development else "720h"),
        restore_target=data.mariadb.restore.targetTime if data.mariadb.restore else None,
        instance=data.mariadb.instance,
        restore_new_cluster=bool(data.mariadb.restore and data.mariadb.restore.newCluster),
        volume_class=volume_class,
        # Development (a laptop, no data-safety promise) keeps the cache on the one Redis.
        redis_cache=None if development else _cache_sizing(data.redisCache, REDIS_SIZING[raw.size]),
        redis_cache_shards=data.redisCache.shards if _cache_cluster(raw) else 0,
        drills=data.drills if _drills_on(raw, backups_enabled) else None,
    )


def _cache_cluster(raw: RawConfig) -> bool:
    """A cluster where the cache outgrows one master: the large tier, never development (a
    laptop has no room for six Redis pods); `data.redisCache.cluster` overrides it."""
    if raw.data.redisCache.cluster is not None:
        return raw.data.redisCache.cluster
    return raw.size == "large" and raw.environment != "development"


def _cache_sizing(section: RedisCacheSection, default: tuple[str, str, str]) -> StoreSizing:
    """The cache store gets the durable store's tier memory and cpu unless set: it holds what
    used to share that memory, and no volume (a cache is rebuilt, not restored)."""
    _storage, memory, cpu = default
    return StoreSizing(None, "0", section.memory or memory, section.cpu or cpu)


def _drills_on(raw: RawConfig, backups_enabled: bool) -> bool:
    """On in production by default; never without backups (nothing to restore)."""
    enabled = raw.data.drills.enabled
    return backups_enabled and (enabled if enabled is not None else raw.environment == "production")
