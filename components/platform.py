"""ClusterPlatform: the cluster-wide ground the applications stand on.

This module owns the namespaces (one per concern) with their Pod Security Standards labels and
the network baseline of each: deny all ingress and egress, then allow DNS. Everything a
workload needs beyond that is an explicit NetworkPolicy next to the workload that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import StackConfig

TYPE = "saas-platform:index:ClusterPlatform"


@dataclass(frozen=True)
class NamespaceSpec:
    """One namespace: its concern (the `component` label) and its Pod Security level."""

    name: str
    concern: str
    pod_security: str = "restricted"


# One namespace per concern, so NetworkPolicies and Pod Security levels follow the concern.
NAMESPACES: tuple[NamespaceSpec, ...] = (
    NamespaceSpec("saas-ingress", "ingress"),
    NamespaceSpec("saas-app", "app"),
    NamespaceSpec("saas-data", "data"),
    NamespaceSpec("saas-monitoring", "monitoring"),
)

# The Kubernetes version whose Pod Security Standards we pin, so a cluster upgrade does not
# silently tighten or loosen what is admitted.
POD_SECURITY_VERSION = "v1.32"


@dataclass(frozen=True)
class ClusterPlatformArgs:
    """Inputs of ClusterPlatform.

    config: the resolved stack configuration (environment decides redundancy and issuers).
    """

    config: StackConfig


class ClusterPlatform(pulumi.ComponentResource):
    """Namespaces with Pod Security labels and default-deny network policies."""

    namespaces: dict[str, pulumi.Output[str]]
    """Namespace name per concern (`ingress`, `app`, `data`, `monitoring`)."""

    def __init__(self, name: str, args: ClusterPlatformArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.namespaces = {}
        for spec in NAMESPACES:
            namespace = k8s.core.v1.Namespace(
                spec.name,
                metadata=kube.metadata(
                    spec.name,
                    "namespace",
                    labels=_pod_security_labels(spec.pod_security),
                ),
                opts=child,
            )
            ns_name = namespace.metadata.name
            _default_deny(spec.name, ns_name, child)
            self.namespaces[spec.concern] = ns_name

        self.register_outputs({"namespaces": self.namespaces})


def _pod_security_labels(level: str) -> dict[str, str]:
    labels = {}
    for mode in ("enforce", "audit", "warn"):
        labels[f"pod-security.kubernetes.io/{mode}"] = level
        labels[f"pod-security.kubernetes.io/{mode}-version"] = POD_SECURITY_VERSION
    return labels


def _default_deny(prefix: str, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """Deny all traffic in the namespace, then allow DNS lookups to the cluster resolver."""
    k8s.networking.v1.NetworkPolicy(
        f"{prefix}-default-deny",
        metadata=kube.metadata("default-deny", "network-policy", namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Ingress", "Egress"],
        ),
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{prefix}-allow-dns",
        metadata=kube.metadata("allow-dns", "network-policy", namespace),
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(),
            policy_types=["Egress"],
            egress=[
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                    to=[
                        k8s.networking.v1.NetworkPolicyPeerArgs(
                            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": "kube-system"}
                            ),
                            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                match_labels={"k8s-app": "kube-dns"}
                            ),
                        )
                    ],
                    ports=[
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                        k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                    ],
                )
            ],
        ),
        opts=opts,
    )
