"""Footprint presentation: placeholder until synth/footprint.py lands (see issue 13)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def compute(folder: Path) -> dict[str, Any] | None:
    return None


def render(footprint: dict[str, Any] | None) -> str:
    return ""


def change_lines(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return []


def write(folder: Path) -> dict[str, Any] | None:
    return compute(folder)
