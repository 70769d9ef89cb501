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
    # Next.js v15 packages/next/src/server/lib/incremental-cache/file-system-cache.ts writes
    # APP_PAGE/APP_ROUTE entries under `.next/server/app` (pages under `.next/server/pages`),
    # only the fetch and image caches under `.next/cache` (review finding 15).
    assert mounts == {
        "/tmp": "tmp", "/app/.next/cache": "next-cache",
        "/app/.next/server/app": "isr-app", "/app/.next/server/pages": "isr-pages",
    }
    assert all("emptyDir" in v for v in pod["volumes"])
    # The build's prerendered output is copied into the ISR volumes before the server starts.
    (seed,) = pod["initContainers"]
    assert seed["image"] == container["image"] and seed["securityContext"]["readOnlyRootFilesystem"] is True
    seeded = {m["name"]: m["mountPath"] for m in seed["volumeMounts"]}
    assert set(seeded) == {"isr-app", "isr-pages"} and all(p.startswith("/seed/") for p in seeded.values())
    resources = container["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_settings_in_configmap_and_key_in_secret(stack: Synth) -> None:
    settings = stack.object("ConfigMap", "frontend-config", "saas-app")["data"]
    domain = stack.outputs["domain"]
    # No asset host: nothing serves static.<domain> (review finding 7); the server's own
    # /_next/static/ is what the edge caches.
    assert not any("ASSET" in k for k in settings)
    assert not any("static." in str(v) for v in settings.values())
    assert not any("KEY" in k or "SECRET" in k for k in settings)
    # Server-side calls stay in the cluster (finding 22/23), the browser gets the public URL.
    assert settings["API_URL"] == "http://backend-web.saas-app.svc.cluster.local:8080"
    assert settings["PUBLIC_API_URL"] == f"https://app.{domain}"
    # Laravel Echo needs Reverb's public key, host, port and scheme at run time (finding 21).
    assert (settings["REVERB_HOST"], settings["REVERB_PORT"], settings["REVERB_SCHEME"]) == (f"app.{domain}", "443", "https")
    secret = stack.object("Secret", "frontend-secrets", "saas-app")
    assert secret["stringData"] == {"NEXT_SERVER_ACTIONS_ENCRYPTION_KEY": "[secret]", "REVERB_APP_KEY": "[secret]"}
    # The key is the backend's: one RandomPassword feeds both Secrets.
    (frontend_secret,) = [r for r in stack.of_type("kubernetes:core/v1:Secret") if r["name"] == "frontend-secrets"]
    assert any(d.endswith("RandomPassword::backend-reverb-key") for d in frontend_secret["dependencies"])
    (key,) = [r for r in stack.of_type("random:index/randomBytes:RandomBytes") if r["name"] == "frontend-server-actions-key"]
    assert key["inputs"]["length"] == 32
    assert key["protect"] == (stack.stack == "prod")


def test_ingress_route_serves_apex_and_redirects_www(stack: Synth) -> None:
    domain = stack.outputs["domain"]
    route = stack.object("IngressRoute", "frontend", "saas-app")["spec"]
    assert route["entryPoints"] == ["websecure"] and route["tls"] == {}
    matches = [r["match"] for r in route["routes"]]
    assert matches[:2] == [f"Host(`{domain}`)", f"Host(`www.{domain}`)"]
    # Review finding 31: /api/metrics and /api/health are not served through the edge: a more
    # specific route with a higher priority puts an allow-list nobody matches in front.
    internal = route["routes"][2]
    assert internal["match"] == f"(Host(`{domain}`) || Host(`www.{domain}`)) && (Path(`/api/metrics`) || Path(`/api/health`))"
    assert internal["priority"] > len(matches[0]) and internal["middlewares"][0]["name"] == "frontend-internal-only"
    guard = stack.object("Middleware", "frontend-internal-only", "saas-app")["spec"]
    assert guard == {"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}}
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
    # The stable track keeps the rolling release's object names (review finding 28).
    assert weights(synth) == {"frontend": 75, "frontend-canary": 25}
    assert images(synth) == {"frontend": "ghcr.io/acme/web:1.4.2", "frontend-canary": CANDIDATE}
    route = synth.object("IngressRoute", "frontend", "saas-app")["spec"]["routes"][0]
    assert route["services"] == [{"name": "frontend-weighted", "kind": "TraefikService"}]
    # Next.js inlines deploymentId at build time (v15 packages/next/src/build/define-env.ts):
    # a pod env var would never reach the bundles (finding 14), so none is set.
    # The only pod env vars are the OpenTelemetry SDK's (tracing, issue 22).
    for deployment in frontend_deployments(synth):
        env = deployment["spec"]["template"]["spec"]["containers"][0].get("env") or []
        assert all(e["name"].startswith("OTEL_") for e in env), env


def test_blue_green_switch_moves_all_traffic_and_back(releases: dict[str, Synth]) -> None:
    assert weights(releases["blue"]) == {"frontend": 100, "frontend-green": 0}
    assert weights(releases["green"]) == {"frontend": 0, "frontend-green": 100}
    # Both colours keep running in both states, so switching back is instant.
    assert images(releases["blue"]) == images(releases["green"]) == {
        "frontend": "ghcr.io/acme/web:1.4.2",
        "frontend-green": CANDIDATE,
    }


def test_several_tracks_keep_a_browser_on_one_build(releases: dict[str, Synth]) -> None:
    """Traefik v3.7 `weighted.sticky.cookie` (traefik.io_traefikservices.yaml): without it a
    browser alternates between builds and a Server Action posted to the other build fails."""
    for name in ("canary", "blue"):
        sticky = releases[name].object("TraefikService", "frontend-weighted", "saas-app")["spec"]["weighted"]["sticky"]
        assert sticky["cookie"]["name"] and sticky["cookie"]["secure"] is True and sticky["cookie"]["httpOnly"] is True


def test_a_strategy_change_keeps_the_stable_track(synthesized: dict[str, Synth], releases: dict[str, Synth]) -> None:
    """Rolling -> canary (and back) keeps the stable Deployment, Service, HPA and PDB with the
    same names and the same immutable selector: the plan adds the canary's objects and never
    replaces the stable ones (which would restart at one pod). Review finding 28."""
    from synth.diff import diff

    plan = diff(synthesized["staging"].out, releases["canary"].out)
    assert not any(urn.endswith(("::frontend", "::frontend-stable")) for urn in plan["removed"]), plan["removed"]
    rolling = synthesized["staging"].object("Deployment", "frontend", "saas-app")
    canary = releases["canary"].object("Deployment", "frontend", "saas-app")
    assert rolling["spec"]["selector"] == canary["spec"]["selector"]
    for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        assert releases["canary"].object(kind, "frontend", "saas-app")
    # The canary's pods never match the stable selector (no two PDBs over one pod).
    canary_pods = releases["canary"].object("Deployment", "frontend-canary", "saas-app")["spec"]["template"]["metadata"]["labels"]
    assert not all(canary_pods.get(k) == v for k, v in rolling["spec"]["selector"]["matchLabels"].items())


def test_switching_colour_changes_only_the_weights(releases: dict[str, Synth], tmp_path: Path) -> None:
    from synth.diff import diff

    plan = diff(releases["blue"].out, releases["green"].out)
    assert plan["added"] == [] and plan["removed"] == []
    (changed,) = plan["changed"].items()
    urn, keys = changed
    assert urn.endswith("TraefikService::frontend-weighted")
    assert keys == ["inputs.spec.weighted.services[0].weight", "inputs.spec.weighted.services[1].weight"]


def test_a_changed_setting_or_key_rolls_the_frontend(stack: Synth) -> None:
    """Review finding 9: the pod template carries a checksum of frontend-config and
    frontend-secrets (pulumi-kubernetes replaces them under the same name, which alone
    restarts no pod)."""
    for deployment in frontend_deployments(stack):
        checksum = deployment["spec"]["template"]["metadata"]["annotations"]["saas-platform.io/config-checksum"]
        assert len(checksum) == 16 and checksum != "[secret]"


def test_seed_cache_script_copies_the_prerendered_output(tmp_path: Path) -> None:
    """Run the init container's real shell script against a standalone-build-shaped tree:
    the app router's output is copied, a missing pages router is no error."""
    import subprocess

    from components.frontend.deployment import seed_cache_script

    image, seed = tmp_path / "app", tmp_path / "seed"
    (image / ".next" / "server" / "app").mkdir(parents=True)
    (image / ".next" / "server" / "app" / "index.html").write_text("<html>")
    for volume in ("isr-app", "isr-pages"):
        (seed / volume).mkdir(parents=True)
    script = seed_cache_script().replace("/app/.next", f"{image}/.next").replace("/seed/", f"{seed}/")
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert (seed / "isr-app" / "index.html").read_text() == "<html>"
    assert list((seed / "isr-pages").iterdir()) == []
