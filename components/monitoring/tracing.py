"""Tracing (issue 22): OpenTelemetry Collector -> Grafana Tempo, with Grafana as the UI.

What it deploys when `monitoring.tracing.enabled` (on in staging and production, off in
development), in its own namespace (`saas-tracing`, Pod Security `restricted`, default-deny):

- the official `opentelemetry-collector` chart (0.170.0, collector 0.158.0, contrib image for
  the tail-sampling processor) as a Deployment: OTLP gRPC (4317) and HTTP (4318) receivers,
  `memory_limiter` then (`tail_sampling`) then `batch`, one `otlp_grpc` exporter to Tempo. The
  whole collector configuration is ours (`alternateConfig`, chart values.yaml): the chart's default
  `config` would also open Jaeger, Zipkin and Prometheus receivers and log/metric pipelines to
  the debug exporter, and Helm merges our map into it rather than replacing it.
- the `tempo` chart (grafana-community/helm-charts 2.2.4, Tempo 2.10.8): single-binary Tempo
  with local block storage on a PVC, `block_retention` from config.
- a Grafana datasource ConfigMap (the kube-prometheus-stack Grafana sidecar loads ConfigMaps
  labelled `grafana_datasource: "1"` from its namespace; kube-prometheus-stack 88.5.3
  values.yaml `grafana.sidecar.datasources`), with links from a span to the Prometheus series
  of its service.
- PodMonitors for the collector's (8888) and Tempo's (3200) own metrics, and the
  NetworkPolicies: apps and Traefik -> collector (OTLP ports only), collector -> Tempo
  (4317), Grafana -> Tempo (3200, the query API), Prometheus -> both metrics ports.

Sampling (`monitoring.tracing.sampling`): `head` (default) lets Traefik and the SDKs keep
`sampleRate` of the traces where they start (parent-based, so a trace is kept or dropped
whole) and the collector keeps what arrives; `tail` makes every source send everything and
the collector keep every trace with an error, every trace slower than `slowThresholdMs`, and
`sampleRate` of the rest. Tail sampling needs all spans of a trace in one collector, so it
runs one collector replica (a load-balancing tier would be the next step).

The applications get the standard SDK variables (`otel_env`), so an image with the
OpenTelemetry SDK (Laravel's open-telemetry/opentelemetry-auto-laravel, Next.js'
@vercel/otel or the Node SDK) exports without code or config changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.platform import scraping
from components.config import ContainerSize, StackConfig, TracingSettings
from components.platform import charts
from components.platform.network import (
    COLLECTOR_POD,
    COLLECTOR_SERVICE,
    MONITORING_NAMESPACE,
    OTLP_GRPC_PORT,
    OTLP_HTTP_PORT,
    PROMETHEUS_POD,
    TRACING_NAMESPACE,
    collector_otlp_http_url,
    egress_rule,
    ingress_rule,
    isolated_namespace,
    namespace_peer,
    network_policy,
    ports,
)
from components.platform.isolation import NS
from components.platform.traefik import TRAEFIK_ROLE, allow_traefik_to

TYPE = "saas-platform:index:Tracing"
FILES = Path(__file__).resolve().parent.parent / "files" / "tracing"
ALERTS_FILE = FILES / "alerts.yaml"  # checked with promtool (tests/promtool/tracing/)
DASHBOARD_FILE = FILES / "dashboard.json"

COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib"  # tail_sampling is a contrib processor
COLLECTOR_TAG = "0.158.0"  # the chart's appVersion, pinned explicitly
COLLECTOR_UID = 10001  # the `otel` user of the collector images
COLLECTOR_METRICS_PORT, COLLECTOR_HEALTH_PORT = 8888, 13133
TEMPO_RELEASE = "tempo"
TEMPO_TAG = "2.10.8"  # the chart's appVersion, pinned explicitly
TEMPO_UID = 10001  # the chart's default securityContext.runAsUser
TEMPO_PORT = 3200  # HTTP: query API (Grafana) and /metrics (Prometheus); port name prom-metrics
TEMPO_POD = {"app.kubernetes.io/name": "tempo"}
TEMPO_URL = f"http://{TEMPO_RELEASE}.{TRACING_NAMESPACE}.svc.cluster.local:{TEMPO_PORT}"
DATASOURCE_UID = "tempo"
# The application pods that get the SDK variables (LaravelBackend and FrontendApp name labels).
APP_SENDERS: Mapping[str, Mapping[str, str]] = {
    "backend": {"app.kubernetes.io/name": "backend"},
    "frontend": {"app.kubernetes.io/name": "frontend"},
}
PROMETHEUS_DATASOURCE_UID = "prometheus"  # kube-prometheus-stack grafana.sidecar.datasources.uid

COLLECTOR_SIZE = ContainerSize("100m", "256Mi", "512Mi")
TEMPO_SIZE = ContainerSize("100m", "512Mi", "2Gi")
PRODUCTION_TEMPO_SIZE = ContainerSize("250m", "1Gi", "4Gi")


# ------------------------------------------------------------------------------------------
# The applications' side
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtlpExport:
    """Where and how an application sends spans: what Tracing hands to the app components."""

    endpoint: str
    sampler: str
    sampler_arg: str | None
    environment: str

    def env(self, service: str) -> list[k8s.core.v1.EnvVarArgs]:
        """The OpenTelemetry SDK environment (opentelemetry-specification
        sdk-environment-variables.md) for one workload, `service` its `service.name`."""
        values = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_SERVICE_NAME": service,
            "OTEL_RESOURCE_ATTRIBUTES": f"deployment.environment={self.environment},service.namespace=saas-platform",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_TRACES_SAMPLER": self.sampler,
            **({"OTEL_TRACES_SAMPLER_ARG": self.sampler_arg} if self.sampler_arg is not None else {}),
            # Traces only: no metrics or logs pipeline exists in the collector.
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
        }
        return [k8s.core.v1.EnvVarArgs(name=name, value=value) for name, value in values.items()]


def otlp_export(environment: str, settings: TracingSettings) -> OtlpExport | None:
    """The SDK settings for a stack, None when tracing is off (the variables are then absent)."""
    if not settings.enabled:
        return None
    if settings.sampling == "tail":
        return OtlpExport(collector_otlp_http_url(), "parentbased_always_on", None, environment)
    return OtlpExport(collector_otlp_http_url(), "parentbased_traceidratio", _rate(settings.sample_rate), environment)


def _rate(value: float) -> str:
    return f"{value:g}"


# ------------------------------------------------------------------------------------------
# Chart values and configuration (pure; unit tested)
# ------------------------------------------------------------------------------------------


def collector_config(settings: TracingSettings) -> dict[str, Any]:
    """The collector's whole configuration. Component names and options from the collector
    v0.158.0 components: otlpreceiver, memorylimiterprocessor (`limit_percentage`),
    batchprocessor, contrib tailsamplingprocessor (`status_code`, `latency`, `probabilistic`
    policies), otlpexporter (`otlp_grpc` since v0.144.0; `otlp` is its deprecated alias),
    healthcheckextension. `${env:MY_POD_IP}` is set by the chart (templates/_pod.tpl)."""
    processors: dict[str, Any] = {
        # First in the pipeline: refuse data before the container's limit is reached.
        "memory_limiter": {"check_interval": "1s", "limit_percentage": 80, "spike_limit_percentage": 25},
        "batch": {"send_batch_size": 1024, "timeout": "5s"},
    }
    chain = ["memory_limiter"]
    if settings.sampling == "tail":
        processors["tail_sampling"] = {
            "decision_wait": "10s",
            "num_traces": 50000,
            "policies": [
                {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
                {"name": "slow", "type": "latency", "latency": {"threshold_ms": settings.slow_threshold_ms}},
                {"name": "sample", "type": "probabilistic",
                 "probabilistic": {"sampling_percentage": round(settings.sample_rate * 100, 4)}},
            ],
        }
        chain.append("tail_sampling")
    chain.append("batch")
    return {
        "extensions": {"health_check": {"endpoint": f"${{env:MY_POD_IP}}:{COLLECTOR_HEALTH_PORT}"}},
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_GRPC_PORT}"},
                    "http": {"endpoint": f"${{env:MY_POD_IP}}:{OTLP_HTTP_PORT}"},
                }
            }
        },
        "processors": processors,
        "exporters": {
            "otlp_grpc/tempo": {
                "endpoint": f"{TEMPO_RELEASE}.{TRACING_NAMESPACE}.svc.cluster.local:{OTLP_GRPC_PORT}",
                # In-cluster, inside default-deny NetworkPolicies; Tempo's receiver has no TLS.
                "tls": {"insecure": True},
                "sending_queue": {"enabled": True, "queue_size": 5000},
                "retry_on_failure": {"enabled": True, "max_elapsed_time": "300s"},
            }
        },
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
                    "host": "${env:MY_POD_IP}", "port": COLLECTOR_METRICS_PORT}}}}]},
            },
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": chain, "exporters": ["otlp_grpc/tempo"]}},
        },
    }


def collector_values(config: StackConfig) -> dict[str, Any]:
    """opentelemetry-collector chart 0.170.0 values (validated against its values.schema.json)."""
    settings = config.monitoring.tracing
    # Tail sampling decides per trace: every span of a trace must reach the same collector.
    replicas = 2 if config.highly_available and settings.sampling == "head" else 1
    closed = {name: {"enabled": False} for name in ("jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin")}
    return {
        "mode": "deployment",
        "fullnameOverride": COLLECTOR_SERVICE,
        "image": {"repository": COLLECTOR_IMAGE, "tag": COLLECTOR_TAG},
        "command": {"name": "otelcol-contrib"},
        "replicaCount": replicas,
        "alternateConfig": collector_config(settings),
        "ports": {**closed, "metrics": {"enabled": True}},
        "resources": kube.resource_values(COLLECTOR_SIZE),
        "podSecurityContext": charts.pod_security_values(COLLECTOR_UID),
        "securityContext": charts.container_security_values(),
        # The collector reads no Kubernetes API (no k8sattributes preset).
        "serviceAccount": {"automountServiceAccountToken": False},
        "podDisruptionBudget": {"enabled": True, "minAvailable": 1} if replicas > 1 else {"enabled": False},
        "topologySpreadConstraints": charts.spread_values(COLLECTOR_POD) if replicas > 1 else [],
    }


# Tempo chart values the templates render verbatim (`toYaml`), so keys beyond values.yaml's
# defaults are legal there: statefulset.yaml `securityContext` (the pod's) and
# `tempo.securityContext` (the container's).
TEMPO_FREE_FORM = ("securityContext", "tempo.securityContext")


def tempo_values(config: StackConfig) -> dict[str, Any]:
    """tempo chart 2.2.4 values (key paths checked against its values.yaml: no schema)."""
    settings = config.monitoring.tracing
    size = PRODUCTION_TEMPO_SIZE if config.is_production else TEMPO_SIZE
    return {
        "fullnameOverride": TEMPO_RELEASE,
        "replicas": 1,  # single binary: one pod owns the local blocks
        "tempo": {
            "tag": TEMPO_TAG,
            "reportingEnabled": False,
            "retention": f"{settings.retention_hours}h",
            "resources": kube.resource_values(size),
            "securityContext": charts.container_security_values(),
        },
        "securityContext": {**charts.pod_security_values(TEMPO_UID), "fsGroup": TEMPO_UID},
        "serviceAccount": {"automountServiceAccountToken": False},
        # Blocks and the WAL under /var/tempo (the chart's default storage paths) on a PVC.
        "persistence": {"enabled": True, "accessModes": ["ReadWriteOnce"], "size": settings.storage},
    }


def grafana_datasource() -> dict[str, Any]:
    """Grafana's provisioning file for Tempo (Grafana docs, datasources/tempo/configure-tempo-
    data-source: `tracesToMetrics`, `nodeGraph`, `search`). Traces link to the Prometheus series
    of their service; logs live in Graylog, which Grafana cannot query, so no traces-to-logs."""
    return {
        "apiVersion": 1,
        "datasources": [{
            "name": "Tempo",
            "type": "tempo",
            "uid": DATASOURCE_UID,
            "access": "proxy",
            "url": TEMPO_URL,
            "editable": False,
            "jsonData": {
                "tracesToMetrics": {
                    "datasourceUid": PROMETHEUS_DATASOURCE_UID,
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                    "tags": [{"key": "service.name", "value": "service"}],
                    "queries": [{
                        "name": "Traefik requests of the service",
                        "query": 'sum by (code) (rate(traefik_service_requests_total{$$__tags}[5m]))',
                    }],
                },
                "nodeGraph": {"enabled": True},
                "search": {"hide": False},
            },
        }],
    }


# ------------------------------------------------------------------------------------------
# The component
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TracingArgs:
    """config: resolved stack config (`monitoring.tracing`). monitoring_namespace: where Grafana
    and Prometheus run (the datasource ConfigMap goes there). ingress_namespace and app_namespace:
    where Traefik and the applications run (their egress to the collector is opened here).
    monitoring_crds: the kube-prometheus-stack release (PodMonitor CRD)."""

    config: StackConfig
    monitoring_namespace: pulumi.Input[str]
    ingress_namespace: pulumi.Input[str]
    app_namespace: pulumi.Input[str]
    monitoring_crds: pulumi.Resource


class Tracing(pulumi.ComponentResource):
    """OpenTelemetry Collector and Grafana Tempo; create it only when tracing is enabled."""

    export: OtlpExport
    """The SDK settings the applications get (`OtlpExport.env`)."""
    namespace: pulumi.Output[str]
    collector_release: k8s.helm.v3.Release
    tempo_release: k8s.helm.v3.Release

    def __init__(self, name: str, args: TracingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        export = otlp_export(cfg.environment, cfg.monitoring.tracing)
        if export is None:
            raise ValueError("Tracing is created only when monitoring.tracing.enabled")
        self.export = export
        child = pulumi.ResourceOptions(parent=self)
        # Prometheus' ingress is per pod below (the collector's 8888, Tempo's 3200), not the
        # namespace-wide `allow-prometheus` the platform's own namespaces get from SCRAPE_PORTS.
        ns = isolated_namespace(TRACING_NAMESPACE, "tracing", child)
        self.namespace = ns.name

        self.tempo_release = charts.release(
            TEMPO_RELEASE, charts.TEMPO, self.namespace, tempo_values(cfg),
            # Tempo keeps the traces on its PVC: never let a destroy take it in production.
            pulumi.ResourceOptions(parent=self, protect=cfg.protect),
        )
        self.collector_release = charts.release(
            COLLECTOR_SERVICE, charts.OTEL_COLLECTOR, self.namespace, collector_values(cfg),
            pulumi.ResourceOptions(parent=self, depends_on=[self.tempo_release]),
        )

        k8s.core.v1.ConfigMap(
            "grafana-datasource-tempo",
            metadata=kube.metadata(
                "grafana-datasource-tempo", "tracing", args.monitoring_namespace, app="grafana",
                labels={"grafana_datasource": "1"},
            ),
            data={"tempo.yaml": json.dumps(grafana_datasource(), indent=1, sort_keys=True)},
            opts=child,
        )
        for release, selector, port in (
            (COLLECTOR_SERVICE, COLLECTOR_POD, "metrics"),
            (TEMPO_RELEASE, TEMPO_POD, "prom-metrics"),
        ):
            scraping.pod_monitor(
                release, self.namespace, component="tracing", selector=selector, port=port,
                crds=args.monitoring_crds, parent=self,
            )
        # Alerts and a dashboard on the pipeline's own metrics, in this namespace: Prometheus
        # selects rules from every namespace and the Grafana sidecar loads dashboards from all
        # (monitoring/metrics.py); the datasource above must sit in Grafana's own namespace.
        k8s.apiextensions.CustomResource(
            "rules-tracing",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=kube.metadata("saas-tracing", "alert-rules", self.namespace, app="prometheus"),
            spec={"groups": kube.load_yaml(ALERTS_FILE.read_text())["groups"]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.monitoring_crds]),
        )
        k8s.core.v1.ConfigMap(
            "dashboard-tracing",
            metadata=kube.metadata(
                "dashboard-tracing", "dashboard", self.namespace, app="grafana", labels={"grafana_dashboard": "1"}
            ),
            data={"tracing.json": json.dumps(json.loads(DASHBOARD_FILE.read_text()), separators=(",", ":"), sort_keys=True)},
            opts=child,
        )
        self._network_policies(args, child)
        self.register_outputs({"namespace": self.namespace, "otlpEndpoint": export.endpoint, "grafanaDatasource": DATASOURCE_UID})

    def _network_policies(self, args: TracingArgs, opts: pulumi.ResourceOptions) -> None:
        """Both sides of every flow (each namespace is default-deny in both directions)."""
        otlp = ports(OTLP_GRPC_PORT, OTLP_HTTP_PORT)
        senders = [
            *(namespace_peer(NS["app"], pods) for pods in APP_SENDERS.values()),
            namespace_peer(NS["ingress"], TRAEFIK_ROLE),
        ]
        grafana = namespace_peer(MONITORING_NAMESPACE, {"app.kubernetes.io/name": "grafana"})
        prometheus = [namespace_peer(MONITORING_NAMESPACE, PROMETHEUS_POD)]
        rules: dict[str, dict[str, Any]] = {
            # Applications and Traefik send OTLP to the collector, on the OTLP ports only.
            # Prometheus scrapes each on its metrics port only.
            "collector-ingress": {"pods": COLLECTOR_POD, "ingress": [
                ingress_rule(senders, otlp), ingress_rule(prometheus, ports(COLLECTOR_METRICS_PORT)),
            ]},
            # The collector exports to Tempo's OTLP gRPC receiver, nothing else.
            "collector-egress": {"pods": COLLECTOR_POD, "egress": [egress_rule([namespace_peer(TRACING_NAMESPACE, TEMPO_POD)], ports(OTLP_GRPC_PORT))]},
            # Tempo accepts the collector's spans and Grafana's queries (the HTTP API).
            "tempo-ingress": {"pods": TEMPO_POD, "ingress": [
                ingress_rule([namespace_peer(TRACING_NAMESPACE, COLLECTOR_POD)], ports(OTLP_GRPC_PORT)),
                ingress_rule([grafana], ports(TEMPO_PORT)),
                ingress_rule(prometheus, ports(TEMPO_PORT)),
            ]},
        }
        for name, rule in rules.items():
            network_policy(f"{TRACING_NAMESPACE}-{name}", name, self.namespace, opts, pods=rule["pods"],
                           ingress=rule.get("ingress"), egress=rule.get("egress"))
        # The other sides: Grafana -> Tempo, the applications -> collector, Traefik -> collector.
        network_policy(
            "saas-monitoring-grafana-to-tempo", "grafana-to-tempo", args.monitoring_namespace, opts,
            pods={"app.kubernetes.io/name": "grafana"},
            egress=[egress_rule([namespace_peer(TRACING_NAMESPACE, TEMPO_POD)], ports(TEMPO_PORT))],
        )
        for app, pods in APP_SENDERS.items():
            network_policy(
                f"saas-app-{app}-otlp", f"{app}-otlp-to-collector", args.app_namespace, opts, pods=pods,
                egress=[egress_rule([namespace_peer(TRACING_NAMESPACE, COLLECTOR_POD)], ports(OTLP_HTTP_PORT))],
            )
        allow_traefik_to(
            "saas-ingress-traefik-to-collector", "traefik-to-collector", args.ingress_namespace, TRACING_NAMESPACE,
            dict(COLLECTOR_POD), OTLP_HTTP_PORT, opts,
        )
