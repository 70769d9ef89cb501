"""ClusterPlatform (issue 3): the `ingress`, `tls` and `network` sections (rate limits, admin
guard, node ports) and `kubernetes` (which cluster a stack deploys to).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from components.config.base import Email, _Strict


class KubernetesSection(_Strict):
    """`kubernetes`: the cluster this stack writes to.

    context: the kubeconfig context of the stack's explicit Kubernetes provider (every
    Kubernetes resource goes through it). Required outside development, so `pulumi up -s dev`
    with a production context active can never write into production."""

    context: str | None = None

    @field_validator("context")
    @classmethod
    def _context(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} is not a kubeconfig context name (non-empty, no spaces)")
        return value


def _cidr(value: str) -> str:
    """A network in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`), host bits clear."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a network in CIDR notation such as 203.0.113.0/24") from None


Cidr = Annotated[str, AfterValidator(_cidr)]


class RateLimitSection(_Strict):
    """Per-client-IP rate limit of the shared `rate-limit` Middleware (Traefik in-memory)."""

    average: int = Field(default=50, ge=1, le=100_000)  # sustained requests per second
    burst: int = Field(default=100, ge=1, le=100_000)  # extra requests allowed in a spike

    @model_validator(mode="after")
    def _burst_covers_average(self) -> "RateLimitSection":
        if self.burst < self.average:
            raise ValueError(f"burst ({self.burst}) must be at least average ({self.average})")
        return self


class AdminGuardSection(_Strict):
    """How the shared `admin-guard` Middleware protects admin UIs (Grafana, RabbitMQ, ...)."""

    mode: Literal["basicAuth", "allowList"] = "basicAuth"
    allowList: list[Cidr] = Field(default_factory=list)

    @model_validator(mode="after")
    def _list_matches_mode(self) -> "AdminGuardSection":
        if self.mode == "allowList" and not self.allowList:
            raise ValueError("mode allowList needs at least one CIDR in allowList")
        if self.mode == "basicAuth" and self.allowList:
            raise ValueError("allowList is only used with mode allowList")
        return self


class NodePortsSection(_Strict):
    """Node ports of Traefik's entry points with `ingress.serviceType: NodePort`."""

    http: int = Field(default=30080, ge=30000, le=32767)
    https: int = Field(default=30443, ge=30000, le=32767)

    @model_validator(mode="after")
    def _distinct(self) -> "NodePortsSection":
        if self.http == self.https:
            raise ValueError(f"http and https must be different node ports (both {self.http})")
        return self


class IngressSection(_Strict):
    rateLimit: RateLimitSection = RateLimitSection()
    adminGuard: AdminGuardSection = AdminGuardSection()
    # Traefik's default entry point read timeout (60 s) cuts long uploads (traefik#11943).
    readTimeoutSeconds: int = Field(default=600, ge=30, le=3600)
    # How Traefik is published: a LoadBalancer Service (clouds, k3d's ServiceLB, Docker
    # Desktop, cloud-provider-kind), or NodePort for a cluster without a load balancer
    # implementation (kind with extraPortMappings): Helm would otherwise wait for an address
    # that never comes and roll the release back.
    serviceType: Literal["LoadBalancer", "NodePort"] = "LoadBalancer"
    nodePorts: NodePortsSection = NodePortsSection()
    # Annotations of Traefik's Service (the cloud's load balancer settings). Unset: outside
    # development an AWS Network Load Balancer (`service.beta.kubernetes.io/aws-load-balancer-type:
    # nlb`), which passes client addresses through (externalTrafficPolicy Local), where EKS'
    # default Classic ELB would hide them behind its own (per-IP rate limit and X-Forwarded-For
    # then see a handful of ELB addresses). `{}` sets none.
    serviceAnnotations: dict[str, str] | None = None


class TlsSection(_Strict):
    # Let's Encrypt account address; defaults to hostmaster@<domain>.
    acmeEmail: Email | None = None
    # Which Let's Encrypt directory issues the certificates: `staging` for a first bring-up
    # (generous rate limits, untrusted chain), `production` otherwise.
    acmeServer: Literal["production", "staging"] = "production"


class NetworkSection(_Strict):
    # Where controllers reach the Kubernetes API (ports 443 and 6443). The API server is not a
    # pod, so NetworkPolicies can only name it by address: narrow this to your control plane.
    apiServerCidrs: list[Cidr] = Field(default_factory=lambda: ["0.0.0.0/0", "::/0"], min_length=1)
