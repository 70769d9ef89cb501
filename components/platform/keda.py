"""KEDA: chart values for queue-length autoscaling (workers scale on Redis/RabbitMQ backlog).

The chart has no values.schema.json; every key set here exists in its values.yaml (checked by
the tests). KEDA's "High Availability" notes (keda.sh, operate/cluster): the operator runs
active/passive, so a second replica only shortens failover; only one metrics API server can
serve `external.metrics.k8s.io`, so it stays at one replica.
"""

from __future__ import annotations

from typing import Any

from components import k8s as kube
from components.config import ContainerSize
from components.platform import charts
from components.platform.network import ROLE_LABEL, SCRAPE_LABEL

OPERATOR_ROLE = {ROLE_LABEL: "keda-operator"}
METRICS_SERVER_ROLE = {ROLE_LABEL: "keda-metrics-apiserver"}
WEBHOOKS_ROLE = {ROLE_LABEL: "keda-admission-webhooks"}
METRICS_SERVER_PORT = 6443  # the kube-apiserver calls it (APIService v1beta1.external.metrics.k8s.io)
WEBHOOK_PORT = 9443
OPERATOR_GRPC_PORT = 9666  # metrics API server -> operator

RESOURCES = ContainerSize("50m", "128Mi", "512Mi")
WEBHOOK_RESOURCES = ContainerSize("20m", "64Mi", "256Mi")
# On a laptop (development): smaller requests, the same limits.
DEV_RESOURCES = ContainerSize("20m", "48Mi", "512Mi")
DEV_WEBHOOK_RESOURCES = ContainerSize("10m", "32Mi", "256Mi")

# Maps the chart renders verbatim with toYaml: free-form for the values.yaml key check.
FREE_FORM = (
    "podSecurityContext",
    "securityContext",
    "resources",
    "podLabels",
    "podDisruptionBudget",
    "topologySpreadConstraints",
)


def values(*, environment: str) -> dict[str, Any]:
    ha = environment != "development"
    count = 2 if ha else 1
    security = {
        part: charts.container_security_values() for part in ("operator", "metricServer", "webhooks")
    }
    return {
        "crds": {"install": True},
        "image": {"pullPolicy": "IfNotPresent"},
        "operator": {"replicaCount": count},
        "metricsServer": {"replicaCount": 1},
        "webhooks": {"enabled": True, "replicaCount": count, "failurePolicy": "Ignore"},
        "podLabels": {
            "keda": {**OPERATOR_ROLE, SCRAPE_LABEL: "true"},
            "metricsAdapter": {**METRICS_SERVER_ROLE, SCRAPE_LABEL: "true"},
            "webhooks": dict(WEBHOOKS_ROLE),
        },
        "podDisruptionBudget": (
            {"operator": {"minAvailable": 1}, "webhooks": {"minAvailable": 1}} if ha else {"operator": {}, "webhooks": {}}
        ),
        "topologySpreadConstraints": {
            "operator": charts.spread_values(OPERATOR_ROLE) if ha else [],
            "metricsServer": [],
            "webhooks": charts.spread_values(WEBHOOKS_ROLE) if ha else [],
        },
        "resources": {
            "operator": kube.resource_values(RESOURCES if ha else DEV_RESOURCES),
            "metricServer": kube.resource_values(RESOURCES if ha else DEV_RESOURCES),
            "webhooks": kube.resource_values(WEBHOOK_RESOURCES if ha else DEV_WEBHOOK_RESOURCES),
        },
        "securityContext": security,
        "podSecurityContext": {
            part: charts.pod_security_values() for part in ("operator", "metricServer", "webhooks")
        },
        "logging": {"operator": {"format": "json"}, "webhooks": {"format": "json"}},
        "prometheus": {"operator": {"enabled": True}, "metricServer": {"enabled": True}},
    }
