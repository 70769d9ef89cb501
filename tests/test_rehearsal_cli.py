"""`python -m rehearsal JUDGE|all DIR [DIR ...]`: several folders in one process, one section each
(`rehearsal: DIR`, then what a one-folder run prints), the exit status the highest of any, and
`sections()` splitting that output again (tests/rehearsal_helpers.py reads the sections)."""

from __future__ import annotations

import re
import subprocess
import sys

from rehearsal.__main__ import sections
from tests.conftest import ROOT

BASELINE = "tests/fixtures/rehearsal/main-934f607"


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rehearsal", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def _untimed(text: str) -> str:
    return re.sub(r" \[\d+\.\d s\]$", "", text, flags=re.M)


def test_sections_split_a_several_folder_run_and_keep_a_one_folder_run_whole() -> None:
    out = ("rehearsal: build/dev\nengine: a finding\nengine: 3 checks [0.0 s]\n"
           "rehearsal: /tmp/x/prod\nengine: 4 checks [0.1 s]\n")
    assert sections(out) == {"build/dev": "engine: a finding\nengine: 3 checks [0.0 s]\n",
                             "/tmp/x/prod": "engine: 4 checks [0.1 s]\n"}
    assert sections("engine: 4 checks [0.1 s]\n") == {"": "engine: 4 checks [0.1 s]\n"}
    assert sections("") == {}


def test_several_folders_print_what_one_folder_runs_print_and_the_highest_status() -> None:
    folders = [f"{BASELINE}/dev", f"{BASELINE}/prod"]
    alone = [_run("engine", folder) for folder in folders]
    together = _run("engine", *folders)
    assert together.returncode == max(proc.returncode for proc in alone), together.stdout + together.stderr
    split = sections(together.stdout)
    assert list(split) == folders
    for folder, proc in zip(folders, alone):
        assert _untimed(split[folder]) == _untimed(proc.stdout)
        assert split[folder].rstrip().endswith(" s]")
    # A folder that is not a synthesis output: its section is empty, the run says why and exits 2.
    missing = _run("engine", folders[0], "no/such/folder")
    assert missing.returncode == 2
    assert list(sections(missing.stdout)) == [folders[0], "no/such/folder"]
    assert sections(missing.stdout)["no/such/folder"] == "" and "no/such/folder" in missing.stderr

