"""Data-safety review #9 and #10: what each Redis store may lose, and where failed jobs go.

#9: one Redis held cache, sessions and queues, so a full memory either evicted sessions and
jobs or (with `noeviction` everywhere) let a growing cache refuse job dispatches. Now the cache
has its own `allkeys-lru` store (`redis-cache`); queues, sessions and cache locks stay on the
`noeviction` store, and the application is routed with the stock keys of laravel/laravel
v12.11.2 (config/cache.php `REDIS_CACHE_CONNECTION`/`REDIS_CACHE_LOCK_CONNECTION`,
config/queue.php `REDIS_QUEUE_CONNECTION`, config/session.php `SESSION_CONNECTION`).
#10: failed jobs went to the MariaDB whose outage failed them, after the job had left the queue
(laravel/framework v12.67.0 src/Illuminate/Queue/Jobs/Job.php fail()); now
`QUEUE_FAILED_DRIVER=file` (QueueServiceProvider::registerFailedJobServices) on a volume.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from components import config
from components.data import redis as durable
from components.data import redis_cache
from tests.conftest import Synth
from tests.test_data_safety import _cfg, _cli, _redis

DATA_NS = "saas-data"
APP_NS = "saas-app"


def _conf(stack: Synth, name: str) -> str:
    return "".join(stack.object("ConfigMap", name, DATA_NS)["data"].values())


def _policy(conf: str) -> str:
    return [line.split()[1] for line in conf.splitlines() if line.startswith("maxmemory-policy ")][-1]


def _settings(stack: Synth) -> dict[str, str]:
    return stack.object("ConfigMap", "backend-config", APP_NS)["data"]


# ---- 9: the cache evicts on its own store; queues and sessions never ---------------------------


def test_cache_has_its_own_evicting_store(stack: Synth) -> None:
    """The cache's RedisReplication mounts an `allkeys-lru` conf and keeps no volume; the
    durable store keeps `noeviction` and its volumes. Same topology as the durable store.
    Development (a laptop within its footprint budget, no data-safety promise) keeps one Redis."""
    if stack.stack == "dev":
        assert [r["metadata"]["name"] for r in stack.objects("RedisReplication", DATA_NS)] == [durable.NAME]
        assert _policy(_conf(stack, "redis-config")) == "noeviction"
        return
    cache = stack.object("RedisReplication", redis_cache.NAME, DATA_NS)["spec"]
    store = stack.object("RedisReplication", durable.NAME, DATA_NS)["spec"]
    assert cache["redisConfig"]["additionalRedisConfig"] == "redis-cache-config"
    assert _policy(_conf(stack, "redis-cache-config")) == "allkeys-lru"
    assert _policy(_conf(stack, "redis-config")) == "noeviction"
    assert "storage" not in cache and "storage" in store
    assert cache["clusterSize"] == store["clusterSize"] == 3
    sentinel = stack.object("RedisSentinel", redis_cache.NAME, DATA_NS)["spec"]["redisSentinelConfig"]
    assert sentinel["redisReplicationName"] == redis_cache.NAME
    # The cache is no RPO-bound store: no min-replicas-to-write that would refuse cache writes
    # while a replica restarts.
    assert "min-replicas-to-write" not in _conf(stack, "redis-cache-config")


def test_laravel_routes_each_kind_of_data_to_its_store(stack: Synth) -> None:
    """laravel/laravel v12.11.2: config/cache.php's `redis` store uses REDIS_CACHE_CONNECTION
    (`cache`) and locks REDIS_CACHE_LOCK_CONNECTION; config/queue.php's `redis` connection
    REDIS_QUEUE_CONNECTION; config/session.php SESSION_CONNECTION (the redis session driver is
    the cache store cloned onto it: framework v12.67.0 SessionManager::createRedisDriver)."""
    env = _settings(stack)
    assert env["CACHE_STORE"] == "redis" and env["SESSION_DRIVER"] == "redis" and env["QUEUE_CONNECTION"] == "redis"
    assert env["REDIS_CACHE_CONNECTION"] == "cache"
    assert env["REDIS_QUEUE_CONNECTION"] == env["SESSION_CONNECTION"] == env["REDIS_CACHE_LOCK_CONNECTION"] == "default"
    # `default` reads REDIS_SENTINEL_*, `cache` REDIS_CACHE_SENTINEL_* (docs/components.md).
    assert env["REDIS_SENTINEL_HOST"] == f"redis-sentinel.{DATA_NS}.svc.cluster.local"
    cache = durable.NAME if stack.stack == "dev" else redis_cache.NAME
    assert env["REDIS_CACHE_SENTINEL_HOST"] == f"{cache}-sentinel.{DATA_NS}.svc.cluster.local"
    assert env["REDIS_CACHE_HOST"] == f"{cache}-master.{DATA_NS}.svc.cluster.local"
    assert env["REDIS_CACHE_SENTINEL_PORT"] == "26379" and env["REDIS_CACHE_SENTINEL_SERVICE"] == durable.MASTER_NAME


def test_cache_store_is_reachable_and_scraped(stack: Synth) -> None:
    """The cache pods carry the same store labels as the durable ones, so the data namespace's
    NetworkPolicies open 6379/26379 to the backend and the exporter port to Prometheus; a
    PodMonitor of its own gives its metrics a `job` of their own (the alerts group by it)."""
    if stack.stack == "dev":
        assert [m["metadata"]["name"] for m in stack.objects("PodMonitor", DATA_NS) if "redis-cache" in m["metadata"]["name"]] == []
        return
    meta = stack.object("RedisReplication", redis_cache.NAME, DATA_NS)["metadata"]["labels"]
    assert meta["saas-platform.io/data-store"] == "redis"
    assert stack.object("RedisSentinel", redis_cache.NAME, DATA_NS)["metadata"]["labels"]["saas-platform.io/data-store"] == "redis-sentinel"
    monitor = stack.object("PodMonitor", redis_cache.NAME, DATA_NS)["spec"]
    assert monitor["selector"]["matchLabels"] == {"app.kubernetes.io/name": redis_cache.NAME, "saas-platform.io/data-store": "redis"}


def test_redis_alerts_are_per_store(stack: Synth) -> None:
    """Two stores means two masters: the master alerts count per `job` (one PodMonitor per
    store), and the 80 % memory alert skips the cache, which runs full by design."""
    rules = {
        rule["alert"]: rule["expr"]
        for group in stack.object("PrometheusRule", "saas-data", "saas-monitoring")["spec"]["groups"]
        for rule in group["rules"] if "alert" in rule
    }
    assert 'count by (job) (redis_instance_info{role="master",redis_mode!="cluster"}) > 1' in rules["RedisMasterChanged"]
    assert "count by (job) (redis_up) unless count by (job) (redis_instance_info{role=\"master\"})" in rules["RedisMasterMissing"]
    assert 'job!~".*/redis-cache"' in rules["RedisMemoryHigh"]


def test_cache_memory_is_configurable_with_a_clear_error() -> None:
    assert _cfg("prod", data={"redisCache": {"memory": "3Gi"}}).data.redis_cache.memory == "3Gi"
    with pytest.raises(config.ConfigError, match=r"data\.redisCache\.memory"):
        _cfg("prod", data={"redisCache": {"memory": "lots"}})
    with pytest.raises(config.ConfigError, match=r"data\.redisCache\.eviction"):
        _cfg("prod", data={"redisCache": {"eviction": "none"}})


def _fill(port: int, commands: str) -> list[str]:
    proc = subprocess.run(["redis-cli", "-p", str(port)], input=commands, capture_output=True, text=True, timeout=60)
    return proc.stdout.splitlines()


def test_cache_backlog_evicts_only_cache_keys_and_no_push_is_refused(tmp_path: Path) -> None:
    """On redis-server 7.0 (Debian) with both rendered confs: a cache backlog four times the
    cache's maxmemory (keys without TTL, like Cache::forever) evicts cache keys and is never
    refused; meanwhile every queue push and the session on the durable store are accepted and
    kept. The same backlog on today's single store (the durable conf holding the cache too)
    makes Redis refuse queue pushes: the failure this split removes (review #9, §E.3)."""
    prod = _cfg("prod")
    cache_proc, cache = _redis(tmp_path, redis_cache.render_cache_conf(), "maxmemory 3mb")
    store_proc, store = _redis(tmp_path, durable.render_redis_conf(_cfg("dev")), "maxmemory 3mb")
    shared_proc, shared = _redis(tmp_path, durable.render_redis_conf(_cfg("dev")), "maxmemory 3mb")
    assert "min-replicas-to-write" in durable.render_redis_conf(prod)  # dev: a lone master may write
    try:
        _cli(store, "SET", "saas_session:1", "x", "EX", "3600")
        backlog = "".join(f"SET saas_cache:{i} {'c' * 600}\n" for i in range(20_000))
        pushes = "".join(f"RPUSH saas_queues:default {'j' * 600}\n" for _ in range(2_000))
        cache_replies = _fill(cache, backlog)
        push_replies = _fill(store, pushes)

        assert all(r == "OK" for r in cache_replies), "the cache refused a write"
        evicted = int(_cli(cache, "INFO", "stats").split("evicted_keys:")[1].split()[0])
        assert evicted > 10_000, "the backlog never reached maxmemory: the test proves nothing"
        assert push_replies == [str(n) for n in range(1, 2_001)], "a queue push was refused"
        assert int(_cli(store, "LLEN", "saas_queues:default")) == 2_000
        assert _cli(store, "EXISTS", "saas_session:1") == "1"
        assert "evicted_keys:0" in _cli(store, "INFO", "stats")

        # Counterfactual: cache and queue in one noeviction Redis (main before the split).
        _fill(shared, backlog)
        refused = [r for r in _fill(shared, pushes) if "OOM" in r]
        assert refused, "a shared store would have refused these pushes"
    finally:
        for proc in (cache_proc, store_proc, shared_proc):
            proc.kill()
            proc.wait()


# ---- 10: failed jobs outside the database's failure domain -----------------------------------


def _workers(stack: Synth) -> list[dict[str, Any]]:
    return [d for d in stack.objects("Deployment", APP_NS) if d["metadata"]["name"].startswith("backend-worker")]


def test_failed_jobs_go_to_a_shared_volume_not_the_database(stack: Synth) -> None:
    """`QUEUE_FAILED_DRIVER=file`: framework v12.67.0 QueueServiceProvider builds a
    FileFailedJobProvider at storage_path('framework/cache/failed-jobs.json') (stock
    config/queue.php sets no path), locked through the `file` cache store under the same
    directory. Every worker (Redis and RabbitMQ connections) mounts one claim there; outside
    development the workers span nodes, so it is ReadWriteMany."""
    assert _settings(stack)["QUEUE_FAILED_DRIVER"] == "file"
    claim = stack.object("PersistentVolumeClaim", "backend-failed-jobs", APP_NS)["spec"]
    assert claim["accessModes"] == (["ReadWriteOnce"] if stack.stack == "dev" else ["ReadWriteMany"])
    workers = _workers(stack)
    assert len(workers) == 2
    for worker in workers:
        pod = worker["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["failed-jobs"]["persistentVolumeClaim"]["claimName"] == "backend-failed-jobs"
        mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        assert mounts["failed-jobs"] == "/var/www/html/storage/framework/cache"


def test_failed_jobs_class_is_configurable() -> None:
    cfg = _cfg("prod", data={"failedJobs": {"storageClass": "efs-sc", "storage": "5Gi"}})
    assert cfg.raw.data.failedJobs.storageClass == "efs-sc"
    with pytest.raises(config.ConfigError, match=r"data\.failedJobs\.storage"):
        _cfg("prod", data={"failedJobs": {"storage": "5 GB"}})


def test_documented_config_sends_the_cache_to_its_store_and_the_rest_to_default(stack: Synth) -> None:
    """docs/components.md's `redis` block, run by PHP with the stack's backend-config: the
    connection config/cache.php picks (REDIS_CACHE_CONNECTION) reaches the cache store's
    Sentinel; queues (REDIS_QUEUE_CONNECTION), sessions (SESSION_CONNECTION) and locks the
    durable one's (framework v12.67.0 RedisManager::resolve)."""
    from tests.laravel_redis_config import evaluate, resolve

    env = _settings(stack)
    redis = evaluate(env)
    kind, hosts = resolve(redis, env["REDIS_CACHE_CONNECTION"])
    assert kind == "connection" and hosts[0]["host"] == env["REDIS_CACHE_SENTINEL_HOST"]
    assert redis[env["REDIS_CACHE_CONNECTION"]]["options"]["service"] == env["REDIS_CACHE_SENTINEL_SERVICE"]
    for key in ("REDIS_QUEUE_CONNECTION", "SESSION_CONNECTION", "REDIS_CACHE_LOCK_CONNECTION"):
        kind, hosts = resolve(redis, env[key])
        assert kind == "connection" and hosts[0]["host"] == f"redis-sentinel.{DATA_NS}.svc.cluster.local", key
