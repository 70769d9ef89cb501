"""LaravelBackend: the web pod, migrations, Reverb, workers, scheduler and their wiring."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from components.backend import migration_job_name
from tests.conftest import ROOT, Synth, run_synth

APP_DEPLOYMENTS = ("backend-web", "backend-reverb", "backend-worker", "backend-scheduler")
WEB_BOUNDS = {"dev": (1, 2), "staging": (2, 4), "prod": (3, 7)}
WORKER_BOUNDS = {"dev": (1, 2), "staging": (1, 3), "prod": (1, 10)}


def pod(stack: Synth, name: str) -> dict[str, Any]:
    return stack.object("Deployment", name, "saas-app")["spec"]["template"]["spec"]


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    (match,) = [c for c in spec["containers"] if c["name"] == name]
    return match


def test_web_pod_has_nginx_php_fpm_and_exporters(stack: Synth) -> None:
    spec = pod(stack, "backend-web")
    assert [c["name"] for c in spec["containers"]] == ["nginx", "php-fpm", "nginx-exporter", "php-fpm-exporter"]
    (init,) = spec["initContainers"]
    assert init["name"] == "copy-public" and init["image"] == "ghcr.io/acme/api:2.3.0"
    # The public directory is shared through an emptyDir: init writes it, nginx serves it.
    assert any(m["name"] == "public" for m in init["volumeMounts"])
    assert any(m["name"] == "public" for m in container(spec, "nginx")["volumeMounts"])
    assert next(v for v in spec["volumes"] if v["name"] == "public")["emptyDir"]
    php_fpm = container(spec, "php-fpm")
    assert php_fpm["image"] == "ghcr.io/acme/api:2.3.0"
    assert {m["mountPath"] for m in php_fpm["volumeMounts"]} >= {"/usr/local/etc/php-fpm.conf", "/usr/local/etc/php/conf.d/zz-saas.ini"}


def test_web_probes_go_through_nginx_into_laravel(stack: Synth) -> None:
    nginx = container(pod(stack, "backend-web"), "nginx")
    assert nginx["readinessProbe"]["httpGet"]["path"] == "/up"
    assert nginx["startupProbe"]["httpGet"]["path"] == "/up"
    assert "tcpSocket" in nginx["livenessProbe"]
    assert container(pod(stack, "backend-web"), "php-fpm")["livenessProbe"]["tcpSocket"]["port"] == "fastcgi"


def test_graceful_shutdown(stack: Synth) -> None:
    spec = pod(stack, "backend-web")
    for name in ("nginx", "php-fpm"):
        assert container(spec, name)["lifecycle"]["preStop"]["sleep"]["seconds"] >= 5
    php = yaml.safe_load(yaml.safe_dump(stack.object("ConfigMap", "backend-php", "saas-app")["data"]))
    timeout = int(re.search(r"request_terminate_timeout = (\d+)s", php["php-fpm.conf"]).group(1))
    assert spec["terminationGracePeriodSeconds"] > timeout


def test_exporters_are_scraped(stack: Synth) -> None:
    monitor = stack.object("ServiceMonitor", "backend-web", "saas-app")["spec"]
    assert {e["port"] for e in monitor["endpoints"]} == {"nginx-metrics", "fpm-metrics"}
    service = stack.object("Service", "backend-web", "saas-app")
    assert {p["name"] for p in service["spec"]["ports"]} >= {"nginx-metrics", "fpm-metrics"}
    assert all(service["metadata"]["labels"][k] == v for k, v in monitor["selector"]["matchLabels"].items())


def test_migration_job_runs_before_every_deployment(stack: Synth) -> None:
    name = migration_job_name("ghcr.io/acme/api:2.3.0")
    job = stack.object("Job", name, "saas-app")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["php", "artisan", "migrate", "--force", "--isolated"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    job_urn = next(r["urn"] for r in stack.of_type("kubernetes:batch/v1:Job"))
    for deployment in stack.of_type("kubernetes:apps/v1:Deployment"):
        if deployment["inputs"]["metadata"]["labels"]["app.kubernetes.io/name"] == "backend":
            assert job_urn in deployment["dependencies"], deployment["name"]


def test_migration_job_name_changes_only_with_the_image() -> None:
    assert migration_job_name("ghcr.io/acme/api:2.3.0") == migration_job_name("ghcr.io/acme/api:2.3.0")
    assert migration_job_name("ghcr.io/acme/api:2.3.0") != migration_job_name("ghcr.io/acme/api:2.3.1")
    assert re.fullmatch(r"backend-migrate-[0-9a-f]{10}", migration_job_name("x/y:1"))


@pytest.fixture(scope="module")
def image_bump(tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, Synth]:
    """staging twice: once with a changed backend image, once with a changed unrelated value."""
    base = tmp_path_factory.mktemp("bump")
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())

    def run(name: str, mutate: Any) -> Synth:
        variant = yaml.safe_load(yaml.safe_dump(document))
        mutate(variant["config"])
        stack_file = base / f"Pulumi.{name}.yaml"
        stack_file.write_text(yaml.safe_dump(variant))
        return Synth.load("staging", base / name, run_synth("staging", base / name, "--stack-file", str(stack_file)))

    def new_image(config: dict[str, Any]) -> None:
        config["saas-platform:backend"]["image"] = "ghcr.io/acme/api:2.4.0"

    def new_queue_setting(config: dict[str, Any]) -> None:
        config["saas-platform:backend"]["jobsPerWorker"] = 50

    with ThreadPoolExecutor(max_workers=2) as pool:
        image, other = pool.map(lambda a: run(*a), [("image", new_image), ("other", new_queue_setting)])
    return image, other


def test_new_image_means_new_migration_job(image_bump: tuple[Synth, Synth], synthesized: dict[str, Synth]) -> None:
    image, other = image_bump
    jobs = lambda s: {j["metadata"]["name"] for j in s.objects("Job", "saas-app")}  # noqa: E731
    assert jobs(image) == {migration_job_name("ghcr.io/acme/api:2.4.0")}
    assert jobs(other) == jobs(synthesized["staging"])


def test_workers_scale_on_queue_length_within_tier(stack: Synth) -> None:
    scaled = stack.object("ScaledObject", "backend-worker", "saas-app")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "backend-worker"
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == WORKER_BOUNDS[stack.stack]
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "redis-sentinel"
    assert trigger["metadata"]["listName"] == "saas_queues:default"
    assert trigger["metadata"]["sentinelMaster"] == "mymaster"
    auth = stack.object("TriggerAuthentication", "backend-redis", "saas-app")["spec"]
    assert {r["parameter"] for r in auth["secretTargetRef"]} == {"password", "sentinelPassword"}
    assert not [h for h in stack.objects("HorizontalPodAutoscaler", "saas-app") if h["spec"]["scaleTargetRef"]["name"] == "backend-worker"]
    worker = container(pod(stack, "backend-worker"), "worker")
    assert worker["command"][:4] == ["php", "artisan", "queue:work", "redis"]
    assert {"--max-time=3600", "--tries=6", "--backoff=30,120,300,600,1200", "--timeout=300"} <= set(worker["command"])
    assert pod(stack, "backend-worker")["terminationGracePeriodSeconds"] > 300


def test_exactly_one_scheduler(stack: Synth) -> None:
    schedulers = [d for d in stack.objects("Deployment", "saas-app") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "scheduler"]
    (scheduler,) = schedulers
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"] == {"type": "Recreate"}
    assert container(scheduler["spec"]["template"]["spec"], "scheduler")["command"] == ["php", "artisan", "schedule:work"]
    # No CronJob scheduler in the app (the data namespace's CronJobs are the PITR guard's).
    assert not stack.objects("CronJob", "saas-app")
    assert not [h for h in stack.objects("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == "backend-scheduler"]


def test_web_autoscaling_follows_the_seed(stack: Synth) -> None:
    hpa = stack.object("HorizontalPodAutoscaler", "backend-web", "saas-app")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == WEB_BOUNDS[stack.stack]
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in hpa["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    pdbs = {p["metadata"]["name"] for p in stack.objects("PodDisruptionBudget", "saas-app")}
    assert ("backend-web" in pdbs) == (WEB_BOUNDS[stack.stack][0] >= 2)


def test_reverb_and_api_routes(stack: Synth) -> None:
    domain = stack.outputs["domain"]
    route = stack.object("IngressRoute", "backend", "saas-app")["spec"]
    assert route["tls"] == {} and route["entryPoints"] == ["websecure"]
    websocket, api = route["routes"]
    assert websocket["match"] == f"Host(`app.{domain}`) && (PathPrefix(`/app/`) || PathPrefix(`/apps/`))"
    assert websocket["services"][0]["name"] == "backend-reverb"
    assert websocket["services"][0]["serversTransport"] == "backend-reverb"
    assert api["match"] == f"Host(`app.{domain}`)"
    assert {m["name"] for m in api["middlewares"]} >= {"security-headers", "rate-limit"}
    transport = stack.object("ServersTransport", "backend-reverb", "saas-app")["spec"]
    assert transport["forwardingTimeouts"]["idleConnTimeout"] == "3600s"
    reverb = container(pod(stack, "backend-reverb"), "reverb")
    assert reverb["command"][:3] == ["php", "artisan", "reverb:start"]


def test_no_secret_in_configmaps_or_plain_env(stack: Synth) -> None:
    settings = stack.object("ConfigMap", "backend-config", "saas-app")["data"]
    forbidden = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN|APP_KEY")
    assert not [k for k in settings if forbidden.search(k)]
    secret = stack.object("Secret", "backend-secrets", "saas-app")["stringData"]
    assert {"APP_KEY", "DB_PASSWORD", "REDIS_PASSWORD", "RABBITMQ_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MAIL_USERNAME", "MAIL_PASSWORD"} <= set(secret)
    assert set(secret.values()) == {"[secret]"}
    for name in APP_DEPLOYMENTS:
        for c in pod(stack, name)["containers"]:
            for env in c.get("env", []):
                assert "value" not in env or not forbidden.search(env["name"]), (name, env)


def test_backend_is_wired_to_the_data_layer(stack: Synth) -> None:
    settings = stack.object("ConfigMap", "backend-config", "saas-app")["data"]
    assert settings["DB_HOST"].endswith("-primary.saas-data.svc.cluster.local")
    assert settings["DB_READ_HOST"].endswith("-secondary.saas-data.svc.cluster.local")
    assert settings["REDIS_SENTINEL_SERVICE"] == "mymaster"
    assert settings["REDIS_CLIENT"] == "predis"
    assert settings["SESSION_DRIVER"] == settings["CACHE_STORE"] == "redis"


def test_integration_secrets_reach_the_backend_secret(tmp_path: Any) -> None:
    """Stripe/Twilio/Maps/exchange-rate keys come from secret config into backend-secrets only."""
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["saas-platform:stripeSecret"] = {"secure": "AAABAHN0cmlwZQ=="}
    document["config"]["saas-platform:googleMapsKey"] = {"secure": "AAABAG1hcHM="}
    stack_file = tmp_path / "Pulumi.integrations.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    synth = Synth.load("dev", tmp_path / "out", run_synth("dev", tmp_path / "out", "--stack-file", str(stack_file)))
    assert synth.returncode == 0, synth.stderr
    secret = synth.object("Secret", "backend-secrets", "saas-app")["stringData"]
    assert secret["STRIPE_SECRET"] == secret["GOOGLE_MAPS_API_KEY"] == "[secret]"
    assert "TWILIO_AUTH_TOKEN" not in secret
    settings = synth.object("ConfigMap", "backend-config", "saas-app")["data"]
    assert not [k for k in settings if k.startswith(("STRIPE", "GOOGLE", "TWILIO"))]
    plain = document["config"]["saas-platform:stripeSecret"]
    document["config"]["saas-platform:stripeSecret"] = "sk_live_plain"
    stack_file.write_text(yaml.safe_dump(document))
    proc = run_synth("dev", tmp_path / "plain", "--stack-file", str(stack_file))
    assert proc.returncode == 1 and "saas-platform:stripeSecret: must be set as a secret" in proc.stderr
    assert "sk_live_plain" not in proc.stderr and plain
