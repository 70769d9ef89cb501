"""The explicit allows between the platform's namespaces (the contract is in network.py)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.platform import certificates, keda, traefik
from components.platform.network import (
    DATA_CLIENT,
    DATA_PORTS,
    data_ports,
    INGRESS_LABEL,
    INGRESS_VALUE,
    MONITORING_NAMESPACE,
    PROMETHEUS_POD,
    queue_ports,
    SCRAPE_LABEL,
    SCRAPE_PORTS,
    cidr_peers,
    egress_rule,
    ingress_rule,
    namespace_peer,
    network_policy,
    ports,
    public_internet,
)


@dataclass(frozen=True)
class NamespaceSpec:
    """One namespace: its concern (the key in `namespaces`), whether its controllers talk to
    the Kubernetes API, and which `SCRAPE_PORTS` entries its scrape-labelled pods serve metrics
    on (Prometheus may open only those there, not every metrics port of every namespace)."""

    name: str
    concern: str
    kubernetes_api: bool = False
    scrape: tuple[str, ...] = ()

    @property
    def scrape_ports(self) -> tuple[int, ...]:
        return tuple(SCRAPE_PORTS[target] for target in self.scrape)


# One namespace per concern, so NetworkPolicies and Pod Security levels follow the concern.
NAMESPACES: tuple[NamespaceSpec, ...] = (
    NamespaceSpec("saas-ingress", "ingress", kubernetes_api=True, scrape=("traefik",)),
    NamespaceSpec("saas-app", "app", scrape=("frontend", "backend-web", "nginx-exporter", "php-fpm-exporter")),
    NamespaceSpec("saas-data", "data"),
    NamespaceSpec(MONITORING_NAMESPACE, "monitoring"),
    NamespaceSpec("saas-cert-manager", "cert-manager", kubernetes_api=True, scrape=("cert-manager",)),
    NamespaceSpec("saas-keda", "keda", kubernetes_api=True, scrape=("keda",)),
)
NS = {spec.concern: spec.name for spec in NAMESPACES}
# cert-manager's HTTP-01 solver pods listen here (acmesolver `--listen-port`, default 8089).
HTTP01_SOLVER_PORT = 8089


def allow_platform_traffic(
    namespaces: dict[str, pulumi.Output[str]], *, acme: bool, opts: pulumi.ResourceOptions, data_tls: bool = False
) -> None:
    """The explicit allows between the platform's namespaces (see network.py for the contract)."""
    ns = namespaces
    traefik_pods = traefik.TRAEFIK_ROLE
    app_backends = {INGRESS_LABEL: INGRESS_VALUE}
    solver_pods = {"acme.cert-manager.io/http01-solver": "true"}

    # Traefik: the world reaches the entry points; Traefik reaches labelled app pods (and the
    # HTTP-01 solver pods cert-manager starts in the namespace of the Certificate being solved:
    # the platform's own Certificates live in the ingress namespace, applications' in the app
    # namespace). Backends in other namespaces (Grafana, Graylog, the RabbitMQ UI) are opened
    # by the component that routes to them (`traefik.allow_traefik_to`).
    network_policy(
        "saas-ingress-traefik-entrypoints",
        "traefik-entrypoints",
        ns["ingress"],
        opts,
        pods=traefik_pods,
        ingress=[ingress_rule(None, ports(traefik.WEB_PORT, traefik.WEBSECURE_PORT))],
    )
    backends = [egress_rule([namespace_peer(NS["app"], app_backends)])]
    solver_namespaces = ("app", "ingress")
    if acme:
        backends += [
            egress_rule([namespace_peer(NS[concern], solver_pods)], ports(HTTP01_SOLVER_PORT))
            for concern in solver_namespaces
        ]
    network_policy("saas-ingress-traefik-backends", "traefik-backends", ns["ingress"], opts, pods=traefik_pods, egress=backends)

    # App: accept Traefik on labelled pods; reach the data layer on its ports only.
    from_traefik = [namespace_peer(NS["ingress"], traefik_pods)]
    network_policy("saas-app-allow-traefik", "allow-traefik", ns["app"], opts, pods=app_backends, ingress=[ingress_rule(from_traefik)])
    if acme:
        for concern in solver_namespaces:
            network_policy(
                f"saas-{concern}-allow-acme-solver",
                "allow-acme-http01-solver",
                ns[concern],
                opts,
                pods=solver_pods,
                ingress=[ingress_rule(from_traefik, ports(HTTP01_SOLVER_PORT))],
            )
    # Only the backend workloads use the data layer (not the frontend, Mailpit or solver pods).
    network_policy(
        "saas-app-allow-data",
        "allow-data",
        ns["app"],
        opts,
        pods=DATA_CLIENT,
        egress=[egress_rule([namespace_peer(NS["data"])], ports(*data_ports(data_tls)))],
    )

    # Data: accept the backend workloads on the data ports, KEDA's operator on the queue ports.
    network_policy(
        "saas-data-allow-app",
        "allow-app",
        ns["data"],
        opts,
        # Not the MariaDB port: DataLayer's `allow-app-to-mariadb` admits it on the one pod set the
        # app uses (MariaDB, or MaxScale in medium/large, where a MariaDB pod must stay closed).
        # AMQPS instead of AMQP with data.tls.
        ingress=[ingress_rule([namespace_peer(NS["app"], DATA_CLIENT)], ports(*(p for p in data_ports(data_tls) if p != DATA_PORTS["mariadb"])))],
    )
    network_policy(
        "saas-data-allow-keda",
        "allow-keda",
        ns["data"],
        opts,
        ingress=[ingress_rule([namespace_peer(NS["keda"], keda.OPERATOR_ROLE)], ports(*queue_ports(data_tls)))],
    )

    # Monitoring: Prometheus (and no other monitoring pod) scrapes every pod that carries the
    # scrape label, in any namespace, on the metrics ports.
    network_policy(
        "saas-monitoring-scrape",
        "prometheus-scrape",
        ns["monitoring"],
        opts,
        pods=PROMETHEUS_POD,
        egress=[egress_rule([namespace_peer(None, {SCRAPE_LABEL: "true"})], ports(*SCRAPE_PORTS.values()))],
    )

    # cert-manager: ACME and DNS provider APIs (443), the HTTP-01 self-check (80), and the
    # public resolvers it checks DNS-01 propagation against (53).
    resolvers = cidr_peers([f"{ip}/32" for ip in certificates.RECURSIVE_NAMESERVERS])
    network_policy(
        "saas-cert-manager-controller-egress",
        "controller-egress",
        ns["cert-manager"],
        opts,
        pods=certificates.CONTROLLER_ROLE,
        egress=[
            egress_rule(public_internet(), ports(80, 443)),
            egress_rule(resolvers, ports(53, protocol="UDP") + ports(53)),
            # The HTTP-01 self-check fetches http://<name>/.well-known/... through the load
            # balancer; where the LoadBalancer Service has an IP, kube-proxy short-circuits that
            # to a Traefik pod (a private address the rule above excludes): allow it directly.
            egress_rule([namespace_peer(NS["ingress"], traefik_pods)], ports(traefik.WEB_PORT)),
        ],
    )
    network_policy(
        "saas-cert-manager-webhook-ingress",
        "webhook-ingress",
        ns["cert-manager"],
        opts,
        pods=certificates.WEBHOOK_ROLE,
        # The API server calls admission webhooks from the control plane: not a pod peer.
        ingress=[ingress_rule(None, ports(certificates.WEBHOOK_PORT))],
    )

    # KEDA: API server -> metrics API server and webhooks; metrics server -> operator (gRPC);
    # operator -> queue ports in the data namespace.
    network_policy(
        "saas-keda-metrics-apiserver",
        "metrics-apiserver",
        ns["keda"],
        opts,
        pods=keda.METRICS_SERVER_ROLE,
        ingress=[ingress_rule(None, ports(keda.METRICS_SERVER_PORT))],
        egress=[egress_rule([namespace_peer(NS["keda"], keda.OPERATOR_ROLE)], ports(keda.OPERATOR_GRPC_PORT))],
    )
    network_policy(
        "saas-keda-webhooks",
        "admission-webhooks",
        ns["keda"],
        opts,
        pods=keda.WEBHOOKS_ROLE,
        ingress=[ingress_rule(None, ports(keda.WEBHOOK_PORT))],
    )
    network_policy(
        "saas-keda-operator",
        "operator",
        ns["keda"],
        opts,
        pods=keda.OPERATOR_ROLE,
        ingress=[ingress_rule([namespace_peer(NS["keda"], keda.METRICS_SERVER_ROLE)], ports(keda.OPERATOR_GRPC_PORT))],
        egress=[egress_rule([namespace_peer(NS["data"])], ports(*queue_ports(data_tls)))],
    )
