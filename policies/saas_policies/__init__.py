"""The saas-platform policy pack: every rule, in one list, importable without starting a server."""

from __future__ import annotations

from pulumi_policy import Policy

from saas_policies import audit, data, edge, kubernetes, monitoring, platform, replication, storage, wiring, workloads

PACK_NAME = "saas-platform"

POLICIES: list[Policy] = [
    *kubernetes.POLICIES,
    *workloads.POLICIES,
    *wiring.POLICIES,
    *platform.POLICIES,
    *data.POLICIES,
    *storage.POLICIES,
    *replication.POLICIES,
    *edge.POLICIES,
    *monitoring.POLICIES,
    *audit.POLICIES,
]
