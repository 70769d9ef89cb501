"""Certificate rotation for Redis and Sentinel under `data.tls` (components/data/tls.py issues
the certificate `redis-tls`; this module makes the running processes serve a renewed one).
One CronJob per RedisReplication mounting it: `redis` and the cache's `redis-cache`."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize
from components.data.common import DATA_STORE_LABEL
from components.data.tls import CA_KEY, REDIS_SECRET

# Weekly: a renewed certificate (30 days before the old one ends) is served within 7 days.
RELOAD_SCHEDULE = "17 4 * * 1"
RELOADER_NAME = "redis-tls-reload"
SENTINEL_RESTART_WAIT_SECONDS = 120


def reload_script(replication: str, redis_pods: int, sentinel_pods: int) -> str:
    """Make Redis and Sentinel serve the certificate cert-manager renewed into their Secret.

    The kubelet updates the mounted files, but neither process rereads them by itself.
    Redis rereads its TLS files on `CONFIG SET tls-cert-file ...`, even with the same path
    (measured with redis-server 7.0.15). Sentinel has no CONFIG command, so each Sentinel in
    turn gets SHUTDOWN: the kubelet restarts the container, which then reads the new files. The
    next one waits until the previous one answers again, so a quorum stays up."""
    tls = f"--tls --cacert /tls/{CA_KEY}"
    sentinel = f"{replication}-sentinel"
    lines = [
        "set -u",
        "failed=0",
        f"for i in $(seq 0 {redis_pods - 1}); do",
        f"  host={replication}-$i.{replication}-headless",
        f"  redis-cli {tls} -h \"$host\" -p 6379 CONFIG SET tls-cert-file /tls/tls.crt tls-key-file /tls/tls.key "
        f"tls-ca-cert-file /tls/{CA_KEY} | grep -qx OK || {{ echo \"reload failed on $host\"; failed=1; }}",
        "done",
        f"for i in $(seq 0 {sentinel_pods - 1}); do",
        f"  host={sentinel}-$i.{sentinel}-headless",
        f"  redis-cli {tls} -h \"$host\" -p 26379 SHUTDOWN >/dev/null 2>&1",
        "  up=0",
        f"  for s in $(seq 1 {SENTINEL_RESTART_WAIT_SECONDS // 5}); do",
        "    sleep 5",
        f"    if redis-cli {tls} -h \"$host\" -p 26379 PING 2>/dev/null | grep -qx PONG; then up=1; break; fi",
        "  done",
        '  [ "$up" = 1 ] || { echo "sentinel $host did not come back"; failed=1; break; }',
        "done",
        'exit "$failed"',
    ]
    return "\n".join(lines)


def reloader_name(replication: str) -> str:
    """One reload CronJob per RedisReplication sharing `redis-tls`: `redis-tls-reload` for the
    durable store, `<replication>-tls-reload` for another (the cache, `redis-cache-tls-reload`)."""
    return RELOADER_NAME if replication == "redis" else f"{replication}-tls-reload"


def redis_cert_reloader(
    namespace: pulumi.Input[str], replication: str, redis_pods: int, sentinel_pods: int,
    image: str, uid: int, password_secret: pulumi.Input[str], opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.CronJob:
    """The weekly CronJob running `reload_script` with the CA and the Redis password. The pod
    label `redis-tls-reload` is the one the data namespace's policies let reach Redis and
    Sentinel, whichever store it reloads."""
    name = reloader_name(replication)
    labels = {**kube.recommended_labels(name, "redis"), DATA_STORE_LABEL: "redis-tls-reload"}
    pod = {
        "metadata": {"labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": kube.restricted_pod_security(uid),
            "volumes": [{"name": "tls", "secret": {"secretName": REDIS_SECRET, "items": [{"key": CA_KEY, "path": CA_KEY}], "defaultMode": 0o444}}],
            "containers": [{
                "name": "reload",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", reload_script(replication, redis_pods, sentinel_pods)],
                # redis-cli reads the password from REDISCLI_AUTH (not argv, not a file in the image).
                "env": [{"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {"name": password_secret, "key": "password"}}}],
                "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": True}],
                "resources": kube.resource_values(ContainerSize("10m", "16Mi", "32Mi")),
                "securityContext": {**kube.restricted_container_security(uid), "seccompProfile": {"type": "RuntimeDefault"}},
            }],
        },
    }
    return k8s.batch.v1.CronJob(
        name,
        metadata=kube.metadata(name, "redis", namespace),
        spec={
            "schedule": RELOAD_SCHEDULE,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {
                "backoffLimit": 1,
                "activeDeadlineSeconds": 60 + sentinel_pods * (SENTINEL_RESTART_WAIT_SECONDS + 30),
                "ttlSecondsAfterFinished": 86400,
                "template": pod,
            }},
        },
        opts=opts,
    )
