"""Rules for the pods we run: probes, the restricted security profile, no host access, no
plain secrets, and autoscaling that neither fights Pulumi nor another autoscaler."""

from __future__ import annotations

import re
from typing import Any, Iterator

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from saas_policies.common import (
    ENVIRONMENT_SCHEMA,
    containers,
    environment,
    exempt,
    get,
    labels_match,
    pod_labels,
    pod_spec,
    resource_policy,
)

LONG_RUNNING = {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"}
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
# Names that carry credentials. `_ID` / `_NAME` / `_USERNAME` / `_URL` alone are not secret.
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|CREDENTIAL|API_?KEY|APP_KEY|_KEY$)", re.IGNORECASE)
SECRET_VALUE = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|sk_live_[0-9a-zA-Z]{10,}|xox[bap]-)")


def _kind(args: ResourceValidationArgs) -> str:
    return f"{args.props.get('kind')} '{args.name}'"


def _probes(args: ResourceValidationArgs) -> Iterator[str]:
    """Each container serving a port has a liveness probe, and the pod has a readiness probe
    (the pod is Ready only when all containers are, so one probe through the serving path,
    nginx -> php-fpm -> Laravel for example, speaks for its sidecars)."""
    if args.resource_type not in LONG_RUNNING:
        return
    serving = [c for c in (pod_spec(args.resource_type, args.props) or {}).get("containers") or [] if c.get("ports")]
    for container in serving:
        if not container.get("livenessProbe"):
            yield f"{_kind(args)} container '{container.get('name')}' serves a port but has no livenessProbe"
    if serving and not any(c.get("readinessProbe") for c in serving):
        yield f"{_kind(args)} serves traffic but no container has a readinessProbe"


def _restricted(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None or exempt(args.props, "k8s-restricted-security-context"):
        return
    pod = spec.get("securityContext") or {}
    for container in containers(spec):
        ctx = container.get("securityContext") or {}
        name = f"{_kind(args)} container '{container.get('name')}'"
        if not (ctx.get("runAsNonRoot") or pod.get("runAsNonRoot")):
            yield f"{name} may run as root (runAsNonRoot unset)"
        if ctx.get("allowPrivilegeEscalation") is not False:
            yield f"{name} allows privilege escalation"
        if ctx.get("privileged"):
            yield f"{name} is privileged"
        if "ALL" not in (get(ctx, "capabilities", "drop", default=[]) or []):
            yield f"{name} does not drop ALL capabilities"
        if get(ctx, "capabilities", "add", default=[]):
            yield f"{name} adds capabilities {ctx['capabilities']['add']}"
        seccomp = get(ctx, "seccompProfile", "type") or get(pod, "seccompProfile", "type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            yield f"{name} has no RuntimeDefault seccomp profile"
        if ctx.get("readOnlyRootFilesystem") is not True:
            yield f"{name} has a writable root filesystem (mount an emptyDir where it must write)"


def _host_access(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"{_kind(args)} uses {field}"
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"{_kind(args)} mounts the host path {volume['hostPath'].get('path')}"
    for container in containers(spec):
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                yield f"{_kind(args)} container '{container.get('name')}' binds host port {port['hostPort']}"


def _service_account_token(args: ResourceValidationArgs) -> Iterator[str]:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    if spec.get("automountServiceAccountToken") is not False and not spec.get("serviceAccountName"):
        yield (
            f"{_kind(args)} mounts the default service account token; set "
            "automountServiceAccountToken: false unless it uses its own service account"
        )


def _plain_secrets(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type == "kubernetes:core/v1:ConfigMap":
        for key, value in (args.props.get("data") or {}).items():
            if SECRET_NAME.search(key):
                yield f"ConfigMap '{args.name}' key {key} looks like a credential: put it in a Secret"
            elif isinstance(value, str) and SECRET_VALUE.search(value):
                yield f"ConfigMap '{args.name}' key {key} contains a credential: put it in a Secret"
        return
    for container in containers(pod_spec(args.resource_type, args.props)):
        for env in container.get("env") or []:
            value = env.get("value")
            if value is None:
                continue
            if SECRET_NAME.search(env.get("name", "")) or (isinstance(value, str) and SECRET_VALUE.search(value)):
                yield (
                    f"{_kind(args)} container '{container.get('name')}' sets {env.get('name')} as a plain "
                    "value: use secretKeyRef or envFrom a Secret"
                )


# components/config/tiers.py (MAX_REPLICAS) refuses the same bound in the stack config.
MAX_HPA_REPLICAS = 50


def _hpa_bounds(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != HPA:
        return
    spec = args.props.get("spec") or {}
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
    if low < 1 or high < low:
        yield f"HPA '{args.name}': bounds {low}-{high} are not 1 <= min <= max"
    if high > MAX_HPA_REPLICAS:
        yield f"HPA '{args.name}': maxReplicas {high} exceeds {MAX_HPA_REPLICAS} (a runaway scale-out eats the cluster and the database's connections)"
    if environment(args.get_config()) == "production" and low < 2:
        yield f"HPA '{args.name}': minReplicas {low} in production leaves a single pod (no redundancy during a node drain)"
    metrics = spec.get("metrics") or []
    if not metrics:
        yield f"HPA '{args.name}' has no metrics"


# ---------------------------------------------------------------------- stack rules


def _workloads(resources: list[Any]) -> list[Any]:
    return [r for r in resources if r.resource_type in LONG_RUNNING]


def _targets(scaler: Any) -> tuple[str | None, str | None]:
    """(namespace, deployment name) an HPA or ScaledObject scales."""
    namespace = get(scaler.props, "metadata", "namespace")
    spec = scaler.props.get("spec") or {}
    ref = spec.get("scaleTargetRef") or {}
    return namespace, ref.get("name")


def _identity(workload: Any) -> tuple[str | None, str | None]:
    return get(workload.props, "metadata", "namespace"), get(workload.props, "metadata", "name")


def _min_replicas(workload: Any, resources: list[Any]) -> int:
    identity = _identity(workload)
    for scaler in resources:
        if scaler.resource_type == HPA and _targets(scaler) == identity:
            return int(get(scaler.props, "spec", "minReplicas", default=1))
        if scaler.resource_type == SCALED_OBJECT and _targets(scaler) == identity:
            return int(get(scaler.props, "spec", "minReplicaCount", default=0))
    return int(get(workload.props, "spec", "replicas", default=1))


def _pdb_for_replicated(args: StackValidationArgs, report: ReportViolation) -> None:
    pdbs = [r for r in args.resources if r.resource_type == PDB]
    for workload in _workloads(args.resources):
        if workload.resource_type == "kubernetes:apps/v1:DaemonSet" or _min_replicas(workload, args.resources) < 2:
            continue
        namespace, name = _identity(workload)
        labels = pod_labels(workload.resource_type, workload.props)
        covered = any(
            get(p.props, "metadata", "namespace") == namespace
            and labels_match(get(p.props, "spec", "selector", "matchLabels"), labels)
            for p in pdbs
        )
        if not covered:
            report(f"{name} runs two or more replicas but no PodDisruptionBudget selects its pods", workload.urn)


def _scaler_conflicts(args: StackValidationArgs, report: ReportViolation) -> None:
    hpas = {_targets(r): r for r in args.resources if r.resource_type == HPA}
    scaled = {_targets(r): r for r in args.resources if r.resource_type == SCALED_OBJECT}
    for target, scaled_object in scaled.items():
        if target in hpas:
            report(f"{target[1]} is scaled by both a KEDA ScaledObject and an HPA (KEDA owns the HPA)", scaled_object.urn)
    for workload in _workloads(args.resources):
        identity = _identity(workload)
        if (identity in hpas or identity in scaled) and get(workload.props, "spec", "replicas") is not None:
            report(
                f"{identity[1]} sets spec.replicas while an autoscaler owns the count: every `pulumi up` would reset it",
                workload.urn,
            )


def _helm_pinned(args: ResourceValidationArgs) -> Iterator[str]:
    if args.resource_type != "kubernetes:helm.sh/v3:Release":
        return
    version = str(args.props.get("version") or "")
    if not re.fullmatch(r"v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?", version):
        yield f"Helm release '{args.name}' is not pinned to an exact chart version (got {version!r})"
    repo = get(args.props, "repositoryOpts", "repo", default="")
    if repo and not str(repo).startswith(("https://", "oci://")):
        yield f"Helm release '{args.name}' pulls its chart over an insecure repository URL {repo}"


POLICIES = [
    resource_policy(
        "k8s-probes",
        "Every long-running container that serves a port has a liveness probe, and its pod a readiness probe.",
        _probes,
    ),
    resource_policy(
        "k8s-restricted-security-context",
        "Pods meet the restricted Pod Security profile: non-root, no privilege escalation, ALL capabilities dropped, RuntimeDefault seccomp, read-only root filesystem.",
        _restricted,
    ),
    resource_policy(
        "k8s-no-host-access",
        "No pod uses the host's network, PID or IPC namespace, host paths or host ports.",
        _host_access,
    ),
    resource_policy(
        "k8s-no-default-token",
        "Pods do not mount a service account token unless they run under their own service account.",
        _service_account_token,
    ),
    resource_policy(
        "k8s-no-plain-secrets",
        "No credential in a ConfigMap or a plain environment value: Secrets via secretKeyRef or envFrom.",
        _plain_secrets,
    ),
    resource_policy(
        "k8s-hpa-bounds",
        "HPAs have sane bounds (1 <= min <= max <= 50, metrics set) and at least two replicas in production.",
        _hpa_bounds,
        config_schema=PolicyConfigSchema(properties=ENVIRONMENT_SCHEMA),
    ),
    resource_policy(
        "helm-pinned-chart",
        "Every Helm release pins an exact chart version from an HTTPS or OCI repository.",
        _helm_pinned,
    ),
    StackValidationPolicy(
        name="k8s-pdb-for-replicated",
        description="Every workload running two or more replicas has a PodDisruptionBudget selecting its pods.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_pdb_for_replicated,
    ),
    StackValidationPolicy(
        name="k8s-single-autoscaler",
        description="A workload has one owner of its replica count: no HPA next to a ScaledObject, no spec.replicas under an autoscaler.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_scaler_conflicts,
    ),
]
