"""For test programs that build one component without the platform: declare the platform's
admin-guard Middleware so routes that use it resolve (policy traefik-middlewares-exist)."""

from __future__ import annotations

import pulumi_kubernetes as k8s

from components import k8s as kube
from components.contracts import MiddlewareRef


def admin_guard() -> MiddlewareRef:
    k8s.apiextensions.CustomResource(
        "admin-guard",
        api_version="traefik.io/v1alpha1",
        kind="Middleware",
        metadata=kube.metadata("admin-guard", "ingress", "saas-ingress"),
        spec={"ipAllowList": {"sourceRange": ["203.0.113.0/24"]}},
    )
    return MiddlewareRef("admin-guard", "saas-ingress")
