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
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Collection, Literal, Mapping

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


# --------------------------------------------------------------------------------------------
# Data layer, part 2: RabbitMQ and object storage (issue 5)
# --------------------------------------------------------------------------------------------

# RabbitMQ queue names the application declares. Kept to a DNS-label-like alphabet because each
# queue also becomes a Kubernetes object name (`queue-<name>`); 50 characters leave room for it.
_QUEUE_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,48}[a-z0-9])?$")
# A Kubernetes storage quantity such as 10Gi or 500Mi.
_QUANTITY_RE = re.compile(r"^[1-9][0-9]*(Mi|Gi|Ti)$")
# AWS region names (eu-west-1, us-gov-west-1, ap-southeast-3); in-cluster engines accept any.
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
# Bucket names are global on AWS: a prefix makes them unique (S3 naming rules, room for suffixes).
_BUCKET_PREFIX_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{1,38}[a-z0-9])$")
# The dead-letter queue the topology creates itself; an application queue must not take its name.
DEAD_LETTER_QUEUE = "dead-letter"


def _queue_name(value: str) -> str:
    if not _QUEUE_RE.match(value):
        raise ValueError(
            f"'{value}' is not a queue name: lowercase letters, digits, '.' and '-', 1-50 characters"
        )
    if value == DEAD_LETTER_QUEUE:
        raise ValueError(f"'{DEAD_LETTER_QUEUE}' is reserved for the dead-letter queue")
    return value


QueueName = Annotated[str, AfterValidator(_queue_name)]


def _storage_size(value: str) -> str:
    if not _QUANTITY_RE.match(value):
        raise ValueError(f"'{value}' is not a storage size such as 10Gi (Mi, Gi or Ti)")
    return value


StorageSize = Annotated[str, AfterValidator(_storage_size)]


class RabbitMQSection(_Strict):
    """`rabbitmq:` the application's queues and how failed deliveries are dead-lettered."""

    queues: list[QueueName] = Field(default_factory=lambda: ["default"], min_length=1, max_length=50)
    # Redeliveries of a message before the quorum queue dead-letters it (x-delivery-limit).
    deliveryLimit: int = Field(default=5, ge=1, le=1000)
    # Persistent volume per RabbitMQ node.
    storage: StorageSize = "10Gi"

    @field_validator("queues")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({q for q in value if value.count(q) > 1})
        if duplicates:
            raise ValueError(f"duplicate queue names: {', '.join(duplicates)}")
        return value


class ObjectStorageSection(_Strict):
    """`objectStorage:` which S3-compatible backend holds uploads, static assets and backups."""

    engine: StorageEngine = "seaweedfs"
    # Signing region; the AWS region of the buckets for the s3 engine.
    region: str = "us-east-1"
    # The existing MinIO/AIStor S3 endpoint (minio engine only), e.g. https://s3.example.net.
    endpoint: str | None = None
    # Bucket names become `<bucketPrefix>-<stack>-<bucket>`; defaults to the domain with dashes.
    bucketPrefix: str | None = None
    # Days a replaced or deleted object version is kept before expiry (s3 lifecycle rule).
    noncurrentVersionDays: int = Field(default=30, ge=1, le=3650)
    # Persistent volume of each in-cluster SeaweedFS volume server.
    storage: StorageSize = "50Gi"

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION_RE.match(value):
            raise ValueError(f"'{value}' is not a region such as eu-west-1")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[a-z0-9.-]+(:[0-9]{1,5})?/?$", value):
            raise ValueError(f"'{value}' is not an https:// endpoint URL (scheme, host, optional port)")
        return value.rstrip("/") if value else value

    @field_validator("bucketPrefix")
    @classmethod
    def _prefix(cls, value: str | None) -> str | None:
        if value is not None and not _BUCKET_PREFIX_RE.match(value):
            raise ValueError(f"'{value}' is not a bucket prefix: 3-40 lowercase letters, digits and '-'")
        return value

    @model_validator(mode="after")
    def _endpoint_for_minio(self) -> "ObjectStorageSection":
        if self.engine == "minio" and not self.endpoint:
            raise ValueError("endpoint: the minio engine needs the endpoint of the existing MinIO (https://...)")
        if self.engine != "minio" and self.endpoint:
            raise ValueError(f"endpoint: only the minio engine takes an endpoint ({self.engine} has its own)")
        return self


# Secret keys (`pulumi config set --secret`): read with require_secret, never parsed as plain
# values. The minio engine's credentials are the only ones so far.
SECRET_KEYS: dict[str, str] = {
    "minioAccessKey": "access key of the existing MinIO (objectStorage.engine: minio)",
    "minioSecretKey": "secret key of the existing MinIO (objectStorage.engine: minio)",
}


class EdgeSection(_Strict):
    dns: DnsProvider = "none"


class RawConfig(_Strict):
    """The `saas-platform:` namespace exactly as written in Pulumi.<stack>.yaml."""

    domain: str
    environment: Environment
    size: Size = "small"
    frontend: FrontendSection
    backend: BackendSection
    objectStorage: ObjectStorageSection = ObjectStorageSection()
    rabbitmq: RabbitMQSection = RabbitMQSection()
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
    # Secret config values by key (see SECRET_KEYS), as secret Outputs; only the keys set.
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)

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
    return StackConfig(stack=stack, raw=raw, replicas=replicas)


# --------------------------------------------------------------------------------------------
# Reading and error reporting
# --------------------------------------------------------------------------------------------

_OBJECT_KEYS = {"frontend", "backend", "objectStorage", "rabbitmq", "edge"}

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
        # A cross-field check names its own key path (`edge.dns: ...`), relative to its model.
        head, sep, rest = message.partition(": ")
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.]*", head):
            path, message = (f"{path}.{head}" if path else head), rest
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


def parse(values: Mapping[str, Any], stack: str, secret_keys: Collection[str] = ()) -> StackConfig:
    """Validate a plain mapping of the namespace's keys; raise ConfigError listing every problem.

    `secret_keys` names the SECRET_KEYS that are set (their values never pass through here)."""
    problems: list[str] = []
    try:
        raw = RawConfig.model_validate(dict(values))
    except ValidationError as exc:
        problems = [_format(e) for e in exc.errors(include_url=False)]
        raw = None
    if raw is not None:
        problems += _secret_key_problems(raw, set(secret_keys))
    if problems:
        raise ConfigError(sorted(dict.fromkeys(problems)))
    return resolve(stack, raw)


def _secret_key_problems(raw: RawConfig, present: set[str]) -> list[str]:
    """Secret keys must be set exactly when the configuration uses them."""
    needed = {"minioAccessKey", "minioSecretKey"} if raw.objectStorage.engine == "minio" else set()
    problems = [
        f"{NAMESPACE}:{key}: is required with objectStorage.engine minio "
        f"(pulumi config set --secret {key} ...)"
        for key in sorted(needed - present)
    ]
    problems += [
        f"{NAMESPACE}:{key}: is set but unused ({SECRET_KEYS[key]}); remove it"
        for key in sorted(present - needed)
    ]
    return problems


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
            # Read as a secret Output in load(); a plain value here would sit in clear text
            # in the stack file and in the state.
            if not runtime_config.is_config_secret(full_key):
                problems.append(f"{NAMESPACE}:{key}: must be set as a secret (pulumi config set --secret {key} ...)")
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
    present = _secret_keys_set()
    try:
        resolved = parse(values, pulumi.get_stack(), present)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(sorted(dict.fromkeys(problems)))
    config = pulumi.Config(NAMESPACE)
    return replace(resolved, secrets={key: config.require_secret(key) for key in sorted(present)})


def _secret_keys_set() -> set[str]:
    """The SECRET_KEYS the stack sets (secret or not: a plain one is reported separately)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {key for key in SECRET_KEYS if f"{NAMESPACE}:{key}" in keys}
