"""cert-manager: chart values, ClusterIssuers and the wildcard certificate.

- staging/production: ClusterIssuers `letsencrypt-production` and `letsencrypt-staging`. Each
  solves DNS-01 (Cloudflare API token or Route53 keys, following `edge.dns`) for the apex and
  the wildcard, which Let's Encrypt only validates over DNS, and HTTP-01 through Traefik for
  every other name. `tls.acmeServer` picks which one issues.
- development: a self-signed root (`selfsigned-bootstrap` issues the CA certificate
  `dev-root-ca`) behind the ClusterIssuer `dev-ca`, so a laptop needs no public DNS.
- The wildcard Certificate (`<domain>` and `*.<domain>`) lives in Traefik's namespace and is
  Traefik's default certificate (see traefik.py).

The DNS-01 credentials Secret is not created here: EdgeDNS owns the provider credentials and
writes it into cert-manager's namespace (a ClusterIssuer reads Secrets from there only,
cert-manager#263) under the name in `DNS01_SECRET`.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize
from components.platform import charts
from components.platform.network import ROLE_LABEL, SCRAPE_LABEL

DNS01_SECRET = "dns01-credentials"
CLOUDFLARE_TOKEN_KEY = "api-token"
ROUTE53_KEY_ID_KEY, ROUTE53_SECRET_KEY = "access-key-id", "secret-access-key"
ACME_SERVERS = {
    "production": "https://acme-v02.api.letsencrypt.org/directory",
    "staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
# Public resolvers cert-manager asks whether a DNS-01 record has propagated; the cluster
# resolver may answer from a stale cache or a split horizon (cert-manager#5917, #4837).
RECURSIVE_NAMESERVERS = ("1.1.1.1", "1.0.0.1")
DEV_CA_ISSUER, DEV_CA_SECRET, BOOTSTRAP_ISSUER = "dev-ca", "dev-root-ca", "selfsigned-bootstrap"

CONTROLLER_ROLE = {ROLE_LABEL: "cert-manager-controller"}
WEBHOOK_ROLE = {ROLE_LABEL: "cert-manager-webhook"}
CAINJECTOR_ROLE = {ROLE_LABEL: "cert-manager-cainjector"}
WEBHOOK_PORT = 10250

CONTROLLER_RESOURCES = ContainerSize("50m", "128Mi", "384Mi")
SMALL_RESOURCES = ContainerSize("20m", "64Mi", "192Mi")
# On a laptop (development): smaller requests, the same limits.
DEV_CONTROLLER_RESOURCES = ContainerSize("20m", "48Mi", "384Mi")
DEV_SMALL_RESOURCES = ContainerSize("10m", "32Mi", "192Mi")


def acme_issuer_name(server: str) -> str:
    return f"letsencrypt-{server}"


def values(*, environment: str, namespace: str) -> dict[str, Any]:
    """The cert-manager chart values for one environment."""
    ha = environment != "development"
    count = 2 if ha else 1
    pdb = {"enabled": True, "minAvailable": 1} if ha else {"enabled": False}
    controller_size = CONTROLLER_RESOURCES if ha else DEV_CONTROLLER_RESOURCES
    small = SMALL_RESOURCES if ha else DEV_SMALL_RESOURCES

    def component(role: dict[str, str], resources: ContainerSize, scrape: bool) -> dict[str, Any]:
        labels = {**role, SCRAPE_LABEL: "true"} if scrape else dict(role)
        return {
            "replicaCount": count,
            "podDisruptionBudget": dict(pdb),
            "resources": kube.resource_values(resources),
            "securityContext": charts.pod_security_values(),
            "containerSecurityContext": charts.container_security_values(),
            "podLabels": labels,
            "topologySpreadConstraints": charts.spread_values(role) if ha else [],
        }

    return {
        "crds": {"enabled": True, "keep": True},
        # Leader election lease in our namespace, not kube-system: no RBAC outside it.
        "global": {"leaderElection": {"namespace": namespace}},
        **component(CONTROLLER_ROLE, controller_size, scrape=True),
        "dns01RecursiveNameservers": ",".join(f"{ip}:53" for ip in RECURSIVE_NAMESERVERS),
        "dns01RecursiveNameserversOnly": True,
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": False}},
        "webhook": component(WEBHOOK_ROLE, small, scrape=False),
        "cainjector": component(CAINJECTOR_ROLE, small, scrape=False),
        "startupapicheck": {
            "enabled": True,
            "resources": kube.resource_values(small),
            "securityContext": charts.pod_security_values(),
            "containerSecurityContext": charts.container_security_values(),
        },
    }


def dns01_solver(edge_dns: str, domain: str) -> dict[str, Any]:
    """The DNS-01 solver for the apex and the wildcard, reading EdgeDNS's Secret."""
    if edge_dns == "cloudflare":
        provider: dict[str, Any] = {
            "cloudflare": {"apiTokenSecretRef": {"name": DNS01_SECRET, "key": CLOUDFLARE_TOKEN_KEY}}
        }
    elif edge_dns == "route53":
        provider = {
            "route53": {
                # Route53 is global; the SDK still signs requests for a region.
                "region": "us-east-1",
                "accessKeyIDSecretRef": {"name": DNS01_SECRET, "key": ROUTE53_KEY_ID_KEY},
                "secretAccessKeySecretRef": {"name": DNS01_SECRET, "key": ROUTE53_SECRET_KEY},
            }
        }
    else:
        raise ValueError(f"no DNS-01 solver for edge.dns {edge_dns!r}")
    return {"selector": {"dnsNames": [domain, f"*.{domain}"]}, "dns01": provider}


def acme_issuer_spec(server: str, email: str, edge_dns: str, domain: str, ingress_class: str) -> dict[str, Any]:
    return {
        "acme": {
            "server": ACME_SERVERS[server],
            "email": email,
            "privateKeySecretRef": {"name": f"{acme_issuer_name(server)}-account"},
            "solvers": [
                dns01_solver(edge_dns, domain),
                # No selector: every other name is validated over HTTP through Traefik.
                {"http01": {"ingress": {"ingressClassName": ingress_class}}},
            ],
        }
    }


def _cluster_issuer(name: str, spec: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        f"cluster-issuer-{name}",
        api_version="cert-manager.io/v1",
        kind="ClusterIssuer",
        metadata=kube.metadata(name, "cert-manager", app="cert-manager"),
        spec=spec,
        opts=opts,
    )


def acme_issuers(
    *, email: str, edge_dns: str, domain: str, ingress_class: str, opts: pulumi.ResourceOptions
) -> dict[str, k8s.apiextensions.CustomResource]:
    return {
        server: _cluster_issuer(
            acme_issuer_name(server), acme_issuer_spec(server, email, edge_dns, domain, ingress_class), opts
        )
        for server in ACME_SERVERS
    }


def dev_ca_issuer(namespace: pulumi.Input[str], domain: str, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """Self-signed root CA -> ClusterIssuer `dev-ca` (trust `dev-root-ca`'s ca.crt locally)."""
    bootstrap = _cluster_issuer(BOOTSTRAP_ISSUER, {"selfSigned": {}}, opts)
    ca = k8s.apiextensions.CustomResource(
        "certificate-dev-root-ca",
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata=kube.metadata(DEV_CA_SECRET, "cert-manager", namespace, app="cert-manager"),
        spec={
            "isCA": True,
            "commonName": f"saas-platform development CA ({domain})",
            "secretName": DEV_CA_SECRET,
            "duration": "87600h",  # ten years: a laptop CA should not expire under a developer
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": BOOTSTRAP_ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"},
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[bootstrap])),
    )
    return _cluster_issuer(
        DEV_CA_ISSUER,
        {"ca": {"secretName": DEV_CA_SECRET}},
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[ca])),
    )


def wildcard_certificate(
    *, domain: str, issuer: str, namespace: pulumi.Input[str], secret_name: str, depends_on: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        "certificate-wildcard",
        api_version="cert-manager.io/v1",
        kind="Certificate",
        metadata=kube.metadata("wildcard", "cert-manager", namespace, app="cert-manager"),
        spec={
            "secretName": secret_name,
            "dnsNames": [domain, f"*.{domain}"],
            "issuerRef": {"name": issuer, "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "duration": "2160h",
            "renewBefore": "720h",
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(depends_on))),
    )
