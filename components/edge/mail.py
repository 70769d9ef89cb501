"""AWS SES for EdgeDNS: the sending identity, its DNS records, bounce events and SMTP credentials.

Imported only when a DNS provider is configured (the dev stack never loads pulumi_aws).
Resources are children of the EdgeDNS component that calls `configure_ses`.

Choices:
- SES v2 (`aws.sesv2`): the domain identity carries a default configuration set, so every
  message (API or SMTP) reports bounces and complaints without the application adding a
  header. SES v2 verifies a domain through its Easy DKIM CNAMEs: those three records are the
  verification records (the legacy `_amazonses` TXT token of SES v1 is not used).
- DMARC `adkim=s` (Easy DKIM signs with d=<domain> exactly) and `aspf=r` (the envelope sender
  is the MAIL FROM subdomain, which aligns relaxed).
- The SMTP user may call only `ses:SendRawEmail`/`ses:SendEmail`, only on this identity and its
  configuration set, and only with a From address of the domain.
- Key rotation: the access key's resource name carries `edge.mail.smtpKeyRotation`; bumping it
  creates a new key, rewires every consumer in the same update, then deletes the old key
  (an IAM user may hold two keys, so the overlap is allowed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components import contracts
from components.config import StackConfig
from components.edge import iam as aws_iam
from components.edge.records import DnsRecordSpec

SMTP_PORT = 587  # STARTTLS; SES also listens on 465 (TLS wrapper) and 2587
DKIM_TOKENS = 3  # Easy DKIM always publishes three selectors
EVENT_TYPES = ["BOUNCE", "COMPLAINT"]


@dataclass(frozen=True)
class SesMail:
    """What SES hands back to EdgeDNS: the relay contract and the records to publish."""

    relay: contracts.MailRelay
    records: list[DnsRecordSpec]
    identity_arn: pulumi.Output[str]
    smtp_user_policy: pulumi.Output[str]


def spf(includes: list[str]) -> str:
    mechanisms = " ".join(f"include:{domain}" for domain in ["amazonses.com", *includes])
    return f"v=spf1 {mechanisms} ~all"


def dmarc(policy: str, reports: str | None) -> str:
    tags = ["v=DMARC1", f"p={policy}", f"sp={policy}", "adkim=s", "aspf=r", "fo=1"]
    if reports:
        tags.append(f"rua=mailto:{reports}")
    return "; ".join(tags)


def smtp_send_policy(identity_arn: str, configuration_set_arn: str, domain: str) -> str:
    """Only send, only as this identity (and through its configuration set), only From @domain."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "SendAsTheDomainOnly",
                    "Effect": "Allow",
                    "Action": ["ses:SendEmail", "ses:SendRawEmail"],
                    "Resource": [identity_arn, configuration_set_arn],
                    "Condition": {"StringLike": {"ses:FromAddress": f"*@{domain}"}},
                }
            ],
        },
        sort_keys=True,
    )


def sns_publish_policy(topic_arn: str, account_id: str, configuration_set_arn: str) -> str:
    """SES may publish to the topic, only for this account's configuration set."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "SesEventsOnly",
                    "Effect": "Allow",
                    "Principal": {"Service": "ses.amazonaws.com"},
                    "Action": "SNS:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"AWS:SourceAccount": account_id},
                        "ArnLike": {"AWS:SourceArn": configuration_set_arn},
                    },
                }
            ],
        },
        sort_keys=True,
    )


def configure_ses(name: str, cfg: StackConfig, from_address: str, *, parent: pulumi.Resource) -> SesMail:
    mail = cfg.edge.mail
    domain = cfg.domain
    prefix = f"saas-platform-{cfg.stack}"
    child = pulumi.ResourceOptions(parent=parent)
    # Losing the identity loses its verification and DKIM keys (new tokens, new DNS records,
    # a cold sending reputation): protect it in production and keep it if removed from code.
    keep = pulumi.ResourceOptions(parent=parent, protect=cfg.protect, retain_on_delete=cfg.protect)

    region = aws.get_region_output().region
    account_id = aws.get_caller_identity_output().account_id

    configuration_set = aws.sesv2.ConfigurationSet(
        f"{name}-ses-configuration-set",
        configuration_set_name=f"{prefix}-mail",
        delivery_options=aws.sesv2.ConfigurationSetDeliveryOptionsArgs(tls_policy="REQUIRE"),
        reputation_options=aws.sesv2.ConfigurationSetReputationOptionsArgs(reputation_metrics_enabled=True),
        suppression_options=aws.sesv2.ConfigurationSetSuppressionOptionsArgs(suppressed_reasons=EVENT_TYPES),
        opts=child,
    )
    identity = aws.sesv2.EmailIdentity(
        f"{name}-ses-identity",
        email_identity=domain,
        configuration_set_name=configuration_set.configuration_set_name,
        dkim_signing_attributes=aws.sesv2.EmailIdentityDkimSigningAttributesArgs(next_signing_key_length="RSA_2048_BIT"),
        opts=keep,
    )
    mail_from_domain = f"{mail.mailFromSubdomain}.{domain}"
    aws.sesv2.EmailIdentityMailFromAttributes(
        f"{name}-ses-mail-from",
        email_identity=identity.email_identity,
        mail_from_domain=mail_from_domain,
        # Until the MX is visible, fall back to amazonses.com instead of rejecting mail.
        behavior_on_mx_failure="USE_DEFAULT_VALUE",
        opts=child,
    )

    topic = aws.sns.Topic(f"{name}-ses-events", name=f"{prefix}-ses-events", opts=child)
    topic_policy = aws.sns.TopicPolicy(
        f"{name}-ses-events-policy",
        arn=topic.arn,
        policy=pulumi.Output.all(topic.arn, account_id, configuration_set.arn).apply(
            lambda values: sns_publish_policy(*values)
        ),
        opts=child,
    )
    aws.sesv2.ConfigurationSetEventDestination(
        f"{name}-ses-bounces-complaints",
        configuration_set_name=configuration_set.configuration_set_name,
        event_destination_name="bounces-complaints",
        event_destination=aws.sesv2.ConfigurationSetEventDestinationEventDestinationArgs(
            enabled=True,
            matching_event_types=EVENT_TYPES,
            sns_destination=aws.sesv2.ConfigurationSetEventDestinationEventDestinationSnsDestinationArgs(
                topic_arn=topic.arn
            ),
        ),
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[topic_policy]),
    )
    if mail.bounceEndpoint:
        aws.sns.TopicSubscription(
            f"{name}-ses-events-subscription",
            topic=topic.arn,
            protocol="https" if mail.bounceEndpoint.startswith("https://") else "email",
            endpoint=mail.bounceEndpoint,
            opts=child,
        )

    policy_document = pulumi.Output.all(identity.arn, configuration_set.arn).apply(
        lambda arns: smtp_send_policy(arns[0], arns[1], domain)
    )
    access_key = aws_iam.user_with_key(
        f"{name}-ses-smtp",
        user_name=f"{prefix}-ses-smtp",
        purpose="ses-send-as-domain",
        stack=cfg.stack,
        policy=policy_document,
        key_resource_name=f"{name}-ses-smtp-key-r{mail.smtpKeyRotation}",
        parent=parent,
    )

    relay = contracts.MailRelay(
        host=pulumi.Output.concat("email-smtp.", region, ".amazonaws.com"),
        port=SMTP_PORT,
        tls=True,
        from_address=from_address,
        username=pulumi.Output.secret(access_key.id),
        # The SDK derives the SigV4 SMTP password from the secret key and the provider's region.
        password=pulumi.Output.secret(access_key.ses_smtp_password_v4),
    )

    tokens = identity.dkim_signing_attributes.apply(lambda attributes: list(attributes.tokens or []))
    records = [
        DnsRecordSpec(
            key=f"dkim-{index + 1}",
            name=tokens.apply(lambda t, i=index: f"{t[i]}._domainkey.{domain}"),
            type="CNAME",
            content=tokens.apply(lambda t, i=index: f"{t[i]}.dkim.amazonses.com"),
            purpose="mail",
        )
        for index in range(DKIM_TOKENS)
    ]
    records += [
        DnsRecordSpec(key="spf", name=domain, type="TXT", content=spf(mail.spfIncludes), purpose="mail"),
        DnsRecordSpec(key="dmarc", name=f"_dmarc.{domain}", type="TXT", content=dmarc(mail.dmarcPolicy, mail.dmarcReports), purpose="mail"),
        DnsRecordSpec(
            key="mail-from-mx",
            name=mail_from_domain,
            type="MX",
            content=pulumi.Output.concat("feedback-smtp.", region, ".amazonses.com"),
            purpose="mail",
            priority=10,
        ),
        DnsRecordSpec(key="mail-from-spf", name=mail_from_domain, type="TXT", content=spf([]), purpose="mail"),
    ]
    return SesMail(relay=relay, records=records, identity_arn=identity.arn, smtp_user_policy=policy_document)
