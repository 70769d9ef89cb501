"""footprint.json per synthesis, its presentation, the node group, and the footprint in `--diff`.

The totals are checked against a sum computed here independently of synth/footprint.py:
straight from the manifests (pod templates x replicas or autoscaler minimum), the custom
resources the operators turn into pods, and each chart's values over the vendored defaults.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from synth import capacity
from tests.conftest import ROOT, Synth, run_synth

CPU = {"m": 1 / 1000}
MEMORY = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}


def millicores(value: Any) -> float:
    text = str(value)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def mebi(value: Any) -> float:
    text = str(value)
    for unit, factor in MEMORY.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text) / 1048576


def requests(resources: dict[str, Any] | None) -> tuple[float, float]:
    """A container's (CPU m, memory Mi) requests; Kubernetes takes the limit for a missing request."""
    resources = resources or {}
    asked = {**(resources.get("limits") or {}), **(resources.get("requests") or {})}
    return (millicores(asked["cpu"]) if "cpu" in asked else 0.0, mebi(asked["memory"]) if "memory" in asked else 0.0)


def pod_requests(spec: dict[str, Any]) -> tuple[float, float]:
    cpu = memory = 0.0
    for container in spec.get("containers") or []:
        c, m = requests(container.get("resources"))
        cpu, memory = cpu + c, memory + m
    for init in spec.get("initContainers") or []:
        c, m = requests(init.get("resources"))
        cpu, memory = max(cpu, c), max(memory, m)
    return cpu, memory


def merged(default: Any, override: Any) -> Any:
    if isinstance(default, dict) and isinstance(override, dict):
        return {**default, **{k: merged(default.get(k), v) for k, v in override.items()}}
    return override


def at(values: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        values = (values or {}).get(part) if isinstance(values, dict) else None
    return values


def _ha(path: str) -> Callable[[dict[str, Any]], int]:
    return lambda v: int(at(v, f"{path}.replicas") or 1) if at(v, f"{path}.enabled") else 1


def _n(path: str) -> Callable[[dict[str, Any]], int]:
    return lambda v: int(at(v, path) or 1)


def _on(path: str) -> Callable[[dict[str, Any]], bool]:
    return lambda v: bool(at(v, path))


def _always(_: dict[str, Any]) -> bool:
    return True


def _one(_: dict[str, Any]) -> int:
    return 1


# chart -> steady pods: (resources value paths of the pod's containers, replicas at minimum,
# enabled). Read from each pinned chart's templates (the same facts synth/footprint.py cites),
# written out here a second time on purpose.
CHART_PODS: dict[str, list[tuple[tuple[str, ...], Callable[[dict[str, Any]], int], Callable[[dict[str, Any]], bool]]]] = {
    "traefik": [(("resources",), lambda v: int(at(v, "autoscaling.minReplicas") or 1) if at(v, "autoscaling.enabled") else _n("deployment.replicas")(v), _always)],
    "cert-manager": [
        (("resources",), _n("replicaCount"), _always),
        (("webhook.resources",), _n("webhook.replicaCount"), _always),
        (("cainjector.resources",), _n("cainjector.replicaCount"), _on("cainjector.enabled")),
    ],
    "keda": [
        (("resources.operator",), _n("operator.replicaCount"), _always),
        (("resources.metricServer",), _n("metricsServer.replicaCount"), _always),
        (("resources.webhooks",), _n("webhooks.replicaCount"), _on("webhooks.enabled")),
    ],
    "kube-prometheus-stack": [
        (("prometheusOperator.resources",), _one, _on("prometheusOperator.enabled")),
        (("prometheus.prometheusSpec.resources", "prometheusOperator.prometheusConfigReloader.resources"), _n("prometheus.prometheusSpec.replicas"), _on("prometheus.enabled")),
        (("alertmanager.alertmanagerSpec.resources", "prometheusOperator.prometheusConfigReloader.resources"), _n("alertmanager.alertmanagerSpec.replicas"), _on("alertmanager.enabled")),
        (("grafana.resources", "grafana.sidecar.resources"), _n("grafana.replicas"), _on("grafana.enabled")),
        (("kube-state-metrics.resources",), _one, _on("kubeStateMetrics.enabled")),
        (("prometheus-node-exporter.resources",), _one, _on("nodeExporter.enabled")),  # one node
    ],
    "mariadb-operator": [
        (("resources",), _ha("ha"), _always),
        (("webhook.resources",), _ha("webhook.ha"), _on("webhook.enabled")),
        (("certController.resources",), _ha("certController.ha"), _on("certController.enabled")),
    ],
    "redis-operator": [(("resources",), _n("replicas"), _always)],
    "seaweedfs": [
        ((f"{part}.resources",), _n(f"{part}.replicas"), _on(f"{part}.enabled"))
        for part in ("master", "volume", "filer", "s3", "allInOne")
    ],
    "graylog": [
        (("graylog.resources",), _n("graylog.replicas"), _always),
        (("datanode.resources",), _n("datanode.replicas"), _always),
        (("mongodb.resources",), _n("mongodb.replicas"), _on("mongodb.communityResource.enabled")),
    ],
    "fluent-bit": [(("resources",), _one, _always)],  # a DaemonSet, one node
    "mongodb-kubernetes": [(("operator.resources",), _n("operator.replicas"), _always)],
    # opentelemetry-collector 0.170.0 templates/deployment.yaml (mode deployment: replicaCount,
    # or the HPA's minReplicas with autoscaling.enabled) and templates/daemonset.yaml (one node).
    "opentelemetry-collector": [
        (("resources",), lambda v: int(at(v, "autoscaling.minReplicas") or 1) if at(v, "autoscaling.enabled") else _n("replicaCount")(v),
         lambda v: at(v, "mode") in ("deployment", "statefulset")),
        (("resources",), _one, lambda v: at(v, "mode") == "daemonset"),
    ],
    # tempo 2.2.4 (grafana-community) templates/statefulset.yaml: the `tempo` container, plus
    # `tempo-query` only with tempoQuery.enabled.
    "tempo": [
        (("tempo.resources",), _n("replicas"), lambda v: not at(v, "tempoQuery.enabled")),
        (("tempo.resources", "tempoQuery.resources"), _n("replicas"), _on("tempoQuery.enabled")),
    ],
}


def _load(text: str) -> Any:
    """YAML with libyaml's parser (PyYAML's own constructors): the pure-Python parser made the
    chart defaults (kube-prometheus-stack's alone is ~6,000 lines) most of this file's time."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader


def _chart_defaults(chart: str) -> Any:
    path = ROOT / "upstream" / "charts" / chart / "values.yaml"
    return _load(path.read_text()) if path.is_file() else {}


def independent_min_requests(build: Path) -> tuple[float, float]:
    """(CPU m, memory Mi) requested by every long-running pod at minimum replicas, one node."""
    manifests = [_load(p.read_text()) for p in sorted((build / "manifests").glob("**/*.yaml"))]
    minimum: dict[tuple[str, str], int] = {}
    for obj in manifests:
        ns = obj["metadata"].get("namespace")
        if obj["kind"] == "HorizontalPodAutoscaler":
            minimum[(ns, obj["spec"]["scaleTargetRef"]["name"])] = obj["spec"].get("minReplicas", 1)
        elif obj["kind"] == "ScaledObject":
            minimum[(ns, obj["spec"]["scaleTargetRef"]["name"])] = obj["spec"].get("minReplicaCount", 0)
    cpu = memory = 0.0

    def add(pod: tuple[float, float], times: int) -> None:
        nonlocal cpu, memory
        cpu, memory = cpu + pod[0] * times, memory + pod[1] * times

    for obj in manifests:
        kind, spec = obj["kind"], obj.get("spec") or {}
        if kind in ("Deployment", "StatefulSet"):
            key = (obj["metadata"].get("namespace"), obj["metadata"]["name"])
            add(pod_requests(spec["template"]["spec"]), minimum.get(key, spec.get("replicas", 1)))
        elif kind == "DaemonSet":
            add(pod_requests(spec["template"]["spec"]), 1)
        elif kind == "MariaDB":  # mariadb-operator 26.6.0: StatefulSet (+ agent, init) and exporter
            containers = [{"resources": spec.get("resources")}]
            inits = []
            if (spec.get("replication") or {}).get("enabled"):
                containers.append({"resources": spec["replication"].get("agent", {}).get("resources")})
                inits.append({"resources": spec["replication"].get("initContainer", {}).get("resources")})
            add(pod_requests({"containers": containers, "initContainers": inits}), spec.get("replicas", 1))
            if (spec.get("metrics") or {}).get("enabled"):
                add(requests(spec["metrics"].get("exporter", {}).get("resources")), 1)
        elif kind == "MaxScale":  # mariadb-operator 26.6.0: StatefulSet of `maxscale` + exporter Deployment
            add(requests(spec.get("resources")), spec.get("replicas", 1))
            if (spec.get("metrics") or {}).get("enabled"):
                add(requests(spec["metrics"].get("exporter", {}).get("resources")), 1)
        elif kind == "RedisReplication":  # redis-operator 0.26.0: redis + exporter sidecar
            pod = [{"resources": spec["kubernetesConfig"].get("resources")}]
            if (spec.get("redisExporter") or {}).get("enabled"):
                pod.append({"resources": spec["redisExporter"].get("resources")})
            add(pod_requests({"containers": pod}), spec.get("clusterSize", 1))
        elif kind == "RedisCluster":  # redis-operator 0.26.0: leader and follower StatefulSets
            pod = [{"resources": spec["kubernetesConfig"].get("resources")}]
            if (spec.get("redisExporter") or {}).get("enabled"):
                pod.append({"resources": spec["redisExporter"].get("resources")})
            for role in ("redisLeader", "redisFollower"):
                add(pod_requests({"containers": pod}), (spec.get(role) or {}).get("replicas") or spec.get("clusterSize", 3))
        elif kind == "RedisSentinel":
            add(requests(spec["kubernetesConfig"].get("resources")), spec.get("clusterSize", 1))
        elif kind == "RabbitmqCluster":  # cluster-operator v2.22.3 default: 1 CPU / 2Gi
            add(requests(spec.get("resources") or {"requests": {"cpu": "1", "memory": "2Gi"}}), spec.get("replicas", 1))
    for path in sorted((build / "helm").glob("*.yaml")):
        release = _load(path.read_text())
        defaults = _chart_defaults(release["chart"])
        values = merged(defaults, release.get("values") or {})
        for paths, replicas, enabled in CHART_PODS.get(release["chart"], []):
            if enabled(values):
                add(pod_requests({"containers": [{"resources": at(values, p)} for p in paths]}), replicas(values))
    return cpu, memory


def footprint_json(stack: Synth) -> dict[str, Any]:
    return json.loads((stack.out / capacity.FILE).read_text())


def test_footprint_json_is_written_per_stack(stack: Synth) -> None:
    result = footprint_json(stack)
    assert result == json.loads(json.dumps(capacity.compute(stack.out)))
    # Totals are the sum of the components.
    for bound in ("min", "max"):
        for key in ("cpu_m", "memory_mi"):
            summed = sum(c[bound]["requests"][key] for c in result["components"].values())
            assert result["total"][bound]["requests"][key] == pytest.approx(summed, abs=1)
    assert result["total"]["storage_gib"] == pytest.approx(sum(c["storage_gib"] for c in result["components"].values()), abs=0.1)
    assert result["node_group"]["nodes"] >= 1


def test_totals_match_an_independent_sum_of_manifests_and_chart_values(stack: Synth) -> None:
    cpu, memory = independent_min_requests(stack.out)
    total = footprint_json(stack)["total"]["min"]["requests"]
    assert (total["cpu_m"], total["memory_mi"]) == (pytest.approx(cpu, abs=1), pytest.approx(memory, abs=1))
    assert cpu > 0 and memory > 0


def test_independent_sum_sees_a_changed_chart_value(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    """Mutation: the independent sum is not a constant. Raise cert-manager's webhook replicas in a
    copy; both it and footprint.py grow by the same amount."""
    copy = tmp_path / "prod"
    shutil.copytree(synthesized["prod"].out, copy)
    before = independent_min_requests(copy)
    release = yaml.safe_load((copy / "helm" / "cert-manager.yaml").read_text())
    release["values"].setdefault("webhook", {})["replicaCount"] = 5
    (copy / "helm" / "cert-manager.yaml").write_text(yaml.safe_dump(release))
    after = independent_min_requests(copy)
    assert after[0] > before[0]
    assert capacity.compute(copy)["total"]["min"]["requests"]["cpu_m"] == pytest.approx(after[0], abs=1)


def test_node_group_holds_the_stack_and_is_the_smallest() -> None:
    result = {
        "total": {"max": {"requests": {"cpu_m": 7000.0, "memory_mi": 20000.0}}},
        "components": {"app": {"workloads": [{"pod": {"requests": {"cpu_m": 1000.0, "memory_mi": 2048.0}}}]}},
        "transient": {"largest_pod": {"pod": {"requests": {"cpu_m": 500.0, "memory_mi": 1024.0}}}},
    }
    group = capacity.node_group(result, {"cpu_m": 100.0, "memory_mi": 128.0}, capacity.NODE)
    alloc = group["allocatable_per_node"]
    # GKE's formula for 4 vCPU / 16 GiB: 80m CPU and 2.6 GiB + 100 MiB memory reserved.
    assert group["reserve_per_node"] == {"cpu_m": 80.0, "memory_mi": pytest.approx(2662.4 + 100, abs=0.1)}
    n = group["nodes"]
    need = lambda k, count: result["total"]["max"]["requests"][k] + result["transient"]["largest_pod"]["pod"]["requests"][k] + (count - 1) * {"cpu_m": 100.0, "memory_mi": 128.0}[k]  # noqa: E731
    assert all(need(k, n) <= n * alloc[k] for k in alloc)
    assert not all(need(k, n - 1) <= (n - 1) * alloc[k] for k in alloc)
    assert n == 2 and group["largest_pod_fits"]


def test_preview_prints_the_footprint_and_the_node_group(tmp_path: Path) -> None:
    """`make preview` is `python -m synth dev` without --quiet (forked from the session's synth
    server like every test synthesis: the same CLI and output, without the imports again)."""
    full = run_synth("dev", tmp_path / "full", quiet=False)
    assert full.returncode == 0, full.stderr
    result = json.loads((tmp_path / "full" / capacity.FILE).read_text())
    printed = capacity.render(result)
    assert printed in full.stdout
    total = result["total"]["max"]["requests"]
    assert f"{total['cpu_m'] / 1000:.2f} vCPU" in printed
    nodes = result["node_group"]["nodes"]
    assert f"node group: {nodes} x 4 vCPU / 16 GiB node{'s' if nodes > 1 else ''} (" in printed


def test_diff_shows_the_footprint_change(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    config = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    config["config"]["saas-platform:frontend"]["replicas"] = {"min": 4, "max": 9}
    stack_file.write_text(yaml.safe_dump(config))
    proc = run_synth("prod", tmp_path / "new", "--diff", str(synthesized["prod"].out), "--stack-file", str(stack_file))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    old, new = footprint_json(synthesized["prod"]), json.loads((tmp_path / "new" / capacity.FILE).read_text())
    assert "footprint:" in lines
    block = lines[lines.index("footprint:") + 1 :]
    assert block[0].startswith("    requests at min replicas: ")
    frontend = old["components"]["frontend"]["max"]["requests"]["cpu_m"], new["components"]["frontend"]["max"]["requests"]["cpu_m"]
    assert frontend[1] > frontend[0]
    assert any(line.startswith(f"      frontend at max replicas: {frontend[0] / 1000:.2f} vCPU -> {frontend[1] / 1000:.2f} vCPU") for line in block)
