"""The frontend's Deployment per release track: the Next.js standalone server and the
`seed-cache` init container.

ISR and route-cache entries are written next to the build output (`.next/server/app` and
`.next/server/pages`, Next.js v15 packages/next/src/server/lib/incremental-cache/
file-system-cache.ts), which the read-only root filesystem forbids: the `seed-cache` init
container copies them into emptyDirs mounted over those paths.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import routing
from components.frontend.args import FrontendAppArgs
from components.k8s import CHECKSUM_ANNOTATION
from components.platform.network import INGRESS_LABEL, INGRESS_VALUE, SCRAPE_LABEL

APP = "frontend"
COMPONENT = "frontend"
PORT = 3000
# The seed's auto-scaling triggers for the frontend.
CPU_TARGET, MEMORY_TARGET = 80, 70
# The standalone server's root in the image, and the build-output directories the incremental
# cache writes ISR pages and route responses into.
APP_ROOT = "/app"
ISR_DIRS = {"isr-app": ".next/server/app", "isr-pages": ".next/server/pages"}
SEED_ROOT = "/seed"


def track_deployment(
    args: FrontendAppArgs,
    track: routing.Track,
    settings: k8s.core.v1.ConfigMap,
    secret: k8s.core.v1.Secret,
    checksum: pulumi.Output[str],
    opts: pulumi.ResourceOptions,
) -> k8s.apps.v1.Deployment:
    cfg = args.config
    section = cfg.raw.frontend
    selector = selector_labels(track)
    container = k8s.core.v1.ContainerArgs(
        name="nextjs",
        image=track.image,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
        env=args.tracing.env("frontend") if args.tracing is not None else None,
        env_from=[
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=settings.metadata.name)),
            k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret.metadata.name)),
        ],
        resources=kube.resources(cfg.sizes.frontend),
        security_context=kube.container_security_context(),
        startup_probe=kube.startup_probe(section.healthPath, "http", budget_seconds=60),
        readiness_probe=kube.http_probe(section.healthPath, "http", period=5),
        liveness_probe=kube.http_probe(section.healthPath, "http", period=10, failures=3),
        lifecycle=kube.drain_before_stop(10),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            # The image optimizer's and the fetch cache (next/image, `fetch` revalidation).
            k8s.core.v1.VolumeMountArgs(name="next-cache", mount_path=f"{APP_ROOT}/.next/cache"),
            # ISR pages and route responses, seeded with the build's prerendered output.
            *[k8s.core.v1.VolumeMountArgs(name=volume, mount_path=f"{APP_ROOT}/{path}") for volume, path in ISR_DIRS.items()],
        ],
    )
    seed = k8s.core.v1.ContainerArgs(
        name="seed-cache",
        image=track.image,
        command=["sh", "-c", seed_cache_script()],
        resources=kube.resources(cfg.sizes.frontend),
        security_context=kube.container_security_context(),
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=volume, mount_path=f"{SEED_ROOT}/{volume}") for volume in ISR_DIRS
        ],
    )
    return k8s.apps.v1.Deployment(
        f"frontend{track.suffix}",
        metadata=kube.metadata(f"frontend{track.suffix}", COMPONENT, args.namespace, app=APP,
                               labels={"saas-platform.io/track": track.label}),
        spec=k8s.apps.v1.DeploymentSpecArgs(
            # No `replicas`: the HPA owns the count; setting it here would fight the HPA on
            # every `pulumi up`. The HPA's minReplicas applies from the first reconcile.
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            strategy=kube.rolling_update(),
            revision_history_limit=5,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    # The platform's label contract lets Traefik and Prometheus in.
                    labels={
                        **kube.recommended_labels(APP, COMPONENT),
                        **selector,
                        INGRESS_LABEL: INGRESS_VALUE,
                        SCRAPE_LABEL: "true",
                    },
                    # A changed setting or key rolls the pods (pulumi-kubernetes replaces
                    # the ConfigMap/Secret under the same name, which restarts nothing).
                    annotations={CHECKSUM_ANNOTATION: checksum},
                ),
                spec=kube.pod_spec(
                    [container],
                    init_containers=[seed],
                    selector=selector,
                    volumes=[
                        kube.tmp_volume(),
                        kube.tmp_volume("next-cache", "1Gi"),
                        *[kube.tmp_volume(volume, "1Gi") for volume in ISR_DIRS],
                    ],
                    termination_grace_seconds=40,
                ),
            ),
        ),
        opts=opts,
    )


def selector_labels(track: routing.Track) -> dict[str, str]:
    return {**kube.selector_labels(APP, COMPONENT), "saas-platform.io/track": track.label}


def seed_cache_script() -> str:
    """Shell of the `seed-cache` init container: copy the build's prerendered output into the
    writable emptyDirs (a build without the pages or app router has no such directory)."""
    return "\n".join(
        ["set -eu"]
        + [
            f"if [ -d {APP_ROOT}/{path} ]; then cp -R {APP_ROOT}/{path}/. {SEED_ROOT}/{volume}/; fi"
            for volume, path in ISR_DIRS.items()
        ]
    )
