"""Sizing tiers (architecture overview: "Resource Allocation" and "Horizontal Scaling"): replica
bounds, container sizes per tier, and the data stores' per-tier defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Mapping

from pydantic import AfterValidator, Field, model_validator

from components.config.base import Size, _Strict


# The mandatory policy `k8s-hpa-bounds` (policies/saas_policies/workloads.py, MAX_HPA_REPLICAS)
# rejects an autoscaler above 50 replicas; config refuses the same values up front, so a user
# learns it from the key they wrote rather than from a policy finding on a generated HPA.
MAX_REPLICAS = 50


def _replica_count(value: int) -> int:
    if value > MAX_REPLICAS:
        raise ValueError(
            f"{value} is above the maximum of {MAX_REPLICAS} replicas (the mandatory policy k8s-hpa-bounds "
            "rejects more: a runaway scale-out exhausts the cluster and the database's connections)"
        )
    return value


ReplicaCount = Annotated[int, Field(ge=1), AfterValidator(_replica_count)]


class Bounds(_Strict):
    """Replica bounds of an autoscaled workload (HPA / KEDA minReplicas and maxReplicas)."""

    min: ReplicaCount
    max: ReplicaCount

    @model_validator(mode="after")
    def _ordered(self) -> "Bounds":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must not exceed max ({self.max})")
        return self


@dataclass(frozen=True)
class ContainerSize:
    """Requests and memory limit of one container. No CPU limit: throttling a web server in
    a burst hurts latency more than sharing idle cores does; memory is limited because the
    OOM killer must pick the container that overran, not a neighbour."""

    cpu: str
    memory: str
    memory_limit: str


@dataclass(frozen=True)
class Tier:
    """Concrete numbers for one sizing tier. `database_replicas` counts read replicas."""

    frontend: Bounds
    backend: Bounds
    workers: Bounds
    database_replicas: int
    frontend_size: ContainerSize
    # The php-fpm container of the web pod and the workers; pm.max_children follows from it.
    backend_size: ContainerSize


TIERS: Mapping[Size, Tier] = {
    # architecture overview "Small (< 1k users)": 2 frontend, 2 backend, a single database instance.
    "small": Tier(
        Bounds(min=2, max=3), Bounds(min=2, max=4), Bounds(min=1, max=3), 0,
        frontend_size=ContainerSize("100m", "256Mi", "512Mi"),
        backend_size=ContainerSize("200m", "384Mi", "512Mi"),
    ),
    # architecture overview "Medium (1k-10k users)": frontend 3-5, backend 3-7, master + replica.
    "medium": Tier(
        Bounds(min=3, max=5), Bounds(min=3, max=7), Bounds(min=2, max=10), 1,
        frontend_size=ContainerSize("250m", "384Mi", "768Mi"),
        backend_size=ContainerSize("500m", "768Mi", "1Gi"),
    ),
    # architecture overview "Large (10k+ users)": frontend 5+, backend 5-10+, database cluster.
    "large": Tier(
        Bounds(min=5, max=12), Bounds(min=5, max=15), Bounds(min=3, max=30), 2,
        frontend_size=ContainerSize("500m", "512Mi", "1Gi"),
        backend_size=ContainerSize("1", "1536Mi", "2Gi"),
    ),
}

# Development runs on a laptop cluster: one replica of everything whatever the size says;
# the HPA may still add one under load so autoscaling is exercised locally.
DEVELOPMENT_TIER = Tier(
    Bounds(min=1, max=2), Bounds(min=1, max=2), Bounds(min=1, max=2), 0,
    frontend_size=ContainerSize("50m", "192Mi", "512Mi"),
    # Eight PHP containers at the dev maximum (web x2, Redis and RabbitMQ workers x2 each,
    # Reverb, scheduler): 192 Mi each keeps dev within a 4 vCPU / 8 GiB laptop node (5 GiB of
    # requests, test_footprint); the 512 Mi limit leaves php-fpm its workers.
    backend_size=ContainerSize("100m", "192Mi", "512Mi"),
)


# Per-tier defaults of the data stores: (storage, memory limit, cpu request).
MARIADB_SIZING: Mapping[Size, tuple[str, str, str]] = {
    "small": ("10Gi", "1Gi", "250m"),
    "medium": ("50Gi", "4Gi", "1"),
    "large": ("200Gi", "16Gi", "4"),
}
REDIS_SIZING: Mapping[Size, tuple[str, str, str]] = {
    "small": ("2Gi", "256Mi", "100m"),
    "medium": ("5Gi", "1Gi", "250m"),
    "large": ("20Gi", "4Gi", "1"),
}
DEVELOPMENT_MARIADB = ("2Gi", "512Mi", "100m")
DEVELOPMENT_REDIS = ("1Gi", "128Mi", "50m")
