"""The `metrics` judge: alert rules and dashboards against what real exporters expose.

1. The real daemons (rehearsal/rig.py) run once per process; per stack the judge starts the real
   Debian exporters with the flags and env the stack gives its exporters, and a real Prometheus
   whose scrape jobs come from the stack's ServiceMonitors and PodMonitors (plus those the
   operators create) and which loads the stack's PrometheusRules. A target the stack's
   NetworkPolicies keep Prometheus from is not scraped.
2. Every metric name a PrometheusRule or a Grafana dashboard reads must be exposed by a scraped
   target, or listed in rehearsal/catalog/metrics.yaml for a component the stack scrapes; every
   label name a matcher or a `by`/`on` clause uses must exist on those series.
3. Alerts are evaluated by promtool's rule engine (the same code as Prometheus) over the series
   scraped from the real targets: held for hours (so `for:` durations elapse without waiting) on
   the healthy rehearsal, where no critical alert may fire, and after each fault the rig
   injects (Redis stopped, MariaDB stopped, a queue backlog, dead letters arriving), where the
   alert meant for it must fire. Components that cannot run here get modelled healthy series
   (a recent backup Job, certificates far from expiry), each model citing what it follows.

Deviations from the cluster, all loopback: exporters are the Debian builds (mysqld-exporter 0.14
has no multi-target `/probe`, so each MariaDB pod gets its own exporter, scraped with the
operator's relabelings); nginx serves a static root (the apps judge runs the real backend pod).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import yaml

from rehearsal import fastcgi, promql, scrape
from rehearsal.base import Build, K8sObject, Verdict
from rehearsal.rabbit_definitions import definitions_from_objects
from rehearsal.rig import EXPORTER_PASSWORD, REDIS_PASSWORD, Rig, free_port, wait_port

CATALOG = Path(__file__).parent / "catalog" / "metrics.yaml"
SCRAPE_INTERVAL = 0.5  # seconds: every wait below is a few of these


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    return dict(yaml.safe_load(CATALOG.read_text())["components"])


# ---- what the stack reads ----------------------------------------------------------------------


@dataclass
class Use:
    """One expression that reads metrics: an alert or recording rule, or a dashboard panel."""

    where: str  # "PrometheusRule ns/name alert X" or "dashboard F panel P"
    expr: str
    usage: promql.Usage
    alert: str = ""
    severity: str = ""


def rule_files(build: Build) -> list[tuple[K8sObject, dict[str, Any]]]:
    return [(obj, {"groups": obj.spec.get("groups") or []}) for obj in build.of_kind("PrometheusRule")]


def uses(build: Build) -> list[Use]:
    out: list[Use] = []
    for obj, body in rule_files(build):
        for group in body["groups"]:
            for rule in group.get("rules") or []:
                name = rule.get("alert") or rule.get("record") or "?"
                what = "alert" if rule.get("alert") else "record"
                out.append(Use(f"{obj.ref()} {what} {name}", str(rule["expr"]), promql.usage(str(rule["expr"])),
                               str(rule.get("alert", "")), str((rule.get("labels") or {}).get("severity", ""))))
    for obj in build.of_kind("ConfigMap"):
        if "grafana_dashboard" not in obj.labels:
            continue
        for key, text in (obj.body.get("data") or {}).items():
            dashboard = json.loads(text)
            for panel in _panels(dashboard):
                for target in panel.get("targets") or []:
                    if target.get("expr"):
                        expr = promql.from_grafana(str(target["expr"]))
                        out.append(Use(f"dashboard {obj.namespace}/{obj.name}:{key} panel {panel.get('title', '?')!r}",
                                       expr, promql.usage(expr)))
    return out


def _panels(node: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in node.get("panels") or []:
        out.append(panel)
        out.extend(_panels(panel))
    for row in node.get("rows") or []:
        out.extend(_panels(row))
    return out


def recorded(build: Build) -> set[str]:
    return {str(rule["record"]) for _, body in rule_files(build) for g in body["groups"]
            for rule in g.get("rules") or [] if rule.get("record")}


# ---- catalog components the stack scrapes --------------------------------------------------------


def _value(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def catalog_pods(build: Build) -> list[scrape.Pod]:
    """Pods of the catalog components installed by a chart of the stack (cannot run here)."""
    out = []
    for name, comp in catalog().items():
        how = comp.get("scraped_by") or {}
        chart = build.helm_releases.get(how.get("chart", "")) if how.get("chart") else None
        pods = how.get("pods")
        namespace = str(chart.get("namespace", "")) if chart else how.get("namespace")
        if not namespace or not pods or not pods.get("labels"):
            continue
        if not chart and not build.find("Namespace", "", namespace) and not any(o.namespace == namespace for o in build.objects):
            continue  # a release manifest's namespace the stack does not have
        extra = _value(chart.get("values") or {}, pods["labels_value"]) if chart and pods.get("labels_value") else None
        labels = {**dict(extra or {}), **pods["labels"]}
        if chart and pods.get("release_label"):
            labels[pods["release_label"]] = str(chart.get("name", how.get("chart")))
        out.append(scrape.Pod(namespace, f"{name}-0", labels,
                              {pods["port"]: (int(pods.get("port_number", 0)), None)}, f"catalog:{name}"))
    return out


def scraped_components(build: Build, stage: "Stage") -> dict[str, str]:
    """Catalog components Prometheus scrapes in this stack -> how (a monitor, a chart switch, a
    kube-prometheus-stack built-in). A monitor target blocked by the NetworkPolicies does not count."""
    kps = next((r for r in build.helm_releases.values() if r.get("chart") == "kube-prometheus-stack"), None)
    out: dict[str, str] = {}
    for name, comp in catalog().items():
        how = comp.get("scraped_by") or {}
        if "kps_value" in how:
            if kps is not None and _value(kps.get("values") or {}, how["kps_value"]) is not False:
                out[name] = f"kube-prometheus-stack {how['kps_value']}"
            continue
        chart = build.helm_releases.get(how.get("chart", "")) if how.get("chart") else None
        for dotted in how.get("chart_values") or [] if chart else []:
            if _value(chart.get("values") or {}, dotted):
                out[name] = f"chart value {dotted}"
        pods = how.get("pods") or {}
        for target in stage.targets:
            if target.pod.origin == f"catalog:{name}" and not target.blocked:
                out[name] = target.monitor.ref()
            elif not pods.get("labels") and pods.get("port") and target.port_name == pods["port"] and not target.blocked:
                out[name] = target.monitor.ref()  # a sidecar: any scraped pod port of that name
    return out


def catalog_owner(metric: str) -> str | None:
    for name, comp in catalog().items():
        if metric in (comp.get("metrics") or {}):
            return name
        for suffix in ("_bucket", "_sum", "_count"):
            if metric.endswith(suffix) and metric[: -len(suffix)] + "_bucket" in (comp.get("metrics") or {}):
                return name
    return None


def catalog_labels(component: str, metric: str) -> set[str]:
    comp = catalog()[component]
    labels = (comp.get("metrics") or {}).get(metric)
    if labels is None:
        labels = (comp.get("metrics") or {}).get(re.sub(r"_(sum|count)$", "_bucket", metric), [])
    return {*labels, *(comp.get("target_labels") or [])}


# ---- per stack: exporters, Prometheus --------------------------------------------------------


class Stage:
    """One stack on the rig: its exporters, its Prometheus, and how to read what it scraped."""

    def __init__(self, build: Build, rig: Rig) -> None:
        self.build, self.rig = build, rig
        self.dir = rig.dir / f"stage-{build.stack}-{os.getpid()}-{free_port()}"
        self.dir.mkdir()
        self.procs: list[str] = []
        self.topo = scrape.topology(build)
        self.topo.pods.extend(catalog_pods(build))
        self.targets = scrape.targets(self.topo)
        for target in self.targets:
            target.blocked = scrape.blocked_reason(build, target)
        self.addresses: dict[str, str] = {}
        self.vhost, self.app_queues, self.dead_letter_queues = "%2F", list[str](), list[str]()
        self.port = 0
        self.fpm_problem = ""

    def start_exporters(self, shared: dict[tuple[Any, ...], str]) -> None:
        """The stack's exporters. `shared` holds those already running in this round with the same
        configuration (by another stack): they are reused rather than started again."""
        rig = self.rig
        started: list[int] = []

        def exporter(name: str, key: tuple[Any, ...], start: Callable[[int], None]) -> None:
            if key not in shared:
                port = free_port()
                start(port)
                shared[key] = f"127.0.0.1:{port}"
                started.append(port)
            self.addresses[name] = shared[key]

        # mysqld-exporter: one per MariaDB pod (0.14 has no /probe), with the account the operator makes.
        for index in (0, 1):
            def mysqld(port: int, index: int = index) -> None:
                cnf = self.dir / f"mysqld-exporter-{index}.cnf"
                cnf.write_text(f"[client]\nuser=exporter\npassword={EXPORTER_PASSWORD}\nhost=127.0.0.1\n"
                               f"port={rig.ports[f'mariadb-{index}']}\n")
                self._spawn(f"mysqld-exporter-{index}", ["prometheus-mysqld-exporter", f"--config.my-cnf={cnf}",
                                                          f"--web.listen-address=127.0.0.1:{port}"])
            exporter(f"mysqld-exporter-{index}", ("mysqld", index), mysqld)
        # redis_exporter: the operator's env (REDIS_ADDR, REDIS_PASSWORD, listen address) plus the
        # RedisReplication's redisExporter.env (redis-operator v0.26.0 internal/k8sutils/statefulset.go:831-880).
        replication = next(self.build.of_kind("RedisReplication"), None)
        extra_env = {str(e["name"]): str(e.get("value", "")) for e in
                     ((replication.spec.get("redisExporter") or {}).get("env") or [])} if replication else {}
        for index in (0, 1):
            def redis(port: int, index: int = index) -> None:
                env = {**{k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}, **extra_env,
                       "REDIS_ADDR": f"redis://127.0.0.1:{rig.ports[f'redis-{index}']}", "REDIS_PASSWORD": REDIS_PASSWORD,
                       "REDIS_EXPORTER_WEB_LISTEN_ADDRESS": f"127.0.0.1:{port}"}
                self._spawn(f"redis-exporter-{index}", ["prometheus-redis-exporter"], env=env)
            exporter(f"redis-exporter-{index}", ("redis", index, tuple(sorted(extra_env.items()))), redis)
        # nginx-prometheus-exporter: the sidecar's args, its scrape URI pointed at the rig's nginx.
        args = self._sidecar_args("nginx-exporter") or ["--nginx.scrape-uri=http://127.0.0.1:8081/stub_status"]
        args = [re.sub(r"https?://[^/\s]+/", f"http://127.0.0.1:{rig.ports['nginx-status']}/", a) for a in args]

        def nginx(port: int) -> None:
            self._spawn("nginx-exporter", ["prometheus-nginx-exporter",
                                           *[a.replace("--", "-", 1) if a.startswith("--") else a for a in args],
                                           f"-web.listen-address=127.0.0.1:{port}"])
        exporter("nginx-exporter", ("nginx", tuple(args)), nginx)
        self.fpm_problem = self._php_fpm()
        self.addresses["traefik"] = f"127.0.0.1:{rig.ports['traefik-metrics']}"
        self.addresses["rabbitmq"] = f"127.0.0.1:{rig.ports['rabbitmq-prometheus']}"
        for port in started:
            wait_port(port, 30)

    def _php_fpm(self) -> str:
        """Start the real php-fpm with the stack's pool file and ask it what the php-fpm exporter
        sidecar asks (its --phpfpm.scrape-uri). Returns what is wrong, or ""."""
        conf = next((str(cm.body["data"][key]) for cm in self.build.of_kind("ConfigMap")
                     for key in (cm.body.get("data") or {}) if key.endswith("php-fpm.conf")), "")
        args = self._sidecar_args("php-fpm-exporter")
        uris = [a.split("=", 1)[1] for a in args if a.startswith("--phpfpm.scrape-uri=")]
        uris += [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--phpfpm.scrape-uri"]
        if not conf or not uris or not shutil.which("php-fpm8.2", path=os.environ.get("PATH", "") + ":/usr/sbin"):
            return ""
        listen = re.search(r"^\s*listen\s*=\s*(\S+)", conf, re.M)
        uri = re.match(r"tcp://([^/]+)(/.*)", uris[0])
        if not listen or not uri:
            return f"php-fpm exporter scrape URI {uris[0]!r} or the pool's listen address is not tcp://HOST:PORT/PATH"
        if uri.group(1) != listen.group(1) and uri.group(1).rsplit(":", 1)[-1] != listen.group(1).rsplit(":", 1)[-1]:
            return f"the php-fpm exporter dials {uri.group(1)} but the pool listens on {listen.group(1)}"
        port = free_port()
        path = self.dir / "php-fpm.conf"
        path.write_text(conf[:listen.start(1)] + f"127.0.0.1:{port}" + conf[listen.end(1):])
        self._spawn("php-fpm", ["php-fpm8.2", "-R", "-F", "-y", str(path)])
        wait_port(port, 30)
        out, err = fastcgi.get("127.0.0.1", port, uri.group(2))
        if '"accepted conn"' not in out:
            head = (out or err).strip().splitlines()[:2]
            return (f"php-fpm does not answer the exporter's status request {uri.group(2)}?json&full with its "
                    f"status (pm.status_path): got {' / '.join(head) or 'nothing'}")
        return ""

    def _sidecar_args(self, container: str) -> list[str]:
        for obj in self.build.of_kind("Deployment"):
            for c in ((obj.spec.get("template") or {}).get("spec") or {}).get("containers") or []:
                if c.get("name") == container:
                    return [str(a) for a in c.get("args") or []]
        return []

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.rig._spawn(f"{self.dir.name}-{name}", argv, env=env)
        self.procs.append(name)

    # Prometheus: one scrape job per monitor endpoint, with prometheus-operator's target labels.
    def prometheus_config(self) -> dict[str, Any]:
        jobs: dict[str, dict[str, Any]] = {}
        for target in self.targets:
            if target.blocked or target.rig is None:
                continue
            rig_key = target.endpoint.get("x-rehearsal-target", "")
            exporter = {"mysqld-exporter": f"mysqld-exporter-{rig_key.rsplit('-', 1)[-1]}" if rig_key else "mysqld-exporter-0",
                        }.get(target.rig, target.rig)
            address = self.addresses.get(exporter)
            if address is None:
                continue
            monitor = target.monitor
            job_name = f"{monitor.kind.lower()}/{monitor.namespace}/{monitor.name}/{target.index}"
            # prometheus-operator: job = the Service name (ServiceMonitor) or <ns>/<name> (PodMonitor).
            job_label = target.service.name if target.service else f"{monitor.namespace}/{monitor.name}"
            labels = {"job": job_label, "namespace": target.pod.namespace, "pod": target.pod.name,
                      "endpoint": target.port_name, "container": target.port_name}
            if target.service:
                labels["service"] = target.service.name
            for key, value in target.pod.labels.items():
                labels[f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', key)}"] = value
            path = str(target.endpoint.get("path", "/metrics"))
            params = dict(target.endpoint.get("params") or {})
            if path == "/probe" and target.rig == "mysqld-exporter":
                path, params = "/metrics", {}  # one 0.14 exporter per pod stands in for /probe?target=
            job = jobs.setdefault(job_name, {
                "job_name": job_name, "metrics_path": path, "scheme": "http",
                "scrape_interval": _duration(SCRAPE_INTERVAL), "scrape_timeout": _duration(SCRAPE_INTERVAL),
                "static_configs": [], "relabel_configs": _relabel(target.endpoint.get("relabelings")),
                "metric_relabel_configs": _relabel(target.endpoint.get("metricRelabelings")),
            })
            if params:
                job["params"] = params
            job["static_configs"].append({"targets": [address], "labels": labels})
        return {"global": {"scrape_interval": _duration(SCRAPE_INTERVAL), "evaluation_interval": _duration(SCRAPE_INTERVAL)},
                "scrape_configs": list(jobs.values())}

    def start_prometheus(self) -> None:
        config = self.prometheus_config()
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self._spawn("prometheus", ["prometheus", f"--config.file={self.dir / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={self.dir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
                                   "--storage.tsdb.retention.time=1h", "--log.level=warn"])
        wait_port(self.port, 60)
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=5):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.05)
        self.expected_jobs = len(config["scrape_configs"])

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback only
            body = json.loads(response.read())
        return body["data"]

    def series(self) -> dict[str, set[str]]:
        """Metric name -> label names over everything Prometheus scraped."""
        out: dict[str, set[str]] = {}
        for labels in self.api("series", **{"match[]": '{__name__=~".+"}'}):
            out.setdefault(labels["__name__"], set()).update(k for k in labels if k != "__name__")
        return out

    def sibling_series(self) -> dict[str, set[str]]:
        """What every rig exporter of a kind this stack scrapes exposes, scraped or not (the MariaDB
        replica's exporter in a stack with one MariaDB pod): metric name -> label names, with
        prometheus-operator's target labels. Dashboards are shared by every stack, so a panel on
        replica metrics is right where a replica runs; alerts are held to this stack's own targets."""
        kinds = {t.rig.rsplit("-", 1)[0] if t.rig[-1].isdigit() else t.rig
                 for t in self.targets if t.rig and not t.blocked}
        out: dict[str, set[str]] = {}
        for name, address in self.addresses.items():
            if (name.rsplit("-", 1)[0] if name[-1].isdigit() else name) not in kinds:
                continue
            try:
                with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:  # noqa: S310
                    text = response.read().decode(errors="replace")
            except OSError:
                continue
            for match in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s", text, re.M):
                labels = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(2) or ""))
                out.setdefault(match.group(1), set()).update(labels | {"job", "instance", "namespace", "pod", "service",
                                                                        "endpoint", "container"})
        return out

    def snapshot(self, names: set[str]) -> dict[str, float]:
        """The current value of every series of `names`, keyed by its promtool series text."""
        if not names:
            return {}
        pattern = "|".join(sorted(re.escape(n) for n in names))
        out: dict[str, float] = {}
        for item in self.api("query", query=f'{{__name__=~"{pattern}"}}')["result"]:
            metric = dict(item["metric"])
            name = metric.pop("__name__")
            value = float(item["value"][1])
            if value != value:  # NaN: promtool's series notation has no literal for it
                continue
            out[series_text(name, metric)] = value
        return out

    def stop(self) -> None:
        for name in reversed(self.procs):
            self.rig.stop_process(f"{self.dir.name}-{name}")
        self.procs.clear()


def settle(stages: list["Stage"], scrapes: int = 2) -> None:
    """Wait until every target of every stage has been scraped `scrapes` times from now on."""
    for _ in range(scrapes):
        since = time.time()
        for stage in stages:
            for _ in range(200):
                active = stage.api("targets", state="active")["activeTargets"]
                if active and all(_timestamp(t.get("lastScrape", "")) > since for t in active):
                    break
                time.sleep(SCRAPE_INTERVAL / 5)


def _timestamp(text: str) -> float:
    """Prometheus' RFC 3339 timestamps (nanoseconds) as epoch seconds."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text)
    if not match:
        return 0.0
    base = datetime.fromisoformat(match.group(1) + (match.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float("0" + (match.group(2) or ""))


def _duration(seconds: float) -> str:
    return f"{int(seconds * 1000)}ms"


def _relabel(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """prometheus-operator RelabelConfig (camelCase) -> Prometheus relabel_config."""
    out = []
    for item in items or []:
        rc: dict[str, Any] = {}
        for src, dst in (("sourceLabels", "source_labels"), ("targetLabel", "target_label"), ("separator", "separator"),
                         ("regex", "regex"), ("modulus", "modulus"), ("replacement", "replacement"), ("action", "action")):
            if src in item:
                rc[dst] = item[src]
        if "action" in rc:
            rc["action"] = str(rc["action"]).lower()
        out.append(rc)
    return out


def series_text(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# ---- models of what cannot run here (healthy series) -----------------------------------------------


def modelled_series(build: Build, scraped: dict[str, str], now: datetime) -> dict[str, float]:
    """Healthy series of catalog components the stack scrapes, from the stack's own objects."""
    out: dict[str, float] = {}
    if "kube-state-metrics" in scraped:
        ksm = {"job": "kube-state-metrics", "instance": "kube-state-metrics:8080", "namespace": ""}
        # mariadb-operator v26.6.0 names each PhysicalBackup's Job `<name>-<YYYYmmddHHMMSS>`
        # (internal/controller/physicalbackup_controller.go:380-382, getObjectName): one succeeded an hour ago.
        for backup in build.of_kind("PhysicalBackup"):
            stamp = now - timedelta(hours=1)
            labels = {**ksm, "namespace": backup.namespace, "job_name": f"{backup.name}-{stamp:%Y%m%d%H%M%S}"}
            out[series_text("kube_job_status_succeeded", labels)] = 1
            out[series_text("kube_job_status_failed", labels)] = 0
            out[series_text("kube_job_status_completion_time", labels)] = stamp.timestamp()
            out[series_text("kube_job_status_start_time", labels)] = stamp.timestamp() - 300
        for hpa in build.of_kind("HorizontalPodAutoscaler"):
            labels = {**ksm, "namespace": hpa.namespace, "horizontalpodautoscaler": hpa.name}
            low, high = int(hpa.spec.get("minReplicas", 1)), int(hpa.spec.get("maxReplicas", 1))
            out[series_text("kube_horizontalpodautoscaler_spec_max_replicas", labels)] = high
            out[series_text("kube_horizontalpodautoscaler_spec_min_replicas", labels)] = low
            out[series_text("kube_horizontalpodautoscaler_status_current_replicas", labels)] = low
    if "kubelet" in scraped:
        for claim in _claims(build):
            labels = {"job": "kubelet", "instance": "node-0:10250", "metrics_path": "/metrics", **claim}
            out[series_text("kubelet_volume_stats_capacity_bytes", labels)] = 10e9
            out[series_text("kubelet_volume_stats_available_bytes", labels)] = 6e9
    if "cert-manager" in scraped:
        for cert in build.of_kind("Certificate"):
            issuer = cert.spec.get("issuerRef") or {}
            labels = {"job": "cert-manager", "namespace": cert.namespace, "name": cert.name,
                      "issuer_name": str(issuer.get("name", "")), "issuer_kind": str(issuer.get("kind", "Issuer")),
                      "issuer_group": str(issuer.get("group", "cert-manager.io"))}
            # cert-manager renews at 2/3 of the lifetime (90 d Let's Encrypt): 60 days left at worst.
            out[series_text("certmanager_certificate_expiration_timestamp_seconds", labels)] = (now + timedelta(days=60)).timestamp()
            out[series_text("certmanager_certificate_not_after_timestamp_seconds", labels)] = (now + timedelta(days=60)).timestamp()
            out[series_text("certmanager_certificate_ready_status", {**labels, "condition": "True"})] = 1
    return out


def _claims(build: Build) -> list[dict[str, str]]:
    """PVCs the stateful objects create: `<template>-<name>-<i>` (StatefulSet convention)."""
    out = []
    for obj in build.of_kind("MariaDB", "RedisReplication", "RabbitmqCluster"):
        replicas = int(obj.spec.get("replicas", obj.spec.get("clusterSize", 1)))
        for index in range(replicas):
            out.append({"namespace": obj.namespace, "persistentvolumeclaim": f"storage-{obj.name}-{index}"})
    return out


# ---- scenarios: faults the rig injects and the alert meant for each --------------------------------


@dataclass
class Scenario:
    """A fault and the alert meant for it. `batch` names the rig action that produces it: faults
    on different daemons are injected together (one wait for Prometheus, one snapshot of every
    stack); `repeat` faults keep happening (changed series keep changing at the same pace);
    `modelled` ones change the modelled series of a component that cannot run here."""

    name: str
    expect: str  # regex on alert names: at least one such alert must fire
    batch: str = ""
    repeat: bool = False
    modelled: Callable[[dict[str, float], datetime], dict[str, float]] | None = None
    applies: Callable[[Build], bool] = lambda build: True


def _queue_keys(build: Build) -> list[str]:
    """Laravel's Redis queue lists: `<REDIS_PREFIX>queues:<queue>` for each worker's --queue."""
    prefix = ""
    for cm in build.of_kind("ConfigMap"):
        data = cm.body.get("data") or {}
        if "REDIS_PREFIX" in data:
            prefix = str(data["REDIS_PREFIX"])
    queues: set[str] = set()
    for obj in build.of_kind("Deployment"):
        for c in ((obj.spec.get("template") or {}).get("spec") or {}).get("containers") or []:
            argv = [str(a) for a in [*(c.get("command") or []), *(c.get("args") or [])]]
            if "queue:work" not in argv:
                continue
            named = [a.split("=", 1)[1] for a in argv if a.startswith("--queue=")]
            queues.update(q for arg in named for q in arg.split(",")) if named else queues.add("default")
    return [f"{prefix}queues:{q}" for q in sorted(queues)]


def _redis_size(build: Build) -> int:
    return max((int(r.spec.get("clusterSize", 1)) for r in build.of_kind("RedisReplication")), default=0)


def _replicates(build: Build) -> bool:
    """A MariaDB with a replica pod: replication on and more than one pod."""
    return any((m.spec.get("replication") or {}).get("enabled") and int(m.spec.get("replicas", 1)) > 1
               for m in build.of_kind("MariaDB"))


def _has(kind: str) -> Callable[[Build], bool]:
    return lambda build: any(True for _ in build.of_kind(kind))


def _expiring(series: dict[str, float], now: datetime) -> dict[str, float]:
    soon = (now + timedelta(days=2)).timestamp()
    return {k: (soon if k.startswith(("certmanager_certificate_expiration", "certmanager_certificate_not_after")) else v)
            for k, v in series.items()}


REDIS_ALERT = r"(?i)redis(?!.*(queue|key))"
MARIADB_ALERT = r"(?i)(mariadb|mysql)(?!.*backup)"
SCENARIOS = [
    Scenario("a Redis replica stopped", REDIS_ALERT, "replicas", applies=lambda b: _redis_size(b) > 1),
    Scenario("Redis stopped", REDIS_ALERT, "primaries", applies=lambda b: _redis_size(b) == 1),
    Scenario("MariaDB replica stopped", MARIADB_ALERT, "replicas", applies=_replicates),
    Scenario("MariaDB stopped", MARIADB_ALERT, "primaries", applies=lambda b: _has("MariaDB")(b) and not _replicates(b)),
    Scenario("5000 jobs waiting in the Laravel queue", r"(?i)^(?!.*(dead|dlq|dlx)).*(queue|backlog)", "replicas",
             applies=lambda b: bool(_queue_keys(b))),
    Scenario("messages dead-lettered every minute", r"(?i)dead.?letter|dlq|dlx", "dead-letters", repeat=True,
             applies=_has("RabbitmqCluster")),
    Scenario("a certificate expiring in 2 days", r"(?i)certificate", modelled=_expiring, applies=_has("Certificate")),
]


class Faults:
    """The rig actions behind the scenarios' batches, for every stage of a run at once."""

    def __init__(self, rig: Rig, stages: list["Stage"]) -> None:
        self.rig, self.stages = rig, stages

    def inject(self, batch: str) -> None:
        rig = self.rig
        if batch == "replicas":  # a replica of each, and a backlog on the primary Redis
            rig.stop_process("redis-1")
            rig.stop_process("mariadb-1")
            for key in sorted({k for st in self.stages for k in _queue_keys(st.build)}):
                rig.redis("EVAL", "for i=1,5000 do redis.call('RPUSH', KEYS[1], '{\"job\":\"rehearsal\"}') end", "1", key)
        elif batch == "primaries":
            rig.stop_process("redis-0")
            rig.stop_process("mariadb-0")
        elif batch == "dead-letters":
            for stage in self.stages:
                before = _dead_letter_count(stage)
                _dead_letter(stage)
                # Quorum queues dead-letter at-least-once through a separate process, and the
                # statistics the plugin reports follow collect_statistics_interval: wait for both.
                for _ in range(150):
                    if _dead_letter_count(stage) > before:
                        break
                    time.sleep(0.1)

    def restore(self, batch: str) -> None:
        rig = self.rig
        if batch == "replicas":
            for key in sorted({k for st in self.stages for k in _queue_keys(st.build)}):
                rig.redis("DEL", key)
            rig.start_redis("redis-1")
            rig.start_mariadb("mariadb-1")
            wait_port(rig.ports["redis-1"], 30)
            wait_port(rig.ports["mariadb-1"], 60)
        elif batch == "primaries":
            rig.start_redis("redis-0")
            rig.start_mariadb("mariadb-0")
            wait_port(rig.ports["redis-0"], 30)
            wait_port(rig.ports["mariadb-0"], 60)


def _dead_letter(stage: "Stage") -> None:
    """One message per application queue, rejected until the delivery limit dead-letters it."""
    rig = stage.rig
    for queue in stage.app_queues:
        rig.rabbit_api(f"exchanges/{stage.vhost}/amq.default/publish", {
            "properties": {}, "routing_key": queue, "payload": "job", "payload_encoding": "string"})
        for _ in range(20):
            if not rig.rabbit_api(f"queues/{stage.vhost}/{queue}/get",
                                  {"count": 1, "ackmode": "reject_requeue_true", "encoding": "auto"}):
                break


def _dead_letter_count(stage: "Stage") -> int:
    """Messages ready in the dead-letter queues, as the broker's Prometheus plugin reports them
    now (the management API's statistics lag by seconds)."""
    url = f"http://127.0.0.1:{stage.rig.ports['rabbitmq-prometheus']}/metrics/detailed?family=queue_coarse_metrics"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback only
        text = response.read().decode()
    vhost = urllib.parse.unquote(stage.vhost)
    return sum(int(float(m.group(2))) for m in re.finditer(
        r'^rabbitmq_detailed_queue_messages_ready\{vhost="([^"]*)",queue="[^"]*"\} (\S+)$', text, re.M)
        if m.group(1) == vhost and any(f'queue="{q}"' in m.group(0) for q in stage.dead_letter_queues))


def _purge_dead_letters(stage: "Stage") -> None:
    for queue in stage.dead_letter_queues:
        stage.rig.rabbit_api(f"queues/{stage.vhost}/{queue}/contents", method="DELETE")


_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_MINUTES = {"ms": 1 / 60000, "s": 1 / 60, "m": 1, "h": 60, "d": 1440, "w": 10080, "y": 525600}


def _minutes_of(text: str) -> float:
    return sum(int(n) * _UNIT_MINUTES[u] for n, u in _DURATION.findall(text))


def horizon(build: Build) -> int:
    """Minutes each phase of the promtool series lasts: longer than the longest `for:` plus the
    longest range or subquery any rule reads, so every alert has settled by the phase's end."""
    longest_for, longest_range = 0.0, 0.0
    for _, body in rule_files(build):
        for group in body["groups"]:
            for rule in group.get("rules") or []:
                longest_for = max(longest_for, _minutes_of(str(rule.get("for", "0s"))))
                for window in re.findall(r"\[([^\]]+)\]", str(rule.get("expr", ""))):
                    longest_range = max(longest_range, sum(_minutes_of(part) for part in window.split(":")))
    return int(max(30, longest_for + longest_range + 10))


def _values(before: float | None, after: float | None, repeat: bool, healthy_steps: int, fault_steps: int) -> str:
    """promtool expanding notation: the healthy value for `healthy_steps` minutes, then the fault's."""
    def run(value: float | None, steps: int) -> str:  # `a+0xN` is N+1 samples, `_xN` N gaps
        return f"_x{steps}" if value is None else f"{_num(value)}+0x{steps - 1}"
    healthy = run(before, healthy_steps)
    if repeat and before is not None and after is not None and after != before:
        sign = "+" if after >= before else "-"
        return f"{healthy} {_num(after)}{sign}{_num(abs(after - before))}x{fault_steps - 1}"
    return f"{healthy} {run(after, fault_steps)}"


# Prometheus naming: a value that is a Unix time ends in _timestamp_seconds / _time_seconds etc.
_TIMESTAMP = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(_timestamp|_timestamp_seconds|_time|_time_seconds|_created)\{")


def _shift(series: dict[str, float], seconds: float) -> dict[str, float]:
    return {k: (v + seconds if _TIMESTAMP.match(k) else v) for k, v in series.items()}


def _num(value: float) -> str:
    """A number without an exponent: promtool's series notation reads `e+09` as an increment."""
    text = repr(value)
    return text if "e" not in text else format(value, ".12f").rstrip("0").rstrip(".")


def _minutes(total: int) -> str:
    """A duration as promtool prints it (Prometheus model.Duration: `4h29m`)."""
    hours, minutes = divmod(total, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes or not hours else "")


class Firing:
    """Which alerts fire at the end of each (healthy, fault, repeat) series set, by promtool's rule
    engine (the code Prometheus evaluates rules with). One promtool run per stack, started in the
    background; test k ends k minutes after test 0, which is how its report (which does not name
    tests) tells them apart."""

    def __init__(self, build: Build, tests: list[tuple[dict[str, float], dict[str, float], bool]], workdir: Path,
                 now: datetime) -> None:
        rules_path = workdir / "rules.yaml"
        groups = [g for _, body in rule_files(build) for g in body["groups"]]
        rules_path.write_text(yaml.safe_dump({"groups": groups}))
        alerts = sorted({str(r["alert"]) for g in groups for r in g.get("rules") or [] if r.get("alert")})
        self.count, self.ends, self.proc = len(tests), [], None
        if not alerts:
            return
        docs, phase = [], horizon(build)
        for index, (healthy, fault, repeat) in enumerate(tests):
            names = sorted(set(healthy) | set(fault))
            end = 2 * phase + index - 1
            self.ends.append(_minutes(end))
            # promtool's clock starts at 0: timestamps move so that wall-clock "now" is the eval time.
            shift = end * 60 - now.timestamp()
            healthy, fault = _shift(healthy, shift), _shift(fault, shift)
            docs.append({
                "interval": "1m",
                "input_series": [{"series": n, "values": _values(healthy.get(n), fault.get(n), repeat, phase, phase + index)}
                                 for n in names],
                "alert_rule_test": [{"eval_time": f"{end}m", "alertname": a, "exp_alerts": []} for a in alerts],
            })
        path = workdir / "alerts-test.yaml"
        path.write_text(yaml.safe_dump({"rule_files": [str(rules_path)], "evaluation_interval": "1m", "tests": docs},
                                       width=1 << 20))
        if os.environ.get("REHEARSAL_KEEP"):
            shutil.copy(path, os.environ["REHEARSAL_KEEP"])
        self.proc = subprocess.Popen(["promtool", "test", "rules", str(path)], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)

    def result(self) -> list[set[str]]:
        out: list[set[str]] = [set() for _ in range(self.count)]
        if self.proc is None:
            return out
        text, _ = self.proc.communicate(timeout=300)
        if self.proc.returncode != 0 and "FAILED" not in text:
            raise RuntimeError(f"promtool test rules could not run: {text}")
        for alert, when in re.findall(r"alertname: ([A-Za-z0-9_:]+), time: (\S+), \s*exp:\[\],\s*got:\[\s*\S", text):
            if when in self.ends:
                out[self.ends.index(when)].add(alert)
        return out


# ---- the judge ------------------------------------------------------------------------------------


def judge(build: Build) -> Verdict:
    return judge_many([build])[0]


def judge_many(builds: list[Build]) -> list[Verdict]:
    """Judge several stacks on one rig at once: their exporters and Prometheus servers run side by
    side, so Prometheus' discovery delay and each fault are paid once for all of them. Stacks that
    need a different broker-wide or Traefik setting run in separate rounds."""
    rig = Rig.shared(builds[0])
    verdicts: dict[int, Verdict] = {}
    rounds: dict[tuple[bool, tuple[str, ...]], list[int]] = {}
    for index, build in enumerate(builds):
        rounds.setdefault((_per_object(build), tuple(_traefik_flags(build))), []).append(index)
    for (per_object, flags), members in rounds.items():
        rig.set_per_object_metrics(per_object)
        rig.start_traefik(list(flags))
        stages = [Stage(builds[i], rig) for i in members]
        try:
            for index, verdict in zip(members, _round(rig, stages)):
                verdicts[index] = verdict
        finally:
            for stage in stages:
                stage.stop()
                shutil.rmtree(stage.dir, ignore_errors=True)
    return [verdicts[i] for i in range(len(builds))]


def _debug(what: str, started: float) -> None:
    if os.environ.get("REHEARSAL_DEBUG"):
        print(f"  [{time.monotonic() - started:5.1f} s] {what}", file=sys.stderr)


@dataclass
class _Checked:
    findings: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    unknown: int = 0
    uses: list[Use] = field(default_factory=list)
    modelled: dict[str, float] = field(default_factory=dict)


def _round(rig: Rig, stages: list["Stage"]) -> list[Verdict]:
    started = time.monotonic()
    shared: dict[tuple[Any, ...], str] = {}
    for stage in stages:
        _prepare_rabbitmq(stage)
        stage.start_exporters(shared)
    for _ in range(5):  # a few requests through Traefik to nginx, one failing
        rig.http("/up")
    rig.http("/boom")
    for stage in stages:
        _purge_dead_letters(stage)
        _dead_letter(stage)  # the dead-letter queue holds a message
        stage.start_prometheus()
    _debug("exporters and Prometheus started", started)
    settle(stages)  # the first scrape waits out Prometheus' target discovery (5 s)
    _debug("scraped", started)
    now = datetime.now(timezone.utc)
    checked = [_static(stage, now) for stage in stages]
    healthy = [{**stage.snapshot(c.used), **c.modelled} for stage, c in zip(stages, checked)]
    _debug("static checks", started)

    # Faults: each batch once, every stage snapshotted.
    plans = [[s for s in SCENARIOS if s.applies(stage.build)] for stage in stages]
    batches = sorted({s.batch for plan in plans for s in plan if s.batch})
    faults = Faults(rig, stages)
    before: dict[str, list[dict[str, float]]] = {}
    after: dict[str, list[dict[str, float]]] = {}
    for batch in batches:
        repeat = any(s.repeat for plan in plans for s in plan if s.batch == batch)
        before[batch] = [{**st.snapshot(c.used), **c.modelled} for st, c in zip(stages, checked)] if repeat else healthy
        faults.inject(batch)
        try:
            settle(stages)
            after[batch] = [{**st.snapshot(c.used), **c.modelled} for st, c in zip(stages, checked)]
        finally:
            faults.restore(batch)
    _debug("faults", started)

    firings = []
    for index, (stage, plan) in enumerate(zip(stages, plans)):
        tests = [(healthy[index], healthy[index], False)]
        for scenario in plan:
            if scenario.batch:
                tests.append((before[scenario.batch][index], after[scenario.batch][index], scenario.repeat))
            elif scenario.modelled:
                tests.append((healthy[index], scenario.modelled(healthy[index], now), False))
        firings.append(Firing(stage.build, tests, stage.dir, now))
    verdicts = [_verdict(stage, c, plan, f.result()) for stage, c, plan, f in zip(stages, checked, plans, firings)]
    _debug("promtool", started)
    return verdicts


def _static(stage: "Stage", now: datetime) -> _Checked:
    """Reachability of the targets, then every metric and label the rules and dashboards read."""
    build, out = stage.build, _Checked()
    for target in stage.targets:
        if target.blocked:
            out.findings.append(f"{target.monitor.ref()} ({target.monitor.origin}): pod {target.pod.namespace}/{target.pod.name} "
                                f"port {target.port_name} ({target.port}) is not scraped: {target.blocked}")
    for t in stage.api("targets", state="active")["activeTargets"]:
        if t.get("health") != "up":
            out.findings.append(f"scrape job {t['scrapePool']}: target {t['labels'].get('pod')} is {t.get('health')}: "
                                f"{t.get('lastError')}")
    if stage.fpm_problem:
        out.findings.append(f"backend web pod: {stage.fpm_problem}: every phpfpm_* series would say phpfpm_up 0")
    exposed = stage.series()
    siblings = stage.sibling_series()
    scraped = scraped_components(build, stage)
    records = recorded(build)
    out.uses = uses(build)
    for use in out.uses:
        seen_labels: set[str] = set()
        for selector in use.usage.selectors:
            name = selector.metric
            if not name or name in records:
                continue
            out.used.add(name)
            if name in exposed:
                labels, source = exposed[name], "the scraped series"
            elif use.where.startswith("dashboard ") and name in siblings:
                labels, source = siblings[name], "the series of the exporters of its kind"
            else:
                owner = catalog_owner(name)
                if owner is None:
                    out.unknown += 1
                    hint = (" (the rig's exporters of its kind expose it from a pod this stack does not run, e.g. a replica)"
                            if name in siblings else "")
                    out.findings.append(f"{use.where}: {name} is exposed by no scraped target and is in no catalog entry{hint}")
                    continue
                if owner not in scraped:
                    out.unknown += 1
                    source_ref = catalog()[owner]["source"]
                    out.findings.append(f"{use.where}: {name} comes from {owner} ({source_ref['repository']} "
                                        f"{source_ref['ref']}), which no ServiceMonitor or PodMonitor of the stack scrapes")
                    continue
                labels, source = catalog_labels(owner, name), f"the {owner} catalog entry"
            seen_labels |= labels
            missing = sorted(selector.labels - labels)
            if missing:
                out.findings.append(f"{use.where}: {name} has no label {', '.join(missing)} on {source} "
                                    f"(it has: {', '.join(sorted(labels)) or 'none'})")
        missing_group = sorted(use.usage.grouping - seen_labels - {"le"})
        if missing_group and seen_labels:
            out.findings.append(f"{use.where}: groups or joins by {', '.join(missing_group)}, a label none of its metrics has")
    out.modelled = modelled_series(build, scraped, now)
    return out


def _verdict(stage: "Stage", checked: _Checked, plan: list[Scenario], results: list[set[str]]) -> Verdict:
    findings = list(checked.findings)
    severities = {u.alert: u.severity for u in checked.uses if u.alert}
    healthy_firing = sorted(results[0])
    critical = [a for a in healthy_firing if severities.get(a) == "critical"]
    for alert in critical:
        findings.append(f"alert {alert} (critical) fires on the healthy rehearsal")
    alert_names = {u.alert for u in checked.uses if u.alert}
    alerted = 0
    for scenario, fired in zip(plan, results[1:]):
        meant = sorted(a for a in alert_names if re.search(scenario.expect, a))
        new = sorted(a for a in fired - results[0] if re.search(scenario.expect, a))
        if not meant:
            findings.append(f"scenario {scenario.name!r}: no alert is meant for it (none named /{scenario.expect}/)")
        elif not new:
            findings.append(f"scenario {scenario.name!r}: none of {', '.join(meant)} fires")
        else:
            alerted += 1
    warnings = [a for a in healthy_firing if severities.get(a) != "critical"]
    summary = (f"metrics: {len(checked.used)} metric names used, {checked.unknown} unknown; "
               f"{len(critical)} critical alerts firing on a healthy rehearsal"
               f"{' (warnings: ' + ', '.join(warnings) + ')' if warnings else ''}; "
               f"{alerted}/{len(plan)} faults alerted; "
               f"{len([t for t in stage.targets if t.rig and not t.blocked])} real targets scraped")
    return Verdict("metrics", summary, list(dict.fromkeys(findings)))


def _per_object(build: Build) -> bool:
    """`prometheus.return_per_object_metrics` in the RabbitmqCluster's additionalConfig."""
    cluster = next(build.of_kind("RabbitmqCluster"), None)
    config = str(((cluster.spec.get("rabbitmq") or {}) if cluster else {}).get("additionalConfig", ""))
    return bool(re.search(r"^\s*prometheus\.return_per_object_metrics\s*=\s*true", config, re.M))


def _traefik_flags(build: Build) -> list[str]:
    """The chart's metrics values as Traefik flags (chart 41.3.0 templates/_podtemplate.tpl)."""
    release = build.helm_releases.get("traefik") or {}
    prom = ((release.get("values") or {}).get("metrics") or {}).get("prometheus") or {}
    flags = ["--metrics.prometheus=true", "--metrics.prometheus.entryPoint=metrics"]
    for key in ("addEntryPointsLabels", "addRoutersLabels", "addServicesLabels"):
        if key in prom:
            flags.append(f"--metrics.prometheus.{key}={str(bool(prom[key])).lower()}")
    if prom.get("buckets"):
        flags.append(f"--metrics.prometheus.buckets={prom['buckets']}")
    return flags


def _prepare_rabbitmq(stage: "Stage") -> None:
    """The stack's topology as the Messaging Topology Operator declares it, in the rig's broker."""
    doc = definitions_from_objects(stage.build)
    stage.vhost = urllib.parse.quote((doc.get("vhosts") or [{"name": "/"}])[0]["name"], safe="")
    dead = {b["destination"] for b in doc.get("bindings", []) for p in doc.get("policies", [])
            if b["source"] == p["definition"].get("dead-letter-exchange")}
    stage.dead_letter_queues = sorted(dead)
    stage.app_queues = sorted(q["name"] for q in doc.get("queues", []) if q["name"] not in dead)
    stage.rig.rabbit_api("definitions", doc)
    stage.rig.rabbit_api(f"permissions/{stage.vhost}/guest", {"configure": ".*", "write": ".*", "read": ".*"}, method="PUT")
