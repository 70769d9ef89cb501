"""Rules for the edge: DNS proxy modes, the Cloudflare zone's TLS, and SES mail authentication."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator, Mapping

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import get, resource_policy

CLOUDFLARE_RECORD = "cloudflare:index/dnsRecord:DnsRecord"
CLOUDFLARE_ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
ROUTE53_RECORD = "aws:route53/record:Record"
SES_IDENTITIES = ("aws:sesv2/emailIdentity:EmailIdentity", "aws:ses/domainIdentity:DomainIdentity")

ADDRESS_TYPES = {"A", "AAAA", "CNAME"}
# Mail and verification endpoints must answer with the real value, never a Cloudflare edge.
MAIL_TARGET_SUFFIXES = (".amazonses.com", ".mail.protection.outlook.com", ".google.com", ".mailgun.org")
# A web record that must not be proxied (an SSH bastion, a non-HTTP service) says why.
DNS_ONLY_MARKER = "dns-only:"
TLS_SETTINGS = {"ssl": {"strict"}, "min_tls_version": {"1.2", "1.3"}, "always_use_https": {"on"}}


def _unquote(text: Any) -> str:
    return str(text or "").strip().strip('"')


def is_mail_record(record_type: str, name: str, content: str) -> bool:
    """Mail, verification or challenge record: MX/TXT, an underscore label (`_dmarc`,
    `*._domainkey`, `_acme-challenge`, `_amazonses`), or a CNAME to a mail provider."""
    labels = name.lower().rstrip(".").split(".")
    if record_type not in ADDRESS_TYPES:
        return True
    if any(label.startswith("_") for label in labels):
        return True
    return content.lower().rstrip(".").endswith(MAIL_TARGET_SUFFIXES)


def _record(args: ResourceValidationArgs) -> tuple[str, str, str, bool] | None:
    if args.resource_type != CLOUDFLARE_RECORD:
        return None
    props = args.props
    return str(props.get("type") or ""), str(props.get("name") or ""), _unquote(props.get("content")), bool(props.get("proxied"))


def _web_records_proxied(args: ResourceValidationArgs) -> Iterator[str]:
    record = _record(args)
    if record is None:
        return
    record_type, name, content, proxied = record
    if is_mail_record(record_type, name, content) or proxied:
        return
    if str(args.props.get("comment") or "").lower().startswith(DNS_ONLY_MARKER):
        return
    yield (
        f"web record {name} ({record_type}) is not proxied: it bypasses Cloudflare's WAF, rate limits and "
        f"CDN and exposes the origin address; set proxied=true (or comment '{DNS_ONLY_MARKER} <reason>')"
    )


def _mail_records_not_proxied(args: ResourceValidationArgs) -> Iterator[str]:
    record = _record(args)
    if record is None:
        return
    record_type, name, content, proxied = record
    if proxied and is_mail_record(record_type, name, content):
        yield (
            f"mail/verification record {name} ({record_type}) is proxied: resolvers would get a Cloudflare "
            "edge address instead of the answer, breaking DKIM, MAIL FROM and ACME verification"
        )


def _zone_tls_strict(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    zones_with_records = {str(get(r.props, "zoneId")) for r in args.resources if r.resource_type == CLOUDFLARE_RECORD}
    settings: dict[str, dict[str, Any]] = defaultdict(dict)
    for resource in args.resources:
        if resource.resource_type != CLOUDFLARE_ZONE_SETTING:
            continue
        setting, value = str(get(resource.props, "settingId")), get(resource.props, "value")
        settings[str(get(resource.props, "zoneId"))][setting] = value
        allowed = TLS_SETTINGS.get(setting)
        if allowed is not None and value not in allowed:
            report_violation(
                f"zone setting {setting}={value!r} weakens TLS; expected one of {sorted(allowed)}", resource.urn
            )
    for zone in sorted(zones_with_records):
        missing = [s for s in TLS_SETTINGS if s not in settings.get(zone, {})]
        if missing:
            report_violation(
                f"Cloudflare zone {zone} serves records but does not pin {', '.join(missing)}: without "
                "ssl=strict Cloudflare may talk to the origin without verifying its certificate",
                None,
            )


def _dns_answers(resources: list[Any]) -> dict[tuple[str, str], list[str]]:
    """(lower-case name, type) -> values, over Cloudflare and Route53 records."""
    answers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for resource in resources:
        props: Mapping[str, Any] = resource.props
        if resource.resource_type == CLOUDFLARE_RECORD:
            values = [props.get("content")]
        elif resource.resource_type == ROUTE53_RECORD:
            values = list(props.get("records") or [])
        else:
            continue
        key = (str(props.get("name") or "").lower().rstrip("."), str(props.get("type") or ""))
        answers[key] += [_unquote(v) for v in values]
    return answers


def _ses_dkim_dmarc(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    answers = _dns_answers(args.resources)
    for resource in args.resources:
        if resource.resource_type not in SES_IDENTITIES:
            continue
        domain = str(get(resource.props, "emailIdentity") or get(resource.props, "domain") or "").lower()
        if not domain or "@" in domain:
            continue  # an address identity has no DNS of its own
        dkim = [
            name for (name, kind), values in answers.items()
            if kind == "CNAME" and name.endswith(f"._domainkey.{domain}")
            and any(v.endswith(".dkim.amazonses.com") for v in values)
        ]
        if not dkim:
            report_violation(
                f"SES identity {domain} has no Easy DKIM CNAME (<token>._domainkey.{domain} -> "
                "<token>.dkim.amazonses.com): it stays unverified and its mail fails DMARC",
                resource.urn,
            )
        dmarc = [v for v in answers.get((f"_dmarc.{domain}", "TXT"), []) if v.startswith("v=DMARC1") and "p=" in v]
        if not dmarc:
            report_violation(
                f"SES identity {domain} has no DMARC record (TXT _dmarc.{domain} 'v=DMARC1; p=...'): "
                "receivers get no policy and spoofed mail from the domain goes unchecked",
                resource.urn,
            )


POLICIES = [
    resource_policy(
        "dns-web-records-proxied",
        "Cloudflare web records (A/AAAA/CNAME to the ingress) are proxied, so WAF, rate limits and CDN apply and the origin stays hidden.",
        _web_records_proxied,
    ),
    resource_policy(
        "dns-mail-records-not-proxied",
        "Mail and verification records (MX, TXT, _dmarc, DKIM CNAMEs, ACME challenges) are never proxied through Cloudflare.",
        _mail_records_not_proxied,
    ),
    StackValidationPolicy(
        name="cloudflare-zone-tls-strict",
        description="Every Cloudflare zone with records pins SSL Full (strict), HTTPS only and TLS 1.2 or newer.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_zone_tls_strict,
    ),
    StackValidationPolicy(
        name="ses-identity-dkim-dmarc",
        description="Every SES domain identity has its Easy DKIM CNAME records and a DMARC TXT record in the stack's DNS.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_ses_dkim_dmarc,
    ),
]
