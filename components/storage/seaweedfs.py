"""The `seaweedfs` engine of ObjectStorage (default): the upstream SeaweedFS chart, pinned, in the
data namespace, installed through the platform's release helper (components/platform/charts.py).

Master, volume servers and filer on persistent volumes (one all-in-one process in development),
the S3 gateway with authentication on and one identity per consumer whose actions are scoped to
its buckets (`s3.existingConfigSecret`, a Secret written here), buckets created with versioning
by the chart's hook, volume data encrypted by the filer (`filer.encryptVolumeData`), the chart's
own NetworkPolicies (ingress from the app and monitoring namespaces on top of release-internal
traffic).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.platform import charts
from components.platform.charts import ChartPin
from components.platform.network import DATA_CLIENT, PROMETHEUS_POD
from components.storage.layout import (
    BUCKETS,
    COMPONENT,
    CONSUMERS,
    IN_CLUSTER_REGION,
    Engine,
    Keys,
    ObjectStorageArgs,
)

SEAWEEDFS_CHART = "seaweedfs"
SEAWEEDFS_VERSION = "4.44.0"
SEAWEEDFS_REPO = "https://seaweedfs.github.io/seaweedfs/helm"
SEAWEEDFS = ChartPin(SEAWEEDFS_CHART, SEAWEEDFS_VERSION, SEAWEEDFS_REPO)
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
# The same intent in SeaweedFS's identity actions.
SEAWEEDFS_ACTIONS = ("Read", "Write", "List", "Tagging")


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


def install(name: str, args: ObjectStorageArgs, names: Mapping[str, str], *, parent: pulumi.Resource) -> Engine:
    """The SeaweedFS release, its S3 identities and the Secret holding them, children of `parent`."""
    cfg = args.config
    child = pulumi.ResourceOptions(parent=parent)
    keys: Keys = {}
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
    release = charts.release(
        f"{name}-seaweedfs",
        SEAWEEDFS,
        args.namespace,
        seaweedfs_values(cfg, names, args.peers),
        pulumi.ResourceOptions(
            parent=parent,
            depends_on=[config_secret, *args.monitoring_crds],
            protect=cfg.protect,
            retain_on_delete=cfg.is_production,
        ),
        release_name=SEAWEEDFS_RELEASE,
        timeout=900,
        # Helm's defaults, as this release has always been installed (no atomic rollback).
        atomic=None,
        cleanup_on_fail=None,
        max_history=None,
    )
    endpoint = pulumi.Output.concat(
        "http://", seaweedfs_s3_service(cfg), ".", args.namespace, f".svc.cluster.local:{SEAWEEDFS_S3_PORT}"
    )
    return Engine(endpoint, IN_CLUSTER_REGION, True, keys, ready=[release])


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
