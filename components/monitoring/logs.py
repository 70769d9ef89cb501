"""The logs pipeline's names and chart values (off in development): the official Graylog chart
(Graylog + DataNode + a MongoDB replica set through the MongoDB Controllers for Kubernetes
operator the chart requires) and Fluent Bit as a DaemonSet shipping container logs over GELF TCP.
The resources are in `logs_pipeline.py`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi


GELF_INPUT_SCRIPT = Path(__file__).resolve().parent.parent / "files" / "graylog" / "create-gelf-input.sh"

# Release names decide the object names the charts render.
GRAYLOG_RELEASE = "graylog"
GRAYLOG_SERVICE = "graylog-svc"  # graylog.service.name: <fullname>-svc
LOGGING_NAMESPACE = "saas-logging"
GRAYLOG_CREDENTIALS_SECRET = "graylog-credentials"  # global.existingSecretName
# With existingSecretName the chart renders no Secret at all, but its MongoDBCommunity still
# reads the users' passwords from "<fullname>-backup-secret": we write that one too.
GRAYLOG_BACKUP_SECRET = f"{GRAYLOG_RELEASE}-backup-secret"
GRAYLOG_MONGODB_RS = f"{GRAYLOG_RELEASE}-mongo-rs"  # graylog.mongodb.crName; user and db "graylog"
GELF_PORT = 12201
# Pods and ports Traefik routes to (graylog chart's `app` label).
GRAYLOG_POD = {"app": "graylog-app"}
GRAYLOG_PORT = 9000
GELF_INPUT_TITLE = "fluent-bit-gelf-tcp"

FLUENT_BIT_IMAGE_TAG = "5.1.1"  # the chart's appVersion, pinned explicitly
CURL_IMAGE = "docker.io/curlimages/curl:8.17.0"
SYSCTL_IMAGE = "docker.io/library/busybox:1.37.0"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


def graylog_values(*, highly_available: bool, storage: str) -> dict[str, Any]:
    """Graylog chart values (validated against its values.schema.json in the tests).

    No secret is in them: `global.existingSecretName` points the chart at the Secrets this
    component writes (see `_graylog_secrets`), so values stay reviewable in the plan.
    """
    return {
        "global": {"existingSecretName": GRAYLOG_CREDENTIALS_SECRET},
        "graylog": {
            "enterprise": False,  # Graylog Open: the chart defaults to the enterprise image
            "replicas": 2 if highly_available else 1,
            "inputs": [{"name": "input-gelf", "port": GELF_PORT, "targetPort": GELF_PORT, "protocol": "TCP"}],
            "config": {
                "rootUsername": "admin",
                "serverJavaOpts": "-Xms1g -Xmx1g",
                "contentPacksAutoInstall": "false",
            },
            "service": {"metrics": {"enabled": True}},
            # Graylog binds its Prometheus exporter to 127.0.0.1 unless told otherwise.
            "env": {"GRAYLOG_PROMETHEUS_EXPORTER_BIND_ADDRESS": "0.0.0.0:9833"},
            "resources": {"requests": {"cpu": "500m", "memory": "1536Mi"}, "limits": {"memory": "2Gi"}},
            "persistence": {"enabled": True, "size": "10Gi"},
            "podDisruptionBudget": {"enabled": highly_available, "minAvailable": 1},
        },
        "datanode": {
            "replicas": 3 if highly_available else 1,
            "config": {"opensearchHeap": "2g", "javaOpts": "-Xms1g -Xmx1g"},
            "resources": {"requests": {"cpu": "500m", "memory": "3584Mi"}, "limits": {"memory": "5Gi"}},
            "persistence": {"data": {"enabled": True, "size": storage}},
            "podDisruptionBudget": {"enabled": highly_available, "minAvailable": 2 if highly_available else 1},
        },
        "mongodb": {
            "communityResource": {"enabled": True},
            "replicas": 3 if highly_available else 1,
            "arbiters": 0,
        },
    }


def mongodb_operator_values(logging_ns: pulumi.Input[str]) -> dict[str, Any]:
    """MongoDB Controllers for Kubernetes: watch only the logging namespace, only MongoDBCommunity."""
    return {
        "operator": {
            "watchNamespace": logging_ns,
            "watchedResources": ["mongodbcommunity"],
            "replicas": 1,
            "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "1Gi"}},
        }
    }


def fluent_bit_values(graylog_host: str) -> dict[str, Any]:
    """Fluent Bit as a DaemonSet: tail container logs, enrich with Kubernetes metadata, ship GELF."""
    return {
        "kind": "DaemonSet",
        "image": {"tag": FLUENT_BIT_IMAGE_TAG},
        "testFramework": {"enabled": False},  # its test pod uses busybox:latest
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        # Reads root-owned files under /var/log: root, but no capabilities and a read-only root.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "serviceMonitor": {"enabled": True},
        # Only what the tail input needs: /var/log (pods' logs and their symlinks) and the machine id.
        "daemonSetVolumes": [
            {"name": "varlog", "hostPath": {"path": "/var/log"}},
            {"name": "etcmachineid", "hostPath": {"path": "/etc/machine-id", "type": "File"}},
        ],
        "daemonSetVolumeMounts": [
            {"name": "varlog", "mountPath": "/var/log"},
            {"name": "etcmachineid", "mountPath": "/etc/machine-id", "readOnly": True},
        ],
        "config": {
            "inputs": (
                "[INPUT]\n"
                "    Name tail\n"
                "    Path /var/log/containers/*.log\n"
                "    multiline.parser docker, cri\n"
                "    Tag kube.*\n"
                "    Mem_Buf_Limit 5MB\n"
                "    Skip_Long_Lines On\n"
            ),
            # Keep_Log On: the GELF short message is the original line even when it was JSON.
            "filters": (
                "[FILTER]\n"
                "    Name kubernetes\n"
                "    Match kube.*\n"
                "    Merge_Log On\n"
                "    Keep_Log On\n"
                "    K8S-Logging.Parser On\n"
                "    K8S-Logging.Exclude On\n"
            ),
            "outputs": fluent_bit_outputs(graylog_host),
        },
    }


def fluent_bit_outputs(graylog_host: str) -> str:
    """Fluent Bit's output section: every container log to Graylog's GELF TCP input."""
    return (
        "[OUTPUT]\n"
        "    Name gelf\n"
        "    Match kube.*\n"
        f"    Host {graylog_host}\n"
        f"    Port {GELF_PORT}\n"
        "    Mode tcp\n"
        "    Gelf_Short_Message_Key log\n"
        "    Gelf_Timestamp_Key timestamp\n"
        "    Retry_Limit 10\n"
    )
