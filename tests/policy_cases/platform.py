"""Good and bad resources for the cluster platform rules."""

from __future__ import annotations

import copy
from typing import Any

from tests.policy_cases.common import Case, record
from tests.policy_cases.kubernetes import LABELS


def ingress_route(**spec: Any) -> dict[str, Any]:
    return record(
        "kubernetes:traefik.io/v1alpha1:IngressRoute",
        "web",
        {
            "apiVersion": "traefik.io/v1alpha1",
            "kind": "IngressRoute",
            "metadata": {"name": "web", "namespace": "saas-app", "labels": dict(LABELS)},
            "spec": {
                "entryPoints": ["websecure"],
                "routes": [{"kind": "Rule", "match": "Host(`example.com`)", "services": [{"name": "web", "port": 80}]}],
                "tls": {},
                **spec,
            },
        },
    )


def without_tls() -> dict[str, Any]:
    route = ingress_route()
    del route["inputs"]["spec"]["tls"]
    return route


def service(type_: str) -> dict[str, Any]:
    return record(
        "kubernetes:core/v1:Service",
        f"web-{type_.lower()}",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "saas-app", "labels": dict(LABELS)},
            "spec": {"type": type_, "selector": {"app.kubernetes.io/name": "web"}, "ports": [{"port": 80}]},
        },
    )


def release(chart: str, values: dict[str, Any]) -> dict[str, Any]:
    return record(
        "kubernetes:helm.sh/v3:Release",
        chart,
        {"name": chart, "chart": chart, "version": "1.0.0", "namespace": "saas-data", "values": values},
    )


def namespace(name: str) -> dict[str, Any]:
    return record(
        "kubernetes:core/v1:Namespace",
        name,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(LABELS)}},
    )


def network_policy(namespace_name: str, **spec: Any) -> dict[str, Any]:
    return record(
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        f"{namespace_name}-default-deny",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": namespace_name, "labels": dict(LABELS)},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], **spec},
        },
    )


def selective_policy() -> dict[str, Any]:
    policy = network_policy("saas-app")
    policy["inputs"]["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/name": "web"}}
    return policy


GOOD_NAMESPACES = [namespace("saas-app"), network_policy("saas-app"), namespace("saas-data"), network_policy("saas-data")]

CASES: list[Case] = [
    ("traefik-ingressroute-tls", [ingress_route()], [without_tls()]),
    ("traefik-ingressroute-tls", [ingress_route()], [ingress_route(entryPoints=["web", "websecure"])]),
    ("traefik-ingressroute-tls", [ingress_route()], [ingress_route(entryPoints=[])]),
    ("k8s-no-exposed-services", [service("ClusterIP")], [service("LoadBalancer")]),
    ("k8s-no-exposed-services", [service("ClusterIP")], [service("NodePort")]),
    (
        "k8s-no-exposed-services",
        [release("traefik", {"service": {"spec": {"type": "LoadBalancer"}}}), release("grafana", {"service": {"type": "ClusterIP"}})],
        [release("grafana", {"service": {"type": "LoadBalancer"}})],
    ),
    ("k8s-namespace-default-deny", GOOD_NAMESPACES, [namespace("saas-app")]),
    ("k8s-namespace-default-deny", GOOD_NAMESPACES, [namespace("saas-app"), selective_policy()]),
    (
        "k8s-namespace-default-deny",
        GOOD_NAMESPACES,
        # A policy that allows something is not a default deny.
        [namespace("saas-app"), network_policy("saas-app", ingress=[{"from": [{"podSelector": {}}]}])],
    ),
    ("k8s-namespace-default-deny", GOOD_NAMESPACES, [*copy.deepcopy(GOOD_NAMESPACES[:2]), namespace("saas-keda")]),
]
