"""Good and bad resources for the edge rules: proxy modes, zone TLS, SES DKIM and DMARC."""

from __future__ import annotations

from typing import Any

from tests.policy_cases.common import Case, record

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
DOMAIN = "example.com"
TOKEN = "f06a9521796ef140b529706605481289"


def cf_record(key: str, name: str, type_: str, content: str, proxied: bool, **extra: Any) -> dict[str, Any]:
    inputs = {"zoneId": ZONE, "name": name, "type": type_, "content": content, "proxied": proxied, "ttl": 1 if proxied else 3600, **extra}
    return record("cloudflare:index/dnsRecord:DnsRecord", f"edge-{key}", inputs)


def r53_record(key: str, name: str, type_: str, value: str) -> dict[str, Any]:
    inputs = {"zoneId": "ZSYNTH", "name": name, "type": type_, "records": [value], "ttl": 3600}
    return record("aws:route53/record:Record", f"edge-{key}", inputs)


def zone_setting(setting: str, value: Any) -> dict[str, Any]:
    return record("cloudflare:index/zoneSetting:ZoneSetting", f"edge-zone-{setting}", {"zoneId": ZONE, "settingId": setting, "value": value})


def identity(domain: str = DOMAIN) -> dict[str, Any]:
    return record("aws:sesv2/emailIdentity:EmailIdentity", "edge-ses-identity", {"emailIdentity": domain})


WEB = cf_record("www", f"www.{DOMAIN}", "A", "203.0.113.10", True)
DKIM = cf_record("dkim-1", f"{TOKEN}._domainkey.{DOMAIN}", "CNAME", f"{TOKEN}.dkim.amazonses.com", False)
DMARC = cf_record("dmarc", f"_dmarc.{DOMAIN}", "TXT", '"v=DMARC1; p=quarantine; adkim=s"', False)
MAIL_FROM_MX = cf_record("mail-from-mx", f"bounce.{DOMAIN}", "MX", "feedback-smtp.eu-west-1.amazonses.com", False, priority=10)
STRICT_ZONE = [zone_setting("ssl", "strict"), zone_setting("min_tls_version", "1.2"), zone_setting("always_use_https", "on")]

CASES: list[Case] = [
    # Web hosts go through the proxy; a deliberate DNS-only host says why.
    ("dns-web-records-proxied",
     [WEB, DKIM, DMARC, MAIL_FROM_MX, cf_record("ssh", f"ssh.{DOMAIN}", "A", "198.51.100.7", False, comment="dns-only: SSH bastion")],
     [cf_record("app", f"app.{DOMAIN}", "A", "203.0.113.10", False)]),
    ("dns-web-records-proxied", [cf_record("lb", f"www.{DOMAIN}", "CNAME", "lb.example.net", True)],
     [cf_record("lb", f"www.{DOMAIN}", "CNAME", "lb.example.net", False)]),
    # Mail and verification records answer with the real value.
    ("dns-mail-records-not-proxied", [WEB, DKIM, DMARC, MAIL_FROM_MX],
     [cf_record("dkim-1", f"{TOKEN}._domainkey.{DOMAIN}", "CNAME", f"{TOKEN}.dkim.amazonses.com", True)]),
    ("dns-mail-records-not-proxied", [cf_record("acme", f"_acme-challenge.{DOMAIN}", "TXT", '"token"', False)],
     [cf_record("acme", f"_acme-challenge.{DOMAIN}", "CNAME", "challenges.example.net", True)]),
    # The zone pins strict TLS; flexible/full or a missing pin is caught.
    ("cloudflare-zone-tls-strict", [WEB, *STRICT_ZONE],
     [WEB, zone_setting("ssl", "full"), *STRICT_ZONE[1:]]),
    ("cloudflare-zone-tls-strict", [WEB, *STRICT_ZONE], [WEB, *STRICT_ZONE[1:]]),
    ("cloudflare-zone-tls-strict", [WEB, *STRICT_ZONE],
     [WEB, STRICT_ZONE[0], zone_setting("min_tls_version", "1.0"), STRICT_ZONE[2]]),
    # An SES domain identity comes with its DKIM CNAMEs and a DMARC record (either provider).
    ("ses-identity-dkim-dmarc", [identity(), DKIM, DMARC], [identity(), DMARC]),
    ("ses-identity-dkim-dmarc", [identity(), DKIM, DMARC], [identity(), DKIM]),
    ("ses-identity-dkim-dmarc",
     [identity(), r53_record("dkim-1", f"{TOKEN}._domainkey.{DOMAIN}", "CNAME", f"{TOKEN}.dkim.amazonses.com"),
      r53_record("dmarc", f"_dmarc.{DOMAIN}", "TXT", "v=DMARC1; p=reject")],
     [identity(), r53_record("dkim-1", f"{TOKEN}._domainkey.{DOMAIN}", "CNAME", f"{TOKEN}.dkim.amazonses.com"),
      r53_record("dmarc", f"_dmarc.{DOMAIN}", "TXT", "v=spf1 -all")]),
    ("ses-identity-dkim-dmarc", [identity(), DKIM, DMARC], [identity("other.example"), DKIM, DMARC]),
]
