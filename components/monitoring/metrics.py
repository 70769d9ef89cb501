"""The metrics stack: kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager,
Grafana, kube-state-metrics, node-exporter) in the monitoring namespace, its values, and
the data-safety custom-resource metrics kube-state-metrics publishes.

Prometheus selects ServiceMonitors, PodMonitors, Probes, ScrapeConfigs and PrometheusRules from
*every* namespace (`...SelectorNilUsesHelmValues: false`), so the component that owns a workload
owns its monitor. Retention and storage come from config.
"""

from __future__ import annotations

from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.config import StackConfig
from components.platform import charts

# Release names decide the object names the charts render.
PROMETHEUS_RELEASE = "kps"  # with fullnameOverride: kps-prometheus, kps-alertmanager, kps-operator
GRAFANA_SERVICE = f"{PROMETHEUS_RELEASE}-grafana"  # the grafana subchart names it <release>-grafana
# Pods and ports Traefik routes to (the grafana subchart's pod label).
GRAFANA_POD = {"app.kubernetes.io/name": "grafana"}
GRAFANA_PORT = 3000


def grafana_admin_secret(
    namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> tuple[k8s.core.v1.Secret, pulumi.Output[str]]:
    """Grafana's generated admin password, in the Secret the chart reads (and as a secret output)."""
    grafana_password = random.RandomPassword("grafana-admin-password", length=32, special=False, opts=opts)
    grafana_secret = k8s.core.v1.Secret(
        "grafana-admin",
        metadata=kube.metadata("grafana-admin", "monitoring", namespace, app="grafana"),
        type="Opaque",
        string_data={"admin-user": "admin", "admin-password": grafana_password.result},
        opts=opts,
    )
    return grafana_secret, pulumi.Output.secret(grafana_password.result)


def prometheus_stack_release(
    config: StackConfig,
    namespace: pulumi.Input[str],
    *,
    secrets: Sequence[k8s.core.v1.Secret],
    node_exporter_namespace: pulumi.Input[str] | None,
    parent: pulumi.Resource,
) -> k8s.helm.v3.Release:
    """The kube-prometheus-stack release; `secrets`: Grafana's admin, the notifier and the
    Alertmanager configuration Secrets, in that order."""
    grafana_secret, notifier_secret, config_secret = secrets
    values = prometheus_stack_values(
        config,
        grafana_secret=grafana_secret.metadata.name,
        notifier_secret=notifier_secret.metadata.name,
        config_secret=config_secret.metadata.name,
        node_exporter_namespace=node_exporter_namespace,
    )
    return charts.release(
        "kube-prometheus-stack",
        charts.KUBE_PROMETHEUS_STACK,
        namespace,
        values,
        # Prometheus and Alertmanager keep history on PVCs: never let a destroy take them.
        pulumi.ResourceOptions(
            parent=parent,
            protect=config.protect,
            depends_on=[grafana_secret, notifier_secret, config_secret],
        ),
        release_name=PROMETHEUS_RELEASE,
        timeout=900,
        atomic=False,
        cleanup_on_fail=None,
    )


# Restricted Pod Security for the chart's pods in the (restricted) monitoring namespace.
_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 2000,
    "fsGroup": 2000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_CONTAINER_SECURITY = charts.container_security_values()


def _resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit or memory}}


def data_safety_state_metrics() -> dict[str, Any]:
    """kube-state-metrics `CustomResourceStateMetrics` for the recovery signals (data-safety
    review #22), read from the status fields of mariadb-operator v26.6.0 (CRDs
    mariadbs/physicalbackups/pointintimerecoveries.k8s.mariadb.com, condition types in
    api/v1alpha1/condition_types.go):

    - `kube_mariadb_pitr_last_recoverable_time` (unix seconds; RFC 3339 in the status);
    - `kube_mariadb_status_condition{type=Ready|BinlogsArchived|StorageResized|PrimarySwitched}`;
    - `kube_mariadb_current_primary_index` (a change is a failover or switchover);
    - `kube_mariadb_physicalbackup_status_condition{type="Complete"}`,
      `kube_mariadb_physicalbackup_last_schedule_time`.
    Condition values are "True"/"False", which kube-state-metrics reads as 1/0.
    """
    def resource(kind: str, prefix: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "groupVersionKind": {"group": "k8s.mariadb.com", "version": "v1alpha1", "kind": kind},
            "metricNamePrefix": prefix,
            "labelsFromPath": {"name": ["metadata", "name"], "namespace": ["metadata", "namespace"]},
            "metrics": metrics,
        }

    def gauge(name: str, help_text: str, path: list[str], **extra: Any) -> dict[str, Any]:
        return {"name": name, "help": help_text, "each": {"type": "Gauge", "gauge": {"path": path, **extra}}}

    def conditions(help_text: str) -> dict[str, Any]:
        return gauge("status_condition", help_text, ["status", "conditions"],
                     labelsFromPath={"type": ["type"], "reason": ["reason"]}, valueFrom=["status"])

    return {
        "kind": "CustomResourceStateMetrics",
        "spec": {
            "resources": [
                resource("PointInTimeRecovery", "kube_mariadb_pitr", [
                    gauge("last_recoverable_time", "Newest point a restore can reach", ["status", "lastRecoverableTime"]),
                ]),
                resource("MariaDB", "kube_mariadb", [
                    conditions("MariaDB conditions (1 True, 0 False)"),
                    gauge("current_primary_index", "Pod index of the current primary", ["status", "currentPrimaryPodIndex"]),
                ]),
                resource("PhysicalBackup", "kube_mariadb_physicalbackup", [
                    conditions("PhysicalBackup conditions (1 True, 0 False)"),
                    gauge("last_schedule_time", "When the last backup was scheduled", ["status", "lastScheduleTime"]),
                ]),
            ]
        },
    }


def prometheus_stack_values(
    config: StackConfig,
    *,
    grafana_secret: pulumi.Input[str],
    notifier_secret: pulumi.Input[str],
    config_secret: pulumi.Input[str],
    node_exporter_namespace: pulumi.Input[str] | None,
) -> dict[str, Any]:
    """kube-prometheus-stack values. Every key path exists in the chart's values.yaml except the
    subcharts' own (grafana.*, kube-state-metrics.*, prometheus-node-exporter.*), whose values
    files the parent chart does not ship; tests list those as free-form with that reason."""
    settings = config.monitoring
    production = config.is_production
    # Development runs on a laptop (k3d/kind): the smallest requests that still run.
    size = _DEV_SIZES if config.environment == "development" else _CLUSTER_SIZES
    return {
        "fullnameOverride": PROMETHEUS_RELEASE,
        "crds": {"enabled": True},
        # Our own rules cover the application; the chart's rules cover Kubernetes itself,
        # except the control plane we cannot scrape (below).
        "defaultRules": {"create": True, "rules": {rule: False for rule in CONTROL_PLANE_RULES}},
        # The control plane is managed on EKS (scheduler, controller manager, etcd are not
        # reachable) and runs in-process on k3s; kind/kubeadm bind those components and
        # kube-proxy's metrics to 127.0.0.1. The chart enables their monitors by default
        # (kube-prometheus-stack 88.5.3 values.yaml kubeScheduler/kubeControllerManager/
        # kubeEtcd/kubeProxy.enabled: true), and the mixin's `absent(up{job=...})` alerts would
        # then fire for ever: off, with their rule groups.
        **{component: {"enabled": False} for component in CONTROL_PLANE_MONITORS},
        "alertmanager": {
            "enabled": True,
            "alertmanagerSpec": {
                "useExistingSecret": True,
                "configSecret": config_secret,
                "replicas": settings.alertmanager_replicas,
                "retention": "120h",
                "secrets": [notifier_secret],
                "resources": size["alertmanager"],
                "securityContext": _POD_SECURITY,
                "storage": {
                    "volumeClaimTemplate": {
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}
                    }
                },
            },
        },
        "grafana": {
            "enabled": True,
            "replicas": 1,
            "defaultDashboardsEnabled": True,
            "defaultDashboardsTimezone": "utc",
            "admin": {"existingSecret": grafana_secret, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"},
                # The grafana subchart sets no request for its sidecars by default.
                "resources": size["grafana-sidecar"],
            },
            "grafana.ini": {
                "server": {"root_url": f"https://grafana.{config.domain}", "domain": f"grafana.{config.domain}"},
                "analytics": {"reporting_enabled": False, "check_for_updates": False},
                "users": {"allow_sign_up": False},
            },
            "resources": size["grafana"],
            "securityContext": {**_POD_SECURITY, "runAsUser": 472, "runAsGroup": 472, "fsGroup": 472},
            "containerSecurityContext": _CONTAINER_SECURITY,
        },
        "kube-state-metrics": {
            # The data-safety signals live in the mariadb-operator objects' status, which no
            # exporter publishes: kube-state-metrics' custom-resource-state config does.
            "customResourceState": {"enabled": True, "config": data_safety_state_metrics()},
            "rbac": {"extraRules": [{
                "apiGroups": ["k8s.mariadb.com"],
                "resources": ["mariadbs", "physicalbackups", "pointintimerecoveries"],
                "verbs": ["list", "watch"],
            }]},
            "resources": size["kube-state-metrics"],
            "securityContext": {**_POD_SECURITY, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
            "containerSecurityContext": _CONTAINER_SECURITY,
        },
        "nodeExporter": {"enabled": node_exporter_namespace is not None},
        **(
            {
                "prometheus-node-exporter": {
                    "namespaceOverride": node_exporter_namespace,
                    "resources": _resources("50m", "64Mi", "128Mi"),
                }
            }
            if node_exporter_namespace is not None
            else {}
        ),
        "prometheusOperator": {
            "resources": size["operator"],
            "securityContext": {**_POD_SECURITY, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
            # Seccomp comes from the pod level (the chart has no container-level key for it).
            "containerSecurityContext": {k: v for k, v in _CONTAINER_SECURITY.items() if k != "seccompProfile"},
            "admissionWebhooks": {"patch": {"resources": _resources("10m", "32Mi", "64Mi")}},
            "prometheusConfigReloader": {"resources": size["config-reloader"]},
        },
        "prometheus": {
            "prometheusSpec": {
                "replicas": settings.prometheus_replicas,
                "retention": settings.retention,
                # Stop before the disk is full: 90 % of the volume.
                "retentionSize": _retention_size(settings.storage),
                "resources": _resources("200m", "1Gi", "4Gi") if production else size["prometheus"],
                "securityContext": _POD_SECURITY,
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": settings.storage}},
                        }
                    }
                },
                # Pick up monitors and rules from every namespace, whatever their labels
                # (FIELD-NOTES: otherwise only objects labelled release=<name> are selected).
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
            }
        },
    }


# kube-prometheus-stack components whose monitors (and default rule groups) are off: see
# prometheus_stack_values.
CONTROL_PLANE_MONITORS = ("kubeScheduler", "kubeControllerManager", "kubeEtcd", "kubeProxy")
CONTROL_PLANE_RULES = ("etcd", "kubeSchedulerAlerting", "kubeSchedulerRecording", "kubeControllerManager", "kubeProxy")

# Requests/limits of the monitoring stack's pods: staging/production, and a laptop.
_CLUSTER_SIZES: dict[str, dict[str, Any]] = {
    "operator": _resources("100m", "128Mi", "256Mi"),
    "config-reloader": _resources("10m", "32Mi", "64Mi"),
    "prometheus": _resources("200m", "512Mi", "1Gi"),
    "alertmanager": _resources("50m", "64Mi", "128Mi"),
    "grafana": _resources("100m", "256Mi", "512Mi"),
    "grafana-sidecar": _resources("10m", "64Mi", "128Mi"),
    "kube-state-metrics": _resources("50m", "128Mi", "256Mi"),
}
_DEV_SIZES: dict[str, dict[str, Any]] = {
    "operator": _resources("20m", "48Mi", "256Mi"),
    "config-reloader": _resources("5m", "16Mi", "64Mi"),
    "prometheus": _resources("100m", "320Mi", "1Gi"),
    "alertmanager": _resources("10m", "24Mi", "128Mi"),
    "grafana": _resources("50m", "112Mi", "512Mi"),
    "grafana-sidecar": _resources("5m", "32Mi", "128Mi"),
    "kube-state-metrics": _resources("10m", "32Mi", "256Mi"),
}


def _retention_size(storage: str) -> str:
    number, unit = int(storage[:-2]), storage[-2:]
    return f"{max(1, number * 9 // 10)}{unit[0]}B"
