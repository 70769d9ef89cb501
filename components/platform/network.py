"""Network isolation: namespaces that deny everything, and the labels that open a door.

Every namespace starts with `default-deny` (no ingress, no egress for any pod) and `allow-dns`
(UDP/TCP 53 to kube-dns). Everything else is an explicit NetworkPolicy.

Label contract (other components put these labels on their pod templates):

| label on a pod | where | effect |
|---|---|---|
| `networking.saas-platform.io/ingress: "traefik"` | app namespace | Traefik may connect to the pod (any port) |
| `networking.saas-platform.io/scrape: "true"` | any namespace | Prometheus pods (`PROMETHEUS_POD` in the monitoring namespace) may connect to the pod on the metrics ports of its namespace (`NamespaceSpec.scrape`, from `SCRAPE_PORTS`) |
| `app.kubernetes.io/name: backend` (`DATA_CLIENT`) | app namespace | the pod may reach the data namespace on `DATA_PORTS` (and the data pods accept it) |

Only the backend workloads (web, workers, scheduler, Reverb, migrations) reach the data layer:
the frontend, Mailpit and cert-manager's HTTP-01 solver pods in the app namespace cannot open a
database, cache, queue or S3 connection. Nothing else leaves the app namespace. `networking.saas-platform.io/role` marks the platform's own controller pods
(Traefik, cert-manager, KEDA), set through their chart values so the policies below do not
depend on chart-internal labels.

A component that runs its own operator creates its namespace with `isolated_namespace(...)`
(or `ClusterPlatform.isolated_namespace`, which knows the API server CIDRs) and adds the
allows its pods need with `network_policy(...)` and the peer helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube

INGRESS_LABEL = "networking.saas-platform.io/ingress"
INGRESS_VALUE = "traefik"
SCRAPE_LABEL = "networking.saas-platform.io/scrape"
ROLE_LABEL = "networking.saas-platform.io/role"

# Ports the data layer serves to the applications.
DATA_PORTS: Mapping[str, int] = {
    "mariadb": 3306,
    "redis": 6379,
    "redis-sentinel": 26379,
    "rabbitmq-amqp": 5672,
    "s3": 8333,
}
# AMQPS: with `data.tls` the applications and KEDA reach RabbitMQ here instead of on 5672.
AMQPS_PORT = 5671


def data_ports(tls: bool) -> list[int]:
    """DATA_PORTS as the applications use them: AMQPS instead of AMQP when `data.tls` is on
    (the other stores keep their port numbers and speak TLS on them)."""
    return [AMQPS_PORT if tls and name == "rabbitmq-amqp" else port for name, port in DATA_PORTS.items()]


def queue_ports(tls: bool) -> list[int]:
    """QUEUE_PORTS with AMQPS instead of AMQP when `data.tls` is on."""
    return [AMQPS_PORT if tls and name == "rabbitmq-amqp" else port for name, port in QUEUE_PORTS.items()]


# Ports KEDA's scalers read queue lengths from (Redis lists, RabbitMQ management API / AMQP).
QUEUE_PORTS: Mapping[str, int] = {
    "redis": 6379,
    "redis-sentinel": 26379,
    "rabbitmq-amqp": 5672,
    "rabbitmq-management": 15672,
}
# The application pods that use the data layer: every backend workload (LaravelBackend labels
# them all `app.kubernetes.io/name: backend`), nothing else in the app namespace.
DATA_CLIENT: Mapping[str, str] = {"app.kubernetes.io/name": "backend"}
# The Prometheus pods of kube-prometheus-stack (the operator labels its Prometheus StatefulSet
# pods `app.kubernetes.io/name: prometheus`): the only monitoring pods that scrape.
PROMETHEUS_POD: Mapping[str, str] = {"app.kubernetes.io/name": "prometheus"}
# The metrics ports of `scrape`-labelled pods: the frontend's HTTP port (its metrics route),
# the backend web pod's HTTP port (the Laravel app's metrics route, through nginx), the
# backend's nginx and php-fpm exporters, Traefik's metrics entry point, cert-manager's
# controller (`http-metrics`, 9402) and KEDA's operator and metrics server (chart
# `prometheus.*.port`, 8080).
SCRAPE_PORTS: Mapping[str, int] = {
    "frontend": 3000,
    "backend-web": 8080,
    "nginx-exporter": 9113,
    "php-fpm-exporter": 9253,
    "traefik": 9100,
    "cert-manager": 9402,
    "keda": 8080,
}
KUBERNETES_API_PORTS = (443, 6443)
# "The internet" for controllers that call public APIs: everything but private, link-local
# (cloud metadata endpoints) and carrier-grade NAT ranges, so a compromised controller cannot
# use the rule to reach pods or node-local services.
_PRIVATE_V4 = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10"]
_PRIVATE_V6 = ["fc00::/7", "fe80::/10"]

NAME_LABEL = "kubernetes.io/metadata.name"
# Prometheus runs here; a namespace with metrics ports admits it to `scrape`-labelled pods.
MONITORING_NAMESPACE = "saas-monitoring"
# Tracing (components/monitoring/tracing.py): the OpenTelemetry Collector and Grafana Tempo run in their
# own namespace. Traefik (configured by the platform, before Tracing exists) and the
# applications send OTLP to the collector's Service, so its name and ports are fixed here.
TRACING_NAMESPACE = "saas-tracing"
COLLECTOR_SERVICE = "otel-collector"
OTLP_GRPC_PORT, OTLP_HTTP_PORT = 4317, 4318
# The collector's pods (chart selector label), which the app and ingress namespaces may reach.
COLLECTOR_POD: Mapping[str, str] = {"app.kubernetes.io/name": "opentelemetry-collector"}


def collector_otlp_http_url() -> str:
    """Base URL of the collector's OTLP/HTTP receiver (SDKs append `/v1/traces`)."""
    return f"http://{COLLECTOR_SERVICE}.{TRACING_NAMESPACE}.svc.cluster.local:{OTLP_HTTP_PORT}"
# The Kubernetes version whose Pod Security Standards we pin, so a cluster upgrade does not
# silently tighten or loosen what is admitted.
POD_SECURITY_VERSION = "v1.32"


@dataclass(frozen=True)
class IsolatedNamespace:
    """A namespace created with default-deny and DNS. `name` is the namespace's name."""

    name: pulumi.Output[str]
    resource: k8s.core.v1.Namespace


# ------------------------------------------------------------------------------------------
# Peers and ports
# ------------------------------------------------------------------------------------------


def selector(labels: Mapping[str, str] | None) -> k8s.meta.v1.LabelSelectorArgs:
    """A label selector; `None` or `{}` selects everything."""
    return k8s.meta.v1.LabelSelectorArgs(match_labels=dict(labels) if labels else None)


def namespace_peer(namespace: str | None, pods: Mapping[str, str] | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods (all, or those with `pods` labels) in one namespace, or in every namespace (`None`)."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=selector({NAME_LABEL: namespace} if namespace else None),
        pod_selector=selector(pods) if pods else None,
    )


def cidr_peers(cidrs: Sequence[str], exclude: Sequence[str] = ()) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    peers = []
    for cidr in cidrs:
        v6 = ":" in cidr
        excepted = [e for e in exclude if (":" in e) == v6]
        peers.append(
            k8s.networking.v1.NetworkPolicyPeerArgs(
                ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr, except_=excepted or None)
            )
        )
    return peers


def public_internet() -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return cidr_peers(["0.0.0.0/0", "::/0"], exclude=_PRIVATE_V4 + _PRIVATE_V6)


def ports(*numbers: int, protocol: str = "TCP") -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol=protocol, port=n) for n in sorted(set(numbers))]


Peers = Sequence[k8s.networking.v1.NetworkPolicyPeerArgs] | None
Ports = Sequence[k8s.networking.v1.NetworkPolicyPortArgs] | None


def ingress_rule(peers: Peers = None, port_list: Ports = None) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    """`peers=None` means from anywhere; `port_list=None` means on every port."""
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
        from_=list(peers) if peers else None, ports=list(port_list) if port_list else None
    )


def egress_rule(peers: Peers = None, port_list: Ports = None) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """`peers=None` means to anywhere; `port_list=None` means on every port."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=list(peers) if peers else None, ports=list(port_list) if port_list else None
    )


# ------------------------------------------------------------------------------------------
# Policies
# ------------------------------------------------------------------------------------------


def network_policy(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
    *,
    pods: Mapping[str, str] | None = None,
    ingress: Sequence[k8s.networking.v1.NetworkPolicyIngressRuleArgs] | None = None,
    egress: Sequence[k8s.networking.v1.NetworkPolicyEgressRuleArgs] | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    """One NetworkPolicy for the pods matching `pods` (all pods when empty). Only the
    directions given are governed by it; an empty list denies that direction."""
    types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata=kube.metadata(name, "network-policy", namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=selector(pods),
            policy_types=types,
            ingress=list(ingress) if ingress else None,
            egress=list(egress) if egress else None,
        ),
        opts=opts,
    )


def allow_kubernetes_api(
    prefix: str,
    namespace: pulumi.Input[str],
    api_server_cidrs: Sequence[str],
    opts: pulumi.ResourceOptions,
    pods: Mapping[str, str] | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    """Egress to the Kubernetes API server (controllers, operators, webhooks' cert rotation)."""
    return network_policy(
        f"{prefix}-allow-kubernetes-api",
        "allow-kubernetes-api",
        namespace,
        opts,
        pods=pods,
        egress=[egress_rule(cidr_peers(api_server_cidrs), ports(*KUBERNETES_API_PORTS))],
    )


def isolated_namespace(
    name: str,
    component: str,
    opts: pulumi.ResourceOptions,
    *,
    api_server_cidrs: Sequence[str] = (),
    pod_security: str = "restricted",
    scrape_ports: Sequence[int] = (),
) -> IsolatedNamespace:
    """Create a namespace that denies all traffic, then allows DNS; optionally egress to the
    Kubernetes API (`api_server_cidrs`) and Prometheus scraping of `scrape`-labelled pods on
    `scrape_ports`, the metrics ports that namespace's pods serve (a union of every namespace's
    ports would let Prometheus reach, say, the backend's nginx or Traefik's API port).

    Resources are named `<name>`, `<name>-default-deny`, ... under `opts.parent`.
    """
    namespace = k8s.core.v1.Namespace(
        name,
        metadata=kube.metadata(name, component, labels=pod_security_labels(pod_security)),
        opts=opts,
    )
    ns_name = namespace.metadata.name
    network_policy(f"{name}-default-deny", "default-deny", ns_name, opts, ingress=[], egress=[])
    network_policy(
        f"{name}-allow-dns",
        "allow-dns",
        ns_name,
        opts,
        egress=[
            egress_rule(
                [namespace_peer("kube-system", {"k8s-app": "kube-dns"})],
                ports(53, protocol="UDP") + ports(53),
            )
        ],
    )
    if api_server_cidrs:
        allow_kubernetes_api(name, ns_name, api_server_cidrs, opts)
    if scrape_ports:
        network_policy(
            f"{name}-allow-prometheus",
            "allow-prometheus",
            ns_name,
            opts,
            pods={SCRAPE_LABEL: "true"},
            ingress=[ingress_rule([namespace_peer(MONITORING_NAMESPACE, PROMETHEUS_POD)], ports(*scrape_ports))],
        )
    return IsolatedNamespace(ns_name, namespace)



def pod_security_labels(level: str) -> dict[str, str]:
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = POD_SECURITY_VERSION
    return labels
