"""Models of what the data operators build from our custom resources, at the pinned versions.

Each builder follows one upstream file (named in its docstring, with the tag) and returns the pods
(with their containers and security contexts), Services and monitors the operator would create.
The operators judge checks them (Pod Security, Service names, selectors, webhook rules); the
network judge adds their pods to the analyzed cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from rehearsal.base import Build, K8sObject


@dataclass(frozen=True)
class Endpoint:
    """A host and port a workload is configured to connect to, and where that was read."""

    host: str
    port: int
    where: str


@dataclass
class Pod:
    """One pod of a workload (manifest, chart or operator), as the network judge and PSA see it."""

    namespace: str
    name: str
    labels: dict[str, str]
    ports: dict[str, int]
    origin: str  # where this pod comes from: a manifest, a chart entry or an operator model
    containers: list[dict[str, Any]] = field(default_factory=list)
    init_containers: list[dict[str, Any]] = field(default_factory=list)
    pod_security: dict[str, Any] = field(default_factory=dict)
    traits: dict[str, Any] = field(default_factory=dict)  # api, webhook, scraper, operates, family...
    env: dict[str, str] = field(default_factory=dict)  # plain env values the pod's containers see
    secret_keys: set[str] = field(default_factory=set)  # env keys that come from Secrets (values redacted)
    host_network: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class Service:
    namespace: str
    name: str
    pods: list[Pod]
    ports: dict[int, int | str]  # service port -> target port (number or container port name)
    origin: str
    labels: dict[str, str] = field(default_factory=dict)
    port_names: dict[str, int] = field(default_factory=dict)  # service port name -> service port


@dataclass
class Monitor:
    """A ServiceMonitor/PodMonitor an operator creates (the manifests' own are read directly)."""

    namespace: str
    name: str
    service: Service
    port: str
    origin: str


@dataclass
class Modelled:
    pods: list[Pod] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    monitors: list[Monitor] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # webhook rejections


def _labels(meta: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in ((meta or {}).get("labels") or {}).items()}


def _replicas(value: Any, default: int = 1) -> int:
    return int(value) if value is not None else default


# --- mariadb-operator v26.6.0 ---------------------------------------------------------------

MARIADB_SRC = "mariadb-operator v26.6.0"


def mariadb(cr: K8sObject) -> Modelled:
    """`MariaDB` -> StatefulSet pods, exporter Deployment, Services, ServiceMonitor, webhook verdicts.

    Pod labels: pkg/builder/statefulset_builder.go (InheritMetadata + PodMetadata + selector labels
    `app.kubernetes.io/name: mariadb`, `instance: <name>`, pkg/builder/labels/labels.go). Containers:
    pkg/builder/container_builder.go (`mariadb` with spec.securityContext; with HA an `agent` sidecar
    from replication.agent and an `init` init container from replication.initContainer,
    buildContainerWithTemplate -> securitycontext_builder.go: nil template -> nil securityContext).
    Agent ports 5555/5566: api/v1alpha1/base_types.go:323-326. Services: internal/controller/
    mariadb_controller.go reconcileService (`<name>`, `<name>-internal`, and `-primary`/`-secondary`
    only if IsHAEnabled, api/v1alpha1/mariadb_types.go:1032). Exporter: pkg/builder/deployment_builder.go
    BuildExporterDeployment (InheritMetadata + metrics.exporter.podMetadata + `app.kubernetes.io/name:
    exporter`, `instance: <name>-metrics`), Service and ServiceMonitor `<name>-metrics` port `metrics`.
    Webhook: internal/webhook/v1alpha1/mariadb_webhook.go validateHA, validateReplication ->
    api/v1alpha1/mariadb_replication_types.go ReplicaReplication.Validate."""
    spec, name, ns = cr.spec, cr.name, cr.namespace
    out = Modelled()
    replication = spec.get("replication") or {}
    galera = spec.get("galera") or {}
    ha = bool(replication.get("enabled")) or bool(galera.get("enabled"))
    replicas = _replicas(spec.get("replicas"))
    where = f"{cr.ref()} ({MARIADB_SRC})"

    # Webhook (failurePolicy Fail, create and update): what the API server would refuse.
    if replication.get("enabled") and galera.get("enabled"):
        out.findings.append(f"{cr.ref()}: webhook rejects it: only one of spec.replication and spec.galera may be enabled ({MARIADB_SRC} internal/webhook/v1alpha1/mariadb_webhook.go validateHA)")
    if not ha and replicas > 1:
        out.findings.append(f"{cr.ref()}: webhook rejects it: spec.replicas={replicas} without replication or galera ({MARIADB_SRC} mariadb_webhook.go validateHA)")
    if ha and replicas <= 1:
        out.findings.append(f"{cr.ref()}: webhook rejects it: spec.replicas={replicas} with replication/galera enabled; multiple replicas must be specified ({MARIADB_SRC} mariadb_webhook.go validateHA)")
    if replication.get("enabled"):
        replica = replication.get("replica") or {}
        if (replica.get("recovery") or {}).get("enabled") and not replica.get("bootstrapFrom"):
            out.findings.append(f"{cr.ref()}: webhook rejects it: spec.replication.replica.recovery.enabled without replica.bootstrapFrom ({MARIADB_SRC} api/v1alpha1/mariadb_replication_types.go ReplicaReplication.Validate)")
        pod_index = (replication.get("primary") or {}).get("podIndex")
        if pod_index is not None and not 0 <= int(pod_index) < replicas:
            out.findings.append(f"{cr.ref()}: webhook rejects it: spec.replication.primary.podIndex={int(pod_index)} out of spec.replicas bounds ({MARIADB_SRC} mariadb_webhook.go validateReplication)")

    out.findings += mariadb_tls_findings(cr)

    selector = {"app.kubernetes.io/name": "mariadb", "app.kubernetes.io/instance": name}
    labels = {**_labels(spec.get("inheritMetadata")), **_labels(spec.get("podMetadata")), **selector}
    port = int(spec.get("port") or 3306)
    ports = {"mariadb": port}
    containers = [{"name": "mariadb", "securityContext": spec.get("securityContext")}]
    init_containers = [{"name": c.get("name", f"init-{i}"), "securityContext": c.get("securityContext")}
                       for i, c in enumerate(spec.get("initContainers") or [])]
    containers += [{"name": c.get("name", f"sidecar-{i}"), "securityContext": c.get("securityContext")}
                   for i, c in enumerate(spec.get("sidecarContainers") or [])]
    if ha:
        topology = replication if replication.get("enabled") else galera
        agent = topology.get("agent") or {}
        ports["agent"] = int(agent.get("port") or 5555)
        ports["agent-probe"] = int(agent.get("probePort") or 5566)
        containers.append({"name": "agent", "securityContext": agent.get("securityContext")})
        init_containers.append({"name": "init", "securityContext": (topology.get("initContainer") or {}).get("securityContext")})
    pod = Pod(ns, name, labels, ports, where, containers, init_containers,
              dict(spec.get("podSecurityContext") or {}),
              traits={"family": "mariadb", "replicas": replicas, "data": True, "api": ha,
                      # spec.maxScaleRef: MaxScale routes to it (api/v1alpha1/mariadb_types.go IsMaxScaleEnabled)
                      "proxied": bool(spec.get("maxScaleRef"))})
    out.pods.append(pod)
    out.services.append(Service(ns, name, [pod], {port: port}, where))
    out.services.append(Service(ns, f"{name}-internal", [pod], {port: port}, where))
    if ha:
        out.services.append(Service(ns, f"{name}-primary", [pod], {port: port}, where))
        out.services.append(Service(ns, f"{name}-secondary", [pod], {port: port}, where))

    metrics = spec.get("metrics") or {}
    if metrics.get("enabled"):
        exporter = metrics.get("exporter") or {}
        _exporter(out, cr, exporter, default_port=9104,
                  origin=f"{cr.ref()} exporter Deployment ({MARIADB_SRC} pkg/builder/deployment_builder.go)",
                  traits={"family": "mariadb", "data": True, "exporter": True},
                  monitor=(f"{cr.ref()} ServiceMonitor ({MARIADB_SRC} pkg/builder/servicemonitor_builder.go)"
                           if metrics.get("serviceMonitor") is not None else None))
    return out


def _exporter(out: Modelled, cr: K8sObject, exporter: dict, *, default_port: int, origin: str,
              traits: dict, monitor: str | None) -> None:
    """The `<name>-metrics` exporter Deployment, its Service and (when `monitor` names its
    origin) its ServiceMonitor, as mariadb-operator v26.6.0 builds them for a MariaDB or a
    MaxScale with `spec.metrics.enabled` (pkg/builder/deployment_builder.go, service_builder.go)."""
    spec, ns, metrics_name = cr.spec, cr.namespace, f"{cr.name}-metrics"
    labels = {**_labels(spec.get("inheritMetadata")), **_labels(exporter.get("podMetadata")),
              "app.kubernetes.io/name": "exporter", "app.kubernetes.io/instance": metrics_name}
    port = int(exporter.get("port") or default_port)
    pod = Pod(ns, metrics_name, labels, {"metrics": port}, origin,
              [{"name": "exporter", "securityContext": exporter.get("securityContext")}], [],
              dict(exporter.get("podSecurityContext") or {}), traits=traits)
    out.pods.append(pod)
    service = Service(ns, metrics_name, [pod], {port: "metrics"}, origin,
                      labels=dict(labels), port_names={"metrics": port})
    out.services.append(service)
    if monitor is not None:
        out.monitors.append(Monitor(ns, metrics_name, service, "metrics", monitor))


def mariadb_tls_findings(cr: K8sObject) -> list[str]:
    """`spec.tls` as mariadb-operator v26.6.0 reads it: the webhook's validateTLS (a certificate
    Secret and an issuer for the same certificate are mutually exclusive; a certificate Secret
    needs its CA Secret: internal/webhook/v1alpha1/webhook.go validateTLSCert), and `required`
    only takes effect with `enabled` (api/v1alpha1/mariadb_types.go IsTLSRequired), which the
    defaulting turns on only when `tls` is absent (SetDefaults)."""
    tls = cr.spec.get("tls")
    if not isinstance(tls, dict):
        return []
    out = []
    if tls.get("required") and not tls.get("enabled"):
        out.append(f"{cr.ref()}: spec.tls.required without spec.tls.enabled: the operator renders require_secure_transport = false "
                   f"({MARIADB_SRC} api/v1alpha1/mariadb_types.go IsTLSRequired, internal/controller/mariadb_controller_tls.go)")
    if tls.get("enabled"):
        for which in ("server", "client"):
            if tls.get(f"{which}CertSecretRef") and tls.get(f"{which}CertIssuerRef"):
                out.append(f"{cr.ref()}: webhook rejects it: spec.tls.{which}CertSecretRef and spec.tls.{which}CertIssuerRef are mutually exclusive "
                           f"({MARIADB_SRC} internal/webhook/v1alpha1/webhook.go validateTLSCert)")
            if tls.get(f"{which}CertSecretRef") and not tls.get(f"{which}CASecretRef"):
                out.append(f"{cr.ref()}: webhook rejects it: spec.tls.{which}CASecretRef must be set when spec.tls.{which}CertSecretRef is set "
                           f"({MARIADB_SRC} internal/webhook/v1alpha1/webhook.go validateTLSCert)")
    return out


def maxscale_tls_findings(cr: K8sObject) -> list[str]:
    """MaxScale `spec.tls` with listed `servers`: MaxScaleTLS.SetDefaults fills the server CA bundle,
    the client certificate and replication TLS only from a referred MariaDB (`mariaDbRef`)
    (v26.6.0 api/v1alpha1/maxscale_types.go), so with `servers` they must be named, or MaxScale
    cannot verify (or, against `require_secure_transport`, reach) the servers."""
    tls = cr.spec.get("tls")
    if not isinstance(tls, dict) or not tls.get("enabled") or cr.spec.get("mariaDbRef"):
        return []
    return [f"{cr.ref()}: spec.tls.{key} is not set and is not defaulted with spec.servers "
            f"({MARIADB_SRC} api/v1alpha1/maxscale_types.go MaxScaleTLS.SetDefaults)"
            for key in ("serverCASecretRef", "serverCertSecretRef", "replicationSSLEnabled") if tls.get(key) is None]


def physical_backup(cr: K8sObject) -> Modelled:
    """`PhysicalBackup` -> backup Job pods (mariadb-operator v26.6.0 pkg/builder/batch_builder.go:
    labels `k8s.mariadb.com/physicalbackup: <name>` plus inheritMetadata; containers take
    spec.securityContext, the pod spec.podSecurityContext). They upload to spec.storage.s3.endpoint."""
    spec = cr.spec
    labels = {**_labels(spec.get("inheritMetadata")), "k8s.mariadb.com/physicalbackup": cr.name}
    s3 = (spec.get("storage") or {}).get("s3") or {}
    pod = Pod(cr.namespace, f"{cr.name}-job", labels, {}, f"{cr.ref()} backup Job ({MARIADB_SRC} pkg/builder/batch_builder.go)",
              [{"name": "mariadb", "securityContext": spec.get("securityContext")}],
              [{"name": "mariadb-backup", "securityContext": spec.get("securityContext")}],
              dict(spec.get("podSecurityContext") or {}),
              traits={"family": "mariadb-backup", "s3": str(s3.get("endpoint") or "")})
    return Modelled(pods=[pod])


def maxscale(cr: K8sObject) -> Modelled:
    """`MaxScale` -> StatefulSet pods, Services, exporter Deployment and ServiceMonitor, webhook verdicts.

    Pod: pkg/builder/statefulset_builder.go BuildMaxscaleStatefulSet + pod_builder.go
    maxscalePodTemplate (labels InheritMetadata + podMetadata + `app.kubernetes.io/name: maxscale`,
    `instance: <name>`, labels.go WithMaxScaleSelectorLabels; pod securityContext spec.podSecurityContext,
    else runAsNonRoot/998/996 without seccomp, securitycontext_builder.go buildPodSecurityContextWithUserGroup);
    one container `maxscale` with spec.securityContext (container_builder.go maxscaleContainers), port
    `admin` (spec.admin.port, default 8989) plus every listener. Services: internal/controller/
    maxscale_controller.go reconcileKubernetesService `<name>` and reconcileInternalService `<name>-internal`
    (ports `admin` + listeners), reconcileGuiKubernetesService `<name>-gui` only when admin.guiEnabled.
    Servers: spec.servers addresses (pod FQDNs behind a headless Service), or the `<mariaDbRef>-internal`
    pods (setMariadbDefaults). Exporter: pkg/builder/deployment_builder.go BuildMaxScaleExporterDeployment
    (`app.kubernetes.io/name: exporter`, `instance: <name>-metrics`, port 9105), which reads every MaxScale
    pod's admin API (servicemonitor_builder.go serviceMonitorEndpoints: target `<pod>.<name>-internal:<admin>`).
    Webhook: internal/webhook/v1alpha1/maxscale_webhook.go ValidateCreate."""
    spec, name, ns = cr.spec, cr.name, cr.namespace
    out = Modelled()
    webhook = f"({MARIADB_SRC} internal/webhook/v1alpha1/maxscale_webhook.go)"
    servers = spec.get("servers") or []
    ref = spec.get("mariaDbRef")
    if ref and servers:
        out.findings.append(f"{cr.ref()}: webhook rejects it: 'spec.mariaDbRef' and 'spec.servers' cannot be specified simultaneously {webhook}")
    if not ref and not servers:
        out.findings.append(f"{cr.ref()}: webhook rejects it: 'spec.mariaDbRef' or 'spec.servers' must be defined {webhook}")
    if len({s.get("name") for s in servers}) != len(servers) or len({str(s.get("address")) for s in servers}) != len(servers):
        out.findings.append(f"{cr.ref()}: webhook rejects it: server names and addresses must be unique {webhook}")
    monitor = spec.get("monitor") or {}
    if not ref and not monitor.get("module"):
        out.findings.append(f"{cr.ref()}: webhook rejects it: 'spec.monitor.module' must be provided when 'spec.mariaDbRef' is not defined {webhook}")
    if (spec.get("auth") or {}).get("generate") and not ref:
        out.findings.append(f"{cr.ref()}: webhook rejects it: 'spec.auth.generate' can only be enabled when 'spec.mariaDbRef' is set {webhook}")
    services = spec.get("services") or [{"name": "rw-router", "listener": {"port": 3306}}]  # maxscale_types.go SetDefaults
    listeners = {str((s.get("listener") or {}).get("name") or f"{s.get('name')}-listener"): int((s.get("listener") or {}).get("port") or 0)
                 for s in services}
    if len(set(listeners.values())) != len(services):
        out.findings.append(f"{cr.ref()}: webhook rejects it: service listener ports must be unique {webhook}")

    out.findings += maxscale_tls_findings(cr)

    admin = int((spec.get("admin") or {}).get("port") or 8989)
    where = f"{cr.ref()} ({MARIADB_SRC} pkg/builder/statefulset_builder.go BuildMaxscaleStatefulSet)"
    labels = {**_labels(spec.get("inheritMetadata")), **_labels(spec.get("podMetadata")),
              "app.kubernetes.io/name": "maxscale", "app.kubernetes.io/instance": name}
    ports = {"admin": admin, **listeners}
    pod_security = dict(spec.get("podSecurityContext") or {"runAsNonRoot": True, "runAsUser": 998, "runAsGroup": 996, "fsGroup": 996})
    # MaxScale -> every MariaDB server: monitor, routing, user loading (the headless Service the pod FQDNs are under).
    targets = sorted({(str(s.get("address")).split(".", 1)[1], int(s.get("port") or 3306))
                      for s in servers if "." in str(s.get("address"))}
                     or ({(f"{ref.get('name')}-internal.{ns}.svc.cluster.local", 3306)} if ref else set()))
    endpoints = [Endpoint(host, port, f"{cr.ref()} spec.servers") for host, port in targets]
    pod = Pod(ns, name, labels, ports, where, [{"name": "maxscale", "securityContext": spec.get("securityContext")}], [],
              pod_security, traits={"family": "maxscale", "data": True, "replicas": _replicas(spec.get("replicas")),
                                    "endpoints": endpoints})
    out.pods.append(pod)
    service_ports = {admin: admin, **{p: p for p in listeners.values()}}
    port_names = {"admin": admin, **listeners}
    out.services.append(Service(ns, name, [pod], dict(service_ports), where, port_names=dict(port_names)))
    out.services.append(Service(ns, f"{name}-internal", [pod], dict(service_ports), where, port_names=dict(port_names)))
    if (spec.get("admin") or {}).get("guiEnabled", True):
        out.services.append(Service(ns, f"{name}-gui", [pod], {admin: admin}, where, port_names={"admin": admin}))

    metrics = spec.get("metrics") or {}
    if metrics.get("enabled"):
        exporter = metrics.get("exporter") or {}
        origin = f"{cr.ref()} exporter Deployment ({MARIADB_SRC} pkg/builder/deployment_builder.go BuildMaxScaleExporterDeployment)"
        _exporter(out, cr, exporter, default_port=9105, origin=origin,
                  traits={"family": "maxscale", "data": True, "exporter": True,
                          "endpoints": [Endpoint(f"{name}-internal.{ns}.svc.cluster.local", admin, f"{origin}: /probe target")]},
                  monitor=f"{cr.ref()} ServiceMonitor ({MARIADB_SRC} pkg/builder/servicemonitor_builder.go BuildMaxScaleServiceMonitor)")
    return out


# --- redis-operator v0.26.0 ------------------------------------------------------------------

REDIS_SRC = "redis-operator v0.26.0"


def redis_replication(cr: K8sObject) -> Modelled:
    """`RedisReplication` -> StatefulSet `<name>` (internal/k8sutils/statefulset.go; labels
    internal/controller/common/labels.go GetRedisLabels: app=<name>, redis_setup_type=replication,
    role=replication + the CR's labels), containers `redis` (+ `redis-exporter` on 9121 when
    redisExporter.enabled, its own securityContext) with spec.securityContext, spec.podSecurityContext;
    an `init` init container when spec.initContainer.enabled; Services `<name>`, `<name>-headless`,
    `<name>-additional`, `<name>-master` (MasterService), `<name>-replica`
    (internal/k8sutils/redis-replication.go)."""
    spec, name, ns = cr.spec, cr.name, cr.namespace
    labels = {**cr.labels, "app": name, "redis_setup_type": "replication", "role": "replication"}
    ports = {"redis-client": 6379}
    containers = [{"name": name, "securityContext": spec.get("securityContext")}]
    exporter = spec.get("redisExporter") or {}
    if exporter.get("enabled"):
        ports["redis-exporter"] = int(exporter.get("port") or 9121)
        # statefulset.go:823 takes the exporter's own securityContext only (redis-replication.go:187)
        containers.append({"name": "redis-exporter", "securityContext": exporter.get("securityContext")})
    init_containers = []
    init = spec.get("initContainer") or {}
    if init.get("enabled"):  # redis-replication.go:233-241: the CR's initContainer.securityContext
        init_containers.append({"name": "init", "securityContext": init.get("securityContext")})
    where = f"{cr.ref()} ({REDIS_SRC} internal/k8sutils/statefulset.go)"
    pod = Pod(ns, name, labels, ports, where, containers, init_containers, dict(spec.get("podSecurityContext") or {}),
              traits={"family": "redis", "data": True, "replicas": _replicas(spec.get("clusterSize")), "tls": bool(spec.get("TLS"))})
    services = [Service(ns, n, [pod], {6379: 6379}, where)
                for n in (name, f"{name}-headless", f"{name}-additional", f"{name}-master", f"{name}-replica")]
    return Modelled(pods=[pod], services=services, findings=redis_tls_findings(cr))


def redis_tls_findings(cr: K8sObject) -> list[str]:
    """`spec.TLS` as redis-operator v0.26.0 mounts it: REDIS_TLS_CA_CERT (the probes' and the
    pre-stop hook's `--cacert`) is set only when `ca` is named (internal/k8sutils/statefulset.go
    GenerateTLSEnvironmentVariables); without it redis-cli checks the server against the system
    trust store, which a private CA is not in, and every probe fails. The Secret is mounted as
    the pod's `tls-certs` volume (getVolumeMount), so it must be named."""
    tls = cr.spec.get("TLS")
    if not isinstance(tls, dict):
        return []
    out = []
    if not tls.get("ca"):
        out.append(f"{cr.ref()}: spec.TLS without `ca`: the operator exports no REDIS_TLS_CA_CERT, so the redis-cli probes verify against "
                   f"the system trust store and fail for a private CA ({REDIS_SRC} internal/k8sutils/statefulset.go GenerateTLSEnvironmentVariables, getProbeInfo)")
    if not (tls.get("secret") or {}).get("secretName"):
        out.append(f"{cr.ref()}: spec.TLS.secret.secretName is empty: nothing to mount at /tls ({REDIS_SRC} internal/k8sutils/statefulset.go getVolumeMount)")
    return out


def redis_sentinel(cr: K8sObject) -> Modelled:
    """`RedisSentinel` -> StatefulSet `<name>-sentinel` (labels app=<name>-sentinel,
    redis_setup_type=sentinel, role=sentinel + CR labels; port 26379), Services `<name>-sentinel`,
    `-sentinel-headless`, `-sentinel-additional` (internal/k8sutils/redis-sentinel.go
    CreateRedisSentinelService, tag v0.26.0)."""
    spec, ns = cr.spec, cr.namespace
    name = f"{cr.name}-sentinel"
    labels = {**cr.labels, "app": name, "redis_setup_type": "sentinel", "role": "sentinel"}
    where = f"{cr.ref()} ({REDIS_SRC} internal/k8sutils/redis-sentinel.go)"
    sentinel_config = spec.get("redisSentinelConfig") or {}
    pod = Pod(ns, name, labels, {"sentinel-client": 26379}, where,
              [{"name": name, "securityContext": spec.get("securityContext")}], [],
              dict(spec.get("podSecurityContext") or {}),
              traits={"family": "redis", "data": True, "sentinel": True, "tls": bool(spec.get("TLS")),
                      "replication": sentinel_config.get("redisReplicationName")})
    services = [Service(ns, n, [pod], {26379: 26379}, where)
                for n in (name, f"{name}-headless", f"{name}-additional")]
    findings = redis_tls_findings(cr)
    if spec.get("TLS") and not sentinel_config.get("additionalSentinelConfig"):
        # The operator dials Sentinel with TLS (internal/controller/common/redis/heal.go
        # createConnectionInfo with rs.Spec.TLS) but the image's entrypoint writes no TLS
        # listener (OT-CONTAINER-KIT/redis entrypoint-sentinel.sh): only an included config does.
        findings.append(f"{cr.ref()}: spec.TLS without redisSentinelConfig.additionalSentinelConfig: the operator talks TLS to Sentinel, "
                        f"whose image configures no TLS listener ({REDIS_SRC} internal/controller/common/redis/heal.go; "
                        "OT-CONTAINER-KIT/redis entrypoint-sentinel.sh)")
    return Modelled(pods=[pod], services=services, findings=findings)


def redis_cluster(cr: K8sObject) -> Modelled:
    """`RedisCluster` -> StatefulSets `<name>-leader` and `<name>-follower`
    (internal/k8sutils/redis-cluster.go CreateRedisLeader/CreateRedisFollower; labels
    GetRedisLabels: app=<name>-<role>, redis_setup_type=cluster, role=<role> + the CR's labels),
    container `<name>-<role>` with spec.redis<Role>.securityContext, `redis-exporter` with
    spec.redisExporter.securityContext (generateRedisClusterContainerParams), pod security
    spec.podSecurityContext (generateRedisClusterParams); ports client (spec.port, 6379) and bus
    (client + 10000, CreateRedisClusterService busPort); Services `<name>-<role>`,
    `-<role>-headless`, `-<role>-additional` and `<name>-master` on the client port (tag v0.26.0)."""
    spec, ns = cr.spec, cr.namespace
    client = int(spec.get("port") or 6379)
    exporter = spec.get("redisExporter") or {}
    where = f"{cr.ref()} ({REDIS_SRC} internal/k8sutils/redis-cluster.go)"
    out = Modelled()
    for role, section in (("leader", "redisLeader"), ("follower", "redisFollower")):
        name = f"{cr.name}-{role}"
        labels = {**cr.labels, "app": name, "redis_setup_type": "cluster", "role": role}
        ports = {"redis-client": client, "redis-bus": client + 10000}
        containers = [{"name": name, "securityContext": (spec.get(section) or {}).get("securityContext")}]
        if exporter.get("enabled"):
            ports["redis-exporter"] = int(exporter.get("port") or 9121)
            containers.append({"name": "redis-exporter", "securityContext": exporter.get("securityContext")})
        replicas = _replicas((spec.get(section) or {}).get("replicas"), _replicas(spec.get("clusterSize"), 3))
        pod = Pod(ns, name, labels, ports, where, containers, [], dict(spec.get("podSecurityContext") or {}),
                  traits={"family": "redis", "data": True, "replicas": replicas, "redis_cluster": cr.name})
        out.pods.append(pod)
        out.services += [Service(ns, n, [pod], {client: client}, where)
                         for n in (name, f"{name}-headless", f"{name}-additional")]
    out.services.append(Service(ns, f"{cr.name}-master", [out.pods[0]], {client: client}, where))
    return out


# --- RabbitMQ cluster-operator v2.22.3 ------------------------------------------------------

RABBIT_SRC = "rabbitmq cluster-operator v2.22.3"


def rabbitmq_cluster(cr: K8sObject) -> Modelled:
    """`RabbitmqCluster` -> StatefulSet `<name>-server` (internal/resource/statefulset.go: ports amqp
    5672, management 15672, prometheus 15692, epmd 4369, cluster-links 25672; restricted-compliant
    default securityContext, statefulset.go:656-741), labels internal/metadata/label.go (name,
    component=rabbitmq, part-of=rabbitmq, CR labels except app.kubernetes.io/*); Services `<name>`
    (service.go) and `<name>-nodes` (headless_service.go)."""
    spec, name, ns = cr.spec, cr.name, cr.namespace
    labels = {k: v for k, v in cr.labels.items() if not k.startswith("app.kubernetes.io")}
    labels.update({"app.kubernetes.io/name": name, "app.kubernetes.io/component": "rabbitmq",
                   "app.kubernetes.io/part-of": "rabbitmq"})
    ports = {"amqp": 5672, "management": 15672, "prometheus": 15692, "epmd": 4369, "cluster-links": 25672}
    tls = spec.get("tls") or {}
    tls_on = bool(tls.get("secretName"))
    findings = []
    if tls.get("disableNonTLSListeners") and not tls_on:
        findings.append(f"{cr.ref()}: spec.tls.disableNonTLSListeners without spec.tls.secretName: the operator refuses to reconcile "
                        f"(\"TLS must be enabled if disableNonTLSListeners is set to true\", {RABBIT_SRC} internal/controller/reconcile_tls.go)")
    # internal/resource/statefulset.go updateContainerPorts: TLS adds amqps, management-tls and
    # prometheus-tls; disableNonTLSListeners leaves only those (updateContainerPortsOnlyTLSListeners).
    if tls_on:
        if tls.get("disableNonTLSListeners"):
            for plain in ("amqp", "management", "prometheus"):
                ports.pop(plain)
        ports.update({"amqps": 5671, "management-tls": 15671, "prometheus-tls": 15691})
    # internal/resource/service.go generateServicePortsMap: the client Service offers
    # `prometheus` 15692 or, with TLS, `prometheus-tls` 15691, never both.
    service_names = [n for n in ("amqp", "management", "amqps", "management-tls") if n in ports]
    service_names.append("prometheus-tls" if tls_on else "prometheus")
    service_ports = {ports[n]: ports[n] for n in service_names}
    restricted = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}
    where = f"{cr.ref()} ({RABBIT_SRC} internal/resource/statefulset.go)"
    pod = Pod(ns, f"{name}-server", labels, ports, where,
              [{"name": "rabbitmq", "securityContext": restricted}],
              [{"name": "setup-container", "securityContext": restricted}],
              {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
              traits={"family": "rabbitmq", "data": True, "replicas": _replicas(spec.get("replicas")), "tls": tls_on})
    services = [Service(ns, name, [pod], service_ports, where, labels=dict(labels),
                        port_names={n: ports[n] for n in service_names}),
                Service(ns, f"{name}-nodes", [pod], {4369: 4369, 25672: 25672}, where, labels=dict(labels))]
    return Modelled(pods=[pod], services=services, findings=findings)


BUILDERS: dict[str, Callable[[K8sObject], Modelled]] = {
    "MariaDB": mariadb,
    "MaxScale": maxscale,
    "RedisReplication": redis_replication,
    "RedisSentinel": redis_sentinel,
    "RedisCluster": redis_cluster,
    "RabbitmqCluster": rabbitmq_cluster,
}


def model(build: Build) -> Modelled:
    """Everything the operators would create from this build's custom resources."""
    out = Modelled()
    for obj in build.objects:
        if obj.kind == "PhysicalBackup":
            part = physical_backup(obj)
        elif obj.kind in BUILDERS and obj.api_version.split("/")[0] in (
            "k8s.mariadb.com", "redis.redis.opstreelabs.in", "rabbitmq.com"
        ):
            part = BUILDERS[obj.kind](obj)
        else:
            continue
        out.pods += part.pods
        out.services += part.services
        out.monitors += part.monitors
        out.findings += part.findings
    return out
