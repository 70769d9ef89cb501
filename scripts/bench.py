"""`make bench`: how close synthesis runs to its true floor, and what the deploy and the judges cost.

Per stack:

- **floor**: a fresh interpreter that imports every module a synthesis of that stack imports,
  the project's own modules excluded (`python -m synth STACK --list-imports`): the cost no
  change to the project can remove. The SDK top-level packages alone are lazy and would put
  the floor far too low. The floor is a plain interpreter: its collector on, its exit normal.
- **bare floor**: the same imports with the two costs synth itself avoids removed as well, the
  cyclic collector off during the imports and no interpreter teardown at exit
  (synth/__main__.py). Against it the ratio shows synth's own work over the imports alone;
  both ratios are printed, so a gain that only skips interpreter work is plain to see.
- **synth**: `python -m synth STACK`, a fresh process writing a fresh folder.
- All three are run RUNS times, interleaved (synth, floor, bare, synth, ...) so that load from other
  processes on the machine hits both alike; the table gives both medians, their ratio and the
  median of the per-pair ratios (the steadier figure on a busy machine).
- the resource count; the deploy critical path: the longest dependency chain among custom
  resources, with its members and the Helm releases on it; the time and exit status of every
  behaviour judge registered in `rehearsal/registry.py` (a judge that cannot run says so).

Child processes write bytecode caches (`PYTHONDONTWRITEBYTECODE` is dropped for them): the
SDK modules in the floor come with theirs from pip, and a default Python writes the project's
on first run, so both sides are measured warm, as a user runs them.

Usage: scripts/bench.py [--runs N] [--stack dev ...] [--no-judges] [--max-ratio 1.3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")
RUNS = 5
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
REMOTE_COMPONENTS = ("kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml/v2:ConfigGroup", "kubernetes:helm.sh/v4:Chart")
JUDGE_STATUS = {0: "ok", 1: "findings", 2: "cannot run"}

# Imports every module named in the JSON file argv[1], in the order the synthesis imported them.
# A module that cannot be imported alone is reported, never skipped silently.
# With a second argument `bare`: the collector off and no teardown, as synth runs.
FLOOR_PROGRAM = """
import gc, importlib, json, os, sys
bare = sys.argv[2:] == ["bare"]
if bare:
    gc.disable()
failed = []
for name in json.load(open(sys.argv[1])):
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except Exception as exc:
            failed.append(f"{name}: {exc}")
print(json.dumps(failed), flush=True)
if bare:
    os._exit(0)
"""


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass
class Timing:
    wall: float
    cpu: float  # user + system seconds of the child: steadier than wall time on a busy machine


def timed(command: list[str]) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=child_env())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu), proc


def check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        raise SystemExit(f"bench: {what} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


# ------------------------------------------------------------------------------------------
# The deploy critical path
# ------------------------------------------------------------------------------------------


@dataclass
class CriticalPath:
    members: list[dict[str, Any]] = field(default_factory=list)

    @property
    def helm_releases(self) -> int:
        return sum(1 for r in self.members if r["type"] == HELM_RELEASE)

    def describe(self) -> str:
        return " -> ".join(f"{r['type'].split(':')[-1]} {r['name']}" for r in self.members)


def deploy_steps(resources: Iterable[Mapping[str, Any]]) -> dict[str, set[str]]:
    """Each resource the engine deploys as one step, with the steps it waits for.

    A step is a custom resource or a remote (provider-side) component such as
    `kubernetes:yaml/v2:ConfigFile`, whose children only the provider sees. A dependency on a
    local component stands for its descendants reached through components, the way the SDK
    expands it before RegisterResource (pulumi/runtime/rpc.py `_add_dependency`, pulumi 3.272.0:
    custom resources and remote components are kept, local components are replaced by their
    children, children of a custom resource or a remote component are not followed)."""
    by_urn = {r["urn"]: r for r in resources}
    children: dict[str, list[str]] = {}
    for r in by_urn.values():
        if r.get("parent"):
            children.setdefault(r["parent"], []).append(r["urn"])

    def is_remote(r: Mapping[str, Any]) -> bool:
        # A remote component: provider-side (yaml/v2, whose objects synth records as the
        # provider would register them), or any other component without program children.
        return not r["custom"] and (r["type"] in REMOTE_COMPONENTS or (
            not r["type"].startswith(("pulumi:pulumi:Stack", "saas-platform:")) and r["urn"] not in children))

    def is_step(r: Mapping[str, Any]) -> bool:
        # The objects a remote component creates are part of its step: the provider creates
        # them inside its Construct, after the component's dependencies.
        if r.get("parent") in by_urn and is_remote(by_urn[r["parent"]]):
            return False
        return bool(r["custom"]) or is_remote(r)

    def expand(urn: str) -> set[str]:
        out: set[str] = set()
        pending = [urn]
        while pending:
            current = by_urn.get(pending.pop())
            if current is None:
                continue
            if is_step(current):
                out.add(current["urn"])
            else:
                pending.extend(children.get(current["urn"], []))
        return out

    return {
        urn: set().union(*(expand(d) for d in r.get("dependencies", []))) - {urn}
        for urn, r in by_urn.items()
        if is_step(r)
    }


def critical_path(resources: list[dict[str, Any]]) -> CriticalPath:
    """The longest chain of deploy steps, each waiting for the one before (ties: by URN)."""
    by_urn = {r["urn"]: r for r in resources}
    steps = deploy_steps(resources)
    longest: dict[str, list[str]] = {}
    for start in sorted(steps):
        # Iterative depth-first walk (deep chains would overflow a recursive one).
        stack: list[tuple[str, bool]] = [(start, False)]
        visiting: set[str] = set()
        while stack:
            urn, done = stack.pop()
            if urn in longest:
                continue
            if done:
                visiting.discard(urn)
                best: list[str] = []
                for dep in sorted(steps[urn]):
                    if len(longest[dep]) > len(best):
                        best = longest[dep]
                longest[urn] = [*best, urn]
                continue
            if urn in visiting:
                raise ValueError(f"dependency cycle through {urn}")
            visiting.add(urn)
            stack.append((urn, True))
            stack.extend((dep, False) for dep in sorted(steps[urn], reverse=True) if dep not in longest)
    chain = max((longest[u] for u in sorted(longest)), key=len, default=[])
    return CriticalPath([by_urn[u] for u in chain])


# ------------------------------------------------------------------------------------------
# Measuring
# ------------------------------------------------------------------------------------------


@dataclass
class StackReport:
    stack: str
    synth: list[Timing] = field(default_factory=list)
    floor: list[Timing] = field(default_factory=list)
    bare: list[Timing] = field(default_factory=list)
    modules: int = 0
    unimportable: list[str] = field(default_factory=list)
    resources: int = 0
    path: CriticalPath = field(default_factory=CriticalPath)
    judges: list[tuple[str, float, str]] = field(default_factory=list)

    def median(self, which: str, measure: str = "wall") -> float:
        return statistics.median(getattr(t, measure) for t in getattr(self, which))

    def ratio(self, measure: str = "wall", floor: str = "floor") -> float:
        return self.median("synth", measure) / self.median(floor, measure)

    def paired_ratio(self, measure: str = "wall", floor: str = "floor") -> float:
        pairs = zip(self.synth, getattr(self, floor))
        return statistics.median(getattr(s, measure) / getattr(f, measure) for s, f in pairs)


def registered_judges() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from rehearsal.registry import JUDGES

    return list(JUDGES)


def measure(stacks: list[str], runs: int, judges: bool, tmp: Path) -> list[StackReport]:
    reports = {stack: StackReport(stack) for stack in stacks}
    module_lists: dict[str, Path] = {}
    for stack in stacks:
        # Untimed warm-up: lists the imports and writes any missing bytecode cache.
        proc = subprocess.run(
            [sys.executable, "-m", "synth", stack, "--out", str(tmp / stack), "--quiet", "--list-imports"],
            cwd=ROOT, capture_output=True, text=True, env=child_env(),
        )
        check(proc, f"synth {stack}")
        modules = json.loads(proc.stdout.strip().splitlines()[-1])
        module_lists[stack] = tmp / f"{stack}-modules.json"
        module_lists[stack].write_text(json.dumps(modules))
        reports[stack].modules = len(modules)
        resources = json.loads((tmp / stack / "resources.json").read_text())
        reports[stack].resources = len(resources)
        reports[stack].path = critical_path(resources)

    for run in range(runs):
        for stack in stacks:
            timing, proc = timed([sys.executable, "-m", "synth", stack, "--out", str(tmp / f"{stack}-{run}"), "--quiet"])
            check(proc, f"synth {stack}")
            reports[stack].synth.append(timing)
            timing, proc = timed([sys.executable, "-c", FLOOR_PROGRAM, str(module_lists[stack])])
            check(proc, f"floor {stack}")
            reports[stack].floor.append(timing)
            reports[stack].unimportable = json.loads(proc.stdout.strip().splitlines()[-1])
            timing, proc = timed([sys.executable, "-c", FLOOR_PROGRAM, str(module_lists[stack]), "bare"])
            check(proc, f"bare floor {stack}")
            reports[stack].bare.append(timing)

    if judges:
        for stack in stacks:
            for judge in registered_judges():
                timing, proc = timed([sys.executable, "-m", "rehearsal", judge, str(tmp / stack)])
                status = JUDGE_STATUS.get(proc.returncode, f"exit {proc.returncode}")
                if proc.returncode != 0:  # say why: its last line (the count, or what is missing)
                    lines = (proc.stdout + proc.stderr).strip().splitlines()
                    status += f": {lines[-1]}" if lines else ""
                reports[stack].judges.append((judge, timing.wall, status))
    return list(reports.values())


def render(reports: list[StackReport], runs: int, judges: bool) -> str:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; median of {runs}, synth and floors interleaved",
        "wall = elapsed seconds; cpu = user+system seconds of the process (steadier when the machine is busy);",
        "ratio = median synth / median floor; paired = median of the per-run synth/floor ratios;",
        "bare = the floor without the collector during imports and without teardown, as synth runs",
        f"{'stack':<8} {'synth':>6} {'floor':>6} {'ratio':>6} {'paired':>6} | {'cpu synth':>9} {'floor':>6} {'ratio':>6} "
        f"| {'bare':>5} {'ratio':>6} | {'modules':>7} {'resources':>9} {'path':>4} {'helm':>4}",
    ]
    for r in reports:
        lines.append(
            f"{r.stack:<8} {r.median('synth'):>6.2f} {r.median('floor'):>6.2f} {r.ratio():>6.2f} {r.paired_ratio():>6.2f} | "
            f"{r.median('synth', 'cpu'):>9.2f} {r.median('floor', 'cpu'):>6.2f} {r.ratio('cpu'):>6.2f} | "
            f"{r.median('bare', 'cpu'):>5.2f} {r.ratio('cpu', 'bare'):>6.2f} | "
            f"{r.modules:>7} {r.resources:>9} {len(r.path.members):>4} {r.path.helm_releases:>4}"
        )
    for r in reports:
        lines.append(
            f"{r.stack} wall runs: synth {' '.join(f'{t.wall:.2f}' for t in r.synth)}; "
            f"floor {' '.join(f'{t.wall:.2f}' for t in r.floor)}; bare {' '.join(f'{t.wall:.2f}' for t in r.bare)}"
        )
        if r.unimportable:
            lines.append(f"{r.stack} floor: {len(r.unimportable)} modules could not be imported alone: {'; '.join(r.unimportable)}")
        lines.append(
            f"{r.stack} critical path ({len(r.path.members)} steps, {r.path.helm_releases} Helm releases): {r.path.describe()}"
        )
        if judges:
            timings = ", ".join(f"{name} {seconds:.1f} s ({status})" for name, seconds, status in r.judges)
            lines.append(f"{r.stack} judges: {timings or 'none registered in rehearsal/registry.py'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"timed runs per stack (default {RUNS})")
    parser.add_argument("--stack", action="append", choices=STACKS, help="only this stack (repeatable)")
    parser.add_argument("--no-judges", action="store_true", help="skip timing the rehearsal judges")
    parser.add_argument("--max-ratio", type=float, help="exit 1 when a stack's paired ratio exceeds this")
    options = parser.parse_args(argv)
    stacks = options.stack or list(STACKS)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        reports = measure(stacks, options.runs, not options.no_judges, Path(tmp))
    print(render(reports, options.runs, not options.no_judges))
    over = [r.stack for r in reports if options.max_ratio and r.paired_ratio() > options.max_ratio]
    if over:
        print(f"bench: above {options.max_ratio}x the floor: {', '.join(over)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
