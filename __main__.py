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
from components.edge_dns import EdgeDNS, EdgeDNSArgs
from components.platform import ClusterPlatform, ClusterPlatformArgs

# Interim until ClusterPlatform publishes the Traefik Service's `load_balancer_address` and the
# DNS-01 Secret it expects: stacks with an edge set `edge.ingressAddress`, which overrides this.
INTERIM_INGRESS_ADDRESS = "192.0.2.10"
INTERIM_DNS01_SECRET = ("cert-manager", "dns01-credentials")

settings = config.load()

platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings))
edge = EdgeDNS("edge", EdgeDNSArgs(
    config=settings,
    ingress_address=INTERIM_INGRESS_ADDRESS,
    dns01_secret=INTERIM_DNS01_SECRET,
    mail_catcher_namespace=platform.namespaces["app"],
    mail_client_namespaces=[platform.namespaces["app"], platform.namespaces["monitoring"]],
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
pulumi.export(
    "mailRelay",
    {"host": edge.mail.host, "port": edge.mail.port, "tls": edge.mail.tls, "from": edge.mail.from_address},
)
pulumi.export("mailRelayCredentials", pulumi.Output.secret({"username": edge.mail.username, "password": edge.mail.password}))
pulumi.export("dnsZoneId", edge.zone_id)
pulumi.export("dns01Solver", edge.dns01_solver)
