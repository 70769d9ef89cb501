"""Run `__main__.py` under mocks and turn what it registered into the synth outputs."""

from __future__ import annotations

import gc
import json
import runpy
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Collection

import orjson
import pulumi
import yaml

from components import k8s as kube
from synth import stackfile, yaml_v2
from synth.mocks import REDACTED, RecordingMonitor, Registration, SynthMocks, normalize, redact, skip_source_positions

ROOT = Path(__file__).resolve().parent.parent
PROJECT = stackfile.PROJECT

# libyaml's emitter (yaml.CSafeDumper) writes every manifest and Helm file: PyYAML's pure-Python
# one is ten times slower. The two differ only on lines over 80 columns (PyYAML also wraps a long
# double-quoted scalar after escapes, and counts the implicit `!!str` tag towards the
# 128-character simple-key limit); the files are not kept byte-compatible with PyYAML's, only
# equal in content (tests/test_performance.py). PyYAML without libyaml falls back to SafeDumper.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_ORJSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE

# Kubernetes resource types that are not API objects themselves.
_NOT_MANIFESTS = ("kubernetes:helm.sh/v3:Release", "kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml/v2:ConfigGroup")


class SynthError(Exception):
    """The program registered something the engine would refuse (for example a duplicate URN)."""


@dataclass
class Synthesis:
    stack: str
    config: dict[str, str]
    registrations: list[Registration]
    outputs: dict[str, Any]
    sdk_imports: list[str]
    secret_keys: list[str] = field(default_factory=list)
    # One line per required secret the stack file does not set (stackfile.fill_required_secrets).
    unset_secrets: list[str] = field(default_factory=list)

    @property
    def environment(self) -> str:
        return self.config.get(f"{PROJECT}:environment", "")


def synthesize(
    stack: str, root: Path = ROOT, stack_file: Path | None = None, program_file: Path | None = None
) -> Synthesis:
    """Run the program for `stack` in this process. Mocks are process-global: one call per process."""
    config, secret_keys = stackfile.load(stack_file or root / f"Pulumi.{stack}.yaml")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    # Secrets the config needs but the stack file leaves unset: placeholders here, and a line
    # in the deploy-readiness warnings synth prints (synth/readiness.py).
    unset_secrets = stackfile.fill_required_secrets(config, secret_keys)
    pulumi.runtime.set_all_config(config, secret_keys)
    mocks = SynthMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    skip_source_positions()
    # Parsed and dumped YAML is kept across syntheses (components/k8s.py YamlMemo).
    kube.YAML_MEMO.folder = root / "build" / ".cache" / "yaml"
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))

    outputs: dict[str, Any] = {}

    async def collect_outputs() -> None:
        stack_resource = pulumi.runtime.get_root_resource()
        for key, value in sorted(getattr(stack_resource, "outputs", {}).items()):
            output = pulumi.Output.from_input(value)
            resolved = await output.future()
            outputs[key] = REDACTED if await output.is_secret() else normalize(redact(resolved))

    def program() -> Any:
        runpy.run_path(str(program_file or root / "__main__.py"), run_name="__main__")
        # The program's imports are done: what they allocated (the SDK modules, ~150k objects
        # for dev, ~450k with the cloud SDKs) lives until exit. Freezing it keeps the cyclic
        # collector's full passes during the rest of the synthesis (the SDK's registrations,
        # the writing) from walking it again and again: 0.2 s of a dev synthesis, 0.6 s of
        # staging's. The CLI kept the collector off during the imports (synth/__main__.py):
        # from here on the registrations make short-lived cycles (futures, tasks), so it is on.
        gc.freeze()
        gc.enable()
        return collect_outputs()

    pulumi.runtime.test(program)()
    # The objects of provider-side yaml/v2 components, as the provider would register them.
    registrations = yaml_v2.expand(monitor.registrations, root)
    _check_unique(registrations)
    # Which provider SDKs the program pulled in (a stack with the edge off must not pay for
    # pulumi_aws / pulumi_cloudflare); taken before synth imports the policy pack.
    sdk_imports = sorted({m.split(".")[0] for m in sys.modules if m.startswith("pulumi")})
    return Synthesis(stack, config, registrations, outputs, sdk_imports, secret_keys, unset_secrets)


def imported_modules(skip: Collection[str] = ()) -> list[str]:
    """Every module imported so far that is not the project's own, in import order: what a
    synthesis cannot avoid loading, so `make bench` times a bare import of them as the floor.
    Project modules (files under ROOT outside a virtualenv) are the work being measured;
    modules without a spec (Cython's `_cython_3_x` shims) cannot be imported by name. `skip`:
    names not to report (the tests' fork server passes what it had already imported, sparing a
    path lookup for each of the thousands of cloud SDK modules)."""
    root = ROOT.resolve()
    names = []
    for name, module in list(sys.modules.items()):
        if name in skip or name in ("__main__", "__mp_main__") or getattr(module, "__spec__", None) is None:
            continue
        origin = getattr(module, "__file__", None)
        if origin:
            path = Path(origin).resolve()
            if path.is_relative_to(root) and "site-packages" not in path.parts:
                continue
        names.append(name)
    return names


def _check_unique(registrations: list[Registration]) -> None:
    urns = Counter(r.urn for r in registrations)
    duplicates = sorted(urn for urn, count in urns.items() if count > 1)
    if duplicates:
        raise SynthError("duplicate resource URNs (the engine would refuse them): " + ", ".join(duplicates))
    identities = Counter(manifest_identity(r) for r in registrations if is_manifest(r))
    clashes = sorted("/".join(i) for i, count in identities.items() if count > 1)
    if clashes:
        raise SynthError("two resources declare the same Kubernetes object: " + ", ".join(clashes))


def is_manifest(r: Registration) -> bool:
    return r.custom and r.type.startswith("kubernetes:") and r.type not in _NOT_MANIFESTS and "kind" in r.inputs


def manifest_identity(r: Registration) -> tuple[str, str, str, str]:
    meta = r.inputs.get("metadata") or {}
    return (r.inputs.get("apiVersion", ""), r.inputs["kind"], meta.get("namespace") or "_cluster", str(meta.get("name")))


# ------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------


def resource_records(synthesis: Synthesis) -> list[dict[str, Any]]:
    records = [
        {
            "type": r.type,
            "name": r.name,
            "urn": r.urn,
            "parent": r.parent,
            "custom": r.custom,
            "protect": r.protect,
            "retainOnDelete": r.retain_on_delete,
            "dependencies": r.dependencies,
            "inputs": r.inputs,
            "provider": r.provider,
            **({"customTimeouts": r.custom_timeouts} if r.custom_timeouts else {}),
        }
        for r in synthesis.registrations
    ]
    return sorted(records, key=lambda rec: rec["urn"])


def _dump_json(path: Path, value: Any) -> None:
    """`json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)` and a newline, written
    by orjson: the stdlib's encoder runs in pure Python once `indent` is set (~0.035 s for a
    resources.json of 250 resources against ~0.003 s). orjson writes the same bytes for these
    values (tests/test_performance.py); what it refuses (a key that is not a string, an integer
    over 64 bits) goes through the stdlib."""
    try:
        path.write_bytes(orjson.dumps(value, option=_ORJSON_OPTIONS))
    except TypeError:  # orjson.JSONEncodeError
        path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def dump_yaml(value: Any) -> str:
    """A manifest or Helm release file: keys sorted, block style (reviewable diffs), libyaml's
    text; an object dumped by an earlier synthesis is not dumped again (kube.YamlMemo: most of
    a stack's ~250 objects do not change from one synthesis to the next)."""
    key = kube.marshal_key(value) if kube.YAML_MEMO.folder else None
    if key is None:
        return _dump_sorted(value)
    return kube.YAML_MEMO("dump_sorted", key, lambda: _dump_sorted(value))


def _dump_sorted(value: Any) -> str:
    return yaml.dump(value, Dumper=_DUMPER, sort_keys=True, default_flow_style=False)


@dataclass
class Written:
    """What `write` wrote into manifests/ and helm/, in path order (as the folder lists them):
    the footprint reads these instead of parsing the files again."""

    manifests: list[dict[str, Any]]
    releases: list[dict[str, Any]]


def write(synthesis: Synthesis, findings: list[dict[str, Any]], out: Path) -> Written:
    """Write resources.json, manifests/, helm/, outputs.json and policy-report.json into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("manifests", "helm"):
        for old in sorted((out / sub).glob("**/*"), reverse=True) if (out / sub).exists() else []:
            old.unlink() if old.is_file() else old.rmdir()
    _dump_json(out / "resources.json", resource_records(synthesis))
    _dump_json(out / "outputs.json", synthesis.outputs)
    _dump_json(out / "policy-report.json", findings)
    manifests: dict[Path, dict[str, Any]] = {}
    releases: dict[Path, dict[str, Any]] = {}
    for r in synthesis.registrations:
        if is_manifest(r):
            _, kind, namespace, name = manifest_identity(r)
            target = out / "manifests" / namespace / f"{kind}-{name}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dump_yaml(r.inputs))
            manifests[target] = r.inputs
        elif r.type == "kubernetes:helm.sh/v3:Release":
            release = {key: r.inputs.get(key) for key in ("name", "namespace", "chart", "version", "repositoryOpts", "values")}
            target = out / "helm" / f"{r.inputs.get('name', r.name)}.yaml"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dump_yaml(release))
            releases[target] = release
    return Written([manifests[p] for p in sorted(manifests)], [releases[p] for p in sorted(releases)])


def tree(synthesis: Synthesis) -> str:
    """A short tree: each component with the counts of the resource types directly under it,
    Helm releases by name, chart and version. Children are ordered by type and name, not by
    registration (which varies with the async scheduling of a run), so the tree is stable."""
    by_parent: dict[str | None, list[Registration]] = {}
    for r in synthesis.registrations:
        by_parent.setdefault(r.parent, []).append(r)
    stack_urn = next((p for p in by_parent if p and p.split("::")[2] == "pulumi:pulumi:Stack"), None)
    lines = [f"{PROJECT} / {synthesis.stack}: {len(synthesis.registrations)} resources"]

    def walk(parent: str | None, depth: int) -> None:
        indent = "  " * depth
        children = sorted(by_parent.get(parent, []), key=lambda r: (r.type, r.name))
        releases = [r for r in children if r.type == _RELEASE]
        counts = Counter(r.type.split(":")[-1] for r in children if r.custom and r.type != _RELEASE)
        if counts:
            summary = ", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in sorted(counts.items()))
            lines.append(f"{indent}  {summary}")
        for release in releases:
            lines.append(f"{indent}  Release {release_label(release.inputs, release.name)}")
        for component in (r for r in children if not r.custom):
            lines.append(f"{indent}- {component.type.split(':')[-1]} {component.name}")
            walk(component.urn, depth + 1)

    walk(stack_urn, 0)
    return "\n".join(lines)


_RELEASE = "kubernetes:helm.sh/v3:Release"


def release_label(inputs: dict[str, Any], fallback: str) -> str:
    """`kps: kube-prometheus-stack 88.5.3 in saas-monitoring`."""
    name = inputs.get("name") or fallback
    chart = str(inputs.get("chart") or "?").rsplit("/", 1)[-1]
    where = f" in {inputs['namespace']}" if inputs.get("namespace") else ""
    return f"{name}: {chart} {inputs.get('version') or '(unpinned)'}{where}"
