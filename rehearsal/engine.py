"""`engine`: what the Pulumi engine and the API server refuse or race on, from resources.json.

- two registered objects with the same group, kind, namespace and name (children of `yaml`
  ConfigFiles included: a vendored manifest in upstream/ is read; otherwise the object list of
  rabbitmq operator manifests in rehearsal/catalog/manifests.yaml). pulumi-kubernetes >= 4.29 creates
  client-side without upsert (provider/pkg/await/await.go): the second create fails AlreadyExists;
- a custom resource, or a chart/manifest that renders one, without its CRD installer among its
  transitive dependencies (first `up` races the CRD);
- an object that an admission webhook must approve, without a dependency on the release serving it;
- an object with an operator finalizer retained on delete (its operator is uninstalled, the finalizer
  stays, the namespace never finishes deleting) or not depending on its operator (deleted after it);
- a Job the engine awaits whose activeDeadlineSeconds exceeds the await timeout (pulumi-kubernetes
  Job await: 10 minutes unless customTimeouts say otherwise).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable


from rehearsal.base import Build, Verdict, load_yaml_all
from rehearsal.inventory import dig, load_catalog

ROOT = Path(__file__).resolve().parent.parent
JOB_AWAIT_SECONDS = 600  # pulumi-kubernetes provider/pkg/await/job.go: DefaultJobTimeoutMins = 10
CONFIGFILE = ("kubernetes:yaml:ConfigFile", "kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml:ConfigGroup")
HELM = ("kubernetes:helm.sh/v3:Release",)
CORE_GROUPS = {"core", "apps", "batch", "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "autoscaling",
               "admissionregistration.k8s.io", "apiextensions.k8s.io", "storage.k8s.io", "scheduling.k8s.io",
               "coordination.k8s.io", "discovery.k8s.io", "apiregistration.k8s.io", "certificates.k8s.io", "node.k8s.io"}

# Which chart installs which CRD groups (the chart's crds/ or templates, at the pinned version;
# `when` is the values flag that turns the CRDs on, with the chart default).
CRD_CHARTS: dict[str, dict[str, Any]] = {
    "traefik": {"groups": ["traefik.io", "traefik.containo.us"]},
    "cert-manager": {"groups": ["cert-manager.io", "acme.cert-manager.io"], "when": ("crds.enabled", False)},
    "keda": {"groups": ["keda.sh", "eventing.keda.sh"]},
    "kube-prometheus-stack": {"groups": ["monitoring.coreos.com"], "when": ("crds.enabled", True)},
    "mariadb-operator-crds": {"groups": ["k8s.mariadb.com"]},
    "mariadb-operator": {"groups": ["k8s.mariadb.com"], "when": ("crds.enabled", False)},
    "redis-operator": {"groups": ["redis.redis.opstreelabs.in"]},
    "mongodb-kubernetes": {"groups": ["mongodbcommunity.mongodb.com", "mongodb.com"]},
}
# Which release serves the admission webhook (failurePolicy Fail) for a group, and runs its controller.
# cert-manager v1.21.1 deploy/charts/cert-manager/templates/webhook-validating-webhook.yaml;
# keda v2.20.2 templates/webhooks/validatingconfiguration.yaml; kube-prometheus-stack 88.5.3
# templates/prometheus-operator/admission-webhooks (PrometheusRule, AlertmanagerConfig);
# mariadb-operator 26.6.0 templates/webhook/config.yaml.
WEBHOOK_CHARTS: dict[str, list[tuple[str, str | None]]] = {
    "cert-manager": [("cert-manager.io", None), ("acme.cert-manager.io", None)],
    "keda": [("keda.sh", None)],
    "kube-prometheus-stack": [("monitoring.coreos.com", "PrometheusRule"), ("monitoring.coreos.com", "AlertmanagerConfig")],
    "mariadb-operator": [("k8s.mariadb.com", None)],
}
CONTROLLER_CHARTS = {"mariadb-operator": ["k8s.mariadb.com"], "redis-operator": ["redis.redis.opstreelabs.in"]}
# Kinds whose controllers put finalizers on them (mariadb-operator v26.6.0 internal/controller/*_finalizer.go;
# redis-operator v0.26.0 internal/controller/*/ *_controller.go; cluster-operator v2.22.3
# controllers/rabbitmqcluster_controller.go deletion finalizer; topology operator v1.20.1 controllers).
FINALIZER_KINDS = {
    "k8s.mariadb.com": {"MariaDB", "Database", "User", "Grant", "PhysicalBackup", "PointInTimeRecovery"},
    "redis.redis.opstreelabs.in": {"RedisReplication", "RedisSentinel", "Redis", "RedisCluster"},
    "rabbitmq.com": {"RabbitmqCluster", "Queue", "Exchange", "Binding", "User", "Vhost", "Permission", "Policy"},
}
# Charts that render custom resources, and the values flag that makes them do it.
CHART_RENDERS: dict[str, list[tuple[str, str, bool]]] = {
    # (values path, group, default) - seaweedfs 4.44 templates/*/*-servicemonitor.yaml,
    # fluent-bit 0.58.1 templates/servicemonitor.yaml, graylog 1.0.0 templates/mongodb (MongoDBCommunity),
    # traefik 41.3.0 templates/servicemonitor.yaml, cert-manager templates/servicemonitor.yaml,
    # mariadb-operator templates/operator/servicemonitor.yaml.
    "seaweedfs": [("global.seaweedfs.monitoring.enabled", "monitoring.coreos.com", False)],
    "fluent-bit": [("serviceMonitor.enabled", "monitoring.coreos.com", False)],
    "graylog": [("mongodb.communityResource.enabled", "mongodbcommunity.mongodb.com", True)],
    "traefik": [("metrics.prometheus.serviceMonitor.enabled", "monitoring.coreos.com", False)],
    "cert-manager": [("prometheus.servicemonitor.enabled", "monitoring.coreos.com", False)],
    "mariadb-operator": [("metrics.serviceMonitor.enabled", "monitoring.coreos.com", False)],
}


def group_kind(type_: str) -> tuple[str, str]:
    """`kubernetes:cert-manager.io/v1:Certificate` -> ("cert-manager.io", "Certificate")."""
    parts = type_.split(":")
    group = parts[1].split("/")[0] if "/" in parts[1] else "core"
    return group, parts[2]


class Graph:
    def __init__(self, build: Build) -> None:
        self.by_urn = build.by_urn
        self.children: dict[str, list[str]] = {}
        for r in build.resources:
            if r.get("parent"):
                self.children.setdefault(r["parent"], []).append(r["urn"])
        self._closure: dict[str, set[str]] = {}

    def descendants(self, urn: str) -> set[str]:
        out: set[str] = set()
        stack = list(self.children.get(urn, []))
        while stack:
            u = stack.pop()
            if u not in out:
                out.add(u)
                stack += self.children.get(u, [])
        return out

    def waits_for(self, urn: str, creating: bool = True) -> set[str]:
        """Everything the engine finishes before creating `urn`: its dependencies, transitively (a
        component dependency counts with all its descendants). When creating, also what its parents
        wait for: the SDK registers a child only once its parent's URN resolves, and a component
        registers only after its dependsOn resolved (pulumi sdk/python runtime/resource.py
        prepare_resource). Deleting follows the recorded dependencies only."""
        key = f"{urn}|{creating}"
        if key in self._closure:
            return self._closure[key]
        seen: set[str] = set()
        stack = list(self.by_urn.get(urn, {}).get("dependencies") or [])
        parent = self.by_urn.get(urn, {}).get("parent")
        while creating and parent:
            stack += self.by_urn.get(parent, {}).get("dependencies") or []
            parent = self.by_urn.get(parent, {}).get("parent")
        while stack:
            u = stack.pop()
            if u in seen or u not in self.by_urn:
                continue
            seen.add(u)
            stack += self.by_urn[u].get("dependencies") or []
            if not self.by_urn[u].get("custom", True):
                stack += list(self.descendants(u))
        self._closure[key] = seen
        return seen

    def configfile_of(self, urn: str) -> str | None:
        parent = self.by_urn.get(urn, {}).get("parent")
        while parent:
            if self.by_urn.get(parent, {}).get("type") in CONFIGFILE:
                return parent
            parent = self.by_urn.get(parent, {}).get("parent")
        return None


def configfile_objects(resource: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The objects a ConfigFile creates: the vendored file if upstream/ has it, else the catalog."""
    file = str(resource["inputs"].get("file") or "")
    files = [file] if file else [str(f) for f in resource["inputs"].get("files") or []]
    objects: list[dict[str, Any]] = []
    sources = []
    for one in files:
        path = _vendored(one)
        if path is not None:
            for doc in load_yaml_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind"):
                    meta = doc.get("metadata") or {}
                    objects.append({"apiVersion": doc.get("apiVersion"), "kind": doc["kind"], "name": meta.get("name"),
                                    "namespace": meta.get("namespace"), "body": doc})
            sources.append(str(path.relative_to(ROOT)))
            continue
        entry = load_catalog("manifests.yaml").get(one.rsplit("/", 1)[-1])
        if entry:
            objects += entry.get("objects") or []
            sources.append(f"catalog: {entry.get('source')}")
        else:
            sources.append(f"{one}: not vendored, objects unknown")
    return objects, "; ".join(sources)


def _vendored(file: str) -> Path | None:
    local = ROOT / file
    if file and not file.startswith(("http://", "https://")) and local.is_file():
        return local
    try:
        sources = json.loads((ROOT / "upstream" / "sources.json").read_text())
    except (OSError, ValueError):
        return None
    base = file.rsplit("/", 1)[-1]
    for entry in sources if isinstance(sources, list) else []:
        if entry.get("url") == file or (entry.get("release_url") == file) or (
            str(entry.get("path", "")).rsplit("/", 1)[-1] == base and str(entry.get("ref", "")) in file
        ):
            path = ROOT / "upstream" / str(entry["path"])
            if path.is_file():
                return path
    return None


def judge(build: Build) -> Verdict:
    graph = Graph(build)
    findings: list[str] = []
    checks = 0
    releases = {r["urn"]: r for r in build.resources if r["type"] in HELM}
    configfiles = {r["urn"]: r for r in build.resources if r["type"] in CONFIGFILE}
    # A ConfigFile whose children are registered (SDK-side yaml.ConfigFile) is read from its
    # children; a provider-side one (yaml/v2) from the vendored file or the catalog.
    expanded = {urn: configfile_objects(r) for urn, r in configfiles.items() if not graph.children.get(urn)}

    def chart(urn: str) -> str:
        return str(releases[urn]["inputs"].get("chart", ""))

    # Installers, webhook servers and controllers per API group.
    installers: dict[str, set[str]] = {}
    webhooks: dict[tuple[str, str | None], set[str]] = {}
    controllers: dict[str, set[str]] = {}
    for urn, r in releases.items():
        spec = CRD_CHARTS.get(chart(urn))
        values = build.helm_releases.get(str(r["inputs"].get("name")), {}).get("values") or {}
        if spec and ("when" not in spec or bool(dig(values, spec["when"][0]) if dig(values, spec["when"][0]) is not None else spec["when"][1])):
            for group in spec["groups"]:
                installers.setdefault(group, set()).add(urn)
        for group, kind in WEBHOOK_CHARTS.get(chart(urn), []):
            webhooks.setdefault((group, kind), set()).add(urn)
        for group in CONTROLLER_CHARTS.get(chart(urn), []):
            controllers.setdefault(group, set()).add(urn)
    for urn, (objects, _) in expanded.items():
        entry = load_catalog("manifests.yaml").get(str(configfiles[urn]["inputs"].get("file", "")).rsplit("/", 1)[-1]) or {}
        for obj in objects:
            if obj.get("kind") == "CustomResourceDefinition":
                spec = (obj.get("body") or {}).get("spec") or {}
                installers.setdefault(str(spec.get("group")), set()).add(urn)
                kind = str((spec.get("names") or {}).get("kind"))
                controllers.setdefault(f"{spec.get('group')}/{kind}", set()).add(urn)
            for gk in obj.get("webhookFor") or []:
                group, _, kind = gk.partition("/")
                webhooks.setdefault((group, kind), set()).add(urn)
            if obj.get("kind") in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration") and obj.get("body"):
                for hook in obj["body"].get("webhooks") or []:
                    if hook.get("failurePolicy", "Fail") != "Fail":
                        continue
                    for rule in hook.get("rules") or []:
                        for group in rule.get("apiGroups") or []:
                            for resource in rule.get("resources") or []:
                                webhooks.setdefault((group, "@" + resource), set()).add(urn)
        for gk in entry.get("crds") or []:
            group, _, kind = gk.partition("/")
            installers.setdefault(group, set()).add(urn)
            controllers.setdefault(f"{group}/{kind}", set()).add(urn)

    # CRDs, webhook configurations and operators registered as resources (children of an SDK-side
    # ConfigFile). The operator is the ConfigFile or one of its Deployments: a dependency on either
    # means the webhook is served and the controller runs (a Deployment create awaits its rollout).
    def operator_of(urn: str) -> set[str]:
        config_file = graph.configfile_of(urn)
        if not config_file:
            return {urn}
        deployments = {u for u in graph.descendants(config_file) if build.by_urn[u]["type"] == "kubernetes:apps/v1:Deployment"}
        return {config_file, *deployments}

    for r in build.resources:
        if r["type"] == "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition":
            spec = r["inputs"].get("spec") or {}
            installers.setdefault(str(spec.get("group")), set()).update({r["urn"], *operator_of(r["urn"])})
            if graph.configfile_of(r["urn"]):
                controllers.setdefault(f"{spec.get('group')}/{(spec.get('names') or {}).get('kind')}", set()).update(
                    operator_of(r["urn"]))
        if r["type"] in ("kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration",
                         "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"):
            for hook in r["inputs"].get("webhooks") or []:
                if hook.get("failurePolicy", "Fail") == "Fail":
                    for rule in hook.get("rules") or []:
                        for group in rule.get("apiGroups") or []:
                            for resource in rule.get("resources") or []:
                                webhooks.setdefault((group, "@" + resource), set()).update(operator_of(r["urn"]))

    # Every object the engine registers: (group, kind, namespace, name) -> who registers it.
    registered: dict[tuple[str, str, str, str], list[str]] = {}
    objects: list[tuple[str, str, str, str, str, set[str]]] = []  # group, kind, ns, name, owner, waits_for
    for r in build.resources:
        if not r["type"].startswith("kubernetes:") or r["type"] in HELM + CONFIGFILE or not r.get("custom", True):
            continue
        meta = r["inputs"].get("metadata") or {}
        group, kind = group_kind(r["type"])
        key = (group, kind, str(meta.get("namespace") or ""), str(meta.get("name") or r["name"]))
        registered.setdefault(key, []).append(f"{r['type'].split(':', 1)[1]} {r['name']}")
        objects.append((*key, f"{kind} {key[2] + '/' if key[2] else ''}{key[3]}", graph.waits_for(r["urn"]) | {r["urn"]}))
    for urn, (objs, source) in expanded.items():
        r = configfiles[urn]
        for obj in objs:
            group = str(obj.get("apiVersion", "v1")).split("/")[0] if "/" in str(obj.get("apiVersion", "v1")) else "core"
            key = (group, str(obj["kind"]), str(obj.get("namespace") or ""), str(obj["name"]))
            registered.setdefault(key, []).append(f"ConfigFile {r['name']} ({source})")
            objects.append((*key, f"{key[1]} {key[2] + '/' if key[2] else ''}{key[3]} of ConfigFile {r['name']}",
                            graph.waits_for(urn) | {urn}))

    # 1. duplicates
    for key, owners in sorted(registered.items()):
        checks += 1
        if len(owners) > 1:
            group, kind, ns, name = key
            findings.append(f"duplicate object {kind} {ns + '/' if ns else ''}{name} ({group}) registered {len(owners)} times: "
                            f"{'; '.join(owners)} - the second create fails AlreadyExists (pulumi-kubernetes >= 4.29 creates without upsert, provider/pkg/await/await.go)")

    # 2. CRD installer and 3. webhook server among the transitive dependencies
    for group, kind, ns, name, what, waits in objects:
        if group in CORE_GROUPS:
            continue
        checks += 1
        need = installers.get(group)
        if not need:
            findings.append(f"{what}: no CRD installer for {group} in this stack")
        elif not need & waits:
            findings.append(f"{what}: does not depend on the release installing the {group} CRDs ({_names(build, need)}): its create races the CRD on the first up")
        servers = webhooks.get((group, kind), set()) | webhooks.get((group, None), set()) | webhooks.get((group, "@" + _plural(kind)), set())
        if servers and not servers & waits:
            findings.append(f"{what}: an admission webhook of {_names(build, servers)} must approve it, but it does not depend on that release (webhook not serving yet on the first up)")
    for urn, r in releases.items():
        values = build.helm_releases.get(str(r["inputs"].get("name")), {}).get("values") or {}
        for path, group, default in CHART_RENDERS.get(chart(urn), []):
            flag = dig(values, path)
            if not (default if flag is None else bool(flag)):
                continue
            checks += 1
            need = installers.get(group, set()) - {urn}
            if group in (installers.get(group) and {g for g in [group] if urn in installers[group]} or set()):
                continue
            if not need:
                findings.append(f"helm release {r['name']} renders {group} objects ({path}) but no release in this stack installs those CRDs")
            elif not need & graph.waits_for(urn):
                findings.append(f"helm release {r['name']} renders {group} objects ({path}) but does not depend on {_names(build, need)} which installs the CRDs: the release fails on the first up (Helm: no matches for kind)")

    # 4. finalizers: retained, or deleted after their operator. A retained object only blocks when
    # destroy deletes its namespace: a protected or retained Namespace stays, and so does one holding
    # a protected object (destroy refuses it and abandons the deletes it depends on).
    kept = {str((r["inputs"].get("metadata") or {}).get("namespace")) for r in build.resources
            if r["type"].startswith("kubernetes:") and r.get("protect")}
    doomed_namespaces = {str((r["inputs"].get("metadata") or {}).get("name")) for r in build.resources
                         if r["type"] == "kubernetes:core/v1:Namespace" and not r.get("protect") and not r.get("retainOnDelete")} - kept
    for r in build.resources:
        if not r["type"].startswith("kubernetes:") or r["type"] in HELM + CONFIGFILE:
            continue
        group, kind = group_kind(r["type"])
        if kind not in FINALIZER_KINDS.get(group, set()):
            continue
        checks += 1
        what = f"{kind} {(r['inputs'].get('metadata') or {}).get('namespace', '')}/{(r['inputs'].get('metadata') or {}).get('name', r['name'])}"
        namespace = str((r["inputs"].get("metadata") or {}).get("namespace") or "")
        if r.get("retainOnDelete") and not r.get("protect") and namespace in doomed_namespaces:
            findings.append(f"{what}: retain_on_delete without protect: on destroy its operator is uninstalled while the object keeps its finalizer, so its namespace (deleted by destroy) never finishes deleting")
        operators = controllers.get(group, set()) | controllers.get(f"{group}/{kind}", set())
        if operators and not operators & graph.waits_for(r["urn"], creating=False):
            findings.append(f"{what}: does not depend on its operator ({_names(build, operators)}): destroy may remove the operator first and leave the finalizer")

    # 5. Jobs awaited longer than the engine waits
    for r in build.resources:
        if r["type"] != "kubernetes:batch/v1:Job":
            continue
        checks += 1
        annotations = (r["inputs"].get("metadata") or {}).get("annotations") or {}
        if str(annotations.get("pulumi.com/skipAwait", "")).lower() == "true":
            continue
        deadline = (r["inputs"].get("spec") or {}).get("activeDeadlineSeconds")
        timeout = _await_seconds(r)
        if deadline is not None and float(deadline) > timeout:
            findings.append(f"Job {(r['inputs'].get('metadata') or {}).get('namespace', '')}/{r['name']}: activeDeadlineSeconds={int(float(deadline))} exceeds the engine's await of {timeout} s: "
                            "`pulumi up` fails while the Job may still succeed (pulumi-kubernetes Job await, default 10 min)")
    summary = f"engine: {len(registered)} objects, {len(releases)} releases, {len(configfiles)} ConfigFiles, {checks} checks, {len(findings)} findings"
    return Verdict("engine", summary, findings)


def _plural(kind: str) -> str:
    """The resource name of a kind, as webhook rules list it (Policy -> policies)."""
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith(("s", "x", "ch", "sh")) else "s")


def _await_seconds(resource: dict[str, Any]) -> int:
    """The create await of a resource: its customTimeouts.create (a Go duration such as `20m`
    or `1h30m`, recorded by synth) or the provider's default."""
    value = str((resource.get("customTimeouts") or {}).get("create") or "")
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s)", value)
    if not parts:
        return JOB_AWAIT_SECONDS
    return int(sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts))


def _names(build: Build, urns: Iterable[str]) -> str:
    return ", ".join(sorted(build.by_urn[u]["name"] for u in urns if u in build.by_urn))
