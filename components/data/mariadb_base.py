"""What every part of the MariaDB store shares: the operator's pins and API, images, ports,
the application's schema and user, object names, the connection demand the server is sized for.

The component (mariadb.py), its custom resource spec (mariadb_spec.py), backups (backups.py),
the jobs that keep the point-in-time window moving (maintenance.py), MaxScale and the restore
drill import this module; it imports none of them.
"""

from __future__ import annotations

from components.platform.charts import ChartPin
from components.config import StackConfig, php_max_children, restore_instance_name
from components.config.backup_timing import quantity_mib
from components.k8s import mebibytes

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
GUARD_LABEL = "mariadb-pitr-guard"
SECRET_DIR = "/var/run/secrets/saas"
# The operator's trust bundle `<mariadb>-ca-bundle` (key ca.crt, v26.6.0
# api/v1alpha1/mariadb_keys.go TLSCABundleSecretKeyRef), mounted where TLS is required.
CA_BUNDLE_DIR = "/var/run/secrets/mariadb-ca"


def instance_name(restore_target: str | None, serving: str = BASE_NAME) -> str:
    """The MariaDB the application uses: `serving`, or `mariadb-r<UTC stamp>` while a restore
    to that time is configured."""
    return restore_instance_name(restore_target) if restore_target else serving


def app_connection_demand(cfg: StackConfig) -> int:
    """Connections the application can open at full scale: every web pod's php-fpm children,
    one per worker, plus the scheduler, Reverb, a migration Job and 10 % headroom."""
    php = cfg.raw.backend.php
    children = php_max_children(mebibytes(cfg.sizes.backend.memory_limit), php.workerMemoryMb)
    demand = cfg.replicas.backend.max * children + cfg.replicas.workers.max + 3
    return max(50, demand + demand // 10)


# pulumi-kubernetes >= 4.18 (v4.32.0 provider/pkg/metadata/overrides.go ReadyCondition): the
# engine awaits the operator's Ready condition (mariadb-operator v26.6.0 CRDs print
# `.status.conditions[?(@.type=="Ready")]`), so what depends on these CRs waits for a usable
# database, schema, user and grant rather than for the objects to be accepted.
WAIT_READY = {"pulumi.com/waitFor": "condition=Ready"}


def physical_backup_name(instance: str) -> str:
    """The scheduled PhysicalBackup of an instance; its Jobs are `<this>-<timestamp>`
    (mariadb-operator v26.6.0 internal/controller/physicalbackup_controller.go getObjectName),
    which the MariaDBBackupTooOld alert matches."""
    return f"{instance}-physical"


def pitr_name_of(instance: str) -> str:
    return f"{instance}-pitr"



def is_replicated(cfg: StackConfig) -> bool:
    """Replication is what point-in-time recovery builds on (binlogs), so any stack with
    backups runs the replication topology, even with a single instance."""
    return cfg.data.backups_enabled or cfg.replicas.database_replicas > 0



def staging_storage(cfg: StackConfig) -> dict[str, object]:
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
