"""Rules for the cluster platform: TLS on every route, one public entry, default-deny everywhere."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import get, resource_policy

INGRESS_ROUTE = "kubernetes:traefik.io/v1alpha1:IngressRoute"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# The one chart allowed to publish a LoadBalancer: the ingress controller.
INGRESS_CONTROLLER_CHART = "traefik"
EXPOSED_TYPES = {"LoadBalancer", "NodePort"}


def _ingress_route_tls(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != INGRESS_ROUTE:
        return
    spec = get(args.props, "spec", default={})
    entry_points = list(get(spec, "entryPoints", default=[]))
    name = get(args.props, "metadata", "name", default=args.name)
    if entry_points != ["websecure"]:
        yield (
            f"IngressRoute '{name}' listens on {entry_points or 'every entry point'}; list only "
            "entryPoints: [websecure] (port 80 only redirects to HTTPS)"
        )
    if not isinstance(get(spec, "tls"), Mapping):
        yield f"IngressRoute '{name}' has no tls section; add `tls: {{}}` to serve the default wildcard certificate"


def _exposed_types(value: Any, path: str = "") -> Iterator[str]:
    """Key paths in chart values that ask for a LoadBalancer or NodePort Service."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "type" and item in EXPOSED_TYPES:
                yield f"{here}={item}"
            else:
                yield from _exposed_types(item, here)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _exposed_types(item, f"{path}[{index}]")


def _no_exposed_services(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == SERVICE:
        kind = get(args.props, "spec", "type", default="ClusterIP")
        if kind in EXPOSED_TYPES:
            yield (
                f"Service '{get(args.props, 'metadata', 'name', default=args.name)}' is of type {kind}; only the "
                "ingress controller (Traefik) is exposed, route through an IngressRoute instead"
            )
    elif args.resource_type == HELM_RELEASE and get(args.props, "chart") != INGRESS_CONTROLLER_CHART:
        for found in _exposed_types(get(args.props, "values", default={})):
            yield (
                f"Helm release '{get(args.props, 'name', default=args.name)}' sets {found}; only the ingress "
                "controller (Traefik) publishes a LoadBalancer or NodePort Service"
            )


def _is_default_deny(props: Mapping[str, Any]) -> bool:
    spec = get(props, "spec", default={})
    selector = get(spec, "podSelector", default={})
    selects_all = not get(selector, "matchLabels") and not get(selector, "matchExpressions")
    types = set(get(spec, "policyTypes", default=[]))
    return selects_all and {"Ingress", "Egress"} <= types and not get(spec, "ingress") and not get(spec, "egress")


def _namespace_default_deny(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    denied = {
        get(r.props, "metadata", "namespace")
        for r in args.resources
        if r.resource_type == NETWORK_POLICY and _is_default_deny(r.props)
    }
    for resource in args.resources:
        if resource.resource_type != NAMESPACE:
            continue
        name = get(resource.props, "metadata", "name", default=resource.name)
        if name not in denied:
            report_violation(
                f"Namespace '{name}' has no default-deny NetworkPolicy (empty podSelector, policyTypes "
                "Ingress and Egress, no rules): every pod in it can talk to anything",
                resource.urn,
            )


POLICIES = [
    resource_policy(
        "traefik-ingressroute-tls",
        "Every Traefik IngressRoute listens only on the websecure entry point and has a tls section.",
        _ingress_route_tls,
    ),
    resource_policy(
        "k8s-no-exposed-services",
        "No Service of type LoadBalancer or NodePort (nor chart values asking for one) except the ingress controller's.",
        _no_exposed_services,
    ),
    StackValidationPolicy(
        name="k8s-namespace-default-deny",
        description="Every Namespace in the stack has a default-deny NetworkPolicy for ingress and egress.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_namespace_default_deny,
    ),
]
