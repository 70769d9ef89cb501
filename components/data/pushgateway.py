"""The recovery drill's Pushgateway: where the drill's results wait for Prometheus.

A drill pod lives minutes, once a month: too short and too rare to be scraped, so it pushes
its results (the Prometheus documentation's case for a Pushgateway: a service-level batch job).
"""

from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize

PUSHGATEWAY = "drill-pushgateway"
# prometheus/pushgateway, the upstream image (pinned).
PUSHGATEWAY_IMAGE = "quay.io/prometheus/pushgateway:v1.11.1"
PUSHGATEWAY_PORT = 9091
# Its data-store label value (the data namespace's policies select pods by it).
PUSHGATEWAY_STORE = "drill-pushgateway"


def pushgateway(
    ns: pulumi.Output[str],
    monitoring_crds: Sequence[pulumi.Resource],
    opts: pulumi.ResourceOptions,
    *,
    labels: dict[str, str],
) -> None:
    """One Pushgateway for the drill's results, scraped with `honorLabels` (the pushed `job`
    label is the drill's). Its state is an emptyDir file: a lost pod loses the last results
    until the next drill, which the CronJob's own last-success metric covers."""
    selector = kube.selector_labels(PUSHGATEWAY, "mariadb-drill")
    k8s.apps.v1.Deployment(
        PUSHGATEWAY,
        metadata=kube.metadata(PUSHGATEWAY, "mariadb-drill", ns),
        spec={
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": kube.restricted_pod_security(),
                    "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "16Mi"}}],
                    "containers": [{
                        "name": "pushgateway",
                        "image": PUSHGATEWAY_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["--persistence.file=/data/metrics", "--persistence.interval=1m"],
                        "ports": [{"name": "pushgateway", "containerPort": PUSHGATEWAY_PORT}],
                        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        "readinessProbe": {"httpGet": {"path": "/-/ready", "port": "pushgateway"}, "periodSeconds": 10},
                        "livenessProbe": {"httpGet": {"path": "/-/healthy", "port": "pushgateway"}, "periodSeconds": 30},
                        "resources": kube.resource_values(ContainerSize("10m", "32Mi", "64Mi")),
                        "securityContext": kube.restricted_container_security(),
                    }],
                },
            },
        },
        opts=opts,
    )
    k8s.core.v1.Service(
        PUSHGATEWAY,
        metadata=kube.metadata(PUSHGATEWAY, "mariadb-drill", ns),
        spec={"selector": selector, "ports": [{"name": "pushgateway", "port": PUSHGATEWAY_PORT, "targetPort": "pushgateway"}]},
        opts=opts,
    )
    if monitoring_crds:
        k8s.apiextensions.CustomResource(
            f"{PUSHGATEWAY}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=kube.metadata(PUSHGATEWAY, "mariadb-drill", ns),
            spec={
                "selector": {"matchLabels": kube.recommended_labels(PUSHGATEWAY, "mariadb-drill")},
                "endpoints": [{"port": "pushgateway", "path": "/metrics", "interval": "60s", "honorLabels": True}],
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(monitoring_crds))),
        )
