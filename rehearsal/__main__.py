"""`python -m rehearsal JUDGE|all BUILD_DIR [BUILD_DIR ...]`: run behaviour judges on synthesis
output folders.

Several folders are judged in one process: the real programs the judges start (the metrics rig's
daemons, Traefik, the Next.js build check) start once, and a judge with a `judge_many` (metrics)
takes every folder in one round. A judge with `judge_many` runs in a thread beside the others,
since it mostly waits on its daemons. With more than one folder the output is one section per
folder, in the order given: a line `rehearsal: <DIR as given>`, then exactly what a one-folder
run prints for it (`sections()` splits it again). The exit status is the highest of any folder.
`--only JUDGE BUILD_DIR` (repeatable) adds a folder judged by that judge alone, in the same run
and, for a `judge_many` judge, the same round (the tests judge the stacks with every judge and
their metrics fixtures with the metrics judge on one rig of daemons).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from rehearsal.base import Build, JudgeUnavailable, Verdict
from rehearsal.registry import JUDGES

HEADER = "rehearsal: "


def load(name: str) -> Callable[[Build], Verdict]:
    module, _, function = JUDGES[name].partition(":")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def load_many(name: str) -> Callable[[list[Build]], list[Verdict]] | None:
    """The judge's `judge_many(builds)` when its module has one (one round for every folder)."""
    module = JUDGES[name].partition(":")[0]
    return getattr(importlib.import_module(module), "judge_many", None)


# One judge on one folder: its finding lines and counting line (or `cannot run`), and its status.
Outcome = tuple[list[str], int]


def _outcome(name: str, verdict: Verdict | JudgeUnavailable, seconds: float) -> Outcome:
    if isinstance(verdict, JudgeUnavailable):
        return [f"{name}: cannot run: {verdict}"], 2
    return [*(f"{name}: {finding}" for finding in verdict.findings), f"{verdict.summary} [{seconds:.1f} s]"], verdict.exit_code


def run_one(name: str, build: Build) -> int:
    """One judge on one folder, printed as it finishes."""
    started = time.monotonic()
    try:
        verdict: Verdict | JudgeUnavailable = load(name)(build)
    except JudgeUnavailable as missing:
        verdict = missing
    lines, status = _outcome(name, verdict, time.monotonic() - started)
    print("\n".join(lines))
    return status


class _Round(threading.Thread):
    """A `judge_many` judge over every folder, in the background. Each folder's line reports the
    round's time: the folders were judged together. An exception is raised again by `outcomes`."""

    def __init__(self, name: str, many: Callable[[list[Build]], list[Verdict]], builds: list[Build]) -> None:
        super().__init__(name=f"rehearsal-{name}", daemon=True)
        self.judge, self.many, self.builds = name, many, builds
        self.result: list[Outcome] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        started = time.monotonic()
        try:
            verdicts: list[Verdict | JudgeUnavailable] = list(self.many(self.builds))
        except JudgeUnavailable as missing:
            verdicts = [missing] * len(self.builds)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            self.error = error
            return
        seconds = time.monotonic() - started
        self.result = [_outcome(self.judge, v, seconds) for v in verdicts]

    def outcomes(self) -> list[Outcome]:
        self.join()
        if self.error is not None:
            raise self.error
        return self.result


def judge_folders(plans: list[list[str]], builds: list[Build]) -> list[list[Outcome]]:
    """Judges on folders: `plans[i]` names the judges for `builds[i]`. Per folder, one outcome per
    judge in its plan's order; a `judge_many` judge takes every folder that asks for it in one round."""
    wanted = [name for name in JUDGES if any(name in plan for plan in plans)]
    rounds = {}
    for name in wanted:
        if (many := load_many(name)) is not None:
            rounds[name] = _Round(name, many, [b for b, plan in zip(builds, plans) if name in plan])
    for thread in rounds.values():
        thread.start()
    out: list[dict[str, Outcome]] = [{} for _ in builds]
    for index, build in enumerate(builds):
        for name in plans[index]:
            if name in rounds:
                continue
            started = time.monotonic()
            try:
                verdict: Verdict | JudgeUnavailable = load(name)(build)
            except JudgeUnavailable as missing:
                verdict = missing
            out[index][name] = _outcome(name, verdict, time.monotonic() - started)
    for name, thread in rounds.items():
        members = iter(thread.outcomes())
        for index, plan in enumerate(plans):
            if name in plan:
                out[index][name] = next(members)
    return [[out[index][name] for name in plan] for index, plan in enumerate(plans)]


def sections(stdout: str) -> dict[str, str]:
    """A several-folder run's output by folder (as given on the command line): each folder's text
    is exactly what a one-folder run prints for it. A one-folder run's output (no `rehearsal:`
    header) comes back under the key ""."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in stdout.splitlines():
        if line.startswith(HEADER):
            current = out.setdefault(line[len(HEADER):], [])
        else:
            if current is None:
                current = out.setdefault("", [])
            current.append(line)
    return {folder: "".join(f"{line}\n" for line in lines) for folder, lines in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("judge", choices=[*JUDGES, "all"], help="which judge to run")
    parser.add_argument("build_dirs", type=Path, nargs="+", metavar="build_dir",
                        help="a synthesis output folder (build/STACK)")
    parser.add_argument("--only", nargs=2, action="append", default=[], metavar=("JUDGE", "BUILD_DIR"),
                        help="also judge BUILD_DIR, with JUDGE only, in the same run (its section follows "
                             "the others'; a judge_many judge takes it in the same round)")
    args = parser.parse_args(argv)
    names = list(JUDGES) if args.judge == "all" else [args.judge]
    for judge, _ in args.only:
        if judge not in JUDGES:
            parser.error(f"--only: unknown judge {judge!r} (one of {', '.join(JUDGES)})")
    folders: list[tuple[Path, list[str]]] = [(d, names) for d in args.build_dirs]
    folders += [(Path(d), [judge]) for judge, d in args.only]
    several = len(folders) > 1
    builds: list[Build] = []
    plans: list[list[str]] = []
    missing: dict[int, str] = {}
    for index, (directory, plan) in enumerate(folders):
        try:
            builds.append(Build(directory))
            plans.append(plan)
        except FileNotFoundError as error:
            missing[index] = str(error)
    judged = iter(judge_folders(plans, builds) if builds else [])
    status = 0
    for index, (directory, _) in enumerate(folders):
        if several:
            print(f"{HEADER}{directory}", flush=True)
        if index in missing:
            print(f"rehearsal: {missing[index]}", file=sys.stderr, flush=True)
            status = max(status, 2)
            continue
        outcomes = next(judged)
        for lines, code in outcomes:
            print("\n".join(lines), flush=True)
            status = max(status, code)
    return status


if __name__ == "__main__":
    sys.exit(main())
