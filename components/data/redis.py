"""Redis through the OT-CONTAINER-KIT redis-operator: a RedisReplication watched by a RedisSentinel.

Every stack runs the same shape so the application's Redis settings never differ between
environments (predis `replication: sentinel` in all of them): development one Redis and one
Sentinel, staging and production a master with replicas and three Sentinels spread across
zones. Persistence is AOF + RDB on a volume per pod (`components/files/redis-additional.conf`,
mounted through a ConfigMap), the password lives in a Secret both Redis and Sentinel read, and
each Redis pod carries a redis-exporter sidecar.

The operator names what clients use: the master Service `<replication>-master` (for Laravel
Reverb, which cannot follow Sentinel) and the Sentinel Service `<sentinel>-sentinel`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.backend import REDIS_PREFIX
from components.platform.network import ROLE_LABEL
from components.platform import charts
from components.platform.charts import ChartPin
from components.config import ContainerSize, StackConfig, StoreSizing
from components.contracts import RedisEndpoints
from components.data import tls as data_tls
from components.data import tls_reload
from components.data.common import DATA_STORE_LABEL, service_host

TYPE = "saas-platform:index:Redis"

OPERATOR_CHART_REPO = "https://ot-container-kit.github.io/helm-charts"
OPERATOR_CHART_VERSION = "0.26.1"
OPERATOR_CHART = ChartPin("redis-operator", OPERATOR_CHART_VERSION, OPERATOR_CHART_REPO)
OPERATOR_IMAGE_TAG = "v0.26.0"
API_VERSION = "redis.redis.opstreelabs.in/v1beta2"
# Pinned: the upstream examples use :latest, and failover bugs were fixed between tags.
REDIS_IMAGE = "quay.io/opstree/redis:v7.0.15"
SENTINEL_IMAGE = "quay.io/opstree/redis-sentinel:v7.0.15"
EXPORTER_IMAGE = "quay.io/opstree/redis-exporter:v1.44.0"
NAME = "redis"
PORT = 6379
SENTINEL_PORT = 26379
EXPORTER_PORT = 9121
MASTER_NAME = "mymaster"
# The opstree images run as this user.
REDIS_UID = 1000
ADDITIONAL_CONFIG = Path(__file__).resolve().parent.parent / "files" / "redis-additional.conf"
ADDITIONAL_CONFIG_KEY = "redis-additional.conf"
# The file the Sentinel image's entrypoint includes from the additional-config volume
# (OT-CONTAINER-KIT/redis entrypoint-sentinel.sh EXTERNAL_CONFIG_FILE).
SENTINEL_CONFIG_KEY = "redis-sentinel-additional.conf"
# Put on the operator's pods through `redisOperator.podLabels`, for its PodMonitor.
OPERATOR_POD = {ROLE_LABEL: "redis-operator"}


# A master accepts writes only while this many replicas are connected with at most this lag
# (seconds): a master cut off from its replicas (a partitioned zone, or an old master back as a
# standalone master) refuses writes that a failover would otherwise discard.
MIN_REPLICAS_TO_WRITE = 1
MIN_REPLICAS_MAX_LAG = 10


def render_redis_conf(cfg: StackConfig | None = None) -> str:
    """The extra redis.conf lines (persistence, eviction, keepalive, slow log); with replicas
    (staging, production) also `min-replicas-to-write` (data-safety review #15)."""
    text = ADDITIONAL_CONFIG.read_text()
    if cfg is not None and data_tls.enabled(cfg):
        text += data_tls.redis_tls_conf()
    if cfg is not None and topology(cfg)[0] > 1:
        text += (
            "\n# Rendered for replicated stacks (components/data/redis.py): see MIN_REPLICAS_TO_WRITE.\n"
            f"min-replicas-to-write {MIN_REPLICAS_TO_WRITE}\nmin-replicas-max-lag {MIN_REPLICAS_MAX_LAG}\n"
        )
    return text


def password_revision(password: pulumi.Input[str]) -> pulumi.Output[str]:
    """A digest of the password for the pods' env: redis-operator passes the password as an env
    var from the Secret and puts no hash of it on the pod template (v0.26.0
    internal/k8sutils/statefulset.go:866-872, 1056-1062), so without this a rotated password
    reaches only pods that happen to restart. The digest changes the template, so the operator
    rolls the pods; it reveals nothing of the 32-character random password."""
    return pulumi.Output.from_input(password).apply(lambda value: hashlib.sha256(value.encode()).hexdigest()[:16])


@dataclass(frozen=True)
class RedisArgs:
    """Inputs of the Redis store.

    config: resolved stack config (environment -> topology, sizing).
    namespace: the data namespace Redis runs in.
    operator_namespace: where the redis-operator chart (with its CRDs) is installed.
    tls_dependencies: the certificate the pods mount when `data.tls` is on (DataTLS.redis).
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    operator_namespace: pulumi.Input[str]
    tls_dependencies: Sequence[pulumi.Resource] = ()


def topology(cfg: StackConfig) -> tuple[int, int]:
    """(Redis pods, Sentinel pods): one of each in development; a master and two replicas with
    three Sentinels, a quorum of two, everywhere else.

    Three Redis pods, not two: after a Sentinel failover the new master keeps a replica, so
    redis-operator v0.26.0 identifies it as the real master by its connected replicas. With
    two pods the new master has none once the old one returns as a standalone master, and
    the operator falls back to its stale `Status.MasterNode` and may make the new master a
    replica of the old one, discarding every write since the failover
    (internal/controller/redisreplication/redisreplication_controller.go:391-470; upstream
    issue #1158). `min-replicas-to-write 1` needs a second replica to survive a drain.
    """
    if not cfg.highly_available:
        return 1, 1
    return 3, 3


class Redis(pulumi.ComponentResource):
    """redis-operator and the application's Redis with Sentinel."""

    endpoints: RedisEndpoints
    secret_ref: dict[str, pulumi.Input[str]]
    revision: pulumi.Output[str]
    password: pulumi.Output[str]
    dependencies: list[pulumi.Resource]
    ready: list[pulumi.Resource]
    """The RedisReplication (awaited until it reports a master) and the RedisSentinel."""

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        ns = args.namespace
        child = pulumi.ResourceOptions(parent=self)
        # The chart ships the CRDs in `crds/`; Helm never deletes those, so uninstalling the
        # release cannot take the RedisReplication (and its volumes) with it.
        operator = charts.release("redis-operator", OPERATOR_CHART, args.operator_namespace, operator_values(cfg), child)

        # Protected in production: a replaced password breaks replication between old and new
        # pods until every pod rolled (docs/operations.md, "Password rotation").
        password = random.RandomPassword(
            "redis-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect)
        )
        secret = k8s.core.v1.Secret(
            "redis-password",
            metadata=kube.metadata("redis-password", "redis", ns, app=NAME),
            type="Opaque",
            string_data={"password": password.result},
            opts=child,
        )
        additional = k8s.core.v1.ConfigMap(
            "redis-config",
            metadata=kube.metadata("redis-config", "redis", ns, app=NAME),
            data={ADDITIONAL_CONFIG_KEY: render_redis_conf(cfg)},
            opts=child,
        )
        secret_ref = {"name": secret.metadata.name, "key": "password"}
        redis_pods, sentinel_pods = topology(cfg)
        labels = kube.recommended_labels(NAME, "redis")
        # Retained on delete only where protected (production): a retained RedisReplication
        # keeps the operator's finalizer (redis-operator v0.26.0
        # internal/controller/redisreplication/redisreplication_controller.go) after the
        # operator is uninstalled, and `pulumi destroy` then hangs on the data namespace.
        # The volumes outlive the object anyway (`keepAfterDelete`, PVC retention policy).
        tls = data_tls.enabled(cfg)
        sentinel_config = k8s.core.v1.ConfigMap(
            "redis-sentinel-config",
            metadata=kube.metadata("redis-sentinel-config", "redis-sentinel", ns, app=NAME),
            data={SENTINEL_CONFIG_KEY: data_tls.sentinel_tls_conf()},
            opts=child,
        ) if tls else None
        stateful = pulumi.ResourceOptions(
            parent=self, protect=cfg.protect, retain_on_delete=cfg.protect,
            depends_on=[operator, secret, additional, *args.tls_dependencies],
        )
        replication = k8s.apiextensions.CustomResource(
            "redis-replication",
            api_version=API_VERSION,
            kind="RedisReplication",
            # redis-operator v0.26.0 reports the elected master in `.status.masterNode` (its
            # CRD's printer column), the only readiness signal it gives; the engine awaits it.
            metadata=kube.metadata(
                NAME, "redis", ns, labels={DATA_STORE_LABEL: "redis"},
                annotations={"pulumi.com/waitFor": "jsonpath={.status.masterNode}"},
            ),
            spec=replication_spec(
                cfg, redis_pods, secret_ref, additional.metadata.name, labels, password_revision(password.result)
            ),
            opts=stateful,
        )
        sentinel = k8s.apiextensions.CustomResource(
            "redis-sentinel",
            api_version=API_VERSION,
            kind="RedisSentinel",
            metadata=kube.metadata(NAME, "redis-sentinel", ns, labels={DATA_STORE_LABEL: "redis-sentinel"}),
            spec=sentinel_spec(
                cfg, sentinel_pods, secret_ref, password_revision(password.result),
                sentinel_config.metadata.name if sentinel_config else None,
            ),
            opts=pulumi.ResourceOptions(
                parent=self, protect=cfg.protect,
                depends_on=[operator, replication, secret, *args.tls_dependencies, *([sentinel_config] if sentinel_config else [])],
            ),
        )
        if tls:
            tls_reload.redis_cert_reloader(
                ns, NAME, redis_pods, sentinel_pods, REDIS_IMAGE, REDIS_UID, secret.metadata.name,
                pulumi.ResourceOptions(parent=self, depends_on=[sentinel]),
            )

        self.ready = [replication, sentinel]
        # What a second store of this operator shares (components/data/redis_cache.py).
        self.secret_ref = secret_ref
        self.revision = password_revision(password.result)
        self.password = password.result
        # The certificate and the Sentinel TLS ConfigMap too: the cache store mounts both.
        self.dependencies: list[pulumi.Resource] = [
            operator, secret, *args.tls_dependencies, *([sentinel_config] if sentinel_config else []),
        ]
        self.sentinel_tls_config: pulumi.Output[str] | None = sentinel_config.metadata.name if sentinel_config else None
        self.endpoints = RedisEndpoints(
            sentinel_host=service_host(f"{NAME}-sentinel", ns),
            sentinel_port=SENTINEL_PORT,
            master_name=MASTER_NAME,
            master_host=service_host(f"{NAME}-master", ns),
            port=PORT,
            password=pulumi.Output.secret(password.result),
        )
        self.register_outputs({"sentinelHost": self.endpoints.sentinel_host, "masterHost": self.endpoints.master_host})


def _zone_spread(cfg: StackConfig, selector: dict[str, str]) -> dict[str, object]:
    """Keep pods of one store apart in HA: across zones, then across nodes, both preferred.

    A *required* per-node rule would leave the third Sentinel Pending on a cluster with fewer
    than three schedulable nodes (the operator copies `affinity` verbatim into the
    StatefulSet, redis-operator v0.26.0 internal/k8sutils/statefulset.go); preferred rules
    spread the pods wherever the nodes exist and still schedule them where they do not.
    """
    def term(weight: int, topology_key: str) -> dict[str, object]:
        return {
            "weight": weight,
            "podAffinityTerm": {"labelSelector": {"matchLabels": selector}, "topologyKey": topology_key},
        }

    return {
        "affinity": {
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    term(100, "topology.kubernetes.io/zone"),
                    term(90, "kubernetes.io/hostname"),
                ],
            }
        },
        "pdb": {"enabled": True, "maxUnavailable": 1},
        # Production promises multi-zone: a zone may hold at most one more pod of a store than
        # another, strictly, so losing a zone never takes the master with all its replicas or
        # a Sentinel majority (review #17). Staging may run in one zone.
        **({"topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": selector},
        }]} if cfg.is_production else {}),
    } if cfg.highly_available else {}


def queue_key(queue: str) -> str:
    """The Redis list of a Laravel queue: `queues:<queue>` under the application's key prefix
    (Illuminate\\Queue\\RedisQueue), in database 0 (the default connection)."""
    return f"{REDIS_PREFIX}queues:{queue}"


def exporter_queue_keys(queues: list[str]) -> str:
    """redis_exporter's `REDIS_EXPORTER_CHECK_SINGLE_KEYS`: `db0=<key>` per queue, comma-separated."""
    return ",".join(f"db0={queue_key(queue)}" for queue in queues)


def _revision_env(revision: pulumi.Input[str] | None) -> dict[str, object]:
    """The password digest as a pod env var (see `password_revision`)."""
    return {"env": [{"name": "REDIS_PASSWORD_REVISION", "value": revision}]} if revision is not None else {}


def _storage(sizing: StoreSizing, labels: dict[str, str]) -> dict[str, object]:
    """A volume per pod that outlives the object (`keepAfterDelete`)."""
    claim: dict[str, object] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": sizing.storage}},
    }
    if sizing.storage_class:
        claim["storageClassName"] = sizing.storage_class
    return {"storage": {"keepAfterDelete": True, "volumeClaimTemplate": {"metadata": {"labels": labels}, "spec": claim}}}


def replication_spec(
    cfg: StackConfig,
    pods: int,
    secret_ref: dict[str, pulumi.Input[str]],
    config_map: pulumi.Input[str],
    labels: dict[str, str],
    revision: pulumi.Input[str] | None = None,
    *,
    name: str = NAME,
    sizing: StoreSizing | None = None,
    persistent: bool = True,
    exporter_keys: str | None = None,
) -> dict[str, object]:
    """The RedisReplication spec of one store: `name` (its pods' `app` label), its sizing,
    whether it keeps a volume per pod, and the keys redis_exporter reports the size of
    (default: the durable store's queue lists). Kept a plain dict builder so other stores
    (the cache, `components/data/redis_cache.py`) and TLS can extend it."""
    sizing = sizing or cfg.data.redis
    keys = exporter_queue_keys(cfg.raw.backend.queues) if exporter_keys is None else exporter_keys
    return {
        "clusterSize": pods,
        **_revision_env(revision),
        "kubernetesConfig": {
            "image": REDIS_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "resources": kube.resource_values(ContainerSize(sizing.cpu, sizing.memory, sizing.memory)),
            "redisSecret": secret_ref,
            # Volumes stay when the object is deleted or scaled down.
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
        },
        "redisConfig": {
            "additionalRedisConfig": config_map,
            # maxmemory below the container limit: room for fork copy-on-write during
            # BGSAVE / AOF rewrite and for client buffers.
            "maxMemoryPercentOfLimit": 70,
        },
        **(_storage(sizing, labels) if persistent else {}),
        "redisExporter": {
            "enabled": True,
            "image": EXPORTER_IMAGE,
            "port": EXPORTER_PORT,
            "resources": kube.resource_values(ContainerSize("25m", "32Mi", "64Mi")),
            "securityContext": {**kube.restricted_container_security(REDIS_UID), "seccompProfile": {"type": "RuntimeDefault"}},
            # redis_exporter exports `redis_key_size` (the queue length the queue alerts read)
            # only for keys it is told about; the operator passes the exporter only its address
            # and password plus this list (v0.26.0 internal/k8sutils/statefulset.go
            # getExporterEnvironmentVariables).
            "env": [{"name": "REDIS_EXPORTER_CHECK_SINGLE_KEYS", "value": keys}] if keys else [],
        },
        "podSecurityContext": kube.restricted_pod_security(REDIS_UID),
        "securityContext": {
            **kube.restricted_container_security(REDIS_UID, read_only_root=False),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        **_zone_spread(cfg, {"app.kubernetes.io/name": name, DATA_STORE_LABEL: "redis"}),
        **({"TLS": data_tls.redis_tls_spec()} if data_tls.enabled(cfg) else {}),
    }


def sentinel_spec(
    cfg: StackConfig,
    pods: int,
    secret_ref: dict[str, pulumi.Input[str]],
    revision: pulumi.Input[str] | None = None,
    tls_config: pulumi.Input[str] | None = None,
    *,
    replication: str = NAME,
) -> dict[str, object]:
    """The RedisSentinel spec watching the RedisReplication `replication`.

    `tls_config`: the ConfigMap with the Sentinel's TLS lines (`data.tls`), mounted by the
    operator at /etc/redis/external.conf.d (v0.26.0 internal/k8sutils/statefulset.go
    getExternalConfig), where the image's entrypoint includes `SENTINEL_CONFIG_KEY`."""
    tls = {"TLS": data_tls.redis_tls_spec()} if tls_config is not None else {}
    return {
        **tls,
        "clusterSize": pods,
        **_revision_env(revision),
        "kubernetesConfig": {
            "image": SENTINEL_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "resources": kube.resource_values(ContainerSize("25m", "32Mi", "64Mi")),
            "redisSecret": secret_ref,
        },
        "redisSentinelConfig": {
            "redisReplicationName": replication,
            "masterGroupName": MASTER_NAME,
            "redisPort": str(PORT),
            "quorum": str(pods // 2 + 1),
            "redisReplicationPassword": {"secretKeyRef": secret_ref},
            "downAfterMilliseconds": "5000",
            "failoverTimeout": "60000",
            "parallelSyncs": "1",
            **({"additionalSentinelConfig": tls_config} if tls_config is not None else {}),
        },
        "podSecurityContext": kube.restricted_pod_security(REDIS_UID),
        "securityContext": {
            **kube.restricted_container_security(REDIS_UID, read_only_root=False),
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **_zone_spread(cfg, {"app.kubernetes.io/name": replication, DATA_STORE_LABEL: "redis-sentinel"}),
    }


def operator_values(cfg: StackConfig) -> dict[str, object]:
    """redis-operator chart values: every key exists in the chart's values.yaml."""
    uid = 65532
    return {
        "redisOperator": {
            "imageTag": OPERATOR_IMAGE_TAG,
            "initContainerImageTag": OPERATOR_IMAGE_TAG,
            "imagePullPolicy": "IfNotPresent",
            # The admission webhook only checks masterSlaveAntiAffinity, which we do not use.
            "webhook": False,
            "metrics": {"enabled": True, "bindAddress": ":8080"},
            "podLabels": dict(OPERATOR_POD),
        },
        "replicas": 2 if cfg.highly_available else 1,
        # Development (a laptop): smaller requests, the same limit.
        "resources": kube.resource_values(
            ContainerSize("100m", "128Mi", "256Mi") if cfg.highly_available else ContainerSize("20m", "48Mi", "256Mi")
        ),
        "podSecurityContext": kube.restricted_pod_security(uid),
        "securityContext": {**kube.restricted_container_security(uid), "seccompProfile": {"type": "RuntimeDefault"}},
        # Cluster scope: the operator runs in its own namespace and manages the data namespace.
        "rbac": {"enabled": True, "scope": "cluster"},
    }
