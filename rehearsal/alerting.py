"""Alert evaluation for the metrics judge: series in promtool's notation, the modelled series of
components that cannot run here, and which alerts fire at the end of a healthy or faulty phase
(promtool test rules: the rule engine Prometheus evaluates rules with)."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from rehearsal import promql
from rehearsal.base import Build, K8sObject, dump_yaml


def rule_files(build: Build) -> list[tuple[K8sObject, dict[str, Any]]]:
    return [(obj, {"groups": obj.spec.get("groups") or []}) for obj in build.of_kind("PrometheusRule")]



def series_text(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


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


_DURATION = re.compile(r"(\d+)(ms|[smhdwy])")
_UNIT_MINUTES = {"ms": 1 / 60000, "s": 1 / 60, "m": 1, "h": 60, "d": 1440, "w": 10080, "y": 525600}


def _minutes_of(text: str) -> float:
    return sum(int(n) * _UNIT_MINUTES[u] for n, u in _DURATION.findall(text))


# Why the healthy phase can be short: what decides whether an alert fires at the end time T.
# Prometheus v2.42.0 (the promtool here, `promtool --version`):
# - rules/alerting.go `AlertingRule.Eval`: an alert whose expression stops returning it is
#   deleted while pending and made inactive while firing (unless `keep_firing_for` holds it, for
#   at most that long); it turns firing once `ts - ActiveAt >= holdDuration` (`for:`). So it fires
#   at T iff its expression returned it at every evaluation in [T - for, T], or, with
#   keep_firing_for, it did so up to some evaluation less than keep_firing_for before T.
# - promql/engine.go `getTimeRangesForSelector`, `vectorSelectorSingle`, `matrixSelector`: an
#   evaluation at t reads samples in [t - offset - range, t - offset] for a range selector and
#   [t - offset - lookbackDelta, t - offset] for an instant selector; a subquery `[r:s] offset o`
#   evaluates its inside at steps in [t - o - r, t - o] (`subqueryTimes`), each reaching back again.
#   lookbackDelta is `defaultLookbackDelta = 5 * time.Minute`: promtool's engine
#   (promql/test.go `NewLazyLoader`) does not set one.
# - cmd/promtool/unittest.go: every rule is evaluated at every interval from 0 to the test's
#   largest eval_time, and the alerts reported are those `StateFiring` at the eval_time.
# Hence the alerts firing at T read no sample before T - (for + keep_firing_for + reach), with
# reach the furthest back an evaluation reads (`reach` below): a fault phase at least that long
# makes the healthy samples before it invisible, however many there are.
LOOKBACK_MINUTES = 5
MARGIN_MINUTES = 5  # covers the inclusive window bounds (one step) and a `for:` off the minute grid
HEALTHY_MINUTES = 5  # outside every rule's reach at the end: a few samples, so a kept test file shows the onset


def reach(expr: str, recorded: dict[str, float] | None = None) -> float:
    """Minutes before an evaluation time the earliest sample an evaluation of `expr` reads lies:
    over its selectors, the range (or the lookback delta for an instant selector) plus the
    selector's offset, plus range, step and offset of every subquery around it, plus the reach of
    a recording rule whose series it selects (`recorded`). `@` and negative offsets (which read
    fixed or later times) and ALERTS (another alert's state) are refused: no reach bounds them."""
    toks, recorded = promql.tokens(expr), recorded or {}
    inside: list[float] = [0.0]  # per open parenthesis: the furthest reach of what it holds
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else ""
        operand = None
        if kind == "ident" and text.lower() in _LABEL_LISTS and nxt == "(":
            i = _closing(toks, i + 1)  # `by (a, b)`: label names, not selectors
        elif text == "(":
            inside.append(0.0)
        elif text == ")":
            operand = inside.pop()
        elif text == "@":
            raise ValueError(f"an `@` modifier reads a fixed time, which no horizon bounds: {expr!r}")
        elif kind == "ident" and text in ("ALERTS", "ALERTS_FOR_STATE"):
            raise ValueError(f"{text} depends on other alerts' state, which the horizon does not follow: {expr!r}")
        elif text == "{":  # `{__name__="x"}`
            i, operand = _closing(toks, i), LOOKBACK_MINUTES
        elif kind == "ident" and nxt != "(" and text.lower() not in _NOT_SELECTORS:
            if nxt == "{":
                i = _closing(toks, i + 1)
            operand = LOOKBACK_MINUTES + recorded.get(text, 0.0)
        if operand is not None:
            i, operand = _modifiers(toks, i + 1, operand, expr)
            inside[-1] = max(inside[-1], operand)
            continue
        i += 1
    return inside[0]


_LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_NOT_SELECTORS = {*promql._KEYWORDS, *promql._AGGREGATIONS}  # `max by (key) (...)`: no `(` after `max`
_CLOSING = {"(": ")", "{": "}"}


def _closing(toks: list[tuple[str, str]], i: int) -> int:
    """The index of the bracket closing the one at `i`."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][1] == toks[i][1]:
            depth += 1
        elif toks[j][1] == _CLOSING[toks[i][1]]:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced {toks[i][1]!r} in PromQL")


def _modifiers(toks: list[tuple[str, str]], i: int, operand: float, expr: str) -> tuple[int, float]:
    """Apply what follows an operand: `[range]` (replaces an instant selector's lookback),
    `[range:step]` (a subquery: adds both; no step means the evaluation interval, 1m here) and
    `offset d`. Returns the index after them and the operand's reach."""
    while i < len(toks):
        kind, text = toks[i]
        if kind == "range":
            window, colon, step = text[1:-1].partition(":")
            operand = (operand + _minutes_of(window) + (_minutes_of(step) if step else 1.0) if colon
                       else operand - LOOKBACK_MINUTES + _minutes_of(window))
            i += 1
        elif kind == "ident" and text.lower() == "offset":
            i += 1
            if i < len(toks) and toks[i][1] == "-":
                raise ValueError(f"a negative offset reads samples after the evaluation time: {expr!r}")
            while i < len(toks) and toks[i][0] == "number" and _DURATION.search(toks[i][1]):
                operand += _minutes_of(toks[i][1])  # `1h30m` lexes as `1h` `30m`
                i += 1
        else:
            break
    return i, operand


def rule_groups(build: Build) -> list[dict[str, Any]]:
    return [g for _, body in rule_files(build) for g in body["groups"]]


def horizon_of(groups: list[dict[str, Any]]) -> int:
    """Minutes the fault phase of the promtool series lasts: the longest `for:` plus the longest
    `keep_firing_for` plus the furthest `reach` of any rule, plus a margin (at least 30). The sum
    of the separate maxima bounds each rule's own sum; it also keeps the phase as it was before
    offsets and the lookback were counted (their 10 minutes were then a flat margin), so the
    series that grow during the fault end at the same values."""
    rules = [rule for group in groups for rule in group.get("rules") or []]
    recorded: dict[str, float] = {}
    for rule in rules:  # in order: a recording rule may read one recorded before it
        if rule.get("record"):
            recorded[str(rule["record"])] = reach(str(rule.get("expr", "")), recorded)
    longest_for = max((_minutes_of(str(rule.get("for", "0s"))) for rule in rules), default=0.0)
    longest_keep = max((_minutes_of(str(rule.get("keep_firing_for", "0s"))) for rule in rules), default=0.0)
    furthest = max((reach(str(rule.get("expr", "")), recorded) for rule in rules), default=0.0)
    return max(30, math.ceil(longest_for + longest_keep + furthest + MARGIN_MINUTES))


def horizon(build: Build) -> int:
    return horizon_of(rule_groups(build))


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
    background. Each test holds the healthy values for `healthy` minutes, then the fault's for
    `phase` (default `horizon_of`) plus its index minutes: test k ends k minutes after test 0, which
    is how promtool's report (which does not name tests) tells them apart. promtool evaluates
    every rule at every minute up to the end, so its cost is the tests' total length; the healthy
    part lies outside every rule's reach at the end (see LOOKBACK_MINUTES), so it is short."""

    def __init__(self, groups: list[dict[str, Any]], tests: list[tuple[dict[str, float], dict[str, float], bool]],
                 workdir: Path, now: datetime, name: str = "alerts", healthy: int = HEALTHY_MINUTES,
                 phase: int | None = None) -> None:
        rules_path = workdir / f"{name}-rules.yaml"
        rules_path.write_text(dump_yaml({"groups": groups}))
        alerts = sorted({str(r["alert"]) for g in groups for r in g.get("rules") or [] if r.get("alert")})
        self.count, self.ends, self.proc = len(tests), [], None
        if not alerts:
            return
        docs, phase = [], horizon_of(groups) if phase is None else phase
        for index, (before, fault, repeat) in enumerate(tests):
            names = sorted(set(before) | set(fault))
            end = healthy + phase + index - 1
            self.ends.append(_minutes(end))
            # promtool's clock starts at 0: timestamps move so that wall-clock "now" is the eval time.
            shift = end * 60 - now.timestamp()
            before, fault = _shift(before, shift), _shift(fault, shift)
            docs.append({
                "interval": "1m",
                "input_series": [{"series": n, "values": _values(before.get(n), fault.get(n), repeat, healthy, phase + index)}
                                 for n in names],
                "alert_rule_test": [{"eval_time": f"{end}m", "alertname": a, "exp_alerts": []} for a in alerts],
            })
        path = workdir / f"{name}-test.yaml"
        path.write_text(dump_yaml({"rule_files": [str(rules_path)], "evaluation_interval": "1m", "tests": docs},
                                       width=1 << 20))
        if os.environ.get("REHEARSAL_KEEP"):
            shutil.copy(path, os.environ["REHEARSAL_KEEP"] + ("" if name == "alerts" else f".{name}"))
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




Test = tuple[dict[str, float], dict[str, float], bool]


class Firings:
    """Which alerts fire at the end of each of a stack's tests (test 0 healthy, then one per
    scenario), started in parts as their series become known: the healthy and modelled tests
    while the faults are injected, each fault batch's right after its reading. promtool is the
    judge's main CPU cost; this way it runs while the judge waits on the daemons. Each part is a
    promtool run of its own (tests are independent, so the answers are the same as in one run)."""

    def __init__(self, build: Build, workdir: Path, now: datetime, count: int) -> None:
        self.build, self.workdir, self.now, self.count = build, workdir, now, count
        self.parts: list[tuple[list[int], Firing]] = []

    def start(self, tests: dict[int, Test]) -> None:
        """Tests by their position (0 healthy, k+1 the plan's k-th scenario)."""
        if tests:
            firing = Firing(rule_groups(self.build), list(tests.values()), self.workdir, self.now, name=f"part{len(self.parts)}")
            self.parts.append((list(tests), firing))

    def result(self) -> list[set[str]]:
        out: list[set[str]] = [set() for _ in range(self.count)]
        for positions, firing in self.parts:
            for position, fired in zip(positions, firing.result()):
                out[position] = fired
        return out
