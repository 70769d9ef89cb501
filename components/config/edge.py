"""The `edge` section: DNS, CDN/WAF and mail (components/edge_dns.py)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from components.config.base import DOMAIN_RE, EMAIL_RE, DnsProvider, Email, _Strict, matching


DmarcPolicy = Literal["none", "quarantine", "reject"]

_CLOUDFLARE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
CloudflareZoneId = Annotated[str, matching(_CLOUDFLARE_ID_RE, "a Cloudflare zone id (32 lowercase hex digits)")]
_IPV4_RE = re.compile(r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$")
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def ingress_record_type(address: str) -> Literal["A", "AAAA", "CNAME"]:
    """The DNS record type that points a name at `address` (IPv4, IPv6 or a load balancer hostname)."""
    if _IPV4_RE.match(address):
        return "A"
    if ":" in address:
        return "AAAA"
    return "CNAME"


def _ingress_address(value: str) -> str:
    if _IPV4_RE.match(value) or _HOSTNAME_RE.match(value):
        return value
    if ":" in value:
        import ipaddress

        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError(f"'{value}' is not an IPv4/IPv6 address or a lowercase hostname")


def _zone_name(value: str | None) -> str | None:
    if value is not None and not DOMAIN_RE.match(value):
        raise ValueError(f"'{value}' is not a lowercase DNS zone name such as example.com")
    return value


class CloudflareSection(_Strict):
    """`edge.cloudflare`: the zone the records, settings and rulesets live in."""

    zoneId: CloudflareZoneId | None = None
    # The zone's apex (default: the stack's domain). A stack whose domain sits below the zone
    # apex is refused: see RawConfig._cross_checks.
    zoneName: str | None = None
    # Rate limit of the API (`app.<domain>/api/...`) and of the login paths, per client IP and
    # Cloudflare colo. Periods of 10 s or 60 s are what the Pro and Business plans allow.
    apiRequestsPerMinute: int = Field(default=600, ge=10, le=100_000)
    loginRequestsPerMinute: int = Field(default=10, ge=1, le=1_000)

    @field_validator("zoneName")
    @classmethod
    def _zone_name(cls, value: str | None) -> str | None:
        return _zone_name(value)


class Route53Section(_Strict):
    """`edge.route53`: the public hosted zone (looked up by name) the records go into."""

    zoneName: str | None = None  # default: the domain itself

    @field_validator("zoneName")
    @classmethod
    def _zone_name(cls, value: str | None) -> str | None:
        return _zone_name(value)


class MailSection(_Strict):
    """`edge.mail`: SES sending identity, DMARC and bounce handling."""

    fromAddress: Email | None = None  # default: no-reply@<domain>
    dmarcPolicy: DmarcPolicy = "quarantine"
    dmarcReports: Email | None = None  # `rua=` aggregate report mailbox
    mailFromSubdomain: str = "bounce"
    # Extra SPF `include:` mechanisms for other senders of the apex (e.g. _spf.google.com).
    spfIncludes: list[str] = Field(default_factory=list, max_length=8)
    # Bounce and complaint notifications: an https:// endpoint or an e-mail address.
    bounceEndpoint: str | None = None
    # Bump to rotate the SES SMTP access key (a new key replaces the old one in one update).
    smtpKeyRotation: int = Field(default=1, ge=1, le=10_000)

    @field_validator("mailFromSubdomain")
    @classmethod
    def _subdomain(cls, value: str) -> str:
        if not _LABEL_RE.match(value):
            raise ValueError(f"'{value}' is not a single lowercase DNS label such as bounce")
        return value

    @field_validator("spfIncludes")
    @classmethod
    def _includes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _HOSTNAME_RE.match(v.lstrip("_")) or " " in v]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a domain to include in SPF (such as _spf.google.com)")
        return value

    @field_validator("bounceEndpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or value.startswith("https://") or EMAIL_RE.match(value):
            return value
        raise ValueError(f"'{value}' is neither an https:// URL nor an e-mail address")


class EdgeSection(_Strict):
    dns: DnsProvider = "none"
    # Overrides the Traefik load balancer address the platform reports (an external LB, say).
    ingressAddress: str | None = None
    cloudflare: CloudflareSection = CloudflareSection()
    route53: Route53Section = Route53Section()
    mail: MailSection = MailSection()

    @field_validator("ingressAddress")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return None if value is None else _ingress_address(value)
