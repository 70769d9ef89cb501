"""FrontendApp: the Next.js frontend (standalone output image) on `<domain>` and `www.<domain>`.

Per release track (see `components/routing.py`) a Deployment, Service, HorizontalPodAutoscaler
and, from two replicas up, a PodDisruptionBudget; shared by the tracks: the settings
ConfigMap, the Secret with `NEXT_SERVER_ACTIONS_ENCRYPTION_KEY` (generated once, so every
replica and every release decrypts the others' Server Action payloads), the IngressRoute, the
www→apex redirect, a ServiceMonitor and the NetworkPolicy.

Version skew: each track gets `NEXT_DEPLOYMENT_ID` derived from its image, which the app passes
as `deploymentId` in next.config.js so a client built for one release is told to reload
instead of calling a server of another. `output: 'standalone'` does not copy `public/` and
`.next/static`: the image must, and assets are served from `static.<domain>` (`ASSET_PREFIX`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components import routing
from components.config import StackConfig
from components.contracts import MiddlewareRef
from components.platform.network import INGRESS_LABEL, INGRESS_VALUE, SCRAPE_LABEL

TYPE = "saas-platform:index:FrontendApp"
APP = "frontend"
COMPONENT = "frontend"
PORT = 3000
# The seed's auto-scaling triggers for the frontend.
CPU_TARGET, MEMORY_TARGET = 80, 70


@dataclass(frozen=True)
class FrontendAppArgs:
    """Inputs of FrontendApp.

    config: resolved stack config (image, release strategy, replicas and sizes per tier).
    namespace: the application namespace.
    middlewares: shared Traefik middlewares applied to every route, in order (security headers,
        compression).
    traefik_crds / monitoring_crds: resources that install the Traefik and Prometheus Operator
        CRDs; custom resources wait for them.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    middlewares: Sequence[MiddlewareRef]
    traefik_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    monitoring_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)


class FrontendApp(pulumi.ComponentResource):
    """Next.js with autoscaling, disruption budgets and canary / blue-green releases."""

    url: pulumi.Output[str]
    """Public URL of the frontend (`https://<domain>`)."""
    tracks: list[routing.Track]
    """The running release tracks (one for rolling, two for canary and blue-green)."""

    def __init__(self, name: str, args: FrontendAppArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        section = cfg.raw.frontend
        child = pulumi.ResourceOptions(parent=self)
        ns = args.namespace

        encryption_key = random.RandomBytes(
            "frontend-server-actions-key",
            length=32,
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.protect),
        )
        secret = k8s.core.v1.Secret(
            "frontend-secrets",
            metadata=kube.metadata("frontend-secrets", COMPONENT, ns, app=APP),
            type="Opaque",
            string_data={"NEXT_SERVER_ACTIONS_ENCRYPTION_KEY": encryption_key.base64},
            opts=child,
        )
        settings = k8s.core.v1.ConfigMap(
            "frontend-config",
            metadata=kube.metadata("frontend-config", COMPONENT, ns, app=APP),
            data={
                "NODE_ENV": "production",
                "PORT": str(PORT),
                "HOSTNAME": "0.0.0.0",  # the standalone server binds HOSTNAME; all interfaces
                "NEXT_TELEMETRY_DISABLED": "1",
                "APP_URL": f"https://{cfg.domain}",
                "API_URL": f"https://app.{cfg.domain}",
                "ASSET_PREFIX": f"https://static.{cfg.domain}",
            },
            opts=child,
        )

        self.tracks = routing.tracks(section.image, section.release)
        services: list[pulumi.Input[str]] = []
        for track in self.tracks:
            deployment = self._deployment(args, track, settings, secret, child)
            service = k8s.core.v1.Service(
                f"frontend{track.suffix}",
                metadata=kube.metadata(f"frontend{track.suffix}", COMPONENT, ns, app=APP),
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector=_selector(track),
                    ports=[k8s.core.v1.ServicePortArgs(name="http", port=PORT, target_port="http")],
                ),
                opts=child,
            )
            services.append(service.metadata.name)
            bounds = cfg.replicas.frontend
            kube.autoscaler(
                f"frontend{track.suffix}", COMPONENT, ns, deployment.metadata.name,
                min_replicas=bounds.min, max_replicas=bounds.max,
                cpu_percent=CPU_TARGET, memory_percent=MEMORY_TARGET, app=APP, opts=child,
            )
            if bounds.min >= 2:
                kube.disruption_budget(f"frontend{track.suffix}", COMPONENT, ns, _selector(track), app=APP, opts=child)

        crd_opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.traefik_crds))
        target = routing.route_target("frontend", COMPONENT, ns, PORT, self.tracks, services, crd_opts)
        self._routes(args, target, crd_opts)
        self._observability_and_network(args, child)

        self.url = pulumi.Output.from_input(f"https://{cfg.domain}")
        self.register_outputs({"url": self.url, "tracks": [t.name for t in self.tracks]})

    def _deployment(
        self,
        args: FrontendAppArgs,
        track: routing.Track,
        settings: k8s.core.v1.ConfigMap,
        secret: k8s.core.v1.Secret,
        opts: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.Deployment:
        cfg = args.config
        section = cfg.raw.frontend
        selector = _selector(track)
        container = k8s.core.v1.ContainerArgs(
            name="nextjs",
            image=track.image,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PORT)],
            env_from=[
                k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=settings.metadata.name)),
                k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=secret.metadata.name)),
            ],
            env=[k8s.core.v1.EnvVarArgs(name="NEXT_DEPLOYMENT_ID", value=track.deployment_id)],
            resources=kube.resources(cfg.sizes.frontend),
            security_context=kube.container_security_context(),
            startup_probe=kube.startup_probe(section.healthPath, "http", budget_seconds=60),
            readiness_probe=kube.http_probe(section.healthPath, "http", period=5),
            liveness_probe=kube.http_probe(section.healthPath, "http", period=10, failures=3),
            lifecycle=kube.drain_before_stop(10),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                # The image cache (next/image) and ISR pages are written here at run time.
                k8s.core.v1.VolumeMountArgs(name="next-cache", mount_path="/app/.next/cache"),
            ],
        )
        return k8s.apps.v1.Deployment(
            f"frontend{track.suffix}",
            metadata=kube.metadata(f"frontend{track.suffix}", COMPONENT, args.namespace, app=APP,
                                   labels={"saas-platform.io/track": track.name}),
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
                    ),
                    spec=kube.pod_spec(
                        [container],
                        selector=selector,
                        volumes=[kube.tmp_volume(), kube.tmp_volume("next-cache", "1Gi")],
                        termination_grace_seconds=40,
                    ),
                ),
            ),
            opts=opts,
        )

    def _routes(self, args: FrontendAppArgs, target: routing.RouteTarget, opts: pulumi.ResourceOptions) -> None:
        domain = args.config.domain
        redirect = k8s.apiextensions.CustomResource(
            "frontend-www-redirect",
            api_version=routing.TRAEFIK_API,
            kind="Middleware",
            metadata=kube.metadata("frontend-www-redirect", COMPONENT, args.namespace, app=APP),
            spec={
                "redirectRegex": {
                    "regex": rf"^https?://www\.{_escape(domain)}/(.*)",
                    "replacement": f"https://{domain}/${{1}}",
                    "permanent": True,
                }
            },
            opts=opts,
        )
        shared = [m.as_route_ref() for m in args.middlewares]
        k8s.apiextensions.CustomResource(
            "frontend",
            api_version=routing.TRAEFIK_API,
            kind="IngressRoute",
            metadata=kube.metadata("frontend", COMPONENT, args.namespace, app=APP),
            spec={
                "entryPoints": ["websecure"],
                "routes": [
                    {
                        "kind": "Rule",
                        "match": f"Host(`{domain}`)",
                        "middlewares": shared,
                        "services": target.refs,
                    },
                    {
                        "kind": "Rule",
                        "match": f"Host(`www.{domain}`)",
                        "middlewares": [{"name": "frontend-www-redirect", "namespace": args.namespace}, *shared],
                        "services": target.refs,
                    },
                ],
                # The platform's wildcard certificate is Traefik's default (TLSStore `default`).
                "tls": {},
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[redirect])),
        )

    def _observability_and_network(self, args: FrontendAppArgs, opts: pulumi.ResourceOptions) -> None:
        section = args.config.raw.frontend
        k8s.apiextensions.CustomResource(
            "frontend-metrics",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=kube.metadata("frontend", COMPONENT, args.namespace, app=APP),
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": COMPONENT}},
                "endpoints": [{"port": "http", "path": section.metricsPath, "interval": "30s"}],
            },
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(args.monitoring_crds))),
        )
        app_pods = k8s.meta.v1.LabelSelectorArgs(
            match_labels={"app.kubernetes.io/name": APP, "app.kubernetes.io/component": COMPONENT}
        )
        # Inbound (Traefik, Prometheus) is opened by the platform's label contract; outbound,
        # server-side rendering calls the API on its public name (through the edge, like a
        # browser) and third-party APIs: HTTPS, nothing else.
        k8s.networking.v1.NetworkPolicy(
            "frontend-network",
            metadata=kube.metadata("frontend-egress", COMPONENT, args.namespace, app=APP),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=app_pods,
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=443)]
                    )
                ],
            ),
            opts=opts,
        )


def _selector(track: routing.Track) -> dict[str, str]:
    return {**kube.selector_labels(APP, COMPONENT), "saas-platform.io/track": track.name}


def _escape(domain: str) -> str:
    return domain.replace(".", r"\.")
