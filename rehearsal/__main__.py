"""`python -m rehearsal JUDGE|all BUILD_DIR [BUILD_DIR ...]`: run behaviour judges on synthesis
output folders.

Several folders are judged in one process: the real programs the judges start (the metrics rig's
daemons, Traefik, the Next.js build check) start once, and a judge with a `judge_many` (metrics)
takes every folder in one round. A judge with `judge_many` runs in a thread beside the others,
since it mostly waits on its daemons. With more than one folder the output is one section per
folder, in the order given: a line `rehearsal: <DIR as given>`, then exactly what a one-folder
run prints for it (`sections()` splits it again). The exit status is the highest of any folder.
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


def judge_folders(names: list[str], builds: list[Build]) -> list[list[Outcome]]:
    """Every judge on every folder: per folder, one outcome per judge in `names` order."""
    rounds = {name: _Round(name, many, builds) for name in names if (many := load_many(name)) is not None}
    for thread in rounds.values():
        thread.start()
    out: list[dict[str, Outcome]] = [{} for _ in builds]
    for index, build in enumerate(builds):
        for name in names:
            if name in rounds:
                continue
            started = time.monotonic()
            try:
                verdict: Verdict | JudgeUnavailable = load(name)(build)
            except JudgeUnavailable as missing:
                verdict = missing
            out[index][name] = _outcome(name, verdict, time.monotonic() - started)
    for name, thread in rounds.items():
        for index, outcome in enumerate(thread.outcomes()):
            out[index][name] = outcome
    return [[folder[name] for name in names] for folder in out]


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
    args = parser.parse_args(argv)
    names = list(JUDGES) if args.judge == "all" else [args.judge]
    several = len(args.build_dirs) > 1
    builds: list[Build] = []
    missing: dict[int, str] = {}
    for index, directory in enumerate(args.build_dirs):
        try:
            builds.append(Build(directory))
        except FileNotFoundError as error:
            missing[index] = str(error)
    judged = iter(judge_folders(names, builds) if builds else [])
    status = 0
    for index, directory in enumerate(args.build_dirs):
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
