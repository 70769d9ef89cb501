"""The application cache's own Redis: a second RedisReplication + RedisSentinel, `redis-cache`.

Data-safety review #9: with cache, sessions and queues in one Redis, a full memory either
evicts sessions and jobs (`volatile-lru`) or, with `noeviction`, lets a growing cache refuse
every job dispatch. So the stores are split by what their data may suffer:

- `redis` (components/data/redis.py): queues, sessions and cache locks, `noeviction`, AOF +
  RDB on volumes, `min-replicas-to-write`. Nothing there is ever evicted; at maxmemory a write
  fails loudly (the dispatcher sees the OOM error) and RedisMemoryHigh fires at 80 % before.
- `redis-cache` (this module): Laravel's cache only, `allkeys-lru`, no volumes. A cache that
  fills its memory evicts its least recently used keys and never refuses a write.

Sessions stay on the durable store: a session is not rebuildable (evicting it logs the user
out), is small and expires by itself (`SESSION_LIFETIME`), so it cannot grow like a cache.
Locks (`REDIS_CACHE_LOCK_CONNECTION=default`, the stock default of laravel/laravel 12.x
config/cache.php) stay there too: an evicted lock lets a unique job or an `onOneServer` task
run twice.

Same operator, same shape (Sentinel, master Service, exporter sidecar, zone spread) and the
same password Secret as the durable store: the application's Redis clients are configured the
same way for both, and one rotation rolls both (each spec carries the password digest).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import StackConfig
from components.contracts import RedisEndpoints
from components.data import redis as durable
from components.data import tls as data_tls
from components.data import tls_reload
from components.data.common import DATA_STORE_LABEL, service_host

NAME = "redis-cache"
CONFIG = Path(__file__).resolve().parent.parent / "files" / "redis-cache.conf"
CONFIG_KEY = "redis-cache.conf"


def render_cache_conf() -> str:
    """The cache store's extra redis.conf lines (`allkeys-lru`, no persistence)."""
    return CONFIG.read_text()


def render_replication_conf(cfg: StackConfig) -> str:
    """The cache replication's conf: with `data.tls` the TLS lines the durable store has too
    (replication over TLS, the CA the entrypoint leaves empty; components/data/tls.py)."""
    return render_cache_conf() + (data_tls.redis_tls_conf() if data_tls.enabled(cfg) else "")


@dataclass(frozen=True)
class CacheStoreArgs:
    """What the cache store shares with the durable one.

    config: resolved stack config; namespace: the data namespace; secret_ref: the password
    Secret's name/key (shared); revision: the password digest that rolls the pods on rotation;
    depends_on: the operator release and the Secret.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    secret_ref: dict[str, pulumi.Input[str]]
    revision: pulumi.Input[str]
    password: pulumi.Input[str]
    depends_on: list[pulumi.Resource]
    sentinel_tls_config: pulumi.Input[str] | None = None
    """The durable store's Sentinel TLS ConfigMap (`data.tls`): `replication_spec` makes every
    replication TLS-only, so the cache's Sentinel must speak TLS to it as well."""


def cache_store(args: CacheStoreArgs, parent: pulumi.Resource) -> tuple[RedisEndpoints, list[pulumi.Resource]]:
    """The `redis-cache` RedisReplication, its RedisSentinel and ConfigMap, children of `parent`.

    Returns the endpoints the application's `cache` connection uses and the two CRs whose
    readiness the migration Job waits for. Protected and retained in production like every
    store (policy stateful-resources-protected): a replaced cache is a cold cache at best and,
    while it is recreated, every request that reads the cache fails.
    """
    cfg, ns = args.config, args.namespace
    child = pulumi.ResourceOptions(parent=parent)
    conf = k8s.core.v1.ConfigMap(
        "redis-cache-config",
        metadata=kube.metadata("redis-cache-config", "redis", ns, app=NAME),
        data={CONFIG_KEY: render_replication_conf(cfg)},
        opts=child,
    )
    pods, sentinels = durable.topology(cfg)
    sizing = cfg.data.redis_cache
    assert sizing is not None, "resolve_config always sets data.redis_cache"
    replication = k8s.apiextensions.CustomResource(
        "redis-cache-replication",
        api_version=durable.API_VERSION,
        kind="RedisReplication",
        # The same store label as the durable Redis: the data namespace's NetworkPolicies let
        # the backend reach both on 6379/26379 and Prometheus both exporters.
        metadata=kube.metadata(
            NAME, "redis", ns, labels={DATA_STORE_LABEL: "redis"},
            annotations={"pulumi.com/waitFor": "jsonpath={.status.masterNode}"},
        ),
        spec=durable.replication_spec(
            cfg, pods, args.secret_ref, conf.metadata.name, kube.recommended_labels(NAME, "redis"), args.revision,
            name=NAME, sizing=sizing, persistent=False, exporter_keys="",
        ),
        opts=pulumi.ResourceOptions(
            parent=parent, protect=cfg.protect, retain_on_delete=cfg.protect, depends_on=[*args.depends_on, conf]
        ),
    )
    sentinel = k8s.apiextensions.CustomResource(
        "redis-cache-sentinel",
        api_version=durable.API_VERSION,
        kind="RedisSentinel",
        metadata=kube.metadata(NAME, "redis-sentinel", ns, labels={DATA_STORE_LABEL: "redis-sentinel"}),
        spec=durable.sentinel_spec(cfg, sentinels, args.secret_ref, args.revision, args.sentinel_tls_config, replication=NAME),
        opts=pulumi.ResourceOptions(parent=parent, protect=cfg.protect, depends_on=[*args.depends_on, replication]),
    )
    if data_tls.enabled(cfg):
        # Same certificate (`redis-tls` names the cache's hosts), same weekly reload.
        tls_reload.redis_cert_reloader(
            ns, NAME, pods, sentinels, durable.REDIS_IMAGE, durable.REDIS_UID, args.secret_ref["name"],
            pulumi.ResourceOptions(parent=parent, depends_on=[sentinel]),
        )
    endpoints = RedisEndpoints(
        sentinel_host=service_host(f"{NAME}-sentinel", ns),
        sentinel_port=durable.SENTINEL_PORT,
        master_name=durable.MASTER_NAME,
        master_host=service_host(f"{NAME}-master", ns),
        port=durable.PORT,
        password=pulumi.Output.secret(args.password),
    )
    return endpoints, [replication, sentinel]
