"""The backend's settings: the `backend-config` ConfigMap, the `backend-secrets` Secret and the
`backend-php` ConfigMap of rendered nginx/php-fpm/php.ini files (files.py).

Non-secret values go to the ConfigMap, credentials (APP_KEY, database, Redis, RabbitMQ, S3,
SMTP, Reverb, integrations) to the Secret, both read through `envFrom`. Sessions, cache and
queues use Redis through Sentinel (predis, `replication: sentinel`; see docs/components.md for
the config/database.php snippet); which store holds what is stores.py's.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.backend import files
from components.backend import stores
from components.backend.args import LaravelBackendArgs
from components.config import StackConfig
from components.contracts import REDIS_PREFIX, ReverbClient
from components.data import tls as data_tls
from components.platform.traefik import cloudflare_ranges

APP = "backend"
REVERB_PORT = 8080
# Laravel prefixes every Redis key; fixing the prefix makes the queue keys KEDA watches known.
# Hops in front of the pods: Traefik (pod network) and, with the Cloudflare edge, Cloudflare's
# edge servers, whose address Traefik appends to X-Forwarded-For. Symfony's Request walks the
# chain from the right, skipping trusted proxies, so both must be trusted to reach the client.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def config_map(args: LaravelBackendArgs, opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    """`backend-config`: every non-secret setting of the Laravel processes."""
    a, cfg = args, args.config
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
        opts=opts,
    )


def secrets(args: LaravelBackendArgs, parent: pulumi.Resource) -> tuple[k8s.core.v1.Secret, ReverbClient]:
    """`backend-secrets` and the public Reverb settings for browser clients (the frontend)."""
    a, cfg = args, args.config
    keep = pulumi.ResourceOptions(parent=parent, protect=cfg.protect)
    # APP_KEY encrypts sessions and `encrypted` casts: generated once, never rotated by
    # accident (protected in production).
    app_key = random.RandomBytes("backend-app-key", length=32, opts=keep)
    reverb_key = random.RandomPassword("backend-reverb-key", length=32, special=False, opts=keep)
    reverb = ReverbClient(key=pulumi.Output.secret(reverb_key.result), host=f"app.{cfg.domain}", port=443, scheme="https")
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
    secret = k8s.core.v1.Secret(
        "backend-secrets",
        metadata=kube.metadata("backend-secrets", "backend-web", a.namespace, app=APP),
        type="Opaque",
        string_data=data,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return secret, reverb


def web_grace(cfg: StackConfig) -> int:
    """The web pod's termination grace period: the longest request, plus the drain."""
    return cfg.raw.backend.php.requestTimeout + 15


def php_settings(cfg: StackConfig) -> files.PhpSettings:
    php = cfg.raw.backend.php
    return files.PhpSettings(
        memory_limit_mb=kube.mebibytes(cfg.sizes.backend.memory_limit),
        worker_mb=php.workerMemoryMb,
        php_memory_limit_mb=php.memoryLimitMb,
        upload_max_mb=php.uploadMaxMb,
        request_timeout=php.requestTimeout,
        grace_seconds=web_grace(cfg),
    )


def php_config(args: LaravelBackendArgs, opts: pulumi.ResourceOptions) -> k8s.core.v1.ConfigMap:
    """`backend-php`: nginx.conf, php-fpm.conf and the php.ini overrides, rendered from config."""
    settings = php_settings(args.config)
    return k8s.core.v1.ConfigMap(
        "backend-php",
        metadata=kube.metadata("backend-php", "backend-web", args.namespace, app=APP),
        data={
            "nginx.conf": files.nginx_conf(settings),
            "php-fpm.conf": files.php_fpm_conf(settings),
            "zz-saas.ini": files.php_ini(settings),
        },
        opts=opts,
    )


def trusted_proxies(behind_cloudflare: bool) -> list[str]:
    """The proxies Laravel trusts: the pod network (Traefik) and, behind Cloudflare, its edge."""
    return [*PRIVATE_RANGES, *(cloudflare_ranges() if behind_cloudflare else [])]
