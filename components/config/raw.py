"""The whole `saas-platform:` namespace as written (RawConfig) and the checks that span sections,
with the rules they rest on (AWS use, MaxScale).
"""

from __future__ import annotations

from pydantic import field_validator, model_validator

from components.config.app import BackendSection, FrontendSection
from components.config.aws import AwsSection
from components.config.base import DOMAIN_RE, Environment, Size, _Strict
from components.config.data import DataSection, check_backup_schedule
from components.config.edge import EdgeSection, ingress_record_type
from components.config.monitoring import MonitoringSection
from components.config.network import IngressSection, KubernetesSection, NetworkSection, TlsSection
from components.config.storage import ObjectStorageSection, RabbitMQSection
from components.config.tiers import MARIADB_SIZING, TIERS


def uses_aws(raw: "RawConfig") -> bool:
    """The stack creates AWS resources: SES (with any DNS provider), Route53, or S3 buckets."""
    return raw.edge.dns != "none" or raw.objectStorage.engine == "s3"


def audit_trail_enabled(raw: "RawConfig") -> bool:
    """`aws.auditTrail.enabled`, defaulting to on in production where the stack uses AWS."""
    explicit = raw.aws.auditTrail.enabled
    return (raw.environment == "production" and uses_aws(raw)) if explicit is None else explicit


def database_servers(raw: "RawConfig") -> int:
    """MariaDB pods the stack runs (components/data/mariadb.py mariadb_spec: 1 + the tier's
    replicas, two at least when replicating, which backups imply)."""
    development = raw.environment == "development"
    replicas = 1 + (0 if development else TIERS[raw.size].database_replicas)
    backups = raw.data.backups.enabled if raw.data.backups.enabled is not None else not development
    return max(2, replicas) if backups or replicas > 1 else replicas


def maxscale_wanted(raw: "RawConfig") -> bool:
    """`data.maxscale.enabled`, by default on in the medium and large tiers outside development."""
    explicit = raw.data.maxscale.enabled
    if explicit is not None:
        return explicit
    return raw.environment != "development" and raw.size in ("medium", "large")


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
        if not DOMAIN_RE.match(value):
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
            check_backup_schedule(schedule, self.data.mariadb.storage or MARIADB_SIZING[self.size][0], self.environment)
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
