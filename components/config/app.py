"""The application's sections (DESIGN.md "Stack config"): `release`, `frontend`, `php`, `backend`."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from components.config.base import _Strict
from components.config.images import PinnedImage
from components.config.tiers import Bounds


ReleaseStrategy = Literal["rolling", "canary", "blueGreen"]


class ReleaseSection(_Strict):
    """How a new image reaches users (`frontend.release`, `backend.release`).

    rolling   one track (`image`), replaced pod by pod.
    canary    track `stable` runs `image`, track `canary` runs `candidateImage` and receives
              `weight` % of requests.
    blueGreen track `blue` runs `image`, track `green` runs `candidateImage`; `active` gets all
              traffic, the other stays warm, so switching (and switching back) is one value.
    """

    strategy: ReleaseStrategy = "rolling"
    candidateImage: PinnedImage | None = None
    weight: int = Field(default=10, ge=0, le=100)
    active: Literal["blue", "green"] = "blue"

    @model_validator(mode="after")
    def _candidate(self) -> "ReleaseSection":
        if self.strategy != "rolling" and not self.candidateImage:
            raise ValueError(f"candidateImage: required by the {self.strategy} strategy")
        if self.strategy == "rolling" and self.candidateImage:
            raise ValueError("candidateImage: only used by the canary and blueGreen strategies")
        return self


class FrontendSection(_Strict):
    image: PinnedImage
    replicas: Bounds | None = None
    release: ReleaseSection = ReleaseSection()
    # The app must serve these: a cheap liveness/readiness route and Prometheus metrics
    # (e.g. prom-client); Next.js has neither built in.
    healthPath: str = Field(default="/api/health", pattern=r"^/[A-Za-z0-9/._-]*$")
    metricsPath: str = Field(default="/api/metrics", pattern=r"^/[A-Za-z0-9/._-]*$")


class PhpSection(_Strict):
    """PHP limits of the Laravel containers (nginx, php-fpm and php.ini agree on them)."""

    memoryLimitMb: int = Field(default=256, ge=64, le=4096)
    uploadMaxMb: int = Field(default=64, ge=1, le=2048)
    requestTimeout: int = Field(default=60, ge=5, le=900)
    # Expected resident memory of one php-fpm worker; sizes pm.max_children.
    workerMemoryMb: int = Field(default=48, ge=16, le=1024)


class BackendSection(_Strict):
    image: PinnedImage
    replicas: Bounds | None = None
    workers: Bounds | None = None
    release: ReleaseSection = ReleaseSection()
    php: PhpSection = PhpSection()
    # Redis queues the workers drain, highest priority first.
    queues: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]] = Field(
        default_factory=lambda: ["default"], min_length=1, max_length=10
    )
    # Longest a job may run; workers get this plus a margin as their termination grace period.
    jobTimeout: int = Field(default=300, ge=10, le=3600)
    # Queue length per worker replica that makes KEDA add a worker.
    jobsPerWorker: int = Field(default=20, ge=1, le=10000)
    # The application's own Prometheus route (docs/components.md, "Application metrics contract"):
    # scraped through nginx on the web port, answered 403 through the edge.
    metricsPath: str = Field(default="/metrics", pattern=r"^/[A-Za-z0-9/._-]*$")


# php-fpm's OPcache segment, and what the fpm master, OPcache and slack keep out of the workers'
# memory budget: the rendered php.ini (components/backend/files.py) and the database's
# connection sizing (components/data/mariadb.py) both follow from these.
OPCACHE_MB = 128
RESERVED_MB = OPCACHE_MB + 64


def php_max_children(memory_limit_mb: int, worker_mb: int) -> int:
    """php-fpm children one web pod runs: its memory limit, less the reserve, per worker."""
    return max(2, (memory_limit_mb - RESERVED_MB) // worker_mb)
