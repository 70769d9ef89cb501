"""saas-platform: the architecture of the seed, composed per stack.

    Internet -> Cloudflare (EdgeDNS) -> Traefik (ClusterPlatform)
             -> FrontendApp (Next.js) | LaravelBackend (API, Reverb, workers, scheduler)
             -> DataLayer (MariaDB, Redis, RabbitMQ, object storage)
    Monitoring (Prometheus, Grafana, Alertmanager, Graylog) watches all of it;
    AWS (SES, IAM, Route53) sits beside the cluster.

Configuration is read and validated once, before any resource is registered.
"""

import pulumi

from components import config
from components.frontend import FrontendApp, FrontendAppArgs
from components.platform import ClusterPlatform, ClusterPlatformArgs

settings = config.load()

platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings))

frontend = FrontendApp(
    "frontend",
    FrontendAppArgs(
        config=settings,
        namespace=platform.namespaces["app"],
        middlewares=[platform.middlewares["security-headers"], platform.middlewares["compression"]],
        traefik_crds=[platform.traefik_release],
    ),
)

pulumi.export("environment", settings.environment)
pulumi.export("domain", settings.domain)
pulumi.export("namespaces", platform.namespaces)
pulumi.export("frontendUrl", frontend.url)
pulumi.export("loadBalancerAddress", platform.load_balancer_address)
pulumi.export("clusterIssuer", platform.cluster_issuer)
if platform.admin_password is not None:
    pulumi.export("adminPassword", platform.admin_password)  # secret output: `pulumi stack output --show-secrets`
pulumi.export(
    "replicas",
    {
        "frontend": settings.replicas.frontend.model_dump(),
        "backend": settings.replicas.backend.model_dump(),
        "workers": settings.replicas.workers.model_dump(),
        "databaseReplicas": settings.replicas.database_replicas,
    },
)
