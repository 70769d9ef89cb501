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

This package re-exports the names the rest of the program imports, so `from components.config
import StackConfig` keeps working wherever config is read (the one documented exception to "no
re-export modules": config is read everywhere).
"""

from __future__ import annotations

from components.config.app import ReleaseSection
from components.config.base import NAMESPACE, ConfigError, Environment, Size
from components.config.data import DATA_STORAGE_CLASS, DrillsSection, restore_instance_name
from components.config.edge import ingress_record_type
from components.config.loader import _OBJECT_KEYS, _near_miss, load, parse, required_secret_keys
from components.config.monitoring import MonitoringSettings, TracingSettings
from components.config.network import IngressSection
from components.config.raw import RawConfig, audit_trail_enabled, database_servers, maxscale_wanted, uses_aws
from components.config.secrets import SECRET_KEYS
from components.config.stack import DataConfig, StackConfig, StoreSizing, resolve
from components.config.storage import DEAD_LETTER_QUEUE, RabbitMQSection
from components.config.tiers import MAX_REPLICAS, TIERS, Bounds, ContainerSize, Tier

__all__ = [
    "DATA_STORAGE_CLASS",
    "DEAD_LETTER_QUEUE",
    "MAX_REPLICAS",
    "NAMESPACE",
    "SECRET_KEYS",
    "TIERS",
    "Bounds",
    "ConfigError",
    "ContainerSize",
    "DataConfig",
    "DrillsSection",
    "Environment",
    "IngressSection",
    "MonitoringSettings",
    "RabbitMQSection",
    "RawConfig",
    "ReleaseSection",
    "Size",
    "StackConfig",
    "StoreSizing",
    "Tier",
    "TracingSettings",
    # Private to config, read by synth/stackfile.py (which keys hold objects) and tests/test_config.py.
    "_OBJECT_KEYS",
    "_near_miss",
    "audit_trail_enabled",
    "database_servers",
    "ingress_record_type",
    "load",
    "maxscale_wanted",
    "parse",
    "required_secret_keys",
    "resolve",
    "restore_instance_name",
    "uses_aws",
]
