"""`python -m rehearsal all` on every stack's synthesis: every behaviour judge runs and prints its
counting last line, and none reports anything but the known defects (KNOWN_DEFECTS). This is how
`make test` runs the rehearsal."""

from __future__ import annotations

import pytest

from rehearsal.registry import JUDGES
from tests.conftest import Synth
from tests.rehearsal_helpers import KNOWN_DEFECTS, findings_of, judged_all

# Reads the session's `rehearsal all` runs (judged_all), started in the background at the start.
pytestmark = pytest.mark.background("judged")


def test_rehearsal_all(stack: Synth) -> None:
    proc = judged_all(stack.out)  # the session's one run per stack, shared with each judge's tests
    for judge in JUDGES:
        assert findings_of(proc.stdout, judge) == KNOWN_DEFECTS.get(judge, set()), proc.stdout + proc.stderr
    assert proc.returncode == (1 if any(KNOWN_DEFECTS.values()) else 0), proc.stdout + proc.stderr
    summaries = [line for line in proc.stdout.splitlines() if line.split(":")[0] in JUDGES and line.rstrip().endswith(" s]")]
    assert {line.split(":")[0] for line in summaries} == set(JUDGES), proc.stdout
