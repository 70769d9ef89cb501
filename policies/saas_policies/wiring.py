"""Stack rules for how objects refer to each other: references that resolve and rollouts that
never take capacity away. Under mocks and in `pulumi preview`, these are the mistakes that only
show up at 3 a.m. otherwise (a 404 from a missing middleware, a Service with no endpoints)."""

from __future__ import annotations

from typing import Any, Iterator

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import get, labels_match, pod_labels, resource_policy

INGRESS_ROUTE = "kubernetes:traefik.io/v1alpha1:IngressRoute"
MIDDLEWARE = "kubernetes:traefik.io/v1alpha1:Middleware"
SERVICE = "kubernetes:core/v1:Service"
WORKLOADS = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
)


def _identity(props: Any) -> tuple[str | None, str | None]:
    return get(props, "metadata", "namespace"), get(props, "metadata", "name")


def _middlewares_exist(args: StackValidationArgs, report: ReportViolation) -> None:
    declared = {_identity(r.props) for r in args.resources if r.resource_type == MIDDLEWARE}
    for route in (r for r in args.resources if r.resource_type == INGRESS_ROUTE):
        namespace = get(route.props, "metadata", "namespace")
        for rule in get(route.props, "spec", "routes", default=[]):
            for ref in rule.get("middlewares") or []:
                target = (ref.get("namespace") or namespace, ref.get("name"))
                if target not in declared:
                    report(
                        f"IngressRoute {namespace}/{get(route.props, 'metadata', 'name')} uses middleware "
                        f"{target[0]}/{target[1]}, which this stack does not declare: Traefik would reject the route",
                        route.urn,
                    )


def _services_select_pods(args: StackValidationArgs, report: ReportViolation) -> None:
    workloads = [(get(w.props, "metadata", "namespace"), pod_labels(w.resource_type, w.props))
                 for w in args.resources if w.resource_type in WORKLOADS]
    for service in (r for r in args.resources if r.resource_type == SERVICE):
        selector = get(service.props, "spec", "selector", default={})
        if not selector or get(service.props, "spec", "type") == "ExternalName":
            continue
        namespace = get(service.props, "metadata", "namespace")
        if not any(ns == namespace and labels_match(selector, labels) for ns, labels in workloads):
            report(
                f"Service {namespace}/{get(service.props, 'metadata', 'name')} selects no pods of any workload in "
                "this stack: it would have no endpoints",
                service.urn,
            )


def _safe_rollout(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != "kubernetes:apps/v1:Deployment":
        return
    strategy = get(args.props, "spec", "strategy", default={})
    kind = strategy.get("type", "RollingUpdate")
    name = get(args.props, "metadata", "name") or args.name
    if kind == "Recreate":
        if get(args.props, "spec", "replicas", default=1) != 1:
            yield f"Deployment {name} uses Recreate with more than one replica: every rollout is an outage"
        return
    unavailable = get(strategy, "rollingUpdate", "maxUnavailable", default="25%")
    if unavailable not in (0, "0", "0%"):
        yield (
            f"Deployment {name} may take {unavailable} of its pods down during a rollout; set "
            "maxUnavailable: 0 so new pods are ready before old ones go"
        )


POLICIES = [
    StackValidationPolicy(
        name="traefik-middlewares-exist",
        description="Every middleware an IngressRoute lists is declared in the stack (name and namespace).",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_middlewares_exist,
    ),
    StackValidationPolicy(
        name="k8s-services-select-pods",
        description="Every Service with a selector selects the pods of a workload declared in the stack.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_services_select_pods,
    ),
    resource_policy(
        "k8s-safe-rollout",
        "Deployments roll out with maxUnavailable 0; Recreate only for a single replica (exactly-one runners).",
        _safe_rollout,
    ),
]
