"""MariaDB through mariadb-operator: replication, backups, point-in-time recovery, app credentials.

One `MariaDB` with asynchronous replication (primary + replicas per tier, automatic failover);
the operator creates the `<name>-primary` and `<name>-secondary` Services the backend uses for
its read/write split. Outside development a scheduled `PhysicalBackup` (mariadb-backup to S3)
is the full base backup of a `PointInTimeRecovery` that archives closed binary logs; the
MariaDB references it, so its agent sidecar uploads every binlog the server closes.

Restore is configuration (docs/operations.md, "Restore"): `data.mariadb.restore.targetTime`
renders a *new* MariaDB `mariadb-r<digits>` bootstrapped from the point-in-time archive of the
instance in service (`data.mariadb.instance`); the endpoints move to it while the old instance
stays rendered, untouched, so nothing protected is removed and its application user is never
dropped. Finishing the restore is `data.mariadb.instance: mariadb-r<digits>` without `restore`;
a second restore then reads the archive of the restored instance, not the original one. The
old instance then leaves the program: in production it stays in the cluster (`protect` +
`retainOnDelete`, unprotected on purpose); elsewhere the object goes but its volumes stay
(`pvcRetentionPolicy: Retain`), and its archive in S3 is untouched.

Why the numbers (RPO 1 h, docs/operations.md "RPO and RTO"): only closed binlogs are archived
(every 10 min, by the primary's agent), so a CronJob closes the binlog every
`BINLOG_FLUSH_MINUTES` and a quiet primary's writes reach the archive within about 20 min; the
64 MB `max_binlog_size` closes busy binlogs sooner. Binlog timelines cannot cross a primary
change (mariadb-operator v26.6.0 pkg/binlog/binlog.go), so a second CronJob triggers an
on-demand full backup whenever `status.currentPrimary` changes. Full backups run hourly where
one fits in the hour and daily in the large tier (a 200 GiB copy takes longer than an hour at
the measured throughput, data-safety review #14): the RPO rests on the archived binlogs, the
full backup bounds how many of them a restore replays. Backups survive their own run: the
timeout is sized from the database and the replica's liveness window outlasts it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.platform import charts
from components.platform.charts import ChartPin
from components.config import ContainerSize, StackConfig, php_max_children, restore_instance_name
from components.contracts import MariaDBEndpoints, S3Access
from components.data import maxscale
from components.data.archive_preflight import archive_preflight
from components.config.backup_timing import (  # noqa: F401  (re-exported: tests read them here)
    BACKUP_TIMEOUT_MINUTES,
    LIVENESS_PERIOD_SECONDS,
    backup_timeout_minutes,
    liveness_failures,
    quantity_mib,
)
from components.data import tls as data_tls
from components.data.common import DATA_STORE_LABEL, service_host

# Builds the operator's S3 storage block for a prefix of the backups bucket.
StorageFor = Callable[[str], dict[str, object]]

TYPE = "saas-platform:index:MariaDB"

OPERATOR_CHART_REPO = "https://helm.mariadb.com/mariadb-operator"
OPERATOR_VERSION = "26.6.0"
CRDS_CHART = ChartPin("mariadb-operator-crds", OPERATOR_VERSION, OPERATOR_CHART_REPO)
OPERATOR_CHART = ChartPin("mariadb-operator", OPERATOR_VERSION, OPERATOR_CHART_REPO)
API_VERSION = "k8s.mariadb.com/v1alpha1"
# MariaDB 11.8 LTS, the operator's default; ≥ 10.8 is needed for point-in-time recovery.
IMAGE = "docker-registry1.mariadb.com/library/mariadb:11.8.8"
EXPORTER_IMAGE = "prom/mysqld-exporter:v0.15.1"
# The operator's own image, as its chart renders it (`image.repository` + the chart's
# appVersion, mariadb-operator v26.6.0 deploy/charts/mariadb-operator/templates/_helpers.tpl
# "image"): the replication init container runs it. Setting any field of
# `replication.initContainer` turns off the operator's defaulting of the image
# (api/v1alpha1/mariadb_replication_types.go SetDefaults, v26.6.0), so it is named here.
OPERATOR_IMAGE = f"ghcr.io/mariadb-operator/mariadb-operator:{OPERATOR_VERSION}"
# Label value of the operator-created mysqld-exporter pods (a separate Deployment
# `<mariadb>-metrics`), so the data namespace's NetworkPolicy admits Prometheus to them.
EXPORTER_STORE = "mariadb-exporter"
BASE_NAME = "mariadb"
# The operator's pods (chart selectorLabels, release `mariadb-operator`); its webhook and
# cert-controller pods carry `<name>-webhook` / `<name>-cert-controller` names.
OPERATOR_POD = {"app.kubernetes.io/name": "mariadb-operator", "app.kubernetes.io/instance": "mariadb-operator"}
PORT = 3306
EXPORTER_PORT = 9104
# The image's `mysql` user: data files on the volume belong to it.
MYSQL_UID = 999
APP_DATABASE = "app"
APP_USER = "app"
# Small enough that a busy database closes (and so archives) a binlog well within the hour.
MAX_BINLOG_SIZE_MB = 64
# A quiet primary never fills a binlog: close it this often so its tail is archived (the
# agent archives closed binlogs every 10 min: mariadb-operator v26.6.0 pkg/binlog/archiver.go:39).
BINLOG_FLUSH_MINUTES = 10
# The agent's archive cycle (v26.6.0 pkg/binlog/archiver.go:39), for the RPO arithmetic.
ARCHIVE_INTERVAL_MINUTES = 10
# How often the primary-change watcher looks at `status.currentPrimary`.
PRIMARY_WATCH_MINUTES = 5
# Agent probes: 10 s period (v26.6.0 pkg/builder/container_builder.go:879-898).
PROBE_PERIOD_SECONDS = 10
# Readiness: a replica whose IO thread lost the primary reports Seconds_Behind_Master NULL and
# fails /readiness at once (v26.6.0 pkg/agent/handler/replication/probe.go:136-143); failover
# only promotes Ready replicas (pkg/controller/replication/failover.go:51-76). 10 x 10 s keeps
# the replica Ready past the node-monitor grace period (40-50 s) that a dead node needs before
# the primary turns NotReady (upstream issues #1628, #1846).
READINESS_FAILURES = 10
# docs/replication.md (v26.6.0): the delay must stay below the readiness failure window, or
# every replica is NotReady by the time failover may start. 0 s: fail over at once.
AUTO_FAILOVER_DELAY = "0s"
# Liveness: `--safe-slave-backup` stops the replica's SQL thread for the whole backup and
# v26.6.0's /liveness fails while it is stopped (probe.go:78-83; fixed upstream after the tag
# by PR #1882). The liveness window must outlast the longest backup (backup_timing.py).
# kubectl + sh + jq for the primary-change watcher (community image, pinned).
KUBECTL_IMAGE = "docker.io/alpine/k8s:1.34.5"
# The AWS CLI for pruning archived binlogs (works against any S3 API with --endpoint-url).
AWS_CLI_IMAGE = "docker.io/amazon/aws-cli:2.32.8"
# Archived binlogs are kept this much longer than the full backups they replay onto.
BINLOG_RETENTION_MARGIN_HOURS = 24
# Headroom of the backup/restore staging volume over the database volume (the uncompressed
# mariadb-backup stream lands there before it is compressed: v26.6.0 pkg/builder/batch_builder.go).
STAGING_FACTOR = 1.2
MY_CNF_TEMPLATE = Path(__file__).resolve().parent.parent / "files" / "my.cnf.tmpl"


# ------------------------------------------------------------------------------------------
# my.cnf
# ------------------------------------------------------------------------------------------

def render_my_cnf(
    memory_limit: str, *, max_binlog_size_mb: int = MAX_BINLOG_SIZE_MB, min_connections: int = 0
) -> str:
    """The server options, with InnoDB sized from the container's memory limit.

    The buffer pool gets 60 % of the limit under 2 GiB (the rest is per-connection buffers,
    the agent's share of the page cache and headroom against the OOM killer), 70 % above;
    the redo log a quarter of the pool; connections scale with memory.
    """
    limit = quantity_mib(memory_limit)
    pool = max(128, (limit * (60 if limit < 2048 else 70) // 100) // 16 * 16)
    return MY_CNF_TEMPLATE.read_text().format(
        innodb_buffer_pool_size=f"{pool}M",
        innodb_log_file_size=f"{max(48, pool // 4)}M",
        innodb_buffer_pool_instances=max(1, min(8, pool // 1024)),
        # The application user's cap plus room for the operator, agent, exporter and admins.
        max_connections=max(100, min(1000, limit // 8), min_connections + 20),
        max_binlog_size=f"{max_binlog_size_mb}M",
    )


# ------------------------------------------------------------------------------------------
# Component
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MariaDBArgs:
    """Inputs of the MariaDB store.

    config: resolved stack config (tier -> replicas, sizing, backups, restore target).
    namespace: the data namespace the database runs in.
    operator_namespace: where the operator and its CRDs' chart are installed.
    backups: S3 bucket, endpoint and credentials for physical backups and binlogs.
    backup_dependencies: what serves that bucket (the in-cluster object storage release and its
        bucket hook): the first, immediate backup would otherwise fail against a missing bucket.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    operator_namespace: pulumi.Input[str]
    backups: S3Access
    backup_dependencies: Sequence[pulumi.Resource] = ()


def instance_name(restore_target: str | None, serving: str = BASE_NAME) -> str:
    """The MariaDB the application uses: `serving`, or `mariadb-r<UTC stamp>` while a restore
    to that time is configured."""
    return restore_instance_name(restore_target) if restore_target else serving


def app_connection_demand(cfg: StackConfig) -> int:
    """Connections the application can open at full scale: every web pod's php-fpm children,
    one per worker, plus the scheduler, Reverb, a migration Job and 10 % headroom."""
    php = cfg.raw.backend.php
    children = php_max_children(kube.mebibytes(cfg.sizes.backend.memory_limit), php.workerMemoryMb)
    demand = cfg.replicas.backend.max * children + cfg.replicas.workers.max + 3
    return max(50, demand + demand // 10)


# pulumi-kubernetes >= 4.18 (v4.32.0 provider/pkg/metadata/overrides.go ReadyCondition): the
# engine awaits the operator's Ready condition (mariadb-operator v26.6.0 CRDs print
# `.status.conditions[?(@.type=="Ready")]`), so what depends on these CRs waits for a usable
# database, schema, user and grant rather than for the objects to be accepted.
WAIT_READY = {"pulumi.com/waitFor": "condition=Ready"}


class MariaDB(pulumi.ComponentResource):
    """mariadb-operator (CRDs + controller) and the application's replicated MariaDB."""

    endpoints: MariaDBEndpoints
    ready: list[pulumi.Resource]
    """The CRs that report readiness the engine awaits (MariaDB, Database, User, Grant)."""
    instance: pulumi.Output[str]
    """Name of the MariaDB object serving the application."""
    instance_name: str
    credentials_name: pulumi.Output[str]
    """The Secret holding `root-password` and `app-password`."""

    def __init__(self, name: str, args: MariaDBArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        data = cfg.data
        ns = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        # Retained on delete exactly where protected (production). Elsewhere `pulumi destroy`
        # deletes these objects while their operator still runs, so it can clear its finalizers
        # (database/user/grant.k8s.mariadb.com/finalizer, mariadb-operator v26.6.0
        # internal/controller/*_controller_finalizer.go); a retained object would keep them
        # after the operator is uninstalled and leave the data namespace stuck Terminating.
        stateful = pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=cfg.protect)
        self._stateful = stateful

        # This chart templates the CRDs, so uninstalling it would delete every MariaDB and
        # backup object: keep the release when it leaves the program, protect it in prod.
        crds = charts.release(
            "mariadb-operator-crds", CRDS_CHART, args.operator_namespace, {},
            pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=True),
        )
        operator = charts.release(
            "mariadb-operator", OPERATOR_CHART, args.operator_namespace, operator_values(cfg),
            pulumi.ResourceOptions(parent=self, depends_on=[crds]),
        )
        self._operator = operator

        # ---- credentials ---------------------------------------------------------------
        # Protected in production like the data they open: a replaced password is a new
        # Secret the running pods never read (docs/operations.md, "Password rotation").
        secret_opts = pulumi.ResourceOptions(parent=self, protect=cfg.protect)
        root_password = random.RandomPassword("mariadb-root-password", length=32, special=False, opts=secret_opts)
        app_password = random.RandomPassword("mariadb-app-password", length=32, special=False, opts=secret_opts)
        credentials = k8s.core.v1.Secret(
            "mariadb-credentials",
            metadata=kube.metadata("mariadb-credentials", "mariadb", ns, app=BASE_NAME),
            type="Opaque",
            string_data={"root-password": root_password.result, "app-password": app_password.result},
            opts=child,
        )
        self._secret_name = credentials.metadata.name
        self._credentials = credentials
        self._storage: StorageFor | None = None
        self._backups: S3Access | None = None
        if data.backups_enabled:
            s3_secret = k8s.core.v1.Secret(
                "mariadb-backup-s3",
                metadata=kube.metadata("mariadb-backup-s3", "mariadb", ns, app=BASE_NAME),
                type="Opaque",
                string_data={
                    "access-key-id": args.backups.access_key_id,
                    "secret-access-key": args.backups.secret_access_key,
                },
                opts=child,
            )

            def storage(prefix: str) -> dict[str, object]:
                return s3_storage(args.backups, s3_secret.metadata.name, prefix)

            self._storage = storage
            self._backups = args.backups
            self._s3_secret_name = s3_secret.metadata.name
            self._after_storage = list(args.backup_dependencies)

        serving = data.instance
        name = instance_name(data.restore_target, serving)
        if data.restore_target:
            # The instance in service until now: its archive is what the restore reads. On the
            # same cluster it stays rendered exactly as it was, backups included (no diff:
            # nothing protected is removed, its application user is never dropped under pods
            # still connected to it, stray writes to it are still archived). On a rebuilt
            # cluster only its archive is rendered, suspended, so nothing writes into its
            # prefixes (docs/operations.md, "Cluster loss").
            if data.restore_new_cluster:
                if self._storage:
                    self._backup_pair(serving, ns, cfg, suspended=True)
            else:
                self._instance(serving, ns, cfg, bootstrap=None, backups=True)
        bootstrap = None
        if data.restore_target:
            bootstrap = {
                "pointInTimeRecoveryRef": {"name": pitr_name_of(serving)},
                "targetRecoveryTime": data.restore_target,
                **self._staging(cfg),
            }
        self.ready = self._instance(name, ns, cfg, bootstrap=bootstrap, backups=True)

        self.instance = pulumi.Output.from_input(name)
        self.instance_name = name
        self.credentials_name = self._secret_name
        # mariadb-operator v26.6.0 internal/controller/mariadb_controller.go reconcileService:
        # the `-primary`/`-secondary` Services only when IsHAEnabled() (replication or Galera);
        # the `<name>` Service (reconcileDefaultService) in every topology.
        primary, secondary = (f"{name}-primary", f"{name}-secondary") if is_replicated(cfg) else (name, name)
        if maxscale.enabled(cfg):
            # One host: MaxScale splits reads from writes itself (components/data/maxscale.py).
            primary = secondary = maxscale.maxscale_name(name)
        self.endpoints = MariaDBEndpoints(
            primary_host=service_host(primary, ns),
            replica_host=service_host(secondary, ns),
            port=PORT,
            database=APP_DATABASE,
            username=APP_USER,
            password=pulumi.Output.secret(app_password.result),
        )
        self.register_outputs({"instance": self.instance, "primaryHost": self.endpoints.primary_host})

    @staticmethod
    def _staging(cfg: StackConfig) -> dict[str, object]:
        """`stagingStorage`: a volume sized for the uncompressed backup instead of the node's
        disk (the default emptyDir, v26.6.0 api/v1alpha1/physicalbackup_types.go:362-373)."""
        if not cfg.highly_available:
            return {}
        size = -(-int(quantity_mib(cfg.data.mariadb.storage) * STAGING_FACTOR) // 1024)
        claim: dict[str, object] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{size}Gi"}},
        }
        if cfg.data.mariadb.storage_class:
            claim["storageClassName"] = cfg.data.mariadb.storage_class
        return {"stagingStorage": {"persistentVolumeClaim": claim}}

    def _instance(
        self,
        name: str,
        ns: pulumi.Input[str],
        cfg: StackConfig,
        *,
        bootstrap: dict[str, object] | None,
        backups: bool,
    ) -> list[pulumi.Resource]:
        """One MariaDB with its schema, user and grant (returned: what the application waits
        for); `backups`: its own backup pair and the jobs that keep its point-in-time window moving."""
        stateful = self._stateful
        backup_objects: list[pulumi.Resource] = []
        pitr_name: str | None = None
        if self._storage:
            pitr_name = pitr_name_of(name)
            if backups:
                # Nothing that writes into `name`'s prefixes is created before the archive
                # preflight passed (data-safety review #18; components/data/archive_preflight.py).
                assert self._backups is not None
                preflight = archive_preflight(
                    name, ns, self._backups, self._s3_secret_name,
                    kubectl_image=KUBECTL_IMAGE, aws_cli_image=AWS_CLI_IMAGE,
                    pod_labels={DATA_STORE_LABEL: GUARD_LABEL},
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[self._operator, *self._after_storage]),
                )
                backup_objects = [preflight, *self._backup_pair(name, ns, cfg, suspended=False, after=[preflight])]
        spec = mariadb_spec(cfg, name, self._secret_name, pitr_name)
        if bootstrap:
            spec["bootstrapFrom"] = bootstrap
        mariadb = k8s.apiextensions.CustomResource(
            name,
            api_version=API_VERSION,
            kind="MariaDB",
            metadata=kube.metadata(name, "mariadb", ns, app=BASE_NAME, annotations=WAIT_READY),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(depends_on=[self._operator, self._credentials, *backup_objects])
            ),
        )
        proxy: list[pulumi.Resource] = []
        if maxscale.enabled(cfg):
            # The application's host in medium/large (components/data/maxscale.py).
            fronting = maxscale.MaxScale(
                maxscale.maxscale_name(name),
                maxscale.MaxScaleArgs(cfg, name, ns, int(spec["replicas"]), self._operator, mariadb),  # type: ignore[arg-type]
                opts=pulumi.ResourceOptions(parent=self),
            )
            proxy = fronting.ready
        if backups and self._storage:
            guard = pulumi.ResourceOptions(parent=self, depends_on=[mariadb])
            pitr_guard(name, ns, cfg, self._secret_name, guard)
            assert self._backups is not None
            binlog_pruner(name, ns, cfg, self._backups, self._s3_secret_name, guard)

        # ---- the application's schema, user and grant ----------------------------------
        ref = {"name": name, "waitForIt": True}
        database = k8s.apiextensions.CustomResource(
            f"{name}-database-app",
            api_version=API_VERSION,
            kind="Database",
            metadata=kube.metadata(f"{name}-{APP_DATABASE}", "mariadb", ns, app=BASE_NAME, annotations=WAIT_READY),
            spec={
                "mariaDbRef": ref,
                "name": APP_DATABASE,
                "characterSet": "utf8mb4",
                "collate": "utf8mb4_unicode_ci",
                # Dropping the schema because an object went away would lose the data.
                "cleanupPolicy": "Skip",
            },
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[mariadb])),
        )
        # User and Grant: `cleanupPolicy: Skip`, so removing them from the program (finishing
        # a restore) never runs DROP USER under pods still connected as that user (v26.6.0
        # internal/controller/user_controller_finalizer.go:53 drops only on Delete).
        keep = pulumi.ResourceOptions(parent=self, retain_on_delete=cfg.protect, depends_on=[mariadb])
        user = k8s.apiextensions.CustomResource(
            f"{name}-user-app",
            api_version=API_VERSION,
            kind="User",
            metadata=kube.metadata(f"{name}-{APP_USER}", "mariadb", ns, app=BASE_NAME, annotations=WAIT_READY),
            spec={
                "mariaDbRef": ref,
                "name": APP_USER,
                "host": "%",
                "passwordSecretKeyRef": {"name": self._secret_name, "key": "app-password"},
                # Every php-fpm child of every web pod at the tier's maximum, plus workers.
                # With MaxScale, its pooled connections per server on top.
                "maxUserConnections": app_connection_demand(cfg) + maxscale.pool_size(cfg),
                "cleanupPolicy": "Skip",
            },
            opts=keep,
        )
        grant = k8s.apiextensions.CustomResource(
            f"{name}-grant-app",
            api_version=API_VERSION,
            kind="Grant",
            metadata=kube.metadata(f"{name}-{APP_USER}-{APP_DATABASE}", "mariadb", ns, app=BASE_NAME, annotations=WAIT_READY),
            spec={
                "mariaDbRef": ref,
                # What Laravel migrations and the application need on their own schema; no
                # global privileges, no GRANT OPTION.
                "privileges": [
                    "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "INDEX",
                    "REFERENCES", "CREATE TEMPORARY TABLES", "LOCK TABLES", "CREATE VIEW",
                    "SHOW VIEW", "TRIGGER", "EXECUTE",
                ],
                "database": APP_DATABASE,
                "table": "*",
                "username": APP_USER,
                "host": "%",
                "grantOption": False,
                "cleanupPolicy": "Skip",
            },
            opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=[database, user])),
        )

        return [mariadb, database, user, grant, *proxy]

    def _backup_pair(
        self,
        name: str,
        ns: pulumi.Input[str],
        cfg: StackConfig,
        *,
        suspended: bool,
        after: Sequence[pulumi.Resource] = (),
    ) -> list[pulumi.Resource]:
        """The scheduled full PhysicalBackup of instance `name` and the PointInTimeRecovery
        that archives its binlogs on top of it (each under its own prefix of the bucket);
        `after`: what must succeed first (the archive preflight)."""
        assert self._storage is not None
        storage = self._storage
        data = cfg.data
        stateful = pulumi.ResourceOptions(
            parent=self, protect=cfg.protect, retain_on_delete=cfg.protect,
            depends_on=[self._operator, *self._after_storage, *after],
        )
        backup = k8s.apiextensions.CustomResource(
            physical_backup_name(name),
            api_version=API_VERSION,
            kind="PhysicalBackup",
            metadata=kube.metadata(physical_backup_name(name), "mariadb-backup", ns, app=BASE_NAME),
            spec={
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
                **self._staging(cfg),
                "podSecurityContext": kube.restricted_pod_security(MYSQL_UID),
                "securityContext": kube.restricted_container_security(MYSQL_UID),
                "resources": kube.resource_values(ContainerSize("100m", "256Mi", "1Gi")),
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
            },
            opts=stateful,
        )
        pitr = k8s.apiextensions.CustomResource(
            pitr_name_of(name),
            api_version=API_VERSION,
            kind="PointInTimeRecovery",
            metadata=kube.metadata(pitr_name_of(name), "mariadb-backup", ns, app=BASE_NAME),
            spec={
                "physicalBackupRef": {"name": physical_backup_name(name)},
                "storage": {"s3": storage(f"{name}/binlogs")},
                "compression": "gzip",
                "archiveTimeout": "30m",
                # A target the archive does not cover fails the restore instead of silently
                # restoring the last recoverable time (v26.6.0 api/v1alpha1/pointintimerecovery_types.go:28-34).
                "strictMode": True,
            },
            opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=[backup])),
        )
        return [backup, pitr]


def physical_backup_name(instance: str) -> str:
    """The scheduled PhysicalBackup of an instance; its Jobs are `<this>-<timestamp>`
    (mariadb-operator v26.6.0 internal/controller/physicalbackup_controller.go getObjectName),
    which the MariaDBBackupTooOld alert matches."""
    return f"{instance}-physical"


def pitr_name_of(instance: str) -> str:
    return f"{instance}-pitr"


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


def is_replicated(cfg: StackConfig) -> bool:
    """Replication is what point-in-time recovery builds on (binlogs), so any stack with
    backups runs the replication topology, even with a single instance."""
    return cfg.data.backups_enabled or cfg.replicas.database_replicas > 0


def mariadb_spec(cfg: StackConfig, name: str, secret_name: pulumi.Input[str], pitr_name: str | None) -> dict[str, object]:
    data = cfg.data
    replicas = 1 + cfg.replicas.database_replicas
    # Replication is what point-in-time recovery builds on (binlogs), so any stack with
    # backups runs the replication topology; the operator's webhook rejects replication with
    # one pod ("Multiple replicas must be specified": v26.6.0
    # internal/webhook/v1alpha1/mariadb_webhook.go:96-111), so that is two pods at least.
    replicated = is_replicated(cfg)
    if replicated:
        replicas = max(2, replicas)
    memory = data.mariadb.memory
    selector = {"app.kubernetes.io/name": "mariadb", "app.kubernetes.io/instance": name}
    spec: dict[str, object] = {
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "rootPasswordSecretKeyRef": {"name": secret_name, "key": "root-password"},
        "port": PORT,
        "replicas": replicas,
        "storage": {
            "size": data.mariadb.storage,
            **({"storageClassName": data.mariadb.storage_class} if data.mariadb.storage_class else {}),
            "resizeInUseVolumes": True,
            "waitForVolumeResize": True,
            # Volumes outlive the MariaDB object: deleting it must not delete the data.
            "pvcRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        },
        "myCnf": render_my_cnf(memory, min_connections=app_connection_demand(cfg) + maxscale.pool_size(cfg)),
        "resources": kube.resource_values(ContainerSize(data.mariadb.cpu, memory, memory)),
        "timeZone": "UTC",
        "podMetadata": {"labels": {**kube.recommended_labels("mariadb", "mariadb"), DATA_STORE_LABEL: "mariadb"}},
        "inheritMetadata": {"labels": kube.recommended_labels("mariadb", "mariadb")},
        "podSecurityContext": kube.restricted_pod_security(MYSQL_UID),
        "securityContext": kube.restricted_container_security(MYSQL_UID, read_only_root=False),
        "metrics": {
            "enabled": True,
            "exporter": {
                "image": EXPORTER_IMAGE,
                "port": EXPORTER_PORT,
                "resources": kube.resource_values(ContainerSize("50m", "64Mi", "64Mi")),
                "podSecurityContext": kube.restricted_pod_security(),
                "securityContext": kube.restricted_container_security(),
                # The exporter is its own Deployment, labelled from inheritMetadata + this
                # (mariadb-operator v26.6.0 pkg/builder/deployment_builder.go
                # BuildExporterDeployment): without the store label the data namespace's
                # default-deny drops Prometheus' scrapes.
                "podMetadata": {"labels": {**kube.recommended_labels("mariadb", "mariadb"), DATA_STORE_LABEL: EXPORTER_STORE}},
            },
            "serviceMonitor": {"interval": "30s", "scrapeTimeout": "25s"},
        },
        "updateStrategy": {"type": "ReplicasFirstPrimaryLast"},
    }
    if data_tls.enabled(cfg):
        # Certificates from the data CA, TLS required (components/data/tls.py).
        spec["tls"] = data_tls.mariadb_tls_spec()
    if replicated:
        # Probes of the agent (v26.6.0 pkg/builder/container_builder.go:846-898): only the
        # thresholds are ours; see READINESS_FAILURES and backup_timing.liveness_failures.
        spec["readinessProbe"] = {"periodSeconds": PROBE_PERIOD_SECONDS, "failureThreshold": READINESS_FAILURES}
        spec["livenessProbe"] = {
            "periodSeconds": LIVENESS_PERIOD_SECONDS, "failureThreshold": liveness_failures(data.mariadb.storage),
        }
        replica: dict[str, object] = {"maxLagSeconds": 60}
        if pitr_name:
            # New and failed replicas are seeded from a physical backup taken from a healthy
            # pod, made from the scheduled PhysicalBackup as a template (the operator replaces
            # its schedule and target: v26.6.0 pkg/builder/physicalbackup_builder.go). The
            # operator's webhook rejects `recovery` without `bootstrapFrom`
            # (api/v1alpha1/mariadb_replication_types.go ReplicaReplication.Validate, v26.6.0);
            # without backups there is no template, so no recovery either.
            replica["bootstrapFrom"] = {"physicalBackupTemplateRef": {"name": physical_backup_name(name)}}
            replica["recovery"] = {"enabled": True}
        spec["replication"] = {
            "enabled": True,
            "primary": {"autoFailover": True, "autoFailoverDelay": AUTO_FAILOVER_DELAY},
            "replica": replica,
            "gtidStrictMode": True,
            # Semi-sync waits for a replica's ACK on every commit (on by default,
            # mariadb_replication_types.go IsSemiSyncEnabled, v26.6.0): with no replica pod
            # (a single instance replicated only for binlog archiving) every commit would
            # wait for the ACK timeout before falling back to async.
            "semiSyncEnabled": replicas > 1,
            # A transaction becomes visible only once a replica has it (AfterSync), so a
            # failover cannot lose what other sessions already read (v26.6.0
            # api/v1alpha1/mariadb_replication_types.go:271-286; the default is AfterCommit).
            "semiSyncWaitPoint": "AfterSync",
            # MariaDB's own default, stated: past it the primary falls back to async (alerted:
            # MariaDBSemiSyncOff) rather than stop taking writes while a replica is away.
            "semiSyncAckTimeout": "10s",
            # The operator's init container in every replicated pod takes its security
            # context only from this template (pkg/builder/container_builder.go
            # dataPlaneInitContainer + securitycontext_builder.go, v26.6.0): without it the
            # pod violates the data namespace's `restricted` Pod Security.
            "initContainer": {
                "image": OPERATOR_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "resources": kube.resource_values(ContainerSize("10m", "32Mi", "128Mi")),
                "securityContext": kube.restricted_container_security(MYSQL_UID),
            },
            "agent": {
                "resources": kube.resource_values(ContainerSize("50m", "64Mi", "256Mi")),
                "securityContext": kube.restricted_container_security(MYSQL_UID),
            },
        }
    if pitr_name:
        spec["pointInTimeRecoveryRef"] = {"name": pitr_name}
    maxscale.mariadb_overrides(cfg, name, spec)
    if replicas > 1:
        # One database pod per zone where the cluster has zones, per node at least.
        spec["affinity"] = {"antiAffinityEnabled": True}
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                # Production promises multi-zone: two database pods in one zone would lose
                # the zone's EBS volumes together. Staging may run in one zone.
                "whenUnsatisfiable": "DoNotSchedule" if cfg.is_production else "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
        ]
        spec["podDisruptionBudget"] = {"maxUnavailable": 1}
    return spec


def operator_values(cfg: StackConfig) -> dict[str, object]:
    """mariadb-operator chart values: every key exists in the chart's values.yaml."""
    ha = cfg.highly_available
    pod = kube.restricted_pod_security(65532)
    container = kube.restricted_container_security(65532)
    # Development (a laptop): smaller requests, the same limits.
    size = ContainerSize("50m", "128Mi", "256Mi") if ha else ContainerSize("10m", "48Mi", "256Mi")
    common = {
        "podSecurityContext": pod,
        "securityContext": container,
        "resources": kube.resource_values(size),
        "ha": {"enabled": ha, "replicas": 2 if ha else 1},
        "pdb": {"enabled": ha, "maxUnavailable": 1},
    }
    return {
        "crds": {"enabled": False},
        **common,
        "logLevel": "INFO",
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": False}},
        "webhook": {**common, "serviceMonitor": {"enabled": False}},
        "certController": {**common, "serviceMonitor": {"enabled": False}},
    }



# ------------------------------------------------------------------------------------------
# Keeping the point-in-time window moving
# ------------------------------------------------------------------------------------------

GUARD_LABEL = "mariadb-pitr-guard"


def _job_pod(
    name: str,
    container: dict[str, object],
    *,
    service_account: str | None = None,
    secret: pulumi.Input[str] | None = None,
    ca_bundle: str | None = None,
) -> dict[str, object]:
    """A CronJob's job template around one restricted container (no overlap, short history)."""
    return {
        "backoffLimit": 1,
        "activeDeadlineSeconds": 240,
        "ttlSecondsAfterFinished": 3600,
        "template": {
            "metadata": {"labels": {**kube.recommended_labels(name, "mariadb-backup"), DATA_STORE_LABEL: GUARD_LABEL}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": service_account is not None,
                **({"serviceAccountName": service_account} if service_account else {}),
                # These pods touch no data files: the platform's high UID, not mysql's.
                "securityContext": kube.restricted_pod_security(),
                # kubectl keeps its discovery cache under $HOME: a writable emptyDir.
                # Credentials are files from the Secret (read-only; group-readable for the pod's fsGroup), never env vars.
                "volumes": [
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    *([{"name": "secret", "secret": {"secretName": secret, "defaultMode": 0o440}}] if secret is not None else []),
                    *([{"name": "ca-bundle", "secret": {"secretName": ca_bundle, "defaultMode": 0o444}}] if ca_bundle else []),
                ],
                "containers": [
                    {
                        "imagePullPolicy": "IfNotPresent",
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            *([{"name": "secret", "mountPath": SECRET_DIR, "readOnly": True}] if secret is not None else []),
                            *([{"name": "ca-bundle", "mountPath": CA_BUNDLE_DIR, "readOnly": True}] if ca_bundle else []),
                        ],
                        "resources": kube.resource_values(ContainerSize("10m", "32Mi", "64Mi")),
                        "securityContext": kube.restricted_container_security(),
                        **container,
                    }
                ],
            },
        },
    }


def _cron_job(name: str, ns: pulumi.Input[str], minutes: int, job: dict[str, object], opts: pulumi.ResourceOptions) -> None:
    k8s.batch.v1.CronJob(
        name,
        metadata=kube.metadata(name, "mariadb-backup", ns),
        spec={
            "schedule": f"*/{minutes} * * * *",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 120,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": job},
        },
        opts=opts,
    )


SECRET_DIR = "/var/run/secrets/saas"
# The operator's trust bundle `<mariadb>-ca-bundle` (key ca.crt, v26.6.0
# api/v1alpha1/mariadb_keys.go TLSCABundleSecretKeyRef), mounted where TLS is required.
CA_BUNDLE_DIR = "/var/run/secrets/mariadb-ca"


def flush_binlogs_script(host: str, tls: bool = False) -> str:
    """Close the primary's binary log so the agent archives it. The root password goes from
    the mounted Secret into an option file on the pod's emptyDir (not argv, not env). With
    `tls`, the server must present a certificate of the operator's bundle for `host`
    (`require_secure_transport` refuses anything else)."""
    verify = f"--ssl --ssl-verify-server-cert --ssl-ca={CA_BUNDLE_DIR}/ca.crt " if tls else ""
    return "\n".join(
        [
            "set -eu",
            "umask 077",
            f"printf '[client]\\npassword=%s\\n' \"$(cat {SECRET_DIR}/root-password)\" > /tmp/client.cnf",
            f"exec mariadb --defaults-extra-file=/tmp/client.cnf --host={host} --user=root --connect-timeout=10 "
            f"{verify}--execute='FLUSH BINARY LOGS'",
        ]
    )


def primary_watch_script(name: str) -> str:
    """Trigger an on-demand full backup of `name` when its primary changed since the last one.

    `spec.schedule.onDemand`: a new identifier triggers a backup (v26.6.0 CRD
    physicalbackups.k8s.mariadb.com); the primary it was taken for is kept in an annotation
    the program never sets, so `pulumi up` and this job never fight over a field."""
    annotation = "saas-platform.io/backup-primary"
    return "\n".join(
        [
            "set -eu",
            f"primary=$(kubectl get mariadb {name} -o jsonpath='{{.status.currentPrimary}}')",
            '[ -n "$primary" ] || { echo "no current primary yet"; exit 0; }',
            f"last=$(kubectl get physicalbackup {physical_backup_name(name)} -o json | jq -r '.metadata.annotations[\"{annotation}\"] // \"\"')",
            '[ "$primary" = "$last" ] && exit 0',
            'if [ -n "$last" ]; then',
            '  echo "primary changed from $last to $primary: new base backup"',
            f"  kubectl patch physicalbackup {physical_backup_name(name)} --type merge "
            '-p "{\"spec\":{\"schedule\":{\"onDemand\":\"$primary-$(date -u +%Y%m%d%H%M%S)\"}}}"',
            "fi",
            f'kubectl annotate --overwrite physicalbackup {physical_backup_name(name)} "{annotation}=$primary"',
        ]
    )


def pitr_guard(name: str, ns: pulumi.Input[str], cfg: StackConfig, secret_name: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """Two CronJobs that keep instance `name`'s recoverable point within the RPO:

    - every BINLOG_FLUSH_MINUTES, `FLUSH BINARY LOGS` on the primary, so a quiet database's
      last writes are in a closed binlog the agent archives (only closed binlogs are: v26.6.0
      pkg/binlog/archiver.go:188-190);
    - every PRIMARY_WATCH_MINUTES, an on-demand full backup when the primary changed: binlog
      timelines do not cross a primary change (pkg/binlog/binlog.go:58-169), so the
      recoverable point would freeze until the next successful full backup.
    """
    flush = f"{name}-flush-binlogs"
    _cron_job(
        flush, ns, BINLOG_FLUSH_MINUTES,
        _job_pod(flush, {
            "name": "flush",
            "image": IMAGE,
            "command": ["/bin/sh", "-c", flush_binlogs_script(f"{name}-primary", tls=data_tls.enabled(cfg))],
        }, secret=secret_name, ca_bundle=f"{name}-ca-bundle" if data_tls.enabled(cfg) else None),
        opts,
    )
    watch = f"{name}-backup-on-failover"
    account = k8s.core.v1.ServiceAccount(
        watch, metadata=kube.metadata(watch, "mariadb-backup", ns), automount_service_account_token=False, opts=opts
    )
    role = k8s.rbac.v1.Role(
        watch,
        metadata=kube.metadata(watch, "mariadb-backup", ns),
        rules=[
            {"apiGroups": ["k8s.mariadb.com"], "resources": ["mariadbs"], "resourceNames": [name], "verbs": ["get"]},
            {
                "apiGroups": ["k8s.mariadb.com"], "resources": ["physicalbackups"],
                "resourceNames": [physical_backup_name(name)], "verbs": ["get", "patch"],
            },
        ],
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        watch,
        metadata=kube.metadata(watch, "mariadb-backup", ns),
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
        subjects=[{"kind": "ServiceAccount", "name": account.metadata.name, "namespace": ns}],
        opts=opts,
    )
    _cron_job(
        watch, ns, PRIMARY_WATCH_MINUTES,
        _job_pod(watch, {
            "name": "watch",
            "image": KUBECTL_IMAGE,
            "command": ["/bin/sh", "-c", primary_watch_script(name)],
            "env": [{"name": "HOME", "value": "/tmp"}],
        }, service_account=watch),
        opts,
    )


def prune_binlogs_script(prefix: str, retention_hours: int) -> str:
    """Delete archived binlogs older than `retention_hours` under `prefix` of $BUCKET.

    mariadb-operator v26.6.0 never deletes archived binlogs (pkg/binlog/archiver.go uploads
    only), while PhysicalBackup `maxRetention` prunes full backups: past the oldest kept full
    backup no restore can use a binlog, and on in-cluster storage they would fill the volumes."""
    return "\n".join(
        [
            "set -eu",
            "umask 077",
            # The backup key from the mounted Secret into the CLI's credentials file.
            f"printf '[default]\\naws_access_key_id = %s\\naws_secret_access_key = %s\\n' "
            f'"$(cat {SECRET_DIR}/access-key-id)" "$(cat {SECRET_DIR}/secret-access-key)" > /tmp/credentials',
            "export AWS_SHARED_CREDENTIALS_FILE=/tmp/credentials",
            f'cutoff=$(date -u -d "@$(( $(date +%s) - {retention_hours * 3600} ))" +%Y-%m-%dT%H:%M:%S)',
            'echo "deleting binlogs archived before $cutoff"',
            f'aws s3api list-objects-v2 --endpoint-url "$S3_ENDPOINT" --bucket "$BUCKET" --prefix "{prefix}/" '
            "--query \"Contents[?LastModified<'$cutoff'].Key\" --output text | tr '\\t' '\\n' |",
            "while read -r key; do",
            '  [ -z "$key" ] || [ "$key" = None ] && continue',
            '  aws s3api delete-object --endpoint-url "$S3_ENDPOINT" --bucket "$BUCKET" --key "$key"',
            "done",
        ]
    )


def binlog_pruner(
    name: str,
    ns: pulumi.Input[str],
    cfg: StackConfig,
    backups: S3Access,
    s3_secret: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    """A daily CronJob deleting instance `name`'s archived binlogs older than the backup
    retention plus a day (data-safety review #8)."""
    retention = int(cfg.data.backup_retention.rstrip("h")) + BINLOG_RETENTION_MARGIN_HOURS
    job = f"{name}-prune-binlogs"
    k8s.batch.v1.CronJob(
        job,
        metadata=kube.metadata(job, "mariadb-backup", ns),
        spec={
            "schedule": "30 4 * * *",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {**_job_pod(job, {
                "name": "prune",
                "image": AWS_CLI_IMAGE,
                "command": ["/bin/sh", "-c", prune_binlogs_script(f"{name}/binlogs", retention)],
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "S3_ENDPOINT", "value": backups.endpoint},
                    {"name": "BUCKET", "value": backups.bucket},
                    {"name": "AWS_DEFAULT_REGION", "value": backups.region},
                ],
                "resources": kube.resource_values(ContainerSize("10m", "64Mi", "256Mi")),
            }, secret=s3_secret), "activeDeadlineSeconds": 1800}},
        },
        opts=opts,
    )
