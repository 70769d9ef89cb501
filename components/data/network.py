"""The data layer's network: the operators' isolated namespace and who may talk to the data pods.

On top of the data namespace's default-deny: the application namespace reaches MariaDB (or
MaxScale) and Redis on their ports, the monitoring namespace scrapes the exporters, the
operators manage the pods, and data pods talk to each other (replication, Sentinel, backups).
"""

from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import StackConfig
from components.data import mariadb_base as mariadb_store
from components.data import maxscale
from components.data import redis as redis_store
from components.data.common import DATA_STORE_LABEL, tcp
from components.platform.network import DATA_CLIENT, PROMETHEUS_POD, isolated_namespace, namespace_peer

# The Kubernetes API server as pods see it: the `kubernetes` Service's endpoints, whose
# addresses differ per cluster; 443 (managed clusters) and 6443 (kubeadm, k3s, kind).
API_SERVER_PORTS = (443, 6443)
MARIADB_OPERATOR_WEBHOOK_PORT = 9443
OPERATOR_METRICS_PORT = 8080


NP = k8s.networking.v1


def _stores(*stores: str) -> k8s.meta.v1.LabelSelectorArgs:
    return k8s.meta.v1.LabelSelectorArgs(
        match_expressions=[
            k8s.meta.v1.LabelSelectorRequirementArgs(key=DATA_STORE_LABEL, operator="In", values=list(stores))
        ]
    )


def _policy(
    name: str,
    namespace: pulumi.Input[str],
    spec: k8s.networking.v1.NetworkPolicySpecArgs,
    opts: pulumi.ResourceOptions,
    prefix: str,
) -> k8s.networking.v1.NetworkPolicy:
    return NP.NetworkPolicy(
        f"{prefix}-{name}",
        metadata=kube.metadata(name, "network-policy", namespace),
        spec=spec,
        opts=opts,
    )


def _spec(
    pods: k8s.meta.v1.LabelSelectorArgs,
    ingress: list[k8s.networking.v1.NetworkPolicyIngressRuleArgs] | None,
    egress: list[k8s.networking.v1.NetworkPolicyEgressRuleArgs] | None,
) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """A policy governing the directions it has rules for."""
    return NP.NetworkPolicySpecArgs(
        pod_selector=pods,
        policy_types=[kind for kind, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None],
        ingress=ingress,
        egress=egress,
    )


def operator_namespace(
    name: str,
    data_namespace: pulumi.Input[str],
    monitoring_namespace: pulumi.Input[str],
    api_server_cidrs: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.Namespace:
    """The platform's isolated namespace (default-deny, DNS, Kubernetes API egress) for the
    operators, plus their reach into the data pods, webhook calls from the API server and
    metrics scrapes."""
    isolated = isolated_namespace(name, "namespace", opts, api_server_cidrs=api_server_cidrs)
    namespace = isolated.resource
    ns = isolated.name
    scoped = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[namespace]))
    everything = k8s.meta.v1.LabelSelectorArgs()
    # The operators connect to the databases (SQL, agent, Redis, Sentinel) to manage them.
    _policy(
        "allow-manage-data", ns,
        _spec(everything, None, [NP.NetworkPolicyEgressRuleArgs(to=[namespace_peer(data_namespace)])]),
        scoped, name,
    )
    _policy(
        "allow-webhook-and-metrics", ns,
        _spec(
            everything,
            [
                # Admission webhooks are called by the API server, whose address is the cluster's.
                NP.NetworkPolicyIngressRuleArgs(ports=tcp(MARIADB_OPERATOR_WEBHOOK_PORT)),
                NP.NetworkPolicyIngressRuleArgs(
                    from_=[namespace_peer(monitoring_namespace, PROMETHEUS_POD)], ports=tcp(OPERATOR_METRICS_PORT)
                ),
            ],
            None,
        ),
        scoped, name,
    )
    return namespace


def data_network_policies(
    cfg: StackConfig,
    namespace: pulumi.Input[str],
    clients_namespace: pulumi.Input[str],
    monitoring_namespace: pulumi.Input[str],
    operators_namespace: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    """Who may talk to the data pods, on top of the data namespace's default-deny: one policy
    per row (name, pods it selects, ingress rules, egress rules; None leaves a direction alone)."""
    # With MaxScale the application reaches MaxScale's listener only, never a MariaDB pod, and
    # not MaxScale's admin API (the operator and the exporter use it from their own rules).
    proxied = maxscale.enabled(cfg)
    every_pod = k8s.meta.v1.LabelSelectorArgs()
    in_namespace = NP.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs())
    rows: list[tuple[str, k8s.meta.v1.LabelSelectorArgs, list | None, list | None]] = [
        (
            "allow-app-to-mariadb",
            _stores(maxscale.STORE if proxied else "mariadb"),
            [
                NP.NetworkPolicyIngressRuleArgs(
                    from_=[namespace_peer(clients_namespace, DATA_CLIENT)], ports=tcp(maxscale.PORT if proxied else mariadb_store.PORT)
                )
            ],
            None,
        ),
        (
            "allow-app-to-redis",
            _stores("redis", "redis-sentinel"),
            [
                NP.NetworkPolicyIngressRuleArgs(
                    from_=[namespace_peer(clients_namespace, DATA_CLIENT)],
                    ports=tcp(redis_store.PORT, redis_store.SENTINEL_PORT),
                )
            ],
            None,
        ),
        (
            "allow-monitoring-to-exporters",
            # MariaDB's exporter is a separate Deployment (its own store label); Redis'
            # exporter is a sidecar of the Redis pods.
            _stores(mariadb_store.EXPORTER_STORE, "redis", *([maxscale.EXPORTER_STORE] if proxied else [])),
            [
                NP.NetworkPolicyIngressRuleArgs(
                    from_=[namespace_peer(monitoring_namespace, PROMETHEUS_POD)],
                    ports=tcp(mariadb_store.EXPORTER_PORT, redis_store.EXPORTER_PORT, *([maxscale.EXPORTER_PORT] if proxied else [])),
                )
            ],
            None,
        ),
        ("allow-operators-to-data", every_pod, [NP.NetworkPolicyIngressRuleArgs(from_=[namespace_peer(operators_namespace)])], None),
        (
            "allow-within-data",
            # Replication, Sentinel and backup jobs talk to each other and to the in-cluster
            # object storage; nothing outside the namespace is reachable this way.
            every_pod,
            [NP.NetworkPolicyIngressRuleArgs(from_=[in_namespace])],
            [NP.NetworkPolicyEgressRuleArgs(to=[in_namespace])],
        ),
        (
            "allow-mariadb-to-kubernetes-api",
            # The replication agent sidecar verifies the operator's ServiceAccount token with a
            # TokenReview (mariadb-operator's default agent authentication).
            # The PITR guard's primary-change watcher reads the MariaDB and patches its
            # PhysicalBackup (components/data/maintenance.py, pitr_guard).
            _stores("mariadb", mariadb_store.GUARD_LABEL),
            None,
            [NP.NetworkPolicyEgressRuleArgs(ports=tcp(*API_SERVER_PORTS))],
        ),
        (
            "allow-backups-to-object-storage",
            # Backup jobs and the MariaDB agent upload to S3 when the bucket is outside the
            # cluster (AWS S3, an external MinIO): HTTPS only.
            every_pod,
            None,
            [NP.NetworkPolicyEgressRuleArgs(ports=tcp(443))],
        ),
    ]
    for name, pods, ingress, egress in rows:
        _policy(name, namespace, _spec(pods, ingress, egress), opts, "saas-data")
