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
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable


from rehearsal import fastcgi, promql, scrape
from rehearsal.base import Build, Verdict, dump_yaml, load_yaml
from rehearsal.inventory import dig
from rehearsal.alerting import Firings, modelled_series, rule_files, series_text
from rehearsal.faults import SCENARIOS, Faults, Scenario, _dead_letter, _purge_dead_letters
from rehearsal.rabbit_definitions import definitions_from_objects
from rehearsal.ports import free_port
from rehearsal.rig import EXPORTER_PASSWORD, REDIS_PASSWORD, Rig, wait_port
from rehearsal.settle import SCRAPE_INTERVAL, backend_down, observe

CATALOG = Path(__file__).parent / "catalog" / "metrics.yaml"


@lru_cache(maxsize=1)
def catalog() -> dict[str, Any]:
    return dict(load_yaml(CATALOG.read_text())["components"])


# ---- what the stack reads ----------------------------------------------------------------------


@dataclass
class Use:
    """One expression that reads metrics: an alert or recording rule, or a dashboard panel."""

    where: str  # "PrometheusRule ns/name alert X" or "dashboard F panel P"
    expr: str
    usage: promql.Usage
    alert: str = ""
    severity: str = ""

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
        extra = dig(chart.get("values") or {}, pods["labels_value"]) if chart and pods.get("labels_value") else None
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
            if kps is not None and dig(kps.get("values") or {}, how["kps_value"]) is not False:
                out[name] = f"kube-prometheus-stack {how['kps_value']}"
            continue
        chart = build.helm_releases.get(how.get("chart", "")) if how.get("chart") else None
        for dotted in how.get("chart_values") or [] if chart else []:
            if dig(chart.get("values") or {}, dotted):
                out[name] = f"chart value {dotted}"
        pods = how.get("pods") or {}
        for target in stage.targets:
            if target.pod.origin == f"catalog:{name}" and not target.blocked:
                out[name] = target.monitor.ref()
            elif not pods.get("labels") and pods.get("port") and target.port_name == pods["port"] and not target.blocked:
                out[name] = target.monitor.ref()  # a sidecar: any scraped pod port of that name
    return out


# kube-state-metrics' custom-resource metrics are defined by the stack itself (the
# `customResourceState` config it gives the kube-prometheus-stack release): each metric is
# `<metricNamePrefix>_<name>` (default prefix `kube_customresource`) with the labels of the
# resource's and the metric's `labelsFromPath` plus the group/version/kind labels KSM adds
# (kubernetes/kube-state-metrics v2.20.0 pkg/customresourcestate/config.go `FullName`,
# registry_factory.go; docs/metrics/extend/customresourcestate-metrics.md).
KSM_CUSTOM_RESOURCE_LABELS = {"customresource_group", "customresource_version", "customresource_kind"}


def custom_resource_metrics(build: Build) -> dict[str, set[str]]:
    kps = next((r for r in build.helm_releases.values() if r.get("chart") == "kube-prometheus-stack"), None)
    state = dig((kps or {}).get("values") or {}, "kube-state-metrics.customResourceState") or {}
    if not isinstance(state, dict) or not state.get("enabled"):
        return {}
    out: dict[str, set[str]] = {}
    for resource in (((state.get("config") or {}).get("spec") or {}).get("resources") or []):
        prefix = resource.get("metricNamePrefix", "kube_customresource")
        common = set(resource.get("labelsFromPath") or {})
        for metric in resource.get("metrics") or []:
            each = metric.get("each") or {}
            kind = str(each.get("type", "")).lower()
            specific = set((each.get(kind) or {}).get("labelsFromPath") or {})
            name = f"{prefix}_{metric['name']}" if prefix else str(metric["name"])
            out[name] = common | specific | KSM_CUSTOM_RESOURCE_LABELS
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
        # The durable store `redis` (queues, sessions): the one whose exporter reports the queues.
        replication = next((r for r in self.build.of_kind("RedisReplication") if r.name == "redis"), None)
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
            wait_port(rig.ports["nginx-status"], 60)  # the exporter exits unless nginx answers at once
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
        (self.dir / "prometheus.yml").write_text(dump_yaml(config))
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
        for name in reversed(self.procs):  # killed: their folder is removed next
            self.rig.stop_process(f"{self.dir.name}-{name}", kill=True)
        self.procs.clear()


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

# ---- the judge ------------------------------------------------------------------------------------


def judge(build: Build) -> Verdict:
    return judge_many([build])[0]


def judge_many(builds: list[Build]) -> list[Verdict]:
    """Judge several stacks on one rig at once: their exporters and Prometheus servers run side by
    side, so Prometheus' discovery delay and each fault are paid once for all of them. Stacks that
    need a different broker-wide or Traefik setting run in separate rounds."""
    # The daemons boot while each round's exporters and Prometheus start: Prometheus' target
    # discovery delay (5 s) passes meanwhile; the round waits for the rig before it needs it.
    rig = Rig.shared(builds[0], wait=False)
    verdicts: dict[int, Verdict] = {}
    rounds: dict[tuple[bool, tuple[str, ...]], list[int]] = {}
    for index, build in enumerate(builds):
        rounds.setdefault((_per_object(build), tuple(_traefik_flags(build))), []).append(index)
    for (per_object, flags), members in rounds.items():
        stages = [Stage(builds[i], rig) for i in members]
        try:
            for index, verdict in zip(members, _round(rig, stages, per_object, list(flags))):
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


def _round(rig: Rig, stages: list["Stage"], per_object: bool, traefik_flags: list[str]) -> list[Verdict]:
    started = time.monotonic()
    shared: dict[tuple[Any, ...], str] = {}
    for stage in stages:  # exporters answer (with *_up 0) before their daemons do
        stage.start_exporters(shared)
        stage.start_prometheus()
    _debug("exporters and Prometheus started", started)
    rig.ready()
    rig.allow_scrapers(len(stages))
    rig.set_per_object_metrics(per_object)
    rig.start_traefik(traefik_flags)
    _debug("rig ready", started)
    for stage in stages:
        _prepare_rabbitmq(stage)
    for _ in range(5):  # a few requests through Traefik to nginx, one failing
        rig.http("/up")
    rig.http("/boom")
    for stage in stages:
        _purge_dead_letters(stage)
        _dead_letter(stage)  # the dead-letter queue holds a message
    now = datetime.now(timezone.utc)

    def static_and_healthy(stage: "Stage") -> tuple[_Checked, dict[str, float]]:
        found = _static(stage, now)
        return found, {**stage.snapshot(found.used), **found.modelled}

    observed = observe(stages, static_and_healthy, suspect=lambda seen: backend_down(seen[1]))  # type: ignore[arg-type]
    checked, healthy = [found for found, _ in observed], [series for _, series in observed]
    by_stage = {id(stage): found for stage, found in zip(stages, checked)}

    def reading(stage: "Stage") -> dict[str, float]:
        found = by_stage[id(stage)]
        return {**stage.snapshot(found.used), **found.modelled}

    _debug("scraped, static checks", started)

    # Faults: each batch once, every stage snapshotted; promtool starts on each part as it is known.
    plans = [[s for s in SCENARIOS if s.applies(stage.build)] for stage in stages]
    firings = [Firings(stage.build, stage.dir, now, len(plan) + 1) for stage, plan in zip(stages, plans)]
    for index, (firing, plan) in enumerate(zip(firings, plans)):
        firing.start({0: (healthy[index], healthy[index], False)} | {
            k + 1: (healthy[index], s.modelled(healthy[index], now), False)
            for k, s in enumerate(plan) if not s.batch and s.modelled})
    batches = sorted({s.batch for plan in plans for s in plan if s.batch})
    faults = Faults(rig, stages)
    for batch in batches:
        repeat = any(s.repeat for plan in plans for s in plan if s.batch == batch)
        before = [reading(stage) for stage in stages] if repeat else healthy
        faults.inject(batch)
        try:
            after = observe(stages, reading)  # type: ignore[arg-type]
        finally:
            faults.restore(batch)
        for index, (firing, plan) in enumerate(zip(firings, plans)):
            firing.start({k + 1: (before[index], after[index], s.repeat) for k, s in enumerate(plan) if s.batch == batch})
    _debug("faults", started)
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
    custom = custom_resource_metrics(build)
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
            elif name in custom and "kube-state-metrics" in scraped:
                labels, source = custom[name], "the stack's kube-state-metrics customResourceState"
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
