"""Who Prometheus scrapes in a stack, derived from the synthesis folder: the pods and Services the
manifests and the operators create, the ServiceMonitors and PodMonitors that select them (the
stack's own plus those an operator creates), and whether the NetworkPolicies let Prometheus in.

Operator-created objects are models; each cites the upstream file and tag it follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from rehearsal.base import Build, K8sObject, selects

PROMETHEUS_NAMESPACE_DEFAULT = "saas-monitoring"


@dataclass
class Pod:
    """A pod of the stack. `ports` maps a container port name to (number, rig key): the rig key
    names the real exporter that stands in for it here (None when it cannot run here)."""

    namespace: str
    name: str
    labels: dict[str, str]
    ports: dict[str, tuple[int, str | None]]
    origin: str


@dataclass
class Service:
    namespace: str
    name: str
    labels: dict[str, str]
    selector: dict[str, str]
    ports: dict[str, int | str]  # port name -> targetPort (number or container port name)


@dataclass
class Monitor:
    kind: str  # ServiceMonitor | PodMonitor
    namespace: str
    name: str
    spec: dict[str, Any]
    origin: str  # "manifest" or the operator model that creates it

    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def endpoints(self) -> list[dict[str, Any]]:
        key = "endpoints" if self.kind == "ServiceMonitor" else "podMetricsEndpoints"
        return list(self.spec.get(key) or [])

    @property
    def namespaces(self) -> list[str] | None:
        """The namespaces it selects in (None: all)."""
        sel = self.spec.get("namespaceSelector") or {}
        if sel.get("any"):
            return None
        return list(sel.get("matchNames") or [self.namespace])


@dataclass
class Target:
    """One scrape target: a monitor endpoint on one pod port."""

    monitor: Monitor
    endpoint: dict[str, Any]
    index: int
    pod: Pod
    port_name: str
    port: int
    rig: str | None
    service: Service | None
    blocked: str = ""  # why Prometheus cannot reach it (NetworkPolicy), empty when it can


@dataclass
class Topology:
    pods: list[Pod] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    monitors: list[Monitor] = field(default_factory=list)


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector against labels; a missing selector (not `{}`) selects nothing here."""
    return selector is not None and selects(selector, labels)


def _template_pods(obj: K8sObject) -> Pod:
    template = obj.spec.get("template") or {}
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    ports: dict[str, tuple[int, str | None]] = {}
    for container in (template.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name"):
                ports[port["name"]] = (int(port["containerPort"]), None)
    return Pod(obj.namespace, obj.name, labels, ports, f"{obj.kind} {obj.namespace}/{obj.name}")


def topology(build: Build) -> Topology:
    """Pods, Services and monitors of the stack, with the operator- and chart-created ones."""
    topo = Topology()
    for obj in build.of_kind("Deployment", "StatefulSet", "DaemonSet"):
        pod = _template_pods(obj)
        if "nginx-metrics" in pod.ports:  # the backend web pod's nginx-prometheus-exporter sidecar
            pod.ports["nginx-metrics"] = (pod.ports["nginx-metrics"][0], "nginx-exporter")
        topo.pods.append(pod)
    for obj in build.of_kind("Service"):
        ports = {str(p.get("name", "")): p.get("targetPort", p.get("port")) for p in obj.spec.get("ports") or []}
        topo.services.append(Service(obj.namespace, obj.name, obj.labels, dict(obj.spec.get("selector") or {}), ports))
    for obj in build.of_kind("ServiceMonitor", "PodMonitor"):
        topo.monitors.append(Monitor(obj.kind, obj.namespace, obj.name, obj.spec, "manifest"))
    _mariadb(build, topo)
    _redis(build, topo)
    _rabbitmq(build, topo)
    _traefik(build, topo)
    return topo


def _mariadb(build: Build, topo: Topology) -> None:
    """mariadb-operator v26.6.0: with `metrics.enabled` it runs mysqld-exporter as a Deployment
    `<name>-metrics` whose pods carry inheritMetadata + metrics.exporter.podMetadata + the selector
    labels (pkg/builder/deployment_builder.go:28-70, pkg/builder/labels/labels.go:61-64), a Service
    of the same name with port `metrics` (internal/controller/mariadb_controller_metrics.go:181-205)
    and a ServiceMonitor with one `/probe?target=<pod>` endpoint per MariaDB pod, relabelled with
    `role`, `instance` and `target` (pkg/builder/servicemonitor_builder.go)."""
    for mariadb in build.of_kind("MariaDB"):
        metrics = mariadb.spec.get("metrics") or {}
        if not metrics.get("enabled"):
            continue
        exporter = metrics.get("exporter") or {}
        name = f"{mariadb.name}-metrics"
        selector = {"app.kubernetes.io/name": "exporter", "app.kubernetes.io/instance": name}
        labels = {**((mariadb.spec.get("inheritMetadata") or {}).get("labels") or {}),
                  **((exporter.get("podMetadata") or {}).get("labels") or {}), **selector}
        port = int(exporter.get("port", 9104))
        replicas = int(mariadb.spec.get("replicas", 1))
        topo.pods.append(Pod(mariadb.namespace, f"{name}-0", labels, {"metrics": (port, "mysqld-exporter")},
                             f"mariadb-operator exporter Deployment of MariaDB {mariadb.namespace}/{mariadb.name}"))
        topo.services.append(Service(mariadb.namespace, name, dict(selector), dict(selector), {"metrics": port}))
        monitor_spec = metrics.get("serviceMonitor") or {}
        endpoints = []
        for index in range(replicas):
            pod_name = f"{mariadb.name}-{index}"
            fqdn = f"{pod_name}.{mariadb.name}-internal.{mariadb.namespace}.svc.cluster.local"
            endpoint: dict[str, Any] = {
                "port": "metrics", "path": "/probe", "params": {"target": [f"{fqdn}:{mariadb.spec.get('port', 3306)}"]},
                "metricRelabelings": [
                    {"action": "replace", "replacement": fqdn, "sourceLabels": ["instance"], "targetLabel": "instance"},
                    {"action": "replace", "replacement": pod_name, "sourceLabels": ["target"], "targetLabel": "target"},
                ],
                "x-rehearsal-target": f"mariadb-{index}",
            }
            if replicas > 1:  # the operator sets role once it knows the primary (status.currentPrimaryPodIndex)
                endpoint["relabelings"] = [{"action": "replace", "replacement": "primary" if index == 0 else "replica",
                                            "targetLabel": "role"}]
            if monitor_spec.get("interval"):
                endpoint["interval"] = monitor_spec["interval"]
            endpoints.append(endpoint)
        topo.monitors.append(Monitor("ServiceMonitor", mariadb.namespace, name, {
            "selector": {"matchLabels": selector}, "namespaceSelector": {"matchNames": [mariadb.namespace]},
            "endpoints": endpoints}, "mariadb-operator"))


def _redis(build: Build, topo: Topology) -> None:
    """redis-operator v0.26.0: RedisReplication pods labelled app/redis_setup_type/role plus the
    CR's own labels (internal/controller/common/labels.go GetRedisLabels, called from
    internal/controller/redisreplication/redisreplication_controller.go:520) with the exporter sidecar's port `redis-exporter`
    (internal/k8sutils/statefulset.go:808-828)."""
    for replication in build.of_kind("RedisReplication"):
        exporter = replication.spec.get("redisExporter") or {}
        labels = {"app": replication.name, "redis_setup_type": "replication", "role": "replication", **replication.labels}
        for index in range(int(replication.spec.get("clusterSize", 1))):
            ports: dict[str, tuple[int, str | None]] = {"redis-client": (6379, None)}
            if exporter.get("enabled"):
                ports["redis-exporter"] = (int(exporter.get("port", 9121)), f"redis-exporter-{index}" if index < 2 else None)
            topo.pods.append(Pod(replication.namespace, f"{replication.name}-{index}", dict(labels), ports,
                                 f"redis-operator StatefulSet of RedisReplication {replication.namespace}/{replication.name}"))


def _rabbitmq(build: Build, topo: Topology) -> None:
    """cluster-operator v2.22.3: pods and the client Service `<name>` labelled
    app.kubernetes.io/{name: <name>, component: rabbitmq, part-of: rabbitmq}, Service port
    `prometheus` 15692, the CR's labels inherited (internal/resource/service.go,
    internal/metadata/label.go)."""
    for cluster in build.of_kind("RabbitmqCluster"):
        labels = {**cluster.labels, "app.kubernetes.io/name": cluster.name, "app.kubernetes.io/component": "rabbitmq",
                  "app.kubernetes.io/part-of": "rabbitmq"}
        for index in range(int(cluster.spec.get("replicas", 1))):
            topo.pods.append(Pod(cluster.namespace, f"{cluster.name}-server-{index}", dict(labels),
                                 {"prometheus": (15692, "rabbitmq" if index == 0 else None)},
                                 f"cluster-operator StatefulSet of RabbitmqCluster {cluster.namespace}/{cluster.name}"))
        # With spec.tls.secretName the Service offers `prometheus-tls` (15691) instead
        # (internal/resource/service.go generateServicePortsMap); the pods keep `prometheus`.
        port = "prometheus-tls" if (cluster.spec.get("tls") or {}).get("secretName") else "prometheus"
        topo.services.append(Service(cluster.namespace, cluster.name, dict(labels), dict(labels), {port: port}))


def _traefik(build: Build, topo: Topology) -> None:
    """Traefik chart 41.3.0: pod labels app.kubernetes.io/name=traefik, instance=<release>-<namespace>
    plus deployment.podLabels; the `metrics` container port from ports.metrics (templates/_podtemplate.tpl)."""
    release = build.helm_releases.get("traefik")
    if not release:
        return
    values = release.get("values") or {}
    namespace = str(release.get("namespace", ""))
    labels = {"app.kubernetes.io/name": "traefik", "app.kubernetes.io/instance": f"{release.get('name', 'traefik')}-{namespace}",
              **((values.get("deployment") or {}).get("podLabels") or {})}
    port = int(((values.get("ports") or {}).get("metrics") or {}).get("port", 9100))
    topo.pods.append(Pod(namespace, "traefik-0", labels, {"metrics": (port, "traefik")}, "Traefik chart Deployment"))


def targets(topo: Topology) -> list[Target]:
    """Every (monitor endpoint, pod port) pair Prometheus would scrape."""
    out: list[Target] = []
    for monitor in topo.monitors:
        namespaces = monitor.namespaces
        selector = monitor.spec.get("selector") or {}
        for index, endpoint in enumerate(monitor.endpoints):
            port_name = str(endpoint.get("port", ""))
            if monitor.kind == "PodMonitor":
                for pod in topo.pods:
                    if (namespaces is None or pod.namespace in namespaces) and matches(selector, pod.labels) and port_name in pod.ports:
                        number, rig = pod.ports[port_name]
                        out.append(Target(monitor, endpoint, index, pod, port_name, number, rig, None))
                continue
            for service in topo.services:
                if (namespaces is not None and service.namespace not in namespaces) or not matches(selector, service.labels):
                    continue
                if port_name not in service.ports:
                    continue
                target_port = service.ports[port_name]
                for pod in topo.pods:
                    if pod.namespace != service.namespace or not service.selector or not all(
                            pod.labels.get(k) == v for k, v in service.selector.items()):
                        continue
                    if isinstance(target_port, str):
                        if target_port not in pod.ports:
                            continue
                        name, (number, rig) = target_port, pod.ports[target_port]
                    else:
                        found = [(n, p) for n, p in pod.ports.items() if p[0] == int(target_port)]
                        if not found:
                            continue
                        name, (number, rig) = found[0]
                    out.append(Target(monitor, endpoint, index, pod, name, number, rig, service))
    return out


# ---- NetworkPolicy: may Prometheus open a connection to a pod port? ------------------------------


def _namespace_labels(build: Build, namespace: str) -> dict[str, str]:
    obj = build.find("Namespace", "", namespace)
    return {**(obj.labels if obj else {}), "kubernetes.io/metadata.name": namespace}


def _peer_matches(build: Build, peer: Mapping[str, Any], namespace: str, labels: Mapping[str, str], own_namespace: str) -> bool:
    if "ipBlock" in peer:
        return False  # pod IPs are not modelled as ipBlocks
    ns_selector = peer.get("namespaceSelector")
    if ns_selector is not None:
        if not matches(ns_selector, _namespace_labels(build, namespace)) and ns_selector != {}:
            return False
    elif namespace != own_namespace:
        return False
    pod_selector = peer.get("podSelector")
    return pod_selector is None or pod_selector == {} or matches(pod_selector, labels)


def _port_matches(ports: Iterable[Mapping[str, Any]] | None, number: int, name: str) -> bool:
    ports = list(ports or [])
    if not ports:
        return True
    for port in ports:
        value = port.get("port")
        if value is None or value == number or value == name:
            return True
        if isinstance(value, int) and port.get("endPort") and value <= number <= int(port["endPort"]):
            return True
    return False


def _allowed(build: Build, direction: str, pod_ns: str, pod_labels: Mapping[str, str],
             peer_ns: str, peer_labels: Mapping[str, str], number: int, name: str) -> bool | None:
    """None: no policy isolates the pod in that direction; else whether one rule admits the peer."""
    kind = "Ingress" if direction == "ingress" else "Egress"
    isolating = [p for p in build.of_kind("NetworkPolicy") if p.namespace == pod_ns
                 and matches(p.spec.get("podSelector") or {}, pod_labels)
                 and kind in (p.spec.get("policyTypes") or ["Ingress"])]
    if not isolating:
        return None
    peers_key = "from" if direction == "ingress" else "to"
    for policy in isolating:
        for rule in policy.spec.get(direction) or []:
            peers = rule.get(peers_key)
            if peers and not any(_peer_matches(build, peer, peer_ns, peer_labels, pod_ns) for peer in peers):
                continue
            if _port_matches(rule.get("ports"), number, name):
                return True
    return False


def prometheus_pod(build: Build) -> tuple[str, dict[str, str]]:
    """kube-prometheus-stack's Prometheus pod: namespace and labels (prometheus-operator
    pkg/prometheus/statefulset.go: app.kubernetes.io/name=prometheus, prometheus=<name>, plus
    prometheusSpec.podMetadata.labels)."""
    release = build.helm_releases.get("kps") or next(
        (r for r in build.helm_releases.values() if r.get("chart") == "kube-prometheus-stack"), {})
    values = release.get("values") or {}
    name = f"{values.get('fullnameOverride', 'kps')}-prometheus"
    spec = (values.get("prometheus") or {}).get("prometheusSpec") or {}
    labels = {"app.kubernetes.io/name": "prometheus", "prometheus": name, "app.kubernetes.io/instance": name,
              "app.kubernetes.io/managed-by": "prometheus-operator", "operator.prometheus.io/name": name,
              **((spec.get("podMetadata") or {}).get("labels") or {})}
    return str(release.get("namespace", PROMETHEUS_NAMESPACE_DEFAULT)), labels


def blocked_reason(build: Build, target: Target) -> str:
    """Why the NetworkPolicies keep Prometheus from the target, or "" when they admit it."""
    prom_ns, prom_labels = prometheus_pod(build)
    pod = target.pod
    egress = _allowed(build, "egress", prom_ns, prom_labels, pod.namespace, pod.labels, target.port, target.port_name)
    ingress = _allowed(build, "ingress", pod.namespace, pod.labels, prom_ns, prom_labels, target.port, target.port_name)
    reasons = []
    if egress is False:
        reasons.append(f"no egress rule in {prom_ns} lets Prometheus reach it")
    if ingress is False:
        reasons.append(f"no ingress rule in {pod.namespace} admits Prometheus on port {target.port}")
    return " and ".join(reasons)
