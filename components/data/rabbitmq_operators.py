"""The RabbitMQ Cluster Operator and Messaging Topology Operator: their vendored release
manifests with the platform's changes, and their isolated `rabbitmq-system` namespace.

No official Helm chart exists (Bitnami's is gone), so the operators come from their pinned
upstream release manifests; the topology operator's webhook certificate comes from cert-manager.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.platform.network import (
    PROMETHEUS_POD, egress_rule, ingress_rule, isolated_namespace, namespace_peer, network_policy, ports,
)

CLUSTER_OPERATOR_VERSION = "v2.22.3"
TOPOLOGY_OPERATOR_VERSION = "v1.20.1"
# The operators' installation manifests, vendored (upstream/README.md says how they are made
# from the repositories at these tags): reviewable, diffable, expanded offline by synthesis.
MANIFESTS_DIR = Path(__file__).resolve().parent.parent.parent / "upstream" / "manifests" / "rabbitmq"
CLUSTER_OPERATOR_MANIFEST = MANIFESTS_DIR / "cluster-operator.yml"
# The variant that gets its webhook certificate from cert-manager (the plain one expects a
# hand-made Secret).
TOPOLOGY_OPERATOR_MANIFEST = MANIFESTS_DIR / "messaging-topology-operator-with-certmanager.yaml"
# Where both manifests install the operators. Both also carry this Namespace: it is created
# once, here (isolated like every other namespace), and dropped from both files, or the second
# create fails with AlreadyExists (pulumi-kubernetes >= 4.29 creates client-side).
OPERATOR_NAMESPACE = "rabbitmq-system"
OPERATOR_COMPONENT = "rabbitmq-operator"
# The operators' Deployments and the ports they serve: webhooks (API server -> 9443) and the
# cluster operator's plain-HTTP metrics (config/manager/manager.yaml `metrics` 8080). The
# topology operator's metrics are HTTPS with Kubernetes authn/authz (`--metrics-secure`).
CLUSTER_OPERATOR_POD = {"app.kubernetes.io/name": "rabbitmq-cluster-operator"}
TOPOLOGY_OPERATOR_POD = {"app.kubernetes.io/name": "messaging-topology-operator"}
OPERATOR_WEBHOOK_PORT = 9443
CLUSTER_OPERATOR_METRICS_PORT = 8080
# Requests of the operators in development (the manifests ask 200m/500Mi and 300m/128Mi).
DEV_OPERATOR_RESOURCES = ContainerSize("20m", "64Mi", "512Mi")


def operator_manifest(path: Path, cfg: StackConfig) -> str:
    """The vendored manifest at `path` with the platform's changes (operator_object), as the
    YAML text of a yaml/v2 ConfigGroup (libyaml both ways; synthesis expands the group from the
    objects behind the text, kube.yaml_text)."""
    objects = [obj for obj in kube.yaml_documents(path.read_text()) if obj]
    return kube.yaml_text([obj for obj in objects if operator_object(obj, cfg)])


def operator_object(obj: dict[str, Any], cfg: StackConfig) -> bool:
    """What the program changes in the vendored manifests, and nothing else (False: left out):

    - the Namespace is left out (created once, isolated, by `operator_namespace`);
    - every object gets the platform's recommended labels on its metadata (and the operator
      pods on their template, which keeps matching the upstream selectors);
    - the Deployments roll with `maxUnavailable: 0` and a read-only root filesystem (the
      operators write nothing to disk; the topology operator's manifest already says so);
    - in development the operators ask for less (the manifests' requests are sized for a cluster).
    """
    kind = obj.get("kind")
    if kind == "Namespace":
        return False
    metadata = obj.setdefault("metadata", {})
    labels = metadata.get("labels") or {}
    name = labels.get("app.kubernetes.io/name") or "rabbitmq-operators"
    metadata["labels"] = {**labels, **kube.recommended_labels(name, OPERATOR_COMPONENT)}
    if kind != "Deployment":
        return True
    spec = obj["spec"]
    template = spec["template"]
    template["metadata"]["labels"] = {**kube.recommended_labels(name, OPERATOR_COMPONENT), **template["metadata"]["labels"]}
    spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    for container in template["spec"]["containers"]:
        container.setdefault("securityContext", {})["readOnlyRootFilesystem"] = True
        if cfg.environment == "development":
            container["resources"] = kube.resource_values(DEV_OPERATOR_RESOURCES)
    return True


def operator_namespace(
    name: str,
    cfg: StackConfig,
    data_namespace: pulumi.Input[str],
    peers: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
    *,
    cluster_pods: Mapping[str, str],
    management_port: int,
) -> k8s.core.v1.Namespace:
    """`rabbitmq-system` like every other namespace: default-deny, DNS, the Kubernetes API for
    both operators; the API server calls their webhooks; the topology operator reaches the
    management API (`management_port`) of the cluster's pods (`cluster_pods`); Prometheus
    scrapes the cluster operator."""
    isolated = isolated_namespace(
        OPERATOR_NAMESPACE, "rabbitmq-operators", opts, api_server_cidrs=cfg.raw.network.apiServerCidrs
    )
    scoped = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[isolated.resource]))
    network_policy(
        f"{name}-operators-webhooks", "allow-webhooks", isolated.name, scoped,
        # Admission webhooks are called by the API server, whose address is not a pod.
        ingress=[ingress_rule(None, ports(OPERATOR_WEBHOOK_PORT))],
    )
    network_policy(
        f"{name}-operators-management-api", "allow-management-api", isolated.name, scoped,
        pods=TOPOLOGY_OPERATOR_POD,
        egress=[egress_rule([namespace_peer(data_namespace, cluster_pods)], ports(management_port))],  # type: ignore[arg-type]
    )
    if "monitoring" in peers:
        network_policy(
            f"{name}-operators-metrics", "allow-prometheus-metrics", isolated.name, scoped,
            pods=CLUSTER_OPERATOR_POD,
            ingress=[ingress_rule([namespace_peer(peers["monitoring"], PROMETHEUS_POD)], ports(CLUSTER_OPERATOR_METRICS_PORT))],  # type: ignore[arg-type]
        )
    return isolated.resource
