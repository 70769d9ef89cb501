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

from typing import Mapping, NotRequired, TypedDict, Unpack

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube

API_VERSION = "monitoring.coreos.com/v1"


class MonitorOptions(TypedDict):
    """component: the recommended `component` label; selector: labels of the Services (or pods)
    to scrape; port: the named port; crds: the kube-prometheus-stack release
    (`Monitoring.prometheus_stack`); parent: the owning component; path, interval: scrape settings."""

    component: str
    selector: Mapping[str, str]
    port: str
    crds: pulumi.Resource
    parent: pulumi.Resource
    path: NotRequired[str]
    interval: NotRequired[str]


# kind -> the spec key listing its scrape endpoints
_ENDPOINTS_KEY = {"ServiceMonitor": "endpoints", "PodMonitor": "podMetricsEndpoints"}


def _monitor(
    kind: str,
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
    suffix = "service-monitor" if kind == "ServiceMonitor" else "pod-monitor"
    return k8s.apiextensions.CustomResource(
        f"{name}-{suffix}",
        api_version=API_VERSION,
        kind=kind,
        metadata=kube.metadata(name, component, namespace),
        spec={
            "selector": {"matchLabels": dict(selector)},
            _ENDPOINTS_KEY[kind]: [{"port": port, "path": path, "interval": interval}],
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[crds]),
    )


def service_monitor(
    name: str, namespace: pulumi.Input[str], **options: Unpack[MonitorOptions]
) -> k8s.apiextensions.CustomResource:
    """A ServiceMonitor for the Services labelled `selector`, scraping their named `port`."""
    return _monitor("ServiceMonitor", name, namespace, **options)


def pod_monitor(
    name: str, namespace: pulumi.Input[str], **options: Unpack[MonitorOptions]
) -> k8s.apiextensions.CustomResource:
    """A PodMonitor for the pods labelled `selector` (no Service needed), scraping `port`."""
    return _monitor("PodMonitor", name, namespace, **options)
