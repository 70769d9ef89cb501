"""Good and bad resources for the Kubernetes object rules."""

from __future__ import annotations

import copy
from typing import Any

from tests.policy_cases.common import Case, record

LABELS = {
    "app.kubernetes.io/name": "web",
    "app.kubernetes.io/instance": "prod",
    "app.kubernetes.io/component": "frontend",
    "app.kubernetes.io/part-of": "saas-platform",
    "app.kubernetes.io/managed-by": "pulumi",
}


def deployment(**container_overrides: Any) -> dict[str, Any]:
    """A Deployment; an override of None removes that container field."""
    container = {
        "name": "web",
        "image": "ghcr.io/acme/web:1.4.2",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        **container_overrides,
    }
    container = {k: v for k, v in container.items() if v is not None}
    return record(
        "kubernetes:apps/v1:Deployment",
        "web",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "saas-app", "labels": dict(LABELS)},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "web"}},
                "template": {"metadata": {"labels": dict(LABELS)}, "spec": {"containers": [container]}},
            },
        },
    )


def without(resource: dict[str, Any], *path: str) -> dict[str, Any]:
    resource = copy.deepcopy(resource)
    target = resource["inputs"]
    for step in path[:-1]:
        target = target[step]
    del target[path[-1]]
    return resource


def autonamed() -> dict[str, Any]:
    resource = deployment()
    resource["inputs"]["metadata"]["annotations"] = {"pulumi.com/autonamed": "true"}
    return resource


CASES: list[Case] = [
    ("k8s-explicit-name", [deployment()], [without(deployment(), "metadata", "name")]),
    ("k8s-explicit-name", [deployment()], [autonamed()]),
    ("k8s-recommended-labels", [deployment()], [without(deployment(), "metadata", "labels", "app.kubernetes.io/component")]),
    ("k8s-recommended-labels", [deployment()], [without(deployment(), "spec", "template", "metadata", "labels", "app.kubernetes.io/instance")]),
    ("k8s-pinned-images", [deployment(image="ghcr.io/acme/web@sha256:" + "b" * 64)], [deployment(image="ghcr.io/acme/web:latest")]),
    ("k8s-pinned-images", [deployment(image="registry.local:5000/web:2.0")], [deployment(image="registry.local:5000/web")]),
    ("k8s-container-resources", [deployment()], [deployment(resources={"requests": {"cpu": "100m"}})]),
    ("k8s-container-resources", [deployment()], [deployment(resources={})]),
]
