"""Route53 for EdgeDNS (`edge.dns: route53`): records in an existing public hosted zone, and
cert-manager DNS-01 credentials limited to ACME challenge TXT records of that zone.

Route53 has no proxy: the web records resolve straight to the load balancer, so there is no
CDN, WAF or edge rate limiting in this mode (Traefik's own middlewares still apply). The hosted
zone is looked up, not created: registrar delegation is a one-time manual step, and a stack
that owned the zone could delete it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.config import StackConfig
from components.edge import iam as aws_iam
from components.edge.records import DnsRecordSpec

WEB_TTL = 300  # short: the load balancer address may move
MAIL_TTL = 3600


@dataclass(frozen=True)
class Route53Zone:
    zone_id: pulumi.Output[str]
    region: pulumi.Output[str]
    dns01_access_key_id: pulumi.Output[str]
    dns01_secret_access_key: pulumi.Output[str]
    dns01_policy: pulumi.Output[str]


def dns01_policy(zone_id: str, domain: str) -> str:
    """cert-manager's Route53 solver, scoped to TXT `_acme-challenge` records of one zone.

    `GetChange` cannot be scoped to a zone (change ids are global); `ListHostedZonesByName` is
    not granted because the solver is given the hosted zone id.
    """
    zone_arn = f"arn:aws:route53:::hostedzone/{zone_id}"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AcmeChallengeRecordsOnly",
                    "Effect": "Allow",
                    "Action": ["route53:ChangeResourceRecordSets"],
                    "Resource": [zone_arn],
                    "Condition": {
                        "ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]},
                        "ForAllValues:StringLike": {
                            "route53:ChangeResourceRecordSetsNormalizedRecordNames": [
                                f"_acme-challenge.{domain}",
                                f"_acme-challenge.*.{domain}",
                            ]
                        },
                    },
                },
                {
                    "Sid": "ReadTheZone",
                    "Effect": "Allow",
                    "Action": ["route53:ListResourceRecordSets"],
                    "Resource": [zone_arn],
                },
                {
                    "Sid": "WatchPropagation",
                    "Effect": "Allow",
                    "Action": ["route53:GetChange"],
                    "Resource": ["arn:aws:route53:::change/*"],
                },
            ],
        },
        sort_keys=True,
    )


def publish(name: str, cfg: StackConfig, records: list[DnsRecordSpec], *, parent: pulumi.Resource) -> Route53Zone:
    child = pulumi.ResourceOptions(parent=parent)
    zone = aws.route53.get_zone_output(name=cfg.edge.route53.zoneName or cfg.domain, private_zone=False)

    for spec in records:
        value = spec.content if spec.priority is None else pulumi.Output.concat(str(spec.priority), " ", spec.content)
        aws.route53.Record(
            f"{name}-{spec.key}",
            zone_id=zone.zone_id,
            name=spec.name,
            type=spec.type,
            ttl=WEB_TTL if spec.purpose == "web" else MAIL_TTL,
            records=[value],
            opts=child,
        )

    policy = zone.zone_id.apply(lambda zone_id: dns01_policy(zone_id, cfg.domain))
    key = aws_iam.user_with_key(
        f"{name}-dns01",
        user_name=f"saas-platform-{cfg.stack}-dns01",
        purpose="acme-dns01-challenges",
        stack=cfg.stack,
        policy=policy,
        parent=parent,
    )
    return Route53Zone(
        zone_id=zone.zone_id,
        region=aws.get_region_output().region,
        dns01_access_key_id=pulumi.Output.secret(key.id),
        dns01_secret_access_key=pulumi.Output.secret(key.secret),
        dns01_policy=policy,
    )
