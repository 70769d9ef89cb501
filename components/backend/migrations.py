"""Migrations: one Job per release, named from a hash of the image, running
`php artisan migrate --force --isolated`.

Every Deployment depends on it, so `pulumi up` waits for the migration and a failed one stops
the rollout. The seed draws an init container: with N replicas that runs N migrations racing for
the same lock on every pod start (and on every reschedule), and a failure shows as crash-looping
web pods instead of one failed Job. A Job's pod template is immutable, hence a new name per image.
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.backend.pods import SIDECAR_SIZE, PhpPods
from components.backend.settings import APP
from components.k8s import CHECKSUM_ANNOTATION

# Migrations: retries for a database that is still failing over, a deadline, and an await
# budget beyond the deadline (pulumi-kubernetes' default Job await is 10 minutes).
MIGRATION_BACKOFF_LIMIT = 6
MIGRATION_DEADLINE_SECONDS = 900
MIGRATION_AWAIT = "20m"


def migration_job(pods: PhpPods, image: str, parent: pulumi.Resource) -> k8s.batch.v1.Job:
    """The migration Job of one image (`migrate --force --isolated`), after the stores are up."""
    name = migration_job_name(image)
    # `migrate --isolated` needs the database and the Redis cache lock (through Sentinel,
    # whose CR reports no status the engine could await): wait for both to answer.
    wait = pods.container(
        "wait-for-stores", image, ["php", "-r", WAIT_FOR_STORES_PHP], resources=kube.resources(SIDECAR_SIZE)
    )
    pod = kube.pod_spec(
        [pods.container("migrate", image, ["php", "artisan", "migrate", "--force", "--isolated"])],
        init_containers=[pods.prepare(image), wait],
        selector=kube.selector_labels(APP, "migrations"),
        volumes=pods.volumes(),
        spread=False,
        restart_policy="Never",
    )
    return k8s.batch.v1.Job(
        name,
        metadata=kube.metadata(
            name, "migrations", pods.args.namespace, app=APP,
            labels={"saas-platform.io/image": _label_value(image)},
            # pulumi-kubernetes v4.32.0 provider/pkg/provider/provider.go (Diff): a Job that
            # is not Ready (failed) is replaced on the next `pulumi up` instead of blocking
            # every later update under the same name.
            annotations={"pulumi.com/replaceUnready": "true"},
        ),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=MIGRATION_BACKOFF_LIMIT,
            active_deadline_seconds=MIGRATION_DEADLINE_SECONDS,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels={**kube.recommended_labels(APP, "migrations")},
                    annotations={CHECKSUM_ANNOTATION: pods.checksum},
                ),
                spec=pod,
            ),
        ),
        # No ttlSecondsAfterFinished: a Job deleted by the cluster would be re-created (and
        # re-run) by the next `pulumi up`. The stores' readiness (`pulumi.com/waitFor` on
        # their CRs) comes first; the await outlasts the Job's own deadline.
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=[pods.secret, pods.settings, *pods.args.data_ready],
            custom_timeouts=pulumi.CustomTimeouts(create=MIGRATION_AWAIT, update=MIGRATION_AWAIT),
        ),
    )


def migration_job_name(image: str) -> str:
    """A Job's pod template is immutable: one Job per image, named from the image's hash."""
    return f"backend-migrate-{hashlib.sha256(image.encode()).hexdigest()[:10]}"


def _label_value(image: str) -> str:
    """An image reference squeezed into a label value (63 chars of [A-Za-z0-9._-])."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in image.rsplit("/", 1)[-1])
    return cleaned[:63].strip("._-") or "image"


# Waits (up to WAIT_SECONDS, default 600) until the database and the Redis Sentinel accept TCP
# connections; the environment is the app's own (DB_HOST/DB_PORT, REDIS_SENTINEL_HOST/PORT).
WAIT_FOR_STORES_PHP = (
    '$deadline = time() + (int) (getenv("WAIT_SECONDS") ?: 600);'
    ' foreach ([["DB_HOST", "DB_PORT"], ["REDIS_SENTINEL_HOST", "REDIS_SENTINEL_PORT"]] as [$h, $p]) {'
    ' $host = (string) getenv($h); $port = (int) getenv($p);'
    ' while (!($s = @fsockopen($host, $port, $code, $message, 3))) {'
    ' if (time() >= $deadline) { fwrite(STDERR, "$host:$port not reachable: $message\\n"); exit(1); }'
    ' fwrite(STDERR, "waiting for $host:$port\\n"); sleep(2); }'
    ' fclose($s); }'
)
