"""MariaDB through mariadb-operator: replication, backups, point-in-time recovery, app credentials.

One `MariaDB` with asynchronous replication (primary + replicas per tier, automatic failover);
the operator creates the `<name>-primary` and `<name>-secondary` Services the backend uses for
its read/write split. Outside development a scheduled `PhysicalBackup` (mariadb-backup to S3)
is the full base backup of a `PointInTimeRecovery` that archives closed binary logs; the
MariaDB references it, so its agent sidecar uploads every binlog the server closes.

Restore is configuration: `data.mariadb.restore.targetTime` renders a *new* MariaDB (named
after the target time, so it gets fresh volumes) bootstrapped from the point-in-time archive of
the current one; the endpoints move to it. In production the old instance stays in the cluster
(`protect` + `retainOnDelete`) until someone removes it on purpose; elsewhere the object goes
but its volumes stay (`pvcRetentionPolicy: Retain`), and the archive in S3 is untouched.

Why the numbers: only closed binlogs are archived and `max_binlog_size` defaults to 1 GB, so a
quiet database could go days without closing one. Hourly full physical backups bound the RPO
to 1 hour whatever the write rate, and a 64 MB binlog size makes busy databases archive far
more often than that.
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
from components.config import ContainerSize, StackConfig
from components.contracts import MariaDBEndpoints, S3Access
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
MY_CNF_TEMPLATE = Path(__file__).resolve().parent.parent / "files" / "my.cnf.tmpl"


# ------------------------------------------------------------------------------------------
# my.cnf
# ------------------------------------------------------------------------------------------

_UNITS_MIB = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}


def quantity_mib(quantity: str) -> int:
    """`2Gi` -> 2048. Only the binary units our config accepts."""
    match = re.fullmatch(r"([1-9][0-9]*)(Mi|Gi|Ti)", quantity)
    if not match:
        raise ValueError(f"unsupported quantity {quantity!r}")
    return int(match.group(1)) * _UNITS_MIB[match.group(2)]


def render_my_cnf(memory_limit: str, *, max_binlog_size_mb: int = MAX_BINLOG_SIZE_MB) -> str:
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
        max_connections=max(100, min(1000, limit // 8)),
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


def instance_name(restore_target: str | None) -> str:
    """`mariadb`, or `mariadb-r<UTC stamp>` for an instance restored to that time."""
    if not restore_target:
        return BASE_NAME
    return f"{BASE_NAME}-r" + re.sub(r"[^0-9]", "", restore_target)


class MariaDB(pulumi.ComponentResource):
    """mariadb-operator (CRDs + controller) and the application's replicated MariaDB."""

    endpoints: MariaDBEndpoints
    instance: pulumi.Output[str]
    """Name of the MariaDB object serving the application."""

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
        after_operator = pulumi.ResourceOptions(parent=self, depends_on=[operator])

        # ---- credentials ---------------------------------------------------------------
        root_password = random.RandomPassword("mariadb-root-password", length=32, special=False, opts=child)
        app_password = random.RandomPassword("mariadb-app-password", length=32, special=False, opts=child)
        credentials = k8s.core.v1.Secret(
            "mariadb-credentials",
            metadata=kube.metadata("mariadb-credentials", "mariadb", ns, app=BASE_NAME),
            type="Opaque",
            string_data={"root-password": root_password.result, "app-password": app_password.result},
            opts=child,
        )
        secret_name = credentials.metadata.name

        name = instance_name(data.restore_target)
        backup_objects: list[pulumi.Resource] = []
        pitr_name: str | None = None
        if data.backups_enabled:
            after_storage = pulumi.ResourceOptions.merge(
                after_operator, pulumi.ResourceOptions(depends_on=list(args.backup_dependencies))
            )
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

            if data.restore_target:
                # The archive the restore reads: the original instance's, kept as it was but
                # no longer scheduling backups (its database is not the one in service).
                source = self._backup_pair(BASE_NAME, ns, cfg, storage, after_storage, suspended=True)
                backup_objects += source
            backup_objects += self._backup_pair(name, ns, cfg, storage, after_storage, suspended=False)
            pitr_name = pitr_name_of(name)

        spec = mariadb_spec(cfg, name, secret_name, pitr_name)
        if data.restore_target:
            spec["bootstrapFrom"] = {
                "pointInTimeRecoveryRef": {"name": f"{BASE_NAME}-pitr"},
                "targetRecoveryTime": data.restore_target,
            }
        mariadb = k8s.apiextensions.CustomResource(
            name,
            api_version=API_VERSION,
            kind="MariaDB",
            metadata=kube.metadata(name, "mariadb", ns, app=BASE_NAME),
            spec=spec,
            opts=pulumi.ResourceOptions.merge(
                stateful, pulumi.ResourceOptions(depends_on=[operator, credentials, *backup_objects])
            ),
        )

        # ---- the application's schema, user and grant ----------------------------------
        ref = {"name": name, "waitForIt": True}
        after_db = pulumi.ResourceOptions(parent=self, depends_on=[mariadb])
        database = k8s.apiextensions.CustomResource(
            f"{name}-database-app",
            api_version=API_VERSION,
            kind="Database",
            metadata=kube.metadata(f"{name}-{APP_DATABASE}", "mariadb", ns, app=BASE_NAME),
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
        user = k8s.apiextensions.CustomResource(
            f"{name}-user-app",
            api_version=API_VERSION,
            kind="User",
            metadata=kube.metadata(f"{name}-{APP_USER}", "mariadb", ns, app=BASE_NAME),
            spec={
                "mariaDbRef": ref,
                "name": APP_USER,
                "host": "%",
                "passwordSecretKeyRef": {"name": secret_name, "key": "app-password"},
                "maxUserConnections": 200,
                "cleanupPolicy": "Delete",
            },
            opts=after_db,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-grant-app",
            api_version=API_VERSION,
            kind="Grant",
            metadata=kube.metadata(f"{name}-{APP_USER}-{APP_DATABASE}", "mariadb", ns, app=BASE_NAME),
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
                "cleanupPolicy": "Delete",
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[database, user]),
        )

        self.instance = pulumi.Output.from_input(name)
        self.endpoints = MariaDBEndpoints(
            primary_host=service_host(f"{name}-primary", ns),
            replica_host=service_host(f"{name}-secondary", ns),
            port=PORT,
            database=APP_DATABASE,
            username=APP_USER,
            password=pulumi.Output.secret(app_password.result),
        )
        self.register_outputs({"instance": self.instance, "primaryHost": self.endpoints.primary_host})

    def _backup_pair(
        self,
        name: str,
        ns: pulumi.Input[str],
        cfg: StackConfig,
        storage: StorageFor,
        opts: pulumi.ResourceOptions,
        *,
        suspended: bool,
    ) -> list[pulumi.Resource]:
        """The scheduled full PhysicalBackup of instance `name` and the PointInTimeRecovery
        that archives its binlogs on top of it (each under its own prefix of the bucket)."""
        data = cfg.data
        stateful = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=cfg.protect, retain_on_delete=cfg.protect))
        backup = k8s.apiextensions.CustomResource(
            physical_backup_name(name),
            api_version=API_VERSION,
            kind="PhysicalBackup",
            metadata=kube.metadata(physical_backup_name(name), "mariadb-backup", ns, app=BASE_NAME),
            spec={
                "mariaDbRef": {"name": name, "waitForIt": True},
                "schedule": {"cron": data.backup_schedule, "suspend": suspended, "immediate": not suspended},
                "maxRetention": data.backup_retention,
                "compression": "gzip",
                # Take the backup on a replica when there is one, so the primary keeps serving.
                "target": "PreferReplica",
                "storage": {"s3": storage(f"{name}/physical")},
                "timeout": "50m",
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
                "strictMode": False,
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


def mariadb_spec(cfg: StackConfig, name: str, secret_name: pulumi.Input[str], pitr_name: str | None) -> dict[str, object]:
    data = cfg.data
    replicas = 1 + cfg.replicas.database_replicas
    # Replication is what point-in-time recovery builds on (binlogs), so any stack with
    # backups runs the replication topology, even with a single instance.
    replicated = data.backups_enabled or replicas > 1
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
        "myCnf": render_my_cnf(memory),
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
    if replicated:
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
            "primary": {"autoFailover": True, "autoFailoverDelay": "30s"},
            "replica": replica,
            "gtidStrictMode": True,
            # Semi-sync waits for a replica's ACK on every commit (on by default,
            # mariadb_replication_types.go IsSemiSyncEnabled, v26.6.0): with no replica pod
            # (a single instance replicated only for binlog archiving) every commit would
            # wait for the ACK timeout before falling back to async.
            "semiSyncEnabled": replicas > 1,
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
    if replicas > 1:
        # One database pod per zone where the cluster has zones, per node at least.
        spec["affinity"] = {"antiAffinityEnabled": True}
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
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

