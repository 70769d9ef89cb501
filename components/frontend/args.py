"""The inputs of FrontendApp."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi

from components.config import StackConfig
from components.contracts import MiddlewareRef, ReverbClient
from components.monitoring.tracing import OtlpExport


@dataclass(frozen=True)
class FrontendAppArgs:
    """Inputs of FrontendApp.

    config: resolved stack config (image, release strategy, replicas and sizes per tier).
    namespace: the application namespace.
    middlewares: shared Traefik middlewares applied to every route, in order (security headers,
        compression).
    api_internal_url: the API's in-cluster URL (LaravelBackend.internal_url) for server-side calls.
    reverb: the public Reverb settings for Laravel Echo in the browser (LaravelBackend.reverb).
    traefik_crds / monitoring_crds: resources that install the Traefik and Prometheus Operator
        CRDs; custom resources wait for them.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    middlewares: Sequence[MiddlewareRef]
    api_internal_url: pulumi.Input[str]
    reverb: ReverbClient
    traefik_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    monitoring_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    tracing: OtlpExport | None = None
    """OpenTelemetry SDK settings (components/monitoring/tracing.py); None when tracing is off."""
