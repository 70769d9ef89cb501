"""The metrics judge's own round of the test run: the reviewed main-934f607 fixtures and the
mutated copies the metrics and tracing tests check, judged in ONE `python -m rehearsal metrics`
run of several folders (one rig of real daemons, one Prometheus discovery wait, each fault
injected once for all). It runs in the background (`metrics-round`, tests/session_share.py),
taking turns with the stacks' `rehearsal all`, so neither file pays a rig of its own. (Judging
these folders inside the stacks' run, in one round of nine Prometheus servers, was measured
slower: the round waits for its slowest server at every fault, 178 s for the suite against 151 s.)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import yaml

from rehearsal import promql
from rehearsal.base import Verdict
from tests import session_share
from tests.conftest import ROOT, STACKS
from tests.rehearsal_helpers import RIG, cli, sections, verdict_record

BASELINE = ROOT / "tests" / "fixtures" / "rehearsal" / "main-934f607"


def _mutate(source: Path, target: Path) -> str:
    """Copy a synthesis folder and rename the first metric of the first alert in a
    PrometheusRule (what a typo or an exporter upgrade does). Returns the new name."""
    shutil.copytree(source, target)
    for path in sorted((target / "manifests").rglob("PrometheusRule-*.yaml")):
        body = yaml.safe_load(path.read_text())
        for group in body["spec"]["groups"]:
            for rule in group["rules"]:
                if rule.get("alert"):
                    metric = sorted(promql.usage(rule["expr"]).metrics)[0]
                    renamed = f"{metric}_renamed"
                    rule["expr"] = rule["expr"].replace(metric, renamed)
                    path.write_text(yaml.safe_dump(body, sort_keys=False))
                    return f"alert {rule['alert']}: {renamed} is exposed by no scraped target"
    raise AssertionError("no alert to mutate")


def _mutate_dashboards(target: Path) -> None:
    """In a copied synthesis folder, make the Security dashboard ask for a label Traefik's router
    series lacks (`cod`) and the app-usage dashboard read a contract metric renamed."""
    for path in (target / "manifests" / "saas-monitoring").glob("ConfigMap-dashboard-*.yaml"):
        body = yaml.safe_load(path.read_text())
        for key, text in body["data"].items():
            if key == "security.json":
                text = text.replace('code=~\\"401|422\\"', 'cod=~\\"401|422\\"').replace('code=~"401|422"', 'cod=~"401|422"')
            if key == "app-usage.json":
                text = text.replace("app_feature_used_total", "app_feature_usage_total")
            body["data"][key] = text
        path.write_text(yaml.safe_dump(body, sort_keys=False))


def _tracing_wrong_name(target: Path) -> None:
    """rehearsal/catalog/metrics.yaml lists the collector's (v0.158.0) and Tempo's (v2.10.8) metrics;
    a name without the Prometheus exporter's `_total` suffix is what a rule written from the
    collector's documentation.md would read, and no target exposes it (tests/test_tracing.py)."""
    rule = target / "manifests" / "saas-tracing" / "PrometheusRule-saas-tracing.yaml"
    rule.write_text(rule.read_text().replace("otelcol_exporter_send_failed_spans_total[5m]",
                                             "otelcol_exporter_send_failed_spans[5m]"))


# The copies of today's staging, each with its mutation: tests/test_rehearsal_metrics.py reads
# `mutated` (its expected finding under `mutated-expected`), tests/test_tracing.py `tracing-wrong-name`.
def _mutated(target: Path, staging: Path) -> str:
    expected = _mutate(staging, target)
    _mutate_dashboards(target)  # the same copy also gets broken Security and app-usage panels
    return expected


def _copied(change: Callable[[Path], None]) -> Callable[[Path, Path], str]:
    def make(target: Path, staging: Path) -> str:
        shutil.copytree(staging, target)
        change(target)
        return ""
    return make


MUTATIONS: dict[str, Callable[[Path, Path], str]] = {"mutated": _mutated, "tracing-wrong-name": _copied(_tracing_wrong_name)}
ROUND_OF_THIS_FILE = {*(f"baseline-{s}" for s in STACKS), "mutated"}


def _judge_round() -> dict[str, Any]:
    """The round's folders (the reviewed fixtures, the mutated copies made now) by name, the
    finding `mutated` must show, and the metrics judge's text for each folder from one
    `python -m rehearsal metrics` of them all."""
    staging = Path(session_share.result("synthesized")["staging"]["out"])
    folders: dict[str, str] = {f"baseline-{s}": str(BASELINE / s) for s in STACKS}
    expected: dict[str, str] = {}
    for name, make in MUTATIONS.items():
        target = session_share.root() / "metrics-round" / name
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        expected[name] = make(target, staging)
        folders[name] = str(target)
    started = time.monotonic()
    with session_share.exclusive(RIG):  # one background rig at a time
        texts = sections(cli("metrics", *map(Path, folders.values())).stdout)
    return {"folders": folders, "expected": expected["mutated"], "seconds": time.monotonic() - started,
            "texts": {name: texts.get(folder, "") for name, folder in folders.items()}}


session_share.register("metrics-round", _judge_round)


def verdict(name: str) -> Verdict:
    """The metrics judge's verdict on the round's folder `name`."""
    return Verdict(**verdict_record("metrics", session_share.result("metrics-round")["texts"][name]))
