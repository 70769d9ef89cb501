"""Shared by the behaviour judges' tests: the reviewed baseline, copies of a fresh synthesis to mutate,
and running one judge in-process or as the CLI does."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache
import sys
from pathlib import Path

import yaml

from tests import session_share
from rehearsal.base import Build, Verdict
from rehearsal.registry import JUDGES
from rehearsal.__main__ import load, sections

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "tests" / "fixtures" / "rehearsal" / "main-934f607"


def verdict(judge: str, directory: Path) -> Verdict:
    return load(judge)(Build(directory))


@lru_cache(maxsize=None)
def baseline(judge: str, stack: str) -> Verdict:
    """The judge on the synthesis of main 934f607, the state the reviews examined."""
    return verdict(judge, BASELINE / stack)


def cli(judge: str, *directories: Path) -> subprocess.CompletedProcess[str]:
    """`python -m rehearsal JUDGE DIR...`."""
    assert (judge in JUDGES or judge == "all") and directories
    return subprocess.run([sys.executable, "-m", "rehearsal", judge, *map(str, directories)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


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


# The run's two background rehearsal processes (the stacks' `all`, the metrics round) take turns:
# side by side, their daemons, Prometheus servers and promtool runs competed with the workers for
# two cores and every wait grew with the load.
RIG = "rehearsal-rig"


def _judge_stacks() -> dict[str, dict[str, object]]:
    """One `python -m rehearsal all` of the run's stack folders and the large tier, keyed by
    folder: one process, so the metrics judge boots its daemons and waits out Prometheus'
    discovery and each fault once for all of them (rehearsal/__main__.py, several folders)."""
    import tests.large_tier  # noqa: F401 - registers the large tier's synthesis (imports conftest)

    records = [*session_share.result("synthesized").values(), session_share.result("large-tier")]
    folders = [str(record["out"]) for record in records if record["returncode"] == 0]
    if not folders:  # no synthesis to judge: the tests that read them report the synth failure
        return {}
    with session_share.exclusive(RIG):
        proc = cli("all", *map(Path, folders))
    texts = sections(proc.stdout) if len(folders) > 1 else {folders[0]: proc.stdout}
    return {folder: session_share.record(subprocess.CompletedProcess(
        proc.args, folder_status(texts.get(folder, ""), proc.returncode), texts.get(folder, ""), proc.stderr)) for folder in folders}


def verdict_record(judge: str, text: str) -> dict[str, object]:
    """A judge's Verdict fields from the CLI's text for one folder: its finding lines, in order,
    and its counting last line without the run time."""
    lines = [line for line in text.splitlines() if line.startswith(f"{judge}: ")]
    summaries = [line for line in lines if re.search(r" \[[0-9.]+ s\]$", line)]
    return {"judge": judge, "summary": re.sub(r" \[[0-9.]+ s\]$", "", summaries[-1]) if summaries else "",
            "findings": [line.split(": ", 1)[1] for line in lines if line not in summaries]}


def folder_status(text: str, run_status: int) -> int:
    """One folder's exit status within a several-folder run: 2 when a judge could not run,
    1 for a finding, 0 otherwise; a section without a judge's counting line is the run's own."""
    lines = text.splitlines()
    if not any(line.rstrip().endswith(" s]") for line in lines):
        return run_status or 2
    if any(": cannot run: " in line for line in lines):
        return 2
    judges = tuple(f"{name}: " for name in JUDGES)
    return 1 if any(line.startswith(judges) and not line.rstrip().endswith(" s]") for line in lines) else 0


# Started in the background by conftest for every file marked `@pytest.mark.background("judged")`.
session_share.register("judged", _judge_stacks)


@lru_cache(maxsize=None)
def judged_all(build_dir: Path) -> subprocess.CompletedProcess[str]:
    """`python -m rehearsal all BUILD_DIR`, run once per folder and test run: every test that
    asks whether a judge passes on a session synthesis reads this one run (the judges start
    daemons, Traefik and a Next.js build; running each twice per stack doubled their cost).
    The stacks' folders and the large tier's are judged together in the background from the
    start of the run (`judged`, shared by the xdist workers); another folder is judged here. Only for folders
    nobody changes during the run; a test that mutates a copy runs `cli` or `verdict` on it."""
    record = session_share.result("judged").get(str(build_dir))
    if record is None:
        return cli("all", build_dir)
    return session_share.completed(record, ["rehearsal", "all", str(build_dir)])


def assert_passes(judge: str, build_dir: Path) -> None:
    """The judge on a current synthesis, from the session's one `all` run of that folder
    (judged_all): nothing but the known defects (KNOWN_DEFECTS), the run's exit 0 without any,
    and the judge's counting line."""
    proc = judged_all(build_dir)
    known = KNOWN_DEFECTS.get(judge, set())
    assert findings_of(proc.stdout, judge) == known, proc.stdout + proc.stderr
    assert proc.returncode == (1 if any(KNOWN_DEFECTS.values()) else 0), proc.stdout + proc.stderr
    assert any(line.startswith(f"{judge}: ") and line.rstrip().endswith(" s]") for line in proc.stdout.splitlines()), proc.stdout
