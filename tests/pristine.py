"""A judge's findings on a session synthesis nobody changes, judged once per process.

Mutation tests compare a mutated copy's findings with the unmutated build's; several files did
that by judging a fresh, unmodified copy each time (the network judge: ~1 s of CPU a run). The
session's own folder holds the same bytes, so its findings are computed once and shared."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from rehearsal.base import Verdict
from tests.rehearsal_helpers import cli, verdict


@lru_cache(maxsize=None)
def pristine_findings(judge: str, out: Path) -> frozenset[str]:
    """`judge`'s findings on `out`, a session synthesis folder (never one a test mutates)."""
    return frozenset(verdict(judge, out).findings)


def verdict_and_cli(judge: str, build: Path) -> tuple[Verdict, subprocess.CompletedProcess[str]]:
    """The judge in-process and as the CLI, side by side on the same (read-only) build: the
    CLI's interpreter start and its own daemons overlap the in-process run."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        from_cli = pool.submit(cli, judge, build)
        return verdict(judge, build), from_cli.result()
