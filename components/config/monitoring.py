"""Monitoring (issue 9): the `monitoring` section (Prometheus, Alertmanager, Grafana, Graylog +
Fluent Bit, tracing) and its resolved settings with the per-environment defaults.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal, Mapping

from pydantic import Field, model_validator

from components.config.base import Email, Environment, StorageSize, _Strict, matching


# Prometheus duration as its `--storage.tsdb.retention.time` flag accepts it (one unit).
_RETENTION_RE = re.compile(r"^[1-9][0-9]*(h|d|w|y)$")
Retention = Annotated[str, matching(_RETENTION_RE, "a retention such as 15d (a whole number of h, d, w or y)")]


# Tempo's `compactor.compaction.block_retention` is a Go duration; whole hours or days keep it
# readable (days are converted to hours for Tempo, which does not know `d`).
_TRACE_RETENTION_RE = re.compile(r"^[1-9][0-9]*(h|d)$")
TraceRetention = Annotated[str, matching(_TRACE_RETENTION_RE, "a trace retention such as 72h or 7d (a whole number of h or d)")]


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
    retention: TraceRetention | None = None
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
