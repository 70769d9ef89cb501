"""saas-platform: the architecture of the seed, composed per stack.

    Internet -> Cloudflare (EdgeDNS) -> Traefik (ClusterPlatform)
             -> FrontendApp (Next.js) | LaravelBackend (API, Reverb, workers, scheduler)
             -> DataLayer (MariaDB, Redis, RabbitMQ) + ObjectStorage (S3-compatible)
    Monitoring (Prometheus, Grafana, Alertmanager, Graylog) watches all of it;
    AWS (SES, IAM, Route53) sits beside the cluster.

Configuration is read and validated once, before any resource is registered.
"""

import pulumi

from components import config
from components.data_layer import DataLayer, DataLayerArgs
from components.frontend import FrontendApp, FrontendAppArgs
from components.object_storage import ObjectStorage, ObjectStorageArgs
from components.platform import ClusterPlatform, ClusterPlatformArgs

settings = config.load()

platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings))
namespaces = platform.namespaces

storage = ObjectStorage(
    "object-storage", ObjectStorageArgs(config=settings, namespace=namespaces["data"], peers=namespaces)
)
data = DataLayer(
    "data",
    DataLayerArgs(
        config=settings,
        namespace=namespaces["data"],
        backups=storage.access["backups"],
        clients_namespace=namespaces["app"],
        monitoring_namespace=namespaces["monitoring"],
        admin_guard=platform.middlewares["admin-guard"],
        peers=namespaces,
        queue_dependencies=[platform.cert_manager_release],
        traefik_crds=[platform.traefik_release],
    ),
)

frontend = FrontendApp(
    "frontend",
    FrontendAppArgs(
        config=settings,
        namespace=namespaces["app"],
        middlewares=[platform.middlewares["security-headers"], platform.middlewares["compression"]],
        traefik_crds=[platform.traefik_release],
    ),
)

pulumi.export("environment", settings.environment)
pulumi.export("domain", settings.domain)
pulumi.export("namespaces", namespaces)
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
pulumi.export(
    "rabbitmq",
    {
        "host": data.rabbitmq.host,
        "port": data.rabbitmq.port,
        "vhost": data.rabbitmq.vhost,
        "username": data.rabbitmq.username,
        "queues": data.rabbitmq.queues,
        "deadLetterQueue": data.rabbitmq.dead_letter_queue,
    },
)
pulumi.export("objectStorage", {"endpoint": storage.endpoint, "buckets": storage.buckets})
pulumi.export("mariadbPassword", data.mariadb.password)
pulumi.export("redisPassword", data.redis.password)
pulumi.export("rabbitmqUrl", data.rabbitmq.connection_url)
