"""The footprint of a synthesis as a user sees it: `footprint.json`, the lines synth prints,
the smallest node group that holds it, and how a change moves it (`--diff`).

The numbers come from synth/footprint.py (requests, limits and storage of every manifest,
chart and operator pod). This module adds the node group: how many nodes of one shape the
stack needs at its maximum replicas, after the share of each node the kubelet and the system
keep for themselves, with room for the largest Job (migration, backup) on top.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from synth import footprint as fp

FILE = "footprint.json"


@dataclass(frozen=True)
class NodeShape:
    cpu_m: int
    memory_mi: int

    @property
    def label(self) -> str:
        return f"{self.cpu_m // 1000} vCPU / {self.memory_mi // 1024} GiB"

    def reserve(self) -> tuple[float, float]:
        """(CPU m, memory Mi) a node keeps from pods: GKE's published node-allocatable formula
        ("Standard cluster architecture: node allocatable", cloud.google.com/kubernetes-engine),
        a fair middle of what managed Kubernetes services reserve. CPU: 6 % of the first core,
        1 % of the second, 0.5 % of cores 3-4, 0.25 % above. Memory: 25 % of the first 4 GiB,
        20 % of the next 4, 10 % of the next 8, 6 % of the next 112, 2 % above; plus the
        kubelet's 100 MiB eviction threshold."""
        cores = self.cpu_m / 1000
        cpu = 60 * min(cores, 1) + 10 * max(0, min(cores, 2) - 1) + 5 * max(0, min(cores, 4) - 2) + 2.5 * max(0, cores - 4)
        gib = self.memory_mi / 1024
        bands = ((4, 0.25), (4, 0.20), (8, 0.10), (112, 0.06), (math.inf, 0.02))
        memory, left = 0.0, gib
        for size, share in bands:
            part = min(left, size)
            memory += part * share
            left -= part
        return cpu, memory * 1024 + 100


# The shape the node group is counted in: a common general-purpose size (m6i.xlarge,
# e2-standard-4, D4s v5 have 4 vCPU / 16 GiB).
NODE = NodeShape(cpu_m=4000, memory_mi=16 * 1024)


def compute(
    folder: Path, objects: list[dict[str, Any]] | None = None, releases: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """footprint.json's content for one synthesis folder: synth/footprint.py's totals plus the
    node group. `objects` and `releases`: the folder's manifests and Helm release files in path
    order, when the caller has them in memory (synth, which wrote them); else read once here."""
    objects = fp._load_manifests(folder) if objects is None else objects
    releases = fp._load_releases(folder) if releases is None else releases
    one = fp.footprint(folder, nodes=1, objects=objects, releases=releases)
    two = fp.footprint(folder, nodes=2, objects=objects, releases=releases)
    # DaemonSet pods run once per node: what each further node adds.
    per_node = {
        key: two["total"]["max"]["requests"][key] - one["total"]["max"]["requests"][key] for key in ("cpu_m", "memory_mi")
    }
    return {**one, "node_group": node_group(one, per_node, NODE)}


def _largest_pod(result: Mapping[str, Any]) -> dict[str, float]:
    pods = [w["pod"]["requests"] for entry in result["components"].values() for w in entry["workloads"]]
    largest = result.get("transient", {}).get("largest_pod")
    if largest:
        pods.append(largest["pod"]["requests"])
    return {key: max((p[key] for p in pods), default=0.0) for key in ("cpu_m", "memory_mi")}


def node_group(result: Mapping[str, Any], per_node: Mapping[str, float], shape: NodeShape) -> dict[str, Any]:
    """The smallest count of `shape` nodes whose allocatable CPU and memory hold every pod at
    its maximum replicas (DaemonSets once per node) plus the largest Job, and on which the
    largest single pod fits."""
    reserve_cpu, reserve_memory = shape.reserve()
    allocatable = {"cpu_m": shape.cpu_m - reserve_cpu, "memory_mi": shape.memory_mi - reserve_memory}
    steady = result["total"]["max"]["requests"]
    transient = (result.get("transient", {}).get("largest_pod") or {}).get("pod", {}).get("requests", {})
    largest = _largest_pod(result)
    fits = all(largest[key] <= allocatable[key] for key in allocatable)
    count = 1
    while True:
        need = {key: steady[key] + transient.get(key, 0.0) + (count - 1) * per_node.get(key, 0.0) for key in allocatable}
        if all(need[key] <= count * allocatable[key] for key in allocatable) or count >= 1000:
            break
        count += 1
    return {
        "shape": {"cpu_m": shape.cpu_m, "memory_mi": shape.memory_mi, "label": shape.label},
        "reserve_per_node": {"cpu_m": round(reserve_cpu, 1), "memory_mi": round(reserve_memory, 1)},
        "allocatable_per_node": {key: round(value, 1) for key, value in allocatable.items()},
        "nodes": count,
        "needed": {key: round(value, 1) for key, value in need.items()},
        "largest_pod_fits": fits,
        "largest_pod": largest,
    }


def write(
    folder: Path, objects: list[dict[str, Any]] | None = None, releases: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Compute and write `folder/footprint.json`; return its content."""
    result = compute(folder, objects, releases)
    (folder / FILE).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result


# ---- presentation ------------------------------------------------------------------------


def _cpu(millis: float) -> str:
    return f"{millis / 1000:.2f} vCPU"


def _mem(mebi: float) -> str:
    return f"{mebi / 1024:.1f} GiB"


def _pair(part: Mapping[str, Any]) -> str:
    return f"{_cpu(part['requests']['cpu_m']):>11} {_mem(part['requests']['memory_mi']):>9}"


def render(result: Mapping[str, Any]) -> str:
    """The footprint for a terminal: requests per component at min and max replicas, storage,
    totals with limits, and the node group."""
    total = result["total"]
    lines = [
        "footprint (CPU and memory requests; details in footprint.json):",
        f"  {'component':<20} {'at min replicas':>21}   {'at max replicas':>21}   {'storage':>9}",
    ]
    for name, entry in result["components"].items():
        lines.append(f"  {name:<20} {_pair(entry['min'])}   {_pair(entry['max'])}   {entry['storage_gib']:>5.0f} GiB")
    lines.append(f"  {'total':<20} {_pair(total['min'])}   {_pair(total['max'])}   {total['storage_gib']:>5.0f} GiB")
    limits = total["max"]["limits"]
    lines.append(f"  limits at max replicas: {_cpu(limits['cpu_m'])}, {_mem(limits['memory_mi'])}")
    group = result.get("node_group")
    if group:
        note = "" if group["largest_pod_fits"] else f" (the largest pod does not fit one {group['shape']['label']} node)"
        lines.append(
            f"  node group: {group['nodes']} x {group['shape']['label']} node{'s' if group['nodes'] > 1 else ''} "
            f"({_cpu(group['allocatable_per_node']['cpu_m'])}, {_mem(group['allocatable_per_node']['memory_mi'])} "
            f"allocatable each) hold {_cpu(group['needed']['cpu_m'])}, {_mem(group['needed']['memory_mi'])} "
            f"at max replicas with the largest Job{note}"
        )
    if result.get("unset"):
        lines.append(f"  no request set (counted as 0): {', '.join(result['unset'])}")
    return "\n".join(lines)


def change_lines(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """How the footprint moved between two syntheses: totals, node count, and each component
    whose numbers changed. [] when nothing changed."""
    lines = []

    def moved(label: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
        b, a = before["requests"], after["requests"]
        if b == a:
            return None
        return (
            f"{label}: {_cpu(b['cpu_m'])} -> {_cpu(a['cpu_m'])} ({(a['cpu_m'] - b['cpu_m']) / 1000:+.2f}), "
            f"{_mem(b['memory_mi'])} -> {_mem(a['memory_mi'])} ({(a['memory_mi'] - b['memory_mi']) / 1024:+.1f})"
        )

    for bound in ("min", "max"):
        line = moved(f"requests at {bound} replicas", old["total"][bound], new["total"][bound])
        if line:
            lines.append(line)
    if old["total"]["storage_gib"] != new["total"]["storage_gib"]:
        lines.append(f"storage: {old['total']['storage_gib']:.0f} -> {new['total']['storage_gib']:.0f} GiB")
    old_nodes = (old.get("node_group") or {}).get("nodes")
    new_nodes = (new.get("node_group") or {}).get("nodes")
    if old_nodes and new_nodes and old_nodes != new_nodes:
        lines.append(f"node group: {old_nodes} -> {new_nodes} x {new['node_group']['shape']['label']} nodes")
    empty = {"min": {"requests": {"cpu_m": 0, "memory_mi": 0}}, "max": {"requests": {"cpu_m": 0, "memory_mi": 0}}, "storage_gib": 0}
    for name in sorted(set(old["components"]) | set(new["components"])):
        before, after = old["components"].get(name, empty), new["components"].get(name, empty)
        line = moved(f"  {name} at max replicas", before["max"], after["max"])
        if line:
            lines.append(line)
        elif before.get("storage_gib") != after.get("storage_gib"):
            lines.append(f"  {name} storage: {before['storage_gib']:.0f} -> {after['storage_gib']:.0f} GiB")
    return lines
