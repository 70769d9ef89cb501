"""Release routing: the tracks a workload runs and the weighted TraefikService in front of them.

FrontendApp and LaravelBackend share this so that rolling, canary and blue-green releases
behave the same everywhere, driven by one config section (`<app>.release`):

- rolling: one track; the route points straight at its Service.
- canary: tracks `stable` (the current image) and `canary` (the candidate) behind a weighted
  TraefikService, the canary getting `weight` % of requests.
- blueGreen: tracks `blue` and `green`, both running; the active colour gets 100 %, the other
  0 % (weight 0 keeps it warm and reachable for a smoke test through its own Service).

Promoting is a config change: set `image` to the candidate and go back to `rolling` (canary),
or flip `active` (blue-green). Switching back is the same one-value change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ReleaseSection

TRAEFIK_API = "traefik.io/v1alpha1"


@dataclass(frozen=True)
class Track:
    """One running version of a workload.

    name: `stable`, `canary`, `blue` or `green`; suffix: appended to object names ("" for the
    only track of a rolling release, so its names stay the plain ones); image: what it runs;
    weight: share of requests in percent.
    """

    name: str
    suffix: str
    image: str
    weight: int

    @property
    def deployment_id(self) -> str:
        """A stable id per image: Next.js `deploymentId` / cache-busting for version skew."""
        return hashlib.sha256(self.image.encode()).hexdigest()[:12]


def tracks(image: str, release: ReleaseSection) -> list[Track]:
    """The tracks a release strategy runs, in a fixed order."""
    if release.strategy == "rolling":
        return [Track("stable", "", image, 100)]
    candidate = release.candidateImage
    assert candidate is not None  # enforced by ReleaseSection
    if release.strategy == "canary":
        return [
            Track("stable", "-stable", image, 100 - release.weight),
            Track("canary", "-canary", candidate, release.weight),
        ]
    blue_weight = 100 if release.active == "blue" else 0
    return [
        Track("blue", "-blue", image, blue_weight),
        Track("green", "-green", candidate, 100 - blue_weight),
    ]


@dataclass(frozen=True)
class RouteTarget:
    """What an IngressRoute route lists under `services`."""

    refs: list[dict[str, object]]


def route_target(
    name: str,
    component: str,
    namespace: pulumi.Input[str],
    port: int,
    release_tracks: Sequence[Track],
    service_names: Sequence[pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> RouteTarget:
    """Route straight to the only Service, or build a weighted TraefikService over the tracks.

    `service_names[i]` is the Kubernetes Service of `release_tracks[i]`. `opts` must carry the
    parent and a `depends_on` on the release that installs Traefik's CRDs.
    """
    if len(release_tracks) == 1:
        return RouteTarget([{"name": service_names[0], "port": port}])
    weighted_name = f"{name}-weighted"
    k8s.apiextensions.CustomResource(
        weighted_name,
        api_version=TRAEFIK_API,
        kind="TraefikService",
        metadata=kube.metadata(weighted_name, component, namespace, app=name),
        spec={
            "weighted": {
                "services": [
                    {"name": service, "port": port, "weight": track.weight}
                    for track, service in zip(release_tracks, service_names)
                ]
            }
        },
        opts=opts,
    )
    return RouteTarget([{"name": weighted_name, "kind": "TraefikService"}])
