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
from components.contracts import MiddlewareRef
from components.data.rabbitmq import RabbitMQ, RabbitMQArgs
from components.object_storage import ObjectStorage, ObjectStorageArgs
from components.platform import ClusterPlatform, ClusterPlatformArgs

settings = config.load()

platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings))
# Until ClusterPlatform exposes its middlewares, the admin guard is named here.
admin_guard = MiddlewareRef("admin-guard", "saas-ingress")
rabbitmq = RabbitMQ("rabbitmq", RabbitMQArgs(
    config=settings, namespace=platform.namespaces["data"], admin_guard=admin_guard, peers=platform.namespaces,
))
storage = ObjectStorage("object-storage", ObjectStorageArgs(
    config=settings, namespace=platform.namespaces["data"], peers=platform.namespaces,
))

pulumi.export("environment", settings.environment)
pulumi.export("domain", settings.domain)
pulumi.export("namespaces", platform.namespaces)
pulumi.export(
    "replicas",
    {
        "frontend": settings.replicas.frontend.model_dump(),
        "backend": settings.replicas.backend.model_dump(),
        "workers": settings.replicas.workers.model_dump(),
        "databaseReplicas": settings.replicas.database_replicas,
    },
)
pulumi.export("rabbitmq", {
    "host": rabbitmq.host, "port": rabbitmq.port, "vhost": rabbitmq.vhost, "username": rabbitmq.username,
    "queues": rabbitmq.queues, "deadLetterQueue": rabbitmq.dead_letter_queue,
})
pulumi.export("rabbitmqUrl", rabbitmq.connection_url)
pulumi.export("objectStorage", {"endpoint": storage.endpoint, "buckets": storage.buckets})
