"""Queue workers, scaled by KEDA on queue length within the tier's bounds.

- **redis**: `queue:work` on the configured Redis queues with `--max-time`, `--tries`,
  `--backoff`; the seed's custom metric is the length of the Redis lists; the grace period
  outlasts the longest job.
- **rabbitmq**: `queue:work rabbitmq` on the RabbitMQ quorum queues the data layer declares (the
  `rabbitmq` connection of vyuldashev/laravel-queue-rabbitmq), scaled by KEDA's `rabbitmq`
  trigger on queue length: jobs the app dispatches with `->onConnection('rabbitmq')`.

Failed jobs go to a file on a volume shared by every worker (stores.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import routing
from components.backend import files, stores
from components.backend.pods import PhpPods
from components.backend.settings import APP
from components.contracts import REDIS_PREFIX
from components.data import tls as data_tls

# Worker retries (data-safety review #10): 6 tries, waits 30 s .. 20 min, 37.5 min in all,
# more than twice the 15 min RTO of the database before a job is failed.
WORKER_TRIES = 6
WORKER_BACKOFF_SECONDS = (30, 120, 300, 600, 1200)


@dataclass(frozen=True)
class WorkerPods:
    """What every worker Deployment is built from: the PHP pods, the failed-job claim's name and
    the component that parents the resources."""

    pods: PhpPods
    failed_jobs: pulumi.Input[str]
    parent: pulumi.Resource


def redis_workers(workers: WorkerPods, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
    """Redis queue workers (Laravel's default connection), scaled on the Redis lists."""
    a, backend = workers.pods.args, workers.pods.args.config.raw.backend
    # Redis and Sentinel share one password.
    auth = _trigger_auth(workers, "backend-redis", {"password": "REDIS_PASSWORD", "sentinelPassword": "REDIS_PASSWORD"})
    sentinel = pulumi.Output.concat(a.cache.sentinel_host, ":", pulumi.Output.from_input(a.cache.sentinel_port).apply(str))
    triggers = [
        {
            "type": "redis-sentinel",
            "metadata": {
                "addresses": sentinel,
                "sentinelMaster": a.cache.master_name,
                # Laravel's Redis queue is a list named queues:<queue> under the prefix.
                "listName": f"{REDIS_PREFIX}queues:{queue}",
                "listLength": str(backend.jobsPerWorker),
                **data_tls.keda_redis_metadata(a.data_tls),
            },
            "authenticationRef": {"name": "backend-redis"},
        }
        for queue in backend.queues
    ]
    _queue_workers(workers, "backend-worker", "redis", backend.queues, triggers, auth, track, opts)


def rabbitmq_workers(workers: WorkerPods, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
    """RabbitMQ queue workers (the `rabbitmq` connection), scaled on the quorum queues."""
    a, backend = workers.pods.args, workers.pods.args.config.raw.backend
    # KEDA 2.20 rabbitmq scaler: `host` (the amqp:// URL with credentials and vhost) comes
    # from the TriggerAuthentication; QueueLength mode counts ready messages per queue.
    auth = _trigger_auth(
        workers, "backend-rabbitmq", {"host": "RABBITMQ_URL"}, data_tls.keda_rabbitmq_auth(a.data_tls, workers.pods.settings.metadata.name)
    )
    queues = list(a.broker.queues)
    triggers = [
        {
            "type": "rabbitmq",
            "metadata": {
                "protocol": "amqp",
                "queueName": queue,
                "mode": "QueueLength",
                "value": str(backend.jobsPerWorker),
            },
            "authenticationRef": {"name": "backend-rabbitmq"},
        }
        for queue in queues
    ]
    _queue_workers(workers, "backend-worker-rabbitmq", "rabbitmq", queues, triggers, auth, track, opts)


def _trigger_auth(
    workers: WorkerPods,
    name: str,
    parameters: Mapping[str, str],
    extra: Mapping[str, list[dict[str, pulumi.Input[str]]]] | None = None,
) -> pulumi.Resource:
    """A KEDA TriggerAuthentication reading trigger parameters from `backend-secrets` keys
    (`extra`: more `secretTargetRef`/`configMapTargetRef` entries, such as the data CA)."""
    extra = extra or {}
    return k8s.apiextensions.CustomResource(
        f"{name}-auth",
        api_version="keda.sh/v1alpha1",
        kind="TriggerAuthentication",
        metadata=kube.metadata(name, "worker", workers.pods.args.namespace, app=APP),
        spec={
            "secretTargetRef": [
                {"parameter": parameter, "name": workers.pods.secret.metadata.name, "key": key}
                for parameter, key in parameters.items()
            ] + extra.get("secretTargetRef", []),
            **({"configMapTargetRef": extra["configMapTargetRef"]} if "configMapTargetRef" in extra else {}),
        },
        opts=pulumi.ResourceOptions(parent=workers.parent, depends_on=list(workers.pods.args.keda_crds)),
    )


def _queue_workers(
    workers: WorkerPods,
    name: str,
    connection: str,
    queues: Sequence[str],
    triggers: list[dict[str, object]],
    auth: pulumi.Resource,
    track: routing.Track,
    opts: pulumi.ResourceOptions,
) -> None:
    """`queue:work <connection>` on `queues`, scaled by KEDA within the worker bounds."""
    a, cfg = workers.pods.args, workers.pods.args.config
    backend = cfg.raw.backend
    component = "worker"
    selector = {**kube.selector_labels(APP, component), "saas-platform.io/queue-connection": connection}
    command = [
        "php", "artisan", "queue:work", connection,
        f"--queue={','.join(queues)}",
        "--max-time=3600",  # recycle workers hourly: releases memory, picks up new config
        # Retries outlast a database outage well beyond the 15 min RTO (data-safety review
        # #10): a job failing its last try is deleted from the queue *before* Laravel writes
        # it to failed_jobs in that same database (laravel/framework
        # src/Illuminate/Queue/Jobs/Job.php fail(): delete(), then the JobFailed event).
        f"--tries={WORKER_TRIES}",
        "--backoff=" + ",".join(str(b) for b in WORKER_BACKOFF_SECONDS),
        f"--timeout={backend.jobTimeout}",
        "--sleep=3",
    ]
    # No probes: a worker serves no port, and queue:work exits (and is restarted) on its
    # own when a job overruns --timeout or memory; --max-time recycles it hourly.
    # Failed jobs go to a file on a volume shared by every worker (stores.py).
    container = workers.pods.container(
        "worker", track.image, command, volume_mounts=[stores.failed_jobs_mount(files.APP_ROOT)]
    )
    # queue:work handles SIGTERM (finish the job, then exit) and enforces --timeout only
    # with the pcntl extension (laravel/framework src/Illuminate/Queue/Worker.php
    # supportsAsyncSignals); without it every rollout kills jobs mid-run (review #21).
    require_pcntl = workers.pods.container(
        "require-pcntl", track.image,
        ["php", "-r", "if (!extension_loaded('pcntl')) { fwrite(STDERR, 'queue:work needs the pcntl extension'.PHP_EOL); exit(1); }"],
    )
    pod = kube.pod_spec(
        [container],
        init_containers=[workers.pods.prepare(track.image), require_pcntl],
        selector=selector,
        volumes=[*workers.pods.volumes(), stores.failed_jobs_volume(workers.failed_jobs)],
        # SIGTERM lets queue:work finish the current job; give the longest one time to end.
        termination_grace_seconds=backend.jobTimeout + 30,
    )
    deployment = workers.pods.deployment(
        name, component, selector, pod, opts,
        labels={"saas-platform.io/queue-connection": connection},
        pod_labels={"saas-platform.io/queue-connection": connection},
        annotations=kube.policy_exemption(
            ["app-workloads-scraped"],
            "queue:work serves no metrics endpoint; its backlog is watched through the queue "
            "length alerts and its pods through kube-state-metrics",
        ),
    )
    bounds = cfg.replicas.workers
    k8s.apiextensions.CustomResource(
        f"{name}-scaler",
        api_version="keda.sh/v1alpha1",
        kind="ScaledObject",
        metadata=kube.metadata(name, component, a.namespace, app=APP),
        spec={
            "scaleTargetRef": {"name": deployment.metadata.name},
            "minReplicaCount": bounds.min,
            "maxReplicaCount": bounds.max,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
        opts=pulumi.ResourceOptions(parent=workers.parent, depends_on=[*a.keda_crds, auth]),
    )
    if bounds.min >= 2:
        kube.disruption_budget(
            name, component, a.namespace, selector, app=APP, opts=pulumi.ResourceOptions(parent=workers.parent)
        )
