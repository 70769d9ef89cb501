"""Typed stack configuration: the one place that reads `pulumi.Config("saas-platform")`.

Every key of the `saas-platform:` namespace is parsed here into pydantic v2 models, the architecture overview's
sizing tiers and the per-environment defaults are resolved into concrete numbers, and every
problem is reported at once, one line per problem, naming the key path and what is expected:

    saas-platform:frontend.replicas: min (6) must not exceed max (5)

`load()` raises `ConfigError` (a `pulumi.RunError`, which the engine prints without a traceback)
before the program registers a single resource, so a typo never leaves a half-built stack.
Components receive the resolved `StackConfig`; they never read Pulumi config themselves.

One module per part: `base` (shared value types, ConfigError), one per section (`images`, `tiers`,
`app`, `edge`, `network`, `storage`, `data`, `monitoring`, `aws`, `secrets`), `raw` (the whole
namespace and its cross-section checks), `stack` (the resolved StackConfig), `loader` (reading and
error formatting; the only module that touches `pulumi.Config`) and `backup_timing` (the backup
arithmetic the schedule check and the data layer share). The package imports nothing else from
`components/`, so every component may import it.

This package re-exports the names the rest of the program imports and every section model (the
stack file's schema; tests/test_config.py checks that no error message names one), so
`from components.config import StackConfig` keeps working wherever config is read (the one
documented exception to "no re-export modules": config is read everywhere).
"""

from __future__ import annotations

from components.config.app import OPCACHE_MB, BackendSection, FrontendSection, PhpSection, ReleaseSection, php_max_children
from components.config.aws import AuditTrailCloudWatchSection, AuditTrailSection, AwsSection
from components.config.base import NAMESPACE, ConfigError, Environment, Size
from components.config.data import (
    DATA_STORAGE_CLASS,
    BackupsSection,
    DataSection,
    DataTlsSection,
    DrillFreshnessSection,
    DrillsSection,
    FailedJobsSection,
    MariaDBSection,
    MaxScaleSection,
    RedisCacheSection,
    RedisSection,
    RestoreSection,
    VolumesSection,
    restore_instance_name,
)
from components.config.edge import (
    CloudflareSection,
    EdgeSection,
    MailSection,
    Route53Section,
    ingress_record_type,
)
# `_OBJECT_KEYS` and `_near_miss` are private to config but read by synth/stackfile.py (which keys
# hold objects) and tests/test_config.py (the namespace typo rule).
from components.config.loader import _OBJECT_KEYS, _near_miss, load, parse, required_secret_keys
from components.config.monitoring import (
    AlertsSection,
    LogsSection,
    MonitoringSection,
    MonitoringSettings,
    PrometheusSection,
    TracingSection,
    TracingSettings,
)
from components.config.network import (
    AdminGuardSection,
    IngressSection,
    KubernetesSection,
    NetworkSection,
    NodePortsSection,
    RateLimitSection,
    TlsSection,
)
from components.config.raw import RawConfig, audit_trail_enabled, database_servers, maxscale_wanted, uses_aws
from components.config.secrets import SECRET_KEYS
from components.config.stack import DataConfig, StackConfig, StoreSizing, data_tls_enabled, resolve
from components.config.storage import DEAD_LETTER_QUEUE, ObjectStorageSection, RabbitMQSection
from components.config.tiers import MAX_REPLICAS, TIERS, Bounds, ContainerSize, Tier

__all__ = [
    "OPCACHE_MB",
    "php_max_children",
    "data_tls_enabled",
    "DATA_STORAGE_CLASS",
    "DEAD_LETTER_QUEUE",
    "MAX_REPLICAS",
    "NAMESPACE",
    "_OBJECT_KEYS",
    "SECRET_KEYS",
    "TIERS",
    "AdminGuardSection",
    "AlertsSection",
    "AuditTrailCloudWatchSection",
    "AuditTrailSection",
    "AwsSection",
    "BackendSection",
    "BackupsSection",
    "Bounds",
    "CloudflareSection",
    "ConfigError",
    "ContainerSize",
    "DataConfig",
    "DataSection",
    "DataTlsSection",
    "DrillFreshnessSection",
    "DrillsSection",
    "EdgeSection",
    "Environment",
    "FailedJobsSection",
    "FrontendSection",
    "IngressSection",
    "KubernetesSection",
    "LogsSection",
    "MailSection",
    "MariaDBSection",
    "MaxScaleSection",
    "MonitoringSection",
    "MonitoringSettings",
    "NetworkSection",
    "NodePortsSection",
    "ObjectStorageSection",
    "PhpSection",
    "PrometheusSection",
    "RabbitMQSection",
    "RateLimitSection",
    "RawConfig",
    "RedisCacheSection",
    "RedisSection",
    "ReleaseSection",
    "RestoreSection",
    "Route53Section",
    "Size",
    "StackConfig",
    "StoreSizing",
    "Tier",
    "TlsSection",
    "TracingSection",
    "TracingSettings",
    "VolumesSection",
    "audit_trail_enabled",
    "database_servers",
    "ingress_record_type",
    "load",
    "maxscale_wanted",
    "_near_miss",
    "parse",
    "required_secret_keys",
    "resolve",
    "restore_instance_name",
    "uses_aws",
]
