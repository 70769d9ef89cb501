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

- **rabbitmq workers**: `queue:work rabbitmq` on the RabbitMQ quorum queues the data layer
  declares (the `rabbitmq` connection of vyuldashev/laravel-queue-rabbitmq), scaled by KEDA's
  `rabbitmq` trigger on queue length: jobs the app dispatches with `->onConnection('rabbitmq')`.

Settings: non-secret values in the `backend-config` ConfigMap; credentials (APP_KEY, database,
Redis, RabbitMQ, S3, SMTP, Reverb, integrations) in the `backend-secrets` Secret, both via
`envFrom`. Every pod template carries a checksum of both (`saas-platform.io/config-checksum`):
pulumi-kubernetes replaces a changed ConfigMap/Secret under the same name, which alone would
never restart a pod, so a rotated SMTP key or a restored database's `DB_HOST` would not reach
the running pods. Sessions, cache and queues use Redis through Sentinel (predis,
`replication: sentinel`; see docs/components.md for the config/database.php snippet).

Every PHP pod starts with the `prepare` init container: the `storage/` and `bootstrap/cache`
emptyDirs hide the image's directories, so it seeds them from the image and creates what
Laravel writes to (`storage/framework/{views,cache/data,sessions}`, `storage/logs`); without
`storage/framework/views` Blade cannot compile and `/up` answers 500.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components import laravel_files as files
from components import laravel_stores as stores
from components import login_route, routing
from components.config import ContainerSize, StackConfig
from components.data import tls as data_tls
from components.data.tls import DataTLSClient
from components.contracts import MailRelay, MariaDBEndpoints, MiddlewareRef, RedisClusterEndpoints, RedisEndpoints, S3Access
from components.platform.network import INGRESS_LABEL, INGRESS_VALUE, SCRAPE_LABEL
from components.platform.traefik import cloudflare_ranges
from components.monitoring.tracing import OtlpExport

TYPE = "saas-platform:index:LaravelBackend"
APP = "backend"
# `service.name` of each PHP container's spans (OTEL_SERVICE_NAME), by container name; init
# containers send none.
OTEL_SERVICES: Mapping[str, str] = {
    "php-fpm": "backend-web",
    "reverb": "backend-reverb",
    "worker": "backend-worker",
    "scheduler": "backend-scheduler",
    "migrate": "backend-migrations",
}
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
# Whether php-fpm accepts on its loopback FastCGI address (laravel_files.FASTCGI_ADDRESS), run
# in the php-fpm container by the kubelet: the php CLI is in every official php image.
_FASTCGI_HOST, _FASTCGI_PORT = files.FASTCGI_ADDRESS.rsplit(":", 1)
FASTCGI_CHECK = k8s.core.v1.ExecActionArgs(
    command=["php", "-r", f"exit(@fsockopen('{_FASTCGI_HOST}', {_FASTCGI_PORT}, $e, $s, 2) ? 0 : 1);"]
)
SIDECAR_SIZE = ContainerSize("20m", "32Mi", "64Mi")
NGINX_SIZE = ContainerSize("50m", "64Mi", "128Mi")
# Hops in front of the pods: Traefik (pod network) and, with the Cloudflare edge, Cloudflare's
# edge servers, whose address Traefik appends to X-Forwarded-For. Symfony's Request walks the
# chain from the right, skipping trusted proxies, so both must be trusted to reach the client.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
CHECKSUM_ANNOTATION = "saas-platform.io/config-checksum"
# Writable paths Laravel needs under storage/ (laravel/framework 12.x config/view.php compiles
# Blade into storage/framework/views, realpath()'d; cache/data, sessions and logs are the
# skeleton's file stores): created in the emptyDir before any PHP process starts.
STORAGE_DIRS = ("framework/views", "framework/cache/data", "framework/sessions", "logs", "app/public")
SEED_ROOT = "/seed"
# Migrations: retries for a database that is still failing over, a deadline, and an await
# budget beyond the deadline (pulumi-kubernetes' default Job await is 10 minutes).
MIGRATION_BACKOFF_LIMIT = 6
MIGRATION_DEADLINE_SECONDS = 900
MIGRATION_AWAIT = "20m"
# Bytes of nginx-buffered and PHP-spooled upload per concurrent request (nginx keeps the body,
# PHP writes its own copy to upload_tmp_dir): the uploads volume holds that many per worker.
UPLOAD_COPIES = 2


@dataclass(frozen=True)
class QueueBroker:
    """The RabbitMQ connection the `rabbitmq` workers consume (from DataLayer's RabbitMQ).

    host/port/vhost/username: where and as whom; password and url (amqp://, vhost encoded):
    secret outputs; queues: the quorum queues the data layer declares.
    """

    host: pulumi.Input[str]
    port: pulumi.Input[int]
    vhost: pulumi.Input[str]
    username: pulumi.Input[str]
    password: pulumi.Output[str]
    url: pulumi.Output[str]
    queues: Sequence[str]


@dataclass(frozen=True)
class LaravelBackendArgs:
    """Inputs of LaravelBackend.

    config: resolved stack config (image, release strategy, replicas, PHP limits, queues).
    namespace: the application namespace (the platform's label contract opens Traefik and
        Prometheus in, and the data layer out).
    middlewares: shared Traefik middlewares for the API routes (security headers, rate
        limiting, compression), in order.
    database, cache: endpoints and credentials from DataLayer.
    broker: the RabbitMQ connection (from DataLayer) the `rabbitmq` workers consume.
    data_ready: DataLayer's custom resources that carry a readiness condition the engine awaits
        (`pulumi.com/waitFor`: MariaDB, Database, User, Grant, RedisReplication, RedisSentinel);
        the migration Job depends on them so it never starts against a store still installing.
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
    broker: QueueBroker
    storage: S3Access
    mail: MailRelay
    integrations: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    traefik_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    monitoring_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    keda_crds: Sequence[pulumi.Resource] = field(default_factory=tuple)
    data_ready: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # The application cache's own Redis (components/data/redis_cache.py); None: the cache
    # shares `cache` (the durable store).
    cache_store: RedisEndpoints | None = None
    # Instead, in the large tier: the cache's Redis Cluster (components/data/redis_cluster.py).
    cache_cluster: RedisClusterEndpoints | None = None
    tracing: OtlpExport | None = None
    """OpenTelemetry SDK settings (components/monitoring/tracing.py); None when tracing is off."""
    # `data.tls`: the trust anchor and Redis peer name (DataLayer.tls_client); None: plain TCP.
    data_tls: DataTLSClient | None = None


@dataclass(frozen=True)
class ReverbClient:
    """What a browser client (Laravel Echo / pusher-js) needs to reach Reverb: the public app
    key (secret output: generated here), host, port and scheme of the public route."""

    key: pulumi.Output[str]
    host: str
    port: int
    scheme: str


class LaravelBackend(pulumi.ComponentResource):
    """Laravel web pods, migrations, Reverb, queue workers and the scheduler."""

    url: pulumi.Output[str]
    """Public URL of the API (`https://app.<domain>`)."""
    internal_url: pulumi.Output[str]
    """In-cluster URL of the API (the primary track's Service), for server-side callers such as
    the frontend's SSR: no hairpin through Cloudflare and its per-IP rate limits."""
    reverb: ReverbClient
    """Public Reverb settings for browser clients (the frontend)."""
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
        self._failed_jobs = stores.failed_jobs_claim(cfg, args.namespace, APP, self._child)
        self._secret = self._secrets()
        self._php_files = self._php_config()
        # Any change of a setting or credential rolls every pod that reads them (and names a
        # new pod template for the Job); the Secret's values enter only as a hash.
        self._checksum = config_checksum(self._settings.data, self._secret.string_data)

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
        self._rabbitmq_workers(stable, after_migrations)
        self._scheduler(stable, after_migrations)
        self._monitoring()
        self._network_policies()

        self.url = pulumi.Output.from_input(f"https://app.{cfg.domain}")
        self.internal_url = pulumi.Output.concat("http://", services[0], ".", args.namespace, ".svc.cluster.local:", str(WEB_PORT))
        self.register_outputs({"url": self.url, "internalUrl": self.internal_url, "tracks": [t.name for t in self.tracks]})

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
            "LOG_CHANNEL": "stderr",
            "LOG_LEVEL": "info" if cfg.is_production else "debug",
            # Stock Laravel reads no env var for this: bootstrap/app.php must pass it to
            # `$middleware->trustProxies(at: ...)` (docs/components.md). Only Traefik reaches
            # the pods (NetworkPolicy); behind Cloudflare its edge is the next hop to skip.
            "TRUSTED_PROXIES": ",".join(trusted_proxies(cfg.edge.dns == "cloudflare")),
            "DB_CONNECTION": "mariadb",
            "DB_HOST": a.database.primary_host,
            # Read by the `read` host block of the mariadb connection (docs/components.md);
            # stock config/database.php has no such variable.
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
            # Which store holds cache, sessions, queues, locks and failed jobs (review #9, #10).
            **stores.store_settings(a.cache, a.cache_store, a.cache_cluster),
            # laravel/laravel 12.x config/queue.php: the redis connection's retry_after. A job
            # still running after it is handed to a second worker, so it must outlast the
            # workers' --timeout (Laravel docs, "Job Expirations and Timeouts").
            "REDIS_QUEUE_RETRY_AFTER": str(cfg.raw.backend.jobTimeout + 30),
            # The `rabbitmq` connection (vyuldashev/laravel-queue-rabbitmq config/rabbitmq.php
            # reads RABBITMQ_HOST/PORT/USER/PASSWORD/VHOST).
            "RABBITMQ_HOST": a.broker.host,
            "RABBITMQ_PORT": pulumi.Output.from_input(a.broker.port).apply(str),
            "RABBITMQ_VHOST": a.broker.vhost,
            "RABBITMQ_USER": a.broker.username,
            "RABBITMQ_QUEUE": a.broker.queues[0],
            "BROADCAST_CONNECTION": "reverb",
            # The app publishes broadcasts to Reverb's HTTP API in the cluster: the
            # config/broadcasting.php that `install:broadcasting` publishes (laravel/framework
            # 12.x) reads `reverb.options.host/port/scheme` from these. A public name would
            # hairpin through Cloudflare's and Traefik's per-IP limits, and does not resolve
            # inside a dev cluster (*.localhost). Browsers get the public route (`reverb`
            # output -> frontend).
            "REVERB_HOST": pulumi.Output.concat("backend-reverb.", a.namespace, ".svc.cluster.local"),
            "REVERB_PORT": str(REVERB_PORT),
            "REVERB_SCHEME": "http",
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
            **data_tls.client_env(a.data_tls),
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
        self.reverb = ReverbClient(key=pulumi.Output.secret(reverb_key.result), host=f"app.{cfg.domain}", port=443, scheme="https")
        reverb_secret = random.RandomPassword("backend-reverb-secret", length=48, special=False, opts=keep)
        data: dict[str, pulumi.Input[str]] = {
            "APP_KEY": pulumi.Output.concat("base64:", app_key.base64),
            "DB_PASSWORD": a.database.password,
            "REDIS_PASSWORD": a.cache.password,
            "RABBITMQ_PASSWORD": a.broker.password,
            # KEDA's rabbitmq trigger reads the whole amqp:// URL (TriggerAuthentication `host`).
            "RABBITMQ_URL": a.broker.url,
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
            *data_tls.client_mounts(self._args.data_tls),
            *extra.pop("volume_mounts", []),  # type: ignore[misc]
        ]
        tracing = self._args.tracing
        service = OTEL_SERVICES.get(name)
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=image,
            command=command,
            env=tracing.env(service) if tracing is not None and service else None,
            env_from=self._env_from(),
            resources=extra.pop("resources", kube.resources(self._args.config.sizes.backend)),  # type: ignore[arg-type]
            security_context=kube.container_security_context(),
            volume_mounts=mounts,
            **extra,  # type: ignore[arg-type]
        )

    def _php_volumes(self, php_config: pulumi.Input[str]) -> list[k8s.core.v1.VolumeArgs]:
        return [
            *data_tls.client_volumes(self._args.data_tls),
            kube.tmp_volume(),
            kube.tmp_volume("storage", "1Gi"),
            kube.tmp_volume("bootstrap-cache", "64Mi"),
            k8s.core.v1.VolumeArgs(name="php-config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=php_config)),
        ]

    def _prepare(self, image: str, *, public: bool = False) -> k8s.core.v1.ContainerArgs:
        """The init container that seeds the writable trees from the image.

        It mounts the emptyDirs under SEED_ROOT, not over the app's paths, so the image's own
        `storage/`, `bootstrap/cache` (packages/services manifests, a baked `config:cache`) and
        `public/` stay visible to copy from."""
        script = prepare_script(public=public)
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="storage", mount_path=f"{SEED_ROOT}/storage"),
            k8s.core.v1.VolumeMountArgs(name="bootstrap-cache", mount_path=f"{SEED_ROOT}/bootstrap-cache"),
        ]
        if public:
            mounts.append(k8s.core.v1.VolumeMountArgs(name="public", mount_path=files.DOCUMENT_ROOT))
        return k8s.core.v1.ContainerArgs(
            name="prepare",
            image=image,
            command=["sh", "-c", script],
            resources=kube.resources(SIDECAR_SIZE),
            security_context=kube.container_security_context(),
            volume_mounts=mounts,
        )

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
                        # Roll the pods when the rendered PHP/nginx files, a setting or a
                        # credential change.
                        annotations={
                            "saas-platform.io/php-config": self._php_files.data.apply(_digest),
                            CHECKSUM_ANNOTATION: self._checksum,
                        },
                    ),
                    spec=pod,
                ),
            ),
            opts=opts,
        )

    # ---------------------------------------------------------------- migrations

    def _migration(self, image: str) -> k8s.batch.v1.Job:
        name = migration_job_name(image)
        # `migrate --isolated` needs the database and the Redis cache lock (through Sentinel,
        # whose CR reports no status the engine could await): wait for both to answer.
        wait = self._php_container(
            "wait-for-stores", image, ["php", "-r", WAIT_FOR_STORES_PHP], resources=kube.resources(SIDECAR_SIZE)
        )
        pod = kube.pod_spec(
            [self._php_container("migrate", image, ["php", "artisan", "migrate", "--force", "--isolated"])],
            init_containers=[self._prepare(image), wait],
            selector=kube.selector_labels(APP, "migrations"),
            volumes=self._php_volumes(self._php_files.metadata.name),
            spread=False,
            restart_policy="Never",
        )
        return k8s.batch.v1.Job(
            name,
            metadata=kube.metadata(
                name, "migrations", self._args.namespace, app=APP,
                labels={"saas-platform.io/image": _label_value(image)},
                # pulumi-kubernetes v4.32.0 provider/pkg/provider/provider.go (Diff): a Job that
                # is not Ready (failed) is replaced on the next `pulumi up` instead of blocking
                # every later update under the same name.
                annotations={"pulumi.com/replaceUnready": "true"},
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=MIGRATION_BACKOFF_LIMIT,
                active_deadline_seconds=MIGRATION_DEADLINE_SECONDS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**kube.recommended_labels(APP, "migrations")},
                        annotations={CHECKSUM_ANNOTATION: self._checksum},
                    ),
                    spec=pod,
                ),
            ),
            # No ttlSecondsAfterFinished: a Job deleted by the cluster would be re-created (and
            # re-run) by the next `pulumi up`. The stores' readiness (`pulumi.com/waitFor` on
            # their CRs) comes first; the await outlasts the Job's own deadline.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self._secret, self._settings, *self._args.data_ready],
                custom_timeouts=pulumi.CustomTimeouts(create=MIGRATION_AWAIT, update=MIGRATION_AWAIT),
            ),
        )

    # ---------------------------------------------------------------- web

    def _web(self, track: routing.Track, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
        a, cfg = self._args, self._args.config
        name = f"backend-web{track.suffix}"
        selector = {**kube.selector_labels(APP, "backend-web"), "saas-platform.io/track": track.label}
        public = k8s.core.v1.VolumeMountArgs(name="public", mount_path=files.DOCUMENT_ROOT)
        uploads = k8s.core.v1.VolumeMountArgs(name="uploads", mount_path=files.UPLOAD_TMP_DIR)
        prepare = self._prepare(track.image, public=True)
        php_fpm = self._php_container(
            "php-fpm",
            track.image,
            ["php-fpm", "--nodaemonize", "--fpm-config", "/usr/local/etc/php-fpm.conf"],
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name="php-config", mount_path="/usr/local/etc/php-fpm.conf", sub_path="php-fpm.conf", read_only=True
                ),
                uploads,
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="fastcgi", container_port=9000)],
            # php-fpm listens on loopback only (FastCGI runs any script it is told to: never on
            # the pod network), and a tcpSocket probe connects to the pod IP, where nothing
            # listens: the kubelet's check runs inside the container instead.
            liveness_probe=k8s.core.v1.ProbeArgs(exec_=FASTCGI_CHECK, period_seconds=10, timeout_seconds=3, failure_threshold=3),
            readiness_probe=k8s.core.v1.ProbeArgs(exec_=FASTCGI_CHECK, period_seconds=5, timeout_seconds=3),
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
                uploads,
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
        volumes = [
            *self._php_volumes(self._php_files.metadata.name),
            kube.tmp_volume("public", "512Mi"),
            # Request bodies nginx buffers and the upload temp files PHP writes, apart from
            # /tmp: sized so every php-fpm worker can take a maximal upload at once without
            # the kubelet evicting the pod for an overfull emptyDir.
            kube.tmp_volume("uploads", f"{files.upload_volume_mb(self._php_settings(), UPLOAD_COPIES)}Mi"),
        ]
        pod = kube.pod_spec(
            [nginx, php_fpm, *exporters],
            init_containers=[prepare],
            selector=selector,
            volumes=volumes,
            termination_grace_seconds=self._web_grace(),
        )
        deployment = self._deployment(
            name, "backend-web", selector, pod, opts,
            labels={"saas-platform.io/track": track.label},
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
            [container], init_containers=[self._prepare(track.image)], selector=selector,
            volumes=self._php_volumes(self._php_files.metadata.name), termination_grace_seconds=30,
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
        internal_only = k8s.apiextensions.CustomResource(
            "backend-internal-only",
            api_version=routing.TRAEFIK_API,
            kind="Middleware",
            metadata=kube.metadata("backend-internal-only", "backend-web", a.namespace, app=APP),
            spec={"ipAllowList": {"sourceRange": ["127.0.0.1/32"]}},
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
                        # The app's metrics route is for Prometheus, which reaches the pods directly:
                        # through the edge it answers 403 (an allow-list nobody matches).
                        "kind": "Rule",
                        "match": f"Host(`{host}`) && Path(`{cfg.raw.backend.metricsPath}`)",
                        "priority": 1000,
                        "middlewares": [{"name": "backend-internal-only", "namespace": a.namespace}],
                        "services": target.refs,
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
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[internal_only])),
        )
        # The credential paths as a router of their own: failed logins by router label.
        login_route.login_route(a.namespace, host, shared, target.refs, opts)

    # ---------------------------------------------------------------- workers and scheduler

    def _workers(self, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
        """Redis queue workers (Laravel's default connection), scaled on the Redis lists."""
        a, backend = self._args, self._args.config.raw.backend
        # Redis and Sentinel share one password.
        auth = self._trigger_auth("backend-redis", {"password": "REDIS_PASSWORD", "sentinelPassword": "REDIS_PASSWORD"})
        sentinel = pulumi.Output.concat(a.cache.sentinel_host, ":", pulumi.Output.from_input(a.cache.sentinel_port).apply(str))
        triggers = [
            {
                "type": "redis-sentinel",
                "metadata": {
                    "addresses": sentinel,
                    "sentinelMaster": a.cache.master_name,
                    # Laravel's Redis queue is a list named queues:<queue> under the prefix.
                    "listName": f"{REDIS_PREFIX}queues:{queue}",
                    "listLength": str(backend.jobsPerWorker),
                    **data_tls.keda_redis_metadata(a.data_tls),
                },
                "authenticationRef": {"name": "backend-redis"},
            }
            for queue in backend.queues
        ]
        self._queue_workers("backend-worker", "redis", backend.queues, triggers, auth, track, opts)

    def _rabbitmq_workers(self, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
        """RabbitMQ queue workers (the `rabbitmq` connection), scaled on the quorum queues."""
        a, backend = self._args, self._args.config.raw.backend
        # KEDA 2.20 rabbitmq scaler: `host` (the amqp:// URL with credentials and vhost) comes
        # from the TriggerAuthentication; QueueLength mode counts ready messages per queue.
        auth = self._trigger_auth(
            "backend-rabbitmq", {"host": "RABBITMQ_URL"}, data_tls.keda_rabbitmq_auth(a.data_tls, self._settings.metadata.name)
        )
        queues = list(a.broker.queues)
        triggers = [
            {
                "type": "rabbitmq",
                "metadata": {
                    "protocol": "amqp",
                    "queueName": queue,
                    "mode": "QueueLength",
                    "value": str(backend.jobsPerWorker),
                },
                "authenticationRef": {"name": "backend-rabbitmq"},
            }
            for queue in queues
        ]
        self._queue_workers("backend-worker-rabbitmq", "rabbitmq", queues, triggers, auth, track, opts)

    def _trigger_auth(
        self, name: str, parameters: Mapping[str, str], extra: Mapping[str, list[dict[str, pulumi.Input[str]]]] | None = None
    ) -> pulumi.Resource:
        """A KEDA TriggerAuthentication reading trigger parameters from `backend-secrets` keys
        (`extra`: more `secretTargetRef`/`configMapTargetRef` entries, such as the data CA)."""
        extra = extra or {}
        return k8s.apiextensions.CustomResource(
            f"{name}-auth",
            api_version="keda.sh/v1alpha1",
            kind="TriggerAuthentication",
            metadata=kube.metadata(name, "worker", self._args.namespace, app=APP),
            spec={
                "secretTargetRef": [
                    {"parameter": parameter, "name": self._secret.metadata.name, "key": key}
                    for parameter, key in parameters.items()
                ] + extra.get("secretTargetRef", []),
                **({"configMapTargetRef": extra["configMapTargetRef"]} if "configMapTargetRef" in extra else {}),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(self._args.keda_crds)),
        )

    def _queue_workers(
        self,
        name: str,
        connection: str,
        queues: Sequence[str],
        triggers: list[dict[str, object]],
        auth: pulumi.Resource,
        track: routing.Track,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """`queue:work <connection>` on `queues`, scaled by KEDA within the worker bounds."""
        a, cfg = self._args, self._args.config
        backend = cfg.raw.backend
        component = "worker"
        selector = {**kube.selector_labels(APP, component), "saas-platform.io/queue-connection": connection}
        command = [
            "php", "artisan", "queue:work", connection,
            f"--queue={','.join(queues)}",
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
        # Failed jobs go to a file on a volume shared by every worker (laravel_stores.py).
        container = self._php_container(
            "worker", track.image, command, volume_mounts=[stores.failed_jobs_mount(files.APP_ROOT)]
        )
        # queue:work handles SIGTERM (finish the job, then exit) and enforces --timeout only
        # with the pcntl extension (laravel/framework src/Illuminate/Queue/Worker.php
        # supportsAsyncSignals); without it every rollout kills jobs mid-run (review #21).
        require_pcntl = self._php_container(
            "require-pcntl", track.image,
            ["php", "-r", "if (!extension_loaded('pcntl')) { fwrite(STDERR, 'queue:work needs the pcntl extension'.PHP_EOL); exit(1); }"],
        )
        pod = kube.pod_spec(
            [container],
            init_containers=[self._prepare(track.image), require_pcntl],
            selector=selector,
            volumes=[*self._php_volumes(self._php_files.metadata.name), stores.failed_jobs_volume(self._failed_jobs.metadata.name)],
            # SIGTERM lets queue:work finish the current job; give the longest one time to end.
            termination_grace_seconds=backend.jobTimeout + 30,
        )
        deployment = self._deployment(
            name, component, selector, pod, opts,
            labels={"saas-platform.io/queue-connection": connection},
            pod_labels={"saas-platform.io/queue-connection": connection},
            annotations=kube.policy_exemption(
                ["app-workloads-scraped"],
                "queue:work serves no metrics endpoint; its backlog is watched through the queue "
                "length alerts and its pods through kube-state-metrics",
            ),
        )
        bounds = cfg.replicas.workers
        k8s.apiextensions.CustomResource(
            f"{name}-scaler",
            api_version="keda.sh/v1alpha1",
            kind="ScaledObject",
            metadata=kube.metadata(name, component, a.namespace, app=APP),
            spec={
                "scaleTargetRef": {"name": deployment.metadata.name},
                "minReplicaCount": bounds.min,
                "maxReplicaCount": bounds.max,
                "pollingInterval": 15,
                "cooldownPeriod": 300,
                "triggers": triggers,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*a.keda_crds, auth]),
        )
        if bounds.min >= 2:
            kube.disruption_budget(name, component, a.namespace, selector, app=APP, opts=self._child)

    def _scheduler(self, track: routing.Track, opts: pulumi.ResourceOptions) -> None:
        selector = kube.selector_labels(APP, "scheduler")
        container = self._php_container("scheduler", track.image, ["php", "artisan", "schedule:work"])
        pod = kube.pod_spec(
            [container], init_containers=[self._prepare(track.image)], selector=selector,
            volumes=self._php_volumes(self._php_files.metadata.name),
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
                    # The application's own metrics (user activity, feature usage), through nginx.
                    {"port": "http", "path": a.config.raw.backend.metricsPath, "interval": "30s"},
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(a.monitoring_crds)),
        )

    def _network_policies(self) -> None:
        """Outbound beyond the data layer (which the platform allows): SES SMTP (587), S3 and
        third-party APIs (443), the dev mail catcher in this namespace (1025) and Reverb's HTTP
        API (broadcasts stay in the cluster); inbound to Reverb from the PHP pods, and to the
        web pods from the frontend's server-side rendering."""
        a = self._args
        NP = k8s.networking.v1

        def port(number: int) -> k8s.networking.v1.NetworkPolicyPortArgs:
            return NP.NetworkPolicyPortArgs(protocol="TCP", port=number)

        def pods(name: str, component: str | None = None) -> k8s.networking.v1.NetworkPolicyPeerArgs:
            labels = {"app.kubernetes.io/name": name, **({"app.kubernetes.io/component": component} if component else {})}
            return NP.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels))

        NP.NetworkPolicy(
            "backend-network",
            metadata=kube.metadata("backend-egress", "backend-web", a.namespace, app=APP),
            spec=NP.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app.kubernetes.io/name": APP}),
                policy_types=["Egress"],
                egress=[
                    NP.NetworkPolicyEgressRuleArgs(
                        to=[
                            NP.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": a.namespace}
                                )
                            )
                        ],
                        ports=[port(1025)],
                    ),
                    NP.NetworkPolicyEgressRuleArgs(to=[pods(APP, "websockets")], ports=[port(REVERB_PORT)]),
                    NP.NetworkPolicyEgressRuleArgs(ports=[port(443), port(587)]),
                ],
            ),
            opts=self._child,
        )
        # In the cluster: broadcasts from the PHP pods to Reverb's HTTP API, and server-side
        # rendering of the frontend calling the API's web pods.
        internal = {
            "backend-reverb-ingress": ("websockets", pods(APP), REVERB_PORT),
            "backend-web-ingress": ("backend-web", pods("frontend", "frontend"), WEB_PORT),
        }
        for name, (component, source, number) in internal.items():
            NP.NetworkPolicy(
                name,
                metadata=kube.metadata(name, component, a.namespace, app=APP),
                spec=NP.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={"app.kubernetes.io/name": APP, "app.kubernetes.io/component": component}
                    ),
                    policy_types=["Ingress"],
                    ingress=[NP.NetworkPolicyIngressRuleArgs(from_=[source], ports=[port(number)])],
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


def trusted_proxies(behind_cloudflare: bool) -> list[str]:
    """The proxies Laravel trusts: the pod network (Traefik) and, behind Cloudflare, its edge."""
    return [*PRIVATE_RANGES, *(cloudflare_ranges() if behind_cloudflare else [])]


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


def prepare_script(*, public: bool) -> str:
    """Shell run by the `prepare` init container (POSIX sh: the image may be Alpine's).

    Copies the image's storage/ and bootstrap/cache into the emptyDirs mounted under SEED_ROOT
    (when the image has them), creates the directories Laravel writes to, and for the web pod
    copies public/ to nginx's document root."""
    root = files.APP_ROOT
    lines = [
        "set -eu",
        f"if [ -d {root}/storage ]; then cp -R {root}/storage/. {SEED_ROOT}/storage/; fi",
        "mkdir -p " + " ".join(f"{SEED_ROOT}/storage/{d}" for d in STORAGE_DIRS),
        f"if [ -d {root}/bootstrap/cache ]; then cp -R {root}/bootstrap/cache/. {SEED_ROOT}/bootstrap-cache/; fi",
    ]
    if public:
        lines.append(f"cp -R {root}/public/. {files.DOCUMENT_ROOT}/")
    return "\n".join(lines)


# Waits (up to WAIT_SECONDS, default 600) until the database and the Redis Sentinel accept TCP
# connections; the environment is the app's own (DB_HOST/DB_PORT, REDIS_SENTINEL_HOST/PORT).
WAIT_FOR_STORES_PHP = (
    '$deadline = time() + (int) (getenv("WAIT_SECONDS") ?: 600);'
    ' foreach ([["DB_HOST", "DB_PORT"], ["REDIS_SENTINEL_HOST", "REDIS_SENTINEL_PORT"]] as [$h, $p]) {'
    ' $host = (string) getenv($h); $port = (int) getenv($p);'
    ' while (!($s = @fsockopen($host, $port, $code, $message, 3))) {'
    ' if (time() >= $deadline) { fwrite(STDERR, "$host:$port not reachable: $message\\n"); exit(1); }'
    ' fwrite(STDERR, "waiting for $host:$port\\n"); sleep(2); }'
    ' fclose($s); }'
)
