"""What the data stores share: the label their pods carry and how their Services are named."""

from __future__ import annotations

import pulumi

# The label the data namespace's NetworkPolicies select store pods by (`mariadb`, `redis`,
# `redis-sentinel`); set through each operator's pod metadata.
DATA_STORE_LABEL = "saas-platform.io/data-store"


def service_host(service: str, namespace: pulumi.Input[str]) -> pulumi.Output[str]:
    """The cluster-internal FQDN of a Service (what clients in other namespaces resolve)."""
    return pulumi.Output.concat(service, ".", namespace, ".svc.cluster.local")
