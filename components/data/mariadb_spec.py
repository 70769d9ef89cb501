"""The `MariaDB` custom resource's spec, its my.cnf and the operator chart's values.

Why the probe thresholds and the failover delay: see their constants in mariadb_base.py.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.data import maxscale
from components.data import tls as data_tls
from components.config.backup_timing import LIVENESS_PERIOD_SECONDS, liveness_failures, quantity_mib
from components.data.common import DATA_STORE_LABEL
from components.data.mariadb_base import (
    AUTO_FAILOVER_DELAY,
    EXPORTER_IMAGE,
    EXPORTER_PORT,
    EXPORTER_STORE,
    IMAGE,
    MYSQL_UID,
    OPERATOR_IMAGE,
    PORT,
    PROBE_PERIOD_SECONDS,
    READINESS_FAILURES,
    app_connection_demand,
    is_replicated,
    physical_backup_name,
)

# Small enough that a busy database closes (and so archives) a binlog well within the hour.
MAX_BINLOG_SIZE_MB = 64
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
