"""Helpers for the components that own a workload to declare how Prometheus scrapes it.

Prometheus (kube-prometheus-stack in Monitoring) selects ServiceMonitors and PodMonitors from
every namespace whatever their labels, so a component only needs to create the monitor next to
its workload and make it wait for the release that installs the CRDs:

    service_monitor("api", namespace, component="backend-web",
                    selector=kube.selector_labels("api", "backend-web"), port="metrics",
                    crds=monitoring.prometheus_stack, parent=self)

The `app-workloads-scraped` policy fails a stack whose application workloads no monitor selects.
"""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube

API_VERSION = "monitoring.coreos.com/v1"


def _endpoint(port: str, path: str, interval: str) -> dict[str, Any]:
    return {"port": port, "path": path, "interval": interval}


def service_monitor(
    name: str,
    namespace: pulumi.Input[str],
    *,
    component: str,
    selector: Mapping[str, str],
    port: str,
    crds: pulumi.Resource,
    parent: pulumi.Resource,
    path: str = "/metrics",
    interval: str = "30s",
) -> k8s.apiextensions.CustomResource:
    """A ServiceMonitor for the Services labelled `selector`, scraping their named `port`."""
    return k8s.apiextensions.CustomResource(
        f"{name}-service-monitor",
        api_version=API_VERSION,
        kind="ServiceMonitor",
        metadata=kube.metadata(name, component, namespace),
        spec={"selector": {"matchLabels": dict(selector)}, "endpoints": [_endpoint(port, path, interval)]},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[crds]),
    )


def pod_monitor(
    name: str,
    namespace: pulumi.Input[str],
    *,
    component: str,
    selector: Mapping[str, str],
    port: str,
    crds: pulumi.Resource,
    parent: pulumi.Resource,
    path: str = "/metrics",
    interval: str = "30s",
) -> k8s.apiextensions.CustomResource:
    """A PodMonitor for the pods labelled `selector` (no Service needed), scraping `port`."""
    return k8s.apiextensions.CustomResource(
        f"{name}-pod-monitor",
        api_version=API_VERSION,
        kind="PodMonitor",
        metadata=kube.metadata(name, component, namespace),
        spec={"selector": {"matchLabels": dict(selector)}, "podMetricsEndpoints": [_endpoint(port, path, interval)]},
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[crds]),
    )
