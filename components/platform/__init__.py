"""ClusterPlatform: the cluster-wide ground the applications stand on.

- One namespace per concern (ingress, app, data, monitoring, cert-manager, keda), each with
  Pod Security `restricted`, `default-deny` and `allow-dns` (see network.py for the label
  contract other components use to open exactly the doors they need).
- Traefik v3 (chart 41.3.0) in the ingress namespace: the only LoadBalancer, http->https,
  the shared Middlewares and the TLS defaults (traefik.py).
- cert-manager (v1.21.1): ClusterIssuers and the wildcard certificate (certificates.py).
- KEDA (2.20.2) for queue-length autoscaling (keda.py).

Custom resources depend on the release that installs their CRDs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import contracts
from components import k8s as kube
from components.config import StackConfig, data_tls_enabled
from components.platform import certificates, charts, keda, traefik
from components.platform.isolation import NAMESPACES, NS, NamespaceSpec, allow_platform_traffic
from components.platform.network import IsolatedNamespace, isolated_namespace

TYPE = "saas-platform:index:ClusterPlatform"

__all__ = ["ClusterPlatform", "ClusterPlatformArgs", "NamespaceSpec", "NAMESPACES", "isolated_namespace"]


@dataclass(frozen=True)
class ClusterPlatformArgs:
    """Inputs of ClusterPlatform.

    config: the resolved stack configuration: `environment` decides redundancy and issuers,
        `domain` the wildcard certificate, `edge.dns` the DNS-01 solver and whether Cloudflare
        is a trusted proxy, `ingress.*` the Middlewares and timeouts, `tls.*` the ACME account
        and directory, `network.apiServerCidrs` where controllers reach the Kubernetes API.
    """

    config: StackConfig


class ClusterPlatform(pulumi.ComponentResource):
    """Namespaces with network isolation, Traefik, cert-manager and KEDA."""

    namespaces: dict[str, pulumi.Output[str]]
    """Namespace name per concern: ingress, app, data, monitoring, cert-manager, keda."""
    middlewares: dict[str, contracts.MiddlewareRef]
    """Shared Traefik Middlewares: security-headers, compression, rate-limit, https-redirect, admin-guard."""
    traefik_release: k8s.helm.v3.Release
    cert_manager_release: k8s.helm.v3.Release
    keda_release: k8s.helm.v3.Release
    load_balancer_address: pulumi.Output[str]
    """IP (or hostname) of Traefik's LoadBalancer Service: what DNS records point at."""
    cluster_issuer: str
    """ClusterIssuer for application Certificates (HTTP-01 capable; the dev CA in development)."""
    dns01_secret: tuple[str, str]
    """(namespace, name) of the Secret the DNS-01 solver reads: keys `api-token` (Cloudflare) or
    `access-key-id` / `secret-access-key` (Route53). EdgeDNS creates it."""
    admin_password: pulumi.Output[str] | None
    """Password of user `admin` for the `admin-guard` Middleware (secret); None with an allow-list."""
    api_server_cidrs: tuple[str, ...]

    def __init__(self, name: str, args: ClusterPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        raw = cfg.raw
        child = pulumi.ResourceOptions(parent=self)
        self.api_server_cidrs = tuple(raw.network.apiServerCidrs)

        created: dict[str, IsolatedNamespace] = {}
        for spec in NAMESPACES:
            created[spec.concern] = isolated_namespace(
                spec.name,
                "namespace",
                child,
                api_server_cidrs=self.api_server_cidrs if spec.kubernetes_api else (),
                scrape_ports=spec.scrape_ports,
            )
        self.namespaces = {concern: ns.name for concern, ns in created.items()}
        allow_platform_traffic(
            self.namespaces, acme=cfg.environment != "development", opts=child, data_tls=data_tls_enabled(cfg)
        )

        # ---- releases ------------------------------------------------------------------------
        self.cert_manager_release = charts.release(
            "cert-manager",
            charts.CERT_MANAGER,
            self.namespaces["cert-manager"],
            certificates.values(environment=cfg.environment, namespace=NS["cert-manager"]),
            child,
        )
        self.traefik_release = charts.release(
            "traefik",
            charts.TRAEFIK,
            self.namespaces["ingress"],
            traefik.values(
                environment=cfg.environment,
                edge_dns=raw.edge.dns,
                namespace=NS["ingress"],
                read_timeout_seconds=raw.ingress.readTimeoutSeconds,
                service_type=raw.ingress.serviceType,
                node_ports=(raw.ingress.nodePorts.http, raw.ingress.nodePorts.https),
                service_annotations=raw.ingress.serviceAnnotations,
                tracing=traefik.tracing_values(cfg.environment, cfg.monitoring.tracing),
            ),
            child,
        )
        self.keda_release = charts.release(
            "keda", charts.KEDA, self.namespaces["keda"], keda.values(environment=cfg.environment), child
        )

        # ---- certificates --------------------------------------------------------------------
        after_cert_manager = pulumi.ResourceOptions(parent=self, depends_on=[self.cert_manager_release])
        if cfg.environment == "development":
            issuer = certificates.dev_ca_issuer(self.namespaces["cert-manager"], cfg.domain, after_cert_manager)
            self.cluster_issuer = certificates.DEV_CA_ISSUER
            wildcard_issuer, wildcard_issuer_name = issuer, certificates.DEV_CA_ISSUER
        else:
            issuers = certificates.acme_issuers(
                email=cfg.acme_email,
                edge_dns=raw.edge.dns,
                domain=cfg.domain,
                ingress_class=traefik.INGRESS_CLASS,
                opts=after_cert_manager,
            )
            self.cluster_issuer = certificates.acme_issuer_name(raw.tls.acmeServer)
            wildcard_issuer, wildcard_issuer_name = issuers[raw.tls.acmeServer], self.cluster_issuer
        certificates.wildcard_certificate(
            domain=cfg.domain,
            issuer=wildcard_issuer_name,
            namespace=self.namespaces["ingress"],
            secret_name=traefik.TLS_SECRET,
            depends_on=[wildcard_issuer],
            opts=after_cert_manager,
        )
        self.dns01_secret = (NS["cert-manager"], certificates.DNS01_SECRET)

        # ---- Traefik TLS defaults and shared Middlewares -------------------------------------
        after_traefik = pulumi.ResourceOptions(parent=self, depends_on=[self.traefik_release])
        traefik.tls_defaults(NS["ingress"], after_traefik)
        guard = raw.ingress.adminGuard
        self.admin_password = None
        if guard.mode == "basicAuth":
            self.admin_password = _admin_basic_auth(self.namespaces["ingress"], child)
        self.middlewares = traefik.middlewares(
            traefik.middleware_specs(
                environment=cfg.environment,
                edge_dns=raw.edge.dns,
                rate_average=raw.ingress.rateLimit.average,
                rate_burst=raw.ingress.rateLimit.burst,
                admin_mode=guard.mode,
                admin_allow_list=list(guard.allowList),
            ),
            NS["ingress"],
            after_traefik,
        )

        # ---- the LoadBalancer address, read back from the Service the chart created ----------
        service = k8s.core.v1.Service.get(
            "traefik-load-balancer",
            pulumi.Output.concat(self.traefik_release.status.namespace, "/", self.traefik_release.status.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.traefik_release]),
        )
        self.load_balancer_address = service.status.apply(_load_balancer_address)

        self.register_outputs(
            {
                "namespaces": self.namespaces,
                "middlewares": {k: v.as_route_ref() for k, v in self.middlewares.items()},
                "loadBalancerAddress": self.load_balancer_address,
                "clusterIssuer": self.cluster_issuer,
                "dns01Secret": list(self.dns01_secret),
            }
        )

    def isolated_namespace(
        self,
        name: str,
        component: str,
        *,
        parent: pulumi.Resource,
        kubernetes_api: bool = False,
        pod_security: str = "restricted",
        scrape_ports: Sequence[int] = (),
    ) -> IsolatedNamespace:
        """An extra namespace for another component's operator: default-deny, DNS, Prometheus
        scraping of labelled pods on `scrape_ports` (their metrics ports, none by default) and,
        with `kubernetes_api`, egress to the API server."""
        return isolated_namespace(
            name,
            component,
            pulumi.ResourceOptions(parent=parent),
            api_server_cidrs=self.api_server_cidrs if kubernetes_api else (),
            pod_security=pod_security,
            scrape_ports=scrape_ports,
        )


def _load_balancer_address(status: k8s.core.v1.outputs.ServiceStatus | None) -> str:
    ingress = (status.load_balancer.ingress if status and status.load_balancer else None) or []
    if not ingress:
        return ""
    return ingress[0].ip or ingress[0].hostname or ""


def _admin_basic_auth(namespace: pulumi.Output[str], opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """A generated password for user `admin`, stored bcrypt-hashed in the htpasswd Secret the
    `admin-guard` Middleware reads; the plain password is only a secret output."""
    password = random.RandomPassword("admin-password", length=32, special=False, opts=opts)
    k8s.core.v1.Secret(
        "admin-basic-auth",
        metadata=kube.metadata(traefik.ADMIN_AUTH_SECRET, "traefik", namespace, app="traefik"),
        type="Opaque",
        string_data={"users": pulumi.Output.concat("admin:", password.bcrypt_hash)},
        opts=opts,
    )
    return pulumi.Output.secret(password.result)
