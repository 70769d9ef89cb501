"""Typed interfaces between components: what one component hands another.

Components talk only through these values (never by re-reading another component's config or
hard-coding its names twice). Credentials travel as secret `pulumi.Output`s, not as Secret
names: a Kubernetes Secret cannot be read across namespaces, so each consumer writes the
values into a Secret in its own namespace.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class MiddlewareRef:
    """A Traefik Middleware an IngressRoute can list (`spec.routes[].middlewares[]`)."""

    name: str
    namespace: str

    def as_route_ref(self) -> dict[str, str]:
        return {"name": self.name, "namespace": self.namespace}


@dataclass(frozen=True)
class S3Access:
    """One consumer's access to one bucket of the S3-compatible object storage.

    endpoint: URL of the S3 API (`https://s3.eu-west-1.amazonaws.com`, or the in-cluster
        gateway `http://<svc>.<ns>.svc.cluster.local:8333`).
    region: signing region (in-cluster engines accept any; `us-east-1` by convention).
    bucket: bucket name.
    path_style: True for in-cluster/MinIO endpoints (`endpoint/bucket/key`), False for AWS.
    access_key_id, secret_access_key: secret outputs scoped to this consumer and bucket.
    """

    endpoint: pulumi.Input[str]
    region: str
    bucket: pulumi.Input[str]
    path_style: bool
    access_key_id: pulumi.Output[str]
    secret_access_key: pulumi.Output[str]


@dataclass(frozen=True)
class MailRelay:
    """SMTP relay the backend and Alertmanager send through (SES in staging/prod, a catcher in dev).

    host, port: SMTP endpoint; tls: STARTTLS required; from_address: envelope sender domain
    verified at the provider; username/password: secret outputs (SES SMTP credentials).
    """

    host: pulumi.Input[str]
    port: int
    tls: bool
    from_address: str
    username: pulumi.Output[str]
    password: pulumi.Output[str]


@dataclass(frozen=True)
class MariaDBEndpoints:
    """How the application reaches its MariaDB (read/write split through the operator's Services).

    primary_host: FQDN of the `<name>-primary` Service: writes and reads that must see them.
    replica_host: FQDN of the `<name>-secondary` Service: read-only traffic (replicas). Without
        replication the operator creates neither Service, and both hosts are the `<name>`
        Service (mariadb-operator v26.6.0 creates them only when IsHAEnabled()).
    port: MariaDB port (3306).
    database: the application's schema.
    username: the application's user (privileges on `database` only).
    password: secret output; the consumer writes it into a Secret in its own namespace.
    """

    primary_host: pulumi.Output[str]
    replica_host: pulumi.Output[str]
    port: int
    database: str
    username: str
    password: pulumi.Output[str]


@dataclass(frozen=True)
class RedisEndpoints:
    """How the application reaches Redis: through Sentinel, or the master Service directly.

    sentinel_host, sentinel_port: the Sentinel Service (predis `replication: sentinel`).
    master_name: the Sentinel master group name ("mymaster").
    master_host: FQDN of the `<name>-master` Service, for clients that cannot use Sentinel
        (Laravel Reverb's scaling connection).
    port: Redis port (6379).
    password: secret output (the same for Redis and Sentinel).
    """

    sentinel_host: pulumi.Output[str]
    sentinel_port: int
    master_name: str
    master_host: pulumi.Output[str]
    port: int
    password: pulumi.Output[str]


@dataclass(frozen=True)
class RedisClusterEndpoints:
    """How the application reaches a Redis Cluster (the large tier's cache,
    components/data/redis_cluster.py): the leaders' Service (any node answers, with redirects
    to the others), the port, and the (secret) password."""

    host: pulumi.Output[str]
    port: int
    password: pulumi.Output[str]
