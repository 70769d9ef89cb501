"""Encryption in transit for the data stores (`data.tls`, on outside development).

The chain, all cert-manager (v1.21.1) objects:

    Issuer `data-ca-bootstrap` (selfSigned, cert-manager's namespace)
      -> Certificate `data-root-ca` (isCA, ten years, Secret in cert-manager's namespace)
        -> ClusterIssuer `data-ca` (ca: data-root-ca)
          -> mariadb-operator's server and client certificates (`spec.tls.*CertIssuerRef`)
          -> Certificate `redis-tls` (Redis and Sentinel pods, data namespace)
          -> Certificate `rabbitmq-tls` (RabbitMQ, data namespace)
          -> Certificate `data-ca-trust` (application namespace): only its `ca.crt`, the
             trust anchor, is mounted read-only into the application pods.

Why a ClusterIssuer and not an Issuer in the data namespace: a cert-manager CA Issuer signs
only Certificates of its own namespace, and the applications live in another one. The trust
anchor has to reach them, and mariadb-operator leaves that to the user ("Distributing trust",
mariadb-operator v26.6.0 docs/tls.md: out of scope, trust-manager suggested). Issuing a
Certificate in the app namespace from the same CA puts `ca.crt` there with cert-manager alone,
no trust-manager chart to pin and run. The cost: whoever may create cert-manager Certificates in
any namespace may get a leaf from this CA. Nobody but the platform's deployer has that right
(application pods run without a ServiceAccount token); docs/operations.md says so.

What each store does with it:
- MariaDB: `tls.enabled` + `tls.required` (the operator renders `require_secure_transport = ON`,
  v26.6.0 internal/controller/mariadb_controller_tls.go reconcileTLSConfig); the operator issues
  the server/client certificates from `data-ca`, gives its own clients (agent, backup jobs,
  exporter: `tls=true` + client certificate in the exporter's my.cnf,
  internal/controller/mariadb_controller_metrics.go reconcileExporterConfig; SQL clients
  pkg/sql/sql.go) TLS, and renews/rolls the pods itself.
- Redis and Sentinel: redis-operator v0.26.0 `spec.TLS` mounts the Secret at /tls
  (internal/k8sutils/statefulset.go getVolumeMount), sets TLS_MODE, REDIS_TLS_CERT(_KEY) and,
  only when `ca` is named, REDIS_TLS_CA_CERT (GenerateTLSEnvironmentVariables), gives the probes
  `--tls --cert --key --cacert` (getProbeInfo) and the exporter `rediss://localhost` with a client
  certificate (getExporterEnvironmentVariables); its own client verifies the chain without the
  host name (internal/k8sutils/secrets.go getRedisTLSConfig). The image's entrypoint writes
  `port 0` / `tls-port 6379` but `tls-replication` only in cluster mode and the CA from a
  variable the operator does not set (OT-CONTAINER-KIT/redis entrypoint.sh tls_setup), and the
  Sentinel entrypoint no TLS at all (entrypoint-sentinel.sh): the lines below, included last by
  both entrypoints, complete it.
- RabbitMQ: cluster-operator `spec.tls.secretName` adds the AMQPS listener on 5671; the
  application and KEDA use only 5671 (NetworkPolicy). `disableNonTLSListeners` stays off: it
  would move the management API (which the topology operator uses over HTTP) and the Prometheus
  endpoint to their TLS ports, which neither is configured to trust (docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import StackConfig

TYPE = "saas-platform:index:DataTLS"
CERT_MANAGER_API = "cert-manager.io/v1"
BOOTSTRAP_ISSUER = "data-ca-bootstrap"
ROOT_SECRET = "data-root-ca"
ISSUER = "data-ca"
TRUST_SECRET = "data-ca-trust"
REDIS_SECRET = "redis-tls"
RABBITMQ_SECRET = "rabbitmq-tls"
CA_KEY = "ca.crt"
# Where the application pods find the trust anchor (a read-only Secret volume, `ca.crt` only).
CA_DIR = "/etc/saas-platform/data-ca"
CA_FILE = f"{CA_DIR}/{CA_KEY}"
CA_VOLUME = "data-ca"
AMQPS_PORT = 5671
# Leaf certificates: 90 days, renewed 30 days before the end, a new key each time. The root:
# ten years (rotating it re-keys every leaf and every client's trust: a planned operation).
LEAF_DURATION, LEAF_RENEW_BEFORE = "2160h", "720h"
ROOT_DURATION = "87600h"
# mariadb-operator watches Secrets with this label and rolls the instance when a CA it trusts
# changes (v26.6.0 docs/tls.md "CA renewal", "Issue certificates with cert-manager").
MARIADB_WATCH_LABEL = "k8s.mariadb.com/watch"
CLUSTER_DOMAIN = "cluster.local"


def enabled(cfg: StackConfig) -> bool:
    """`data.tls.enabled`, defaulting to on outside development."""
    explicit = cfg.raw.data.tls.enabled
    return explicit if explicit is not None else cfg.environment != "development"


def issuer_ref() -> dict[str, str]:
    return {"name": ISSUER, "kind": "ClusterIssuer", "group": "cert-manager.io"}


def service_names(services: Sequence[str], namespace: str, *, wildcard: Sequence[str] = ()) -> list[str]:
    """Every name a client may dial for these Services: short, `.ns`, `.ns.svc` and the FQDN;
    `wildcard` headless Services get `*.` entries (pod DNS names such as redis-0.redis-headless)."""
    out: list[str] = []
    for prefix, names in (("", services), ("*.", wildcard)):
        for name in names:
            out += [f"{prefix}{name}", f"{prefix}{name}.{namespace}", f"{prefix}{name}.{namespace}.svc",
                    f"{prefix}{name}.{namespace}.svc.{CLUSTER_DOMAIN}"]
    return out


def redis_dns_names(replication: str, namespace: str) -> list[str]:
    """The Services redis-operator v0.26.0 creates for a RedisReplication and its RedisSentinel
    (internal/k8sutils/redis-replication.go, redis-sentinel.go), plus the pod names it dials
    with TLS (`<pod>.<name>-headless.<ns>.svc.<domain>`, internal/k8sutils/redis.go
    getRedisReplicationHostname) and localhost (probes, exporter)."""
    sentinel = f"{replication}-sentinel"
    services = [replication, f"{replication}-master", f"{replication}-replica", f"{replication}-additional",
                sentinel, f"{sentinel}-additional"]
    return [*service_names(services, namespace, wildcard=[f"{replication}-headless", f"{sentinel}-headless"]), "localhost"]


def redis_cluster_dns_names(cluster: str, namespace: str) -> list[str]:
    """The Services redis-operator v0.26.0 creates for a RedisCluster (internal/k8sutils/
    redis-cluster.go CreateRedisClusterService: `<name>-leader`/`-follower`, their `-headless`
    and `-additional`, and `<name>-master`) and the pod names the nodes announce and dial
    (`<pod>.<name>-leader-headless`), plus localhost (probes, exporter)."""
    services = [f"{cluster}-{role}{suffix}" for role in ("leader", "follower") for suffix in ("", "-additional")]
    return [*service_names([*services, f"{cluster}-master"], namespace,
                           wildcard=[f"{cluster}-leader-headless", f"{cluster}-follower-headless"]), "localhost"]


def rabbitmq_dns_names(cluster: str, namespace: str) -> list[str]:
    """The client Service of a RabbitmqCluster and its nodes (`<name>-nodes` headless)."""
    return service_names([cluster], namespace, wildcard=[f"{cluster}-nodes"])


def certificate_spec(secret: str, dns_names: pulumi.Input[list[str]], common_name: str, usages: Sequence[str]) -> dict[str, object]:
    return {
        "secretName": secret,
        "commonName": common_name,
        "dnsNames": dns_names,
        "usages": ["digital signature", "key encipherment", *usages],
        "duration": LEAF_DURATION,
        "renewBefore": LEAF_RENEW_BEFORE,
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "issuerRef": issuer_ref(),
    }


# --- what the stores' specs get ----------------------------------------------------------------


def mariadb_tls_spec() -> dict[str, object]:
    """`MariaDB.spec.tls` (v26.6.0 api/v1alpha1/mariadb_types.go TLS): certificates from
    `data-ca`, TLS required for every connection (`require_secure_transport`)."""
    return {"enabled": True, "required": True, "serverCertIssuerRef": issuer_ref(), "clientCertIssuerRef": issuer_ref()}


def maxscale_tls_spec(instance: str) -> dict[str, object]:
    """`MaxScale.spec.tls` (v26.6.0 api/v1alpha1/maxscale_types.go MaxScaleTLS): admin and
    listener certificates from `data-ca`, so the applications verify MaxScale with the same
    anchor. MaxScale lists its servers itself (components/data/maxscale.py), and the defaults
    that a `mariaDbRef` would bring are then not applied (MaxScaleTLS.SetDefaults returns
    without a referred MariaDB): the MariaDB's CA bundle and client certificate (the Secrets
    `<instance>-ca-bundle` and `<instance>-client-cert`, api/v1alpha1/mariadb_keys.go) and
    replication over TLS are named here, and MaxScale verifies the servers' certificates and
    names (they carry `*.<instance>-internal.<ns>.svc.cluster.local`, docs/tls.md)."""
    return {
        "enabled": True,
        "adminCertIssuerRef": issuer_ref(),
        "listenerCertIssuerRef": issuer_ref(),
        "serverCASecretRef": {"name": f"{instance}-ca-bundle"},
        "serverCertSecretRef": {"name": f"{instance}-client-cert"},
        "verifyPeerCertificate": True,
        "verifyPeerHost": True,
        "replicationSSLEnabled": True,
    }


def redis_tls_spec() -> dict[str, object]:
    """`spec.TLS` of RedisReplication / RedisSentinel: `ca` named so the operator exports
    REDIS_TLS_CA_CERT to the probes and the pre-stop hook (statefulset.go
    GenerateTLSEnvironmentVariables sets it only when `ca` is set)."""
    return {"ca": CA_KEY, "cert": "tls.crt", "key": "tls.key", "secret": {"secretName": REDIS_SECRET}}


def redis_tls_conf() -> str:
    """redis.conf lines for TLS (the entrypoint's `port 0` / `tls-port` stay): replicas reach
    the master over TLS, the CA file the entrypoint leaves empty, and no client certificate
    asked of clients (they authenticate with the password; the operator and the exporter send
    one anyway)."""
    return (
        "\n# TLS (components/data/tls.py): replication over TLS, the CA, password-authenticated clients.\n"
        f"tls-replication yes\ntls-ca-cert-file /tls/{CA_KEY}\ntls-auth-clients no\n"
    )


def redis_cluster_tls_conf() -> str:
    """RedisCluster nodes' extra lines. In cluster mode the image's entrypoint writes
    `tls-replication yes`, `tls-cluster yes` (the bus on client port + 10000 over TLS too) and,
    for v7, `cluster-preferred-endpoint-type hostname` with `cluster-announce-hostname` the bare
    pod name, which no client outside the pod resolves; its CA line reads a variable the
    operator does not set (OT-CONTAINER-KIT/redis entrypoint.sh tls_setup/start_redis). These
    lines, included after them, keep TLS on replication and bus, give the CA, and make MOVED
    redirects name pod IPs again, which clients verify against the peer name the application
    pins (REDIS_CACHE_TLS_PEER_NAME). The operator's own redis-cli calls use
    `--tls --cacert /tls/ca.crt --insecure` (redis-operator v0.26.0 internal/k8sutils/redis.go
    getRedisTLSArgs), so they do not depend on the announced names."""
    return (
        "\n# TLS (components/data/tls.py): replication and the cluster bus over TLS, the CA,\n"
        "# password-authenticated clients, redirects by IP (the pod name alone resolves nowhere).\n"
        f"tls-replication yes\ntls-cluster yes\ntls-ca-cert-file /tls/{CA_KEY}\ntls-auth-clients no\n"
        "cluster-preferred-endpoint-type ip\n"
    )


def sentinel_tls_conf() -> str:
    """sentinel.conf lines: Sentinel listens with TLS only and talks TLS to the Redis pods."""
    return (
        "# TLS (components/data/tls.py): the Sentinel entrypoint configures none itself.\n"
        "port 0\ntls-port 26379\ntls-cert-file /tls/tls.crt\ntls-key-file /tls/tls.key\n"
        f"tls-ca-cert-file /tls/{CA_KEY}\ntls-replication yes\ntls-auth-clients no\n"
    )


def rabbitmq_tls_spec() -> dict[str, object]:
    """`RabbitmqCluster.spec.tls` (cluster-operator v2.22.3 api/v1beta1 TLSSpec)."""
    return {"secretName": RABBITMQ_SECRET, "disableNonTLSListeners": False}


# --- what the application gets -----------------------------------------------------------------


@dataclass(frozen=True)
class DataTLSClient:
    """What the application pods need to verify the stores: the Secret in their namespace
    holding the trust anchor, and the host name Redis certificates are checked against when a
    client dials an address Sentinel handed out (a pod IP, which no certificate names)."""

    trust_secret: str
    redis_peer_name: pulumi.Input[str]
    redis_cache_peer_name: pulumi.Input[str] | None = None
    """The name the `cache` connection verifies (`redis-cache-master`, or `redis-cache-leader`
    for the cluster, whose MOVED redirects name pod IPs too); None without a cache store."""


def client_env(client: DataTLSClient | None) -> dict[str, pulumi.Input[str]]:
    """The application's settings: stock laravel/laravel 12.x config/database.php reads
    MYSQL_ATTR_SSL_CA into the mariadb connection's PDO options; REDIS_SCHEME/REDIS_TLS_* and the
    RABBITMQ_SSL_* keys are read by the config the app carries (docs/components.md;
    vyuldashev/laravel-queue-rabbitmq config/rabbitmq.php reads RABBITMQ_SSL_CAFILE and
    RABBITMQ_SSL_VERIFY_PEER)."""
    if client is None:
        return {}
    return {
        "MYSQL_ATTR_SSL_CA": CA_FILE,
        "REDIS_SCHEME": "tls",
        "REDIS_TLS_CA": CA_FILE,
        "REDIS_TLS_PEER_NAME": client.redis_peer_name,
        **({"REDIS_CACHE_TLS_PEER_NAME": client.redis_cache_peer_name} if client.redis_cache_peer_name is not None else {}),
        "RABBITMQ_SSL_CAFILE": CA_FILE,
        "RABBITMQ_SSL_VERIFY_PEER": "true",
        KEDA_RABBITMQ_TLS_KEY: "enable",
    }


# backend-config key KEDA's rabbitmq scaler reads `tls` from: kedacore/keda v2.20
# pkg/scalers/rabbitmq_scaler.go takes `tls` from the authentication parameters only (a trigger
# metadata `tls` is silently ignored), and a TriggerAuthentication reads ConfigMaps too.
KEDA_RABBITMQ_TLS_KEY = "KEDA_RABBITMQ_TLS"


def keda_redis_metadata(client: DataTLSClient | None) -> dict[str, str]:
    """The redis-sentinel trigger's TLS switches (KEDA redis scaler `enableTLS`, `unsafeSsl`).
    `unsafeSsl`: KEDA dials the address Sentinel reports (a pod IP, which no certificate names)
    and has no setting for the name to verify, so it encrypts without verifying the server;
    the application verifies (REDIS_TLS_PEER_NAME). docs/operations.md states the trade-off."""
    return {"enableTLS": "true", "unsafeSsl": "true"} if client is not None else {}


def keda_rabbitmq_auth(client: DataTLSClient | None, config_map: pulumi.Input[str]) -> dict[str, list[dict[str, pulumi.Input[str]]]]:
    """TriggerAuthentication references for AMQPS: `tls: enable` and the CA that verifies
    RabbitMQ (`ca`, the PEM from the trust Secret)."""
    if client is None:
        return {}
    return {
        "secretTargetRef": [{"parameter": "ca", "name": client.trust_secret, "key": CA_KEY}],
        "configMapTargetRef": [{"parameter": "tls", "name": config_map, "key": KEDA_RABBITMQ_TLS_KEY}],
    }


def client_volumes(client: DataTLSClient | None) -> list[k8s.core.v1.VolumeArgs]:
    if client is None:
        return []
    return [k8s.core.v1.VolumeArgs(
        name=CA_VOLUME,
        # Only the CA certificate: the Secret also holds the trust Certificate's own key.
        secret=k8s.core.v1.SecretVolumeSourceArgs(
            secret_name=client.trust_secret, items=[k8s.core.v1.KeyToPathArgs(key=CA_KEY, path=CA_KEY)], default_mode=0o444
        ),
    )]


def client_mounts(client: DataTLSClient | None) -> list[k8s.core.v1.VolumeMountArgs]:
    if client is None:
        return []
    return [k8s.core.v1.VolumeMountArgs(name=CA_VOLUME, mount_path=CA_DIR, read_only=True)]


# --- the certificates ------------------------------------------------------------------------


@dataclass(frozen=True)
class DataTLSArgs:
    """cert_manager_namespace: where the root CA's Secret lives (a ClusterIssuer reads Secrets
    only from cert-manager's cluster resource namespace); data_namespace: the stores'; client
    namespace: the applications'; data_namespace_name: its literal name for the DNS names;
    redis_replication / rabbitmq_cluster: the objects' names; depends_on: the cert-manager
    release (its CRDs)."""

    cert_manager_namespace: pulumi.Input[str]
    data_namespace: pulumi.Input[str]
    client_namespace: pulumi.Input[str]
    redis_replication: str
    rabbitmq_cluster: str
    depends_on: Sequence[pulumi.Resource] = ()
    redis_cache_replication: str | None = None
    """The application cache's own RedisReplication (`redis-cache`), served with `redis-tls` too."""
    redis_cache_cluster: str | None = None
    """Instead, in the large tier: the cache's RedisCluster, served with `redis-tls` too."""


def redis_certificate_names(args: DataTLSArgs, namespace: str) -> list[str]:
    """Every host name of every Redis store that mounts `redis-tls`: a store whose hosts the
    certificate does not name fails every verifying client (the operator checks the chain
    only, but the application and the replicas check the name)."""
    names = redis_dns_names(args.redis_replication, namespace)
    if args.redis_cache_replication:
        names += redis_dns_names(args.redis_cache_replication, namespace)
    if args.redis_cache_cluster:
        names += redis_cluster_dns_names(args.redis_cache_cluster, namespace)
    return list(dict.fromkeys(names))


def _cache_peer_name(args: DataTLSArgs, data_ns: pulumi.Output[str]) -> pulumi.Output[str] | None:
    if args.redis_cache_replication:
        return data_ns.apply(lambda ns: f"{args.redis_cache_replication}-master.{ns}.svc.{CLUSTER_DOMAIN}")
    if args.redis_cache_cluster:
        return data_ns.apply(lambda ns: f"{args.redis_cache_cluster}-leader.{ns}.svc.{CLUSTER_DOMAIN}")
    return None


class DataTLS(pulumi.ComponentResource):
    """The data stores' CA and the certificates the stores and the applications use."""

    issuer: pulumi.Resource
    """The ClusterIssuer `data-ca`: what every store's TLS waits for."""
    client: DataTLSClient

    def __init__(self, name: str, args: DataTLSArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on))
        bootstrap = self._cert_manager_object(
            "data-ca-bootstrap", "Issuer", BOOTSTRAP_ISSUER, args.cert_manager_namespace, {"selfSigned": {}}, after
        )
        root = self._cert_manager_object(
            "data-root-ca", "Certificate", ROOT_SECRET, args.cert_manager_namespace,
            {
                "isCA": True,
                "commonName": "saas-platform data stores CA",
                "secretName": ROOT_SECRET,
                "duration": ROOT_DURATION,
                "privateKey": {"algorithm": "ECDSA", "size": 256},
                "secretTemplate": {"labels": {MARIADB_WATCH_LABEL: ""}},
                "issuerRef": {"name": BOOTSTRAP_ISSUER, "kind": "Issuer", "group": "cert-manager.io"},
            },
            pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, bootstrap]),
        )
        self.issuer = self._cert_manager_object(
            "data-ca", "ClusterIssuer", ISSUER, None, {"ca": {"secretName": ROOT_SECRET}},
            pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, root]),
        )
        leaf = pulumi.ResourceOptions(parent=self, depends_on=[*args.depends_on, self.issuer])
        data_ns = pulumi.Output.from_input(args.data_namespace)
        self.redis = self._cert_manager_object(
            REDIS_SECRET, "Certificate", REDIS_SECRET, args.data_namespace,
            certificate_spec(
                REDIS_SECRET, data_ns.apply(lambda ns: redis_certificate_names(args, ns)),
                f"{args.redis_replication}-master", ["server auth", "client auth"],
            ),
            leaf,
        )
        self.rabbitmq = self._cert_manager_object(
            RABBITMQ_SECRET, "Certificate", RABBITMQ_SECRET, args.data_namespace,
            certificate_spec(
                RABBITMQ_SECRET, data_ns.apply(lambda ns: rabbitmq_dns_names(args.rabbitmq_cluster, ns)),
                args.rabbitmq_cluster, ["server auth"],
            ),
            leaf,
        )
        self.trust = self._cert_manager_object(
            TRUST_SECRET, "Certificate", TRUST_SECRET, args.client_namespace,
            certificate_spec(TRUST_SECRET, ["data-client"], "data-client", ["client auth"]),
            leaf,
        )
        self.client = DataTLSClient(
            trust_secret=TRUST_SECRET,
            redis_peer_name=data_ns.apply(lambda ns: f"{args.redis_replication}-master.{ns}.svc.{CLUSTER_DOMAIN}"),
            redis_cache_peer_name=_cache_peer_name(args, data_ns),
        )
        self.register_outputs({"issuer": ISSUER, "trustSecret": TRUST_SECRET})

    def _cert_manager_object(
        self, resource: str, kind: str, name: str, namespace: pulumi.Input[str] | None,
        spec: dict[str, object], opts: pulumi.ResourceOptions,
    ) -> k8s.apiextensions.CustomResource:
        return k8s.apiextensions.CustomResource(
            f"tls-{resource}",
            api_version=CERT_MANAGER_API,
            kind=kind,
            metadata=kube.metadata(name, "data-tls", namespace, app="data-tls"),
            spec=spec,
            opts=opts,
        )
