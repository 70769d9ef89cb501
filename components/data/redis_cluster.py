"""The large tier's application cache on a Redis Cluster (redis-operator `RedisCluster`).

The architecture overview's "Cache: Redis cluster": where one master's memory and CPU no longer
hold the cache, it is sharded over `data.redisCache.shards` leaders, each with one follower,
while queues, sessions and locks stay on the Sentinel replication (`redis`, noeviction), whose
ordering and single-key semantics the queue relies on. Same operator, same image, the same
password Secret and the cache's `allkeys-lru` conf (components/files/redis-cache.conf) plus the
cluster lines below.

What redis-operator v0.26.0 builds from the CR (read at that tag):

- StatefulSets `<name>-leader` and `<name>-follower` (internal/k8sutils/redis-cluster.go
  CreateRedisLeader/CreateRedisFollower): the pod security context is `spec.podSecurityContext`,
  the redis container's `spec.redisLeader.securityContext` / `spec.redisFollower.securityContext`,
  the exporter's `spec.redisExporter.securityContext` (generateRedisClusterContainerParams);
  extra redis.conf lines per role from `redisLeader/redisFollower.redisConfig.additionalRedisConfig`.
- Services `<name>-leader`, `-leader-headless`, `-leader-additional` (and the same for followers)
  plus `<name>-master`, all on the client port; the cluster bus is the client port + 10000
  (`busPort`, redis-cluster.go CreateRedisClusterService), which the nodes use to gossip and fail
  over among themselves.
- `.status.state` `Ready` once every leader and follower is ready and the cluster check passes
  (internal/controller/rediscluster/rediscluster_controller.go); the engine awaits it.
- `rediscluster_healthy{namespace,instance}` on the operator's metrics port
  (internal/monitoring/rediscluster.go), set to 0 before and to 1 after a successful cluster
  health check (rediscluster_controller.go:402-407).

Laravel (framework v12.67.0) reaches it as a `clusters` connection (src/Illuminate/Redis/
RedisManager.php resolve/resolveCluster), predis following MOVED/ASK redirects; RedisStore
splits `many`/`putMany` per key for cluster connections (src/Illuminate/Cache/RedisStore.php).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.contracts import RedisClusterEndpoints
from components.data import redis as durable
from components.data import redis_cache
from components.data import tls as data_tls
from components.data.common import DATA_STORE_LABEL, service_host
from components.data.redis_cache import CacheStoreArgs

NAME = redis_cache.NAME
# redis-operator v0.26.0 redis-cluster.go: the bus port is the client port + 10000.
BUS_PORT = durable.PORT + 10000
CLUSTER_VERSION = "v7"  # the CRD's default; the image is Redis 7.0


def render_cluster_conf(cfg: StackConfig | None = None) -> str:
    """The cache conf plus the lines a cache cluster needs (and, with `data.tls`, its TLS lines)."""
    tls = data_tls.redis_cluster_tls_conf() if cfg is not None and data_tls.enabled(cfg) else ""
    return redis_cache.render_cache_conf() + tls + (
        "\n# Rendered for the Redis Cluster (components/data/redis_cluster.py): a shard without a\n"
        "# master leaves the other shards serving (cache misses there, not a whole cache down).\n"
        "cluster-require-full-coverage no\n"
        "cluster-allow-reads-when-down no\n"
    )


def _role(cfg: StackConfig, shards: int, config_map: pulumi.Input[str], role: str) -> dict[str, object]:
    """`redisLeader` / `redisFollower`: replicas, conf, container security, spread, PDB."""
    selector = {"app.kubernetes.io/name": NAME, "role": role}
    return {
        "replicas": shards,
        "redisConfig": {"additionalRedisConfig": config_map},
        "securityContext": {
            **kube.restricted_container_security(durable.REDIS_UID, read_only_root=False),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # One node of each role per zone where there are zones: losing a zone costs at most one
        # leader, whose follower (placed elsewhere by the same spread) takes over.
        "topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule" if cfg.is_production else "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        }],
        "pdb": {"enabled": True, "maxUnavailable": 1},
    }


def cluster_spec(
    cfg: StackConfig,
    shards: int,
    secret_ref: dict[str, pulumi.Input[str]],
    config_map: pulumi.Input[str],
    revision: pulumi.Input[str] | None = None,
) -> dict[str, object]:
    """The RedisCluster spec: `shards` leaders and as many followers, no volumes (a cache is
    rebuilt), the restricted security contexts the durable store's pods have."""
    sizing = cfg.data.redis_cache
    assert sizing is not None, "resolve_config always sets data.redis_cache"
    return {
        "clusterSize": shards,
        "clusterVersion": CLUSTER_VERSION,
        "persistenceEnabled": False,
        "port": durable.PORT,
        **({"env": [{"name": "REDIS_PASSWORD_REVISION", "value": revision}]} if revision is not None else {}),
        "kubernetesConfig": {
            "image": durable.REDIS_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "resources": kube.resource_values(ContainerSize(sizing.cpu, sizing.memory, sizing.memory)),
            "redisSecret": secret_ref,
        },
        # maxmemory below the limit: room for replication buffers and a full sync's fork.
        "redisConfig": {"maxMemoryPercentOfLimit": 70},
        "redisLeader": _role(cfg, shards, config_map, "leader"),
        "redisFollower": _role(cfg, shards, config_map, "follower"),
        "redisExporter": {
            "enabled": True,
            "image": durable.EXPORTER_IMAGE,
            "port": durable.EXPORTER_PORT,
            "resources": kube.resource_values(ContainerSize("25m", "32Mi", "64Mi")),
            "securityContext": {
                **kube.restricted_container_security(durable.REDIS_UID), "seccompProfile": {"type": "RuntimeDefault"},
            },
        },
        "podSecurityContext": kube.restricted_pod_security(durable.REDIS_UID),
        # `data.tls`: redis-operator v0.26.0 hands `spec.TLS` to both roles' containers
        # (internal/k8sutils/redis-cluster.go generateRedisClusterContainerParams), which mount
        # the Secret at /tls and set TLS_MODE / REDIS_TLS_* (internal/k8sutils/statefulset.go
        # getVolumeMount, GenerateTLSEnvironmentVariables), as for the replication.
        **({"TLS": data_tls.redis_tls_spec()} if data_tls.enabled(cfg) else {}),
    }


def cache_cluster(args: CacheStoreArgs, parent: pulumi.Resource) -> tuple[RedisClusterEndpoints, list[pulumi.Resource]]:
    """The `redis-cache` RedisCluster and its ConfigMap, children of `parent` (the Redis
    component); returns its endpoints and the CR the migration Job waits for."""
    cfg, ns = args.config, args.namespace
    conf = k8s.core.v1.ConfigMap(
        "redis-cache-cluster-config",
        metadata=kube.metadata("redis-cache-cluster-config", "redis", ns, app=NAME),
        data={redis_cache.CONFIG_KEY: render_cluster_conf(cfg)},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    cluster = k8s.apiextensions.CustomResource(
        "redis-cache-cluster",
        api_version=durable.API_VERSION,
        kind="RedisCluster",
        # The durable store's label: the data namespace's policies open 6379 to the backend
        # and the exporter port to Prometheus; the bus port is within the namespace.
        metadata=kube.metadata(
            NAME, "redis", ns, labels={DATA_STORE_LABEL: "redis"},
            annotations={"pulumi.com/waitFor": "jsonpath={.status.state}=Ready"},
        ),
        spec=cluster_spec(cfg, cfg.data.redis_cache_shards, args.secret_ref, conf.metadata.name, args.revision),
        opts=pulumi.ResourceOptions(
            parent=parent, protect=cfg.protect, retain_on_delete=cfg.protect, depends_on=[*args.depends_on, conf]
        ),
    )
    endpoints = RedisClusterEndpoints(
        host=service_host(f"{NAME}-leader", ns), port=durable.PORT, password=pulumi.Output.secret(args.password)
    )
    return endpoints, [cluster]
