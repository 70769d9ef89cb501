"""Monitoring: metrics, dashboards, alerting and logs for the whole platform, and Tracing.

One module per part: `component.py` (the Monitoring component composing them), `metrics.py`
(kube-prometheus-stack), `alerts.py`, `alertmanager.py`, `dashboards.py`, `logs.py` and
`logs_pipeline.py` (Graylog, Fluent Bit), `network.py` (NetworkPolicies, IngressRoutes),
`scraping.py` (ServiceMonitor/PodMonitor helpers for the components that own a workload),
`tracing.py` (OpenTelemetry Collector and Tempo).
"""

from components.monitoring.component import Monitoring, MonitoringArgs
from components.monitoring.tracing import OtlpExport, Tracing, TracingArgs

__all__ = ["Monitoring", "MonitoringArgs", "OtlpExport", "Tracing", "TracingArgs"]
