"""Good and bad resources for the workload rules (probes, pod security, secrets, autoscaling)."""

from __future__ import annotations

import copy
from typing import Any

from tests.policy_cases.common import Case, record
from tests.policy_cases.kubernetes import LABELS, deployment

RESTRICTED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
PROBE = {"httpGet": {"path": "/up", "port": "http"}}


def web(**overrides: Any) -> dict[str, Any]:
    """A Deployment that follows every workload rule; overrides go into its container."""
    container = {
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": PROBE,
        "livenessProbe": PROBE,
        "securityContext": dict(RESTRICTED),
        **overrides,
    }
    resource = deployment(**container)
    resource["inputs"]["spec"]["template"]["spec"]["automountServiceAccountToken"] = False
    resource["inputs"]["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}
    return resource


def with_pod(**pod: Any) -> dict[str, Any]:
    resource = web()
    resource["inputs"]["spec"]["template"]["spec"].update(pod)
    return resource


def config_map(**data: str) -> dict[str, Any]:
    meta = {"name": "settings", "namespace": "saas-app", "labels": dict(LABELS)}
    return record("kubernetes:core/v1:ConfigMap", "settings", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})


def hpa(low: int, high: int, target: str = "web", env: str = "prod") -> dict[str, Any]:
    meta = {"name": target, "namespace": "saas-app", "labels": dict(LABELS)}
    spec = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "minReplicas": low,
        "maxReplicas": high,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}],
    }
    return record("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", f"{target}-hpa", {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": spec}, stack=env)


def pdb(selector: dict[str, str]) -> dict[str, Any]:
    meta = {"name": "web", "namespace": "saas-app", "labels": dict(LABELS)}
    return record("kubernetes:policy/v1:PodDisruptionBudget", "web-pdb", {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}}})


def scaled_object(target: str = "web") -> dict[str, Any]:
    meta = {"name": target, "namespace": "saas-app", "labels": dict(LABELS)}
    return record("kubernetes:keda.sh/v1alpha1:ScaledObject", f"{target}-scaler", {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": meta, "spec": {"scaleTargetRef": {"name": target}, "minReplicaCount": 1, "maxReplicaCount": 5, "triggers": []}})


def release(version: str, repo: str = "https://traefik.github.io/charts") -> dict[str, Any]:
    return record("kubernetes:helm.sh/v3:Release", "traefik", {"chart": "traefik", "version": version, "repositoryOpts": {"repo": repo}, "values": {}})


def with_replicas(resource: dict[str, Any], replicas: int) -> dict[str, Any]:
    resource = copy.deepcopy(resource)
    resource["inputs"]["spec"]["replicas"] = replicas
    return resource


def without_key(resource: dict[str, Any], key: str) -> dict[str, Any]:
    resource = copy.deepcopy(resource)
    del resource["inputs"]["spec"]["template"]["spec"]["containers"][0]["securityContext"][key]
    return resource


POD_LABELS = LABELS

CASES: list[Case] = [
    ("k8s-probes", [web()], [web(livenessProbe=None)]),
    ("k8s-probes", [web()], [web(readinessProbe=None)]),
    ("k8s-restricted-security-context", [web()], [without_key(web(), "runAsNonRoot")]),
    ("k8s-restricted-security-context", [web()], [web(securityContext={**RESTRICTED, "readOnlyRootFilesystem": False})]),
    ("k8s-restricted-security-context", [web()], [web(securityContext={**RESTRICTED, "capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})]),
    ("k8s-no-host-access", [web()], [with_pod(hostNetwork=True)]),
    ("k8s-no-host-access", [web()], [with_pod(volumes=[{"name": "logs", "hostPath": {"path": "/var/log"}}])]),
    ("k8s-no-default-token", [web()], [with_pod(automountServiceAccountToken=True)]),
    ("k8s-no-plain-secrets", [web(env=[{"name": "DB_HOST", "value": "mariadb"}])], [web(env=[{"name": "DB_PASSWORD", "value": "hunter2"}])]),
    ("k8s-no-plain-secrets", [config_map(DB_HOST="mariadb")], [config_map(STRIPE_SECRET="sk_live_abcdefghijkl")]),
    ("k8s-no-plain-secrets", [config_map(NOTE="hello")], [config_map(NOTE="key: AKIAABCDEFGHIJKLMNOP")]),
    ("k8s-hpa-bounds", [hpa(2, 5)], [hpa(4, 3)]),
    ("k8s-hpa-bounds", [hpa(2, 5)], [hpa(1, 5)]),  # production (the default) needs two
    ("k8s-hpa-bounds", [hpa(2, 50)], [hpa(2, 80)]),
    ("helm-pinned-chart", [release("41.3.0")], [release("^41.0.0")]),
    ("helm-pinned-chart", [release("v1.21.1")], [release("1.2.3", repo="http://charts.example.com")]),
    ("k8s-pdb-for-replicated", [web(), hpa(2, 5), pdb({"app.kubernetes.io/name": "web"})], [web(), hpa(2, 5)]),
    ("k8s-pdb-for-replicated", [with_replicas(web(), 1)], [with_replicas(web(), 3), pdb({"app.kubernetes.io/name": "other"})]),
    ("k8s-single-autoscaler", [web(), hpa(2, 5)], [web(), hpa(2, 5), scaled_object()]),
    ("k8s-single-autoscaler", [web(), scaled_object()], [with_replicas(web(), 2), scaled_object()]),
]


def exempted(resource: dict[str, Any], value: str) -> dict[str, Any]:
    resource = copy.deepcopy(resource)
    resource["inputs"]["metadata"]["annotations"] = {"policy.saas-platform.io/exempt": value}
    return resource


PRIVILEGED = web(securityContext={**RESTRICTED, "privileged": True})
CASES += [
    # A reasoned exemption is honoured; one without a reason, or for another rule, is not.
    (
        "k8s-restricted-security-context",
        [exempted(PRIVILEGED, "k8s-restricted-security-context: raises a kernel sysctl DataNode needs")],
        [exempted(PRIVILEGED, "k8s-restricted-security-context: because")],
    ),
    (
        "k8s-restricted-security-context",
        [web()],
        [exempted(PRIVILEGED, "k8s-probes: probes are done by the sidecar next to it")],
    ),
]
