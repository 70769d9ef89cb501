"""A workload built only from the shared helpers (components/k8s.py) inside the platform's
namespaces: what checkov says about it is what it will say about every component that uses
the helpers. Synthesized by tests/test_checkov.py with `python -m synth dev --program`."""

import pulumi
import pulumi_kubernetes as k8s

from components import config
from components import k8s as kube
from components.config import ContainerSize
from components.platform import ClusterPlatform, ClusterPlatformArgs

settings = config.load()
platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings))
namespace = platform.namespaces["app"]
selector = kube.selector_labels("sample", "frontend")

k8s.apps.v1.Deployment(
    "sample",
    metadata=kube.metadata(
        "sample",
        "frontend",
        namespace,
        annotations=kube.policy_exemption(["app-workloads-scraped"], "a checkov sample of the helpers, not an application"),
    ),
    spec=k8s.apps.v1.DeploymentSpecArgs(
        replicas=2,
        selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
        strategy=kube.rolling_update(),
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.recommended_labels("sample", "frontend")),
            spec=kube.pod_spec(
                [
                    k8s.core.v1.ContainerArgs(
                        name="web",
                        image=settings.raw.frontend.image,
                        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=3000)],
                        resources=kube.resources(ContainerSize("100m", "256Mi", "256Mi")),
                        security_context=kube.container_security_context(),
                        readiness_probe=kube.http_probe("/", "http"),
                        liveness_probe=kube.http_probe("/", "http"),
                        startup_probe=kube.startup_probe("/", "http"),
                        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
                    )
                ],
                selector=selector,
                volumes=[kube.tmp_volume()],
            ),
        ),
    ),
)
kube.disruption_budget("sample", "frontend", namespace, selector, opts=pulumi.ResourceOptions())
