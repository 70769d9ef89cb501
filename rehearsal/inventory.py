"""The cluster a synthesis would produce: every pod (manifest workloads, chart pods from the catalog,
operator-made pods from `rehearsal.models`) and every Service, with host-name resolution.

Chart and release-manifest pods come from `rehearsal/catalog/*.yaml` (each entry cites its template
and tag); their labels add the values paths the entry names (for example `deployment.podLabels`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator


from rehearsal.base import Build, K8sObject, load_yaml
from rehearsal.models import Endpoint, Modelled, Monitor, Pod, Service, model  # Endpoint: re-exported

CATALOG = Path(__file__).resolve().parent / "catalog"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
DNS_NAMESPACE = "kube-system"
CLUSTER_HOST = re.compile(r"\b([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.svc(\.cluster\.local)?\b")
URL = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*)://(?:[^@/]*@)?(?P<host>[^:/?#]+)(?::(?P<port>\d+))?")
SCHEME_PORTS = {"http": 80, "https": 443, "amqp": 5672, "amqps": 5671, "redis": 6379, "rediss": 6379,
                "mysql": 3306, "mariadb": 3306, "smtp": 25, "smtps": 465, "tcp": 0}


def load_catalog(name: str) -> dict[str, Any]:
    return load_yaml((CATALOG / name).read_text()) or {}


def dig(tree: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(tree, dict):
            return None
        tree = tree.get(part)
    return tree


def strings(tree: Any) -> Iterator[str]:
    if isinstance(tree, str):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from strings(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from strings(value)


def endpoints_in_env(env: dict[str, str], secret_keys: set[str], outputs: dict[str, Any], where: str) -> list[Endpoint]:
    """Connection targets in a container's environment: URLs, `X_HOST` + `X_PORT` pairs, and for a
    redacted Secret key `X_URL`/`X_HOST` the stack output `x` that carries host and port."""
    found: list[Endpoint] = []
    for key, value in env.items():
        match = URL.match(value)
        if match and match["scheme"] in SCHEME_PORTS:
            port = int(match["port"] or SCHEME_PORTS[match["scheme"]])
            if port:
                found.append(Endpoint(match["host"], port, f"{where} {key}"))
        elif key.endswith("_HOST") and value:
            port_value = env.get(key[: -len("_HOST")] + "_PORT", "")
            if port_value.isdigit():
                found.append(Endpoint(value, int(port_value), f"{where} {key}"))
    for key in secret_keys:
        stem = re.sub(r"_(URL|HOST|DSN)$", "", key)
        if stem == key:
            continue
        target = outputs.get(stem.lower())
        if isinstance(target, dict) and target.get("host") and target.get("port"):
            found.append(Endpoint(str(target["host"]), int(target["port"]), f"{where} {key} (stack output {stem.lower()})"))
    return found


def endpoints_in_text(text: str, where: str) -> list[Endpoint]:
    """Cluster host names in free text (chart values, config files): `h.ns.svc[:port]`, or a
    `Port N` line after it (Fluent Bit's output section)."""
    found = []
    for match in CLUSTER_HOST.finditer(text):
        rest = text[match.end(): match.end() + 120]
        port = re.match(r":(\d+)", rest) or re.search(r"\bPort\s+(\d+)", rest, re.IGNORECASE)
        if port:
            found.append(Endpoint(match.group(0), int(port.group(1)), where))
    return found


def _container_env(build: Build, ns: str, spec: dict[str, Any]) -> tuple[dict[str, str], set[str]]:
    env: dict[str, str] = {}
    secret_keys: set[str] = set()
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        for source in container.get("envFrom") or []:
            if "configMapRef" in source:
                cm = build.find("ConfigMap", ns, source["configMapRef"].get("name", ""))
                if cm:
                    env.update({str(k): str(v) for k, v in (cm.body.get("data") or {}).items()})
            if "secretRef" in source:
                secret = build.find("Secret", ns, source["secretRef"].get("name", ""))
                if secret:
                    data = {**(secret.body.get("stringData") or {}), **(secret.body.get("data") or {})}
                    for key, value in data.items():
                        if str(value) == "[secret]":
                            secret_keys.add(str(key))
                        else:
                            env[str(key)] = str(value)
        for item in container.get("env") or []:
            if "value" in item:
                env[str(item["name"])] = str(item["value"])
            elif "secretKeyRef" in (item.get("valueFrom") or {}):
                secret_keys.add(str(item["name"]))
            elif "configMapKeyRef" in (item.get("valueFrom") or {}):
                ref = item["valueFrom"]["configMapKeyRef"]
                cm = build.find("ConfigMap", ns, ref.get("name", ""))
                if cm and ref.get("key") in (cm.body.get("data") or {}):
                    env[str(item["name"])] = str(cm.body["data"][ref["key"]])
    return env, secret_keys


def _pod_template(obj: K8sObject) -> dict[str, Any]:
    spec = obj.spec
    if obj.kind == "CronJob":
        spec = dict((spec.get("jobTemplate") or {}).get("spec") or {})
    return dict(spec.get("template") or {})


def manifest_pods(build: Build) -> list[Pod]:
    pods = []
    for obj in build.of_kind(*WORKLOAD_KINDS):
        template = _pod_template(obj)
        spec = dict(template.get("spec") or {})
        labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
        ports = {}
        for container in spec.get("containers") or []:
            for p in container.get("ports") or []:
                ports[str(p.get("name") or p["containerPort"])] = int(p["containerPort"])
        env, secret_keys = _container_env(build, obj.namespace, spec)
        pods.append(Pod(
            obj.namespace, obj.name, labels, ports, f"{obj.kind} {obj.namespace}/{obj.name} (manifest)",
            [{"name": c.get("name"), "securityContext": c.get("securityContext")} for c in spec.get("containers") or []],
            [{"name": c.get("name"), "securityContext": c.get("securityContext")} for c in spec.get("initContainers") or []],
            dict(spec.get("securityContext") or {}),
            traits={"kind": obj.kind, "api": bool(spec.get("serviceAccountName")) and spec.get("automountServiceAccountToken") is not False},
            env=env, secret_keys=secret_keys, host_network=bool(spec.get("hostNetwork")),
        ))
    return pods


def _fill(template: str, release: dict[str, Any]) -> str:
    values = release.get("values") or {}
    return (template.replace("{release}", str(release.get("name", "")))
            .replace("{namespace}", str(release.get("namespace", "")))
            .replace("{fullname}", str(values.get("fullnameOverride") or release.get("name", ""))))


def _enabled(flag: str | None, values: dict[str, Any], default: bool = True) -> bool:
    if not flag:
        return True
    negate = flag.startswith("!")
    value = dig(values, flag.lstrip("!"))
    on = default if value is None else bool(value)
    return not on if negate else on


@dataclass
class Cluster:
    """Pods, Services and monitors of one build, with what each was derived from."""

    build: Build
    pods: list[Pod] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)
    monitors: list[Monitor] = field(default_factory=list)
    modelled: Modelled = field(default_factory=Modelled)
    flows: list[tuple[Pod, Pod, int, str]] = field(default_factory=list)  # chart-internal flows

    @cached_property
    def namespaces(self) -> dict[str, dict[str, str]]:
        out = {o.name: {**o.labels, "kubernetes.io/metadata.name": o.name} for o in self.build.of_kind("Namespace")}
        for pod in self.pods:
            out.setdefault(pod.namespace, {"kubernetes.io/metadata.name": pod.namespace})
        return out

    def pod(self, namespace: str, name: str) -> Pod | None:
        return next((p for p in self.pods if p.namespace == namespace and p.name == name), None)

    def service(self, namespace: str, name: str) -> Service | None:
        return next((s for s in self.services if s.namespace == namespace and s.name == name), None)

    def resolve(self, host: str, from_namespace: str) -> Service | None:
        """The Service a host name points at (`svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`)."""
        parts = host.lower().rstrip(".").split(".")
        if len(parts) == 1:
            return self.service(from_namespace, parts[0])
        if len(parts) == 2 or parts[2:] in (["svc"], ["svc", "cluster", "local"]):
            return self.service(parts[1], parts[0])
        return None

    @staticmethod
    def is_cluster_host(host: str) -> bool:
        parts = host.lower().split(".")
        return len(parts) == 1 or parts[2:] in (["svc"], ["svc", "cluster", "local"])

    def target_port(self, service: Service, port: int) -> list[tuple[Pod, int]]:
        target = service.ports.get(port)
        if target is None:
            return []
        out = []
        for pod in service.pods:
            number = target if isinstance(target, int) else pod.ports.get(str(target))
            if number is not None:
                out.append((pod, int(number)))
        return out


def configfile_entries(build: Build) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource, catalog entry) for every yaml ConfigFile whose manifest the catalog describes."""
    catalog = load_catalog("manifests.yaml")
    out = []
    for r in build.resources:
        if r["type"].startswith("kubernetes:yaml/") and r["type"].endswith(":ConfigFile"):
            name = str(r["inputs"].get("file", "")).rsplit("/", 1)[-1]
            if name in catalog:
                out.append((r, catalog[name]))
    return out


def cluster(build: Build) -> Cluster:
    c = Cluster(build)
    c.pods = manifest_pods(build)
    charts = load_catalog("charts.yaml")
    for release_name, release in build.helm_releases.items():
        entry = charts.get(str(release.get("chart")))
        if not entry:
            continue
        values = release.get("values") or {}
        ns = str(release.get("namespace"))
        by_name: dict[str, Pod] = {}
        for spec in entry.get("pods") or []:
            if not _enabled(spec.get("enabled"), values, spec.get("enabled_default", True)):
                continue
            labels = {k: _fill(str(v), release) for k, v in (spec.get("labels") or {}).items()}
            for path in spec.get("values_labels") or []:
                labels.update({str(k): str(v) for k, v in (dig(values, path) or {}).items()})
            traits = {k: v for k, v in spec.items() if k not in ("name", "labels", "values_labels", "ports", "enabled", "enabled_default", "scraped")}
            scraped = spec.get("scraped")
            if scraped and _enabled(scraped.get("when"), values, bool(scraped.get("default", False))):
                traits["scraped_port"] = scraped["port"]
            traits["chart"] = release.get("chart")
            pod = Pod(ns, spec["name"], labels, {str(k): int(v) for k, v in (spec.get("ports") or {}).items()},
                      f"chart {release.get('chart')} release {release_name} ({entry.get('source')})", traits=traits)
            if spec.get("values_client"):
                pod.traits["endpoints"] = [e for s in strings(values) for e in endpoints_in_text(s, f"release {release_name} values")]
            by_name[pod.name] = pod
            c.pods.append(pod)
        for spec in entry.get("services") or []:
            target = by_name.get(spec["selects"]) or by_name.get(spec.get("fallback", ""))
            if target:
                c.services.append(Service(ns, _fill(spec["name"], release), [target],
                                          {int(k): v for k, v in spec["ports"].items()}, target.origin,
                                          labels=dict(target.labels),
                                          port_names={str(k): int(v) for k, v in (spec.get("port_names") or {}).items()}))
        for flow in entry.get("flows") or []:
            if flow["from"] in by_name and flow["to"] in by_name:
                c.flows.append((by_name[flow["from"]], by_name[flow["to"]], int(flow["port"]), f"chart {release.get('chart')} ({entry.get('source')})"))
    # Operator release manifests: when a ConfigFile's children are registered (SDK-side, vendored
    # file), their Deployments are manifest pods already and only take the catalog's traits (api,
    # webhook, operates); otherwise the catalog supplies the pods.
    installed = {str(r["inputs"].get("file", "")).rsplit("/", 1)[-1] for r, _ in configfile_entries(build)}
    for file_name, entry in load_catalog("manifests.yaml").items():
        for spec in entry.get("pods") or []:
            traits = {k: v for k, v in spec.items() if k not in ("name", "namespace", "labels", "ports")}
            existing = c.pod(spec["namespace"], spec["name"])
            if existing is not None:
                existing.traits.update(traits)
            elif file_name in installed:
                c.pods.append(Pod(spec["namespace"], spec["name"], dict(spec["labels"]),
                                  {str(k): int(v) for k, v in spec["ports"].items()},
                                  f"{file_name} ({entry.get('source')})", traits=traits))
    c.modelled = model(build)
    c.pods += c.modelled.pods
    c.services += c.modelled.services
    c.monitors += c.modelled.monitors
    # The cluster's DNS (CoreDNS on EKS, k3s and kind carries `k8s-app: kube-dns`).
    c.pods.append(Pod(DNS_NAMESPACE, "coredns", {"k8s-app": "kube-dns"}, {"dns": 53, "dns-tcp": 53},
                      "the cluster's DNS (coredns Deployment in kube-system, label k8s-app=kube-dns)"))
    # ACME HTTP-01 solver pods, created by cert-manager in the namespace the platform routes them
    # from (cert-manager v1.21.1 pkg/issuer/acme/http/pod.go: label acme.cert-manager.io/http01-solver).
    if any(_has_http01(o) for o in build.of_kind("ClusterIssuer", "Issuer")):
        for policy in build.of_kind("NetworkPolicy"):
            if (policy.spec.get("podSelector") or {}).get("matchLabels", {}).get("acme.cert-manager.io/http01-solver"):
                c.pods.append(Pod(policy.namespace, "cm-acme-http-solver", {"acme.cert-manager.io/http01-solver": "true"},
                                  {"http": 8089}, "cert-manager v1.21.1 pkg/issuer/acme/http/pod.go (HTTP-01 solver)",
                                  traits={"acme_solver": True}))
    for svc in build.of_kind("Service"):
        selector = {str(k): str(v) for k, v in (svc.spec.get("selector") or {}).items()}
        pods = [p for p in c.pods if p.namespace == svc.namespace and selector and all(p.labels.get(k) == v for k, v in selector.items())]
        ports: dict[int, int | str] = {}
        names: dict[str, int] = {}
        for p in svc.spec.get("ports") or []:
            target = p.get("targetPort", p["port"])
            ports[int(p["port"])] = int(target) if isinstance(target, (int, float)) else str(target)
            if p.get("name"):
                names[str(p["name"])] = int(p["port"])
        c.services.append(Service(svc.namespace, svc.name, pods, ports, f"Service {svc.namespace}/{svc.name} (manifest)",
                                  labels=svc.labels, port_names=names))
    _unique_names(c.pods)
    return c


def _has_http01(issuer: K8sObject) -> bool:
    solvers = ((issuer.spec.get("acme") or {}).get("solvers")) or []
    return any("http01" in s for s in solvers)


def _unique_names(pods: list[Pod]) -> None:
    seen: dict[tuple[str, str], int] = {}
    for pod in pods:
        key = (pod.namespace, pod.name)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            pod.name = f"{pod.name}-{seen[key]}"
