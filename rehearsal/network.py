"""`network`: the NetworkPolicies of a build, judged by np-guard's network-config-analyzer.

The analyzed cluster is every pod the build would run (`rehearsal.inventory`: manifest workloads,
chart pods from the catalog, operator-made pods from the models, CoreDNS). The flow table is
derived from the build, not written per stack:

required  DNS for every pod; the API server for controllers; the API server to every webhook;
          Traefik to every IngressRoute backend; Prometheus to every monitor target; every host:port
          a workload is configured with (ConfigMap/env values, URLs, Secret keys backed by stack
          outputs, chart values), Grafana to its provisioned datasources, KEDA to its trigger
          addresses, Alertmanager to the mail relay;
          operators to the pods they manage; replication inside a data store; backups to S3.
forbidden lateral movement: app-side pods, Traefik and the outside to data-store ports they do not
          use; data pods to app pods; monitoring pods other than Prometheus to any workload;
          Prometheus to ports of scraped pods that are not scrape ports; the app side, Traefik
          and the outside to the trace store, and to collector ports other than OTLP.

The analyzer is called once per build with every policy, namespace and pod.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable


from rehearsal.base import Build, JudgeUnavailable, Verdict, dump_yaml, selects
from rehearsal.inventory import Cluster, Endpoint, cluster, endpoints_in_env, endpoints_in_text, load_catalog, strings
from rehearsal.models import Pod

API_SERVER = "10.0.0.1"  # a VPC address, like the EKS control-plane ENIs; k3s serves the API on the node
INTERNET = "198.51.100.7"
NCA_INSTALL = "pip install network-config-analyzer==2.1.0 into .venv-nca (make nca-venv), or put `nca` on PATH"
# mariadb-operator drives MaxScale through its admin REST API (internal/controller/maxscale_controller_api.go).
OPERATED_PORTS = {"mariadb": ("mariadb", "agent"), "maxscale": ("admin",), "redis": ("redis-client", "sentinel-client"), "rabbitmq": ("management",)}
REPLICATION_PORTS = {"mariadb": ("mariadb",), "redis": ("redis-client", "sentinel-client"), "rabbitmq": ("epmd", "cluster-links")}


@dataclass(frozen=True)
class Flow:
    src: str  # "ns/pod", or an IP for the API server / the outside
    dst: str
    port: int
    protocol: str
    why: str


def nca_binary() -> str:
    here = Path(__file__).resolve().parent.parent / ".venv-nca" / "bin" / "nca"
    if here.is_file():
        return str(here)
    found = shutil.which("nca")
    if found:
        return found
    raise JudgeUnavailable(f"np-guard's `nca` not found: {NCA_INSTALL}")


# --- the flow table ---------------------------------------------------------------------------------


class Flows:
    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.required: dict[tuple[str, str, int, str], Flow] = {}

    def need(self, src: str, dst: str, port: int, why: str, protocol: str = "TCP") -> None:
        if src != dst:
            self.required.setdefault((src, dst, port, protocol), Flow(src, dst, port, protocol, why))

    def to_endpoint(self, pod: Pod, endpoint: Endpoint) -> None:
        if not self.c.is_cluster_host(endpoint.host):
            return
        service = self.c.resolve(endpoint.host, pod.namespace)
        if service is None:
            return  # an unresolvable host is the operators judge's finding
        for target, port in self.c.target_port(service, endpoint.port):
            self.need(pod.ref, target.ref, port, f"{endpoint.where} -> {endpoint.host}:{endpoint.port}")
            if target.traits.get("sentinel"):
                # Sentinel answers with the master's pod address: the client then connects there.
                for redis in self.family_pods("redis", exclude_sentinel=True):
                    self.need(pod.ref, redis.ref, redis.ports.get("redis-client", 6379), f"{endpoint.where}: master from Sentinel")

    def family_pods(self, family: str, exclude_sentinel: bool = False) -> list[Pod]:
        return [p for p in self.c.pods if p.traits.get("family") == family and not p.traits.get("exporter")
                and not (exclude_sentinel and p.traits.get("sentinel"))]


def required_flows(c: Cluster, build: Build) -> dict[tuple[str, str, int, str], Flow]:
    f = Flows(c)
    dns = next(p for p in c.pods if p.labels.get("k8s-app") == "kube-dns")
    scrapers = [p for p in c.pods if p.traits.get("scraper")]
    for pod in c.pods:
        if pod is dns or pod.host_network:
            continue
        f.need(pod.ref, dns.ref, 53, "DNS", "UDP")
        if pod.traits.get("api"):
            f.need(pod.ref, API_SERVER, 443, f"{pod.origin}: talks to the API server")
        if pod.traits.get("webhook"):
            f.need(API_SERVER, pod.ref, int(pod.traits["webhook"]), f"{pod.origin}: admission/API webhook")
        for endpoint in endpoints_in_env(pod.env, pod.secret_keys, build.outputs, pod.origin.split(" (")[0]):
            f.to_endpoint(pod, endpoint)
        for endpoint in pod.traits.get("endpoints") or []:
            f.to_endpoint(pod, endpoint)
        relay = build.outputs.get("mailRelay") or {}
        if pod.traits.get("mailer") and relay.get("host"):
            if f.c.is_cluster_host(str(relay["host"])):
                f.to_endpoint(pod, Endpoint(str(relay["host"]), int(relay["port"]), "Alertmanager email receiver (stack output mailRelay)"))
            else:
                f.need(pod.ref, INTERNET, int(relay["port"]), f"email receiver: the mail relay {relay['host']}:{relay['port']} (stack output mailRelay)")
        if pod.traits.get("internet"):
            f.need(pod.ref, INTERNET, 443, f"{pod.origin}: HTTPS to the internet (ACME, DNS-01 provider APIs, webhooks)")
        for family in pod.traits.get("operates") or []:
            for target in f.family_pods(family):
                for name in OPERATED_PORTS.get(family, ()):
                    if name in target.ports:
                        f.need(pod.ref, target.ref, target.ports[name], f"{pod.origin}: manages {family}")
    for src, dst, port, why in c.flows:
        f.need(src.ref, dst.ref, port, why)
    # replication inside a data store, sentinels watching their replication
    for pod in c.pods:
        family = pod.traits.get("family")
        if pod.traits.get("data") and not pod.traits.get("exporter") and (pod.traits.get("replicas", 1) > 1 or pod.traits.get("sentinel")):
            # replicas talk to each other; Sentinels also watch (and reconfigure) the Redis pods
            for peer in f.family_pods(family) if pod.traits.get("sentinel") else [pod]:
                for name in REPLICATION_PORTS.get(family, ()):
                    if name in peer.ports and (peer is not pod or pod.traits.get("replicas", 1) > 1):
                        _self_or_peer(f, pod, peer, peer.ports[name], f"{pod.origin}: {family} replication")
    # Redis Cluster: every node talks to every other on the client port (replication, MOVED
    # redirects) and the bus port (gossip, failover votes); redis-operator v0.26.0
    # internal/k8sutils/redis-cluster.go busPort = client port + 10000.
    for pod in c.pods:
        name = pod.traits.get("redis_cluster")
        for peer in (p for p in c.pods if name and p.traits.get("redis_cluster") == name):
            for port_name in ("redis-client", "redis-bus"):
                _self_or_peer(f, pod, peer, peer.ports[port_name], f"{pod.origin}: cluster {port_name}")
    # backups and binlog archiving to S3
    for pod in c.pods:
        if pod.traits.get("s3"):
            _s3(f, pod, str(pod.traits["s3"]))
    for pitr in build.of_kind("PointInTimeRecovery"):
        endpoint = str((((pitr.spec.get("storage") or {}).get("s3")) or {}).get("endpoint") or "")
        for pod in f.family_pods("mariadb"):
            _s3(f, pod, endpoint, f"{pitr.ref()} binlog archiving")
    # Traefik to every route backend
    proxies = [p for p in c.pods if p.traits.get("ingress_proxy")]
    for route in build.of_kind("IngressRoute", "IngressRouteTCP"):
        for rule in route.spec.get("routes") or []:
            for svc in route_services(build, rule.get("services") or [], route.namespace):
                service = c.service(svc.get("namespace") or route.namespace, str(svc["name"]))
                port = svc["port"]
                if service is None:
                    continue
                if isinstance(port, str) and not port.isdigit():
                    port = service.port_names.get(port, 0)
                for target, number in c.target_port(service, int(port)):
                    for proxy in proxies:
                        f.need(proxy.ref, target.ref, number, f"{route.ref()} backend {service.namespace}/{service.name}:{port}")
    # Prometheus to every monitor target
    for scraper in scrapers:
        for target, port, why in scrape_targets(c, build):
            f.need(scraper.ref, target.ref, port, why)
    # Grafana to the datasources provisioned for it (ConfigMaps its sidecar loads from its own
    # namespace: kube-prometheus-stack 88.5.3 values.yaml grafana.sidecar.datasources.label)
    grafanas = [p for p in c.pods if p.labels.get("app.kubernetes.io/name") == "grafana"]
    for cm in build.of_kind("ConfigMap"):
        if cm.labels.get("grafana_datasource") == "1":
            for text in strings(cm.body.get("data") or {}):
                for endpoint in endpoints_in_text(text, f"{cm.ref()} (Grafana datasource)"):
                    for pod in grafanas:
                        if pod.namespace == cm.namespace:
                            f.to_endpoint(pod, endpoint)
    # KEDA to its trigger addresses
    keda = [p for p in c.pods if p.name == "keda-operator" and p.traits.get("chart") == "keda"]
    for scaled in build.of_kind("ScaledObject", "ScaledJob"):
        for trigger in scaled.spec.get("triggers") or []:
            meta = trigger.get("metadata") or {}
            for address in re.split(r"[,\s]+", str(meta.get("addresses") or meta.get("address") or "")):
                host, _, port = address.rpartition(":")
                if host and port.isdigit():
                    for pod in keda:
                        f.to_endpoint(pod, Endpoint(host, int(port), f"{scaled.ref()} trigger {trigger.get('type')}"))
    return f.required


PEER = "-peer"


def route_services(build: Build, services: list[dict[str, Any]], namespace: str, depth: int = 0) -> list[dict[str, Any]]:
    """The Kubernetes Services behind a route: TraefikServices (weighted, mirroring) are followed."""
    out = []
    for svc in services:
        if svc.get("kind", "Service") == "Service" and "port" in svc:
            out.append(svc)
        elif svc.get("kind") == "TraefikService" and depth < 5:
            ns = svc.get("namespace") or namespace
            ts = build.find("TraefikService", ns, str(svc.get("name")))
            if ts is not None:
                spec = ts.spec
                nested = [*((spec.get("weighted") or {}).get("services") or []),
                          *([spec["mirroring"]] if spec.get("mirroring") else []),
                          *((spec.get("mirroring") or {}).get("mirrors") or [])]
                out += route_services(build, [{**n, "namespace": n.get("namespace") or ns} for n in nested], ns, depth + 1)
    return out


def _self_or_peer(f: Flows, pod: Pod, peer: Pod, port: int, why: str) -> None:
    # One pod stands for each workload; the analyzer omits a pod's flows to itself, so a flow
    # between two replicas goes to a twin of the workload's pod (`<name>-peer`, same labels).
    dst = peer.ref + PEER if peer is pod else peer.ref
    f.required.setdefault((pod.ref, dst, port, "TCP"), Flow(pod.ref, dst, port, "TCP", why))


def _s3(f: Flows, pod: Pod, endpoint: str, why: str | None = None) -> None:
    if not endpoint:
        return
    endpoint = re.sub(r"^[a-z]+://", "", endpoint)
    host, _, port = endpoint.partition(":")
    f.to_endpoint(pod, Endpoint(host, int(port) if port.isdigit() else 443, why or f"{pod.origin}: uploads to S3"))


def scrape_targets(c: Cluster, build: Build) -> Iterable[tuple[Pod, int, str]]:
    """(pod, port, why) for every ServiceMonitor/PodMonitor endpoint, the operators' included."""
    for monitor in build.of_kind("ServiceMonitor"):
        namespaces = _monitor_namespaces(monitor.spec, monitor.namespace)
        for service in c.services:
            if (namespaces is None or service.namespace in namespaces) and service.labels and selects(monitor.spec.get("selector"), service.labels):
                for endpoint in monitor.spec.get("endpoints") or []:
                    port = service.port_names.get(str(endpoint.get("port")))
                    for target, number in c.target_port(service, port) if port else []:
                        yield target, number, f"{monitor.ref()} -> {service.namespace}/{service.name}:{endpoint.get('port')}"
    for monitor in build.of_kind("PodMonitor"):
        namespaces = _monitor_namespaces(monitor.spec, monitor.namespace)
        for pod in c.pods:
            if (namespaces is None or pod.namespace in namespaces) and selects(monitor.spec.get("selector"), pod.labels):
                for endpoint in monitor.spec.get("podMetricsEndpoints") or []:
                    number = pod.ports.get(str(endpoint.get("port")))
                    if number:
                        yield pod, number, f"{monitor.ref()} -> {pod.ref}:{endpoint.get('port')}"
    for pod in c.pods:
        name = pod.traits.get("scraped_port")
        if name and name in pod.ports:
            yield pod, pod.ports[name], f"the monitor chart {pod.traits.get('chart')} renders -> {pod.ref}:{name}"
    for monitor in c.monitors:
        port = monitor.service.port_names.get(monitor.port)
        for target, number in c.target_port(monitor.service, port) if port else []:
            yield target, number, f"ServiceMonitor {monitor.namespace}/{monitor.name} ({monitor.origin})"


def _monitor_namespaces(spec: dict[str, Any], own: str) -> set[str] | None:
    selector = spec.get("namespaceSelector") or {}
    if selector.get("any"):
        return None
    return set(selector.get("matchNames") or [own])


def forbidden_flows(c: Cluster, required: dict[tuple[str, str, int, str], Flow]) -> list[Flow]:
    data = [p for p in c.pods if p.traits.get("data")]
    data_namespaces = {p.namespace for p in data}
    scrapers = [p for p in c.pods if p.traits.get("scraper")]
    monitoring_namespaces = {p.namespace for p in scrapers}
    # The app side: the stack's app namespace (stack output namespaces.app), or failing that every
    # manifest workload outside the data and monitoring namespaces; plus the ACME HTTP-01 solvers.
    app_namespaces = {str((c.build.outputs.get("namespaces") or {}).get("app") or "")} - {""}
    app = [p for p in c.pods if p.traits.get("acme_solver") or (
        p.origin.endswith("(manifest)") and (p.namespace in app_namespaces if app_namespaces
                                             else p.namespace not in data_namespaces | monitoring_namespaces))]
    proxies = [p for p in c.pods if p.traits.get("ingress_proxy")]
    out: list[Flow] = []

    # A pod configured with a host:port that resolves to nothing still means to use that port:
    # the operators judge reports the dangling host; here its flow is neither required nor forbidden.
    configured = {(p.ref, e.port) for p in c.pods for e in endpoints_in_env(p.env, p.secret_keys, c.build.outputs, "")}

    def forbid(src: str, dst: Pod, port: int, why: str) -> None:
        # Entry points are public by design; a webhook/APIService port must admit the API server,
        # which a NetworkPolicy cannot name portably (host network on k3s, ENIs on EKS).
        public = {dst.ports.get(name) for name in dst.traits.get("public_ports") or []} | {dst.traits.get("webhook")}
        if (src, dst.ref, port, "TCP") not in required and src != dst.ref and (src, port) not in configured and port not in public:
            out.append(Flow(src, dst.ref, port, "TCP", why))

    for target in data:
        for port in sorted(set(target.ports.values())):
            for src in [*app, *proxies]:
                forbid(src.ref, target, port, "lateral: app side to a data store")
            forbid(INTERNET, target, port, "lateral: outside to a data store")
            if target.traits.get("proxied"):
                # Behind MaxScale the app side's one database host is MaxScale: no app pod reaches a
                # MariaDB pod directly, even on the port its DB_HOST names (not exempt as configured).
                for src in app:
                    if (src.ref, target.ref, port, "TCP") not in required:
                        out.append(Flow(src.ref, target.ref, port, "TCP", "lateral: app side past MaxScale to MariaDB"))
        for victim in app:
            for port in sorted(set(victim.ports.values())):
                forbid(target.ref, victim, port, "lateral: data store to the app side")
    # The data namespace's own workloads (backup guards, the recovery drill and its
    # Pushgateway) hold database credentials or API rights: none of them reaches the app side.
    jobs = [p for p in c.pods if p.namespace in data_namespaces and p.origin.endswith("(manifest)") and p not in data]
    for src in jobs:
        for victim in app:
            for port in sorted(set(victim.ports.values())):
                forbid(src.ref, victim, port, "lateral: data-namespace workload to the app side")
    # Tracing: spans reach the trace store through the collector only, and senders use the
    # collector's OTLP ports only (not its metrics or health ports).
    for store in [p for p in c.pods if p.traits.get("trace_store")]:
        for port in sorted(set(store.ports.values())):
            for src in [*app, *proxies]:
                forbid(src.ref, store, port, "lateral: app side or Traefik to the trace store (spans go through the collector)")
            forbid(INTERNET, store, port, "lateral: outside to the trace store")
    for collector in [p for p in c.pods if p.traits.get("trace_collector")]:
        otlp = {collector.ports.get(name) for name in collector.traits["trace_collector"]}
        for port in sorted(set(collector.ports.values()) - otlp):
            for src in [*app, *proxies]:
                forbid(src.ref, collector, port, "lateral: app side or Traefik to a collector port other than OTLP")
        for port in sorted(set(collector.ports.values())):
            forbid(INTERNET, collector, port, "lateral: outside to the trace collector")
    others = [p for p in c.pods if p.namespace in monitoring_namespaces and not p.traits.get("scraper")]
    for src in others:
        for target in c.pods:
            if target.namespace not in monitoring_namespaces and target.ports and not target.labels.get("k8s-app") == "kube-dns":
                for port in sorted(set(target.ports.values())):
                    forbid(src.ref, target, port, "lateral: monitoring pod other than Prometheus to a workload")
    scraped = {(k[1], k[2]) for k in required if any(k[0] == s.ref for s in scrapers)}
    for scraper in scrapers:
        for target in [p for p in c.pods if any(p.ref == d for d, _ in scraped) and p.namespace not in monitoring_namespaces]:
            for port in sorted(set(target.ports.values())):
                if (target.ref, port) not in scraped:
                    forbid(scraper.ref, target, port, "lateral: Prometheus to a non-metrics port of a scraped pod")
    return out


# --- NetworkPolicies that charts render ------------------------------------------------------------


def chart_policies(build: Build, c: Cluster) -> list[dict[str, Any]]:
    """The NetworkPolicies the SeaweedFS chart renders itself (seaweedfs 4.44
    k8s/charts/seaweedfs/templates/shared/networkpolicy.yaml): one per workload, selecting it by
    name/instance/component; ingress from the release's own pods on every port the workload
    listens on, plus `networkPolicy.extraIngress`; with `egress.enabled` egress to the release's
    pods, DNS when `egress.allowDNS`, plus `egress.extraEgress`."""
    out: list[dict[str, Any]] = []
    for name, release in build.helm_releases.items():
        values = release.get("values") or {}
        np = values.get("networkPolicy") or {}
        if release.get("chart") != "seaweedfs" or not np.get("enabled"):
            continue
        own = {"app.kubernetes.io/name": "seaweedfs", "app.kubernetes.io/instance": str(release.get("name", name))}
        egress_cfg = np.get("egress") or {}
        for pod in c.pods:
            if pod.traits.get("chart") != "seaweedfs" or pod.namespace != release.get("namespace"):
                continue
            component = pod.labels.get("app.kubernetes.io/component", "")
            ingress = ([{"from": [{"podSelector": {"matchLabels": own}}],
                         "ports": [{"protocol": "TCP", "port": p} for p in sorted(set(pod.ports.values()))]}]
                       if pod.ports else []) + list(np.get("extraIngress") or [])
            spec: dict[str, Any] = {"podSelector": {"matchLabels": {**own, "app.kubernetes.io/component": component}},
                                    "policyTypes": ["Ingress"], "ingress": ingress}
            if egress_cfg.get("enabled"):
                spec["policyTypes"].append("Egress")
                egress: list[dict[str, Any]] = [{"to": [{"podSelector": {"matchLabels": own}}]}]
                if egress_cfg.get("allowDNS"):
                    peer = {k: v for k, v in (("namespaceSelector", egress_cfg.get("dnsNamespaceSelector")),
                                              ("podSelector", egress_cfg.get("dnsPodSelector"))) if v}
                    egress.append({"to": [peer], "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]})
                spec["egress"] = egress + list(egress_cfg.get("extraEgress") or [])
            out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": f"{release.get('name', name)}-{component}", "namespace": pod.namespace}, "spec": spec})
    return out


# --- the analyzer ----------------------------------------------------------------------------------


def _pod_manifest(pod: Pod, index: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels},
        "spec": {"containers": [{"name": "c", "image": "x", "ports": [
            {"name": name, "containerPort": port, "protocol": "TCP"} for name, port in pod.ports.items()
            if re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 15]
            + ([{"name": "dns", "containerPort": 53, "protocol": "UDP"}] if pod.labels.get("k8s-app") == "kube-dns" else [])}]},
        "status": {"podIP": f"10.{(index >> 16) & 255 or 200}.{(index >> 8) & 255}.{index & 255}", "hostIP": "10.255.0.1", "phase": "Running"},
    }


Connections = dict[tuple[str, str], list[tuple[set[str], set[tuple[int, int]] | None]]]


def analyze(build: Build, c: Cluster, required: dict[tuple[str, str, int, str], Flow]) -> Connections:
    nca = nca_binary()
    with tempfile.TemporaryDirectory(prefix="rehearsal-network-") as tmp:
        root = Path(tmp)
        (root / "policies").mkdir()
        policies = [o.body for o in build.of_kind("NetworkPolicy")] + chart_policies(build, c)
        for i, body in enumerate(policies):
            (root / "policies" / f"np-{i}.yaml").write_text(dump_yaml(body))
        if not policies:
            (root / "policies" / "empty.yaml").write_text(dump_yaml({"apiVersion": "v1", "kind": "List", "items": []}))
        pods = [p for p in c.pods if not p.host_network]
        twins = {dst for (_, dst, _, _) in required if dst.endswith(PEER)}
        pods += [Pod(p.namespace, p.name + PEER, p.labels, p.ports, p.origin) for p in pods if p.ref + PEER in twins]
        (root / "pods.yaml").write_text(dump_yaml({"apiVersion": "v1", "kind": "PodList", "items": [
            _pod_manifest(p, i + 1) for i, p in enumerate(pods)]}))
        (root / "ns.yaml").write_text(dump_yaml({"apiVersion": "v1", "kind": "NamespaceList", "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": labels}}
            for n, labels in c.namespaces.items()]}))
        proc = subprocess.run(
            [nca, "--connectivity", str(root / "policies"), "--ns_list", str(root / "ns.yaml"),
             "--pod_list", str(root / "pods.yaml"), "-o", "txt_no_fw_rules", "--output_endpoints", "pods"],
            capture_output=True, text=True, timeout=300,
        )
    if "=>" not in proc.stdout:
        raise JudgeUnavailable(f"nca failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-600:]}")
    return parse(proc.stdout)


CONN = re.compile(r"\{([^}]*)\}")


def parse(text: str) -> Connections:
    out: Connections = {}
    for line in text.splitlines():
        if " => " not in line or " : " not in line:
            continue
        ends, _, conns = line.partition(" : ")
        src, _, dst = ends.partition(" => ")
        out.setdefault((src.strip(), dst.strip()), []).extend(_conns(conns.strip()))
    return out


def _conns(text: str) -> list[tuple[set[str], set[tuple[int, int]] | None]]:
    if text.startswith("All connections"):
        return [({"TCP", "UDP", "SCTP"}, None)]
    if text.startswith("All but"):
        raise JudgeUnavailable(f"unexpected analyzer output (complement form): {text[:200]}")
    parts = []
    for body in CONN.findall(text):
        protocols = set(re.findall(r"\b(TCP|UDP|SCTP)\b", body.split("dst_ports:")[0]))
        ports: set[tuple[int, int]] | None = None
        if "dst_ports:" in body:
            ports = set()
            for item in re.split(r",", body.split("dst_ports:", 1)[1]):
                item = item.strip()
                if re.fullmatch(r"\d+-\d+", item):
                    a, b = item.split("-")
                    ports.add((int(a), int(b)))
                elif item.isdigit():
                    ports.add((int(item), int(item)))
                else:
                    break  # next key (src_ports, ...)
        parts.append((protocols, ports))
    return parts


def _endpoint_matches(endpoint: str, target: str) -> bool:
    if endpoint == target:
        return True
    if "/" in target or not re.match(r"\d", target):
        return False
    ip = ipaddress.ip_address(target)
    for item in endpoint.split(","):
        lo, _, hi = item.strip().partition("-")
        try:
            if ipaddress.ip_address(lo) <= ip <= ipaddress.ip_address(hi or lo):
                return True
        except (ValueError, TypeError):  # not an address, or an IPv6 range
            continue
    return False


def allowed(conns: Connections, flow: Flow) -> bool:
    pairs = [((flow.src, flow.dst), conns.get((flow.src, flow.dst), []))] if "/" in flow.src and "/" in flow.dst else conns.items()
    for (src, dst), parts in pairs:
        if _endpoint_matches(src, flow.src) and _endpoint_matches(dst, flow.dst):
            for protocols, ports in parts:
                if flow.protocol in protocols and (ports is None or any(a <= flow.port <= b for a, b in ports)):
                    return True
    return False


def judge(build: Build) -> Verdict:
    c = cluster(build)
    required = required_flows(c, build)
    forbidden = forbidden_flows(c, required)
    conns = analyze(build, c, required)
    findings = []
    catalog = load_catalog("charts.yaml")
    for name, release in sorted(build.helm_releases.items()):
        if str(release.get("chart")) not in catalog:
            findings.append(f"helm release {name}: chart {release.get('chart')} has no entry in rehearsal/catalog/charts.yaml, "
                            "so its pods are invisible to this judge (add its pods, labels and ports from the chart templates)")
    ok_required = 0
    for flow in sorted(required.values(), key=lambda f: (f.src, f.dst, f.port)):
        if allowed(conns, flow):
            ok_required += 1
        else:
            findings.append(f"required flow denied: {flow.src} -> {flow.dst}:{flow.port}/{flow.protocol} ({flow.why})")
    leaks: dict[tuple[str, str, str], list[int]] = {}
    for flow in forbidden:
        if allowed(conns, flow):
            leaks.setdefault((flow.src, flow.dst, flow.why), []).append(flow.port)
    for (src, dst, why), ports in sorted(leaks.items()):
        findings.append(f"forbidden flow allowed: {src} -> {dst}:{','.join(map(str, sorted(ports)))} ({why})")
    denied = len(forbidden) - sum(len(p) for p in leaks.values())
    summary = (f"network: {ok_required}/{len(required)} required flows allowed, "
               f"{denied}/{len(forbidden)} forbidden flows denied ({len(c.pods)} pods, "
               f"{sum(1 for _ in build.of_kind('NetworkPolicy'))} NetworkPolicies + {len(chart_policies(build, c))} from charts)")
    return Verdict("network", summary, findings)


if __name__ == "__main__":  # debugging aid: python -m rehearsal.network BUILD_DIR
    verdict = judge(Build(Path(sys.argv[1])))
    print("\n".join(verdict.findings + [verdict.summary]))
