"""Shared Kubernetes building blocks: recommended labels, object metadata, restricted pod defaults.

Every component builds its objects through these helpers so that labels, security context,
probes and resource settings are decided once. Labels are applied here rather than through a
stack transform because transforms do not run under the mocks our offline synthesis uses.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.config import ContainerSize

PART_OF = "saas-platform"
MANAGED_BY = "pulumi"


def recommended_labels(name: str, component: str) -> dict[str, str]:
    """The `app.kubernetes.io/*` labels every object carries; `instance` is the stack name."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": pulumi.get_stack(),
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def selector_labels(name: str, component: str) -> dict[str, str]:
    """The immutable subset used in Deployment selectors and Service selectors."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": pulumi.get_stack(),
        "app.kubernetes.io/component": component,
    }


EXEMPT_ANNOTATION = "policy.saas-platform.io/exempt"


def policy_exemption(rules: Sequence[str], reason: str) -> dict[str, str]:
    """The annotation that exempts one object from named policy rules, with the reason a
    reviewer reads in the manifest (see `policies/saas_policies/common.py`)."""
    return {EXEMPT_ANNOTATION: f"{','.join(rules)}: {reason}"}


def metadata(
    name: str,
    component: str,
    namespace: pulumi.Input[str] | None = None,
    *,
    app: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, pulumi.Input[str]] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """Explicit `metadata.name` (deterministic manifests, no auto-suffix) plus recommended labels.

    `app` is the `app.kubernetes.io/name` value when it differs from the object name (a
    ConfigMap of the frontend is named `frontend-env` but belongs to app `frontend`).
    """
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={**recommended_labels(app or name, component), **(labels or {})},
        annotations=dict(annotations) if annotations else None,
    )


# ------------------------------------------------------------------------------------------
# Restricted pod defaults (Pod Security Standards "restricted" profile)
# ------------------------------------------------------------------------------------------

# A UID/GID outside the range distributions give to system users, so a container never
# shares an identity with a host account.
DEFAULT_UID = 10001


# The restricted security context, defined once as the plain camelCase maps Helm values and
# operator custom resources take; the SDK's Args for pod specs are derived from the same maps.


def restricted_pod_security(uid: int = DEFAULT_UID) -> dict[str, object]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security(
    uid: int = DEFAULT_UID, *, read_only_root: bool = True, seccomp: bool = False
) -> dict[str, object]:
    """`seccomp`: state the RuntimeDefault profile here too (the pod's context already does)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        **({"seccompProfile": {"type": "RuntimeDefault"}} if seccomp else {}),
    }


def _snake_case(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def pod_security_context(uid: int = DEFAULT_UID) -> k8s.core.v1.PodSecurityContextArgs:
    """`restricted_pod_security` as the SDK's Args."""
    return k8s.core.v1.PodSecurityContextArgs(**{_snake_case(k): v for k, v in restricted_pod_security(uid).items()})


def container_security_context(uid: int = DEFAULT_UID) -> k8s.core.v1.SecurityContextArgs:
    """`restricted_container_security` as the SDK's Args, with the seccomp profile stated on
    the container too."""
    values = restricted_container_security(uid, seccomp=True)
    return k8s.core.v1.SecurityContextArgs(**{_snake_case(k): v for k, v in values.items()})


def resource_values(size: ContainerSize) -> dict[str, dict[str, str]]:
    """Requests for CPU and memory, a limit for memory only (see `ContainerSize`), as plain
    values: the `resources:` of a Helm chart or a custom resource."""
    return {"requests": {"cpu": size.cpu, "memory": size.memory}, "limits": {"memory": size.memory_limit}}


def resources(size: ContainerSize) -> k8s.core.v1.ResourceRequirementsArgs:
    """The same requests and limit for a container we define ourselves."""
    values = resource_values(size)
    return k8s.core.v1.ResourceRequirementsArgs(requests=values["requests"], limits=values["limits"])


_UNITS = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}


def mebibytes(quantity: str) -> int:
    """`512Mi` -> 512, `2Gi` -> 2048 (the binary-suffix memory quantities we use)."""
    for suffix, factor in _UNITS.items():
        if quantity.endswith(suffix):
            return int(float(quantity[: -len(suffix)]) * factor)
    raise ValueError(f"unsupported memory quantity {quantity!r}; use Ki, Mi, Gi or Ti")


def http_probe(
    path: str,
    port: int | str,
    *,
    period: int = 10,
    timeout: int = 3,
    failures: int = 3,
    initial_delay: int = 0,
) -> k8s.core.v1.ProbeArgs:
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        timeout_seconds=timeout,
        failure_threshold=failures,
        initial_delay_seconds=initial_delay or None,
    )


def startup_probe(path: str, port: int | str, *, budget_seconds: int = 120) -> k8s.core.v1.ProbeArgs:
    """Give slow starts `budget_seconds` before liveness takes over, probing every 5 s."""
    return http_probe(path, port, period=5, failures=max(1, budget_seconds // 5))


def tmp_volume(name: str = "tmp", size_limit: str = "256Mi") -> k8s.core.v1.VolumeArgs:
    """A writable scratch directory for a read-only root filesystem."""
    return k8s.core.v1.VolumeArgs(
        name=name, empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size_limit)
    )


def topology_spread(
    selector: Mapping[str, str], *, hard_zones: bool = False
) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
    """Spread replicas across zones, then nodes. Zone spreading is soft by default so a
    single-zone cluster (a laptop, a small staging cluster) still schedules every pod."""
    label_selector = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector))
    return [
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="topology.kubernetes.io/zone",
            when_unsatisfiable="DoNotSchedule" if hard_zones else "ScheduleAnyway",
            label_selector=label_selector,
        ),
        k8s.core.v1.TopologySpreadConstraintArgs(
            max_skew=1,
            topology_key="kubernetes.io/hostname",
            when_unsatisfiable="ScheduleAnyway",
            label_selector=label_selector,
        ),
    ]


def pod_spec(
    containers: Sequence[k8s.core.v1.ContainerArgs],
    *,
    selector: Mapping[str, str],
    volumes: Sequence[k8s.core.v1.VolumeArgs] = (),
    init_containers: Sequence[k8s.core.v1.ContainerArgs] = (),
    termination_grace_seconds: int = 30,
    service_account: str | None = None,
    spread: bool = True,
    uid: int = DEFAULT_UID,
    restart_policy: str | None = None,
) -> k8s.core.v1.PodSpecArgs:
    """A pod spec with the project's defaults: restricted security context, no service
    account token unless the workload talks to the Kubernetes API, graceful shutdown and
    topology spreading."""
    return k8s.core.v1.PodSpecArgs(
        containers=list(containers),
        init_containers=list(init_containers) or None,
        volumes=list(volumes) or None,
        security_context=pod_security_context(uid),
        automount_service_account_token=service_account is not None,
        service_account_name=service_account,
        enable_service_links=False,
        termination_grace_period_seconds=termination_grace_seconds,
        topology_spread_constraints=topology_spread(selector) if spread else None,
        restart_policy=restart_policy,
    )


def drain_before_stop(seconds: int = 10) -> k8s.core.v1.LifecycleArgs:
    """Sleep before SIGTERM so endpoints controllers and Traefik stop routing to the pod
    first. The kubelet's own sleep action needs no shell in the image (Kubernetes ≥ 1.30)."""
    return k8s.core.v1.LifecycleArgs(
        pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=seconds))
    )


def rolling_update(max_surge: str = "25%") -> k8s.apps.v1.DeploymentStrategyArgs:
    """Never take a serving pod away before its replacement is ready."""
    return k8s.apps.v1.DeploymentStrategyArgs(
        type="RollingUpdate",
        rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=max_surge),
    )


def autoscaler(
    name: str,
    component: str,
    namespace: pulumi.Input[str],
    deployment: pulumi.Input[str],
    *,
    min_replicas: int,
    max_replicas: int,
    cpu_percent: int,
    memory_percent: int,
    app: str | None = None,
    opts: pulumi.ResourceOptions,
) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    """An autoscaling/v2 HPA on CPU and memory utilisation that scales up fast and down slowly
    (five minutes of stabilisation, at most half the pods per minute) to avoid flapping."""
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        name,
        metadata=metadata(name, component, namespace, app=app),
        spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
            scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                api_version="apps/v1", kind="Deployment", name=deployment
            ),
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            metrics=[
                _utilisation("cpu", cpu_percent),
                _utilisation("memory", memory_percent),
            ],
            behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(
                    stabilization_window_seconds=300,
                    select_policy="Max",
                    policies=[k8s.autoscaling.v2.HPAScalingPolicyArgs(type="Percent", value=50, period_seconds=60)],
                ),
                scale_up=k8s.autoscaling.v2.HPAScalingRulesArgs(stabilization_window_seconds=0),
            ),
        ),
        opts=opts,
    )


def _utilisation(resource: str, percent: int) -> k8s.autoscaling.v2.MetricSpecArgs:
    return k8s.autoscaling.v2.MetricSpecArgs(
        type="Resource",
        resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
            name=resource,
            target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization", average_utilization=percent),
        ),
    )


def disruption_budget(
    name: str,
    component: str,
    namespace: pulumi.Input[str],
    selector: Mapping[str, str],
    *,
    app: str | None = None,
    opts: pulumi.ResourceOptions,
) -> k8s.policy.v1.PodDisruptionBudget:
    """At most one pod of the workload voluntarily evicted at a time (node drains, upgrades)."""
    return k8s.policy.v1.PodDisruptionBudget(
        name,
        metadata=metadata(name, component, namespace, app=app),
        spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
            max_unavailable=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(selector)),
            unhealthy_pod_eviction_policy="AlwaysAllow",
        ),
        opts=opts,
    )


# Every app pod template carries a checksum of its settings and credentials: pulumi-kubernetes
# replaces a changed ConfigMap/Secret under the same name, which alone would never restart a pod.
CHECKSUM_ANNOTATION = "saas-platform.io/config-checksum"


def config_checksum(
    settings: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None,
    secrets: pulumi.Input[Mapping[str, pulumi.Input[str]]] | None,
) -> pulumi.Output[str]:
    """A hash of a ConfigMap's data and a Secret's values for a pod template annotation.

    The digest of a secret is not a secret (sha256, 16 hex digits of it), so it is unwrapped:
    an annotation marked secret would hide the whole pod template from the plan."""

    def digest(values: list[Mapping[str, str] | None]) -> str:
        text = json.dumps([dict(v or {}) for v in values], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    return pulumi.Output.unsecret(pulumi.Output.all(settings, secrets).apply(digest))


# The objects behind each YAML text `yaml_text` wrote in this process. Synthesis expands a
# provider-side yaml/v2 group from its text (synth/yaml_v2.py); for a text the program made
# from objects it takes those objects instead of parsing the text back (the RabbitMQ operators'
# 450 kB of CRDs: ~0.05 s of every synthesis). libyaml's safe dump and load of plain values
# round-trip exactly (tests/test_yaml_v2.py checks it on these texts). The objects are handed
# over: neither the caller of `yaml_text` nor a reader of `yaml_documents` changes them.
_YAML_SOURCES: dict[str, list[Any]] = {}
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class YamlMemo:
    """Results of the YAML functions below kept across processes in a folder, by a digest of
    their input: the same text always parses to the same objects and the same objects always
    dump to the same text, so a result computed once is reused (the vendored RabbitMQ operator
    manifests alone, 450 kB, took ~0.17 s of every synthesis to parse and dump again).

    Off (`folder` None) unless synth turns it on: under `pulumi up` the program computes
    everything itself and writes nothing. Entries are `marshal` data (format 2, which records
    no object sharing, so equal inputs give equal bytes): exact for every type a safe load
    makes but timestamps, which are never kept. The key holds the versions of Python, PyYAML
    and libyaml (marshal's format follows the first, the text the others). A file that cannot
    be read is computed again; a new file appears whole (written beside, then renamed), so
    parallel syntheses can share a folder."""

    def __init__(self) -> None:
        self.folder: Path | None = None

    def __call__(self, function: str, key: bytes, compute: Callable[[], Any]) -> Any:
        if self.folder is None:
            return compute()
        digest = hashlib.sha256(f"{function}\0{_MEMO_VERSIONS}\0".encode() + key).hexdigest()
        path = self.folder / f"{function}-{digest[:32]}.marshal"
        try:
            return marshal.loads(path.read_bytes())
        except (OSError, EOFError, ValueError, TypeError):
            pass
        value = compute()
        try:
            data = marshal.dumps(value, 2)
        except ValueError:  # not marshal data (a timestamp): not kept
            return value
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
            partial.write_bytes(data)
            os.replace(partial, path)
        except OSError:  # a read-only checkout: computed, not kept
            pass
        return value


YAML_MEMO = YamlMemo()
# What a kept result depends on besides its input: marshal's format follows the interpreter,
# the text follows PyYAML and libyaml (an upgrade must not be served an older emitter's text).
_MEMO_VERSIONS = "/".join([sys.version, yaml.__version__, getattr(getattr(yaml, "_yaml", None), "get_version_string", lambda: "pure")()])


def yaml_text(objects: Sequence[Any]) -> str:
    """The objects as one multi-document YAML text (key order kept, block style), the `yaml`
    input of a yaml/v2 ConfigGroup. The objects are not to be changed afterwards."""
    objects = list(objects)

    def dump() -> str:
        return yaml.dump_all(objects, Dumper=_YAML_DUMPER, sort_keys=False, default_flow_style=False)

    key = marshal_key(objects) if YAML_MEMO.folder else None
    text = YAML_MEMO("dump", key, dump) if key is not None else dump()
    _YAML_SOURCES[text] = objects
    return text


def load_yaml(text: str) -> Any:
    """One YAML document, as `yaml.safe_load` reads it, with libyaml's parser (the alert rule
    files: the pure-Python parser took ~0.03 s of every synthesis)."""
    return YAML_MEMO("load", text.encode(), lambda: yaml.load(text, Loader=_YAML_LOADER))  # noqa: S506 - a safe loader


def yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML text, empty ones included, as `yaml.load_all` with libyaml's
    safe loader gives them (read-only); for a text `yaml_text` wrote, the objects it was
    written from."""
    if text in _YAML_SOURCES:
        return list(_YAML_SOURCES[text])
    return YAML_MEMO("load_all", text.encode(), lambda: list(yaml.load_all(text, Loader=_YAML_LOADER)))  # noqa: S506


def marshal_key(value: Any) -> bytes | None:
    """`value`'s content as bytes, key order and types included (True is not 1, 1.0 is not 1);
    None for a value marshal cannot hold (then nothing is kept)."""
    try:
        return marshal.dumps(value, 2)
    except ValueError:
        return None
