"""LaravelBackend: the web pod, migrations, Reverb, workers, scheduler and their wiring."""

from __future__ import annotations

import json
import re
import textwrap
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from components.backend.migrations import migration_job_name
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
    assert init["name"] == "prepare" and init["image"] == "ghcr.io/acme/api:2.3.0"
    assert "/srv/public" in init["command"][-1]
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
    # php-fpm listens on loopback only; the kubelet dials a tcpSocket probe at the pod IP, so
    # its probes run inside the container (k8s.io/kubernetes pkg/kubelet/prober: tcp host = pod IP).
    php_fpm = container(pod(stack, "backend-web"), "php-fpm")
    for probe in ("livenessProbe", "readinessProbe"):
        assert "tcpSocket" not in php_fpm[probe]
        assert "fsockopen('127.0.0.1', 9000" in " ".join(php_fpm[probe]["exec"]["command"])


def test_graceful_shutdown(stack: Synth) -> None:
    spec = pod(stack, "backend-web")
    for name in ("nginx", "php-fpm"):
        assert container(spec, name)["lifecycle"]["preStop"]["sleep"]["seconds"] >= 5
    php = yaml.safe_load(yaml.safe_dump(stack.object("ConfigMap", "backend-php", "saas-app")["data"]))
    timeout = int(re.search(r"request_terminate_timeout = (\d+)s", php["php-fpm.conf"]).group(1))
    assert spec["terminationGracePeriodSeconds"] > timeout


def test_exporters_are_scraped(stack: Synth) -> None:
    monitor = stack.object("ServiceMonitor", "backend-web", "saas-app")["spec"]
    # The exporters, and the app's own metrics route through nginx (backend.metricsPath).
    assert {e["port"] for e in monitor["endpoints"]} == {"nginx-metrics", "fpm-metrics", "http"}
    service = stack.object("Service", "backend-web", "saas-app")
    assert {p["name"] for p in service["spec"]["ports"]} >= {"nginx-metrics", "fpm-metrics", "http"}
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
    websocket, metrics, api = route["routes"]
    # The app's metrics route is refused through the edge (an allow-list nobody outside matches).
    assert metrics["match"] == f"Host(`app.{domain}`) && Path(`/metrics`)"
    assert metrics["middlewares"] == [{"name": "backend-internal-only", "namespace": "saas-app"}]
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
    # mariadb-operator v26.6.0 internal/controller/mariadb_controller.go: the -primary and
    # -secondary Services exist only when IsHAEnabled() (replication or Galera); the `<name>`
    # Service always. Dev runs no replication (review finding 3).
    mariadb = stack.object("MariaDB", "mariadb", "saas-data")["spec"]
    if mariadb.get("maxScaleRef"):  # medium/large: MaxScale splits reads itself (tests/test_maxscale.py)
        assert settings["DB_HOST"] == settings["DB_READ_HOST"] == "mariadb-maxscale.saas-data.svc.cluster.local"
    elif mariadb.get("replication", {}).get("enabled"):
        assert settings["DB_HOST"] == "mariadb-primary.saas-data.svc.cluster.local"
        assert settings["DB_READ_HOST"] == "mariadb-secondary.saas-data.svc.cluster.local"
    else:
        assert settings["DB_HOST"] == settings["DB_READ_HOST"] == "mariadb.saas-data.svc.cluster.local"
    assert (stack.stack == "dev") is not bool(mariadb.get("replication", {}).get("enabled"))
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


# ---- first real deployment: review findings on the application side --------------------------

PHP_WORKLOADS = ("backend-web", "backend-reverb", "backend-worker", "backend-worker-rabbitmq", "backend-scheduler")


def php_pods(stack: Synth) -> dict[str, dict[str, Any]]:
    pods = {name: pod(stack, name) for name in PHP_WORKLOADS}
    (job,) = [j for j in stack.objects("Job", "saas-app") if j["metadata"]["name"].startswith("backend-migrate-")]
    pods["migrate"] = job["spec"]["template"]["spec"]
    return pods


def test_every_php_pod_seeds_laravels_writable_tree(stack: Synth) -> None:
    """Review finding 1 (and 31, bootstrap/cache): the storage/ and bootstrap/cache emptyDirs
    hide the image's directories; laravel/framework 12.x config/view.php realpath()s
    storage/framework/views and BladeCompiler refuses a false path, so /up would answer 500.
    Each PHP pod seeds them from the image in an init container that does not mount over the
    image's own paths."""
    for name, spec in php_pods(stack).items():
        prepare = spec["initContainers"][0]
        assert prepare["name"] == "prepare", name
        mounts = {m["name"]: m["mountPath"] for m in prepare["volumeMounts"]}
        assert mounts["storage"] == "/seed/storage" and mounts["bootstrap-cache"] == "/seed/bootstrap-cache", name
        assert not any(path.startswith("/var/www/html") for path in mounts.values()), name
        script = prepare["command"][-1]
        for directory in ("framework/views", "framework/cache/data", "framework/sessions", "logs"):
            assert f"/seed/storage/{directory}" in script, (name, directory)
        for container in spec["containers"]:
            if container["image"].startswith("ghcr.io/acme/api"):
                paths = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert paths["/var/www/html/storage"] == "storage" and paths["/var/www/html/bootstrap/cache"] == "bootstrap-cache"


@pytest.mark.parametrize("image_has_storage", [True, False])
def test_prepare_script_builds_the_tree_laravel_needs(tmp_path: Any, image_has_storage: bool) -> None:
    """Run the init container's real shell script against an image-shaped tree."""
    import subprocess

    from components.backend.pods import prepare_script

    image, seed, public = tmp_path / "image", tmp_path / "seed", tmp_path / "public"
    (image / "public").mkdir(parents=True)
    (image / "public" / "index.php").write_text("<?php")
    (image / "bootstrap" / "cache").mkdir(parents=True)
    (image / "bootstrap" / "cache" / "packages.php").write_text("<?php return [];")
    if image_has_storage:
        (image / "storage" / "app").mkdir(parents=True)
        (image / "storage" / "app" / "keep.txt").write_text("from the image")
    for directory in (seed / "storage", seed / "bootstrap-cache", public):
        directory.mkdir(parents=True)
    script = (
        prepare_script(public=True)
        .replace("/var/www/html", str(image))
        .replace("/seed", str(seed))
        .replace("/srv/public", str(public))
    )
    proc = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    for directory in ("framework/views", "framework/cache/data", "framework/sessions", "logs"):
        assert (seed / "storage" / directory).is_dir(), directory
    assert (seed / "bootstrap-cache" / "packages.php").is_file()
    assert (public / "index.php").is_file()
    assert (seed / "storage" / "app" / "keep.txt").is_file() is image_has_storage


def test_migration_waits_for_ready_stores_and_heals(stack: Synth) -> None:
    """Review finding 2: the Job depends on the data CRs, whose readiness the engine awaits
    (pulumi-kubernetes v4.32.0 provider/pkg/metadata/overrides.go: `pulumi.com/waitFor`), waits
    for the database and Sentinel to answer, retries, and a failed Job is replaced on the next
    `pulumi up` (`pulumi.com/replaceUnready`, provider/pkg/provider/provider.go Diff)."""
    (job_record,) = [r for r in stack.of_type("kubernetes:batch/v1:Job") if r["name"].startswith("backend-migrate-")]
    crs = {
        r["inputs"]["kind"]: r for r in stack.resources
        if r["type"].startswith(("kubernetes:k8s.mariadb.com/", "kubernetes:redis.redis.opstreelabs.in/"))
        and r["inputs"].get("kind") in ("MariaDB", "Database", "User", "Grant", "RedisReplication", "RedisSentinel")
        and "maxscale" not in r["name"]  # MaxScale's own users: the MaxScale CR is awaited instead (test_maxscale.py)
    }
    assert set(crs) == {"MariaDB", "Database", "User", "Grant", "RedisReplication", "RedisSentinel"}
    for kind, record in crs.items():
        assert record["urn"] in job_record["dependencies"], kind
    for kind in ("MariaDB", "Database", "User", "Grant"):
        assert crs[kind]["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready", kind
    # redis-operator v0.26.0 redisreplications CRD: `.status.masterNode` is its only status.
    assert crs["RedisReplication"]["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "jsonpath={.status.masterNode}"
    job = stack.object("Job", migration_job_name("ghcr.io/acme/api:2.3.0"), "saas-app")
    assert job["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
    assert job["spec"]["backoffLimit"] >= 6
    init = [c["name"] for c in job["spec"]["template"]["spec"]["initContainers"]]
    assert init == ["prepare", "wait-for-stores"]


def test_migration_await_outlasts_the_job_deadline() -> None:
    """Review finding 31: pulumi-kubernetes gives up on a Job after ~10 min by default, while
    the Job may run 15; the resource's customTimeouts go beyond its deadline."""
    from components.backend import migrations as backend

    minutes = int(backend.MIGRATION_AWAIT.removesuffix("m"))
    assert minutes * 60 > backend.MIGRATION_DEADLINE_SECONDS


def test_wait_for_stores_waits_and_gives_up(tmp_path: Any) -> None:
    """The init container's PHP, run by the real php against listening and closed ports."""
    import os
    import shutil
    import socket
    import subprocess

    from components.backend.migrations import WAIT_FOR_STORES_PHP

    php = shutil.which("php8.2") or shutil.which("php")
    assert php, "php is missing: run `make system-deps`"
    listeners = [socket.socket() for _ in range(2)]
    for listener in listeners:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
    db_port, sentinel_port = (str(listener.getsockname()[1]) for listener in listeners)
    env = {**os.environ, "DB_HOST": "127.0.0.1", "DB_PORT": db_port, "REDIS_SENTINEL_HOST": "127.0.0.1",
           "REDIS_SENTINEL_PORT": sentinel_port, "WAIT_SECONDS": "2"}
    try:
        ok = subprocess.run([php, "-r", WAIT_FOR_STORES_PHP], env=env, capture_output=True, text=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        listeners[1].close()
        down = subprocess.run([php, "-r", WAIT_FOR_STORES_PHP], env=env, capture_output=True, text=True, timeout=30)
        assert down.returncode == 1 and f"127.0.0.1:{sentinel_port} not reachable" in down.stderr
    finally:
        for listener in listeners:
            listener.close()


@pytest.fixture(scope="module")
def changed_settings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synth]:
    """staging with a rotated SMTP key (a Secret value) and with a point-in-time restore (the
    ConfigMap's DB_HOST)."""
    base = tmp_path_factory.mktemp("settings")
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())

    def run(name: str) -> tuple[str, Synth]:
        variant = yaml.safe_load(yaml.safe_dump(document))
        config = variant["config"]
        if name == "rotation":
            config["saas-platform:edge"]["mail"]["smtpKeyRotation"] = 2
        else:
            config["saas-platform:data"] = {"mariadb": {"restore": {"targetTime": "2026-11-30T10:00:00Z"}}}
        stack_file = base / f"Pulumi.{name}.yaml"
        stack_file.write_text(yaml.safe_dump(variant))
        return name, Synth.load("staging", base / name, run_synth("staging", base / name, "--stack-file", str(stack_file)))

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, ["rotation", "restore"]))


def checksums(stack: Synth) -> dict[str, str]:
    out = {}
    for name, spec in [(d["metadata"]["name"], d) for d in stack.objects("Deployment", "saas-app")] + [
        (j["metadata"]["name"], j) for j in stack.objects("Job", "saas-app")
    ]:
        out[name] = spec["spec"]["template"]["metadata"]["annotations"]["saas-platform.io/config-checksum"]
    return out


def test_a_changed_setting_or_credential_rolls_the_pods(synthesized: dict[str, Synth], changed_settings: dict[str, Synth]) -> None:
    """Review finding 9: pulumi-kubernetes replaces a changed ConfigMap/Secret under its name
    (enableConfigMapMutable/enableSecretMutable off), which restarts nothing; the pod templates
    carry a checksum of both, so a rotated SMTP key and a restored database reach every pod.
    The SES key rotation creates the new key first and deletes the old one only at the end of
    the update, after the Deployments rolled onto the new Secret."""
    base = checksums(synthesized["staging"])
    assert {n for n in base if n.startswith("backend")} >= set(PHP_WORKLOADS)
    for name, synth in changed_settings.items():
        assert synth.returncode == 0, synth.stderr
        changed = checksums(synth)
        for workload in PHP_WORKLOADS:
            assert changed[workload] != base[workload], (name, workload)
    restored = changed_settings["restore"].object("ConfigMap", "backend-config", "saas-app")["data"]["DB_HOST"]
    assert restored != synthesized["staging"].object("ConfigMap", "backend-config", "saas-app")["data"]["DB_HOST"]
    # The frontend's settings are not the backend's: its pods keep their checksum.
    assert checksums(changed_settings["rotation"])["frontend"] == base["frontend"]


def test_config_checksum_hides_no_secret_and_tracks_every_value() -> None:
    import pulumi

    from components.k8s import config_checksum
    from tests.conftest import run_in_fresh_loop

    def value(settings: dict[str, str], key: str) -> tuple[str, bool]:
        async def run() -> tuple[str, bool]:
            out = config_checksum(settings, {"KEY": pulumi.Output.secret(key)})
            return await out.future(), await out.is_secret()

        return run_in_fresh_loop(run)

    first, secret = value({"A": "1"}, "k1")
    assert not secret and "k1" not in first
    assert value({"A": "1"}, "k2")[0] != first
    assert value({"A": "2"}, "k1")[0] != first
    assert value({"A": "1"}, "k1")[0] == first


def test_queue_retry_after_outlasts_the_worker_timeout(stack: Synth) -> None:
    """Review finding 10: laravel/laravel 12.x config/queue.php reads REDIS_QUEUE_RETRY_AFTER
    (default 90); a job still running after it is handed to a second worker."""
    settings = stack.object("ConfigMap", "backend-config", "saas-app")["data"]
    worker = container(pod(stack, "backend-worker"), "worker")
    timeout = int(next(a for a in worker["command"] if a.startswith("--timeout=")).split("=")[1])
    assert int(settings["REDIS_QUEUE_RETRY_AFTER"]) > timeout


def test_trusted_proxies_reach_the_client_behind_cloudflare(stack: Synth) -> None:
    """Review finding 12: Symfony's Request skips trusted hops from the right of
    X-Forwarded-For; Traefik appends Cloudflare's edge address, so its ranges are trusted
    (components/files/cloudflare-ips.json) when the edge is Cloudflare. The value only takes
    effect through bootstrap/app.php's trustProxies (documented in docs/components.md)."""
    from components.platform.traefik import cloudflare_ranges

    proxies = stack.object("ConfigMap", "backend-config", "saas-app")["data"]["TRUSTED_PROXIES"].split(",")
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(proxies)
    assert (set(cloudflare_ranges()) <= set(proxies)) is (stack.stack != "dev")
    docs = (ROOT / "docs" / "components.md").read_text()
    assert "trustProxies(at: explode(',', (string) env('TRUSTED_PROXIES')))" in docs


def test_no_asset_url_to_a_host_nothing_serves(stack: Synth) -> None:
    """Review finding 7: ASSET_URL prefixed every asset() and @vite URL with static.<domain>."""
    settings = stack.object("ConfigMap", "backend-config", "saas-app")["data"]
    assert "ASSET_URL" not in settings
    assert not any("static." in str(v) for v in settings.values())


def test_rabbitmq_queues_have_their_own_workers(stack: Synth) -> None:
    """Review finding 18: the RabbitMQ quorum queues are consumed by `queue:work rabbitmq`
    (vyuldashev/laravel-queue-rabbitmq's RABBITMQ_* settings), scaled by KEDA's rabbitmq
    trigger (KEDA 2.20: `host` from the TriggerAuthentication, QueueLength mode)."""
    settings = stack.object("ConfigMap", "backend-config", "saas-app")["data"]
    # AMQPS (5671) where data.tls is on (staging, prod: tests/test_data_tls.py).
    assert settings["RABBITMQ_HOST"] == "rabbitmq.saas-data.svc.cluster.local"
    assert settings["RABBITMQ_PORT"] == ("5672" if stack.stack == "dev" else "5671")
    assert settings["RABBITMQ_VHOST"] and settings["RABBITMQ_USER"]
    secret = stack.object("Secret", "backend-secrets", "saas-app")["stringData"]
    assert secret["RABBITMQ_PASSWORD"] == secret["RABBITMQ_URL"] == "[secret]"
    worker = container(pod(stack, "backend-worker-rabbitmq"), "worker")
    assert worker["command"][:5] == ["php", "artisan", "queue:work", "rabbitmq", "--queue=default"]
    scaled = stack.object("ScaledObject", "backend-worker-rabbitmq", "saas-app")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "backend-worker-rabbitmq"
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "rabbitmq" and trigger["metadata"]["queueName"] == "default"
    assert trigger["metadata"]["mode"] == "QueueLength" and trigger["authenticationRef"]["name"] == "backend-rabbitmq"
    auth = stack.object("TriggerAuthentication", "backend-rabbitmq", "saas-app")["spec"]["secretTargetRef"]
    assert auth[0] == {"parameter": "host", "name": "backend-secrets", "key": "RABBITMQ_URL"}
    assert auth[1:] == ([] if stack.stack == "dev" else [{"parameter": "ca", "name": "data-ca-trust", "key": "ca.crt"}])
    # The two worker Deployments never select each other's pods.
    redis_selector = stack.object("Deployment", "backend-worker", "saas-app")["spec"]["selector"]["matchLabels"]
    rabbit_labels = stack.object("Deployment", "backend-worker-rabbitmq", "saas-app")["spec"]["template"]["metadata"]["labels"]
    assert not all(rabbit_labels.get(k) == v for k, v in redis_selector.items())


def test_every_rabbitmq_queue_has_a_trigger(variant: Synth) -> None:
    from tests.conftest import VARIANT_QUEUES

    worker = container(pod(variant, "backend-worker-rabbitmq"), "worker")
    assert f"--queue={','.join(VARIANT_QUEUES)}" in worker["command"]
    triggers = variant.object("ScaledObject", "backend-worker-rabbitmq", "saas-app")["spec"]["triggers"]
    assert [t["metadata"]["queueName"] for t in triggers] == VARIANT_QUEUES


def test_broadcasts_and_ssr_stay_inside_the_cluster(stack: Synth) -> None:
    """Review findings 22/23: broadcasts go to Reverb's Service over http, SSR to the web
    Service; NetworkPolicies admit exactly those flows. In dev `*.saas.localhost` would not
    resolve in a pod at all."""
    settings = stack.object("ConfigMap", "backend-config", "saas-app")["data"]
    assert (settings["REVERB_HOST"], settings["REVERB_PORT"], settings["REVERB_SCHEME"]) == (
        "backend-reverb.saas-app.svc.cluster.local", "8080", "http")
    assert stack.object("Service", "backend-reverb", "saas-app")["spec"]["ports"][0]["port"] == 8080
    egress = stack.object("NetworkPolicy", "backend-egress", "saas-app")["spec"]["egress"]
    assert any(
        r.get("to") == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "backend", "app.kubernetes.io/component": "websockets"}}}]
        and r["ports"] == [{"protocol": "TCP", "port": 8080}]
        for r in egress
    )
    reverb = stack.object("NetworkPolicy", "backend-reverb-ingress", "saas-app")["spec"]
    assert reverb["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "backend", "app.kubernetes.io/component": "websockets"}
    assert reverb["ingress"] == [{"from": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "backend"}}}],
                                  "ports": [{"protocol": "TCP", "port": 8080}]}]
    web = stack.object("NetworkPolicy", "backend-web-ingress", "saas-app")["spec"]
    assert web["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "backend", "app.kubernetes.io/component": "backend-web"}
    frontend = [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "frontend", "app.kubernetes.io/component": "frontend"}}}]
    assert web["ingress"] == [{"from": frontend, "ports": [{"protocol": "TCP", "port": 8080}]}]
    frontend_egress = stack.object("NetworkPolicy", "frontend-egress", "saas-app")["spec"]["egress"]
    assert any(r.get("ports") == [{"protocol": "TCP", "port": 8080}] for r in frontend_egress)


def test_uploads_spool_outside_tmp_on_a_volume_sized_for_them(stack: Synth) -> None:
    """Review finding 27: nginx's buffered bodies and PHP's upload temp files no longer share
    the 256 Mi /tmp: their own volume holds a maximal upload per php-fpm worker, twice."""
    from components.backend import files

    spec = pod(stack, "backend-web")
    volume = next(v for v in spec["volumes"] if v["name"] == "uploads")
    php = stack.object("ConfigMap", "backend-php", "saas-app")["data"]
    children = int(re.search(r"pm.max_children = (\d+)", php["php-fpm.conf"]).group(1))
    upload = int(re.search(r"upload_max_filesize = (\d+)M", php["zz-saas.ini"]).group(1))
    assert int(volume["emptyDir"]["sizeLimit"].removesuffix("Mi")) >= children * upload * 2
    for name in ("nginx", "php-fpm"):
        assert {m["mountPath"]: m["name"] for m in container(spec, name)["volumeMounts"]}[files.UPLOAD_TMP_DIR] == "uploads"
    assert f"client_body_temp_path {files.UPLOAD_TMP_DIR};" in php["nginx.conf"]
    assert f"upload_tmp_dir = {files.UPLOAD_TMP_DIR}" in php["zz-saas.ini"]


def test_documented_laravel_config_authenticates_and_splits_reads(tmp_path: Any) -> None:
    """Review findings 8, 16, 20 and 19, on the configuration the docs tell the app to carry.

    - predis v3.x SentinelReplication::createSentinelConnection() nulls the password of a
      sentinel entry without its own ("don't leak password", predis PR 807), and our Sentinel
      requires one (redis-operator v0.26.0 `redisSecret`): each entry carries it.
    - SentinelReplication::getConnectionInternal() sends a connection's first read to a
      replica; ReplicationStrategy::disableLoadBalancing() (predis >= 2.2) keeps it on the master.
    - laravel/framework config/database.php reads no DB_READ_HOST: a `read` host block does.
    The helper class is linted by the real php."""
    import shutil
    import subprocess

    docs = (ROOT / "docs" / "components.md").read_text()
    for connection in ("default", "cache"):
        entry = re.search(rf"'{connection}' => \[\[(.*?)\]\]", docs)
        assert entry and "'password' => env('REDIS_PASSWORD')" in entry.group(1), connection
    assert "->disableLoadBalancing()" in docs
    assert "'read' => ['host' => [env('DB_READ_HOST'" in docs and "'sticky' => true" in docs
    helper = re.search(r"final class SentinelMaster \{.*?\n  \}\n", docs, re.S)
    assert helper, "the SentinelMaster helper is missing from docs/components.md"
    source = tmp_path / "SentinelMaster.php"
    source.write_text("<?php\nnamespace App\\Support;\n" + textwrap.dedent("  " + helper.group(0)))
    php = shutil.which("php8.2") or shutil.which("php")
    assert php, "php is missing: run `make system-deps`"
    lint = subprocess.run([php, "-l", str(source)], capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    readme = (ROOT / "README.md").read_text()
    # pulumi `preview`/`up` only validate the virtualenv (sdk/python/toolchain/pip.go).
    assert "installs\n`requirements.txt` itself" not in readme and "pulumi install" in readme
