"""Typed stack configuration: the one place that reads `pulumi.Config("saas-platform")`.

Every key of the `saas-platform:` namespace is parsed here into pydantic v2 models, the seed's
sizing tiers and the per-environment defaults are resolved into concrete numbers, and every
problem is reported at once, one line per problem, naming the key path and what is expected:

    saas-platform:frontend.replicas: min (6) must not exceed max (5)

`load()` raises `ConfigError` (a `pulumi.RunError`, which the engine prints without a traceback)
before the program registers a single resource, so a typo never leaves a half-built stack.
Components receive the resolved `StackConfig`; they never read Pulumi config themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Mapping

import pulumi
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

NAMESPACE = "saas-platform"

Environment = Literal["development", "staging", "production"]
Size = Literal["small", "medium", "large"]
StorageEngine = Literal["seaweedfs", "s3", "minio"]
DnsProvider = Literal["cloudflare", "route53", "none"]


class ConfigError(pulumi.RunError):
    """Invalid stack configuration. The message lists every problem, one per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  {p}" for p in problems))


class _Strict(BaseModel):
    # Unknown keys are almost always typos (`replica:` for `replicas:`); reject them.
    model_config = ConfigDict(extra="forbid", populate_by_name=False, frozen=True)


# --------------------------------------------------------------------------------------------
# Value types
# --------------------------------------------------------------------------------------------

_DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# A repository path segment as the OCI distribution spec allows it.
_REPO_RE = re.compile(r"^[a-z0-9]+([._-]+[a-z0-9]+)*(/[a-z0-9]+([._-]+[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def parse_image(ref: str) -> tuple[str, str | None, str | None]:
    """Split `registry/repo:tag@sha256:...` into (repository, tag, digest); raise ValueError."""
    if not isinstance(ref, str) or not ref or ref != ref.strip():
        raise ValueError("expected an image reference such as ghcr.io/acme/web:1.4.2")
    name, _, digest = ref.partition("@")
    if digest and not _DIGEST_RE.match(digest):
        raise ValueError(f"digest '{digest}' is not of the form sha256:<64 hex digits>")
    # The tag is after the last ':' of the last path segment (a registry may have a :port).
    head, _, last = name.rpartition("/")
    repo_last, _, tag = last.partition(":")
    repository = f"{head}/{repo_last}" if head else repo_last
    registry, _, path = repository.partition("/")
    if not path or not ("." in registry or ":" in registry or registry == "localhost"):
        path = repository  # Docker Hub short name: no registry host in front
    if not _REPO_RE.match(path):
        raise ValueError(f"'{ref}' is not a valid image reference (lowercase repository expected)")
    if tag and not _TAG_RE.match(tag):
        raise ValueError(f"tag '{tag}' is not a valid image tag")
    return repository, tag or None, digest or None


def _pinned_image(ref: str) -> str:
    _, tag, digest = parse_image(ref)
    if tag == "latest" and not digest:
        raise ValueError(f"'{ref}' uses :latest; pin a version tag or a sha256 digest")
    if not tag and not digest:
        raise ValueError(f"'{ref}' has no tag; pin a version tag or a sha256 digest")
    return ref


PinnedImage = Annotated[str, AfterValidator(_pinned_image)]


class Bounds(_Strict):
    """Replica bounds of an autoscaled workload (HPA / KEDA minReplicas and maxReplicas)."""

    min: int = Field(ge=1, le=200)
    max: int = Field(ge=1, le=200)

    @model_validator(mode="after")
    def _ordered(self) -> "Bounds":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


# --------------------------------------------------------------------------------------------
# Sizing tiers (seed: "Resource Allocation" and "Horizontal Scaling")
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """Concrete numbers for one sizing tier. `database_replicas` counts read replicas."""

    frontend: Bounds
    backend: Bounds
    workers: Bounds
    database_replicas: int


TIERS: Mapping[Size, Tier] = {
    # seed "Small (< 1k users)": 2 frontend, 2 backend, a single database instance.
    "small": Tier(Bounds(min=2, max=3), Bounds(min=2, max=4), Bounds(min=1, max=3), 0),
    # seed "Medium (1k-10k users)": frontend 3-5, backend 3-7, master + replica.
    "medium": Tier(Bounds(min=3, max=5), Bounds(min=3, max=7), Bounds(min=2, max=10), 1),
    # seed "Large (10k+ users)": frontend 5+, backend 5-10+, database cluster.
    "large": Tier(Bounds(min=5, max=12), Bounds(min=5, max=15), Bounds(min=3, max=30), 2),
}

# Development runs on a laptop cluster: one replica of everything whatever the size says;
# the HPA may still add one under load so autoscaling is exercised locally.
DEVELOPMENT_TIER = Tier(Bounds(min=1, max=2), Bounds(min=1, max=2), Bounds(min=1, max=2), 0)


# --------------------------------------------------------------------------------------------
# Config sections (the public contract of DESIGN.md "Stack config")
# --------------------------------------------------------------------------------------------


class FrontendSection(_Strict):
    image: PinnedImage
    replicas: Bounds | None = None


class BackendSection(_Strict):
    image: PinnedImage
    replicas: Bounds | None = None
    workers: Bounds | None = None


class ObjectStorageSection(_Strict):
    engine: StorageEngine = "seaweedfs"


# ---- edge: DNS, CDN/WAF and mail (components/edge_dns.py) ----------------------------------

DmarcPolicy = Literal["none", "quarantine", "reject"]

_CLOUDFLARE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_IPV4_RE = re.compile(r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$")
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_RE = re.compile(r"^[a-z0-9._%+-]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


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


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError(f"'{value}' is not a lowercase e-mail address such as ops@example.com")
    return value


Email = Annotated[str, AfterValidator(_email)]


class CloudflareSection(_Strict):
    """`edge.cloudflare`: the zone the records, settings and rulesets live in."""

    zoneId: str | None = None
    # Rate limit of the API (`app.<domain>/api/...`) and of the login paths, per client IP and
    # Cloudflare colo. Periods of 10 s or 60 s are what the Pro and Business plans allow.
    apiRequestsPerMinute: int = Field(default=600, ge=10, le=100_000)
    loginRequestsPerMinute: int = Field(default=10, ge=1, le=1_000)

    @field_validator("zoneId")
    @classmethod
    def _zone_id(cls, value: str | None) -> str | None:
        if value is not None and not _CLOUDFLARE_ID_RE.match(value):
            raise ValueError(f"'{value}' is not a Cloudflare zone id (32 lowercase hex digits)")
        return value


class Route53Section(_Strict):
    """`edge.route53`: the public hosted zone (looked up by name) the records go into."""

    zoneName: str | None = None  # default: the domain itself

    @field_validator("zoneName")
    @classmethod
    def _zone_name(cls, value: str | None) -> str | None:
        if value is not None and not _DOMAIN_RE.match(value):
            raise ValueError(f"'{value}' is not a lowercase DNS zone name such as example.com")
        return value


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
        if value is None or value.startswith("https://") or _EMAIL_RE.match(value):
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


# The secret keys of the namespace: read with `require_secret`/`get_secret`, never as plain text.
SECRET_KEYS = {
    # Cloudflare API token cert-manager's DNS-01 solver uses (Zone:DNS:Edit, Zone:Zone:Read).
    "cloudflareDns01Token",
}


class RawConfig(_Strict):
    """The `saas-platform:` namespace exactly as written in Pulumi.<stack>.yaml."""

    domain: str
    environment: Environment
    size: Size = "small"
    frontend: FrontendSection
    backend: BackendSection
    objectStorage: ObjectStorageSection = ObjectStorageSection()
    edge: EdgeSection = EdgeSection()

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN_RE.match(value):
            raise ValueError(
                f"'{value}' is not a lowercase DNS domain such as example.com "
                "(no scheme, no trailing dot, no wildcard)"
            )
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> "RawConfig":
        if self.environment == "production" and self.edge.dns == "none":
            raise ValueError("edge.dns: production needs a DNS provider (cloudflare or route53), not none")
        if self.edge.dns == "cloudflare" and not self.edge.cloudflare.zoneId:
            raise ValueError("edge.cloudflare.zoneId: is required when edge.dns is cloudflare")
        address = self.edge.ingressAddress
        if self.edge.dns == "route53" and address and ingress_record_type(address) == "CNAME":
            raise ValueError(
                f"edge.ingressAddress: Route53 cannot point the apex at a host name ('{address}' would be a "
                "CNAME); give the load balancer's IP address"
            )
        sender = self.edge.mail.fromAddress
        if sender and sender.rpartition("@")[2] != self.domain:
            raise ValueError(
                f"edge.mail.fromAddress: '{sender}' must be an address of the domain {self.domain} "
                "(the SES identity that may send)"
            )
        return self


# --------------------------------------------------------------------------------------------
# Resolved configuration handed to the components
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replicas:
    frontend: Bounds
    backend: Bounds
    workers: Bounds
    database_replicas: int


@dataclass(frozen=True)
class StackConfig:
    """What the components consume: the raw sections plus everything derived from them."""

    stack: str
    raw: RawConfig
    replicas: Replicas
    # Secret config values by key (`SECRET_KEYS`), as secret Outputs when read by `load()`.
    secrets: Mapping[str, Any] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return self.raw.domain

    @property
    def environment(self) -> Environment:
        return self.raw.environment

    @property
    def is_production(self) -> bool:
        return self.raw.environment == "production"

    @property
    def highly_available(self) -> bool:
        """Staging and production run redundant controllers, PDBs and zone spreading."""
        return self.raw.environment != "development"

    @property
    def edge(self) -> EdgeSection:
        return self.raw.edge

    def secret(self, key: str) -> Any:
        """A secret config value (`SECRET_KEYS`); KeyError when the stack does not set it."""
        return self.secrets[key]

    @property
    def protect(self) -> bool:
        """Stateful resources are `protect=True` in production: a `pulumi destroy` must not eat data."""
        return self.is_production


def resolve(stack: str, raw: RawConfig, secrets: Mapping[str, Any] | None = None) -> StackConfig:
    tier = DEVELOPMENT_TIER if raw.environment == "development" else TIERS[raw.size]
    replicas = Replicas(
        frontend=raw.frontend.replicas or tier.frontend,
        backend=raw.backend.replicas or tier.backend,
        workers=raw.backend.workers or tier.workers,
        database_replicas=tier.database_replicas,
    )
    return StackConfig(stack=stack, raw=raw, replicas=replicas, secrets=dict(secrets or {}))


# --------------------------------------------------------------------------------------------
# Reading and error reporting
# --------------------------------------------------------------------------------------------

_OBJECT_KEYS = {"frontend", "backend", "objectStorage", "edge"}

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown key",
}


def _format(error: Mapping[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    message = error["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        # A cross-field check names its own key path (`edge.dns: ...`).
        if not path and ": " in message:
            path, _, message = message.partition(": ")
    elif kind in _MESSAGES:
        message = _MESSAGES[kind]
        known = _known_keys(error["loc"][:-1]) if kind == "extra_forbidden" else []
        if known:
            message += f" (known keys: {', '.join(known)})"
    else:
        message = message[0].lower() + message[1:]
    key = f"{NAMESPACE}:{path}" if path else NAMESPACE
    return f"{key}: {message}"


def _known_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = RawConfig
    for part in loc:
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        model = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is None:
            return []
    return sorted(model.model_fields)


def parse(values: Mapping[str, Any], stack: str) -> StackConfig:
    """Validate a plain mapping of the namespace's keys; raise ConfigError listing every problem."""
    values = dict(values)
    secrets = {key: values.pop(key) for key in SECRET_KEYS if values.get(key) is not None}
    try:
        raw = RawConfig.model_validate(values)
    except ValidationError as exc:
        problems = [_format(e) for e in exc.errors(include_url=False)]
        raise ConfigError(sorted(dict.fromkeys(problems))) from None
    if raw.edge.dns == "cloudflare" and "cloudflareDns01Token" not in secrets:
        raise ConfigError([
            f"{NAMESPACE}:cloudflareDns01Token: is required when edge.dns is cloudflare (a secret: "
            "pulumi config set --secret cloudflareDns01Token <token with Zone:DNS:Edit and Zone:Zone:Read>)"
        ])
    return resolve(stack, raw, secrets)


def _namespace_values() -> tuple[dict[str, Any], list[str]]:
    """Every `saas-platform:*` key the engine passed, decoded; plus decoding problems."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    values: dict[str, Any] = {}
    problems: list[str] = []
    config = pulumi.Config(NAMESPACE)
    for full_key in sorted(keys):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE or not key:
            continue
        if key in SECRET_KEYS:
            # Read as a secret Output: the value never shows in plain text in state or logs.
            values[key] = config.require_secret(key)
            continue
        text = config.get(key)
        if text is None:
            continue
        if key in _OBJECT_KEYS:
            try:
                values[key] = json.loads(text)
            except json.JSONDecodeError:
                problems.append(f"{NAMESPACE}:{key}: expected an object (a YAML mapping), got {text!r}")
        else:
            values[key] = text
    return values, problems


def load() -> StackConfig:
    """Read and validate the stack's configuration. Call before registering any resource."""
    values, problems = _namespace_values()
    try:
        resolved = parse(values, pulumi.get_stack())
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return resolved
