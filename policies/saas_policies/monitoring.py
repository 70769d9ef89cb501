"""Rules for observability: every application workload is scraped by Prometheus."""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from saas_policies.common import exempt, get

RULE = "app-workloads-scraped"

# Namespaces whose Deployments and StatefulSets are "the application" (the platform's `app`
# concern). Data services are scraped through their exporters, owned by the data layer.
APP_NAMESPACES = ("saas-app",)
APP_WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet")
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
SERVICE = "kubernetes:core/v1:Service"


def _selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels + matchExpressions) against a label set. An empty or
    missing selector selects nothing here: a monitor must say what it scrapes."""
    if not selector:
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in expressions:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _in_namespaces(monitor: Mapping[str, Any], namespace: str) -> bool:
    """Whether a monitor's namespaceSelector covers `namespace` (default: its own namespace)."""
    selector = get(monitor, "spec", "namespaceSelector", default={})
    if selector.get("any"):
        return True
    names = selector.get("matchNames")
    if names:
        return namespace in names
    return get(monitor, "metadata", "namespace") == namespace


def unscraped_workloads(resources: Sequence[tuple[str, str, Mapping[str, Any]]]) -> Iterator[str]:
    """Names of application workloads no ServiceMonitor or PodMonitor selects.

    `resources` are (type, name, inputs). A PodMonitor selects pods by their template labels;
    a ServiceMonitor selects Services whose selector matches the pods.
    """
    monitors = [(t, props) for t, _, props in resources if t in (SERVICE_MONITOR, POD_MONITOR)]
    services = [props for t, _, props in resources if t == SERVICE]
    for resource_type, name, props in resources:
        if resource_type not in APP_WORKLOAD_TYPES:
            continue
        namespace = get(props, "metadata", "namespace")
        if namespace not in APP_NAMESPACES or exempt(props, RULE):
            continue
        pod_labels = get(props, "spec", "template", "metadata", "labels", default={})
        scraped = False
        for monitor_type, monitor in monitors:
            if not _in_namespaces(monitor, namespace):
                continue
            selector = get(monitor, "spec", "selector")
            if monitor_type == POD_MONITOR and _selects(selector, pod_labels):
                scraped = True
            if monitor_type == SERVICE_MONITOR:
                for service in services:
                    if get(service, "metadata", "namespace") != namespace:
                        continue
                    service_selector = get(service, "spec", "selector", default={})
                    targets_pods = bool(service_selector) and all(pod_labels.get(k) == v for k, v in service_selector.items())
                    if targets_pods and _selects(selector, get(service, "metadata", "labels", default={})):
                        scraped = True
            if scraped:
                break
        if not scraped:
            yield f"{get(props, 'kind')} {namespace}/{get(props, 'metadata', 'name') or name}"


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = [(r.resource_type, r.name, r.props) for r in args.resources]
    for workload in unscraped_workloads(resources):
        report_violation(
            f"{workload} is not selected by any ServiceMonitor or PodMonitor: Prometheus cannot see it, "
            "so its alerts and dashboards stay silent when it breaks",
            None,
        )


POLICIES = [
    StackValidationPolicy(
        name=RULE,
        description=(
            "Every application Deployment/StatefulSet (namespace saas-app) is selected by a ServiceMonitor "
            "or PodMonitor, so Prometheus scrapes it."
        ),
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_validate,
    ),
]
