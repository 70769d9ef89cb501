"""Data layer, part 2 (issue 5): the `rabbitmq` and `objectStorage` sections."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from components.config.base import StorageEngine, StorageSize, _Strict, matching


# RabbitMQ queue names the application declares. Kept to a DNS-label-like alphabet because each
# queue also becomes a Kubernetes object name (`queue-<name>`); 50 characters leave room for it.
_QUEUE_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,48}[a-z0-9])?$")


# AWS region names (eu-west-1, us-gov-west-1, ap-southeast-3); in-cluster engines accept any.
_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
# Bucket names are global on AWS: a prefix makes them unique (S3 naming rules, room for suffixes).
_BUCKET_PREFIX_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{1,38}[a-z0-9])$")
Region = Annotated[str, matching(_REGION_RE, "a region such as eu-west-1")]
AwsRegion = Annotated[str, matching(_REGION_RE, "an AWS region such as eu-central-1")]
BucketPrefix = Annotated[str, matching(_BUCKET_PREFIX_RE, "a bucket prefix: 3-40 lowercase letters, digits and '-'")]
# The dead-letter queue the topology creates itself; an application queue must not take its name.
DEAD_LETTER_QUEUE = "dead-letter"


def _queue_name(value: str) -> str:
    if not _QUEUE_RE.match(value):
        raise ValueError(
            f"'{value}' is not a queue name: lowercase letters, digits, '.' and '-', 1-50 characters"
        )
    if value == DEAD_LETTER_QUEUE:
        raise ValueError(f"'{DEAD_LETTER_QUEUE}' is reserved for the dead-letter queue")
    return value


QueueName = Annotated[str, AfterValidator(_queue_name)]


class RabbitMQSection(_Strict):
    """`rabbitmq:` the application's queues and how failed deliveries are dead-lettered."""

    queues: list[QueueName] = Field(default_factory=lambda: ["default"], min_length=1, max_length=50)
    # Redeliveries of a message before the quorum queue dead-letters it (x-delivery-limit).
    deliveryLimit: int = Field(default=5, ge=1, le=1000)
    # Persistent volume per RabbitMQ node.
    storage: StorageSize = "10Gi"

    @field_validator("queues")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        duplicates = sorted({q for q in value if value.count(q) > 1})
        if duplicates:
            raise ValueError(f"duplicate queue names: {', '.join(duplicates)}")
        return value


class ObjectStorageSection(_Strict):
    """`objectStorage:` which S3-compatible backend holds uploads, static assets and backups."""

    engine: StorageEngine = "seaweedfs"
    # Signing region; the AWS region of the buckets for the s3 engine.
    region: Region = "us-east-1"
    # The existing MinIO/AIStor S3 endpoint (minio engine only), e.g. https://s3.example.net.
    endpoint: str | None = None
    # Bucket names become `<bucketPrefix>-<stack>-<bucket>`; defaults to the domain with dashes.
    bucketPrefix: BucketPrefix | None = None
    # Days a replaced or deleted object version is kept before expiry (s3 lifecycle rule).
    noncurrentVersionDays: int = Field(default=30, ge=1, le=3650)
    # Persistent volume of each in-cluster SeaweedFS volume server.
    storage: StorageSize = "50Gi"
    # s3 engine: the AWS region the uploads and backups buckets are replicated to (a second
    # copy outside the primary region; components/storage_replication.py). Required in
    # production with s3; absent means no replication.
    replicaRegion: AwsRegion | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https://[a-z0-9.-]+(:[0-9]{1,5})?/?$", value):
            raise ValueError(f"'{value}' is not an https:// endpoint URL (scheme, host, optional port)")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _endpoint_for_minio(self) -> "ObjectStorageSection":
        if self.engine == "minio" and not self.endpoint:
            raise ValueError("endpoint: the minio engine needs the endpoint of the existing MinIO (https://...)")
        if self.engine != "minio" and self.endpoint:
            raise ValueError(f"endpoint: only the minio engine takes an endpoint ({self.engine} has its own)")
        if self.replicaRegion and self.engine != "s3":
            raise ValueError(
                f"replicaRegion: only the s3 engine replicates to another AWS region ({self.engine} does not; "
                "docs/operations.md, \"Files replication\")"
            )
        if self.replicaRegion and self.replicaRegion == self.region:
            raise ValueError(
                f"replicaRegion: '{self.replicaRegion}' is the primary region; a replica must survive the loss "
                "of that region: choose another one"
            )
        return self
