"""ObjectStorage: S3-compatible storage behind one interface, selected by `objectStorage.engine`.

Three buckets (uploads, static assets, backups) and a credential per consumer, whatever the
engine:

- `seaweedfs` (default): the upstream SeaweedFS chart, pinned, in the data namespace: master,
  volume servers and filer on persistent volumes, the S3 gateway with authentication on and
  one identity per consumer whose actions are scoped to its buckets (`s3.existingConfigSecret`,
  a Secret written here), buckets created with versioning by the chart's hook, volume data
  encrypted by the filer (`filer.encryptVolumeData`), the chart's own NetworkPolicies (ingress
  from the app and monitoring namespaces on top of release-internal traffic).
- `s3`: AWS buckets with versioning, default encryption (SSE-S3), ownership enforced (no ACLs),
  a public access block, a lifecycle rule expiring noncurrent versions and aborted multipart
  uploads, a bucket policy denying every request not made over TLS, and an IAM user with an
  access key per consumer whose inline policy names only its buckets and the actions it needs.
  pulumi_aws is imported only in this branch.
- `minio`: an existing MinIO/AIStor endpoint from config (`objectStorage.endpoint`) with the
  credentials from the secret keys `minioAccessKey`/`minioSecretKey`. The buckets are named
  here but must exist there (no MinIO admin API is reachable from a Pulumi provider we pin),
  and both consumers share the one credential the operator of that MinIO hands out.

Bucket names are `<prefix>-<stack>-<bucket>` (prefix: `objectStorage.bucketPrefix`, default the
domain with dashes), so they are unique on AWS and never collide between stacks on a shared MinIO.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.contracts import S3Access
from components.platform.network import DATA_CLIENT, PROMETHEUS_POD

TYPE = "saas-platform:index:ObjectStorage"
COMPONENT = "object-storage"

# Logical bucket -> consumer that gets read/write access to it.
BUCKETS: Mapping[str, str] = {"uploads": "app", "static": "app", "backups": "backups"}
# Buckets copied to `objectStorage.replicaRegion` (s3 engine): what cannot be rebuilt. Static
# assets are rebuilt by every frontend deploy.
REPLICATED: tuple[str, ...] = ("uploads", "backups")
CONSUMERS: tuple[str, ...] = ("app", "backups")

SEAWEEDFS_CHART = "seaweedfs"
SEAWEEDFS_VERSION = "4.44.0"
SEAWEEDFS_REPO = "https://seaweedfs.github.io/seaweedfs/helm"
SEAWEEDFS_RELEASE = "seaweedfs"
SEAWEEDFS_S3_PORT = 8333
SEAWEEDFS_METRICS_PORT = 9327
# Development runs SeaweedFS as one process (the chart's all-in-one Deployment: master, volume
# server, filer and S3 gateway in one `weed server`), chart 4.44
# k8s/charts/seaweedfs/templates/all-in-one/*: its Service is `<release>-all-in-one` and its
# single metrics endpoint `allInOne.metricsPort` (9324).
SEAWEEDFS_ALL_IN_ONE_METRICS_PORT = 9324


def all_in_one(cfg: StackConfig) -> bool:
    """One SeaweedFS process instead of four Deployments/StatefulSets: on a laptop (dev)."""
    return cfg.environment == "development"


def seaweedfs_s3_service(cfg: StackConfig) -> str:
    return f"{SEAWEEDFS_RELEASE}-all-in-one" if all_in_one(cfg) else f"{SEAWEEDFS_RELEASE}-s3"
SEAWEEDFS_CONFIG_SECRET = "seaweedfs-s3-config"
# Days each backup object version is immutable on the s3 engine (governance-mode Object Lock).
BACKUP_LOCK_DAYS = 7
# In-cluster engines sign with any region; us-east-1 is what S3 SDKs default to.
IN_CLUSTER_REGION = "us-east-1"

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
# The same intent in SeaweedFS's identity actions.
SEAWEEDFS_ACTIONS = ("Read", "Write", "List", "Tagging")


def name_prefix(cfg: StackConfig) -> str:
    """`objectStorage.bucketPrefix`, or the domain with dashes (bucket names are global on AWS)."""
    return cfg.raw.objectStorage.bucketPrefix or cfg.domain.replace(".", "-")


def bucket_name(prefix: str, stack: str, bucket: str) -> str:
    """`<prefix>-<stack>-<bucket>`, within S3's 63 characters (the prefix gives way)."""
    suffix = f"-{stack}-{bucket}"
    return f"{prefix[: 63 - len(suffix)].rstrip('-')}{suffix}"


def iam_policy(bucket_arns: list[str]) -> dict[str, Any]:
    """The inline IAM policy of one consumer: its buckets, its actions, nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListOwnBuckets", "Effect": "Allow", "Action": list(BUCKET_ACTIONS), "Resource": list(bucket_arns)},
            {
                "Sid": "ReadWriteOwnObjects",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": [f"{arn}/*" for arn in bucket_arns],
            },
        ],
    }


def seaweedfs_identities(credentials: Mapping[str, tuple[str, str]], buckets: Mapping[str, str]) -> dict[str, Any]:
    """The S3 gateway's identity file: one identity per consumer, actions scoped to its buckets."""
    return {
        "identities": [
            {
                "name": consumer,
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": [
                    f"{action}:{buckets[b]}"
                    for b, owner in BUCKETS.items() if owner == consumer
                    for action in SEAWEEDFS_ACTIONS
                ],
            }
            for consumer, (access_key, secret_key) in credentials.items()
        ]
    }


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
        self.ready = []
        cfg = args.config
        section = cfg.raw.objectStorage
        names = {bucket: bucket_name(name_prefix(cfg), cfg.stack, bucket) for bucket in BUCKETS}
        builders = {"seaweedfs": self._seaweedfs, "s3": self._aws_s3, "minio": self._minio}
        endpoint, region, path_style, keys = builders[section.engine](name, args, names)

        self.endpoint = pulumi.Output.from_input(endpoint)
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

    # ---- engines: each returns (endpoint, region, path_style, {consumer: (key id, secret)}) ----

    def _seaweedfs(
        self, name: str, args: ObjectStorageArgs, names: Mapping[str, str]
    ) -> tuple[pulumi.Input[str], str, bool, dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]]]:
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        keys: dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]] = {}
        for consumer in CONSUMERS:
            key_id = random.RandomString(
                f"{name}-{consumer}-access-key", length=20, special=False, lower=False, opts=child
            )
            secret = random.RandomPassword(f"{name}-{consumer}-secret-key", length=40, special=False, opts=child)
            keys[consumer] = (key_id.result, secret.result)

        identities = pulumi.Output.all(*[part for pair in keys.values() for part in pair]).apply(
            lambda flat: json.dumps(
                seaweedfs_identities(
                    {c: (flat[2 * i], flat[2 * i + 1]) for i, c in enumerate(keys)}, names
                ),
                sort_keys=True,
            )
        )
        config_secret = k8s.core.v1.Secret(
            f"{name}-s3-config",
            metadata=kube.metadata(SEAWEEDFS_CONFIG_SECRET, COMPONENT, args.namespace, app="seaweedfs"),
            type="Opaque",
            string_data={"seaweedfs_s3_config": pulumi.Output.secret(identities)},
            opts=child,
        )
        release = k8s.helm.v3.Release(
            f"{name}-seaweedfs",
            name=SEAWEEDFS_RELEASE,
            chart=SEAWEEDFS_CHART,
            version=SEAWEEDFS_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=SEAWEEDFS_REPO),
            namespace=args.namespace,
            values=seaweedfs_values(cfg, names, args.peers),
            timeout=900,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[config_secret, *args.monitoring_crds],
                protect=cfg.protect,
                retain_on_delete=cfg.is_production,
            ),
        )
        self.ready.append(release)
        endpoint = pulumi.Output.concat(
            "http://", seaweedfs_s3_service(cfg), ".", args.namespace, f".svc.cluster.local:{SEAWEEDFS_S3_PORT}"
        )
        return endpoint, IN_CLUSTER_REGION, True, keys

    def _aws_s3(
        self, name: str, args: ObjectStorageArgs, names: Mapping[str, str]
    ) -> tuple[pulumi.Input[str], str, bool, dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]]]:
        import pulumi_aws as aws  # only stacks with the s3 engine pay for these imports

        from components.aws_buckets import hardened_bucket
        from components.storage_replication import BucketReplication, ReplicationArgs

        cfg = args.config
        section = cfg.raw.objectStorage
        region = section.region
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(parent=self, protect=cfg.protect, retain_on_delete=cfg.is_production)
        tags = {"app": "saas-platform", "stack": cfg.stack, "component": COMPONENT}
        hardened = {}
        for bucket, bucket_id in names.items():
            # Immutability (data-safety review #20): every backup and archived binlog version
            # is locked for BACKUP_LOCK_DAYS in governance mode. The in-cluster backup key has
            # neither s3:DeleteObjectVersion nor s3:BypassGovernanceRetention: whoever reads
            # that Secret can hide current backups behind delete markers (the operator's own
            # pruning does exactly that) but cannot destroy a version inside the window.
            hardened[bucket] = hardened_bucket(
                f"{name}-{bucket}", bucket_id, region, parent=self, tags=tags,
                noncurrent_days=section.noncurrentVersionDays,
                lock_days=BACKUP_LOCK_DAYS if bucket == "backups" else None, keep=keep,
            )
            self.ready.append(hardened[bucket].bucket)
        arns = {bucket: h.arn for bucket, h in hardened.items()}
        if section.replicaRegion:
            # A second copy in another region (issue 21 item 2, data-safety review #20).
            self.replication = BucketReplication(
                f"{name}-replication",
                ReplicationArgs(
                    config=cfg,
                    sources={b: hardened[b] for b in REPLICATED},
                    replica_names={b: bucket_name(name_prefix(cfg), cfg.stack, f"{b}-replica") for b in REPLICATED},
                    role_name=bucket_name(name_prefix(cfg), cfg.stack, "s3-replication"),
                    tags=tags,
                ),
                opts=child,
            )

        keys: dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]] = {}
        for consumer in CONSUMERS:
            user = aws.iam.User(
                f"{name}-{consumer}",
                name=bucket_name(name_prefix(cfg), cfg.stack, f"{consumer}-s3"),
                path="/saas-platform/",
                tags=tags,
                opts=child,
            )
            own = [arns[b] for b, owner in BUCKETS.items() if owner == consumer]
            aws.iam.UserPolicy(
                f"{name}-{consumer}-buckets",
                name=f"{consumer}-buckets",
                user=user.name,
                policy=pulumi.Output.all(*own).apply(lambda values: json.dumps(iam_policy(list(values)), sort_keys=True)),
                opts=child,
            )
            key = aws.iam.AccessKey(f"{name}-{consumer}-key", user=user.name, opts=child)
            keys[consumer] = (key.id, key.secret)
        return f"https://s3.{region}.amazonaws.com", region, False, keys

    def _minio(
        self, name: str, args: ObjectStorageArgs, names: Mapping[str, str]
    ) -> tuple[pulumi.Input[str], str, bool, dict[str, tuple[pulumi.Output[str], pulumi.Output[str]]]]:
        cfg = args.config
        section = cfg.raw.objectStorage
        shared = (cfg.secrets["minioAccessKey"], cfg.secrets["minioSecretKey"])
        return str(section.endpoint), section.region, True, {consumer: shared for consumer in CONSUMERS}


def seaweedfs_values(
    cfg: StackConfig, names: Mapping[str, str], peers: Mapping[str, pulumi.Input[str]]
) -> dict[str, Any]:
    """Chart values: every key path here exists in the chart's values.yaml (tests check it)."""
    ha = cfg.highly_available
    single = all_in_one(cfg)
    storage = cfg.raw.objectStorage.storage
    pod_security = {
        "enabled": True,
        "runAsNonRoot": True,
        "runAsUser": kube.DEFAULT_UID,
        "runAsGroup": kube.DEFAULT_UID,
        "fsGroup": kube.DEFAULT_UID,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container_security = {
        "enabled": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        # weed writes temporary chunks under /tmp: the root filesystem stays writable.
        "readOnlyRootFilesystem": False,
        "seccompProfile": {"type": "RuntimeDefault"},
    }

    def resources(cpu: str, memory: str) -> dict[str, Any]:
        return kube.resource_values(ContainerSize(cpu, memory, memory))

    def pvc(size: str) -> dict[str, Any]:
        return {"type": "persistentVolumeClaim", "size": size, "storageClass": ""}

    common = {"podSecurityContext": pod_security, "containerSecurityContext": container_security}
    logs = {"type": "emptyDir"}
    extra_ingress = []
    # Only the backend workloads reach S3, only Prometheus the metrics.
    if "app" in peers:
        extra_ingress.append({
            "from": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peers["app"]}},
                "podSelector": {"matchLabels": dict(DATA_CLIENT)},
            }],
            "ports": [{"protocol": "TCP", "port": SEAWEEDFS_S3_PORT}],
        })
    if "monitoring" in peers:
        extra_ingress.append({
            "from": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": peers["monitoring"]}},
                "podSelector": {"matchLabels": dict(PROMETHEUS_POD)},
            }],
            "ports": [{"protocol": "TCP", "port": SEAWEEDFS_ALL_IN_ONE_METRICS_PORT if single else SEAWEEDFS_METRICS_PORT}],
        })
    # Versioning for the application's buckets only. mariadb-operator prunes expired backups
    # with a plain RemoveObject (v26.6.0 pkg/minio/minio.go:256), which on a versioned bucket
    # only adds a delete marker (SeaweedFS 4.44 weed/s3api/s3api_object_handlers_delete.go
    # :151-159) and keeps every byte: the backups bucket must not be versioned here (there is
    # no lifecycle expiry on SeaweedFS).
    buckets = [{"name": names[b], **({} if b == "backups" else {"versioning": "Enabled"})} for b in BUCKETS]
    hook = {"resources": resources("20m", "64Mi") if single else resources("50m", "128Mi")}
    if single:
        # The chart's all-in-one mode: every component off but the one `weed server` process,
        # which reads master.*, volume.*, filer.* and s3.* settings (defaultReplication,
        # encryptVolumeData, ports) and serves S3 with the same identities and bucket hook.
        return {
            "global": {"seaweedfs": {"monitoring": {"enabled": True}}},
            "master": {"enabled": False, "defaultReplication": "000"},
            "volume": {"enabled": False},
            "filer": {"enabled": False, "encryptVolumeData": True},
            "s3": {"enabled": False},
            "allInOne": {
                **common,
                "enabled": True,
                "replicas": 1,
                "data": {"type": "persistentVolumeClaim", "size": storage, "storageClass": ""},
                "s3": {
                    "enabled": True,
                    "enableAuth": True,
                    "existingConfigSecret": SEAWEEDFS_CONFIG_SECRET,
                    "createBuckets": buckets,
                    "createBucketsHook": hook,
                },
                "resources": resources("100m", "256Mi"),
            },
            "networkPolicy": {"enabled": True, "extraIngress": extra_ingress, "egress": {"enabled": True}},
        }
    return {
        "global": {"seaweedfs": {"monitoring": {"enabled": True}}},
        "master": {
            **common,
            # Raft needs an odd number of masters; three survive one loss.
            "replicas": 3 if ha else 1,
            # One extra copy of every volume on another server of the same rack when HA.
            "defaultReplication": "001" if ha else "000",
            "data": pvc("1Gi"),
            "logs": logs,
            "resources": resources("100m", "256Mi"),
        },
        "volume": {
            **common,
            "replicas": 3 if ha else 1,
            "dataDirs": [{"name": "data1", "type": "persistentVolumeClaim", "size": storage, "storageClass": "", "maxVolumes": 0}],
            "logs": logs,
            # The resize hook runs kubectl with a ClusterRole; volumes are resized by hand.
            "resizeHook": {"enabled": False},
            "resources": resources("250m", "512Mi"),
        },
        "filer": {
            **common,
            # Each chunk's cipher key lives in the filer's metadata (`encryptVolumeData`;
            # SeaweedFS 4.44 weed/pb/filer.proto FileChunk.cipher_key): one filer on one volume
            # would make every object unreadable with that volume. Filers with their own
            # embedded store subscribe to each other's metadata changes and keep a full copy
            # each, a new one bootstrapping from a peer (SeaweedFS 4.44
            # weed/filer/meta_aggregator.go:345-400), so two survive the loss of one.
            "replicas": 2 if ha else 1,
            # The placement S3 objects actually get. The S3 gateway asks the filer for volumes
            # with no replication of its own (SeaweedFS 4.44 weed/s3api/s3api_object_handlers_put.go
            # `Replication: ""`); the filer fills in its `-defaultReplicaPlacement`
            # (weed/server/filer_server_handlers_write.go detectStorageOption, util.Nvl), which the
            # chart always passes, "000" by default (chart 4.44 templates/filer/filer-statefulset.yaml,
            # values.yaml filer.defaultReplicaPlacement); the master's default only applies to a
            # request without one (weed/server/master_grpc_server_assign.go). Without this,
            # `master.defaultReplication` above would leave every object with one copy.
            "defaultReplicaPlacement": "001" if ha else "000",
            "data": pvc("10Gi"),
            "logs": logs,
            "encryptVolumeData": True,
            "resources": resources("250m", "512Mi"),
        },
        "s3": {
            **common,
            "enabled": True,
            "replicas": 2 if ha else 1,
            "enableAuth": True,
            "existingConfigSecret": SEAWEEDFS_CONFIG_SECRET,
            # Documented in the chart's values.yaml (commented example), read by its bucket hook.
            "createBuckets": buckets,
            "createBucketsHook": hook,
            "logs": logs,
            "resources": resources("100m", "256Mi"),
        },
        "networkPolicy": {
            "enabled": True,
            "extraIngress": extra_ingress,
            "egress": {"enabled": True},
        },
    }
