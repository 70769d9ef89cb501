"""Compare two synth outputs: the offline plan of a change (added, removed, changed resources)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


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


def _load(directory: Path) -> dict[str, dict[str, Any]]:
    records = json.loads((directory / "resources.json").read_text())
    return {r["urn"]: r for r in records}


def diff(old_dir: Path, new_dir: Path) -> dict[str, Any]:
    """Return {"added": [urn], "removed": [urn], "changed": {urn: [key paths]}}."""
    old, new = _load(old_dir), _load(new_dir)
    changed: dict[str, list[str]] = {}
    for urn in sorted(set(old) & set(new)):
        a, b = old[urn], new[urn]
        flat_a = _flatten({k: v for k, v in a.items() if k != "urn"})
        flat_b = _flatten({k: v for k, v in b.items() if k != "urn"})
        keys = sorted(k for k in set(flat_a) | set(flat_b) if flat_a.get(k, _MISSING) != flat_b.get(k, _MISSING))
        if keys:
            changed[urn] = keys
    return {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)), "changed": changed}


_MISSING = object()


def render(result: dict[str, Any]) -> str:
    lines = []
    for urn in result["added"]:
        lines.append(f"+ {urn}")
    for urn in result["removed"]:
        lines.append(f"- {urn}")
    for urn, keys in result["changed"].items():
        lines.append(f"~ {urn}")
        lines.extend(f"    {key}" for key in keys)
    counts = f"{len(result['added'])} to add, {len(result['changed'])} to change, {len(result['removed'])} to remove"
    return "\n".join(lines + [counts])
