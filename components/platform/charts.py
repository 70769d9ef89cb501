"""Pinned upstream charts and the chart-values fragments every platform release shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube


@dataclass(frozen=True)
class ChartPin:
    """An upstream Helm chart pinned to the exact version whose CRDs and values we validate."""

    chart: str
    version: str
    repo: str


# Pinned versions; the tests compare them with the vendored upstream data in upstream/.
TRAEFIK = ChartPin("traefik", "41.3.0", "https://traefik.github.io/charts")
CERT_MANAGER = ChartPin("cert-manager", "v1.21.1", "https://charts.jetstack.io")
KEDA = ChartPin("keda", "2.20.2", "https://kedacore.github.io/charts")
# Tracing (components/monitoring/tracing.py). Tempo's chart moved from grafana/helm-charts (deprecated at
# 1.24.4, Tempo 2.9) to grafana-community/helm-charts in 2026.
OTEL_COLLECTOR = ChartPin("opentelemetry-collector", "0.170.0", "https://open-telemetry.github.io/opentelemetry-helm-charts")
TEMPO = ChartPin("tempo", "2.2.4", "https://grafana-community.github.io/helm-charts")
# Monitoring (components/monitoring/): metrics stack, and the logs pipeline.
KUBE_PROMETHEUS_STACK = ChartPin("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts")
GRAYLOG = ChartPin("graylog", "1.0.0", "https://graylog2.github.io/graylog-helm")
FLUENT_BIT = ChartPin("fluent-bit", "0.58.1", "https://fluent.github.io/helm-charts")
# The Graylog chart's MongoDBCommunity resource needs this operator (chart README, "Requirements").
MONGODB_OPERATOR = ChartPin("mongodb-kubernetes", "1.6.1", "https://mongodb.github.io/helm-charts")


def release(
    name: str,
    pin: ChartPin,
    namespace: pulumi.Input[str],
    values: pulumi.Input[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    *,
    release_name: str | None = None,
    timeout: int = 600,
    atomic: bool | None = True,
    cleanup_on_fail: bool | None = True,
    max_history: int | None = 10,
) -> k8s.helm.v3.Release:
    """A Helm release with a fixed name (no random suffix: other objects refer to its Services).

    `name` is the Pulumi resource name and, unless `release_name` is given, the Helm release
    name too. `values` may be an Output (values computed from other resources' outputs).
    `atomic`, `cleanup_on_fail`, `max_history`: None leaves Helm's default (the argument unset).
    """
    return k8s.helm.v3.Release(
        name,
        k8s.helm.v3.ReleaseArgs(
            name=release_name or name,
            chart=pin.chart,
            version=pin.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo),
            namespace=namespace,
            values=dict(values) if isinstance(values, Mapping) else values,
            # Roll a failed upgrade back instead of leaving half-applied objects behind.
            atomic=atomic,
            cleanup_on_fail=cleanup_on_fail,
            max_history=max_history,
            timeout=timeout,
        ),
        opts=opts,
    )


def pod_security_values(uid: int = kube.DEFAULT_UID) -> dict[str, Any]:
    """Restricted pod security context as chart values (mirrors `kube.pod_security_context`)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_values() -> dict[str, Any]:
    """Restricted container security context as chart values (mirrors `kube.container_security_context`)."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def spread_values(match_labels: Mapping[str, str]) -> list[dict[str, Any]]:
    """Zone then node spreading as chart values; soft, like `kube.topology_spread`, so a
    single-zone staging cluster still schedules every replica."""
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": dict(match_labels)},
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]
