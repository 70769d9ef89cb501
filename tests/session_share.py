"""Work done once per test run, shared by pytest-xdist's workers, and started early.

`make test` runs the suite on two pytest-xdist workers (`-n 2 --dist loadfile`). Each worker is a
pytest session of its own, so a session-scoped fixture would run once per worker: the three
stacks' syntheses twice, and, far worse, every behaviour judge on every stack twice. `once(KEY,
produce)` runs `produce()` in exactly one process of the run and hands the others its result:
the first caller takes an exclusive `flock` on `KEY.lock` in the run's shared folder (the parent
of the workers' basetemps), produces, writes `KEY.json` and releases the lock; a later caller, in
another worker or another thread of the same one, waits on the lock and reads the JSON. Results
are JSON (a CompletedProcess as returncode/stdout/stderr, paths as strings).

`register(KEY, produce)` names such work; conftest's autouse `_background_work` starts, before
the first test, every key a collected test names with `@pytest.mark.background(KEY)` (and the
stacks' synthesis when a test uses it), each as `once` in a background thread, so slow work that
mostly waits (the judges' daemons, Traefik, Prometheus' scrapes) runs while the workers go
through the CPU-bound tests; the files that read it are scheduled last (conftest's
`pytest_collection_modifyitems`). `result(KEY)` returns the started future's value, or starts it
now when nothing did (a single test file run by hand). `exclusive(NAME)` makes such work take
turns across the run (two rigs of daemons side by side competed for the two cores). `record` and
`completed` turn a CompletedProcess into its JSON form and back.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Callable, Iterator

_ROOT: Path | None = None
_LOCK = threading.Lock()
_FUTURES: dict[str, Future[Any]] = {}
_PRODUCERS: dict[str, Callable[[], Any]] = {}
# Threads only wait (on subprocesses, locks, sockets): a few are enough for everything started early.
_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="session-share")


def worker_id() -> str:
    """`gw0`, `gw1`... under pytest-xdist, `main` without it."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def shared_folder(basetemp: Path) -> Path:
    """The folder every worker of this run shares: the parent of the workers' basetemps under
    xdist (`.../pytest-N/popen-gwK`), the session's basetemp without it."""
    return (basetemp.parent if worker_id() != "main" else basetemp) / "shared"


def configure(basetemp: Path) -> Path:
    global _ROOT
    _ROOT = shared_folder(basetemp)
    _ROOT.mkdir(parents=True, exist_ok=True)
    return _ROOT


def root() -> Path:
    assert _ROOT is not None, "session_share.configure() runs in conftest's pytest_configure"
    return _ROOT


def once(key: str, produce: Callable[[], Any]) -> Any:
    """`produce()`'s JSON result, produced by exactly one process of the run."""
    folder = root()
    done = folder / f"{key}.json"
    with open(folder / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if done.exists():
            return json.loads(done.read_text())
        value = produce()
        partial = done.with_suffix(".partial")
        partial.write_text(json.dumps(value))
        partial.replace(done)
        return value


@contextmanager
def exclusive(name: str) -> Iterator[None]:
    """Hold the run-wide lock `name` (every worker and thread of this run): for background work
    that must not overlap itself, such as two rehearsal rigs of daemons competing for two cores."""
    with open(root() / f"{name}.exclusive", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def record(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """A finished process as a shared result carries it."""
    return {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr}


def completed(shared: dict[str, Any], args: list[str]) -> subprocess.CompletedProcess[str]:
    """A shared `record` (extra keys such as `out` ignored) as the CompletedProcess it was."""
    return subprocess.CompletedProcess(args, shared["returncode"], shared["stdout"], shared["stderr"])


def register(key: str, produce: Callable[[], Any]) -> None:
    """Name work that may be started early: `start(key)` or `result(key)` runs it."""
    _PRODUCERS[key] = produce


def start(key: str) -> Future[Any]:
    """Submit `once(key, ...)` to the background (idempotent)."""
    with _LOCK:
        if key not in _FUTURES:
            _FUTURES[key] = _POOL.submit(once, key, _PRODUCERS[key])
        return _FUTURES[key]


def result(key: str, timeout: float | None = None) -> Any:
    """The value of registered work `key`: from its background run, started now if need be."""
    return start(key).result(timeout)


def shutdown() -> None:
    _POOL.shutdown(wait=False, cancel_futures=True)
