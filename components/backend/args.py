"""The inputs of LaravelBackend: its Args and the RabbitMQ connection it is handed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi

from components.config import StackConfig
from components.contracts import MailRelay, MariaDBEndpoints, MiddlewareRef, RedisClusterEndpoints, RedisEndpoints, S3Access
from components.data.tls import DataTLSClient
from components.monitoring.tracing import OtlpExport


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
