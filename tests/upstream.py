"""Validation against upstream data: CRD schemas and Helm chart values of the pinned versions.

The files are vendored in `upstream/` (see its README and `sources.json`: source URL, tag, commit
and license per file), so every check runs on a user's clone too: none skips.

- `crd_errors(obj)`: validate a custom resource against its CRD's openAPIV3Schema, with every
  object schema that lists `properties` closed to unknown fields (unless it says
  `x-kubernetes-preserve-unknown-fields` or sets `additionalProperties`), so a typo fails.
- `chart_schema_errors(chart, values)`: validate values merged over the chart's `values.yaml`
  against its `values.schema.json`, as `helm install` does.
- `unknown_value_paths(chart, values, free_form=...)`: key paths we set that do not exist in the
  chart's `values.yaml` (for charts without a schema). Empty maps upstream are free-form.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema
import yaml

from tests.conftest import ROOT

UPSTREAM = ROOT / "upstream"
SOURCES: list[dict[str, str]] = json.loads((UPSTREAM / "sources.json").read_text())


def require_upstream() -> None:
    """The vendored data is part of the repository: its absence is a failure, never a skip."""
    assert UPSTREAM.is_dir(), f"vendored upstream data missing at {UPSTREAM}"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """PyYAML (YAML 1.1) reads the bare enum value `=` as a special tag; keep it a string."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# ------------------------------------------------------------------------------------------
# CRDs
# ------------------------------------------------------------------------------------------


def _close(schema: Any) -> Any:
    """Close object schemas to unknown fields; fix Go-style inline `(?i)` regex flags."""
    if isinstance(schema, dict):
        out = {k: _close(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        pattern = out.get("pattern")
        if isinstance(pattern, str) and "(?i)" in pattern and not pattern.startswith("(?i)"):
            out["pattern"] = "(?i)" + pattern.replace("(?i)", "")
        if out.get("x-kubernetes-int-or-string") and "anyOf" not in out and "type" not in out:
            out["type"] = ["integer", "string"]
        return out
    if isinstance(schema, list):
        return [_close(v) for v in schema]
    return schema


def _apply_patch(document: dict[str, Any], operations: Iterable[Mapping[str, Any]]) -> None:
    """The RFC 6902 `add`/`replace` operations KEDA's kustomize patches use."""
    for op in operations:
        if op["op"] not in ("add", "replace"):
            raise ValueError(f"unsupported patch op {op['op']}")
        *parents, leaf = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target: Any = document
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if isinstance(target, list):
            target.insert(int(leaf), op["value"])
        else:
            target[leaf] = op["value"]


@lru_cache(maxsize=None)
def _crd_files() -> dict[str, list[Path]]:
    """CRD files by API group (read only the `spec.group` line, not the whole file)."""
    by_group: dict[str, list[Path]] = {}
    for path in sorted((UPSTREAM / "crds").glob("*/*.yaml")):
        match = re.search(r"^  group: (\S+)$", path.read_text(), re.MULTILINE)
        if match:
            by_group.setdefault(match.group(1), []).append(path)
    return by_group


@lru_cache(maxsize=None)
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The closed schema for `apiVersion`/`kind`; KeyError when no upstream CRD has it."""
    group, _, version = api_version.rpartition("/")
    for path in _crd_files().get(group, []):
        crd = load_yaml(path)
        if crd["spec"]["names"]["kind"] != kind:
            continue
        patch = path.parent / "patches" / f"{crd['spec']['names']['singular']}_patch.yaml"
        if patch.is_file():
            _apply_patch(crd, load_yaml(patch))
        for entry in crd["spec"]["versions"]:
            if entry["name"] == version and entry.get("served", True):
                return _close(entry["schema"]["openAPIV3Schema"])
        raise KeyError(f"{kind}: CRD has no served version {version}")
    raise KeyError(f"no upstream CRD for {api_version} {kind}")


def is_custom_resource(obj: Mapping[str, Any]) -> bool:
    group = obj.get("apiVersion", "").rpartition("/")[0]
    return "." in group and not group.endswith(".k8s.io")


def crd_errors(obj: Mapping[str, Any]) -> list[str]:
    """Every schema violation of a custom resource, as `kind/name: path: message`."""
    require_upstream()
    schema = crd_schema(obj["apiVersion"], obj["kind"])
    validator = jsonschema.Draft7Validator(schema)
    name = f"{obj['kind']}/{obj.get('metadata', {}).get('name')}"
    errors = [
        f"{name}: {'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(obj)
    ]
    if not obj.get("metadata", {}).get("name"):
        errors.append(f"{name}: metadata.name is missing")
    return sorted(errors)


def custom_resource_errors(manifests: Iterable[Mapping[str, Any]]) -> tuple[int, list[str]]:
    """Validate every custom resource among `manifests` (e.g. `m for _, m in stack.manifests()`);
    return (how many were checked, every error). Built-in kinds are skipped."""
    require_upstream()
    checked, errors = 0, []
    for manifest in manifests:
        if is_custom_resource(manifest):
            errors += crd_errors(manifest)
            checked += 1
    return checked, errors


# ------------------------------------------------------------------------------------------
# Helm chart values
# ------------------------------------------------------------------------------------------


def chart_dir(chart: str) -> Path:
    require_upstream()
    path = UPSTREAM / "charts" / chart
    assert path.is_dir(), f"no upstream data for chart {chart}"
    return path


# Charts whose Chart.yaml in git carries a placeholder the release tool fills in (cert-manager).
_PLACEHOLDER_VERSIONS = {"v0.0.0", "0.0.0"}


def chart_version(chart: str) -> str:
    """The chart version of the vendored upstream data. Where Chart.yaml holds a release-time
    placeholder, the tag the files were copied from (upstream README's file table) is it."""
    version = str(load_yaml(chart_dir(chart) / "Chart.yaml")["version"])
    if version not in _PLACEHOLDER_VERSIONS:
        return version
    refs = [e["ref"] for e in SOURCES if e["path"] == f"charts/{chart}/Chart.yaml"]
    assert refs, f"{chart}: Chart.yaml has placeholder version {version} and upstream/sources.json names no tag"
    return refs[0]


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return copy.deepcopy(override)


def chart_schema_errors(chart: str, values: Mapping[str, Any]) -> list[str]:
    """Violations of the chart's values.schema.json by values merged over its defaults."""
    directory = chart_dir(chart)
    schema = json.loads((directory / "values.schema.json").read_text())
    defaults = load_yaml(directory / "values.yaml") or {}
    merged = _merge(defaults, dict(values))
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    if schema.get("$schema", "").startswith("https://json-schema.org/schema"):
        cls = jsonschema.Draft202012Validator  # graylog's unversioned URI: latest draft, as jsonschema does
    validator = cls(schema)
    return sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(merged)
    )


def unknown_value_paths(
    chart: str, values: Mapping[str, Any], free_form: Iterable[str] = ()
) -> list[str]:
    """Key paths in `values` that the chart's values.yaml does not have.

    A path is accepted where upstream has an empty map or a list there (free-form by design),
    or where it starts with one of `free_form` (maps the chart templates verbatim, such as
    `podAnnotations` or a subchart's values that upstream does not ship).
    """
    defaults = load_yaml(chart_dir(chart) / "values.yaml") or {}
    prefixes = tuple(free_form)
    unknown: list[str] = []

    def walk(ours: Any, theirs: Any, path: str) -> None:
        if not isinstance(ours, dict):
            return
        for key, value in ours.items():
            here = f"{path}.{key}" if path else str(key)
            if any(here == p or here.startswith(p + ".") for p in prefixes):
                continue
            if not isinstance(theirs, dict) or key not in theirs:
                unknown.append(here)
                continue
            upstream = theirs[key]
            if isinstance(upstream, dict) and upstream:
                walk(value, upstream, here)

    walk(values, defaults, "")
    return sorted(unknown)
