"""The shared vocabulary of ObjectStorage: its Args, the logical buckets and who owns them,
bucket naming, and what an engine hands back. Every engine module imports this one; it imports
no engine and no cloud SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi

from components.config import StackConfig

COMPONENT = "object-storage"

# Logical bucket -> consumer that gets read/write access to it.
BUCKETS: Mapping[str, str] = {"uploads": "app", "static": "app", "backups": "backups"}
# Buckets copied to `objectStorage.replicaRegion` (s3 engine): what cannot be rebuilt. Static
# assets are rebuilt by every frontend deploy.
REPLICATED: tuple[str, ...] = ("uploads", "backups")
CONSUMERS: tuple[str, ...] = ("app", "backups")

# What each consumer may do on its buckets (AWS IAM actions). The backup tool lists, writes,
# reads back for restores and deletes old backups past retention; multipart for large files.
OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
)
BUCKET_ACTIONS = ("s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads")

# Days each backup object version is immutable on the s3 engine (governance-mode Object Lock).
BACKUP_LOCK_DAYS = 7
# In-cluster engines sign with any region; us-east-1 is what S3 SDKs default to.
IN_CLUSTER_REGION = "us-east-1"

# {consumer: (access key id, secret access key)}
Keys = dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]]


def name_prefix(cfg: StackConfig) -> str:
    """`objectStorage.bucketPrefix`, or the domain with dashes (bucket names are global on AWS)."""
    return cfg.raw.objectStorage.bucketPrefix or cfg.domain.replace(".", "-")


def bucket_name(prefix: str, stack: str, bucket: str) -> str:
    """`<prefix>-<stack>-<bucket>`, within S3's 63 characters (the prefix gives way)."""
    suffix = f"-{stack}-{bucket}"
    return f"{prefix[: 63 - len(suffix)].rstrip('-')}{suffix}"


@dataclass(frozen=True)
class ObjectStorageArgs:
    """Inputs of ObjectStorage.

    config: the resolved stack configuration (`objectStorage` section, environment, domain).
    namespace: the data namespace the in-cluster engine runs in.
    peers: namespace per concern; `app` may reach the in-cluster S3 gateway, `monitoring` its
        metrics (seaweedfs engine only).
    monitoring_crds: the release installing the ServiceMonitor CRD: the SeaweedFS chart renders
        ServiceMonitors (`global.seaweedfs.monitoring.enabled`, no Capabilities guard in chart
        4.44 templates/*/…-servicemonitor.yaml), which Helm cannot create before that CRD exists.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    peers: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    monitoring_crds: Sequence[pulumi.Resource] = ()


@dataclass(frozen=True)
class Engine:
    """What an engine hands back to ObjectStorage.

    ready: what must exist before a consumer's first request (the in-cluster release, whose
        bucket hook creates the buckets, or the AWS buckets; nothing for an existing MinIO).
    """

    endpoint: pulumi.Input[str]
    region: str
    path_style: bool
    keys: Keys
    ready: list[pulumi.Resource] = field(default_factory=list)
