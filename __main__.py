"""saas-platform: the architecture of the seed, composed per stack.

    Internet -> Cloudflare (EdgeDNS) -> Traefik (ClusterPlatform)
             -> FrontendApp (Next.js) | LaravelBackend (API, Reverb, workers, scheduler)
             -> DataLayer (MariaDB, Redis, RabbitMQ, object storage)
    Monitoring (Prometheus, Grafana, Alertmanager, Graylog, Fluent Bit) watches all of it;
    AWS (SES, IAM, Route53) sits beside the cluster.

Configuration is read and validated once, before any resource is registered.
"""

import pulumi

from components import config
from components.contracts import MiddlewareRef
from components.monitoring import Monitoring, MonitoringArgs
from components.platform import ClusterPlatform, ClusterPlatformArgs

settings = config.load()

platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings))

# admin_guard and mail are interim until the platform exports its guard and EdgeDNS its relay.
monitoring = Monitoring("monitoring", MonitoringArgs(
    settings, platform.namespaces["monitoring"], platform.namespaces["ingress"],
    admin_guard=MiddlewareRef("admin-guard", "saas-ingress"), mail=None))

pulumi.export("environment", settings.environment)
pulumi.export("domain", settings.domain)
pulumi.export("namespaces", platform.namespaces)
pulumi.export("grafanaUrl", monitoring.grafana_url)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)
pulumi.export(
    "replicas",
    {
        "frontend": settings.replicas.frontend.model_dump(),
        "backend": settings.replicas.backend.model_dump(),
        "workers": settings.replicas.workers.model_dump(),
        "databaseReplicas": settings.replicas.database_replicas,
    },
)
