"""Good and bad stacks for the scraping rule: an app Deployment with and without a monitor."""

from __future__ import annotations

import copy
from typing import Any

from tests.policy_cases.common import Case, record
from tests.policy_cases.kubernetes import LABELS, deployment


def _monitor(kind: str, selector: dict[str, Any], namespace: str = "saas-app", **spec: Any) -> dict[str, Any]:
    return record(
        f"kubernetes:monitoring.coreos.com/v1:{kind}",
        f"web-{kind.lower()}",
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": kind,
            "metadata": {"name": "web", "namespace": namespace, "labels": dict(LABELS)},
            "spec": {"selector": {"matchLabels": selector}, **spec},
        },
    )


def _service(labels: dict[str, str], selector: dict[str, str]) -> dict[str, Any]:
    return record(
        "kubernetes:core/v1:Service",
        "web-svc",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "saas-app", "labels": labels},
            "spec": {"selector": selector, "ports": [{"name": "metrics", "port": 9100}]},
        },
    )


def _worker() -> dict[str, Any]:
    """A second app workload (a queue worker) with other labels."""
    worker = copy.deepcopy(deployment())
    worker["name"] = worker["inputs"]["metadata"]["name"] = "worker"
    worker["urn"] = worker["urn"].replace("::web", "::worker")
    worker["inputs"]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "worker"
    return worker


POD = {"app.kubernetes.io/name": "web"}
CASES: list[Case] = [
    # A PodMonitor selecting the pods' labels.
    ("app-workloads-scraped", [deployment(), _monitor("PodMonitor", POD, podMetricsEndpoints=[{"port": "metrics"}])], [deployment()]),
    # A ServiceMonitor selecting the Service in front of the pods.
    (
        "app-workloads-scraped",
        [deployment(), _service(dict(LABELS), POD), _monitor("ServiceMonitor", {"app.kubernetes.io/component": "frontend"})],
        [deployment(), _service(dict(LABELS), POD), _monitor("ServiceMonitor", {"app.kubernetes.io/component": "backend-web"})],
    ),
    # A monitor in another namespace covers the app only through its namespaceSelector.
    (
        "app-workloads-scraped",
        [deployment(), _monitor("PodMonitor", POD, "saas-monitoring", namespaceSelector={"matchNames": ["saas-app"]})],
        [deployment(), _monitor("PodMonitor", POD, "saas-monitoring")],
    ),
    # Every workload needs one: a monitor for the web pods leaves the worker unscraped.
    ("app-workloads-scraped", [deployment(), _monitor("PodMonitor", POD)], [deployment(), _worker(), _monitor("PodMonitor", POD)]),
]
