"""The frontend's IngressRoute on `<domain>` and `www.<domain>` (www redirects to the apex),
and the internal-only metrics and health paths."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import routing
from components.frontend.args import FrontendAppArgs
from components.frontend.deployment import APP, COMPONENT


def routes(args: FrontendAppArgs, target: routing.RouteTarget, opts: pulumi.ResourceOptions) -> None:
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
    # The metrics and health routes are for Prometheus and the kubelet, which reach the pods
    # directly: through the edge they answer 403 (an allow-list nobody matches).
    internal_only = routing.internal_only_middleware(APP, COMPONENT, args.namespace, opts)
    section = args.config.raw.frontend
    internal_paths = f"(Path(`{section.metricsPath}`) || Path(`{section.healthPath}`))"
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
                {
                    "kind": "Rule",
                    "match": f"(Host(`{domain}`) || Host(`www.{domain}`)) && {internal_paths}",
                    "priority": 1000,
                    "middlewares": [{"name": "frontend-internal-only", "namespace": args.namespace}],
                    "services": target.refs,
                },
            ],
            # The platform's wildcard certificate is Traefik's default (TLSStore `default`).
            "tls": {},
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[redirect, internal_only])),
    )


def _escape(domain: str) -> str:
    return domain.replace(".", r"\.")
