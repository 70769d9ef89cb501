"""The repository as a user clones it: self-contained tests (no skip, nothing read from beside
the clone), a license."""

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
    with nothing beside it runs every test). This file is the only one allowed to name the calls."""
    pattern = re.compile(r"pytest\.skip\(|mark\.skip|skipif|importorskip|mark\.xfail|pytest\.xfail\(")
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _files("tests", suffixes=(".py",)) if p.name != "test_repository.py"
        for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)
    ]
    assert offenders == []


def _outside_references(text: str, siblings: list[str]) -> list[str]:
    """Paths into a folder beside the clone (`../<sibling>/...`, or its absolute path)."""
    found = []
    for name in siblings:
        if re.search(rf"\.\./{re.escape(name)}\b", text) or str(ROOT.parent / name) in text:
            found.append(name)
    return found


def test_nothing_reads_outside_the_repository() -> None:
    """A folder beside the clone (a maintainer's workspace) is absent on a user's clone: the
    vendored copy in upstream/ is the only source (upstream/sources.json records where each
    file came from). The folders beside this checkout are the ones a mistake could name."""
    siblings = sorted(p.name for p in ROOT.parent.iterdir() if p.is_dir() and p != ROOT)
    offenders = {
        str(p.relative_to(ROOT)): hits
        for p in _files(*CODE_DIRS) + [ROOT / "Makefile"]
        if (hits := _outside_references(p.read_text(errors="replace"), siblings))
    }
    assert offenders == {}


def test_the_outside_reference_check_can_fail() -> None:
    assert _outside_references("UPSTREAM = ROOT.parent / 'x'; open('../workspace/crds/a.yaml')", ["workspace"]) == ["workspace"]
    assert _outside_references(f"path = '{ROOT.parent / 'workspace'}/upstream'", ["workspace"]) == ["workspace"]
    assert _outside_references("see ../README.md and upstream/", ["workspace"]) == []


def test_license_is_apache_2_and_named_in_the_readme() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License")
    assert "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text
    readme = (ROOT / "README.md").read_text()
    assert "[Apache License 2.0](LICENSE)" in readme


def test_policy_table_lists_exactly_the_pack() -> None:
    """docs/policies.md: one table of every rule (a row outside the table does not render on
    GitHub), and the count in the sentence before it is right."""
    import sys

    sys.path.insert(0, str(ROOT / "policies"))
    from saas_policies import POLICIES

    text = (ROOT / "docs" / "policies.md").read_text()
    section = text[text.index("## Policy pack") : text.index("## Security scan")]
    rows = re.findall(r"^\| `([a-z0-9-]+)`", section, flags=re.M)
    assert sorted(rows) == sorted(p.name for p in POLICIES)
    # One contiguous table: from its header to its last row, every line is a table line.
    lines = section.splitlines()
    first = lines.index("| rule | protects against |")
    last = max(i for i, line in enumerate(lines) if re.match(r"^\| `[a-z0-9-]+`", line))
    assert all(line.startswith("|") for line in lines[first : last + 1])
    assert f"The {len(POLICIES)} rules" in section


def test_docs_speak_the_readers_language() -> None:
    """No maintainers' jargon and no pointer to a file a user's clone does not have."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text()
        # "the seed" (the maintainers' name for the architecture overview); `seed-cache` is a container.
        assert not re.search(r"(?<![\w/-])seed(?![\w/-])", text, flags=re.I), page.name
        assert "DESIGN.md" not in text and "FACTS.md" not in text and "design notes" not in text, page.name
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (page.parent / target).exists(), f"{page.name} links to a missing {target}"


def test_longer_docs_pages_have_a_table_of_contents() -> None:
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text()
        headings = re.findall(r"^## (.+)$", text, flags=re.M)
        if len(text.splitlines()) > 80 and len(headings) > 1:
            anchors = set(re.findall(r"^- \[[^\]]+\]\(#([a-z0-9-]+)\)", text, flags=re.M))
            expected = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
            assert expected <= anchors, f"{page.name}: no contents entry for {sorted(expected - anchors)}"
