"""Rules for every Kubernetes object the program declares."""

from __future__ import annotations

import re
from typing import Iterator

from pulumi_policy import ResourceValidationArgs

from saas_policies.common import containers, get, is_k8s_object, pod_spec, resource_policy

RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
POD_TEMPLATE_LABELS = RECOMMENDED_LABELS[:3]

_DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")


def _explicit_name(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_k8s_object(args.resource_type, args.props):
        return
    name = get(args.props, "metadata", "name")
    autonamed = get(args.props, "metadata", "annotations", "pulumi.com/autonamed") == "true"
    if not name or autonamed:
        yield (
            f"{args.props.get('kind')} '{args.name}' has no explicit metadata.name; Pulumi would add a "
            "random suffix, so manifests stop being deterministic and other objects cannot refer to it"
        )


def _recommended_labels(args: ResourceValidationArgs) -> Iterator[str]:
    if not is_k8s_object(args.resource_type, args.props):
        return
    labels = get(args.props, "metadata", "labels", default={})
    missing = [label for label in RECOMMENDED_LABELS if not labels.get(label)]
    if missing:
        yield f"{args.props.get('kind')} '{args.name}' lacks the recommended labels: {', '.join(missing)}"
    if labels.get("app.kubernetes.io/part-of") not in (None, "saas-platform"):
        yield f"{args.props.get('kind')} '{args.name}': app.kubernetes.io/part-of must be saas-platform"
    if labels.get("app.kubernetes.io/managed-by") not in (None, "pulumi"):
        yield f"{args.props.get('kind')} '{args.name}': app.kubernetes.io/managed-by must be pulumi"
    spec = pod_spec(args.resource_type, args.props)
    if spec is not None:
        template = get(args.props, "spec", "template", "metadata", "labels", default=None)
        if args.resource_type == "kubernetes:batch/v1:CronJob":
            template = get(args.props, "spec", "jobTemplate", "spec", "template", "metadata", "labels", default=None)
        if args.resource_type == "kubernetes:core/v1:Pod":
            template = labels
        absent = [label for label in POD_TEMPLATE_LABELS if not (template or {}).get(label)]
        if absent:
            yield f"{args.props.get('kind')} '{args.name}': pod template lacks the labels {', '.join(absent)}"


def image_problem(image: str | None) -> str | None:
    """Why an image reference is not pinned, or None when it is."""
    if not image:
        return "has no image"
    if _DIGEST.search(image):
        return None
    last = image.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image '{image}' has no tag"
    if last.rsplit(":", 1)[1] == "latest":
        return f"image '{image}' uses :latest"
    return None


def _pinned_images(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(pod_spec(args.resource_type, args.props)):
        problem = image_problem(container.get("image"))
        if problem:
            yield f"{args.props.get('kind')} '{args.name}' container '{container.get('name')}' {problem}; pin a version tag or digest"


def _resources_set(args: ResourceValidationArgs) -> Iterator[str]:
    for container in containers(pod_spec(args.resource_type, args.props)):
        requests = get(container, "resources", "requests", default={})
        limits = get(container, "resources", "limits", default={})
        missing = [f"requests.{k}" for k in ("cpu", "memory") if not requests.get(k)]
        missing += ["limits.memory"] if not limits.get("memory") else []
        if missing:
            yield (
                f"{args.props.get('kind')} '{args.name}' container '{container.get('name')}' lacks "
                f"{', '.join(missing)}: without them the scheduler over-packs nodes and the OOM killer picks victims"
            )


POLICIES = [
    resource_policy(
        "k8s-explicit-name",
        "Every Kubernetes object sets metadata.name explicitly (deterministic manifests, stable references).",
        _explicit_name,
    ),
    resource_policy(
        "k8s-recommended-labels",
        "Every Kubernetes object carries the app.kubernetes.io recommended labels (name, instance, component, part-of, managed-by).",
        _recommended_labels,
    ),
    resource_policy(
        "k8s-pinned-images",
        "Every container image is pinned by a version tag or digest, never untagged or :latest.",
        _pinned_images,
    ),
    resource_policy(
        "k8s-container-resources",
        "Every container declares CPU and memory requests and a memory limit.",
        _resources_set,
    ),
]
