"""tests/session_share.py: work shared by the xdist workers is produced exactly once per run, and
every reader gets the producer's result."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from tests import session_share

ROOT = Path(__file__).resolve().parent.parent

# Two "workers" (processes with their own basetemp under one run folder) ask for the same key at
# once; the producer sleeps so that both are inside `once` together, and counts its runs.
WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from tests import session_share
    session_share.configure(Path(sys.argv[2]))
    runs = Path(sys.argv[3])

    def produce():
        with runs.open("a") as log:
            log.write("run\\n")
        time.sleep(0.5)
        return {"answer": 42, "by": sys.argv[2]}

    print(json.dumps(session_share.once("stacks", produce)))
""")


def test_two_workers_share_one_production(tmp_path: Path) -> None:
    run = tmp_path / "pytest-7"
    runs = tmp_path / "runs.log"
    procs = []
    for worker in ("gw0", "gw1"):
        basetemp = run / f"popen-{worker}"
        basetemp.mkdir(parents=True)
        env = {"PYTEST_XDIST_WORKER": worker, "PATH": "/usr/bin:/bin"}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER, str(ROOT), str(basetemp), str(runs)],
                                      stdout=subprocess.PIPE, text=True, env=env))
    answers = [json.loads(proc.communicate(timeout=60)[0]) for proc in procs]
    assert runs.read_text() == "run\n"  # produced once
    assert answers[0] == answers[1] and answers[0]["answer"] == 42  # both read the one result
    assert (run / "shared" / "stacks.json").is_file()  # in the folder the run's workers share


def test_background_start_and_result_run_registered_work_once() -> None:
    key = f"test-counted-{uuid.uuid4().hex}"  # in this run's real shared folder
    calls: list[int] = []
    session_share.register(key, lambda: calls.append(1) or {"n": len(calls)})
    future = session_share.start(key)
    assert session_share.start(key) is future  # idempotent
    assert session_share.result(key, timeout=30) == {"n": 1}
    assert session_share.once(key, lambda: {"n": 99}) == {"n": 1}  # read back, not produced again
    assert calls == [1]


def test_without_xdist_the_shared_folder_is_the_sessions_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert session_share.shared_folder(tmp_path) == tmp_path / "shared"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert session_share.shared_folder(tmp_path / "popen-gw1") == tmp_path / "shared"
