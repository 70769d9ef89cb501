"""What every judge shares: the synthesis folder it reads and the verdict it returns."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

# RUNTIME_OBJECTS: the ConfigMap annotation naming the data key with manifests a Job of the
# stack creates at run time. Defined in the synthesizer (synth never imports the judges).
from synth.footprint import RUNTIME_OBJECTS, runtime_objects  # noqa: F401

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# The judges read catalogs and manifests and write configuration for real programs (np-guard's
# nca, promtool, Traefik, Prometheus) many times per run: with libyaml's parser and emitter
# instead of PyYAML's pure-Python ones (yaml.safe_dump was ~0.3 s of every network judge run).
# Same values as yaml.safe_load/safe_dump; libyaml's text differs only in how lines over 80
# columns wrap, which the programs reading it do not see.
def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader


def load_yaml_all(text: str) -> list[Any]:
    return list(yaml.load_all(text, Loader=_Loader))  # noqa: S506 - a safe loader


def dump_yaml(value: Any, **options: Any) -> str:
    """`yaml.safe_dump(value, **options)` by libyaml's emitter."""
    return yaml.dump(value, Dumper=_Dumper, **options)


class JudgeUnavailable(Exception):
    """The judge cannot run here: a tool is missing. The message says which and how to install it."""


@dataclass
class Verdict:
    """What a judge found. `findings` are one-line defects; `summary` is the counting last line
    (for example `network: 212/212 required flows allowed, 766/766 forbidden flows denied`)."""

    judge: str
    summary: str
    findings: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0


class Tally:
    """Checks counted per category (`hosts 4/4, ...`), with a finding line for each that failed."""

    def __init__(self) -> None:
        self.findings: list[str] = []
        self.counts: dict[str, list[int]] = {}

    def check(self, category: str, ok: bool, finding: str) -> bool:
        passed, total = self.counts.setdefault(category, [0, 0])
        self.counts[category] = [passed + int(ok), total + 1]
        if not ok:
            self.findings.append(finding)
        return ok

    def counted(self) -> str:
        return ", ".join(f"{category} {passed}/{total}" for category, (passed, total) in self.counts.items())


@dataclass(frozen=True)
class K8sObject:
    """One Kubernetes object of the synthesis (`manifests/<namespace>/<Kind>-<name>.yaml`)."""

    body: dict[str, Any]
    path: Path

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str(self.body.get("metadata", {}).get("name", ""))

    @property
    def namespace(self) -> str:
        return str(self.body.get("metadata", {}).get("namespace") or "")

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.body.get("metadata", {}).get("labels") or {})

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.body.get("spec") or {})

    def ref(self) -> str:
        """`Kind namespace/name` (or `Kind name` when cluster-scoped), for finding lines."""
        return f"{self.kind} {self.namespace + '/' if self.namespace else ''}{self.name}"




class Build:
    """A synthesis output folder, read-only. Every judge reads the stack only through this."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        if not (self.dir / "resources.json").is_file():
            raise FileNotFoundError(f"{self.dir} is not a synthesis output folder (no resources.json)")

    @cached_property
    def resources(self) -> list[dict[str, Any]]:
        return json.loads((self.dir / "resources.json").read_text())

    @cached_property
    def by_urn(self) -> dict[str, dict[str, Any]]:
        return {r["urn"]: r for r in self.resources}

    @cached_property
    def stack(self) -> str:
        """The stack name, from the URNs (`urn:pulumi:<stack>::<project>::...`)."""
        for r in self.resources:
            return str(r["urn"].split(":")[2])
        return self.dir.name

    @cached_property
    def outputs(self) -> dict[str, Any]:
        path = self.dir / "outputs.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @cached_property
    def objects(self) -> list[K8sObject]:
        """Every object of the synthesis, plus the objects a Job creates at run time from a
        ConfigMap (annotation RUNTIME_OBJECTS names the data key; e.g. the recovery drill's
        scratch MariaDB): the judges see them as the cluster will while the Job runs."""
        out: list[K8sObject] = []
        root = self.dir / "manifests"
        for path in sorted(root.rglob("*.yaml")) if root.is_dir() else []:
            for doc in yaml.load_all(path.read_text(), Loader=_Loader):
                if isinstance(doc, dict) and doc.get("kind"):
                    out.append(K8sObject(doc, path))
                    out.extend(K8sObject(embedded, path) for embedded in runtime_objects(doc))
        return out

    def of_kind(self, *kinds: str) -> Iterator[K8sObject]:
        return (o for o in self.objects if o.kind in kinds)

    def find(self, kind: str, namespace: str, name: str) -> K8sObject | None:
        return next((o for o in self.objects if (o.kind, o.namespace, o.name) == (kind, namespace, name)), None)

    @cached_property
    def helm_releases(self) -> dict[str, dict[str, Any]]:
        """Helm releases by release name: `chart`, `version`, `namespace`, `values`, ..."""
        root = self.dir / "helm"
        out: dict[str, dict[str, Any]] = {}
        for path in sorted(root.glob("*.yaml")) if root.is_dir() else []:
            body = yaml.load(path.read_text(), Loader=_Loader) or {}
            out[str(body.get("name") or path.stem)] = body
        return out


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels + matchExpressions) against a label set, as the
    API server evaluates it: an empty or missing selector selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), [str(v) for v in expr.get("values") or []]
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True
