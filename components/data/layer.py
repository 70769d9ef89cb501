"""DataLayer: the stateful services the application uses (part 1: MariaDB and Redis).

The operators run in their own namespace (`saas-operators`: default-deny, DNS, Kubernetes API,
their webhook and metrics); the databases in the data namespace, where NetworkPolicies owned
in network.py let the application namespace reach MariaDB and Redis on their ports, the monitoring
namespace scrape the exporters, the operators manage the pods, and data pods talk to each
other (replication, Sentinel, backups). Each store is its own child component in
`components/data/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.platform import scraping
from components.platform.network import DATA_CLIENT, PROMETHEUS_POD, isolated_namespace
from components.config import StackConfig
from components.contracts import MariaDBEndpoints, MiddlewareRef, RedisClusterEndpoints, RedisEndpoints, S3Access
from components.data import mariadb_base as mariadb_store
from components.data import redis as redis_store
from components.data import tls as data_tls
from components.data.common import DATA_STORE_LABEL
from components.data.drills import DrillArgs, MariaDBDrill
from components.data.mariadb import MariaDB, MariaDBArgs
from components.data.network import data_network_policies, operator_namespace
from components.data.rabbitmq import CLUSTER_NAME as RABBITMQ_CLUSTER, RabbitMQ, RabbitMQArgs
from components.data.redis import Redis, RedisArgs
from components.data import redis_cache
from components.data.redis_cache import NAME as redis_cache_name, CacheStoreArgs, cache_store
from components.data.redis_cluster import cache_cluster

TYPE = "saas-platform:index:DataLayer"
OPERATORS_NAMESPACE = "saas-operators"


@dataclass(frozen=True)
class DataLayerArgs:
    """Inputs of DataLayer.

    config: resolved stack config (tiers, data sizing, backups, restore target).
    namespace: the data namespace (`platform.namespaces["data"]`).
    backups: bucket, endpoint and credentials for database backups and binlog archives.
    backup_dependencies: what serves the backups bucket (ObjectStorage.ready).
    clients_namespace: the namespace whose pods may connect (`platform.namespaces["app"]`).
    monitoring_namespace: the namespace whose Prometheus scrapes the exporters.
    admin_guard: the platform middleware in front of the RabbitMQ management UI.
    peers: namespace per concern (`platform.namespaces`) for RabbitMQ's network policies.
    queue_dependencies: what the RabbitMQ topology operator needs first (cert-manager).
    traefik_crds / monitoring_crds: the releases installing the IngressRoute and
        ServiceMonitor CRDs the stores use.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    backups: S3Access
    clients_namespace: pulumi.Input[str]
    monitoring_namespace: pulumi.Input[str]
    admin_guard: MiddlewareRef
    peers: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    queue_dependencies: Sequence[pulumi.Resource] = ()
    traefik_crds: Sequence[pulumi.Resource] = ()
    monitoring_crds: Sequence[pulumi.Resource] = ()
    backup_dependencies: Sequence[pulumi.Resource] = ()


class DataLayer(pulumi.ComponentResource):
    """MariaDB, Redis and RabbitMQ with their operators, credentials and network policies."""

    mariadb: MariaDBEndpoints
    """Primary/replica hosts, port, schema, user and (secret) password of the application DB."""
    redis: RedisEndpoints
    """Sentinel and master hosts, ports, master name and (secret) password of Redis."""
    redis_cache: RedisEndpoints | None
    """The same for the application cache's own Redis (`redis-cache`, components/data/redis_cache.py)."""
    redis_cache_cluster: RedisClusterEndpoints | None
    """Instead, in the large tier: the cache's Redis Cluster (components/data/redis_cluster.py)."""
    rabbitmq: RabbitMQ
    """The message broker: `connection_url` (secret), host, port, vhost, queues, dead-letter queue."""
    operators_namespace: pulumi.Output[str]
    tls_client: "data_tls.DataTLSClient | None"
    """What the applications need to verify the stores (`data.tls`), None when it is off."""
    ready: list[pulumi.Resource]
    """Custom resources whose readiness the engine awaits (MariaDB, its Database/User/Grant,
    the RedisReplication) plus the RedisSentinel: what the migration Job depends on."""

    def __init__(self, name: str, args: DataLayerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        operators = operator_namespace(
            OPERATORS_NAMESPACE, args.namespace, args.monitoring_namespace, args.config.raw.network.apiServerCidrs, child
        )
        volume_class = data_storage_class(args.config, child)
        # Encryption in transit (`data.tls`): the data CA and the stores' certificates first.
        tls = data_tls.DataTLS(
            "data-tls",
            data_tls.DataTLSArgs(
                cert_manager_namespace=args.peers["cert-manager"],
                data_namespace=args.namespace,
                client_namespace=args.clients_namespace,
                redis_replication=redis_store.NAME,
                rabbitmq_cluster=RABBITMQ_CLUSTER,
                depends_on=args.queue_dependencies,
                # The cache's store mounts `redis-tls` too: its hosts are on the certificate.
                redis_cache_replication=redis_cache_name if args.config.data.redis_cache is not None
                and not args.config.data.redis_cache_shards else None,
                redis_cache_cluster=redis_cache_name if args.config.data.redis_cache_shards else None,
            ),
            opts=child,
        ) if data_tls.enabled(args.config) and "cert-manager" in args.peers else None
        self.tls_client = tls.client if tls else None
        store_options = pulumi.ResourceOptions(
            parent=self, depends_on=[operators, *([volume_class] if volume_class else []), *([tls.issuer] if tls else [])]
        )
        database = MariaDB(
            "mariadb",
            MariaDBArgs(
                args.config, args.namespace, operators.metadata.name, args.backups,
                backup_dependencies=args.backup_dependencies,
            ),
            opts=store_options,
        )
        cache = Redis(
            "redis",
            RedisArgs(args.config, args.namespace, operators.metadata.name, tls_dependencies=[tls.redis] if tls else ()),
            opts=store_options,
        )
        # Laravel's cache on its own evicting Redis (a Redis Cluster in the large tier); queues,
        # sessions and locks stay on `redis`.
        shared = CacheStoreArgs(
            args.config, args.namespace, cache.secret_ref, cache.revision, cache.password, cache.dependencies,
            sentinel_tls_config=cache.sentinel_tls_config,
        )
        self.redis_cache: RedisEndpoints | None = None
        self.redis_cache_cluster: RedisClusterEndpoints | None = None
        cache_ready: list[pulumi.Resource] = []
        if args.config.data.redis_cache_shards:
            self.redis_cache_cluster, cache_ready = cache_cluster(shared, parent=cache)
        elif args.config.data.redis_cache is not None:
            self.redis_cache, cache_ready = cache_store(shared, parent=cache)
        self.rabbitmq = RabbitMQ(
            "rabbitmq",
            RabbitMQArgs(
                config=args.config,
                namespace=args.namespace,
                admin_guard=args.admin_guard,
                peers=args.peers,
                depends_on=args.queue_dependencies,
                traefik_crds=args.traefik_crds,
                monitoring_crds=args.monitoring_crds,
                tls_dependencies=[tls.rabbitmq] if tls else (),
            ),
            opts=child,
        )
        data_network_policies(
            args.config, args.namespace, args.clients_namespace, args.monitoring_namespace, operators.metadata.name, child
        )
        if args.monitoring_crds:
            # The redis-exporter sidecars (the operator names their port `redis-exporter`).
            scraping.pod_monitor(
                "redis", args.namespace, component="redis", selector={"app": redis_store.NAME},
                port="redis-exporter", crds=args.monitoring_crds[0], parent=self,
            )
            # The cache's pods, replication or cluster (leaders and followers): the CR's labels.
            if cache_ready:
                scraping.pod_monitor(
                    redis_cache.NAME, args.namespace, component="redis",
                    selector={"app.kubernetes.io/name": redis_cache.NAME, DATA_STORE_LABEL: "redis"},
                    port="redis-exporter", crds=args.monitoring_crds[0], parent=self,
                )
            # The operators' own metrics (reconcile errors, work queues): port `metrics` in
            # mariadb-operator 26.6.0 deploy/charts/mariadb-operator/templates/operator/deployment.yaml
            # and redis-operator chart (0bc34813) templates/operator-deployment.yaml.
            scraping.pod_monitor(
                "mariadb-operator", operators.metadata.name, component="mariadb-operator",
                selector=mariadb_store.OPERATOR_POD, port="metrics", crds=args.monitoring_crds[0], parent=self,
            )
            scraping.pod_monitor(
                "redis-operator", operators.metadata.name, component="redis-operator",
                selector=redis_store.OPERATOR_POD, port="metrics", crds=args.monitoring_crds[0], parent=self,
            )

        if args.config.data.drills is not None:
            MariaDBDrill(
                "mariadb-drill",
                DrillArgs(
                    args.config, args.namespace, database.instance_name, database.credentials_name,
                    args.monitoring_namespace, args.monitoring_crds, depends_on=database.ready[:1],
                ),
                opts=child,
            )

        self.mariadb = database.endpoints
        self.ready = [*database.ready, *cache.ready, *cache_ready]
        self.redis = cache.endpoints
        self.operators_namespace = operators.metadata.name
        self.register_outputs(
            {
                "mariadbPrimaryHost": self.mariadb.primary_host,
                "redisSentinelHost": self.redis.sentinel_host,
                "rabbitmqHost": self.rabbitmq.host,
                "operatorsNamespace": self.operators_namespace,
            }
        )


def data_storage_class(cfg: StackConfig, opts: pulumi.ResourceOptions) -> k8s.storage.v1.StorageClass | None:
    """The `saas-data` StorageClass of the stores' volumes (staging and production).

    `allowVolumeExpansion`: a size increase (tier change, `data.mariadb.storage`) is an online
    resize. On a class without it the PVC patch is Forbidden and mariadb-operator stays in
    "Resizing storage", skipping failover, backups and binlog archival until someone notices
    (v26.6.0 internal/controller/mariadb_controller_storage.go:37-156). `Retain`: a deleted
    claim (namespace deletion, `pulumi destroy`) leaves the volume. WaitForFirstConsumer: the
    volume is created in the zone the pod is scheduled to.
    """
    volume_class = cfg.data.volume_class
    if volume_class is None:
        return None
    return k8s.storage.v1.StorageClass(
        volume_class.name,
        metadata=kube.metadata(volume_class.name, "storage"),
        provisioner=volume_class.provisioner,
        parameters=dict(volume_class.parameters) or None,
        allow_volume_expansion=True,
        reclaim_policy="Retain",
        volume_binding_mode="WaitForFirstConsumer",
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=cfg.protect, retain_on_delete=True)),
    )
