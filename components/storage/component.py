"""ObjectStorage: S3-compatible storage behind one interface, selected by `objectStorage.engine`.

Three buckets (uploads, static assets, backups) and a credential per consumer, whatever the
engine:

- `seaweedfs` (default, seaweedfs.py): the upstream SeaweedFS chart, pinned, in the data namespace: master,
  volume servers and filer on persistent volumes, the S3 gateway with authentication on and
  one identity per consumer whose actions are scoped to its buckets (`s3.existingConfigSecret`,
  a Secret written here), buckets created with versioning by the chart's hook, volume data
  encrypted by the filer (`filer.encryptVolumeData`), the chart's own NetworkPolicies (ingress
  from the app and monitoring namespaces on top of release-internal traffic).
- `s3` (s3.py, buckets.py, replication.py): AWS buckets with versioning, default encryption (SSE-S3), ownership enforced (no ACLs),
  a public access block, a lifecycle rule expiring noncurrent versions and aborted multipart
  uploads, a bucket policy denying every request not made over TLS, and an IAM user with an
  access key per consumer whose inline policy names only its buckets and the actions it needs.
  pulumi_aws is imported only in this branch (s3.py is loaded lazily).
- `minio`: an existing MinIO/AIStor endpoint from config (`objectStorage.endpoint`) with the
  credentials from the secret keys `minioAccessKey`/`minioSecretKey`. The buckets are named
  here but must exist there (no MinIO admin API is reachable from a Pulumi provider we pin),
  and both consumers share the one credential the operator of that MinIO hands out.

Bucket names are `<prefix>-<stack>-<bucket>` (prefix: `objectStorage.bucketPrefix`, default the
domain with dashes), so they are unique on AWS and never collide between stacks on a shared MinIO.
"""

from __future__ import annotations

from typing import Callable, Mapping

import pulumi

from components.contracts import S3Access
from components.storage.layout import BUCKETS, CONSUMERS, Engine, ObjectStorageArgs, bucket_name, name_prefix

TYPE = "saas-platform:index:ObjectStorage"

EngineInstaller = Callable[..., Engine]


def _engine(engine: str) -> EngineInstaller:
    """The installer of one engine; the s3 engine's module (pulumi_aws) is imported only here."""
    if engine == "s3":
        from components.storage import s3  # only stacks with the s3 engine pay for these imports

        return s3.install
    if engine == "minio":
        return _minio
    from components.storage import seaweedfs

    return seaweedfs.install


def _minio(name: str, args: ObjectStorageArgs, names: Mapping[str, str], *, parent: pulumi.Resource) -> Engine:
    """An existing MinIO: nothing to create, one shared credential from the secret config."""
    cfg = args.config
    section = cfg.raw.objectStorage
    shared = (cfg.secrets["minioAccessKey"], cfg.secrets["minioSecretKey"])
    return Engine(str(section.endpoint), section.region, True, {consumer: shared for consumer in CONSUMERS})


class ObjectStorage(pulumi.ComponentResource):
    """Buckets for uploads, static assets and backups, with a scoped credential per consumer.

    `buckets` keys: `uploads`, `static`, `backups` (bucket names).
    `access` keys, one `S3Access` per bucket:
      - `uploads`, `static`: the application's credential (LaravelBackend; the same identity
        for both buckets, read/write on exactly those two);
      - `backups`: the backup credential (MariaDB physical backups), read/write on `backups` only.
    """

    endpoint: pulumi.Output[str]
    """URL of the S3 API the consumers talk to."""
    buckets: dict[str, pulumi.Output[str]]
    access: dict[str, S3Access]
    ready: list[pulumi.Resource]
    """What must exist before a consumer's first request: the in-cluster release (its bucket
    hook creates the buckets) or the AWS buckets; empty for an existing MinIO."""

    def __init__(self, name: str, args: ObjectStorageArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        cfg = args.config
        section = cfg.raw.objectStorage
        names = {bucket: bucket_name(name_prefix(cfg), cfg.stack, bucket) for bucket in BUCKETS}
        engine = _engine(section.engine)(name, args, names, parent=self)
        self.ready = engine.ready
        region, path_style, keys = engine.region, engine.path_style, engine.keys

        self.endpoint = pulumi.Output.from_input(engine.endpoint)
        self.buckets = {bucket: pulumi.Output.from_input(value) for bucket, value in names.items()}
        self.access = {
            bucket: S3Access(
                endpoint=self.endpoint,
                region=region,
                bucket=self.buckets[bucket],
                path_style=path_style,
                access_key_id=pulumi.Output.secret(keys[consumer][0]),
                secret_access_key=pulumi.Output.secret(keys[consumer][1]),
            )
            for bucket, consumer in BUCKETS.items()
        }
        self.register_outputs({"endpoint": self.endpoint, "buckets": self.buckets})
