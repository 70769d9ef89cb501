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

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_cloudflare as cloudflare

from components.config import StackConfig
from components.edge.records import ADMIN_HOSTS, DnsRecordSpec

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


@dataclass(frozen=True)
class Rule:
    """One rule of a zone ruleset; the expression is a template filled per stack.

    expression: `{exploit}`, `{admin_hosts}`, `{api_host}`, `{login_paths}` and
        `{frontend_hosts}` are filled by `rules`.
    rate_limit: (config key of `edge.cloudflare` with the requests per minute, mitigation
        timeout in seconds) for a rate limiting rule.
    cache_ttl: edge TTL in seconds for a cache rule (browser TTL follows the origin).
    """

    ref: str
    description: str
    expression: str
    action: str
    rate_limit: tuple[str, int] | None = None
    cache_ttl: int | None = None


# Each phase's rules: (resource label, rules). The phase is the zone's entry point (one ruleset
# per phase per zone).
PHASES: dict[str, tuple[str, tuple[Rule, ...]]] = {
    "http_request_firewall_custom": ("waf", (
        Rule("block_exploit_paths", "Block scanner paths (dotfiles, Ignition, PHPUnit, WordPress, CGI)",
             "({exploit})", "block"),
        Rule("challenge_admin_hosts", "Managed challenge in front of the admin UIs (Grafana, Graylog, RabbitMQ)",
             "(http.host in {admin_hosts})", "managed_challenge"),
    )),
    "http_ratelimit": ("rate-limits", (
        # Host and path only: matching the method needs the Business plan. Pro allows a
        # mitigation timeout of 10 s, 60 s or 1 h.
        Rule("rate_limit_login", "Login and password-reset attempts per IP",
             '(http.host eq "{api_host}" and http.request.uri.path in {login_paths})', "block",
             rate_limit=("loginRequestsPerMinute", 3600)),
        Rule("rate_limit_api", "API requests per IP",
             '(http.host eq "{api_host}" and starts_with(http.request.uri.path, "/api/"))', "block",
             rate_limit=("apiRequestsPerMinute", 60)),
    )),
    "http_request_cache_settings": ("cache", (
        Rule("cache_next_static", "Next.js build assets are content-hashed: cache them at the edge for a year",
             '(http.host in {frontend_hosts} and starts_with(http.request.uri.path, "/_next/static/"))',
             "set_cache_settings", cache_ttl=31536000),
    )),
}
# Counting per client IP within each Cloudflare data centre (the required characteristics).
RATE_LIMIT_CHARACTERISTICS = ["cf.colo.id", "ip.src"]


def rules(cfg: StackConfig, table: tuple[Rule, ...]) -> list[cloudflare.RulesetRuleArgs]:
    """The ruleset rules of one phase's table, expressions filled for this stack."""
    domain = cfg.domain
    fill = {
        "exploit": " or ".join(f'starts_with(http.request.uri.path, "{p}")' for p in EXPLOIT_PATHS),
        "admin_hosts": _in(tuple(f"{label}.{domain}" for label in ADMIN_HOSTS)),
        "api_host": f"app.{domain}",
        "login_paths": _in(LOGIN_PATHS),
        "frontend_hosts": _in((domain, f"www.{domain}")),
    }
    out = []
    for rule in table:
        extra: dict[str, Any] = {}
        if rule.rate_limit is not None:
            key, timeout = rule.rate_limit
            extra["ratelimit"] = cloudflare.RulesetRuleRatelimitArgs(
                characteristics=list(RATE_LIMIT_CHARACTERISTICS),
                period=60,
                requests_per_period=getattr(cfg.edge.cloudflare, key),
                mitigation_timeout=timeout,
            )
        if rule.cache_ttl is not None:
            extra["action_parameters"] = cloudflare.RulesetRuleActionParametersArgs(
                cache=True,
                edge_ttl=cloudflare.RulesetRuleActionParametersEdgeTtlArgs(mode="override_origin", default=rule.cache_ttl),
                browser_ttl=cloudflare.RulesetRuleActionParametersBrowserTtlArgs(mode="respect_origin"),
            )
        out.append(cloudflare.RulesetRuleArgs(
            ref=rule.ref,
            description=rule.description,
            expression=rule.expression.format(**fill),
            action=rule.action,
            enabled=True,
            **extra,
        ))
    return out


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

    for phase, (label, table) in PHASES.items():
        cloudflare.Ruleset(
            f"{name}-{label}",
            zone_id=zone_id,
            kind="zone",
            phase=phase,
            name=f"saas-platform {cfg.stack} {label}",
            description=f"Managed by Pulumi (saas-platform {cfg.stack})",
            rules=rules(cfg, table),
            opts=child,
        )
    return pulumi.Output.from_input(zone_id)
