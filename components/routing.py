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

A strategy change is a real rollout, not a swap of objects: the track that runs `image` (the
*primary*: rolling's only track, canary's `stable`, blue-green's `blue`) keeps the plain object
names (`frontend`, `backend-web`) and the selector label `saas-platform.io/track: stable` in
every strategy, so switching rolling -> canary -> rolling keeps its Deployment, Service, PDB
and HPA (and the replica count the HPA reached); promoting rolls it to the new image pod by
pod. Only the second track's objects come and go; a new one starts at the HPA's minimum.
Several tracks behind one host get a sticky cookie, so a browser stays on one build (a Server
Action posted to another build fails with "Failed to find Server Action").
"""

from __future__ import annotations

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
    primary track, so its names stay the plain ones in every strategy); image: what it runs;
    weight: share of requests in percent; label: the `saas-platform.io/track` selector value
    (`stable` for the primary track in every strategy: a Deployment's selector is immutable).
    """

    name: str
    suffix: str
    image: str
    weight: int
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", self.name)

    @property
    def primary(self) -> bool:
        return self.suffix == ""



def tracks(image: str, release: ReleaseSection) -> list[Track]:
    """The tracks a release strategy runs, in a fixed order."""
    if release.strategy == "rolling":
        return [Track("stable", "", image, 100)]
    candidate = release.candidateImage
    assert candidate is not None  # enforced by ReleaseSection
    if release.strategy == "canary":
        return [
            Track("stable", "", image, 100 - release.weight),
            Track("canary", "-canary", candidate, release.weight),
        ]
    blue_weight = 100 if release.active == "blue" else 0
    return [
        Track("blue", "", image, blue_weight, label=PRIMARY_LABEL),
        Track("green", "-green", candidate, 100 - blue_weight),
    ]


PRIMARY_LABEL = "stable"
STICKY_COOKIE = "saas_track"


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
                ],
                # Traefik v3.7 weighted round robin (traefik.io_traefikservices.yaml
                # `weighted.sticky.cookie`): the first answer sets a cookie naming the track,
                # later requests of that browser go to the same track.
                "sticky": {
                    "cookie": {"name": f"{STICKY_COOKIE}_{name.replace('-', '_')}", "secure": True, "httpOnly": True, "sameSite": "lax"}
                },
            }
        },
        opts=opts,
    )
    return RouteTarget([{"name": weighted_name, "kind": "TraefikService"}])


def internal_only_middleware(
    app: str, component: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """The `<app>-internal-only` Middleware: an allow-list nobody behind the edge matches, for
    the metrics and health routes Prometheus and the kubelet reach on the pods directly (through
    Traefik they answer 403)."""
    name = f"{app}-internal-only"
    return k8s.apiextensions.CustomResource(
        name,
        api_version=TRAEFIK_API,
        kind="Middleware",
        metadata=kube.metadata(name, component, namespace, app=app),
        spec={"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}},
        opts=opts,
    )
