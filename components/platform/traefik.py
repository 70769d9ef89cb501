"""Traefik v3: chart values, TLS defaults and the shared Middlewares applications attach.

Decisions (chart 41.3.0 / Traefik v3.7.11, values read from the chart's values.yaml):

- The only LoadBalancer Service of the cluster, `externalTrafficPolicy: Local` so client
  addresses survive to the per-IP rate limit when no CDN sits in front. On a laptop cluster
  without a load balancer implementation (kind) `ingress.serviceType: NodePort` publishes the
  entry points on fixed node ports instead (`ingress.nodePorts`), which the cluster's port
  mappings forward to the host: Helm's wait for a LoadBalancer address would never end there.
- `web` redirects to `websecure` with the entry point redirection at the lowest router
  priority and `allowACMEByPass`, so cert-manager's HTTP-01 solver routes (exact paths under
  `/.well-known/acme-challenge/`) still answer on port 80.
- `websecure` read timeout raised (default 60 s cuts uploads, traefik#11943).
- X-Forwarded-* trusted only from Cloudflare's published ranges (components/files/
  cloudflare-ips.json) and only when the edge is Cloudflare; otherwise never.
- TLS: TLSOption `default` with TLS 1.2 minimum and AEAD ciphers; TLSStore `default` serving the
  cert-manager wildcard certificate, so IngressRoutes can say `tls: {}`. Both must live in
  Traefik's own namespace (`defaultTLSResourcesNamespace`, `core.strictTLSOptions`).
- JSON logs and access logs (request headers dropped: they carry cookies and tokens);
  Prometheus metrics on the `metrics` entry point, scraped through the label contract.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize, TracingSettings
from components.contracts import MiddlewareRef
from components.platform import charts
from components.platform.network import (
    ROLE_LABEL,
    SCRAPE_LABEL,
    collector_otlp_http_url,
    egress_rule,
    namespace_peer,
    network_policy,
    ports,
)

CLOUDFLARE_IPS_FILE = Path(__file__).resolve().parent.parent / "files" / "cloudflare-ips.json"

TRAEFIK_UID = 65532  # the `nonroot` user of the upstream image
TRAEFIK_ROLE = {ROLE_LABEL: "traefik"}
TRAEFIK_IMAGE_TAG = "v3.7.11"  # the chart's appVersion, pinned explicitly
INGRESS_CLASS = "traefik"
WEB_PORT, WEBSECURE_PORT, METRICS_PORT = 8000, 8443, 9100  # container ports of the entry points
TLS_SECRET = "wildcard-tls"
MIDDLEWARE_NAMES = ("security-headers", "compression", "rate-limit", "https-redirect", "admin-guard")
ADMIN_AUTH_SECRET = "admin-basic-auth"

RESOURCES = ContainerSize("100m", "128Mi", "512Mi")
DEV_RESOURCES = ContainerSize("50m", "64Mi", "512Mi")  # on a laptop: smaller requests, the same limit
# ECDHE key exchange with AEAD ciphers only for TLS 1.2 (TLS 1.3 suites are not configurable).
TLS12_CIPHERS = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
]


def cloudflare_ranges() -> list[str]:
    data = json.loads(CLOUDFLARE_IPS_FILE.read_text())
    return [*data["ipv4"], *data["ipv6"]]


def trusted_proxies(edge_dns: str) -> list[str]:
    """Addresses whose X-Forwarded-* headers Traefik believes: Cloudflare's, behind Cloudflare."""
    return cloudflare_ranges() if edge_dns == "cloudflare" else []


def replicas(environment: str) -> int:
    return {"development": 1, "staging": 2, "production": 3}[environment]


def values(
    *,
    environment: str,
    edge_dns: str,
    namespace: str,
    read_timeout_seconds: int,
    service_type: str = "LoadBalancer",
    node_ports: tuple[int, int] = (30080, 30443),
    service_annotations: dict[str, str] | None = None,
    tracing: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The Traefik chart values for one environment. `service_type` LoadBalancer or NodePort
    (then `node_ports` = (web, websecure) node ports)."""
    ha = environment != "development"
    forwarded = {"trustedIPs": trusted_proxies(edge_dns), "insecure": False}
    timeouts = {"respondingTimeouts": {"readTimeout": f"{read_timeout_seconds}s", "idleTimeout": "180s"}}
    result: dict[str, Any] = {
        "image": {"tag": TRAEFIK_IMAGE_TAG, "pullPolicy": "IfNotPresent"},
        "deployment": {
            "kind": "Deployment",
            "replicas": replicas(environment),
            "podLabels": {**TRAEFIK_ROLE, SCRAPE_LABEL: "true"},
            "terminationGracePeriodSeconds": 60,
        },
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1} if ha else {"enabled": False},
        "topologySpreadConstraints": charts.spread_values(TRAEFIK_ROLE) if ha else [],
        "resources": kube.resource_values(RESOURCES if ha else DEV_RESOURCES),
        "podSecurityContext": charts.pod_security_values(TRAEFIK_UID),
        "securityContext": charts.container_security_values(),
        "ingressClass": {"enabled": True, "isDefaultClass": True, "name": INGRESS_CLASS},
        "providers": {
            "kubernetesCRD": {
                "enabled": True,
                # Application IngressRoutes in the app namespace use the shared Middlewares here.
                "allowCrossNamespace": True,
                "allowExternalNameServices": False,
                "defaultTLSResourcesNamespace": namespace,
            },
            # cert-manager's HTTP-01 solver publishes its challenge as a plain Ingress.
            "kubernetesIngress": {"enabled": True, "allowExternalNameServices": False},
        },
        "core": {"strictTLSOptions": True},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "ports": {
            "web": {
                "port": WEB_PORT,
                "allowACMEByPass": True,
                "http": {
                    "redirections": {
                        "entryPoint": {"to": "websecure", "scheme": "https", "permanent": True, "priority": 1}
                    }
                },
                "forwardedHeaders": forwarded,
                "transport": timeouts,
            },
            "websecure": {
                "port": WEBSECURE_PORT,
                "http": {"tls": {"enabled": True}},
                "forwardedHeaders": forwarded,
                "transport": timeouts,
            },
            "metrics": {"port": METRICS_PORT, "expose": {"default": False}},
            "traefik": {"expose": {"default": False}},
        },
        "service": {
            "enabled": True,
            "annotations": load_balancer_annotations(environment, service_annotations),
            "spec": {
                "type": service_type,
                "externalTrafficPolicy": "Local",
                # Behind Cloudflare the origin answers Cloudflare only: a request to the load
                # balancer's address from anywhere else would skip the WAF and rate limits.
                **(
                    {"loadBalancerSourceRanges": cloudflare_ranges()}
                    if edge_dns == "cloudflare" and service_type == "LoadBalancer"
                    else {}
                ),
            },
        },
        "log": {"format": "json", "level": "INFO"},
        "accessLog": {
            "enabled": True,
            "format": "json",
            "fields": {"defaultMode": "keep", "headers": {"defaultMode": "drop"}},
        },
        "metrics": {
            "prometheus": {
                "entryPoint": "metrics",
                "addEntryPointsLabels": True,
                "addRoutersLabels": True,
                "addServicesLabels": True,
                # The ServiceMonitor belongs to Monitoring, whose chart installs that CRD.
                "serviceMonitor": {"enabled": False},
            }
        },
        "ingressRoute": {"dashboard": {"enabled": False}},
        "autoscaling": {"enabled": False},
    }
    if tracing is not None:
        result["tracing"] = tracing
    if service_type == "NodePort":
        result["ports"]["web"]["nodePort"] = node_ports[0]
        result["ports"]["websecure"]["nodePort"] = node_ports[1]
    return result


def tracing_values(environment: str, settings: TracingSettings) -> dict[str, Any] | None:
    """OTLP tracing of every request to the OpenTelemetry Collector, None when tracing is off.

    Chart 41.3.0 values.yaml `tracing.*` render Traefik's static `--tracing.*` options (Traefik
    v3.7 docs, reference/install-configuration/observability/tracing: `serviceName`,
    `sampleRate`, `resourceAttributes`, `otlp.http.endpoint` as `<scheme>://<host>:<port><path>`).
    OTLP over HTTP, so the same receiver serves Traefik and the SDKs. With tail sampling Traefik
    sends every trace and the collector decides; with head sampling Traefik keeps `sampleRate`
    (`ParentBased(TraceIDRatioBased(sampleRate))`, traefik v3.7.9 pkg/observability/types/
    tracing.go: an incoming `traceparent`'s sampled flag is honoured, like the apps' sampler).
    Access log lines then carry `TraceId` / `SpanId` (pkg/middlewares/accesslog/logdata.go).
    Query parameters stay redacted (the chart's `safeQueryParams: []`): they may carry tokens.
    """
    if not settings.enabled:
        return None
    return {
        "serviceName": "traefik",
        "sampleRate": 1.0 if settings.sampling == "tail" else settings.sample_rate,
        "resourceAttributes": {"deployment.environment": environment},
        "otlp": {
            "enabled": True,
            "http": {"enabled": True, "endpoint": f"{collector_otlp_http_url()}/v1/traces"},
        },
    }


# An NLB keeps the client's address (instance targets + externalTrafficPolicy Local); EKS' default
# for a LoadBalancer Service is a Classic ELB, which proxies TCP and hides it.
AWS_NLB_ANNOTATIONS = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}


def load_balancer_annotations(environment: str, configured: dict[str, str] | None) -> dict[str, str]:
    """`ingress.serviceAnnotations`, or by default an AWS NLB outside development (ignored by
    other clouds' controllers)."""
    if configured is not None:
        return dict(configured)
    return {} if environment == "development" else dict(AWS_NLB_ANNOTATIONS)


def allow_traefik_to(
    resource_name: str,
    name: str,
    ingress_namespace: pulumi.Input[str],
    backend_namespace: pulumi.Input[str],
    pods: dict[str, str],
    port: int,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """Traefik's side of a route into another namespace: egress from the Traefik pods to the
    backend pods on their port. A NetworkPolicy needs both sides; the component that routes
    there adds this next to the backend's ingress policy."""
    return network_policy(
        resource_name,
        name,
        ingress_namespace,
        opts,
        pods=TRAEFIK_ROLE,
        egress=[egress_rule([namespace_peer(backend_namespace, pods)], ports(port))],  # type: ignore[arg-type]
    )


def security_headers(environment: str) -> dict[str, Any]:
    """HSTS, nosniff, frame deny, referrer policy. Preload only where the domain is public."""
    return {
        "headers": {
            # A short max-age in dev: a laptop domain must not stay pinned to HTTPS for a year.
            "stsSeconds": 300 if environment == "development" else 31_536_000,
            "stsIncludeSubdomains": True,
            "stsPreload": environment == "production",
            "forceSTSHeader": True,
            "contentTypeNosniff": True,
            "frameDeny": True,
            "referrerPolicy": "strict-origin-when-cross-origin",
            "permissionsPolicy": "camera=(), microphone=(), geolocation=()",
            "customResponseHeaders": {"X-Powered-By": "", "Server": ""},
        }
    }


def client_ip_strategy(edge_dns: str) -> dict[str, Any] | None:
    """Behind Cloudflare the peer is a Cloudflare edge: take the right-most X-Forwarded-For
    address that is not one of Cloudflare's. Otherwise the peer address is the client."""
    return {"ipStrategy": {"excludedIPs": cloudflare_ranges()}} if edge_dns == "cloudflare" else None


def rate_limit(average: int, burst: int, edge_dns: str) -> dict[str, Any]:
    """In-memory per-IP limit (a Redis-backed one fails closed with 500s, traefik#12091)."""
    spec: dict[str, Any] = {"average": average, "burst": burst, "period": "1s"}
    criterion = client_ip_strategy(edge_dns)
    if criterion:
        spec["sourceCriterion"] = criterion
    return {"rateLimit": spec}


def admin_guard(mode: str, allow_list: list[str], edge_dns: str) -> dict[str, Any]:
    if mode == "allowList":
        spec: dict[str, Any] = {"sourceRange": list(allow_list)}
        criterion = client_ip_strategy(edge_dns)
        if criterion:
            spec.update(criterion)
        return {"ipAllowList": spec}
    return {"basicAuth": {"secret": ADMIN_AUTH_SECRET, "realm": "saas-platform admin", "removeHeader": True}}


def middleware_specs(
    *, environment: str, edge_dns: str, rate_average: int, rate_burst: int, admin_mode: str, admin_allow_list: list[str]
) -> dict[str, dict[str, Any]]:
    """The five shared Middlewares, by name."""
    return {
        "security-headers": security_headers(environment),
        "compression": {
            # Server-sent events must stream, not wait for a compressible body.
            "compress": {"excludedContentTypes": ["text/event-stream"], "minResponseBodyBytes": 1024}
        },
        "rate-limit": rate_limit(rate_average, rate_burst, edge_dns),
        "https-redirect": {"redirectScheme": {"scheme": "https", "permanent": True}},
        "admin-guard": admin_guard(admin_mode, admin_allow_list, edge_dns),
    }


def middlewares(
    specs: dict[str, dict[str, Any]], namespace: str, opts: pulumi.ResourceOptions
) -> dict[str, MiddlewareRef]:
    """Create the Middleware CRs; return the references IngressRoutes use."""
    refs = {}
    for name, spec in specs.items():
        k8s.apiextensions.CustomResource(
            f"middleware-{name}",
            api_version="traefik.io/v1alpha1",
            kind="Middleware",
            metadata=kube.metadata(name, "traefik", namespace, app="traefik"),
            spec=spec,
            opts=opts,
        )
        refs[name] = MiddlewareRef(name=name, namespace=namespace)
    return refs


def tls_defaults(namespace: str, opts: pulumi.ResourceOptions) -> None:
    """TLSOption `default` (TLS 1.2+) and TLSStore `default` (the wildcard certificate)."""
    k8s.apiextensions.CustomResource(
        "tls-option-default",
        api_version="traefik.io/v1alpha1",
        kind="TLSOption",
        metadata=kube.metadata("default", "traefik", namespace, app="traefik"),
        spec={"minVersion": "VersionTLS12", "cipherSuites": TLS12_CIPHERS, "sniStrict": False},
        opts=opts,
    )
    k8s.apiextensions.CustomResource(
        "tls-store-default",
        api_version="traefik.io/v1alpha1",
        kind="TLSStore",
        metadata=kube.metadata("default", "traefik", namespace, app="traefik"),
        spec={"defaultCertificate": {"secretName": TLS_SECRET}},
        opts=opts,
    )
