"""Every policy rule's passing and violating cases, one module per rule area."""

from __future__ import annotations

from tests.policy_cases import audit, data, edge, kubernetes, monitoring, platform, replication, storage, wiring, workloads
from tests.policy_cases.common import Case
from tests.policy_cases.kubernetes import deployment

CASES: list[Case] = [
    *kubernetes.CASES,
    *workloads.CASES,
    *wiring.CASES,
    *platform.CASES,
    *data.CASES,
    *storage.CASES,
    *replication.CASES,
    *edge.CASES,
    *monitoring.CASES,
    *audit.CASES,
]

__all__ = ["CASES", "Case", "deployment"]
