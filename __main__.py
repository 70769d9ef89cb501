"""saas-platform: the architecture of the seed, composed per stack.

    Internet -> Cloudflare (EdgeDNS) -> Traefik (ClusterPlatform)
             -> FrontendApp (Next.js) | LaravelBackend (API, Reverb, workers, scheduler)
             -> DataLayer (MariaDB, Redis, RabbitMQ, object storage)
    Monitoring (Prometheus, Grafana, Alertmanager, Graylog) watches all of it;
    AWS (SES, IAM, Route53) sits beside the cluster.

Configuration is read and validated once, before any resource is registered.
"""

import pulumi
import pulumi_random as random

from components import config
from components.contracts import S3Access
from components.data_layer import DataLayer, DataLayerArgs
from components.frontend import FrontendApp, FrontendAppArgs
from components.platform import ClusterPlatform, ClusterPlatformArgs

settings = config.load()

platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings))

# Interim: ObjectStorage (issue 5) will replace this hand-built backups access.
backups = S3Access(
    endpoint="http://seaweedfs-s3.saas-data.svc.cluster.local:8333",
    region="us-east-1",
    bucket="backups",
    path_style=True,
    access_key_id=random.RandomPassword("backups-access-key-id", length=20, special=False).result,
    secret_access_key=random.RandomPassword("backups-secret-access-key", length=40, special=False).result,
)
data = DataLayer(
    "data",
    DataLayerArgs(
        config=settings,
        namespace=platform.namespaces["data"],
        backups=backups,
        clients_namespace=platform.namespaces["app"],
        monitoring_namespace=platform.namespaces["monitoring"],
    ),
)

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
pulumi.export("loadBalancerAddress", platform.load_balancer_address)
pulumi.export("clusterIssuer", platform.cluster_issuer)
if platform.admin_password is not None:
    pulumi.export("adminPassword", platform.admin_password)  # secret output: `pulumi stack output --show-secrets`
pulumi.export("frontendUrl", frontend.url)
pulumi.export(
    "replicas",
    {
        "frontend": settings.replicas.frontend.model_dump(),
        "backend": settings.replicas.backend.model_dump(),
        "workers": settings.replicas.workers.model_dump(),
        "databaseReplicas": settings.replicas.database_replicas,
    },
)
pulumi.export(
    "mariadb",
    {
        "primaryHost": data.mariadb.primary_host,
        "replicaHost": data.mariadb.replica_host,
        "port": data.mariadb.port,
        "database": data.mariadb.database,
        "username": data.mariadb.username,
    },
)
pulumi.export(
    "redis",
    {
        "sentinelHost": data.redis.sentinel_host,
        "sentinelPort": data.redis.sentinel_port,
        "masterName": data.redis.master_name,
        "masterHost": data.redis.master_host,
        "port": data.redis.port,
    },
)
pulumi.export("mariadbPassword", data.mariadb.password)
pulumi.export("redisPassword", data.redis.password)
