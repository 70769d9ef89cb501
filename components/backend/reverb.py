"""Laravel Reverb WebSockets, scaled horizontally over Redis pub/sub on the Redis master Service
(Reverb cannot use Sentinel), routed on `/app` and `/apps` of `app.<domain>` (routes.py).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import routing
from components.backend.pods import PhpPods
from components.backend.settings import APP, REVERB_PORT
from components.platform.network import INGRESS_LABEL, INGRESS_VALUE


def reverb(pods: PhpPods, track: routing.Track, opts: pulumi.ResourceOptions, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Reverb's Deployment, PDB and Service; returns the Service's name."""
    child = pulumi.ResourceOptions(parent=parent)
    a, cfg = pods.args, pods.args.config
    selector = kube.selector_labels(APP, "websockets")
    replicas = 2 if cfg.highly_available else 1
    container = pods.container(
        "reverb",
        track.image,
        ["php", "artisan", "reverb:start", f"--port={REVERB_PORT}", "--host=0.0.0.0"],
        ports=[k8s.core.v1.ContainerPortArgs(name="ws", container_port=REVERB_PORT)],
        readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="ws"), period_seconds=5),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="ws"), period_seconds=10, failure_threshold=3
        ),
        startup_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="ws"), period_seconds=5, failure_threshold=24
        ),
        # Reverb scales over Redis pub/sub and cannot use Sentinel (laravel/reverb#301):
        # its scaling connection reads REDIS_HOST, the master Service.
        lifecycle=kube.drain_before_stop(5),
    )
    pod = kube.pod_spec(
        [container], init_containers=[pods.prepare(track.image)], selector=selector,
        volumes=pods.volumes(), termination_grace_seconds=30,
    )
    pods.deployment(
        "backend-reverb", "websockets", selector, pod, opts, replicas=replicas,
        pod_labels={INGRESS_LABEL: INGRESS_VALUE},
        annotations=kube.policy_exemption(
            ["app-workloads-scraped"],
            "Reverb serves no Prometheus endpoint; its pods are watched through kube-state-metrics "
            "and its traffic through Traefik's metrics for the /app route",
        ),
    )
    if replicas >= 2:
        kube.disruption_budget("backend-reverb", "websockets", a.namespace, selector, app=APP, opts=child)
    service = k8s.core.v1.Service(
        "backend-reverb",
        metadata=kube.metadata("backend-reverb", "websockets", a.namespace, app=APP),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=selector,
            ports=[k8s.core.v1.ServicePortArgs(name="ws", port=REVERB_PORT, target_port="ws")],
        ),
        opts=child,
    )
    return service.metadata.name
