"""synth/footprint.py: what each stack asks of the cluster, counting manifest pods, chart pods
(release values over the vendored chart defaults) and operator-created pods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from synth.footprint import chart_workloads, cpu_millis, footprint, mebibytes, pod_usage
from tests.conftest import Synth

# Issue 13 item 8: the dev stack must fit a 4 vCPU / 8 GiB k3d node with headroom.
DEV_CPU_BUDGET_M = 3000
DEV_MEMORY_BUDGET_MI = 5 * 1024


def test_quantities() -> None:
    assert cpu_millis("250m") == 250 and cpu_millis(1) == 1000 and cpu_millis("1.5") == 1500
    assert mebibytes("512Mi") == 512 and mebibytes("2Gi") == 2048 and round(mebibytes("10G")) == 9537
    with pytest.raises(ValueError):
        cpu_millis("lots")


def test_pod_counts_containers_and_the_largest_init() -> None:
    pod = pod_usage({
        "containers": [
            {"resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}},
            {"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}},
        ],
        "initContainers": [{"resources": {"requests": {"cpu": "500m", "memory": "32Mi"}}}],
    })
    assert (pod.cpu_request, pod.memory_request) == (500, 192)


def test_chart_defaults_count_when_the_release_sets_nothing() -> None:
    """redis-operator chart 0.26.1 values.yaml requests 500m/500Mi for the operator: a release
    that does not set resources is charged those, not zero."""
    (workload,) = chart_workloads({"chart": "redis-operator", "name": "redis-operator", "values": {}}, nodes=1)
    assert (workload.pod.cpu_request, workload.pod.memory_request) == (500, 500)
    assert workload.source.endswith("upstream/charts/redis-operator/values.yaml")
    # An empty chart default is reported as unset, not silently zero.
    (traefik,) = chart_workloads({"chart": "traefik", "name": "traefik", "values": {}}, nodes=1)
    assert traefik.unset == ["resources"] and traefik.pod.cpu_request == 0


def test_operator_created_pods_are_counted(stack: Synth) -> None:
    result = footprint(stack.out)
    mariadb = result["components"]["mariadb"]["workloads"]
    kinds = {w["kind"] for w in mariadb}
    assert {"MariaDB", "Deployment"} <= kinds  # the database pods and the exporter Deployment
    (db,) = [w for w in mariadb if w["kind"] == "MariaDB"]
    spec = stack.object("MariaDB", "mariadb", "saas-data")["spec"]
    assert db["replicas"]["min"] == spec["replicas"]
    assert result["components"]["rabbitmq"]["min"]["requests"]["cpu_m"] > 0
    assert {"redis", "kps", "cert-manager", "traefik"} <= set(result["components"])


def test_dev_fits_a_laptop(synthesized: dict[str, Synth]) -> None:
    """Every manifest, chart and operator pod of dev, at its maximum replicas, within
    3 vCPU / 5 GiB of requests (a 4 vCPU / 8 GiB k3d node keeps room for k3s itself)."""
    dev = synthesized["dev"]
    assert dev.returncode == 0, dev.stderr
    total = footprint(dev.out)["total"]["max"]["requests"]
    assert total["cpu_m"] <= DEV_CPU_BUDGET_M, total
    assert total["memory_mi"] <= DEV_MEMORY_BUDGET_MI, total


def test_footprint_sees_a_bigger_release(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    """Mutation: double a chart's memory request in a copy of dev's output; the total grows by it."""
    import shutil

    copy = tmp_path / "dev"
    shutil.copytree(synthesized["dev"].out, copy)
    before = footprint(copy)["total"]["min"]["requests"]["memory_mi"]
    release_file = copy / "helm" / "traefik.yaml"
    release: dict[str, Any] = yaml.safe_load(release_file.read_text())
    asked = mebibytes(release["values"]["resources"]["requests"]["memory"])
    release["values"]["resources"]["requests"]["memory"] = f"{int(asked * 2)}Mi"
    release_file.write_text(yaml.safe_dump(release))
    after = footprint(copy)["total"]["min"]["requests"]["memory_mi"]
    assert after == pytest.approx(before + asked * release["values"]["deployment"]["replicas"])
