"""MariaDB MaxScale in front of the replicated MariaDB (medium and large tiers).

The seed asks for "Connection Pooling" and "Read Replicas: load distribution": the application
gets one database host, the `<instance>-maxscale` Service, and MaxScale's readwritesplit router
sends writes to the primary and reads to the replicas without any change to the application
(Laravel's `read`/`write` hosts both name MaxScale). Dev and the small tier stay direct
(`<instance>-primary` / `-secondary`); `data.maxscale` overrides the default.

Built on mariadb-operator v26.6.0's `MaxScale` custom resource (api/v1alpha1/maxscale_types.go);
the embedded `MariaDB.spec.maxScale` of older releases is gone (hack/migrate_maxscale_to_resource.sh),
so the MariaDB only carries `spec.maxScaleRef`.

Why `spec.servers` instead of `spec.mariaDbRef`: connection pooling is a *server* parameter
(`persistpoolmax`, `persistmaxtime`: MaxScale 23.08 Documentation/Getting-Started/
Configuration-Guide.md, "Server"), and the operator's webhook refuses `mariaDbRef` together with
`servers` on create (internal/webhook/v1alpha1/maxscale_webhook.go validateCreateServerSources),
while from a `mariaDbRef` it infers servers without parameters (internal/controller/
maxscale_controller.go setMariadbDefaults). So the servers are listed here with the addresses
the operator itself would infer (the pods behind `<instance>-internal`), and the MaxScale users
the operator would otherwise generate (reconcileAuth, monitorGrantOpts) are User/Grant objects
here with the same privileges.

Failover: the MariaDB's `maxScaleRef` hands primary failover and switchover to MaxScale (the
operator skips its own: internal/controller/pod_replication_controller.go shouldReconcile,
pkg/controller/replication/switchover.go shouldReconcileSwitchover, v26.6.0) and takes the
primary MaxScale reports for `status.currentPrimary` (mariadb_controller_status.go
getMaxScalePrimaryPod), so the `-primary` Service and the backup jobs follow MaxScale. The
MariaDB also states `replication.primary.autoFailover: false`, so exactly one thing promotes:
MaxScale's mariadbmon (`auto_failover`, cooperative locks between the MaxScale pods).

Licence: MaxScale 23.08 is BSL 1.1; production with three or more servers needs a MariaDB
subscription (components/config/data.py MaxScaleSection.licensed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.config import ContainerSize, StackConfig, maxscale_wanted
from components.data import tls as data_tls
from components.data.common import DATA_STORE_LABEL, service_host

TYPE = "saas-platform:index:MaxScale"
API_VERSION = "k8s.mariadb.com/v1alpha1"
# The operator's default MaxScale and exporter images, pinned as its chart 26.6.0 names them
# (deploy/charts/mariadb-operator/values.yaml config.maxscaleImage / exporterMaxscaleImage).
IMAGE = "docker.io/mariadb/maxscale:23.08.5"
EXPORTER_IMAGE = "docker.io/mariadb/maxscale-prometheus-exporter-ubi:v0.0.1"
# The readwritesplit listener: the port the application connects to (MariaDB's own).
PORT = 3306
# Admin REST API (the operator drives MaxScale through it; the exporter reads it). The GUI on
# the same port is off and has no Service (maxscale_types.go MaxScaleAdmin, guiKubernetesService).
ADMIN_PORT = 8989
EXPORTER_PORT = 9105
# The image's maxscale user and group (pkg/builder/statefulset_builder.go maxscaleUser/Group):
# /var/lib/maxscale on the config volume must belong to them.
UID, GID = 998, 996
SERVICE_NAME = "rw-router"
LISTENER_NAME = "rw-listener"
MONITOR_NAME = "mariadb-monitor"
# Store labels of the MaxScale pods and of its exporter Deployment (data namespace policies).
STORE = "maxscale"
EXPORTER_STORE = "maxscale-exporter"
# MaxScale's routing threads: the operator would use the CPU limit, or `auto` (every core of the
# node) without one (pkg/maxscale/config/defaults.go threads). Each thread has its own
# connection pool and persistpoolmax is rounded up to a multiple of them, so they are fixed.
THREADS = 2
# A pooled backend connection is dropped after this long unused (far below MariaDB's wait_timeout).
POOL_MAX_TIME = "300s"
# Reads may go to a replica at most this far behind (mariadbmon measures the lag).
MAX_REPLICATION_LAG = "10s"
# A transaction interrupted by a primary failure is replayed on the new primary within this
# window: longer than mariadbmon's detection (failcount x interval) plus promotion.
REPLAY_TIMEOUT = "30s"
MONITOR_INTERVAL = "2s"
FAILCOUNT = 5
OPERATOR_USER = "mariadb-operator"  # the admin REST API user the operator creates (auth.adminUsername default)
SIZE = ContainerSize("100m", "256Mi", "512Mi")
EXPORTER_SIZE = ContainerSize("20m", "32Mi", "64Mi")


# ------------------------------------------------------------------------------------------
# When MaxScale runs
# ------------------------------------------------------------------------------------------


def enabled(cfg: StackConfig) -> bool:
    return maxscale_wanted(cfg.raw)


def maxscale_name(instance: str) -> str:
    return f"{instance}-maxscale"


def pool_size(cfg: StackConfig) -> int:
    """`persistpoolmax` per server: a quarter of the application's connection demand, at least
    one connection per routing thread (the pool is per thread). 0 without MaxScale."""
    if not enabled(cfg):
        return 0
    from components.data.mariadb_base import app_connection_demand

    return max(THREADS, app_connection_demand(cfg) // 4)


def mariadb_overrides(cfg: StackConfig, instance: str, spec: dict[str, object]) -> None:
    """What the MariaDB spec says when MaxScale fronts it: `maxScaleRef` (failover delegated to
    MaxScale) and the operator's own automatic failover explicitly off."""
    if not enabled(cfg):
        return
    spec["maxScaleRef"] = {"name": maxscale_name(instance)}
    replication = spec.get("replication")
    if isinstance(replication, dict):
        replication["primary"] = {"autoFailover": False}


# ------------------------------------------------------------------------------------------
# The MaxScale custom resource
# ------------------------------------------------------------------------------------------


def server_address(instance: str, index: int, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    """The pod address the operator uses for server `index` (pkg/statefulset PodFQDNWithService
    with the `<instance>-internal` headless Service): MariaDB maps MaxScale's primary back to a
    pod by exactly this address (internal/controller/mariadb_controller_status.go podIndexForServer)."""
    return pulumi.Output.concat(f"{instance}-{index}.{instance}-internal.", namespace, ".svc.cluster.local")


def maxscale_spec(
    cfg: StackConfig,
    instance: str,
    namespace: pulumi.Input[str],
    secret_name: str,
    servers: int,
) -> dict[str, object]:
    """The whole `MaxScale` spec (one function: TLS and other extensions add their keys here)."""
    replicas = cfg.raw.data.maxscale.replicas
    pool = pool_size(cfg)
    selector = {"app.kubernetes.io/name": "maxscale", "app.kubernetes.io/instance": maxscale_name(instance)}
    pod_security = {**kube.restricted_pod_security(UID), "runAsGroup": GID, "fsGroup": GID}
    # Every path MaxScale writes (datadir on the config volume, piddir, logdir, cachedir) is a
    # volume of the operator's pod (pkg/builder/container_builder.go maxscaleVolumeMounts).
    container_security = {**kube.restricted_container_security(UID), "runAsGroup": GID}
    secret = lambda key: {"name": secret_name, "key": key}  # noqa: E731
    spec: dict[str, object] = {
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "replicas": replicas,
        "servers": [
            {
                "name": f"{instance}-{i}",
                "address": server_address(instance, i, namespace),
                "port": 3306,
                "protocol": "MariaDBBackend",
                "params": {
                    # The connection pool: PHP-FPM opens a connection per request; MaxScale keeps
                    # the backend connection and hands it, state restored, to the next session.
                    "persistpoolmax": str(pool),
                    "persistmaxtime": POOL_MAX_TIME,
                },
            }
            for i in range(servers)
        ],
        "monitor": {
            "name": MONITOR_NAME,
            "module": "mariadbmon",
            "interval": MONITOR_INTERVAL,
            **({"cooperativeMonitoring": "majority_of_all"} if replicas > 1 else {}),
            "params": {
                # MaxScale promotes a replica when the primary is gone (the MariaDB's own
                # autoFailover is off), rejoins the old primary as a replica when it returns.
                "auto_failover": "true",
                "auto_rejoin": "true",
                "failcount": str(FAILCOUNT),
                "switchover_on_low_disk_space": "true",
                # Replicas are read-only: a write that reaches one by mistake fails.
                "enforce_read_only_slaves": "true",
            },
        },
        "services": [
            {
                "name": SERVICE_NAME,
                "router": "readwritesplit",
                "params": {
                    # Reads a session makes after its own write wait for the replica to have it
                    # (MASTER_GTID_WAIT; needs session_track_system_variables with last_gtid).
                    "causal_reads": "local",
                    "max_replication_lag": MAX_REPLICATION_LAG,
                    # A failover is invisible to the app: transactions are replayed on the new
                    # primary (this turns on master_reconnection and delayed_retry).
                    "transaction_replay": "true",
                    "transaction_replay_timeout": REPLAY_TIMEOUT,
                    # One replica per session and connections only when used: backend connections
                    # stay at most one per server per session.
                    "max_slave_connections": "1",
                    "lazy_connect": "true",
                },
                "listener": {"name": LISTENER_NAME, "port": PORT, "protocol": "MariaDBProtocol"},
            }
        ],
        "admin": {"port": ADMIN_PORT, "guiEnabled": False},
        "config": {
            "params": {"threads": str(THREADS)},
            "volumeClaimTemplate": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "100Mi"}},
                **({"storageClassName": cfg.data.mariadb.storage_class} if cfg.data.mariadb.storage_class else {}),
            },
            **({"sync": {"database": "mysql", "interval": "5s", "timeout": "10s"}} if replicas > 1 else {}),
        },
        "auth": {
            # The users are this component's User/Grant objects (see the module docstring).
            "generate": False,
            "adminUsername": OPERATOR_USER,
            "adminPasswordSecretKeyRef": secret("admin-password"),
            "deleteDefaultAdmin": True,
            "metricsUsername": "metrics",
            "metricsPasswordSecretKeyRef": secret("metrics-password"),
            "serverUsername": USERS["server"],
            "serverPasswordSecretKeyRef": secret("server-password"),
            "monitorUsername": USERS["monitor"],
            "monitorPasswordSecretKeyRef": secret("monitor-password"),
            **({"syncUsername": USERS["sync"], "syncPasswordSecretKeyRef": secret("sync-password")} if replicas > 1 else {}),
        },
        "metrics": {
            "enabled": True,
            "exporter": {
                "image": EXPORTER_IMAGE,
                "port": EXPORTER_PORT,
                "resources": kube.resource_values(EXPORTER_SIZE),
                "podSecurityContext": kube.restricted_pod_security(),
                "securityContext": kube.restricted_container_security(),
                # Its own store label: the data namespace admits Prometheus to exporters only.
                "podMetadata": {"labels": {**kube.recommended_labels("maxscale", "maxscale"), DATA_STORE_LABEL: EXPORTER_STORE}},
            },
            "serviceMonitor": {"interval": "30s", "scrapeTimeout": "25s"},
        },
        "kubernetesService": {"type": "ClusterIP"},
        "resources": kube.resource_values(SIZE),
        "podSecurityContext": pod_security,
        "securityContext": container_security,
        "podMetadata": {"labels": {**kube.recommended_labels("maxscale", "maxscale"), DATA_STORE_LABEL: STORE}},
        "inheritMetadata": {"labels": kube.recommended_labels("maxscale", "maxscale")},
        "requeueInterval": "30s",
    }
    if data_tls.enabled(cfg):
        # TLS to the clients, the admin API and the MariaDB servers (components/data/tls.py).
        spec["tls"] = data_tls.maxscale_tls_spec(instance)
    if replicas > 1:
        spec["podDisruptionBudget"] = {"maxUnavailable": 1}
        # Not on the node of another MaxScale pod (the operator's anti-affinity default,
        # api/v1alpha1 AffinityConfig.SetDefaults), and spread over zones.
        spec["affinity"] = {"antiAffinityEnabled": True}
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
        ]
    return spec


# The MariaDB users MaxScale logs in as, and the privileges the operator grants them when it
# generates them (mariadb-operator v26.6.0 internal/controller/maxscale_controller.go reconcileAuth,
# monitorGrantOpts for mariadbmon): (user, database, table, privileges).
USERS = {"server": "maxscale-server", "monitor": "maxscale-monitor", "sync": "maxscale-sync"}
GRANTS: dict[str, list[tuple[str, str, list[str]]]] = {
    # The service user reads the user accounts to authenticate clients.
    "server": [("mysql", "*", ["SELECT"]), ("*", "*", ["SHOW DATABASES"])],
    # mariadbmon: monitoring, failover, switchover, rejoin (replication credentials included).
    "monitor": [("*", "*", [
        "BINLOG ADMIN", "CONNECTION ADMIN", "EVENT", "PROCESS", "READ_ONLY ADMIN", "RELOAD", "REPLICA MONITOR",
        "REPLICATION CLIENT", "REPLICATION SLAVE ADMIN", "REPLICATION SLAVE", "SELECT", "SET USER",
        "SHOW DATABASES", "SLAVE MONITOR", "SUPER",
    ])],
    # Configuration sync between MaxScale pods (CREATE: the table does not exist before).
    "sync": [("mysql", "maxscale_config", ["SELECT", "INSERT", "UPDATE", "CREATE", "DROP"])],
}


@dataclass(frozen=True)
class MaxScaleArgs:
    """Inputs of one MaxScale.

    config: resolved stack config. instance: the MariaDB it fronts. namespace: the data namespace
    servers: MariaDB pods.
    operator: the mariadb-operator release (CRD and webhook). mariadb: the MariaDB object (the
    users need it; the MaxScale itself must not wait for it: the MariaDB is Ready only once the
    MaxScale it references exists, mariadb_controller_status.go reconcileStatus).
    """

    config: StackConfig
    instance: str
    namespace: pulumi.Input[str]
    servers: int
    operator: pulumi.Resource
    mariadb: pulumi.Resource


class MaxScale(pulumi.ComponentResource):
    """The MaxScale custom resource, its credentials and the MariaDB users it logs in as."""

    host: pulumi.Output[str]
    """FQDN of the MaxScale Service: the application's only database host."""
    ready: list[pulumi.Resource]

    def __init__(self, name: str, args: MaxScaleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg, ns, instance = args.config, args.namespace, args.instance
        mxs = maxscale_name(instance)
        child = pulumi.ResourceOptions(parent=self)
        # Not protected (unlike the application's password): they retire with their MaxScale when
        # a restore is finished, and nothing outside the data namespace reads them.
        secret_opts = child
        keys = ["admin-password", "metrics-password", *(f"{role}-password" for role in USERS)]
        passwords = {
            key: random.RandomPassword(f"{mxs}-{key}", length=32, special=False, opts=secret_opts).result for key in keys
        }
        secret = k8s.core.v1.Secret(
            f"{mxs}-credentials",
            metadata=kube.metadata(f"{mxs}-credentials", "maxscale", ns, app="maxscale"),
            type="Opaque",
            string_data=passwords,
            opts=child,
        )
        self._users(args, mxs, secret.metadata.name, cfg.raw.data.maxscale.replicas)
        from components.data.mariadb_base import WAIT_READY  # the engine awaits the Ready condition

        resource = k8s.apiextensions.CustomResource(
            mxs,
            api_version=API_VERSION,
            kind="MaxScale",
            metadata=kube.metadata(mxs, "maxscale", ns, app="maxscale", annotations=WAIT_READY),
            spec=maxscale_spec(cfg, instance, ns, mxs + "-credentials", args.servers),
            # Neither on the MariaDB nor on the users (which wait for it): the MariaDB turns Ready
            # only once this object exists (see MaxScaleArgs), so waiting for it would never end.
            # MaxScale's monitor retries until the users are there.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.operator, secret]),
        )
        self.ready = [resource]
        self.host = service_host(mxs, ns)
        self.register_outputs({"host": self.host})

    def _users(self, args: MaxScaleArgs, mxs: str, secret_name: pulumi.Input[str], replicas: int) -> Sequence[pulumi.Resource]:
        from components.data.mariadb_base import API_VERSION as MARIADB_API, WAIT_READY

        out: list[pulumi.Resource] = []
        ref = {"name": args.instance, "waitForIt": True}
        # Connections per user: the operator's default (30 per MaxScale pod, maxscale_types.go defaultConnections).
        connections = 30 * replicas
        keep = pulumi.ResourceOptions(parent=self, depends_on=[args.mariadb])
        for role, username in USERS.items():
            if role == "sync" and replicas < 2:
                continue
            user = k8s.apiextensions.CustomResource(
                f"{mxs}-user-{role}",
                api_version=MARIADB_API,
                kind="User",
                metadata=kube.metadata(f"{mxs}-{role}", "maxscale", args.namespace, app="maxscale", annotations=WAIT_READY),
                spec={
                    "mariaDbRef": ref,
                    "name": username,
                    "host": "%",
                    "passwordSecretKeyRef": {"name": secret_name, "key": f"{role}-password"},
                    "maxUserConnections": connections,
                    # Never DROP USER under a running MaxScale when this object leaves the
                    # program (finishing a restore): tests/test_data_safety.py.
                    "cleanupPolicy": "Skip",
                },
                opts=keep,
            )
            out.append(user)
            for index, (database, table, privileges) in enumerate(GRANTS[role]):
                out.append(k8s.apiextensions.CustomResource(
                    f"{mxs}-grant-{role}-{index}",
                    api_version=MARIADB_API,
                    kind="Grant",
                    metadata=kube.metadata(f"{mxs}-{role}-{index}", "maxscale", args.namespace, app="maxscale", annotations=WAIT_READY),
                    spec={
                        "mariaDbRef": ref,
                        "privileges": privileges,
                        "database": database,
                        "table": table,
                        "username": username,
                        "host": "%",
                        "grantOption": False,
                        "cleanupPolicy": "Skip",
                    },
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[user]),
                ))
        return out
