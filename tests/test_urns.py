"""No resource of a stack changes its URN by accident.

Pulumi identifies a resource by its URN (stack, project, parent type chain, type, name). A URN
that disappears from the program is a delete, and with a new one beside it a replacement: for a
protected database or bucket a failed `up`, for anything else a silent re-create. Moving code
between modules (docs/architecture.md) must not change any URN; a change that does is deliberate
and refreshes the recorded lists with `make urns` (scripts/urns.py), so the diff of
`tests/fixtures/urns/` shows the reviewer every resource that would be deleted or replaced.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Synth

RECORDED = Path(__file__).resolve().parent / "fixtures" / "urns"


def recorded_urns(stack: str) -> list[str]:
    return (RECORDED / f"{stack}.txt").read_text().splitlines()


def vanished(recorded: list[str], now: list[str]) -> list[str]:
    """URNs the recorded program had and the current one lacks: what `up` would delete."""
    present = set(now)
    return [urn for urn in recorded if urn not in present]


def test_the_comparison_can_fail() -> None:
    before = ["urn:pulumi:dev::saas-platform::saas-platform:index:Monitoring::monitoring"]
    moved = ["urn:pulumi:dev::saas-platform::saas-platform:monitoring:Monitoring::monitoring"]
    assert vanished(before, moved) == before
    assert vanished(before, before + moved) == []


def test_no_recorded_resource_would_be_deleted_or_replaced(stack: Synth) -> None:
    now = sorted(resource["urn"] for resource in stack.resources)
    gone = vanished(recorded_urns(stack.stack), now)
    assert not gone, (
        f"{len(gone)} resource(s) of {stack.stack} would be deleted or replaced by `pulumi up` "
        "(their URN is no longer produced). If that is deliberate, run `make urns` and commit "
        "tests/fixtures/urns/ so the review sees it; if not, keep the type, name and parent, or add "
        "`aliases`:\n  " + "\n  ".join(gone[:40])
    )
