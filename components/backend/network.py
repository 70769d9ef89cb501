"""The backend's own NetworkPolicies, beyond the platform's label contract."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.backend.args import LaravelBackendArgs
from components.backend.settings import APP, REVERB_PORT
from components.backend.web import WEB_PORT


def network_policies(args: LaravelBackendArgs, opts: pulumi.ResourceOptions) -> None:
    """Outbound beyond the data layer (which the platform allows): SES SMTP (587), S3 and
    third-party APIs (443), the dev mail catcher in this namespace (1025) and Reverb's HTTP
    API (broadcasts stay in the cluster); inbound to Reverb from the PHP pods, and to the
    web pods from the frontend's server-side rendering."""
    a = args
    NP = k8s.networking.v1

    def port(number: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
        return NP.NetworkPolicyPortArgs(protocol="TCP", port=number)

    def pods(name: str, component: str | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
        labels = {"app.kubernetes.io/name": name, **({"app.kubernetes.io/component": component} if component else {})}
        return NP.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels))

    NP.NetworkPolicy(
        "backend-network",
        metadata=kube.metadata("backend-egress", "backend-web", a.namespace, app=APP),
        spec=NP.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": APP}),
            policy_types=["Egress"],
            egress=[
                NP.NetworkPolicyEgressRuleArgs(
                    to=[
                        NP.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": a.namespace}
                            )
                        )
                    ],
                    ports=[port(1025)],
                ),
                NP.NetworkPolicyEgressRuleArgs(to=[pods(APP, "websockets")], ports=[port(REVERB_PORT)]),
                NP.NetworkPolicyEgressRuleArgs(ports=[port(443), port(587)]),
            ],
        ),
        opts=opts,
    )
    # In the cluster: broadcasts from the PHP pods to Reverb's HTTP API, and server-side
    # rendering of the frontend calling the API's web pods.
    internal = {
        "backend-reverb-ingress": ("websockets", pods(APP), REVERB_PORT),
        "backend-web-ingress": ("backend-web", pods("frontend", "frontend"), WEB_PORT),
    }
    for name, (component, source, number) in internal.items():
        NP.NetworkPolicy(
            name,
            metadata=kube.metadata(name, component, a.namespace, app=APP),
            spec=NP.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}
                ),
                policy_types=["Ingress"],
                ingress=[NP.NetworkPolicyIngressRuleArgs(from_=[source], ports=[port(number)])],
            ),
            opts=opts,
        )
