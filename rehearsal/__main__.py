"""`python -m rehearsal JUDGE|all BUILD_DIR`: run behaviour judges on a synthesis output folder."""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Callable

from rehearsal.base import Build, JudgeUnavailable, Verdict
from rehearsal.registry import JUDGES


def load(name: str) -> Callable[[Build], Verdict]:
    module, _, function = JUDGES[name].partition(":")
    return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]


def run_one(name: str, build: Build) -> int:
    started = time.monotonic()
    try:
        verdict = load(name)(build)
    except JudgeUnavailable as missing:
        print(f"{name}: cannot run: {missing}")
        return 2
    for finding in verdict.findings:
        print(f"{name}: {finding}")
    print(f"{verdict.summary} [{time.monotonic() - started:.1f} s]")
    return verdict.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rehearsal", description=__doc__)
    parser.add_argument("judge", choices=[*JUDGES, "all"], help="which judge to run")
    parser.add_argument("build_dir", type=Path, help="a synthesis output folder (build/STACK)")
    args = parser.parse_args(argv)
    try:
        build = Build(args.build_dir)
    except FileNotFoundError as missing:
        print(f"rehearsal: {missing}", file=sys.stderr)
        return 2
    names = list(JUDGES) if args.judge == "all" else [args.judge]
    return max((run_one(name, build) for name in names), default=0)


if __name__ == "__main__":
    sys.exit(main())
