"""What the data stores share: the label their pods carry and how their Services are named."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

# The label the data namespace's NetworkPolicies select store pods by (`mariadb`, `redis`,
# `redis-sentinel`); set through each operator's pod metadata.
DATA_STORE_LABEL = "saas-platform.io/data-store"


def service_host(service: str, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    """The cluster-internal FQDN of a Service (what clients in other namespaces resolve)."""
    return pulumi.Output.concat(service, ".", namespace, ".svc.cluster.local")


def tcp(*ports: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    """NetworkPolicy ports in the order given (platform.network.ports sorts them)."""
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port) for port in ports]
