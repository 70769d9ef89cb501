"""Cloudflare for EdgeDNS (`edge.dns: cloudflare`): records, zone settings and rulesets.

Imported only when Cloudflare is the provider (pulumi_cloudflare costs ~2 s of imports). The
provider authenticates with the standard `cloudflare:apiToken` secret config; the zone is
`edge.cloudflare.zoneId`. The token needs Zone Settings:Edit, DNS:Edit and the zone's
WAF / Cache Rules / Rate limiting rules edit permissions. cert-manager gets its own, narrower
token (`cloudflareDns01Token`: Zone:DNS:Edit and Zone:Zone:Read), never this one.

Zone settings are `protect`ed in production and kept on delete (`retain_on_delete`): removing
them from the program must not silently fall back to Cloudflare's defaults (flexible TLS).
Rulesets are the zone's phase entry points (one per phase per zone). Two rate limiting rules
matching on host and path with a 60 s period need the Pro plan or higher (Free allows one rule
on the path only, 10 s periods).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.config import StackConfig
from components.edge_dns import ADMIN_HOSTS, DnsRecordSpec

AUTO_TTL = 1  # Cloudflare's "automatic", the only TTL a proxied record may have
MAIL_TTL = 3600

ZONE_SETTINGS: dict[str, Any] = {
    "ssl": "strict",  # Full (strict): Cloudflare verifies the origin's certificate
    "always_use_https": "on",
    "min_tls_version": "1.2",
    "tls_1_3": "on",
    # No `brotli`: Cloudflare's API deprecated that setting (end of life 2024-06-14,
    # developers.cloudflare.com/fundamentals/api/reference/deprecations); Brotli is always on.
    "automatic_https_rewrites": "on",
    "security_header": {
        "strict_transport_security": {
            "enabled": True,
            "max_age": 31536000,
            "include_subdomains": True,
            # Preloading is hard to undo; opt in deliberately once every subdomain is HTTPS.
            "preload": False,
            "nosniff": True,
        }
    },
}

# Paths scanners try on every site; none of them exists in a Next.js or Laravel deployment.
EXPLOIT_PATHS = (
    "/.env",
    "/.git/",
    "/_ignition/",  # Laravel Ignition (CVE-2021-3129)
    "/vendor/phpunit/",
    "/wp-admin",
    "/wp-login.php",
    "/xmlrpc.php",
    "/cgi-bin/",
    "/server-status",
    "/phpmyadmin",
)
LOGIN_PATHS = ("/login", "/register", "/forgot-password", "/reset-password", "/api/login", "/api/auth/login")


def _txt(content: pulumi.Input[str]) -> pulumi.Output[str]:
    # Cloudflare stores TXT content quoted; unquoted content shows as a perpetual diff.
    return pulumi.Output.concat('"', content, '"')


def _in(values: tuple[str, ...]) -> str:
    return "{" + " ".join(f'"{v}"' for v in values) + "}"


def firewall_rules(domain: str) -> list[cloudflare.RulesetRuleArgs]:
    exploit = " or ".join(f'starts_with(http.request.uri.path, "{p}")' for p in EXPLOIT_PATHS)
    admin_hosts = _in(tuple(f"{label}.{domain}" for label in ADMIN_HOSTS))
    return [
        cloudflare.RulesetRuleArgs(
            ref="block_exploit_paths",
            description="Block scanner paths (dotfiles, Ignition, PHPUnit, WordPress, CGI)",
            expression=f"({exploit})",
            action="block",
            enabled=True,
        ),
        cloudflare.RulesetRuleArgs(
            ref="challenge_admin_hosts",
            description="Managed challenge in front of the admin UIs (Grafana, Graylog, RabbitMQ)",
            expression=f"(http.host in {admin_hosts})",
            action="managed_challenge",
            enabled=True,
        ),
    ]


def rate_limit_rules(cfg: StackConfig) -> list[cloudflare.RulesetRuleArgs]:
    api_host = f"app.{cfg.domain}"
    limits = cfg.edge.cloudflare
    # Counting per client IP within each Cloudflare data centre (the required characteristics).
    characteristics = ["cf.colo.id", "ip.src"]
    return [
        cloudflare.RulesetRuleArgs(
            ref="rate_limit_login",
            description="Login and password-reset attempts per IP",
            # Host and path only: matching the method needs the Business plan.
            expression=f'(http.host eq "{api_host}" and http.request.uri.path in {_in(LOGIN_PATHS)})',
            action="block",
            ratelimit=cloudflare.RulesetRuleRatelimitArgs(
                characteristics=characteristics,
                period=60,
                requests_per_period=limits.loginRequestsPerMinute,
                mitigation_timeout=3600,  # Pro allows 10 s, 60 s or 1 h
            ),
            enabled=True,
        ),
        cloudflare.RulesetRuleArgs(
            ref="rate_limit_api",
            description="API requests per IP",
            expression=f'(http.host eq "{api_host}" and starts_with(http.request.uri.path, "/api/"))',
            action="block",
            ratelimit=cloudflare.RulesetRuleRatelimitArgs(
                characteristics=characteristics,
                period=60,
                requests_per_period=limits.apiRequestsPerMinute,
                mitigation_timeout=60,
            ),
            enabled=True,
        ),
    ]


def cache_rules(domain: str) -> list[cloudflare.RulesetRuleArgs]:
    frontend_hosts = _in((domain, f"www.{domain}"))
    return [
        cloudflare.RulesetRuleArgs(
            ref="cache_next_static",
            description="Next.js build assets are content-hashed: cache them at the edge for a year",
            expression=f'(http.host in {frontend_hosts} and starts_with(http.request.uri.path, "/_next/static/"))',
            action="set_cache_settings",
            action_parameters=cloudflare.RulesetRuleActionParametersArgs(
                cache=True,
                edge_ttl=cloudflare.RulesetRuleActionParametersEdgeTtlArgs(mode="override_origin", default=31536000),
                browser_ttl=cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode="respect_origin"),
            ),
            enabled=True,
        ),
    ]


def publish(name: str, cfg: StackConfig, records: list[DnsRecordSpec], *, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Create the records, zone settings and rulesets; return the zone id."""
    zone_id = cfg.edge.cloudflare.zoneId
    if not zone_id:  # config.py already rejects this; guard callers that bypass it
        raise pulumi.RunError("saas-platform:edge.cloudflare.zoneId: is required when edge.dns is cloudflare")
    child = pulumi.ResourceOptions(parent=parent)
    keep = pulumi.ResourceOptions(parent=parent, protect=cfg.protect, retain_on_delete=True)

    for spec in records:
        cloudflare.DnsRecord(
            f"{name}-{spec.key}",
            zone_id=zone_id,
            name=spec.name,
            type=spec.type,
            content=_txt(spec.content) if spec.purpose == "mail" and spec.type == "TXT" else spec.content,
            priority=spec.priority,
            proxied=spec.proxied,
            ttl=AUTO_TTL if spec.proxied else MAIL_TTL,
            comment=f"saas-platform {cfg.stack}: {spec.purpose}",
            opts=child,
        )

    for setting_id, value in ZONE_SETTINGS.items():
        cloudflare.ZoneSetting(
            f"{name}-zone-{setting_id.replace('_', '-')}",
            zone_id=zone_id,
            setting_id=setting_id,
            value=value,
            opts=keep,
        )

    phases = {
        "http_request_firewall_custom": ("waf", firewall_rules(cfg.domain)),
        "http_ratelimit": ("rate-limits", rate_limit_rules(cfg)),
        "http_request_cache_settings": ("cache", cache_rules(cfg.domain)),
    }
    for phase, (label, rules) in phases.items():
        cloudflare.Ruleset(
            f"{name}-{label}",
            zone_id=zone_id,
            kind="zone",
            phase=phase,
            name=f"saas-platform {cfg.stack} {label}",
            description=f"Managed by Pulumi (saas-platform {cfg.stack})",
            rules=rules,
            opts=child,
        )
    return pulumi.Output.from_input(zone_id)
