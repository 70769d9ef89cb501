"""The frontend's ServiceMonitor and NetworkPolicy."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.frontend.args import FrontendAppArgs
from components.frontend.deployment import APP, COMPONENT


def observability_and_network(args: FrontendAppArgs, opts: pulumi.ResourceOptions) -> None:
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
    # server-side rendering calls the API's web pods in this namespace (their port 8080;
    # the backend admits it) and third-party APIs over HTTPS, nothing else.
    k8s.networking.v1.NetworkPolicy(
        "frontend-network",
        metadata=kube.metadata("frontend-egress", COMPONENT, args.namespace, app=APP),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=app_pods,
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"app.kubernetes.io/name": "backend", "app.kubernetes.io/component": "backend-web"}
                            )
                        )
                    ],
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=8080)],
                ),
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=443)]
                ),
            ],
        ),
        opts=opts,
    )
