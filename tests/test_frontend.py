"""FrontendApp: autoscaling per tier, disruption budgets, probes, pod security, releases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, Synth, run_synth

EXPECTED_BOUNDS = {"dev": (1, 2), "staging": (2, 3), "prod": (3, 5)}


def frontend_deployments(stack: Synth) -> list[dict[str, Any]]:
    return [d for d in stack.objects("Deployment", "saas-app") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "frontend"]


def test_hpa_bounds_follow_tier_and_overrides(stack: Synth) -> None:
    hpa = stack.object("HorizontalPodAutoscaler", "frontend", "saas-app")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == EXPECTED_BOUNDS[stack.stack]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "frontend"}
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 80, "memory": 70}  # the seed's thresholds
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_pdb_exactly_when_two_or_more_replicas(stack: Synth) -> None:
    pdbs = [p for p in stack.objects("PodDisruptionBudget", "saas-app") if p["metadata"]["name"] == "frontend"]
    assert bool(pdbs) == (EXPECTED_BOUNDS[stack.stack][0] >= 2)
    for pdb in pdbs:
        deployment = stack.object("Deployment", "frontend", "saas-app")
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["maxUnavailable"] == 1


def test_deployment_is_safe_to_roll_and_to_stop(stack: Synth) -> None:
    (deployment,) = frontend_deployments(stack)
    spec = deployment["spec"]
    assert "replicas" not in spec, "the HPA owns the replica count"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/acme/web:1.4.2"
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/api/health", "port": "http"}, probe
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
    assert pod["terminationGracePeriodSeconds"] > container["lifecycle"]["preStop"]["sleep"]["seconds"]
    zones = [c for c in pod["topologySpreadConstraints"] if c["topologyKey"] == "topology.kubernetes.io/zone"]
    assert zones and zones[0]["labelSelector"]["matchLabels"] == spec["selector"]["matchLabels"]


def test_pod_runs_restricted_with_writable_scratch_only(stack: Synth) -> None:
    (deployment,) = frontend_deployments(stack)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts == {"/tmp": "tmp", "/app/.next/cache": "next-cache"}
    assert all("emptyDir" in v for v in pod["volumes"])
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_settings_in_configmap_and_key_in_secret(stack: Synth) -> None:
    settings = stack.object("ConfigMap", "frontend-config", "saas-app")["data"]
    domain = stack.outputs["domain"]
    assert settings["ASSET_PREFIX"] == f"https://static.{domain}"
    assert not any("KEY" in k or "SECRET" in k for k in settings)
    secret = stack.object("Secret", "frontend-secrets", "saas-app")
    assert secret["stringData"] == {"NEXT_SERVER_ACTIONS_ENCRYPTION_KEY": "[secret]"}
    (key,) = [r for r in stack.of_type("random:index/randomBytes:RandomBytes") if r["name"] == "frontend-server-actions-key"]
    assert key["inputs"]["length"] == 32
    assert key["protect"] == (stack.stack == "prod")


def test_ingress_route_serves_apex_and_redirects_www(stack: Synth) -> None:
    domain = stack.outputs["domain"]
    route = stack.object("IngressRoute", "frontend", "saas-app")["spec"]
    assert route["entryPoints"] == ["websecure"] and route["tls"] == {}
    matches = [r["match"] for r in route["routes"]]
    assert matches == [f"Host(`{domain}`)", f"Host(`www.{domain}`)"]
    names = [m["name"] for m in route["routes"][0]["middlewares"]]
    assert names == ["security-headers", "compression"]
    assert route["routes"][1]["middlewares"][0]["name"] == "frontend-www-redirect"
    redirect = stack.object("Middleware", "frontend-www-redirect", "saas-app")["spec"]["redirectRegex"]
    assert redirect["permanent"] is True and redirect["replacement"] == f"https://{domain}/${{1}}"


def test_metrics_are_scraped(stack: Synth) -> None:
    monitor = stack.object("ServiceMonitor", "frontend", "saas-app")["spec"]
    service = stack.object("Service", "frontend", "saas-app")
    labels = service["metadata"]["labels"]
    assert all(labels[k] == v for k, v in monitor["selector"]["matchLabels"].items())
    assert monitor["endpoints"][0]["port"] == "http"


# ---- release strategies ----------------------------------------------------------------

CANDIDATE = "ghcr.io/acme/web:1.5.0"
VARIANTS = {
    "canary": {"strategy": "canary", "candidateImage": CANDIDATE, "weight": 25},
    "blue": {"strategy": "blueGreen", "candidateImage": CANDIDATE, "active": "blue"},
    "green": {"strategy": "blueGreen", "candidateImage": CANDIDATE, "active": "green"},
}


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synth]:
    base = tmp_path_factory.mktemp("releases")
    stack_config = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())

    def run(name: str) -> tuple[str, Synth]:
        document = yaml.safe_load(yaml.safe_dump(stack_config))
        document["config"]["saas-platform:frontend"]["release"] = VARIANTS[name]
        stack_file = base / f"Pulumi.{name}.yaml"
        stack_file.write_text(yaml.safe_dump(document))
        proc = run_synth("staging", base / name, "--stack-file", str(stack_file))
        return name, Synth.load("staging", base / name, proc)

    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(pool.map(run, VARIANTS))


def weights(synth: Synth) -> dict[str, int]:
    assert synth.returncode == 0, synth.stderr
    weighted = synth.object("TraefikService", "frontend-weighted", "saas-app")["spec"]["weighted"]["services"]
    return {s["name"]: s["weight"] for s in weighted}


def images(synth: Synth) -> dict[str, str]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"] for d in frontend_deployments(synth)}


def test_canary_runs_two_tracks_with_the_configured_weight(releases: dict[str, Synth]) -> None:
    synth = releases["canary"]
    assert weights(synth) == {"frontend-stable": 75, "frontend-canary": 25}
    assert images(synth) == {"frontend-stable": "ghcr.io/acme/web:1.4.2", "frontend-canary": CANDIDATE}
    route = synth.object("IngressRoute", "frontend", "saas-app")["spec"]["routes"][0]
    assert route["services"] == [{"name": "frontend-weighted", "kind": "TraefikService"}]
    ids = {d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] for d in frontend_deployments(synth)}
    assert len(ids) == 2, "each track needs its own deployment id (version skew protection)"


def test_blue_green_switch_moves_all_traffic_and_back(releases: dict[str, Synth]) -> None:
    assert weights(releases["blue"]) == {"frontend-blue": 100, "frontend-green": 0}
    assert weights(releases["green"]) == {"frontend-blue": 0, "frontend-green": 100}
    # Both colours keep running in both states, so switching back is instant.
    assert images(releases["blue"]) == images(releases["green"]) == {
        "frontend-blue": "ghcr.io/acme/web:1.4.2",
        "frontend-green": CANDIDATE,
    }


def test_switching_colour_changes_only_the_weights(releases: dict[str, Synth], tmp_path: Path) -> None:
    from synth.diff import diff

    plan = diff(releases["blue"].out, releases["green"].out)
    assert plan["added"] == [] and plan["removed"] == []
    (changed,) = plan["changed"].items()
    urn, keys = changed
    assert urn.endswith("TraefikService::frontend-weighted")
    assert keys == ["inputs.spec.weighted.services[0].weight", "inputs.spec.weighted.services[1].weight"]
