"""The metrics judge's promtool horizon (rehearsal/alerting.py): the fault phase covers everything
an alert's state at the end time depends on (`for:`, `keep_firing_for`, ranges, subqueries,
offsets, the 5m lookback delta), so the healthy phase before it can be short without changing a
verdict. The promtool cases run the real `promtool test rules` (a few tenths of a second each)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from rehearsal.alerting import LOOKBACK_MINUTES, MARGIN_MINUTES, Firing, horizon_of, reach

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _groups(*rules: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": "g", "rules": list(rules)}]


def test_reach_counts_ranges_subqueries_offsets_and_the_lookback() -> None:
    assert reach("x > 0") == LOOKBACK_MINUTES
    assert reach("rate(x[7m]) > 0") == 7
    assert reach('sum by (job) (rate(x{a="b"}[5m] offset 10m)) / on (job) group_left y') == 15
    assert reach("x offset 1h30m") == 90 + LOOKBACK_MINUTES
    assert reach("max_over_time(max by (k) (x)[15m:1m]) > 0") == 15 + 1 + LOOKBACK_MINUTES
    assert reach("max_over_time(rate(x[5m])[30m:] offset 5m)") == 30 + 1 + 5 + 5  # no step: 1m
    assert reach('{__name__="x"}[10m]') == 10
    assert reach("vector(1)") == 0


@pytest.mark.parametrize("expr", ["x @ 100 > 0", "x offset -5m > 0", 'ALERTS{alertname="A"} > 0'])
def test_reach_refuses_what_no_horizon_bounds(expr: str) -> None:
    with pytest.raises(ValueError):
        reach(expr)


def test_horizon_adds_for_keep_firing_for_offset_and_lookback() -> None:
    assert horizon_of(_groups({"alert": "A", "expr": "x offset 40m > 0"})) == 40 + LOOKBACK_MINUTES + MARGIN_MINUTES
    assert horizon_of(_groups({"alert": "A", "expr": "x > 0", "for": "30m"})) == 30 + LOOKBACK_MINUTES + MARGIN_MINUTES
    keep = {"alert": "A", "expr": "rate(x[5m]) > 0", "for": "10m", "keep_firing_for": "20m"}
    assert horizon_of(_groups(keep)) == 10 + 20 + 5 + MARGIN_MINUTES
    # A recorded series carries the reach of its recording rule.
    chained = _groups({"record": "job:x:rate10m", "expr": "rate(x[10m])"},
                      {"alert": "A", "expr": "max_over_time(job:x:rate10m[20m]) > 0"})
    assert horizon_of(chained) == 20 + 10 + MARGIN_MINUTES
    assert horizon_of(_groups({"alert": "A", "expr": "x > 0"})) == 30  # the floor


# The verdict at the end reads the fault phase alone once it spans the horizon. Two rules whose
# verdict the healthy phase WOULD decide if the horizon ignored their offset / keep_firing_for:
# their horizon without them is the 30-minute floor, shorter than what they read.
OFFSET = {"alert": "SeenFortyMinutesAgo", "expr": "x offset 40m > 0"}
KEEP = {"alert": "KeptFiring", "expr": "y > 0", "keep_firing_for": "40m"}
# healthy -> fault: x and y go 1 -> 0 in the first test, 0 -> 1 in the second.
TESTS = [({"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 0.0}, False), ({"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, False)]
EXPECTED = [set(), {"SeenFortyMinutesAgo", "KeptFiring"}]  # the fault's own state


def _firing(tmp_path: Path, healthy: int, phase: int | None) -> list[set[str]]:
    work = tmp_path / f"{healthy}-{phase}"
    work.mkdir()
    return Firing(_groups(OFFSET, KEEP), TESTS, work, NOW, healthy=healthy, phase=phase).result()


def test_the_healthy_phase_length_changes_no_verdict_under_the_horizon(tmp_path: Path) -> None:
    # keep_firing_for (40) + the furthest reach (offset 40 + lookback 5) + margin: separate maxima added.
    assert horizon_of(_groups(OFFSET, KEEP)) == 40 + 45 + 5
    assert _firing(tmp_path, healthy=5, phase=None) == EXPECTED
    assert _firing(tmp_path, healthy=200, phase=None) == EXPECTED


def test_a_horizon_ignoring_offset_and_keep_firing_for_would_change_verdicts(tmp_path: Path) -> None:
    """The mutation: the fault phase a horizon without offset and keep_firing_for would give."""
    blind = horizon_of(_groups({**OFFSET, "expr": "x > 0"}, {"alert": "KeptFiring", "expr": "y > 0"}))
    assert blind == 30
    short, long = _firing(tmp_path, healthy=5, phase=blind), _firing(tmp_path, healthy=200, phase=blind)
    assert short != EXPECTED and long != EXPECTED
    assert short != long  # SeenFortyMinutesAgo reads the healthy x = 1 only when the healthy phase is long
    assert "KeptFiring" in long[0]  # still held by keep_firing_for from the healthy y = 1
