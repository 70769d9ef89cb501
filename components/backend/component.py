"""LaravelBackend: the Laravel API on `app.<domain>` with Reverb, queue workers and the scheduler.

Pieces, all from the one application image, one module each:

- **web** (web.py, per release track): nginx + php-fpm in one pod, exporters, HPA and PDB.
- **migrations** (migrations.py): one Job per image; every Deployment depends on it.
- **reverb** (reverb.py): Laravel Reverb WebSockets, routed on `/app` and `/apps` (routes.py).
- **workers** (workers.py): `queue:work` on the Redis queues and the RabbitMQ quorum queues,
  scaled by KEDA.
- **scheduler** (scheduler.py): exactly one `schedule:work` Deployment (Recreate).

Settings (settings.py) are the `backend-config` ConfigMap and the `backend-secrets` Secret, read
through `envFrom`; every pod template carries their checksum (pods.py) so a changed setting or
credential rolls the pods. Which Redis holds cache, sessions, queues and locks is stores.py's.
"""

from __future__ import annotations

import pulumi

from components import routing
from components.backend import migrations, settings, stores
from components.backend.args import LaravelBackendArgs
from components.backend.network import network_policies
from components.backend.pods import PhpPods
from components.backend.reverb import reverb
from components.backend.routes import routes
from components.backend.scheduler import scheduler
from components.backend.settings import APP
from components.backend.web import WEB_PORT, web, web_metrics
from components.backend.workers import WorkerPods, rabbitmq_workers, redis_workers
from components.contracts import ReverbClient
from components.k8s import config_checksum

TYPE = "saas-platform:index:LaravelBackend"


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
        child = pulumi.ResourceOptions(parent=self)
        self.tracks = routing.tracks(cfg.raw.backend.image, cfg.raw.backend.release)

        config_map = settings.config_map(args, child)
        failed_jobs = stores.failed_jobs_claim(cfg, args.namespace, APP, child)
        secret, self.reverb = settings.secrets(args, self)
        php_files = settings.php_config(args, child)
        # Any change of a setting or credential rolls every pod that reads them (and names a
        # new pod template for the Job); the Secret's values enter only as a hash.
        checksum = config_checksum(config_map.data, secret.string_data)
        pods = PhpPods(args, config_map, secret, php_files, checksum)

        # One migration Job per image that will serve traffic (both tracks of a canary must
        # find the schema they expect; migrations are expected to be backwards compatible).
        images = list(dict.fromkeys(t.image for t in self.tracks))
        self.migration_jobs = [migrations.migration_job_name(image) for image in images]
        jobs = [migrations.migration_job(pods, image, self) for image in images]
        after_migrations = pulumi.ResourceOptions(parent=self, depends_on=jobs)

        services: list[pulumi.Input[str]] = []
        for track in self.tracks:
            services.append(web(pods, track, after_migrations, self))
        crd_opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.traefik_crds))
        target = routing.route_target("backend-web", "backend-web", args.namespace, WEB_PORT, self.tracks, services, crd_opts)

        release = cfg.raw.backend.release
        stable = self.tracks[-1] if release.strategy == "blueGreen" and release.active == "green" else self.tracks[0]
        reverb_service = reverb(pods, stable, after_migrations, self)
        routes(args, target, reverb_service, crd_opts)
        workers = WorkerPods(pods, failed_jobs.metadata.name, self)
        redis_workers(workers, stable, after_migrations)
        rabbitmq_workers(workers, stable, after_migrations)
        scheduler(pods, stable, after_migrations)
        web_metrics(pods, self)
        network_policies(args, child)

        self.url = pulumi.Output.from_input(f"https://app.{cfg.domain}")
        self.internal_url = pulumi.Output.concat("http://", services[0], ".", args.namespace, ".svc.cluster.local:", str(WEB_PORT))
        self.register_outputs({"url": self.url, "internalUrl": self.internal_url, "tracks": [t.name for t in self.tracks]})
