"""EdgeDNS: the platform's public names, its edge (CDN/WAF) and its mail.

With `edge.dns: cloudflare` or `route53` this component
- publishes the web hosts (apex and `www` for the frontend, `app` for the API and WebSockets,
  `grafana`, `graylog` and `rabbitmq` for the admin UIs), all pointing at the Traefik load
  balancer (an A/AAAA record for an IP, a CNAME for a load balancer host name, decided from the
  address the platform reports); proxied through Cloudflare, DNS-only on Route53. No `static`
  host: nothing serves one (both apps serve their own assets);
- sets up AWS SES (`components/edge_ses.py`): domain identity with Easy DKIM, SPF, DMARC, a
  custom MAIL FROM domain, bounce/complaint events to SNS, and an IAM user whose access key
  yields the SMTP credentials of the `mail` relay; the mail records go into the same zone and
  are never proxied;
- hardens the Cloudflare zone (`components/edge_cloudflare.py`: strict TLS, HTTPS only, TLS
  1.2+, HSTS, rate limits, WAF custom rules, cache rules), or looks up the Route53 zone
  (`components/edge_route53.py`);
- writes the Secret cert-manager's DNS-01 solver reads (`dns01_secret`), and publishes the
  matching solver block (`dns01_solver`) for the platform's ClusterIssuer.

With `edge.dns: none` (development) no cloud SDK is imported and no Cloudflare or AWS resource
is registered: mail goes to Mailpit in the cluster (`components/mail_catcher.py`).

The provider modules are imported inside the branch that needs them: `pulumi_cloudflare`
alone costs about two seconds of import time (FACTS.md), and the dev stack must run without
either SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pulumi
import pulumi_kubernetes as k8s

from components import contracts
from components import k8s as kube
from components.config import StackConfig, ingress_record_type

if TYPE_CHECKING:
    from collections.abc import Callable

TYPE = "saas-platform:index:EdgeDNS"

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


@dataclass(frozen=True)
class EdgeDNSArgs:
    """Inputs of EdgeDNS.

    config: the resolved stack configuration (its `edge` section and the secret
        `cloudflareDns01Token`).
    ingress_address: the Traefik load balancer address (IPv4, IPv6 or a host name); the stack
        key `edge.ingressAddress` overrides it. The record type follows the resolved value.
    dns01_secret: (namespace, name) of the Secret cert-manager's DNS-01 solver reads; EdgeDNS
        creates it when a DNS provider is configured.
    mail_catcher_namespace: where Mailpit runs when the edge is off (the app namespace).
    mail_client_namespaces: namespaces whose pods send mail (app, monitoring): they may reach
        Mailpit's SMTP port.
    """

    config: StackConfig
    ingress_address: pulumi.Input[str]
    dns01_secret: tuple[pulumi.Input[str], str]
    mail_catcher_namespace: pulumi.Input[str]
    mail_client_namespaces: list[pulumi.Input[str]] = field(default_factory=list)


class EdgeDNS(pulumi.ComponentResource):
    """DNS records, Cloudflare zone hardening, SES mail and IAM, or Mailpit in development."""

    mail: contracts.MailRelay
    """SMTP relay for the backend and Alertmanager (SES, or Mailpit when the edge is off)."""

    zone_id: pulumi.Output[str] | None
    """The DNS zone's id (Cloudflare zone id or Route53 hosted zone id); None when the edge is off."""

    dns01_solver: pulumi.Output[dict] | None
    """The `dns01` block of a cert-manager ACME solver, referencing the Secret `dns01_secret`;
    None when the edge is off (development uses a self-signed CA)."""

    hostnames: dict[str, str]
    """Published web host names by label (`apex`, `www`, `app`, `grafana`, `graylog`, `rabbitmq`);
    empty when the edge is off."""

    def __init__(self, name: str, args: EdgeDNSArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        edge = cfg.edge
        from_address = edge.mail.fromAddress or f"no-reply@{cfg.domain}"

        if edge.dns == "none":
            from components.mail_catcher import MailCatcher, MailCatcherArgs

            catcher = MailCatcher(
                f"{name}-mailpit",
                MailCatcherArgs(
                    namespace=args.mail_catcher_namespace,
                    client_namespaces=list(args.mail_client_namespaces) or [args.mail_catcher_namespace],
                    from_address=from_address,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.mail = catcher.mail
            self.zone_id = None
            self.dns01_solver = None
            self.hostnames = {}
            self._register()
            return

        address: pulumi.Input[str] = edge.ingressAddress or args.ingress_address
        record_type = route53_record_type if edge.dns == "route53" else ingress_record_type
        records = web_records(cfg.domain, address, record_type)
        self.hostnames = {r.key: str(r.name) for r in records}

        from components import edge_ses

        ses = edge_ses.configure_ses(name, cfg, from_address, parent=self)
        records += ses.records
        self.mail = ses.relay

        solver_secret_name = args.dns01_secret[1]
        if edge.dns == "cloudflare":
            from components import edge_cloudflare

            self.zone_id = edge_cloudflare.publish(name, cfg, records, parent=self)
            dns01_data: dict[str, pulumi.Input[str]] = {CLOUDFLARE_TOKEN_KEY: cfg.secret("cloudflareDns01Token")}
            self.dns01_solver = pulumi.Output.from_input(
                {"cloudflare": {"apiTokenSecretRef": {"name": solver_secret_name, "key": CLOUDFLARE_TOKEN_KEY}}}
            )
        else:
            from components import edge_route53

            route53 = edge_route53.publish(name, cfg, records, parent=self)
            self.zone_id = route53.zone_id
            dns01_data = {
                ROUTE53_ACCESS_KEY_ID_KEY: route53.dns01_access_key_id,
                ROUTE53_SECRET_ACCESS_KEY_KEY: route53.dns01_secret_access_key,
            }
            self.dns01_solver = pulumi.Output.all(route53.region, route53.zone_id).apply(
                lambda values: {
                    "route53": {
                        "region": values[0],
                        # With the zone id given, the solver needs no ListHostedZones permission.
                        "hostedZoneID": values[1],
                        "accessKeyIDSecretRef": {"name": solver_secret_name, "key": ROUTE53_ACCESS_KEY_ID_KEY},
                        "secretAccessKeySecretRef": {"name": solver_secret_name, "key": ROUTE53_SECRET_ACCESS_KEY_KEY},
                    }
                }
            )

        namespace, secret_name = args.dns01_secret
        k8s.core.v1.Secret(
            f"{name}-dns01-credentials",
            metadata=kube.metadata(secret_name, "dns01-solver", namespace, app="cert-manager"),
            type="Opaque",
            string_data=dns01_data,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._register()

    def _register(self) -> None:
        self.register_outputs(
            {
                "mailHost": self.mail.host,
                "zoneId": self.zone_id,
                "dns01Solver": self.dns01_solver,
                "hostnames": self.hostnames,
            }
        )


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
