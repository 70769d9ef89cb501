"""saas-platform: the architecture overview (README), composed per stack.

    Internet -> Cloudflare (EdgeDNS) -> Traefik (ClusterPlatform)
             -> FrontendApp (Next.js) | LaravelBackend (API, Reverb, workers, scheduler)
             -> DataLayer (MariaDB + MaxScale, Redis, RabbitMQ; TLS) + ObjectStorage (S3-compatible)
    Monitoring (Prometheus, Grafana, Alertmanager, Graylog, Fluent Bit) and Tracing
    (OpenTelemetry Collector, Tempo) watch all of it; AWS (SES, IAM, Route53, CloudTrail)
    sits beside the cluster. docs/architecture.md maps each box to its package.

Configuration is read and validated once, before any resource is registered.
"""

import pulumi
import pulumi_kubernetes as k8s

from components import config

# Validate first, before importing the components (and their SDKs): a typo fails in a second.
settings = config.load()

from components.backend import LaravelBackend, LaravelBackendArgs, QueueBroker  # noqa: E402
from components.data import DataLayer, DataLayerArgs  # noqa: E402
from components.edge import EdgeDNS, EdgeDNSArgs  # noqa: E402
from components.frontend import FrontendApp, FrontendAppArgs  # noqa: E402
from components.monitoring import Monitoring, MonitoringArgs  # noqa: E402
from components.monitoring import Tracing, TracingArgs  # noqa: E402
from components.storage import ObjectStorage, ObjectStorageArgs  # noqa: E402
from components.platform import ClusterPlatform, ClusterPlatformArgs  # noqa: E402

# Every Kubernetes object goes through this provider, bound to the stack's kubeconfig context
# (`kubernetes.context`, required outside dev): a deploy of one stack can never land in the
# cluster that happens to be current. Components pass it on to their children.
cluster = k8s.Provider(
    "kubernetes",
    context=settings.raw.kubernetes.context,
    # Server-side apply (the v4 default), stated: previews need `patch` rights (docs/operations.md).
    enable_server_side_apply=True,
)
in_cluster = pulumi.ResourceOptions(providers=[cluster])

# Cluster platform: namespaces, Traefik, cert-manager, KEDA, network isolation.
platform = ClusterPlatform("platform", ClusterPlatformArgs(config=settings), opts=in_cluster)
namespaces = platform.namespaces
middlewares = platform.middlewares

# Edge: DNS, CDN and WAF at Cloudflare (or Route53), SES mail and IAM; Mailpit in dev.
edge = EdgeDNS(
    "edge",
    EdgeDNSArgs(
        config=settings,
        ingress_address=platform.load_balancer_address,
        # The namespace Output (not its plain name) makes the Secret wait for the namespace.
        dns01_secret=(namespaces["cert-manager"], platform.dns01_secret[1]),
        mail_catcher_namespace=namespaces["app"],
        mail_client_namespaces=[namespaces["app"], namespaces["monitoring"]],
    ),
    opts=in_cluster,
)

# Audit: a CloudTrail trail of the AWS account the stack uses (aws.auditTrail; on in production).
audit_trail = None
if config.audit_trail_enabled(settings.raw):
    from components.edge.audit import AuditTrail, AuditTrailArgs

    audit_trail = AuditTrail("audit-trail", AuditTrailArgs(config=settings))

# Monitoring first: its release installs the ServiceMonitor / PrometheusRule CRDs the others use.
monitoring = Monitoring(
    "monitoring",
    MonitoringArgs(
        settings,
        namespaces["monitoring"],
        namespaces["ingress"],
        admin_guard=middlewares["admin-guard"],
        mail=edge.mail,
        ingress_dependencies=[platform.traefik_release],
        controller_namespaces={"cert-manager": namespaces["cert-manager"], "keda": namespaces["keda"]},
    ),
    opts=in_cluster,
)
monitoring_crds = [monitoring.prometheus_stack]

# Tracing (off in development): OpenTelemetry Collector -> Tempo; the apps get the SDK variables.
tracing = (
    Tracing(
        "tracing",
        TracingArgs(
            settings,
            monitoring_namespace=namespaces["monitoring"],
            ingress_namespace=namespaces["ingress"],
            app_namespace=namespaces["app"],
            monitoring_crds=monitoring.prometheus_stack,
        ),
        opts=in_cluster,
    )
    if settings.monitoring.tracing.enabled
    else None
)
otlp = tracing.export if tracing is not None else None

# Data layer: object storage, then MariaDB (backed up into it), Redis and RabbitMQ.
storage = ObjectStorage(
    "object-storage",
    ObjectStorageArgs(config=settings, namespace=namespaces["data"], peers=namespaces, monitoring_crds=monitoring_crds),
    opts=in_cluster,
)
data = DataLayer(
    "data",
    DataLayerArgs(
        config=settings,
        namespace=namespaces["data"],
        backups=storage.access["backups"],
        backup_dependencies=storage.ready,
        clients_namespace=namespaces["app"],
        monitoring_namespace=namespaces["monitoring"],
        admin_guard=middlewares["admin-guard"],
        peers=namespaces,
        queue_dependencies=[platform.cert_manager_release],
        traefik_crds=[platform.traefik_release],
        monitoring_crds=monitoring_crds,
    ),
    opts=in_cluster,
)

# Applications behind Traefik. The backend first: the frontend calls it in the cluster and
# hands its Reverb settings to the browser.
backend = LaravelBackend(
    "backend",
    LaravelBackendArgs(
        config=settings,
        namespace=namespaces["app"],
        middlewares=[middlewares["security-headers"], middlewares["rate-limit"], middlewares["compression"]],
        database=data.mariadb,
        cache=data.redis,
        cache_store=data.redis_cache,
        cache_cluster=data.redis_cache_cluster,
        broker=QueueBroker(
            host=data.rabbitmq.host,
            port=data.rabbitmq.port,
            vhost=data.rabbitmq.vhost,
            username=data.rabbitmq.username,
            password=data.rabbitmq.password,
            url=data.rabbitmq.connection_url,
            queues=settings.raw.rabbitmq.queues,
        ),
        storage=storage.access["uploads"],
        mail=edge.mail,
        integrations=settings.integration_secrets,
        traefik_crds=[platform.traefik_release],
        keda_crds=[platform.keda_release],
        monitoring_crds=monitoring_crds,
        data_ready=data.ready,
        tracing=otlp,
        data_tls=data.tls_client,
    ),
    opts=in_cluster,
)
frontend = FrontendApp(
    "frontend",
    FrontendAppArgs(
        config=settings,
        namespace=namespaces["app"],
        middlewares=[middlewares["security-headers"], middlewares["compression"]],
        api_internal_url=backend.internal_url,
        reverb=backend.reverb,
        traefik_crds=[platform.traefik_release],
        monitoring_crds=monitoring_crds,
        tracing=otlp,
    ),
    opts=in_cluster,
)

pulumi.export("environment", settings.environment)
pulumi.export("domain", settings.domain)
pulumi.export("namespaces", namespaces)
pulumi.export("loadBalancerAddress", platform.load_balancer_address)
pulumi.export("clusterIssuer", platform.cluster_issuer)
if platform.admin_password is not None:
    pulumi.export("adminPassword", platform.admin_password)  # secret output: `pulumi stack output --show-secrets`
pulumi.export("frontendUrl", frontend.url)
pulumi.export("grafanaUrl", monitoring.grafana_url)
pulumi.export("apiUrl", backend.url)
pulumi.export("migrationJobs", backend.migration_jobs)
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
pulumi.export(
    "mailRelay",
    {"host": edge.mail.host, "port": edge.mail.port, "tls": edge.mail.tls, "from": edge.mail.from_address},
)
pulumi.export("dnsZoneId", edge.zone_id)
if audit_trail is not None:
    pulumi.export("auditTrail", {"trail": audit_trail.trail_name, "bucket": audit_trail.bucket_name, "logGroup": audit_trail.log_group_name})
pulumi.export("dns01Solver", edge.dns01_solver)
pulumi.export("grafanaAdminPassword", monitoring.grafana_admin_password)
pulumi.export("mariadbPassword", data.mariadb.password)
pulumi.export("redisPassword", data.redis.password)
pulumi.export("rabbitmqUrl", data.rabbitmq.connection_url)
pulumi.export("mailRelayCredentials", pulumi.Output.secret({"username": edge.mail.username, "password": edge.mail.password}))
