"""The saas-platform policy pack: every rule, in one list, importable without starting a server."""

from __future__ import annotations

from pulumi_policy import Policy

from saas_policies import kubernetes, monitoring

PACK_NAME = "saas-platform"

POLICIES: list[Policy] = [
    *kubernetes.POLICIES,
    *monitoring.POLICIES,
]
