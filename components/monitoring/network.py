"""Monitoring's and logging's NetworkPolicies (on top of the platform's default-deny in their
namespaces) and the admin-guarded IngressRoutes of Grafana and Graylog."""

from __future__ import annotations

from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.contracts import MiddlewareRef
from components.monitoring.logs import GRAYLOG_POD, GRAYLOG_PORT
from components.monitoring.metrics import GRAFANA_POD, GRAFANA_PORT
from components.platform.network import PROMETHEUS_POD
from components.platform.traefik import TRAEFIK_ROLE

# The pods of a stack talk to each other (Grafana -> Prometheus -> Alertmanager, sidecars, config
# reloaders; Fluent Bit -> Graylog, Graylog <-> DataNode <-> MongoDB, operator -> MongoDB).
_INTERNAL: dict[str, Any] = {
    "podSelector": {},
    "policyTypes": ["Ingress", "Egress"],
    "ingress": [{"from": [{"podSelector": {}}]}],
    "egress": [{"to": [{"podSelector": {}}]}],
}
# Operators, sidecars and service discovery talk to the Kubernetes API; its address is not a
# pod, so the port is the filter.
_KUBE_API: dict[str, Any] = {
    "podSelector": {},
    "policyTypes": ["Egress"],
    "egress": [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}],
}


def _from_traefik(pod: Mapping[str, str], port: int, ingress_ns: pulumi.Input[str]) -> dict[str, Any]:
    """Traefik (only) reaches `pod` on `port`."""
    return {
        "podSelector": {"matchLabels": dict(pod)},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [{
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_ns}},
                    "podSelector": {"matchLabels": dict(TRAEFIK_ROLE)},
                }],
                "ports": [{"protocol": "TCP", "port": port}],
            }
        ],
    }


def _network_policies(
    prefix: str, namespace: pulumi.Input[str], rules: Mapping[str, Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> None:
    for name, spec in rules.items():
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-{name}",
            metadata=kube.metadata(name, "network-policy", namespace),
            spec=spec,
            opts=opts,
        )


def monitoring_network_policies(
    namespace: pulumi.Output[str],
    ingress_ns: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    *,
    mail_port: int | None = None,
) -> None:
    """Allow what the stack needs on top of the platform's default-deny in its namespace.
    `mail_port`: the SMTP port of the mail relay Alertmanager sends through (Mailpit's 1025
    in development), opened beside the submission ports."""
    notify_ports = sorted({587, 465, 443, *([mail_port] if mail_port else [])})
    rules: dict[str, dict[str, Any]] = {
        "allow-monitoring-internal": _INTERNAL,
        "allow-grafana-from-ingress": _from_traefik(GRAFANA_POD, GRAFANA_PORT, ingress_ns),
        # Prometheus scrapes every namespace and the nodes (kubelet, node-exporter on the host
        # network), whose addresses are not pods: any destination.
        "allow-prometheus-scrape": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
            "policyTypes": ["Egress"],
            "egress": [{}],
        },
        # The operator, kube-state-metrics, Grafana's sidecars and Prometheus' service discovery.
        "allow-kube-api": _KUBE_API,
        # The API server calls the operator's admission webhook.
        "allow-operator-webhook": {
            "podSelector": {"matchLabels": {"app": "kube-prometheus-stack-operator"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": 10250}]}],
        },
        # Alertmanager sends mail (SMTP submission, or the relay's own port) and webhooks (HTTPS).
        "allow-alertmanager-notify": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
            "policyTypes": ["Egress"],
            "egress": [{"ports": [{"protocol": "TCP", "port": port} for port in notify_ports]}],
        },
    }
    _network_policies("monitoring", namespace, rules, opts)


def logging_network_policies(
    logging_ns: pulumi.Output[str],
    monitoring_ns: pulumi.Input[str],
    ingress_ns: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    rules: dict[str, dict[str, Any]] = {
        "allow-logging-internal": _INTERNAL,
        # Prometheus (only) scrapes Graylog and Fluent Bit, on their metrics ports only
        # (Graylog's 9833 exporter, Fluent Bit's `http` 2020): not Graylog's web or GELF ports.
        "allow-scrape-from-monitoring": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [{
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_ns}},
                    "podSelector": {"matchLabels": dict(PROMETHEUS_POD)},
                }], "ports": [{"port": 9833, "protocol": "TCP"}, {"port": 2020, "protocol": "TCP"}]}
            ],
        },
        "allow-graylog-from-ingress": _from_traefik(GRAYLOG_POD, GRAYLOG_PORT, ingress_ns),
        # The MongoDB operator and Fluent Bit's kubernetes filter.
        "allow-kube-api": _KUBE_API,
    }
    _network_policies("logging", logging_ns, rules, opts)


def ingress_route(
    app: str,
    namespace: pulumi.Input[str],
    host: str,
    service: str,
    port: int,
    guard: MiddlewareRef,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """An HTTPS IngressRoute behind the admin guard; TLS from Traefik's default (wildcard) certificate."""
    return k8s.apiextensions.CustomResource(
        f"{app}-ingress-route",
        api_version="traefik.io/v1alpha1",
        kind="IngressRoute",
        metadata=kube.metadata(app, "ingress", namespace, app=app),
        spec={
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": f"Host(`{host}`)",
                    "middlewares": [guard.as_route_ref()],
                    "services": [{"kind": "Service", "name": service, "port": port}],
                }
            ],
            "tls": {},
        },
        opts=opts,
    )
