"""The scheduler: exactly one `schedule:work` Deployment with the Recreate strategy.

A CronJob would pay a PHP cold start every minute and, with `concurrencyPolicy: Forbid`, skip a
minute whenever the previous run overran; Recreate guarantees the old pod is gone before the new
one starts, and `onOneServer()` (Redis lock) covers the rest.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import routing
from components.backend.pods import PhpPods
from components.backend.settings import APP


def scheduler(pods: PhpPods, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
    """The one `schedule:work` Deployment (Recreate)."""
    selector = kube.selector_labels(APP, "scheduler")
    container = pods.container("scheduler", track.image, ["php", "artisan", "schedule:work"])
    pod = kube.pod_spec(
        [container], init_containers=[pods.prepare(track.image)], selector=selector,
        volumes=pods.volumes(),
        termination_grace_seconds=pods.args.config.raw.backend.jobTimeout + 30, spread=False,
    )
    # Exactly one runner: Recreate never starts the new pod before the old one is gone.
    pods.deployment(
        "backend-scheduler", "scheduler", selector, pod, opts,
        replicas=1, strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
        annotations=kube.policy_exemption(
            ["app-workloads-scraped"],
            "schedule:work serves no metrics endpoint; a missing or crash-looping scheduler pod "
            "fires the kube-state-metrics based alerts",
        ),
    )
