"""LaravelBackend: the Laravel API on `app.<domain>` with Reverb, queue workers and the scheduler.

Pieces, all from the one application image:

- **web** (per release track): nginx + php-fpm in one pod. An init container copies the image's
  `public/` into a shared emptyDir that nginx serves; PHP requests go to php-fpm on
  127.0.0.1:9000. nginx, the php-fpm pool and php.ini come from `components/files/` templates
  (`components/laravel_files.py`), sized from the container's memory limit. nginx and php-fpm
  exporters run as sidecars. HPA on CPU 70 % / memory 80 % (the seed), PDB from two replicas.
- **migrations**: one Job per release, named from a hash of the image, running
  `php artisan migrate --force --isolated`. Every Deployment depends on it, so `pulumi up`
  waits for the migration and a failed one stops the rollout. The seed draws an init container:
  with N replicas that runs N migrations racing for the same lock on every pod start (and on
  every reschedule), and a failure shows as crash-looping web pods instead of one failed Job.
  A Job's pod template is immutable, hence a new name per image.
- **reverb**: Laravel Reverb WebSockets, scaled horizontally over Redis pub/sub on the Redis
  master Service (Reverb cannot use Sentinel), routed on `/app` and `/apps` of `app.<domain>`.
- **workers**: `queue:work` on the configured Redis queues with `--max-time`, `--tries`,
  `--backoff`; a KEDA ScaledObject scales them on queue length (the seed's custom metric)
  within the tier's bounds; the grace period outlasts the longest job.
- **scheduler**: exactly one `schedule:work` Deployment with the Recreate strategy. A CronJob
  would pay a PHP cold start every minute and, with `concurrencyPolicy: Forbid`, skip a minute
  whenever the previous run overran; Recreate guarantees the old pod is gone before the new
  one starts, and `onOneServer()` (Redis lock) covers the rest.

Settings: non-secret values in the `backend-config` ConfigMap; credentials (APP_KEY, database,
Redis, RabbitMQ, S3, SMTP, Reverb, integrations) in the `backend-secrets` Secret, both via
`envFrom`. Sessions, cache and queues use Redis through Sentinel (predis,
`replication: sentinel`; see README for the config/database.php snippet).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components import laravel_files as files
from components import routing
from components.config import ContainerSize, StackConfig
from components.contracts import MailRelay, MariaDBEndpoints, MiddlewareRef, RedisEndpoints, S3Access
from components.platform.network import INGRESS_LABEL, INGRESS_VALUE, SCRAPE_LABEL

TYPE = "saas-platform:index:LaravelBackend"
APP = "backend"
WEB_PORT = files.HTTP_PORT
REVERB_PORT = 8080
NGINX_EXPORTER_PORT = 9113
FPM_EXPORTER_PORT = 9253
# The seed's auto-scaling triggers for the backend.
CPU_TARGET, MEMORY_TARGET = 70, 80
# Exporter and proxy images, pinned.
NGINX_IMAGE = "nginxinc/nginx-unprivileged:1.28.0-alpine"
NGINX_EXPORTER_IMAGE = "nginx/nginx-prometheus-exporter:1.4.2"
FPM_EXPORTER_IMAGE = "hipages/php-fpm_exporter:2.2.0"
# Laravel prefixes every Redis key; fixing the prefix makes the queue keys KEDA watches known.
REDIS_PREFIX = "saas_"
# Worker retries (data-safety review #10): 6 tries, waits 30 s .. 20 min, 37.5 min in all,
# more than twice the 15 min RTO of the database before a job is failed.
WORKER_TRIES = 6
WORKER_BACKOFF_SECONDS = (30, 120, 300, 600, 1200)
SIDECAR_SIZE = ContainerSize("20m", "32Mi", "64Mi")
NGINX_SIZE = ContainerSize("50m", "64Mi", "128Mi")


@dataclass(frozen=True)
class LaravelBackendArgs:
    """Inputs of LaravelBackend.

    config: resolved stack config (image, release strategy, replicas, PHP limits, queues).
    namespace: the application namespace (the platform's label contract opens Traefik and
        Prometheus in, and the data layer out).
    middlewares: shared Traefik middlewares for the API routes (security headers, rate
        limiting, compression), in order.
    database, cache: endpoints and credentials from DataLayer.
    queue_url: RabbitMQ connection URL (secret) from DataLayer, for the `rabbitmq` connection.
    storage: the app's S3 access (uploads, static assets) from ObjectStorage.
    mail: the SMTP relay from EdgeDNS (SES, or the dev catcher).
    integrations: secret integration keys from config (Stripe, Twilio, Maps, exchange rates),
        as environment variable name -> secret Output.
    traefik_crds / monitoring_crds / keda_crds: resources installing the CRDs we instantiate.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    middlewares: Sequence[MiddlewareRef]
    database: MariaDBEndpoints
    cache: RedisEndpoints
    queue_url: pulumi.Output[str]
    storage: S3Access
    mail: MailRelay
    integrations: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    traefik_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    monitoring_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    keda_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)


class LaravelBackend(pulumi.ComponentResource):
    """Laravel web pods, migrations, Reverb, queue workers and the scheduler."""

    url: pulumi.Output[str]
    """Public URL of the API (`https://app.<domain>`)."""
    migration_jobs: list[str]
    """Names of this release's migration Jobs, one per image (change exactly when an image changes)."""
    tracks: list[routing.Track]

    def __init__(self, name: str, args: LaravelBackendArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.tracks = routing.tracks(cfg.raw.backend.image, cfg.raw.backend.release)

        self._settings = self._config_map()
        self._secret = self._secrets()
        self._php_files = self._php_config()

        # One migration Job per image that will serve traffic (both tracks of a canary must
        # find the schema they expect; migrations are expected to be backwards compatible).
        images = list(dict.fromkeys(t.image for t in self.tracks))
        self.migration_jobs = [migration_job_name(image) for image in images]
        jobs = [self._migration(image) for image in images]
        after_migrations = pulumi.ResourceOptions(parent=self, depends_on=jobs)

        services: list[pulumi.Input[str]] = []
        for track in self.tracks:
            services.append(self._web(track, after_migrations))
        crd_opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.traefik_crds))
        target = routing.route_target("backend-web", "backend-web", args.namespace, WEB_PORT, self.tracks, services, crd_opts)

        stable = self.tracks[-1] if cfg.raw.backend.release.strategy == "blueGreen" and cfg.raw.backend.release.active == "green" else self.tracks[0]
        reverb_service = self._reverb(stable, after_migrations)
        self._routes(target, reverb_service, crd_opts)
        self._workers(stable, after_migrations)
        self._scheduler(stable, after_migrations)
        self._monitoring()
        self._network_policies()

        self.url = pulumi.Output.from_input(f"https://app.{cfg.domain}")
        self.register_outputs({"url": self.url, "tracks": [t.name for t in self.tracks]})

    # ---------------------------------------------------------------- settings and secrets

    def _config_map(self) -> k8s.core.v1.ConfigMap:
        a, cfg = self._args, self._args.config
        environment = {"development": "local", "staging": "staging", "production": "production"}[cfg.environment]
        data: dict[str, pulumi.Input[str]] = {
            "APP_NAME": "saas-platform",
            "APP_ENV": environment,
            "APP_DEBUG": "false",
            "APP_URL": f"https://app.{cfg.domain}",
            "FRONTEND_URL": f"https://{cfg.domain}",
            "ASSET_URL": f"https://static.{cfg.domain}",
            "LOG_CHANNEL": "stderr",
            "LOG_LEVEL": "info" if cfg.is_production else "debug",
            # Only Traefik reaches the pods (NetworkPolicy) and Traefik only trusts forwarded
            # headers from Cloudflare, so the cluster's private ranges are the trusted hops.
            "TRUSTED_PROXIES": "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
            "DB_CONNECTION": "mariadb",
            "DB_HOST": a.database.primary_host,
            "DB_READ_HOST": a.database.replica_host,
            "DB_PORT": pulumi.Output.from_input(a.database.port).apply(str),
            "DB_DATABASE": a.database.database,
            "DB_USERNAME": a.database.username,
            "REDIS_CLIENT": "predis",
            "REDIS_PREFIX": REDIS_PREFIX,
            "REDIS_SENTINEL_HOST": a.cache.sentinel_host,
            "REDIS_SENTINEL_PORT": pulumi.Output.from_input(a.cache.sentinel_port).apply(str),
            "REDIS_SENTINEL_SERVICE": a.cache.master_name,
            "REDIS_HOST": a.cache.master_host,
            "REDIS_PORT": pulumi.Output.from_input(a.cache.port).apply(str),
            "CACHE_STORE": "redis",
            "SESSION_DRIVER": "redis",
            "SESSION_SECURE_COOKIE": "true",
            "QUEUE_CONNECTION": "redis",
            "BROADCAST_CONNECTION": "reverb",
            "REVERB_HOST": f"app.{cfg.domain}",
            "REVERB_PORT": "443",
            "REVERB_SCHEME": "https",
            "REVERB_SERVER_HOST": "0.0.0.0",
            "REVERB_SERVER_PORT": str(REVERB_PORT),
            "REVERB_SCALING_ENABLED": "true",
            "FILESYSTEM_DISK": "s3",
            "AWS_DEFAULT_REGION": a.storage.region,
            "AWS_BUCKET": a.storage.bucket,
            "AWS_ENDPOINT": a.storage.endpoint,
            "AWS_USE_PATH_STYLE_ENDPOINT": "true" if a.storage.path_style else "false",
            "MAIL_MAILER": "smtp",
            "MAIL_HOST": a.mail.host,
            "MAIL_PORT": str(a.mail.port),
            "MAIL_SCHEME": "smtp",
            "MAIL_FROM_ADDRESS": a.mail.from_address,
            "MAIL_FROM_NAME": "saas-platform",
        }
        return k8s.core.v1.ConfigMap(
            "backend-config",
            metadata=kube.metadata("backend-config", "backend-web", a.namespace, app=APP),
            data=data,
            opts=self._child,
        )

    def _secrets(self) -> k8s.core.v1.Secret:
        a, cfg = self._args, self._args.config
        keep = pulumi.ResourceOptions(parent=self, protect=cfg.protect)
        # APP_KEY encrypts sessions and `encrypted` casts: generated once, never rotated by
        # accident (protected in production).
        app_key = random.RandomBytes("backend-app-key", length=32, opts=keep)
        reverb_key = random.RandomPassword("backend-reverb-key", length=32, special=False, opts=keep)
        reverb_secret = random.RandomPassword("backend-reverb-secret", length=48, special=False, opts=keep)
        data: dict[str, pulumi.Input[str]] = {
            "APP_KEY": pulumi.Output.concat("base64:", app_key.base64),
            "DB_PASSWORD": a.database.password,
            "REDIS_PASSWORD": a.cache.password,
            "RABBITMQ_URL": a.queue_url,
            "AWS_ACCESS_KEY_ID": a.storage.access_key_id,
            "AWS_SECRET_ACCESS_KEY": a.storage.secret_access_key,
            "MAIL_USERNAME": a.mail.username,
            "MAIL_PASSWORD": a.mail.password,
            "REVERB_APP_ID": "saas-platform",
            "REVERB_APP_KEY": reverb_key.result,
            "REVERB_APP_SECRET": reverb_secret.result,
            **a.integrations,
        }
        return k8s.core.v1.Secret(
            "backend-secrets",
            metadata=kube.metadata("backend-secrets", "backend-web", a.namespace, app=APP),
            type="Opaque",
            string_data=data,
            opts=self._child,
        )

    def _php_settings(self) -> files.PhpSettings:
        php = self._args.config.raw.backend.php
        return files.PhpSettings(
            memory_limit_mb=kube.mebibytes(self._args.config.sizes.backend.memory_limit),
            worker_mb=php.workerMemoryMb,
            php_memory_limit_mb=php.memoryLimitMb,
            upload_max_mb=php.uploadMaxMb,
            request_timeout=php.requestTimeout,
            grace_seconds=self._web_grace(),
        )

    def _web_grace(self) -> int:
        return self._args.config.raw.backend.php.requestTimeout + 15

    def _php_config(self) -> k8s.core.v1.ConfigMap:
        settings = self._php_settings()
        return k8s.core.v1.ConfigMap(
            "backend-php",
            metadata=kube.metadata("backend-php", "backend-web", self._args.namespace, app=APP),
            data={
                "nginx.conf": files.nginx_conf(settings),
                "php-fpm.conf": files.php_fpm_conf(settings),
                "zz-saas.ini": files.php_ini(settings),
            },
            opts=self._child,
        )

    # ---------------------------------------------------------------- shared container bits

    def _env_from(self) -> list[k8s.core.v1.EnvFromSourceArgs]:
        return [
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=self._settings.metadata.name)),
            k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=self._secret.metadata.name)),
        ]

    def _php_container(self, name: str, image: str, command: list[str], **extra: object) -> k8s.core.v1.ContainerArgs:
        """A container of the app image with the app's settings, php.ini overrides and a
        writable storage/ and /tmp (the root filesystem is read-only)."""
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name="storage", mount_path=f"{files.APP_ROOT}/storage"),
            k8s.core.v1.VolumeMountArgs(name="bootstrap-cache", mount_path=f"{files.APP_ROOT}/bootstrap/cache"),
            k8s.core.v1.VolumeMountArgs(
                name="php-config", mount_path="/usr/local/etc/php/conf.d/zz-saas.ini", sub_path="zz-saas.ini", read_only=True
            ),
            *extra.pop("volume_mounts", []),  # type: ignore[misc]
        ]
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=image,
            command=command,
            env_from=self._env_from(),
            resources=extra.pop("resources", kube.resources(self._args.config.sizes.backend)),  # type: ignore[arg-type]
            security_context=kube.container_security_context(),
            volume_mounts=mounts,
            **extra,  # type: ignore[arg-type]
        )

    @staticmethod
    def _php_volumes(php_config: pulumi.Input[str]) -> list[k8s.core.v1.VolumeArgs]:
        return [
            kube.tmp_volume(),
            kube.tmp_volume("storage", "1Gi"),
            kube.tmp_volume("bootstrap-cache", "64Mi"),
            k8s.core.v1.VolumeArgs(name="php-config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=php_config)),
        ]

    def _deployment(
        self,
        name: str,
        component: str,
        selector: dict[str, str],
        pod: k8s.core.v1.PodSpecArgs,
        opts: pulumi.ResourceOptions,
        *,
        strategy: k8s.apps.v1.DeploymentStrategyArgs | None = None,
        replicas: int | None = None,
        labels: Mapping[str, str] | None = None,
        pod_labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> k8s.apps.v1.Deployment:
        return k8s.apps.v1.Deployment(
            name,
            metadata=kube.metadata(name, component, self._args.namespace, app=APP, labels=labels, annotations=annotations),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=strategy or kube.rolling_update(),
                revision_history_limit=5,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**kube.recommended_labels(APP, component), **selector, **(pod_labels or {})},
                        # Roll the pods when the rendered PHP/nginx files change.
                        annotations={"saas-platform.io/php-config": self._php_files.data.apply(_digest)},
                    ),
                    spec=pod,
                ),
            ),
            opts=opts,
        )

    # ---------------------------------------------------------------- migrations

    def _migration(self, image: str) -> k8s.batch.v1.Job:
        name = migration_job_name(image)
        pod = kube.pod_spec(
            [self._php_container("migrate", image, ["php", "artisan", "migrate", "--force", "--isolated"])],
            selector=kube.selector_labels(APP, "migrations"),
            volumes=self._php_volumes(self._php_files.metadata.name),
            spread=False,
            restart_policy="Never",
        )
        return k8s.batch.v1.Job(
            name,
            metadata=kube.metadata(name, "migrations", self._args.namespace, app=APP, labels={"saas-platform.io/image": _label_value(image)}),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=1,
                active_deadline_seconds=900,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**kube.recommended_labels(APP, "migrations")}),
                    spec=pod,
                ),
            ),
            # No ttlSecondsAfterFinished: a Job deleted by the cluster would be re-created (and
            # re-run) by the next `pulumi up`.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self._secret, self._settings]),
        )

    # ---------------------------------------------------------------- web

    def _web(self, track: routing.Track, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        a, cfg = self._args, self._args.config
        name = f"backend-web{track.suffix}"
        selector = {**kube.selector_labels(APP, "backend-web"), "saas-platform.io/track": track.name}
        public = k8s.core.v1.VolumeMountArgs(name="public", mount_path=files.DOCUMENT_ROOT)
        copy_public = self._php_container(
            "copy-public",
            track.image,
            ["sh", "-c", f"cp -a {files.APP_ROOT}/public/. {files.DOCUMENT_ROOT}/"],
            volume_mounts=[public],
            resources=kube.resources(SIDECAR_SIZE),
        )
        php_fpm = self._php_container(
            "php-fpm",
            track.image,
            ["php-fpm", "--nodaemonize", "--fpm-config", "/usr/local/etc/php-fpm.conf"],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name="php-config", mount_path="/usr/local/etc/php-fpm.conf", sub_path="php-fpm.conf", read_only=True
                )
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="fastcgi", container_port=9000)],
            liveness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="fastcgi"), period_seconds=10, failure_threshold=3
            ),
            readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="fastcgi"), period_seconds=5),
            # php-fpm's image stop signal is SIGQUIT (graceful): finish requests, then exit.
            lifecycle=kube.drain_before_stop(10),
        )
        nginx = k8s.core.v1.ContainerArgs(
            name="nginx",
            image=NGINX_IMAGE,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=WEB_PORT)],
            resources=kube.resources(NGINX_SIZE),
            # nginx-unprivileged runs under any UID (its writable paths are group-0 writable,
            # and ours are emptyDirs): the pod's high UID, not the image's 101.
            security_context=kube.container_security_context(),
            # Readiness goes through nginx and php-fpm into Laravel's /up health route.
            startup_probe=kube.startup_probe("/up", "http", budget_seconds=90),
            readiness_probe=kube.http_probe("/up", "http", period=5),
            liveness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="http"), period_seconds=10, failure_threshold=3
            ),
            # nginx's image stop signal is SIGQUIT (graceful shutdown) after this drain.
            lifecycle=kube.drain_before_stop(10),
            volume_mounts=[
                public,
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                k8s.core.v1.VolumeMountArgs(
                    name="php-config", mount_path="/etc/nginx/nginx.conf", sub_path="nginx.conf", read_only=True
                ),
            ],
        )
        exporters = [
            k8s.core.v1.ContainerArgs(
                name="nginx-exporter",
                image=NGINX_EXPORTER_IMAGE,
                args=[f"--nginx.scrape-uri=http://127.0.0.1:{files.STATUS_PORT}/stub_status"],
                ports=[k8s.core.v1.ContainerPortArgs(name="nginx-metrics", container_port=NGINX_EXPORTER_PORT)],
                resources=kube.resources(SIDECAR_SIZE),
                security_context=kube.container_security_context(),
                liveness_probe=kube.http_probe("/metrics", "nginx-metrics", period=30),
                readiness_probe=kube.http_probe("/metrics", "nginx-metrics", period=30),
            ),
            k8s.core.v1.ContainerArgs(
                name="php-fpm-exporter",
                image=FPM_EXPORTER_IMAGE,
                args=["server", "--phpfpm.scrape-uri", f"tcp://{files.FASTCGI_ADDRESS}/fpm-status"],
                ports=[k8s.core.v1.ContainerPortArgs(name="fpm-metrics", container_port=FPM_EXPORTER_PORT)],
                resources=kube.resources(SIDECAR_SIZE),
                security_context=kube.container_security_context(),
                liveness_probe=kube.http_probe("/metrics", "fpm-metrics", period=30),
                readiness_probe=kube.http_probe("/metrics", "fpm-metrics", period=30),
            ),
        ]
        volumes = [*self._php_volumes(self._php_files.metadata.name), kube.tmp_volume("public", "512Mi")]
        pod = kube.pod_spec(
            [nginx, php_fpm, *exporters],
            init_containers=[copy_public],
            selector=selector,
            volumes=volumes,
            termination_grace_seconds=self._web_grace(),
        )
        deployment = self._deployment(
            name, "backend-web", selector, pod, opts,
            labels={"saas-platform.io/track": track.name},
            pod_labels={INGRESS_LABEL: INGRESS_VALUE, SCRAPE_LABEL: "true"},
        )
        service = k8s.core.v1.Service(
            name,
            metadata=kube.metadata(name, "backend-web", a.namespace, app=APP),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="http", port=WEB_PORT, target_port="http"),
                    k8s.core.v1.ServicePortArgs(name="nginx-metrics", port=NGINX_EXPORTER_PORT, target_port="nginx-metrics"),
                    k8s.core.v1.ServicePortArgs(name="fpm-metrics", port=FPM_EXPORTER_PORT, target_port="fpm-metrics"),
                ],
            ),
            opts=self._child,
        )
        bounds = cfg.replicas.backend
        kube.autoscaler(
            name, "backend-web", a.namespace, deployment.metadata.name,
            min_replicas=bounds.min, max_replicas=bounds.max,
            cpu_percent=CPU_TARGET, memory_percent=MEMORY_TARGET, app=APP, opts=self._child,
        )
        if bounds.min >= 2:
            kube.disruption_budget(name, "backend-web", a.namespace, selector, app=APP, opts=self._child)
        return service.metadata.name

    # ---------------------------------------------------------------- reverb

    def _reverb(self, track: routing.Track, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        a, cfg = self._args, self._args.config
        selector = kube.selector_labels(APP, "websockets")
        replicas = 2 if cfg.highly_available else 1
        container = self._php_container(
            "reverb",
            track.image,
            ["php", "artisan", "reverb:start", f"--port={REVERB_PORT}", "--host=0.0.0.0"],
            ports=[k8s.core.v1.ContainerPortArgs(name="ws", container_port=REVERB_PORT)],
            readiness_probe=k8s.core.v1.ProbeArgs(tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="ws"), period_seconds=5),
            liveness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="ws"), period_seconds=10, failure_threshold=3
            ),
            startup_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="ws"), period_seconds=5, failure_threshold=24
            ),
            # Reverb scales over Redis pub/sub and cannot use Sentinel (laravel/reverb#301):
            # its scaling connection reads REDIS_HOST, the master Service.
            lifecycle=kube.drain_before_stop(5),
        )
        pod = kube.pod_spec(
            [container], selector=selector, volumes=self._php_volumes(self._php_files.metadata.name), termination_grace_seconds=30
        )
        self._deployment(
            "backend-reverb", "websockets", selector, pod, opts, replicas=replicas,
            pod_labels={INGRESS_LABEL: INGRESS_VALUE},
            annotations=kube.policy_exemption(
                ["app-workloads-scraped"],
                "Reverb serves no Prometheus endpoint; its pods are watched through kube-state-metrics "
                "and its traffic through Traefik's metrics for the /app route",
            ),
        )
        if replicas >= 2:
            kube.disruption_budget("backend-reverb", "websockets", a.namespace, selector, app=APP, opts=self._child)
        service = k8s.core.v1.Service(
            "backend-reverb",
            metadata=kube.metadata("backend-reverb", "websockets", a.namespace, app=APP),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="ws", port=REVERB_PORT, target_port="ws")],
            ),
            opts=self._child,
        )
        return service.metadata.name

    # ---------------------------------------------------------------- routes

    def _routes(self, target: routing.RouteTarget, reverb_service: pulumi.Output[str], opts: pulumi.ResourceOptions) -> None:
        a, cfg = self._args, self._args.config
        host = f"app.{cfg.domain}"
        shared = [m.as_route_ref() for m in a.middlewares]
        # WebSocket connections live for hours: no idle cut-off between Traefik and Reverb.
        k8s.apiextensions.CustomResource(
            "backend-reverb-transport",
            api_version=routing.TRAEFIK_API,
            kind="ServersTransport",
            metadata=kube.metadata("backend-reverb", "websockets", a.namespace, app=APP),
            spec={"forwardingTimeouts": {"dialTimeout": "5s", "idleConnTimeout": "3600s", "pingTimeout": "15s"}},
            opts=opts,
        )
        k8s.apiextensions.CustomResource(
            "backend",
            api_version=routing.TRAEFIK_API,
            kind="IngressRoute",
            metadata=kube.metadata("backend", "backend-web", a.namespace, app=APP),
            spec={
                "entryPoints": ["websecure"],
                "routes": [
                    {
                        # The Pusher protocol Reverb speaks: /app/{key} (WebSocket), /apps/{id}/... (HTTP API).
                        "kind": "Rule",
                        "match": f"Host(`{host}`) && (PathPrefix(`/app/`) || PathPrefix(`/apps/`))",
                        "priority": 100,
                        "middlewares": [m for m in shared if m["name"] != "compression"],
                        "services": [{"name": reverb_service, "port": REVERB_PORT, "serversTransport": "backend-reverb"}],
                    },
                    {
                        "kind": "Rule",
                        "match": f"Host(`{host}`)",
                        "middlewares": shared,
                        "services": target.refs,
                    },
                ],
                "tls": {},
            },
            opts=opts,
        )

    # ---------------------------------------------------------------- workers and scheduler

    def _workers(self, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
        a, cfg = self._args, self._args.config
        backend = cfg.raw.backend
        selector = kube.selector_labels(APP, "worker")
        queues = ",".join(backend.queues)
        command = [
            "php", "artisan", "queue:work", "redis",
            f"--queue={queues}",
            "--max-time=3600",  # recycle workers hourly: releases memory, picks up new config
            # Retries outlast a database outage well beyond the 15 min RTO (data-safety review
            # #10): a job failing its last try is deleted from the queue *before* Laravel writes
            # it to failed_jobs in that same database (laravel/framework
            # src/Illuminate/Queue/Jobs/Job.php fail(): delete(), then the JobFailed event).
            f"--tries={WORKER_TRIES}",
            "--backoff=" + ",".join(str(b) for b in WORKER_BACKOFF_SECONDS),
            f"--timeout={backend.jobTimeout}",
            "--sleep=3",
        ]
        # No probes: a worker serves no port, and queue:work exits (and is restarted) on its
        # own when a job overruns --timeout or memory; --max-time recycles it hourly.
        container = self._php_container("worker", track.image, command)
        # queue:work handles SIGTERM (finish the job, then exit) and enforces --timeout only
        # with the pcntl extension (laravel/framework src/Illuminate/Queue/Worker.php
        # supportsAsyncSignals); without it every rollout kills jobs mid-run (review #21).
        require_pcntl = self._php_container(
            "require-pcntl", track.image,
            ["php", "-r", "if (!extension_loaded('pcntl')) { fwrite(STDERR, 'queue:work needs the pcntl extension'.PHP_EOL); exit(1); }"],
        )
        pod = kube.pod_spec(
            [container],
            init_containers=[require_pcntl],
            selector=selector,
            volumes=self._php_volumes(self._php_files.metadata.name),
            # SIGTERM lets queue:work finish the current job; give the longest one time to end.
            termination_grace_seconds=backend.jobTimeout + 30,
        )
        deployment = self._deployment(
            "backend-worker", "worker", selector, pod, opts,
            annotations=kube.policy_exemption(
                ["app-workloads-scraped"],
                "queue:work serves no metrics endpoint; its backlog is watched through redis_exporter "
                "(queue length alerts) and its pods through kube-state-metrics",
            ),
        )
        auth = k8s.apiextensions.CustomResource(
            "backend-redis-auth",
            api_version="keda.sh/v1alpha1",
            kind="TriggerAuthentication",
            metadata=kube.metadata("backend-redis", "worker", a.namespace, app=APP),
            # Redis and Sentinel share one password.
            spec={
                "secretTargetRef": [
                    {"parameter": parameter, "name": self._secret.metadata.name, "key": "REDIS_PASSWORD"}
                    for parameter in ("password", "sentinelPassword")
                ]
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(a.keda_crds)),
        )
        bounds = cfg.replicas.workers
        sentinel = pulumi.Output.concat(a.cache.sentinel_host, ":", pulumi.Output.from_input(a.cache.sentinel_port).apply(str))
        k8s.apiextensions.CustomResource(
            "backend-worker-scaler",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=kube.metadata("backend-worker", "worker", a.namespace, app=APP),
            spec={
                "scaleTargetRef": {"name": deployment.metadata.name},
                "minReplicaCount": bounds.min,
                "maxReplicaCount": bounds.max,
                "pollingInterval": 15,
                "cooldownPeriod": 300,
                "triggers": [
                    {
                        "type": "redis-sentinel",
                        "metadata": {
                            "addresses": sentinel,
                            "sentinelMaster": a.cache.master_name,
                            # Laravel's Redis queue is a list named queues:<queue> under the prefix.
                            "listName": f"{REDIS_PREFIX}queues:{queue}",
                            "listLength": str(backend.jobsPerWorker),
                        },
                        "authenticationRef": {"name": "backend-redis"},
                    }
                    for queue in backend.queues
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*a.keda_crds, auth]),
        )
        if bounds.min >= 2:
            kube.disruption_budget("backend-worker", "worker", a.namespace, selector, app=APP, opts=self._child)

    def _scheduler(self, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
        selector = kube.selector_labels(APP, "scheduler")
        container = self._php_container("scheduler", track.image, ["php", "artisan", "schedule:work"])
        pod = kube.pod_spec(
            [container], selector=selector, volumes=self._php_volumes(self._php_files.metadata.name),
            termination_grace_seconds=self._args.config.raw.backend.jobTimeout + 30, spread=False,
        )
        # Exactly one runner: Recreate never starts the new pod before the old one is gone.
        self._deployment(
            "backend-scheduler", "scheduler", selector, pod, opts,
            replicas=1, strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
            annotations=kube.policy_exemption(
                ["app-workloads-scraped"],
                "schedule:work serves no metrics endpoint; a missing or crash-looping scheduler pod "
                "fires the kube-state-metrics based alerts",
            ),
        )

    # ---------------------------------------------------------------- monitoring and network

    def _monitoring(self) -> None:
        a = self._args
        k8s.apiextensions.CustomResource(
            "backend-web-metrics",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=kube.metadata("backend-web", "backend-web", a.namespace, app=APP),
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "backend-web"}},
                "endpoints": [
                    {"port": "nginx-metrics", "interval": "30s"},
                    {"port": "fpm-metrics", "interval": "30s"},
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(a.monitoring_crds)),
        )

    def _network_policies(self) -> None:
        """Outbound beyond the data layer (which the platform allows): SES SMTP (587), S3 and
        third-party APIs (443), and the dev mail catcher in this namespace (1025)."""
        a = self._args

        def port(number: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
            return k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=number)

        k8s.networking.v1.NetworkPolicy(
            "backend-network",
            metadata=kube.metadata("backend-egress", "backend-web", a.namespace, app=APP),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": APP}),
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": a.namespace}
                                )
                            )
                        ],
                        ports=[port(1025)],
                    ),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=[port(443), port(587)]),
                ],
            ),
            opts=self._child,
        )


def migration_job_name(image: str) -> str:
    """A Job's pod template is immutable: one Job per image, named from the image's hash."""
    return f"backend-migrate-{hashlib.sha256(image.encode()).hexdigest()[:10]}"


def _digest(data: Mapping[str, str] | None) -> str:
    text = "\n".join(f"{k}={v}" for k, v in sorted((data or {}).items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _label_value(image: str) -> str:
    """An image reference squeezed into a label value (63 chars of [A-Za-z0-9._-])."""
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in image.rsplit("/", 1)[-1])
    return cleaned[:63].strip("._-") or "image"
