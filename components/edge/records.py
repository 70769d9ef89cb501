"""The DNS records model of EdgeDNS, shared by the component and its providers.

The providers (`cloudflare.py`, `route53.py`, `mail.py`) import these types; this module imports
none of them (no cloud SDK either), so the edge package has no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import pulumi

from components.config import ingress_record_type

if TYPE_CHECKING:
    from collections.abc import Callable

RecordPurpose = Literal["web", "mail"]

# The web hosts and what serves them ("" is the apex). All point at the Traefik load balancer;
# Traefik routes by Host header.
WEB_HOSTS: dict[str, str] = {
    "": "frontend (Next.js)",
    "www": "frontend (Next.js)",
    "app": "backend API and WebSockets (Laravel, Reverb)",
    "grafana": "Grafana (admin)",
    "graylog": "Graylog (admin)",
    "rabbitmq": "RabbitMQ management UI (admin)",
}
# The admin UIs among them (challenged at the Cloudflare edge).
ADMIN_HOSTS = ("grafana", "graylog", "rabbitmq")

# Keys of the DNS-01 Secret, per provider: what cert-manager's solver references.
CLOUDFLARE_TOKEN_KEY = "api-token"
ROUTE53_ACCESS_KEY_ID_KEY = "access-key-id"
ROUTE53_SECRET_ACCESS_KEY_KEY = "secret-access-key"


@dataclass(frozen=True)
class DnsRecordSpec:
    """One DNS record, independent of the provider that serves it.

    key: stable part of the resource name (`www`, `dkim-1`); renaming it replaces the record.
    name: fully qualified record name without the trailing dot.
    type: A, AAAA, CNAME, TXT or MX.
    content: the value (an address, a target host name, the TXT text without quotes).
    purpose: `web` records may be proxied through the CDN; `mail` (and verification) records
        never are, or mail servers and verifiers would see Cloudflare instead of the answer.
    priority: MX preference.
    """

    key: str
    name: pulumi.Input[str]
    type: pulumi.Input[str]
    content: pulumi.Input[str]
    purpose: RecordPurpose
    priority: int | None = None

    @property
    def proxied(self) -> bool:
        """Only web records (always A, AAAA or CNAME at the ingress) go through the CDN/WAF."""
        return self.purpose == "web"


def checked_address(address: str) -> str:
    """The ingress address, refused when the load balancer has not reported one yet."""
    if not address:
        raise pulumi.RunError(
            "EdgeDNS: Traefik's load balancer reports no address yet (status.loadBalancer.ingress is empty), "
            "so the web records would be empty; wait for the cloud load balancer, or set "
            "saas-platform:edge.ingressAddress to the address of an external one"
        )
    return address


def web_records(
    domain: str, address: pulumi.Input[str], record_type: "Callable[[str], str]" = ingress_record_type
) -> list[DnsRecordSpec]:
    """The web hosts of WEB_HOSTS as records pointing at the ingress address, whose record
    type follows the resolved address: A for IPv4, AAAA for IPv6, CNAME for a host name (an
    AWS load balancer reports `hostname`, never `ip`)."""
    resolved = pulumi.Output.from_input(address).apply(checked_address)
    return [
        DnsRecordSpec(
            key=label or "apex",
            name=f"{label}.{domain}" if label else domain,
            type=resolved.apply(record_type),
            content=resolved,
            purpose="web",
        )
        for label in WEB_HOSTS
    ]


def route53_record_type(address: str) -> str:
    """Route53 cannot put a CNAME at the apex: refuse a host name there with what to do."""
    kind = ingress_record_type(address)
    if kind == "CNAME":
        raise pulumi.RunError(
            f"EdgeDNS: the load balancer reports the host name {address}; Route53 cannot point the apex at a "
            "host name (CNAME). Set saas-platform:edge.ingressAddress to its IP address, or use Cloudflare "
            "(which flattens an apex CNAME)"
        )
    return kind
