"""Compare two synth outputs: the offline plan of a change (added, removed, changed resources,
each changed key with its old and new value, and the change of the footprint).

A base is read whole into memory (`load`) before anything is written, so `--diff` may name the
very folder the new synthesis replaces (`python -m synth prod --diff build/prod`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Longest rendering of one value in a plan line; the full value is in resources.json.
_VALUE_WIDTH = 120


class BaseError(Exception):
    """The folder given as the base of a diff is not a synth output."""


@dataclass
class Snapshot:
    """One synth output as the diff needs it: resource records by URN, and the footprint."""

    records: dict[str, dict[str, Any]]
    footprint: dict[str, Any] | None = field(default=None)


def load(directory: Path) -> Snapshot:
    """Read a synth output folder; BaseError (one line) when it is missing or not one."""
    resources = directory / "resources.json"
    if not directory.is_dir():
        raise BaseError(f"--diff {directory}: no such folder (synthesize the base first: python -m synth STACK --out {directory})")
    if not resources.is_file():
        raise BaseError(f"--diff {directory}: not a synth output (no resources.json in it)")
    try:
        records = json.loads(resources.read_text())
    except json.JSONDecodeError as exc:
        raise BaseError(f"--diff {directory}: resources.json is not valid JSON ({exc})") from None
    footprint_file = directory / "footprint.json"
    footprint = json.loads(footprint_file.read_text()) if footprint_file.is_file() else None
    return Snapshot({r["urn"]: r for r in records}, footprint)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat or {prefix: {}}
    if isinstance(value, list):
        flat = {}
        for index, item in enumerate(value):
            flat.update(_flatten(item, f"{prefix}[{index}]"))
        return flat or {prefix: []}
    return {prefix: value}


_MISSING = object()


def _snapshot(source: Path | Snapshot) -> Snapshot:
    return source if isinstance(source, Snapshot) else load(source)


def diff(old_source: Path | Snapshot, new_source: Path | Snapshot) -> dict[str, Any]:
    """Return {"added": [urn], "removed": [urn], "changed": {urn: [key paths]},
    "values": {urn: {key path: (old, new)}}, "labels": {urn: label}, "footprint": change or None}.
    A key absent on one side has the value `_MISSING` there (rendered `(absent)`)."""
    old, new = _snapshot(old_source), _snapshot(new_source)
    changed: dict[str, list[str]] = {}
    values: dict[str, dict[str, tuple[Any, Any]]] = {}
    for urn in sorted(set(old.records) & set(new.records)):
        flat_a = _flatten({k: v for k, v in old.records[urn].items() if k != "urn"})
        flat_b = _flatten({k: v for k, v in new.records[urn].items() if k != "urn"})
        keys = sorted(k for k in set(flat_a) | set(flat_b) if flat_a.get(k, _MISSING) != flat_b.get(k, _MISSING))
        if keys:
            changed[urn] = keys
            values[urn] = {k: (flat_a.get(k, _MISSING), flat_b.get(k, _MISSING)) for k in keys}
    labels = {urn: _label(record) for urn, record in {**old.records, **new.records}.items()}
    return {
        "added": sorted(set(new.records) - set(old.records)),
        "removed": sorted(set(old.records) - set(new.records)),
        "changed": changed,
        "values": values,
        "labels": labels,
        "footprint": _footprint_change(old.footprint, new.footprint),
    }


def _label(record: dict[str, Any]) -> str:
    """`Deployment saas-app/backend-web` for a Kubernetes object, `Release kps` for a chart,
    `DnsRecord www` otherwise: what a reader looks for before the URN."""
    inputs = record.get("inputs") or {}
    meta = inputs.get("metadata") if isinstance(inputs.get("metadata"), dict) else None
    if "kind" in inputs and meta and meta.get("name"):
        where = f"{meta['namespace']}/" if meta.get("namespace") else ""
        return f"{inputs['kind']} {where}{meta['name']}"
    return f"{record['type'].split(':')[-1]} {inputs.get('name') or record.get('name')}"


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


def _key(path: str) -> str:
    # What the resource declares is under `inputs`; say it the way kubectl and the stack do.
    return path.removeprefix("inputs.")


def _footprint_change(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[str]:
    """Lines describing how the footprint totals moved, or [] when both are equal or unknown."""
    if not old or not new:
        return []
    from synth import capacity

    return capacity.change_lines(old, new)


def render(result: dict[str, Any]) -> str:
    lines = []
    labels = result.get("labels", {})
    for urn in result["added"]:
        lines.append(f"+ {urn}")
    for urn in result["removed"]:
        lines.append(f"- {urn}")
    for urn, keys in result["changed"].items():
        label = labels.get(urn)
        lines.append(f"~ {label}  ({urn})" if label else f"~ {urn}")
        pairs = result.get("values", {}).get(urn, {})
        for key in keys:
            if key in pairs:
                before, after = pairs[key]
                lines.append(f"    {_key(key)}: {_show(before)} -> {_show(after)}")
            else:
                lines.append(f"    {_key(key)}")
    if result.get("footprint"):
        lines.append("footprint:")
        lines.extend(f"    {line}" for line in result["footprint"])
    counts = f"{len(result['added'])} to add, {len(result['changed'])} to change, {len(result['removed'])} to remove"
    return "\n".join(lines + [counts])
