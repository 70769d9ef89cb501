"""`python -m rehearsal all` on every stack's synthesis: every behaviour judge passes (exit 0) and
prints its counting last line. This is how `make test` runs the rehearsal."""

from __future__ import annotations

from rehearsal.registry import JUDGES
from tests.conftest import Synth
from tests.rehearsal_helpers import cli


def test_rehearsal_all_passes(stack: Synth) -> None:
    proc = cli("all", stack.out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summaries = [line for line in proc.stdout.splitlines() if line.split(":")[0] in JUDGES and "[" in line and line.rstrip().endswith(" s]")]
    assert {line.split(":")[0] for line in summaries} == set(JUDGES), proc.stdout
