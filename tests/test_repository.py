"""The repository as a user clones it: self-contained tests (no skip, no `../shared`), a license."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import ROOT

# Everything that runs on a user's clone or in their CI.
CODE_DIRS = ("tests", "synth", "components", "policies", "rehearsal", "scripts", ".github", "upstream")


def _files(*dirs: str, suffixes: tuple[str, ...] = (".py", ".sh", ".yml", ".yaml", ".json")) -> list[Path]:
    return [
        p for d in dirs for p in sorted((ROOT / d).rglob("*"))
        if p.is_file() and p.suffix in suffixes and "node_modules" not in p.parts
    ]


def test_no_test_can_skip() -> None:
    """A missing validator or data file is a failure, never a skip (`make test` on a clone
    without ../shared runs every test). This file is the only one allowed to name the calls."""
    pattern = re.compile(r"pytest\.skip\(|mark\.skip|skipif|importorskip|mark\.xfail|pytest\.xfail\(")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _files("tests", suffixes=(".py",)) if p.name != "test_repository.py"
        for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)
    ]
    assert offenders == []


def test_nothing_reads_outside_the_repository() -> None:
    """`../shared` (the maintainers' workspace) is absent on a user's clone: the vendored copy
    in upstream/ is the only source (upstream/sources.json records where each file came from)."""
    offenders = [
        str(p.relative_to(ROOT))
        for p in _files(*CODE_DIRS) + [ROOT / "Makefile"]
        if p.name != "test_repository.py" and re.search(r"\.\./shared|/work/shared", p.read_text(errors="replace"))
    ]
    assert offenders == []


def test_license_is_apache_2_and_named_in_the_readme() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    readme = (ROOT / "README.md").read_text()
    assert "[Apache License 2.0](LICENSE)" in readme
