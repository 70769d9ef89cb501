"""Shared by the behaviour judges' tests: the reviewed baseline, copies of a fresh synthesis to mutate,
and running one judge in-process or as the CLI does."""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache
import sys
from pathlib import Path

import yaml

from tests import session_share
from rehearsal.base import Build, Verdict
from rehearsal.registry import JUDGES
from rehearsal.__main__ import load

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "tests" / "fixtures" / "rehearsal" / "main-934f607"


def verdict(judge: str, directory: Path) -> Verdict:
    return load(judge)(Build(directory))


@lru_cache(maxsize=None)
def baseline(judge: str, stack: str) -> Verdict:
    """The judge on the synthesis of main 934f607, the state the reviews examined."""
    return verdict(judge, BASELINE / stack)


def cli(judge: str, directory: Path) -> subprocess.CompletedProcess[str]:
    assert judge in JUDGES or judge == "all"
    return subprocess.run([sys.executable, "-m", "rehearsal", judge, str(directory)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def copy(source: Path, tmp: Path) -> Path:
    target = tmp / source.name
    shutil.copytree(source, target)
    return target


def edit_manifest(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    body = yaml.safe_load(path.read_text())
    change(body)
    path.write_text(yaml.safe_dump(body))


def has(findings: list[str], *parts: str) -> bool:
    """Whether one finding line contains every part."""
    return any(all(part in line for part in parts) for line in findings)


# Findings the judges may still report on the current stacks, each a real defect left for its
# owner with the reason; the per-stack tests require exactly these, so a fix (or a new defect)
# makes them fail until this list is updated. Empty: every judge passes on every stack.
KNOWN_DEFECTS: dict[str, set[str]] = {}


def findings_of(stdout: str, judge: str) -> set[str]:
    """The finding lines a judge printed (`judge: ...`), without its counting last line."""
    lines = [line.split(": ", 1)[1] for line in stdout.splitlines() if line.startswith(f"{judge}: ")]
    return {line for line in lines if not line.rstrip().endswith(" s]")}


def _judge_stacks() -> dict[str, dict[str, object]]:
    """`python -m rehearsal all` on the session's stack folders, keyed by folder."""
    folders = [record["out"] for record in session_share.result("synthesized").values() if record["returncode"] == 0]
    runs = {folder: cli("all", Path(folder)) for folder in folders}
    return {folder: {"returncode": p.returncode, "stdout": p.stdout, "stderr": p.stderr} for folder, p in runs.items()}


# Started in the background by conftest for every file marked `@pytest.mark.background("judged")`.
session_share.register("judged", _judge_stacks)


@lru_cache(maxsize=None)
def judged_all(build_dir: Path) -> subprocess.CompletedProcess[str]:
    """`python -m rehearsal all BUILD_DIR`, run once per folder and test run: every test that
    asks whether a judge passes on a session synthesis reads this one run (the judges start
    daemons, Traefik and a Next.js build; running each twice per stack doubled their cost).
    The session's stack folders are judged in the background from the start of the run
    (`judged`, shared by the xdist workers); another folder is judged here. Only for folders
    nobody changes during the run; a test that mutates a copy runs `cli` or `verdict` on it."""
    record = session_share.result("judged").get(str(build_dir))
    if record is None:
        return cli("all", build_dir)
    return subprocess.CompletedProcess(["rehearsal", "all", str(build_dir)], record["returncode"], record["stdout"], record["stderr"])


def assert_passes(judge: str, build_dir: Path) -> None:
    """The judge on a current synthesis, from the session's one `all` run of that folder
    (judged_all): nothing but the known defects (KNOWN_DEFECTS), the run's exit 0 without any,
    and the judge's counting line."""
    proc = judged_all(build_dir)
    known = KNOWN_DEFECTS.get(judge, set())
    assert findings_of(proc.stdout, judge) == known, proc.stdout + proc.stderr
    assert proc.returncode == (1 if any(KNOWN_DEFECTS.values()) else 0), proc.stdout + proc.stderr
    assert any(line.startswith(f"{judge}: ") and line.rstrip().endswith(" s]") for line in proc.stdout.splitlines()), proc.stdout
