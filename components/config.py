"""Typed stack configuration: the one place that reads `pulumi.Config("saas-platform")`.

Every key of the `saas-platform:` namespace is parsed here into pydantic v2 models, the architecture overview's
sizing tiers and the per-environment defaults are resolved into concrete numbers, and every
problem is reported at once, one line per problem, naming the key path and what is expected:

    saas-platform:frontend.replicas: min (6) must not exceed max (5)

`load()` raises `ConfigError` (a `pulumi.RunError`, which the engine prints without a traceback)
before the program registers a single resource, so a typo never leaves a half-built stack.
Components receive the resolved `StackConfig`; they never read Pulumi config themselves.
"""

from __future__ import annotations

import ipaddress
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

from components.data import backup_timing

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


# The mandatory policy `k8s-hpa-bounds` (policies/saas_policies/workloads.py, MAX_HPA_REPLICAS)
# rejects an autoscaler above 50 replicas; config refuses the same values up front, so a user
# learns it from the key they wrote rather than from a policy finding on a generated HPA.
MAX_REPLICAS = 50


def _replica_count(value: int) -> int:
    if value > MAX_REPLICAS:
        raise ValueError(
            f"{value} is above the maximum of {MAX_REPLICAS} replicas (the mandatory policy k8s-hpa-bounds "
            "rejects more: a runaway scale-out exhausts the cluster and the database's connections)"
        )
    return value


ReplicaCount = Annotated[int, Field(ge=1), AfterValidator(_replica_count)]


class Bounds(_Strict):
    """Replica bounds of an autoscaled workload (HPA / KEDA minReplicas and maxReplicas)."""

    min: ReplicaCount
    max: ReplicaCount

    @model_validator(mode="after")
    def _ordered(self) -> "Bounds":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


# --------------------------------------------------------------------------------------------
# Sizing tiers (architecture overview: "Resource Allocation" and "Horizontal Scaling")
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContainerSize:
    """Requests and memory limit of one container. No CPU limit: throttling a web server in
    a burst hurts latency more than sharing idle cores does; memory is limited because the
    OOM killer must pick the container that overran, not a neighbour."""

    cpu: str
    memory: str
    memory_limit: str


@dataclass(frozen=True)
class Tier:
    """Concrete numbers for one sizing tier. `database_replicas` counts read replicas."""

    frontend: Bounds
    backend: Bounds
    workers: Bounds
    database_replicas: int
    frontend_size: ContainerSize
    # The php-fpm container of the web pod and the workers; pm.max_children follows from it.
    backend_size: ContainerSize


TIERS: Mapping[Size, Tier] = {
    # architecture overview "Small (< 1k users)": 2 frontend, 2 backend, a single database instance.
    "small": Tier(
        Bounds(min=2, max=3), Bounds(min=2, max=4), Bounds(min=1, max=3), 0,
        frontend_size=ContainerSize("100m", "256Mi", "512Mi"),
        backend_size=ContainerSize("200m", "384Mi", "512Mi"),
    ),
    # architecture overview "Medium (1k-10k users)": frontend 3-5, backend 3-7, master + replica.
    "medium": Tier(
        Bounds(min=3, max=5), Bounds(min=3, max=7), Bounds(min=2, max=10), 1,
        frontend_size=ContainerSize("250m", "384Mi", "768Mi"),
        backend_size=ContainerSize("500m", "768Mi", "1Gi"),
    ),
    # architecture overview "Large (10k+ users)": frontend 5+, backend 5-10+, database cluster.
    "large": Tier(
        Bounds(min=5, max=12), Bounds(min=5, max=15), Bounds(min=3, max=30), 2,
        frontend_size=ContainerSize("500m", "512Mi", "1Gi"),
        backend_size=ContainerSize("1", "1536Mi", "2Gi"),
    ),
}

# Development runs on a laptop cluster: one replica of everything whatever the size says;
# the HPA may still add one under load so autoscaling is exercised locally.
DEVELOPMENT_TIER = Tier(
    Bounds(min=1, max=2), Bounds(min=1, max=2), Bounds(min=1, max=2), 0,
    frontend_size=ContainerSize("50m", "192Mi", "512Mi"),
    # Eight PHP containers at the dev maximum (web x2, Redis and RabbitMQ workers x2 each,
    # Reverb, scheduler): 192 Mi each keeps dev within a 4 vCPU / 8 GiB laptop node (5 GiB of
    # requests, test_footprint); the 512 Mi limit leaves php-fpm its workers.
    backend_size=ContainerSize("100m", "192Mi", "512Mi"),
)


# --------------------------------------------------------------------------------------------
# Config sections (the public contract of DESIGN.md "Stack config")
# --------------------------------------------------------------------------------------------


ReleaseStrategy = Literal["rolling", "canary", "blueGreen"]


class ReleaseSection(_Strict):
    """How a new image reaches users (`frontend.release`, `backend.release`).

    rolling   one track (`image`), replaced pod by pod.
    canary    track `stable` runs `image`, track `canary` runs `candidateImage` and receives
              `weight` % of requests.
    blueGreen track `blue` runs `image`, track `green` runs `candidateImage`; `active` gets all
              traffic, the other stays warm, so switching (and switching back) is one value.
    """

    strategy: ReleaseStrategy = "rolling"
    candidateImage: PinnedImage | None = None
    weight: int = Field(default=10, ge=0, le=100)
    active: Literal["blue", "green"] = "blue"

    @model_validator(mode="after")
    def _candidate(self) -> "ReleaseSection":
        if self.strategy != "rolling" and not self.candidateImage:
            raise ValueError(f"candidateImage: required by the {self.strategy} strategy")
        if self.strategy == "rolling" and self.candidateImage:
            raise ValueError("candidateImage: only used by the canary and blueGreen strategies")
        return self


class FrontendSection(_Strict):
    image: PinnedImage
    replicas: Bounds | None = None
    release: ReleaseSection = ReleaseSection()
    # The app must serve these: a cheap liveness/readiness route and Prometheus metrics
    # (e.g. prom-client); Next.js has neither built in.
    healthPath: str = Field(default="/api/health", pattern=r"^/[A-Za-z0-9/._-]*$")
    metricsPath: str = Field(default="/api/metrics", pattern=r"^/[A-Za-z0-9/._-]*$")


class PhpSection(_Strict):
    """PHP limits of the Laravel containers (nginx, php-fpm and php.ini agree on them)."""

    memoryLimitMb: int = Field(default=256, ge=64, le=4096)
    uploadMaxMb: int = Field(default=64, ge=1, le=2048)
    requestTimeout: int = Field(default=60, ge=5, le=900)
    # Expected resident memory of one php-fpm worker; sizes pm.max_children.
    workerMemoryMb: int = Field(default=48, ge=16, le=1024)


class BackendSection(_Strict):
    image: PinnedImage
    replicas: Bounds | None = None
    workers: Bounds | None = None
    release: ReleaseSection = ReleaseSection()
    php: PhpSection = PhpSection()
    # Redis queues the workers drain, highest priority first.
    queues: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]] = Field(
        default_factory=lambda: ["default"], min_length=1, max_length=10
    )
    # Longest a job may run; workers get this plus a margin as their termination grace period.
    jobTimeout: int = Field(default=300, ge=10, le=3600)
    # Queue length per worker replica that makes KEDA add a worker.
    jobsPerWorker: int = Field(default=20, ge=1, le=10000)
    # The application's own Prometheus route (docs/components.md, "Application metrics contract"):
    # scraped through nginx on the web port, answered 403 through the edge.
    metricsPath: str = Field(default="/metrics", pattern=r"^/[A-Za-z0-9/._-]*$")


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
    # s3 engine: the AWS region the uploads and backups buckets are replicated to (a second
    # copy outside the primary region; components/storage_replication.py). Required in
    # production with s3; absent means no replication.
    replicaRegion: str | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION_RE.match(value):
            raise ValueError(f"'{value}' is not a region such as eu-west-1")
        return value

    @field_validator("replicaRegion")
    @classmethod
    def _replica_region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION_RE.match(value):
            raise ValueError(f"'{value}' is not an AWS region such as eu-central-1")
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
        if self.replicaRegion and self.engine != "s3":
            raise ValueError(
                f"replicaRegion: only the s3 engine replicates to another AWS region ({self.engine} does not; "
                "docs/operations.md, \"Files replication\")"
            )
        if self.replicaRegion and self.replicaRegion == self.region:
            raise ValueError(
                f"replicaRegion: '{self.replicaRegion}' is the primary region; a replica must survive the loss "
                "of that region: choose another one"
            )
        return self


# Secret keys (`pulumi config set --secret`): read with require_secret, never parsed as plain
# values. The minio engine's credentials are the only ones so far.
SECRET_KEYS: dict[str, str] = {
    "minioAccessKey": "access key of the existing MinIO (objectStorage.engine: minio)",
    "minioSecretKey": "secret key of the existing MinIO (objectStorage.engine: minio)",
    "cloudflareDns01Token": "Cloudflare API token for cert-manager's DNS-01 solver (edge.dns: cloudflare)",
    "alertWebhookUrl": "optional https:// webhook (Slack or generic) Alertmanager notifies",
    "stripeSecret": "Stripe secret API key for the backend (STRIPE_SECRET)",
    "stripeWebhookSecret": "Stripe webhook signing secret (STRIPE_WEBHOOK_SECRET)",
    "twilioAuthToken": "Twilio auth token (TWILIO_AUTH_TOKEN)",
    "googleMapsKey": "Google Maps API key (GOOGLE_MAPS_API_KEY)",
    "exchangeRatesKey": "exchange-rate API key (EXCHANGE_RATES_API_KEY)",
}
# Integration secrets the backend receives, by config key -> environment variable.
INTEGRATION_SECRETS: Mapping[str, str] = {
    "stripeSecret": "STRIPE_SECRET",
    "stripeWebhookSecret": "STRIPE_WEBHOOK_SECRET",
    "twilioAuthToken": "TWILIO_AUTH_TOKEN",
    "googleMapsKey": "GOOGLE_MAPS_API_KEY",
    "exchangeRatesKey": "EXCHANGE_RATES_API_KEY",
}
# Secret keys a stack may set whatever the rest of its configuration says.
OPTIONAL_SECRET_KEYS = {"alertWebhookUrl", *INTEGRATION_SECRETS}


# ---- edge: DNS, CDN/WAF and mail (components/edge_dns.py) ----------------------------------

DmarcPolicy = Literal["none", "quarantine", "reject"]

_CLOUDFLARE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_IPV4_RE = re.compile(r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$")
_HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_RE = re.compile(r"^[A-Za-z0-9._%+-]+@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


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
        raise ValueError(f"'{value}' is not an e-mail address such as ops@example.com")
    return value


Email = Annotated[str, AfterValidator(_email)]


def _zone_name(value: str | None) -> str | None:
    if value is not None and not _DOMAIN_RE.match(value):
        raise ValueError(f"'{value}' is not a lowercase DNS zone name such as example.com")
    return value


class CloudflareSection(_Strict):
    """`edge.cloudflare`: the zone the records, settings and rulesets live in."""

    zoneId: str | None = None
    # The zone's apex (default: the stack's domain). A stack whose domain sits below the zone
    # apex is refused: see RawConfig._cross_checks.
    zoneName: str | None = None
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

    @field_validator("zoneName")
    @classmethod
    def _zone_name(cls, value: str | None) -> str | None:
        return _zone_name(value)


class Route53Section(_Strict):
    """`edge.route53`: the public hosted zone (looked up by name) the records go into."""

    zoneName: str | None = None  # default: the domain itself

    @field_validator("zoneName")
    @classmethod
    def _zone_name(cls, value: str | None) -> str | None:
        return _zone_name(value)


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


class KubernetesSection(_Strict):
    """`kubernetes`: the cluster this stack writes to.

    context: the kubeconfig context of the stack's explicit Kubernetes provider (every
    Kubernetes resource goes through it). Required outside development, so `pulumi up -s dev`
    with a production context active can never write into production."""

    context: str | None = None

    @field_validator("context")
    @classmethod
    def _context(cls, value: str | None) -> str | None:
        if value is not None and (not value.strip() or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} is not a kubeconfig context name (non-empty, no spaces)")
        return value


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


# --------------------------------------------------------------------------------------------
# ClusterPlatform: ingress, TLS and network isolation (issue 3)
# --------------------------------------------------------------------------------------------



def _cidr(value: str) -> str:
    """A network in CIDR notation (`203.0.113.0/24`, `2001:db8::/32`), host bits clear."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except (TypeError, ValueError):
        raise ValueError(f"'{value}' is not a network in CIDR notation such as 203.0.113.0/24") from None


Cidr = Annotated[str, AfterValidator(_cidr)]


class RateLimitSection(_Strict):
    """Per-client-IP rate limit of the shared `rate-limit` Middleware (Traefik in-memory)."""

    average: int = Field(default=50, ge=1, le=100_000)  # sustained requests per second
    burst: int = Field(default=100, ge=1, le=100_000)  # extra requests allowed in a spike

    @model_validator(mode="after")
    def _burst_covers_average(self) -> "RateLimitSection":
        if self.burst < self.average:
            raise ValueError(f"burst ({self.burst}) must be at least average ({self.average})")
        return self


class AdminGuardSection(_Strict):
    """How the shared `admin-guard` Middleware protects admin UIs (Grafana, RabbitMQ, ...)."""

    mode: Literal["basicAuth", "allowList"] = "basicAuth"
    allowList: list[Cidr] = Field(default_factory=list)

    @model_validator(mode="after")
    def _list_matches_mode(self) -> "AdminGuardSection":
        if self.mode == "allowList" and not self.allowList:
            raise ValueError("mode allowList needs at least one CIDR in allowList")
        if self.mode == "basicAuth" and self.allowList:
            raise ValueError("allowList is only used with mode allowList")
        return self


class NodePortsSection(_Strict):
    """Node ports of Traefik's entry points with `ingress.serviceType: NodePort`."""

    http: int = Field(default=30080, ge=30000, le=32767)
    https: int = Field(default=30443, ge=30000, le=32767)

    @model_validator(mode="after")
    def _distinct(self) -> "NodePortsSection":
        if self.http == self.https:
            raise ValueError(f"http and https must be different node ports (both {self.http})")
        return self


class IngressSection(_Strict):
    rateLimit: RateLimitSection = RateLimitSection()
    adminGuard: AdminGuardSection = AdminGuardSection()
    # Traefik's default entry point read timeout (60 s) cuts long uploads (traefik#11943).
    readTimeoutSeconds: int = Field(default=600, ge=30, le=3600)
    # How Traefik is published: a LoadBalancer Service (clouds, k3d's ServiceLB, Docker
    # Desktop, cloud-provider-kind), or NodePort for a cluster without a load balancer
    # implementation (kind with extraPortMappings): Helm would otherwise wait for an address
    # that never comes and roll the release back.
    serviceType: Literal["LoadBalancer", "NodePort"] = "LoadBalancer"
    nodePorts: NodePortsSection = NodePortsSection()
    # Annotations of Traefik's Service (the cloud's load balancer settings). Unset: outside
    # development an AWS Network Load Balancer (`service.beta.kubernetes.io/aws-load-balancer-type:
    # nlb`), which passes client addresses through (externalTrafficPolicy Local), where EKS'
    # default Classic ELB would hide them behind its own (per-IP rate limit and X-Forwarded-For
    # then see a handful of ELB addresses). `{}` sets none.
    serviceAnnotations: dict[str, str] | None = None


class TlsSection(_Strict):
    # Let's Encrypt account address; defaults to hostmaster@<domain>.
    acmeEmail: str | None = None
    # Which Let's Encrypt directory issues the certificates: `staging` for a first bring-up
    # (generous rate limits, untrusted chain), `production` otherwise.
    acmeServer: Literal["production", "staging"] = "production"

    @field_validator("acmeEmail")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_RE.match(value):
            raise ValueError(f"'{value}' is not an e-mail address such as ops@example.com")
        return value


class NetworkSection(_Strict):
    # Where controllers reach the Kubernetes API (ports 443 and 6443). The API server is not a
    # pod, so NetworkPolicies can only name it by address: narrow this to your control plane.
    apiServerCidrs: list[Cidr] = Field(default_factory=lambda: ["0.0.0.0/0", "::/0"], min_length=1)


# --------------------------------------------------------------------------------------------
# Data layer, part 1: MariaDB and Redis sizing, backups, restore (issue 4): MariaDB and Redis sizing, backups, restore
# --------------------------------------------------------------------------------------------

_CRON_FIELD_RE = re.compile(r"^[0-9*/,-]+$")
_DURATION_RE = re.compile(r"^[1-9][0-9]*h$")
_RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_K8S_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _quantity(value: str) -> str:
    if not _QUANTITY_RE.match(value):
        raise ValueError(f"'{value}' is not a size such as 512Mi, 20Gi or 1Ti")
    return value


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD_RE.match(f) for f in fields):
        raise ValueError(f"'{value}' is not a five-field cron expression such as '0 * * * *'")
    return value


def _hours(value: str) -> str:
    if not _DURATION_RE.match(value):
        raise ValueError(f"'{value}' is not a duration in whole hours such as 720h")
    return value


def _utc_time(value: str) -> str:
    from datetime import datetime

    if not _RFC3339_RE.match(value):
        raise ValueError(f"'{value}' is not a UTC time such as 2026-11-20T18:00:00Z")
    try:
        datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise ValueError(f"'{value}' is not a valid date and time") from None
    return value


def _storage_class(value: str) -> str:
    if not _K8S_NAME_RE.match(value) or len(value) > 253:
        raise ValueError(f"'{value}' is not a StorageClass name (lowercase letters, digits, '-')")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
Cron = Annotated[str, AfterValidator(_cron)]
Hours = Annotated[str, AfterValidator(_hours)]
UtcTime = Annotated[str, AfterValidator(_utc_time)]
StorageClassName = Annotated[str, AfterValidator(_storage_class)]


class RestoreSection(_Strict):
    """Bootstrap a new MariaDB from point-in-time recovery: a restore is a `pulumi up`.

    targetTime: the UTC point to recover; the new instance is `mariadb-r<digits of the time>`.
    newCluster: the cluster the instance in service ran on is gone (cluster-loss runbook):
        the program then renders only that instance's archive (suspended, read-only) and not
        the instance itself, so nothing new writes into its backup prefixes.
    """

    targetTime: UtcTime
    newCluster: bool = False


# `mariadb`, or `mariadb-r<14 digits>` (an instance restored to that UTC time).
_INSTANCE_RE = re.compile(r"^mariadb(-r[0-9]{14})?$")


def _instance(value: str) -> str:
    if not _INSTANCE_RE.match(value):
        raise ValueError(
            f"'{value}' is not a MariaDB instance of this stack: 'mariadb' or 'mariadb-r<YYYYMMDDhhmmss>' "
            "(the name a restore gave it)"
        )
    return value


class MariaDBSection(_Strict):
    storageClass: StorageClassName | None = None
    storage: Quantity | None = None
    memory: Quantity | None = None
    # The MariaDB in service; after a restore, set it to the restored instance's name (and
    # remove `restore`) to finish the restore (docs/operations.md, "Restore").
    instance: Annotated[str, AfterValidator(_instance)] = "mariadb"
    restore: RestoreSection | None = None

    @model_validator(mode="after")
    def _restore_target_is_new(self) -> "MariaDBSection":
        if self.restore and restore_instance_name(self.restore.targetTime) == self.instance:
            raise ValueError(
                f"restore.targetTime: instance {self.instance} is already the restore to that time; "
                "remove data.mariadb.restore to finish the restore"
            )
        return self


def restore_instance_name(target_time: str) -> str:
    """The MariaDB a restore to `target_time` creates: `mariadb-r<digits of the time>`."""
    return "mariadb-r" + re.sub(r"[^0-9]", "", target_time)


def _provisioner(value: str) -> str:
    if not re.match(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(/[a-z0-9-]+)?$", value) or len(value) > 253:
        raise ValueError(f"'{value}' is not a CSI provisioner name such as ebs.csi.aws.com")
    return value


class VolumesSection(_Strict):
    """`data.volumes:` the StorageClass the program creates for the data stores' volumes
    (staging and production, unless a store names its own `storageClass`): volume expansion
    on, so a size increase is an online resize instead of a database stuck "resizing"."""

    # Whether the program creates the `saas-data` StorageClass (default: outside development).
    managed: bool | None = None
    provisioner: Annotated[str, AfterValidator(_provisioner)] = "ebs.csi.aws.com"
    # `encrypted: "true"`: EBS encryption at rest with the account's default EBS key whatever
    # the account-level default (aws-ebs-csi-driver docs/parameters.md; `kmsKeyId` names
    # another key). A map of your own replaces this one: keep `encrypted` in it.
    parameters: dict[str, str] = Field(default_factory=lambda: {"type": "gp3", "encrypted": "true"})


class RedisSection(_Strict):
    storageClass: StorageClassName | None = None
    storage: Quantity | None = None
    memory: Quantity | None = None


class RedisCacheSection(_Strict):
    """The application cache's own Redis (`redis-cache`, `allkeys-lru`, no volumes): data-safety
    review #9, a cache that fills up evicts only cache keys, never a job or a session."""

    memory: Quantity | None = None
    cpu: Quantity | None = None
    # A Redis Cluster (sharded, components/data/redis_cluster.py) instead of a Sentinel
    # replication: default on in the large tier only (the architecture's "Cache: Redis cluster").
    cluster: bool | None = None
    # Shards (leaders) of that cluster, each with one follower; Redis Cluster needs at least 3.
    shards: int = Field(default=3, ge=3, le=16)


class FailedJobsSection(_Strict):
    """The volume of Laravel's `file` failed-job store (data-safety review #10), shared by every
    queue worker. Outside development the workers run on several nodes, so its class must
    offer ReadWriteMany (EFS, CephFS, Longhorn RWX, NFS); development (one node) uses
    ReadWriteOnce on the default class."""

    storageClass: StorageClassName | None = None
    storage: Quantity = "1Gi"


class BackupsSection(_Strict):
    enabled: bool | None = None
    schedule: Cron | None = None
    retention: Hours | None = None


class DataTlsSection(_Strict):
    """`data.tls:` encryption in transit between the applications and MariaDB, Redis (and
    Sentinel) and RabbitMQ, with certificates from cert-manager (components/data/tls.py).
    Default: on outside development; production may not turn it off."""

    enabled: bool | None = None


class MaxScaleSection(_Strict):
    """`data.maxscale:` MariaDB MaxScale in front of the replicated MariaDB (components/data/maxscale.py):
    one host for the application, read/write split, connection pool, failover by MaxScale.

    enabled: default on in the medium and large tiers outside development; small and dev stay direct.
    replicas: MaxScale pods (2: one may be drained or lost while the other routes).
    licensed: MaxScale 23.08 is under the Business Source License, whose Additional Use Grant
        covers production use with fewer than three database servers (LICENSE2308.TXT); a
        production stack fronting three or more must hold a MariaDB subscription and say so here.
    """

    enabled: bool | None = None
    replicas: Annotated[int, Field(ge=1, le=5)] = 2
    licensed: bool = False


_SQL_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _sql_name(value: str) -> str:
    if not _SQL_NAME_RE.match(value):
        raise ValueError(f"'{value}' is not a table or column name (letters, digits, '_', at most 64)")
    return value


SqlName = Annotated[str, AfterValidator(_sql_name)]


class DrillFreshnessSection(_Strict):
    """The table and timestamp column whose newest value tells how old the restored data is
    (pick one the application writes continuously; `updated_at` is UTC in Laravel)."""

    table: SqlName = "users"
    column: SqlName = "updated_at"


class DrillsSection(_Strict):
    """`data.drills:` the monthly recovery drill (components/data/drills.py).

    enabled: default on in production (where backups are on), off elsewhere.
    schedule: cron of the drill, by default monthly, half an hour after an hourly backup.
    tables: tables of the application schema that must hold rows after the restore.
    """

    enabled: bool | None = None
    schedule: Cron = "30 4 1 * *"
    tables: list[SqlName] = Field(default_factory=lambda: ["migrations", "users"], min_length=1)
    freshness: DrillFreshnessSection = DrillFreshnessSection()


class DataSection(_Strict):
    mariadb: MariaDBSection = MariaDBSection()
    maxscale: MaxScaleSection = MaxScaleSection()
    redis: RedisSection = RedisSection()
    redisCache: RedisCacheSection = RedisCacheSection()
    failedJobs: FailedJobsSection = FailedJobsSection()
    backups: BackupsSection = BackupsSection()
    volumes: VolumesSection = VolumesSection()
    drills: DrillsSection = DrillsSection()
    tls: DataTlsSection = DataTlsSection()


# --------------------------------------------------------------------------------------------
# Monitoring (issue 9): Prometheus, Alertmanager, Grafana, Graylog + Fluent Bit
# --------------------------------------------------------------------------------------------

# Prometheus duration as its `--storage.tsdb.retention.time` flag accepts it (one unit).
_RETENTION_RE = re.compile(r"^[1-9][0-9]*(h|d|w|y)$")


def _duration(value: str) -> str:
    if not _RETENTION_RE.match(value):
        raise ValueError(f"'{value}' is not a retention such as 15d (a whole number of h, d, w or y)")
    return value


Retention = Annotated[str, AfterValidator(_duration)]


# Tempo's `compactor.compaction.block_retention` is a Go duration; whole hours or days keep it
# readable (days are converted to hours for Tempo, which does not know `d`).
_TRACE_RETENTION_RE = re.compile(r"^[1-9][0-9]*(h|d)$")


def _trace_retention(value: str) -> str:
    if not _TRACE_RETENTION_RE.match(value):
        raise ValueError(f"'{value}' is not a trace retention such as 72h or 7d (a whole number of h or d)")
    return value


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

    emailTo: list[Email] | None = Field(default=None, min_length=1)


class TracingSection(_Strict):
    """`monitoring.tracing` (issue 22): Traefik and the applications send OTLP spans to an
    OpenTelemetry Collector, which samples them into Grafana Tempo. Off in development.

    sampleRate: the share of traces kept, 0 < rate <= 1 (applications' parent-based sampler
    and Traefik's `tracing.sampleRate`; the collector keeps what arrives unless `sampling` is tail).
    sampling: `head` (the rate is applied where a trace starts) or `tail` (everything is sent,
    the collector keeps every trace with an error or slower than `slowThresholdMs`, plus
    `sampleRate` of the rest). retention: how long Tempo keeps traces (h or d, e.g. 72h, 7d).
    storage: Tempo's PVC size.
    """

    enabled: bool | None = None
    sampleRate: float | None = Field(default=None, gt=0, le=1)
    sampling: Literal["head", "tail"] | None = None
    slowThresholdMs: int | None = Field(default=None, ge=1)
    retention: Annotated[str, AfterValidator(_trace_retention)] | None = None
    storage: StorageSize | None = None

    @model_validator(mode="after")
    def _tail_only(self) -> "TracingSection":
        if self.slowThresholdMs is not None and self.sampling != "tail":
            raise ValueError("slowThresholdMs: only applies with sampling: tail (head sampling decides before a trace's duration is known)")
        return self


class MonitoringSection(_Strict):
    prometheus: PrometheusSection = PrometheusSection()
    logs: LogsSection = LogsSection()
    alerts: AlertsSection = AlertsSection()
    nodeExporter: bool | None = None
    tracing: TracingSection = TracingSection()


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
    tracing: "TracingSettings"


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
        tracing=resolve_tracing(raw),
    )


@dataclass(frozen=True)
class TracingSettings:
    """Resolved `monitoring.tracing` (see TracingSection): on outside development by default."""

    enabled: bool
    sample_rate: float
    sampling: Literal["head", "tail"]
    slow_threshold_ms: int
    retention_hours: int
    storage: str


# environment -> (sample rate, retention, Tempo storage)
TRACING_DEFAULTS: Mapping[Environment, tuple[float, str, str]] = {
    "development": (1.0, "24h", "2Gi"),
    "staging": (0.5, "72h", "10Gi"),
    "production": (0.1, "7d", "50Gi"),
}


def resolve_tracing(raw: "RawConfig") -> TracingSettings:
    section = raw.monitoring.tracing
    rate, retention, storage = TRACING_DEFAULTS[raw.environment]
    retention = section.retention or retention
    hours = int(retention[:-1]) * (24 if retention.endswith("d") else 1)
    return TracingSettings(
        enabled=raw.environment != "development" if section.enabled is None else section.enabled,
        sample_rate=rate if section.sampleRate is None else section.sampleRate,
        sampling=section.sampling or "head",
        slow_threshold_ms=section.slowThresholdMs or 1000,
        retention_hours=hours,
        storage=section.storage or storage,
    )


# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy `retentionInDays`,
# the same list pulumi-aws 7.51.1 documents for `cloudwatch.LogGroup.retention_in_days`).
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
)


class AuditTrailCloudWatchSection(_Strict):
    """`aws.auditTrail.cloudWatchLogs`: also deliver the trail's events to a CloudWatch log group
    (searchable, and the place for metric filters and alarms); off by default (ingestion costs)."""

    enabled: bool = False
    retentionDays: int = 90

    @field_validator("retentionDays")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in CLOUDWATCH_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention period; use one of "
                + ", ".join(str(d) for d in CLOUDWATCH_RETENTION_DAYS)
            )
        return value


class AuditTrailSection(_Strict):
    """`aws.auditTrail`: a CloudTrail trail of the AWS account the stack uses (components/audit_trail.py).

    enabled: default on in production where the stack uses AWS, off elsewhere (one account-wide,
        multi-region trail per account is enough; a second copy of management events is billed).
    retentionDays: log files (and their digests) expire from the bucket after this many days.
    transitionDays: log files move to Glacier Instant Retrieval after this many days (S3 needs
        30 days in STANDARD first); null keeps them in STANDARD.
    """

    enabled: bool | None = None
    retentionDays: int = Field(default=365, ge=30, le=3650)
    transitionDays: int | None = Field(default=90, ge=30)
    cloudWatchLogs: AuditTrailCloudWatchSection = AuditTrailCloudWatchSection()

    @model_validator(mode="after")
    def _days(self) -> "AuditTrailSection":
        if self.transitionDays is not None and self.transitionDays >= self.retentionDays:
            raise ValueError(
                f"transitionDays ({self.transitionDays}) must be less than retentionDays ({self.retentionDays}): "
                "a log file would expire before it is moved to Glacier (or set transitionDays: null)"
            )
        return self


class AwsSection(_Strict):
    """`aws`: settings of the AWS account the stack uses (not the provider's own `aws:` namespace)."""

    auditTrail: AuditTrailSection = AuditTrailSection()


def uses_aws(raw: "RawConfig") -> bool:
    """The stack creates AWS resources: SES (with any DNS provider), Route53, or S3 buckets."""
    return raw.edge.dns != "none" or raw.objectStorage.engine == "s3"


def audit_trail_enabled(raw: "RawConfig") -> bool:
    """`aws.auditTrail.enabled`, defaulting to on in production where the stack uses AWS."""
    explicit = raw.aws.auditTrail.enabled
    return (raw.environment == "production" and uses_aws(raw)) if explicit is None else explicit


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
    ingress: IngressSection = IngressSection()
    tls: TlsSection = TlsSection()
    network: NetworkSection = NetworkSection()
    data: DataSection = DataSection()
    monitoring: MonitoringSection = MonitoringSection()
    kubernetes: KubernetesSection = KubernetesSection()
    aws: AwsSection = AwsSection()

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
    def _audit_trail(self) -> "RawConfig":
        explicit = self.aws.auditTrail.enabled
        if explicit and not uses_aws(self):
            raise ValueError(
                "aws.auditTrail.enabled: this stack uses no AWS (edge.dns none, objectStorage.engine not s3), "
                "so it has no AWS account to audit; leave it unset"
            )
        if explicit is False and self.environment == "production" and uses_aws(self):
            raise ValueError(
                "aws.auditTrail.enabled: production keeps the CloudTrail audit trail of its AWS account on "
                "(who changed IAM, SES, S3 or Route53, and when)"
            )
        return self

    @model_validator(mode="after")
    def _maxscale(self) -> "RawConfig":
        """MaxScale needs a replicated MariaDB to route and fail over, and a licence beyond the
        BSL grant in production with three or more servers (components/data/maxscale.py)."""
        from components.data.maxscale import database_servers, maxscale_wanted

        if not maxscale_wanted(self):
            return self
        servers = database_servers(self)
        if servers < 2:
            raise ValueError(
                "data.maxscale.enabled: MaxScale needs the replicated MariaDB (a medium or large tier, or "
                "data.backups.enabled), this stack runs a single database server"
            )
        if self.environment == "production" and servers >= 3 and not self.data.maxscale.licensed:
            raise ValueError(
                f"data.maxscale.licensed: production MaxScale in front of {servers} database servers is beyond "
                "the Business Source License grant (fewer than three servers, MaxScale 23.08 LICENSE2308.TXT); "
                "set licensed: true if you hold a MariaDB subscription, or enabled: false"
            )
        return self

    @model_validator(mode="after")
    def _cross_checks(self) -> "RawConfig":
        # Staging and production serve a publicly trusted wildcard certificate, which Let's
        # Encrypt only issues over DNS-01: that needs a DNS provider cert-manager can write to.
        if self.environment != "development" and self.edge.dns == "none":
            raise ValueError(
                f"edge.dns: {self.environment} needs a DNS provider (cloudflare or route53), not none "
                "(the wildcard certificate is issued over DNS-01)"
            )
        if self.ingress.serviceType == "NodePort" and self.edge.dns != "none":
            raise ValueError(
                f"ingress.serviceType: NodePort publishes no load balancer address for edge.dns "
                f"{self.edge.dns} to point at; use LoadBalancer (NodePort is for laptop clusters without one)"
            )
        if self.environment == "production" and self.edge.dns == "none":
            raise ValueError("edge.dns: production needs a DNS provider (cloudflare or route53), not none")
        # Bucket names must never follow a domain or default change (data-safety review #12):
        # a new name is a new, empty bucket that the app and the backups would silently use.
        if self.environment != "development" and not self.objectStorage.bucketPrefix:
            raise ValueError(
                "objectStorage.bucketPrefix: set it explicitly outside development (bucket names must not "
                f"follow the domain); the buckets this stack uses today have the prefix '{self.domain.replace('.', '-')}'"
            )
        # Production backups leave the cluster: in-cluster SeaweedFS shares the database's
        # namespace, cluster and failure domain (review #8).
        if self.environment == "production" and self.objectStorage.engine == "seaweedfs":
            raise ValueError(
                "objectStorage.engine: production keeps its backups outside the cluster: use s3 or minio, not seaweedfs"
            )
        # Production keeps a second copy of uploads and backups in another region (seed "Files:
        # Object storage replication"; data-safety review #20).
        if self.environment == "production" and self.objectStorage.engine == "s3" and not self.objectStorage.replicaRegion:
            raise ValueError(
                "objectStorage.replicaRegion: production with the s3 engine replicates uploads and backups to a "
                f"second AWS region: set one other than {self.objectStorage.region} (e.g. eu-central-1)"
            )
        if self.environment != "development" and self.data.backups.enabled is False:
            raise ValueError(f"data.backups.enabled: {self.environment} must keep database backups on (RPO 1 h)")
        schedule = self.data.backups.schedule
        if self.environment != "development" and schedule:
            _check_backup_schedule(schedule, self.data.mariadb.storage or _MARIADB_SIZING[self.size][0], self.environment)
        backups_on = self.data.backups.enabled is not False and (
            self.environment != "development" or self.data.backups.enabled
        )
        if self.data.mariadb.restore and not backups_on:
            raise ValueError("data.mariadb.restore: restoring needs data.backups.enabled (the point-in-time archive)")
        if self.data.drills.enabled and not backups_on:
            raise ValueError("data.drills.enabled: a recovery drill restores the backups: it needs data.backups.enabled")
        if self.edge.dns == "cloudflare" and not self.edge.cloudflare.zoneId:
            raise ValueError("edge.cloudflare.zoneId: is required when edge.dns is cloudflare")
        zone = self.edge.cloudflare.zoneName
        if self.edge.dns == "cloudflare" and zone and zone != self.domain:
            # A zone has one entry-point ruleset per phase and one value per setting, so two
            # stacks in one zone fight over them (pulumi-cloudflare#782); and Universal SSL
            # covers the apex and one label below it, not app.<sub>.<zone>.
            raise ValueError(
                f"edge.cloudflare.zoneName: the domain {self.domain} is not the apex of the zone {zone}: its "
                f"rulesets and zone settings would collide with the stack that owns {zone}, and hosts such as "
                f"app.{self.domain} are beyond the zone's Universal SSL certificate; give this stack a zone of its own"
            )
        if self.environment != "development" and not self.kubernetes.context:
            raise ValueError(
                f"kubernetes.context: is required in {self.environment} (the kubeconfig context of this "
                "stack's cluster), so a deploy never goes to whichever cluster is current"
            )
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

    @model_validator(mode="after")
    def _data_tls(self) -> "RawConfig":
        # The architecture overview asks for encryption in transit end to end: production's
        # data-store traffic (credentials, sessions, personal data) never crosses the pod
        # network in clear text.
        if self.environment == "production" and self.data.tls.enabled is False:
            raise ValueError("data.tls.enabled: production must encrypt data-store traffic in transit (keep it on)")
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
class Sizes:
    frontend: ContainerSize
    backend: ContainerSize


@dataclass(frozen=True)
class StoreSizing:
    """Volume and memory of one data store's pods (MariaDB or Redis)."""

    storage_class: str | None
    storage: str
    memory: str
    cpu: str


@dataclass(frozen=True)
class VolumeClass:
    """The `saas-data` StorageClass: provisioner and its parameters (expansion on, Retain)."""

    name: str
    provisioner: str
    parameters: Mapping[str, str]


@dataclass(frozen=True)
class DataConfig:
    """The data layer, resolved: sizing per store, backup schedule and the optional restore.

    backups_enabled: scheduled PhysicalBackups plus point-in-time binlog archiving (on outside
        development; staging and production may not turn them off).
    backup_schedule: cron of the full physical backup; every RPO window gets one.
    backup_retention: how long backups are kept in object storage (`maxRetention`).
    restore_target: when set, a new MariaDB is bootstrapped from point-in-time recovery at
        this UTC time (RFC 3339) and the endpoints move to it.
    rpo_minutes: the recovery point objective the schedule must meet (architecture overview: 1 hour).
    """

    mariadb: StoreSizing
    redis: StoreSizing
    backups_enabled: bool
    backup_schedule: str
    backup_retention: str
    restore_target: str | None
    rpo_minutes: int = 60
    # The MariaDB in service (`data.mariadb.instance`) and, during a restore onto a rebuilt
    # cluster, whether that instance is gone (only its archive is rendered).
    instance: str = "mariadb"
    restore_new_cluster: bool = False
    # The program-owned expandable StorageClass for the stores' volumes, when it is created.
    volume_class: "VolumeClass | None" = None
    # The application cache's Redis (memory and cpu; it keeps no volume); None: the cache
    # shares the durable Redis (development).
    redis_cache: StoreSizing | None = None
    # The cache runs as a Redis Cluster of this many shards (0: a Sentinel replication).
    redis_cache_shards: int = 0
    # The recovery drill (`data.drills`), None where it is off.
    drills: "DrillsSection | None" = None


@dataclass(frozen=True)
class StackConfig:
    """What the components consume: the raw sections plus everything derived from them."""

    stack: str
    raw: RawConfig
    replicas: Replicas
    sizes: Sizes
    data: DataConfig
    monitoring: MonitoringSettings
    # Secret config values by key (see SECRET_KEYS), as secret Outputs; only the keys set.
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
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
    def acme_email(self) -> str:
        return self.raw.tls.acmeEmail or f"hostmaster@{self.raw.domain}"

    @property
    def edge(self) -> EdgeSection:
        return self.raw.edge

    @property
    def integration_secrets(self) -> dict[str, pulumi.Output[str]]:
        """The integration secrets the stack sets, by the environment variable the app reads."""
        return {env: self.secrets[key] for key, env in INTEGRATION_SECRETS.items() if key in self.secrets}

    def secret(self, key: str) -> pulumi.Output[str]:
        """A secret config value (`SECRET_KEYS`); KeyError when the stack does not set it."""
        return self.secrets[key]

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
    sizes = Sizes(frontend=tier.frontend_size, backend=tier.backend_size)
    return StackConfig(
        stack=stack, raw=raw, replicas=replicas, sizes=sizes, data=_resolve_data(raw), monitoring=resolve_monitoring(raw)
    )


# Per-tier defaults of the data stores: (storage, memory limit, cpu request).
_MARIADB_SIZING: Mapping[Size, tuple[str, str, str]] = {
    "small": ("10Gi", "1Gi", "250m"),
    "medium": ("50Gi", "4Gi", "1"),
    "large": ("200Gi", "16Gi", "4"),
}
_REDIS_SIZING: Mapping[Size, tuple[str, str, str]] = {
    "small": ("2Gi", "256Mi", "100m"),
    "medium": ("5Gi", "1Gi", "250m"),
    "large": ("20Gi", "4Gi", "1"),
}
_DEVELOPMENT_MARIADB = ("2Gi", "512Mi", "100m")
_DEVELOPMENT_REDIS = ("1Gi", "128Mi", "50m")


def _sizing(section: MariaDBSection | RedisSection, default: tuple[str, str, str], volume_class: str | None) -> StoreSizing:
    storage, memory, cpu = default
    return StoreSizing(section.storageClass or volume_class, section.storage or storage, section.memory or memory, cpu)


def _check_backup_schedule(schedule: str, storage: str, environment: str) -> None:
    """Outside development full backups run every day, hourly or daily, and one must end
    before the next starts (data-safety review #14): the RPO rests on the archived binlogs
    (flushed every 10 min), the full backup is the base they replay onto."""
    minute, hour, *days = schedule.split()
    if days != ["*"] * 3:
        raise ValueError(
            f"data.backups.schedule: '{schedule}' does not run every day; {environment} needs a full "
            "backup hourly ('0 * * * *') or daily ('0 2 * * *') under the binlog archive (RPO <= 1 h)"
        )
    hourly = hour == "*" and minute.isdigit()
    daily = hour.isdigit() and minute.isdigit()
    if not (hourly or daily):
        raise ValueError(
            f"data.backups.schedule: '{schedule}' is neither hourly ('0 * * * *') nor daily ('0 2 * * *')"
        )
    took = backup_timing.full_backup_minutes(storage)
    if hourly and backup_timing.backup_timeout_minutes(storage) >= 60:
        raise ValueError(
            f"data.backups.schedule: '{schedule}' is hourly but a full backup of {storage} takes ~{took} min "
            f"at {backup_timing.BACKUP_THROUGHPUT_MB_S} MB/s (timeout {backup_timing.backup_timeout_minutes(storage)} min): "
            "use a daily schedule such as '0 2 * * *' (the RPO rests on the archived binlogs)"
        )


def default_backup_schedule(environment: str, storage: str) -> str:
    """Hourly full backups where one fits in the hour, else daily at 02:00 UTC (large tier)."""
    if environment == "development":
        return "0 3 * * *"
    return "0 * * * *" if backup_timing.backup_timeout_minutes(storage) < 60 else "0 2 * * *"


def _resolve_data(raw: RawConfig) -> DataConfig:
    development = raw.environment == "development"
    data = raw.data
    backups_enabled = data.backups.enabled if data.backups.enabled is not None else not development
    managed = data.volumes.managed if data.volumes.managed is not None else not development
    volume_class = VolumeClass(DATA_STORAGE_CLASS, data.volumes.provisioner, dict(data.volumes.parameters)) if managed else None
    class_name = volume_class.name if volume_class else None
    mariadb_sizing = _sizing(data.mariadb, _DEVELOPMENT_MARIADB if development else _MARIADB_SIZING[raw.size], class_name)
    return DataConfig(
        mariadb=mariadb_sizing,
        redis=_sizing(data.redis, _DEVELOPMENT_REDIS if development else _REDIS_SIZING[raw.size], class_name),
        backups_enabled=backups_enabled,
        # The RPO of 1 hour rests on the binlog archive (flushed every 10 min); full backups
        # are hourly where one fits in the hour, daily in the large tier (review #14).
        backup_schedule=data.backups.schedule or default_backup_schedule(raw.environment, mariadb_sizing.storage),
        backup_retention=data.backups.retention or ("168h" if development else "720h"),
        restore_target=data.mariadb.restore.targetTime if data.mariadb.restore else None,
        instance=data.mariadb.instance,
        restore_new_cluster=bool(data.mariadb.restore and data.mariadb.restore.newCluster),
        volume_class=volume_class,
        # Development (a laptop, no data-safety promise) keeps the cache on the one Redis.
        redis_cache=None if development else _cache_sizing(data.redisCache, _REDIS_SIZING[raw.size]),
        redis_cache_shards=data.redisCache.shards if _cache_cluster(raw) else 0,
        drills=data.drills if _drills_on(raw, backups_enabled) else None,
    )


def _cache_cluster(raw: RawConfig) -> bool:
    """A cluster where the cache outgrows one master: the large tier, never development (a
    laptop has no room for six Redis pods); `data.redisCache.cluster` overrides it."""
    if raw.data.redisCache.cluster is not None:
        return raw.data.redisCache.cluster
    return raw.size == "large" and raw.environment != "development"


def _cache_sizing(section: RedisCacheSection, default: tuple[str, str, str]) -> StoreSizing:
    """The cache store gets the durable store's tier memory and cpu unless set: it holds what
    used to share that memory, and no volume (a cache is rebuilt, not restored)."""
    _storage, memory, cpu = default
    return StoreSizing(None, "0", section.memory or memory, section.cpu or cpu)


def _drills_on(raw: RawConfig, backups_enabled: bool) -> bool:
    """On in production by default; never without backups (nothing to restore)."""
    enabled = raw.data.drills.enabled
    return backups_enabled and (enabled if enabled is not None else raw.environment == "production")


# The StorageClass the program creates for the data stores (see VolumesSection).
DATA_STORAGE_CLASS = "saas-data"


# --------------------------------------------------------------------------------------------
# Reading and error reporting
# --------------------------------------------------------------------------------------------

_OBJECT_KEYS = {"frontend", "backend", "objectStorage", "rabbitmq", "edge", "ingress", "tls", "network", "data", "monitoring", "kubernetes", "aws"}

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown key",
    # pydantic says "a valid dictionary or instance of <ModelClass>": the class name is ours,
    # not the user's vocabulary.
    "model_type": "expected an object (a YAML mapping)",
    "model_attributes_type": "expected an object (a YAML mapping)",
    "dict_type": "expected an object (a YAML mapping)",
}


def _format(error: Mapping[str, Any]) -> str:
    path = ".".join(str(p) for p in error["loc"])
    kind = error["type"]
    message = error["msg"]
    if kind == "value_error":
        message = message.removeprefix("Value error, ")
        # A cross-field check names the key it is about (`candidateImage: ...`), relative to
        # the model that raised it.
        named = re.match(r"^([A-Za-z][\w.]*): (.*)$", message)
        if named:
            path = f"{path}.{named.group(1)}" if path else named.group(1)
            message = named.group(2)
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
        raw = RawConfig.model_validate(values)
    except ValidationError as exc:
        problems = [_format(e) for e in exc.errors(include_url=False)]
        raw = None
    if raw is not None:
        problems += _secret_key_problems(raw, set(secret_keys))
    if problems:
        raise ConfigError(sorted(dict.fromkeys(problems)))
    return resolve(stack, raw)


def required_secret_keys(raw: RawConfig) -> dict[str, str]:
    """The SECRET_KEYS this configuration uses, each with the reason it is needed."""
    needs: dict[str, str] = {}
    if raw.objectStorage.engine == "minio":
        needs |= {key: "with objectStorage.engine minio" for key in ("minioAccessKey", "minioSecretKey")}
    if raw.edge.dns == "cloudflare":
        # A token with Zone:DNS:Edit and Zone:Zone:Read on the zone.
        needs["cloudflareDns01Token"] = "when edge.dns is cloudflare"
    return needs


def _secret_key_problems(raw: RawConfig, present: set[str]) -> list[str]:
    """Secret keys must be set exactly when the configuration uses them."""
    needs = required_secret_keys(raw)
    needed = set(needs)
    problems = [
        f"{NAMESPACE}:{key}: is required {needs[key]} (pulumi config set --secret {key} ...)"
        for key in sorted(needed - present)
    ]
    problems += [
        f"{NAMESPACE}:{key}: is set but unused ({SECRET_KEYS[key]}); remove it"
        for key in sorted(present - needed - OPTIONAL_SECRET_KEYS)
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
        if namespace != NAMESPACE and _near_miss(namespace):
            problems.append(
                f"{full_key}: unknown config namespace '{namespace}' (did you mean {NAMESPACE}:{key}?); "
                "the key would be ignored"
            )
            continue
        if namespace != NAMESPACE or not key:
            continue
        if key in SECRET_KEYS:
            # Read as a secret Output in load(); a plain value here would sit in clear text
            # in the stack file and in the state.
            if not runtime_config.is_config_secret(full_key):
                problems.append(f"{NAMESPACE}:{key}: must be set as a secret (pulumi config set --secret {key} ...)")
            problems += _secret_shape_problems(key)
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


# Namespaces other programs read from the same stack file (providers, the engine itself): never
# mistaken for a typo of ours, however close they look.
PROVIDER_NAMESPACES = {"pulumi", "kubernetes", "aws", "cloudflare", "random", "tls", "command"}


def _near_miss(namespace: str) -> bool:
    """A namespace that is almost `saas-platform` (`saas-platfrom`, `saas_platform`,
    `saasplatform`): a typo whose keys would be silently ignored by every program."""
    import difflib

    if namespace in PROVIDER_NAMESPACES or not namespace:
        return False
    folded = re.sub(r"[^a-z0-9]", "", namespace.lower())
    if folded == re.sub(r"[^a-z0-9]", "", NAMESPACE):
        return True
    return difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.8


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
    secrets = {key: config.require_secret(key) for key in sorted(present)}
    return replace(resolved, secrets=secrets, alert_webhook_url=secrets.get("alertWebhookUrl"), alert_webhook_kind=_webhook_kind())


def _secret_shape_problems(key: str) -> list[str]:
    """Check a secret key's shape without ever putting its value into a message."""
    from pulumi.runtime import config as runtime_config

    plain = runtime_config.get_config(f"{NAMESPACE}:{key}")
    # Offline synth cannot decrypt `secure:` values and hands a placeholder instead.
    if plain is not None and plain.startswith("synth-placeholder-"):
        return []
    if key == "alertWebhookUrl" and plain is not None and not re.match(r"^https://[^\s/]+(/\S*)?$", plain):
        return [f"{NAMESPACE}:{key}: expected an https:// webhook URL (the value is secret and not shown)"]
    return []


def _webhook_kind() -> Literal["slack", "webhook"] | None:
    from pulumi.runtime import config as runtime_config

    plain = runtime_config.get_config(f"{NAMESPACE}:alertWebhookUrl")
    if plain is None:
        return None
    return "slack" if plain.startswith("https://hooks.slack.com/") else "webhook"


def _secret_keys_set() -> set[str]:
    """The SECRET_KEYS the stack sets (secret or not: a plain one is reported separately)."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    return {key for key in SECRET_KEYS if f"{NAMESPACE}:{key}" in keys}
