"""Small helpers shared by the rule modules."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

K8S_PREFIX = "kubernetes:"
# Kubernetes resource types that are Pulumi constructs rather than API objects.
K8S_NOT_OBJECTS = ("kubernetes:helm.sh/v3:Release", "kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml/v2:ConfigGroup")

WORKLOAD_KINDS = {
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:core/v1:Pod",
}


def is_k8s_object(resource_type: str, props: Mapping[str, Any]) -> bool:
    return (
        resource_type.startswith(K8S_PREFIX)
        and resource_type not in K8S_NOT_OBJECTS
        and not resource_type.startswith("pulumi:providers:")
        and "kind" in props
    )


def get(value: Any, *path: str | int, default: Any = None) -> Any:
    """Walk nested mappings/lists; `default` when any step is missing."""
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return default
        if value is None:
            return default
    return value


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a workload object, wherever its kind keeps it."""
    if resource_type not in WORKLOAD_KINDS:
        return None
    if resource_type == "kubernetes:core/v1:Pod":
        return get(props, "spec")
    if resource_type == "kubernetes:batch/v1:CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", "spec")
    return get(props, "spec", "template", "spec")


def containers(spec: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    if not spec:
        return
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            yield container


def resource_policy(
    name: str,
    description: str,
    check: Callable[[ResourceValidationArgs], Iterator[str]],
    level: EnforcementLevel = EnforcementLevel.MANDATORY,
    config_schema: PolicyConfigSchema | None = None,
) -> ResourceValidationPolicy:
    """A ResourceValidationPolicy whose `check` yields one message per violation; a rule that
    reads `args.get_config()` declares what it reads in `config_schema`."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=name, description=description, enforcement_level=level, validate=validate, config_schema=config_schema
    )


ENVIRONMENTS = ("development", "staging", "production")
ENVIRONMENT_SCHEMA = {"environment": {"type": "string", "enum": list(ENVIRONMENTS)}}


def environment(config: Mapping[str, Any] | None) -> str:
    """The environment a rule judges: its policy config (`--policy-pack-config
    policies/config/<env>.json`), else the stack's own `saas-platform:environment` when the
    engine passes stack config to the pack, else production, the strictest."""
    value = (config or {}).get("environment")
    if value in ENVIRONMENTS:
        return str(value)
    try:
        import pulumi

        stack_value = pulumi.Config("saas-platform").get("environment")
    except Exception:  # noqa: BLE001 - no Pulumi runtime configured: fall back below
        stack_value = None
    return stack_value if stack_value in ENVIRONMENTS else "production"


def labels_match(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None) -> bool:
    """Whether a matchLabels selector selects an object with these labels."""
    if not selector:
        return False
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_labels(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, str]:
    if resource_type == "kubernetes:batch/v1:CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", "metadata", "labels", default={})
    if resource_type == "kubernetes:core/v1:Pod":
        return get(props, "metadata", "labels", default={})
    return get(props, "spec", "template", "metadata", "labels", default={})


# A documented, per-object exception: `policy.saas-platform.io/exempt: "rule-a,rule-b: why"`.
# The reason is mandatory (and shows in the manifest and the diff); without one the object is
# judged like any other.
EXEMPT_ANNOTATION = "policy.saas-platform.io/exempt"
MIN_REASON_LENGTH = 20


def exempt(props: Mapping[str, Any], rule: str) -> bool:
    """Whether the object carries a reasoned exemption from `rule`."""
    value = get(props, "metadata", "annotations", EXEMPT_ANNOTATION, default="")
    rules, _, reason = str(value).partition(":")
    named = {r.strip() for r in rules.split(",")}
    return rule in named and len(reason.strip()) >= MIN_REASON_LENGTH
