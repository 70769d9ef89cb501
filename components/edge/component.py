"""EdgeDNS: the platform's public names, its edge (CDN/WAF) and its mail.

With `edge.dns: cloudflare` or `route53` this component
- publishes the web hosts (apex and `www` for the frontend, `app` for the API and WebSockets,
  `grafana`, `graylog` and `rabbitmq` for the admin UIs), all pointing at the Traefik load
  balancer (an A/AAAA record for an IP, a CNAME for a load balancer host name, decided from the
  address the platform reports); proxied through Cloudflare, DNS-only on Route53. No `static`
  host: nothing serves one (both apps serve their own assets);
- sets up AWS SES (`mail.py`): domain identity with Easy DKIM, SPF, DMARC, a
  custom MAIL FROM domain, bounce/complaint events to SNS, and an IAM user whose access key
  yields the SMTP credentials of the `mail` relay; the mail records go into the same zone and
  are never proxied;
- hardens the Cloudflare zone (`cloudflare.py`: strict TLS, HTTPS only, TLS
  1.2+, HSTS, rate limits, WAF custom rules, cache rules), or looks up the Route53 zone
  (`route53.py`);
- writes the Secret cert-manager's DNS-01 solver reads (`dns01_secret`), and publishes the
  matching solver block (`dns01_solver`) for the platform's ClusterIssuer.

With `edge.dns: none` (development) no cloud SDK is imported and no Cloudflare or AWS resource
is registered: mail goes to Mailpit in the cluster (`mail_catcher.py`).

The provider modules are imported inside the branch that needs them: `pulumi_cloudflare`
alone costs about two seconds of import time (FACTS.md), and the dev stack must run without
either SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components import contracts
from components import k8s as kube
from components.config import StackConfig, ingress_record_type
from components.edge.records import (
    CLOUDFLARE_TOKEN_KEY,
    ROUTE53_ACCESS_KEY_ID_KEY,
    ROUTE53_SECRET_ACCESS_KEY_KEY,
    route53_record_type,
    web_records,
)

TYPE = "saas-platform:index:EdgeDNS"


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
            from components.edge.mail_catcher import MailCatcher, MailCatcherArgs

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

        from components.edge import mail as ses_mail

        ses = ses_mail.configure_ses(name, cfg, from_address, parent=self)
        records += ses.records
        self.mail = ses.relay

        solver_secret_name = args.dns01_secret[1]
        if edge.dns == "cloudflare":
            from components.edge import cloudflare

            self.zone_id = cloudflare.publish(name, cfg, records, parent=self)
            dns01_data: dict[str, pulumi.Input[str]] = {CLOUDFLARE_TOKEN_KEY: cfg.secret("cloudflareDns01Token")}
            self.dns01_solver = pulumi.Output.from_input(
                {"cloudflare": {"apiTokenSecretRef": {"name": solver_secret_name, "key": CLOUDFLARE_TOKEN_KEY}}}
            )
        else:
            from components.edge import route53 as route53_zone

            route53 = route53_zone.publish(name, cfg, records, parent=self)
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
