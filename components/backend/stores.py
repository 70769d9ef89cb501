"""Where Laravel keeps cache, sessions, queues, locks and failed jobs: the backend's env and volume.

Data-safety review #9 and #10, with the stock keys of laravel/laravel v12.11.2 (config/cache.php,
config/queue.php, config/session.php) and laravel/framework v12.67.0:

- cache: the `redis` cache store's connection is `REDIS_CACHE_CONNECTION` (stock default
  `cache`); that connection points at the `redis-cache` store (allkeys-lru). Stock
  config/database.php reads one `REDIS_HOST` for both its `default` and `cache` connections
  and has no Sentinel support at all, so the app's `redis` block (docs/components.md) reads the
  `REDIS_CACHE_SENTINEL_*` keys set here for its `cache` connection.
- locks: `REDIS_CACHE_LOCK_CONNECTION=default` (the stock default): an evicted lock would let a
  unique job or an `onOneServer` task run twice, so locks stay on the noeviction store.
- queues: `REDIS_QUEUE_CONNECTION=default` (config/queue.php), the noeviction store.
- sessions: `SESSION_CONNECTION=default` (config/session.php). The redis session driver is the
  `redis` cache store cloned onto that connection (framework
  src/Illuminate/Session/SessionManager.php createRedisDriver/createCacheHandler), so sessions
  never share the cache's evicting memory.
- failed jobs: `QUEUE_FAILED_DRIVER=file` (config/queue.php `failed.driver`; framework
  src/Illuminate/Queue/QueueServiceProvider.php registerFailedJobServices builds a
  FileFailedJobProvider at `storage/framework/cache/failed-jobs.json`, locked through the `file`
  cache store in `storage/framework/cache/data`). The default `database-uuids` writes to the
  MariaDB whose outage made the job fail, *after* the job was deleted from the queue
  (src/Illuminate/Queue/Jobs/Job.php fail()), so the job was lost. Here `storage/framework/cache`
  of every worker is one PersistentVolumeClaim outside the database's failure domain.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import StackConfig
from components.contracts import RedisClusterEndpoints, RedisEndpoints

# The `clusters` connection the app's config/database.php defines for the large tier's cache
# cluster (docs/components.md).
CLUSTER_CONNECTION = "cache_cluster"
# laravel/framework v12.67.0 QueueServiceProvider: the file provider's default path, under
# storage_path(); stock config/queue.php sets no `path`.
FAILED_JOBS_DIR = "framework/cache"
FAILED_JOBS_FILE = f"{FAILED_JOBS_DIR}/failed-jobs.json"
FAILED_JOBS_VOLUME = "failed-jobs"
# FileFailedJobProvider keeps the newest `limit` entries (stock: no `limit` key, so 100).
FAILED_JOBS_LIMIT = 100


def _port(value: pulumi.Input[int]) -> pulumi.Output[str]:
    return pulumi.Output.from_input(value).apply(str)


def store_settings(
    durable: RedisEndpoints, cache: RedisEndpoints | None, cluster: RedisClusterEndpoints | None = None
) -> dict[str, pulumi.Input[str]]:
    """The `backend-config` keys that route each kind of data to its store. With a cache
    cluster (large tier) the cache store's connection is the `clusters` entry CONNECTION of the
    app's config/database.php (framework v12.67.0 RedisManager::resolve looks a name up in
    `redis` first, then in `redis.clusters`), reading REDIS_CACHE_CLUSTER_HOST/PORT."""
    settings: dict[str, pulumi.Input[str]] = {
        "REDIS_QUEUE_CONNECTION": "default",
        "SESSION_CONNECTION": "default",
        "REDIS_CACHE_CONNECTION": "cache",
        "REDIS_CACHE_LOCK_CONNECTION": "default",
        "QUEUE_FAILED_DRIVER": "file",
    }
    if cluster is not None:
        settings.update({
            "REDIS_CACHE_CONNECTION": CLUSTER_CONNECTION,
            "REDIS_CACHE_CLUSTER_HOST": cluster.host,
            "REDIS_CACHE_CLUSTER_PORT": _port(cluster.port),
        })
        return settings
    target = cache or durable
    settings.update({
        "REDIS_CACHE_SENTINEL_HOST": target.sentinel_host,
        "REDIS_CACHE_SENTINEL_PORT": _port(target.sentinel_port),
        "REDIS_CACHE_SENTINEL_SERVICE": target.master_name,
        "REDIS_CACHE_HOST": target.master_host,
        "REDIS_CACHE_PORT": _port(target.port),
    })
    return settings


def failed_jobs_access_mode(cfg: StackConfig) -> str:
    """ReadWriteMany wherever workers may run on several nodes (every stack but development):
    with ReadWriteOnce a second worker on another node would never start."""
    return "ReadWriteMany" if cfg.highly_available else "ReadWriteOnce"


def failed_jobs_claim(
    cfg: StackConfig, namespace: pulumi.Input[str], app: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.PersistentVolumeClaim:
    """The failed-job store's volume; protected in production like the other stores' data."""
    section = cfg.raw.data.failedJobs
    return k8s.core.v1.PersistentVolumeClaim(
        "backend-failed-jobs",
        metadata=kube.metadata("backend-failed-jobs", "worker", namespace, app=app),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=[failed_jobs_access_mode(cfg)],
            storage_class_name=section.storageClass,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": section.storage}),
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=cfg.protect, retain_on_delete=cfg.protect)),
    )


def failed_jobs_volume(claim: pulumi.Input[str]) -> k8s.core.v1.VolumeArgs:
    return k8s.core.v1.VolumeArgs(
        name=FAILED_JOBS_VOLUME,
        persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=claim),
    )


def failed_jobs_mount(app_root: str) -> k8s.core.v1.VolumeMountArgs:
    return k8s.core.v1.VolumeMountArgs(name=FAILED_JOBS_VOLUME, mount_path=f"{app_root}/storage/{FAILED_JOBS_DIR}")
