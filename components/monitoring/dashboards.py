"""Dashboards: `components/files/dashboards/*.json` as ConfigMaps labelled `grafana_dashboard: "1"`
(the Grafana sidecar loads them from all namespaces)."""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube

DASHBOARDS_DIR = Path(__file__).resolve().parent.parent / "files" / "dashboards"


def dashboards() -> dict[str, str]:
    """Every dashboard JSON by file name, re-serialized compactly (and so proven to parse)."""
    return {
        path.name: json.dumps(json.loads(path.read_text()), separators=(",", ":"), sort_keys=True)
        for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def dashboard_config_maps(namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """One ConfigMap per dashboard, in the monitoring namespace."""
    for file_name, body in dashboards().items():
        stem = file_name.removesuffix(".json")
        k8s.core.v1.ConfigMap(
            f"dashboard-{stem}",
            metadata=kube.metadata(
                f"dashboard-{stem}", "dashboard", namespace, app="grafana", labels={"grafana_dashboard": "1"}
            ),
            data={file_name: body},
            opts=opts,
        )
