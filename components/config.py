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

import dataclasses
import json
import re
from dataclasses import dataclass
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


class EdgeSection(_Strict):
    dns: DnsProvider = "none"


# --------------------------------------------------------------------------------------------
# Monitoring (issue 9): Prometheus, Alertmanager, Grafana, Graylog + Fluent Bit
# --------------------------------------------------------------------------------------------

# Prometheus duration as its `--storage.tsdb.retention.time` flag accepts it (one unit).
_DURATION_RE = re.compile(r"^[1-9][0-9]*(h|d|w|y)$")
# A Kubernetes storage quantity in binary units, as a PVC request expects it.
_STORAGE_RE = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")
_EMAIL_RE = re.compile(r"^[^@\s]+@([a-z0-9-]+\.)+[a-z]{2,63}$")


def _duration(value: str) -> str:
    if not _DURATION_RE.match(value):
        raise ValueError(f"'{value}' is not a retention such as 15d (a whole number of h, d, w or y)")
    return value


def _storage(value: str) -> str:
    if not _STORAGE_RE.match(value):
        raise ValueError(f"'{value}' is not a storage size such as 50Gi (Mi, Gi or Ti)")
    return value


def _email(value: str) -> str:
    if not _EMAIL_RE.match(value):
        raise ValueError(f"'{value}' is not an email address such as ops@example.com")
    return value


Retention = Annotated[str, AfterValidator(_duration)]
StorageSize = Annotated[str, AfterValidator(_storage)]
EmailAddress = Annotated[str, AfterValidator(_email)]


class PrometheusSection(_Strict):
    """`monitoring.prometheus`: how long and how much Prometheus keeps (defaults per environment)."""

    retention: Retention | None = None
    storage: StorageSize | None = None


class LogsSection(_Strict):
    """`monitoring.logs`: Graylog (DataNode + MongoDB) and Fluent Bit. Off in development."""

    enabled: bool | None = None
    storage: StorageSize | None = None


class AlertsSection(_Strict):
    """`monitoring.alerts`: who gets the email Alertmanager sends (when a mail relay exists)."""

    emailTo: list[EmailAddress] | None = Field(default=None, min_length=1)


class MonitoringSection(_Strict):
    prometheus: PrometheusSection = PrometheusSection()
    logs: LogsSection = LogsSection()
    alerts: AlertsSection = AlertsSection()
    nodeExporter: bool | None = None


@dataclass(frozen=True)
class MonitoringSettings:
    """Resolved monitoring numbers for one environment (explicit config wins over defaults).

    retention / storage: Prometheus TSDB retention and PVC size.
    prometheus_replicas / alertmanager_replicas: 2 where the environment is highly available.
    logs_enabled / logs_storage: Graylog + Fluent Bit on or off, DataNode PVC size.
    node_exporter: run node-exporter (host access) in the logging namespace.
    alert_email_to: recipients of the email receiver.
    """

    retention: str
    storage: str
    prometheus_replicas: int
    alertmanager_replicas: int
    logs_enabled: bool
    logs_storage: str
    node_exporter: bool
    alert_email_to: tuple[str, ...]


# environment -> (retention, Prometheus storage, DataNode storage)
MONITORING_DEFAULTS: Mapping[Environment, tuple[str, str, str]] = {
    "development": ("2d", "5Gi", "5Gi"),
    "staging": ("7d", "20Gi", "20Gi"),
    "production": ("15d", "50Gi", "100Gi"),
}


def resolve_monitoring(raw: "RawConfig") -> MonitoringSettings:
    section = raw.monitoring
    retention, storage, logs_storage = MONITORING_DEFAULTS[raw.environment]
    highly_available = raw.environment != "development"
    # Development runs on a laptop: no Graylog (it alone wants ~8 GiB) and no node-exporter
    # (host mounts; Docker Desktop's root is not a shared mount and node-exporter fails there).
    default_on = raw.environment != "development"
    return MonitoringSettings(
        retention=section.prometheus.retention or retention,
        storage=section.prometheus.storage or storage,
        prometheus_replicas=2 if raw.environment == "production" else 1,
        alertmanager_replicas=2 if highly_available else 1,
        logs_enabled=default_on if section.logs.enabled is None else section.logs.enabled,
        logs_storage=section.logs.storage or logs_storage,
        node_exporter=default_on if section.nodeExporter is None else section.nodeExporter,
        alert_email_to=tuple(section.alerts.emailTo or (f"ops@{raw.domain}",)),
    )


class RawConfig(_Strict):
    """The `saas-platform:` namespace exactly as written in Pulumi.<stack>.yaml."""

    domain: str
    environment: Environment
    size: Size = "small"
    frontend: FrontendSection
    backend: BackendSection
    objectStorage: ObjectStorageSection = ObjectStorageSection()
    edge: EdgeSection = EdgeSection()
    monitoring: MonitoringSection = MonitoringSection()
    # Secret keys: read with get_secret in load() and never part of the plain values; listed
    # here only so the unknown-key check accepts them (their value is never validated here).
    alertWebhookUrl: None = None

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
    monitoring: MonitoringSettings
    # Secret config (pulumi.Output marked secret), None when the key is not set.
    alert_webhook_url: pulumi.Output[str] | None = None
    # "slack" for a Slack incoming webhook (hooks.slack.com), else "webhook" (generic JSON):
    # the kind of receiver Alertmanager needs; derived from the URL's host, not secret itself.
    alert_webhook_kind: Literal["slack", "webhook"] | None = None

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
    def protect(self) -> bool:
        """Stateful resources are `protect=True` in production: a `pulumi destroy` must not eat data."""
        return self.is_production


def resolve(stack: str, raw: RawConfig) -> StackConfig:
    tier = DEVELOPMENT_TIER if raw.environment == "development" else TIERS[raw.size]
    replicas = Replicas(
        frontend=raw.frontend.replicas or tier.frontend,
        backend=raw.backend.replicas or tier.backend,
        workers=raw.backend.workers or tier.workers,
        database_replicas=tier.database_replicas,
    )
    return StackConfig(stack=stack, raw=raw, replicas=replicas, monitoring=resolve_monitoring(raw))


# --------------------------------------------------------------------------------------------
# Reading and error reporting
# --------------------------------------------------------------------------------------------

_OBJECT_KEYS = {"frontend", "backend", "objectStorage", "edge", "monitoring"}
# Keys that hold credentials: read with get_secret, handed to components as secret Outputs.
SECRET_KEYS = {"alertWebhookUrl"}

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
    try:
        raw = RawConfig.model_validate(dict(values))
    except ValidationError as exc:
        problems = [_format(e) for e in exc.errors(include_url=False)]
        raise ConfigError(sorted(dict.fromkeys(problems))) from None
    return resolve(stack, raw)


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
            problems += _secret_key_problems(key)
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


def _secret_key_problems(key: str) -> list[str]:
    """Check a secret key's shape without ever putting its value into a message."""
    from pulumi.runtime import config as runtime_config

    plain = runtime_config.get_config(f"{NAMESPACE}:{key}")
    # Offline synth cannot decrypt `secure:` values and hands a placeholder instead.
    if plain is not None and plain.startswith("synth-placeholder-"):
        return []
    if key == "alertWebhookUrl" and plain is not None and not re.match(r"^https://[^\s/]+(/\S*)?$", plain):
        return [f"{NAMESPACE}:{key}: expected an https:// webhook URL (the value is secret and not shown)"]
    return []


def load() -> StackConfig:
    """Read and validate the stack's configuration. Call before registering any resource."""
    values, problems = _namespace_values()
    try:
        resolved = parse(values, pulumi.get_stack())
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(sorted(problems))
    config = pulumi.Config(NAMESPACE)
    webhook = config.get_secret("alertWebhookUrl")
    return dataclasses.replace(resolved, alert_webhook_url=webhook, alert_webhook_kind=_webhook_kind())


def _webhook_kind() -> Literal["slack", "webhook"] | None:
    from pulumi.runtime import config as runtime_config

    plain = runtime_config.get_config(f"{NAMESPACE}:alertWebhookUrl")
    if plain is None:
        return None
    return "slack" if plain.startswith("https://hooks.slack.com/") else "webhook"
