"""Good and bad resources for the reference and rollout rules."""

from __future__ import annotations

import copy
from typing import Any

from tests.policy_cases.common import Case, record
from tests.policy_cases.kubernetes import LABELS, deployment


def middleware(name: str, namespace: str = "saas-ingress") -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "labels": dict(LABELS)}
    return record("kubernetes:traefik.io/v1alpha1:Middleware", f"{namespace}-{name}",
                  {"apiVersion": "traefik.io/v1alpha1", "kind": "Middleware", "metadata": meta, "spec": {"compress": {}}})


def route(*middlewares: dict[str, str]) -> dict[str, Any]:
    meta = {"name": "web", "namespace": "saas-app", "labels": dict(LABELS)}
    spec = {"entryPoints": ["websecure"], "tls": {}, "routes": [
        {"kind": "Rule", "match": "Host(`example.com`)", "middlewares": list(middlewares), "services": [{"name": "web", "port": 80}]}
    ]}
    return record("kubernetes:traefik.io/v1alpha1:IngressRoute", "web-route",
                  {"apiVersion": "traefik.io/v1alpha1", "kind": "IngressRoute", "metadata": meta, "spec": spec})


def service(selector: dict[str, str]) -> dict[str, Any]:
    meta = {"name": "web", "namespace": "saas-app", "labels": dict(LABELS)}
    return record("kubernetes:core/v1:Service", "web-svc", {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                  "spec": {"selector": selector, "ports": [{"port": 80}]}})


def rollout(strategy: dict[str, Any], replicas: int | None = None) -> dict[str, Any]:
    resource = copy.deepcopy(deployment())
    resource["inputs"]["spec"]["strategy"] = strategy
    if replicas is not None:
        resource["inputs"]["spec"]["replicas"] = replicas
    return resource


ZERO = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}}

CASES: list[Case] = [
    ("traefik-middlewares-exist",
     [route({"name": "compression", "namespace": "saas-ingress"}), middleware("compression")],
     [route({"name": "compresion", "namespace": "saas-ingress"}), middleware("compression")]),
    ("traefik-middlewares-exist",
     [route({"name": "compression", "namespace": "saas-ingress"}), middleware("compression")],
     [route({"name": "compression"}), middleware("compression")]),  # defaults to the route's namespace
    ("k8s-services-select-pods",
     [service({"app.kubernetes.io/name": "web"}), deployment()],
     [service({"app.kubernetes.io/name": "api"}), deployment()]),
    ("k8s-safe-rollout", [rollout(ZERO)], [rollout({"type": "RollingUpdate"})]),
    ("k8s-safe-rollout", [rollout({"type": "Recreate"}, replicas=1)], [rollout({"type": "Recreate"}, replicas=2)]),
]
