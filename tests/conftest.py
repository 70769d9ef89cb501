"""Shared fixtures: each stack is synthesized once per test session, in its own process
(Pulumi mocks are process-global and mock runs are known to hang now and then, so every run
gets a fresh runtime and a timeout)."""

from __future__ import annotations

import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests import session_share

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")
SYNTH_TIMEOUT = 180


def run_synth(
    stack: str, out: Path, *extra: str, fresh: bool = False, quiet: bool = True
) -> subprocess.CompletedProcess[str]:
    """`python -m synth STACK --out OUT [--quiet] EXTRA...`, each in a process of its own.

    By default the process is forked from the session's synth server (tests/synth_server.py),
    which has the SDKs imported already: the same CLI, exit code and output, without paying
    the imports again (they are most of a synthesis). `fresh=True` starts a new interpreter;
    the import listings always do, since they report what a fresh process imports."""
    argv = [stack, "--out", str(out), *(["--quiet"] if quiet else []), *extra]
    server = None if fresh or {"--list-sdk-imports", "--list-imports"} & set(extra) else _SERVER.get()
    if server is None:
        return subprocess.run(
            [sys.executable, "-m", "synth", *argv], cwd=ROOT, capture_output=True, text=True, timeout=SYNTH_TIMEOUT
        )
    return server.run(argv, SYNTH_TIMEOUT)


class _SynthServer:
    """The session's fork server: started on first use, stopped at the end of the session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._path = ""
        self._failed = os.environ.get("SYNTH_TESTS_FORK", "1") == "0" or not hasattr(os, "fork")

    def get(self) -> "_SynthServer | None":
        with self._lock:
            if self._proc is None and not self._failed:
                self._start()
        return None if self._failed else self

    def _start(self) -> None:
        self._path = os.path.join(tempfile.mkdtemp(prefix="synth-server-"), "socket")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.synth_server", self._path],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        assert self._proc.stdout is not None
        if self._proc.stdout.readline().strip() != "ready":
            self._failed = True
            REPORT.append("synth server did not start: every synthesis runs in a fresh interpreter")

    def _send(self, request: dict[str, Any], timeout: float) -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(self._path)
            connection.sendall(json.dumps(request).encode() + b"\n")
            chunks = []
            while chunk := connection.recv(1 << 20):
                chunks.append(chunk)
        return b"".join(chunks)

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "synth", *argv]
        try:
            reply = self._send({"argv": argv, "timeout": timeout}, timeout + 10)
        except socket.timeout as exc:
            raise subprocess.TimeoutExpired(command, timeout) from exc
        if not reply:  # killed by its alarm, or crashed before replying
            raise subprocess.TimeoutExpired(command, timeout)
        result = json.loads(reply)
        if result.get("modules"):
            self._send({"learn": result["modules"]}, 30)
        return subprocess.CompletedProcess(command, result["returncode"], result["stdout"], result["stderr"])

    def warm(self, modules: list[str]) -> None:
        """Import these modules in the server now (before forking the children that need them)."""
        self._send({"learn": modules}, 120)

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._send({"stop": True}, 10)
                self._proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
        if self._path and os.path.exists(self._path):
            os.unlink(self._path)
            os.rmdir(os.path.dirname(self._path))


_SERVER = _SynthServer()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files in three groups: those that need no shared synthesis first (they run while the
    stacks synthesize in the background), then those that read the stacks, then those with a
    test reading other work started in the background (`@pytest.mark.background`), so that work
    has the rest of the run to finish in. Whole files move (a module's daemons start once); the
    order inside each group stays as collected, but for the last group's (LATE_FIRST);
    `--no-loadscope-reorder` keeps xdist to it."""
    late = {item.path for item in items if item.get_closest_marker("background") is not None}
    stacks = {item.path for item in items if "synthesized" in item.fixturenames}
    items.sort(key=lambda item: (item.path in late, item.path in stacks, _late_rank(item.path) if item.path in late else 0))


# The background files' rough durations in a whole run on 2 cores (tracing ~9 s, the Redis
# Cluster ~8 s, the network judge's mutations ~7 s, metrics ~5 s, MaxScale ~3 s, then 1-3 s):
# the longest start first, so the two workers finish the run together instead of one waiting
# for a long file the other took last (longest-processing-time order). Unlisted files follow.
LATE_FIRST = ("test_tracing.py", "test_redis_cluster.py", "test_rehearsal_network.py", "test_rehearsal_metrics.py",
              "test_maxscale.py", "test_rehearsal_engine.py", "test_rehearsal_operators.py")


def _late_rank(path: Path) -> int:
    return LATE_FIRST.index(path.name) if path.name in LATE_FIRST else len(LATE_FIRST)


@pytest.fixture(scope="session", autouse=True)
def _background_work(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Start, before the first test, the shared work this run's tests will read: the three
    stacks' synthesis when a test uses them, and each key a test names with `background(KEY)`.
    Under xdist every worker starts them; `session_share.once` lets one of them produce."""
    session_share.configure(tmp_path_factory.getbasetemp())
    items = request.session.items
    keys = {key for item in items for mark in item.iter_markers("background") for key in mark.args}
    if any("synthesized" in item.fixturenames for item in items):
        keys.add("synthesized")
    for key in sorted(keys, key=lambda k: k != "synthesized"):  # the stacks first: most work needs them
        session_share.start(key)
    yield


def pytest_sessionfinish(session: pytest.Session) -> None:
    session_share.shutdown()
    _SERVER.stop()
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its summary lines go to the controller
        workeroutput["report"] = list(REPORT)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist's controller: collect each worker's summary lines (pytest_sessionfinish above)."""
    REPORT.extend(getattr(node, "workeroutput", {}).get("report", []))


@dataclass
class Synth:
    """One stack's synth output, loaded for assertions."""

    stack: str
    out: Path
    returncode: int
    stdout: str
    stderr: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    _manifests: list[tuple[Path, dict[str, Any]]] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, stack: str, out: Path, proc: subprocess.CompletedProcess[str]) -> "Synth":
        synth = cls(stack, out, proc.returncode, proc.stdout, proc.stderr)
        if (out / "resources.json").is_file():
            synth.resources = json.loads((out / "resources.json").read_text())
            synth.findings = json.loads((out / "policy-report.json").read_text())
            synth.outputs = json.loads((out / "outputs.json").read_text())
        return synth

    def release(self, name: str) -> dict[str, Any]:
        """A Helm release as synth wrote it: chart, version, repositoryOpts, namespace, values."""
        return yaml.safe_load((self.out / "helm" / f"{name}.yaml").read_text())

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["type"] == type_]

    def manifests(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every manifest file and its object, parsed once per synthesis (tests read them often)."""
        if self._manifests is None:
            loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
            self._manifests = [
                (path, yaml.load(path.read_text(), Loader=loader))  # noqa: S506 - a safe loader
                for path in sorted((self.out / "manifests").glob("**/*.yaml"))
            ]
        yield from ((path, copy.deepcopy(manifest)) for path, manifest in self._manifests)

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Copies of the manifests of this kind (and namespace): only the matches are copied, not
        every manifest (the operators' CRDs are 450 kB; tests call this often)."""
        next(self.manifests(), None)  # parse once
        assert self._manifests is not None
        return [
            copy.deepcopy(m) for _, m in self._manifests
            if m["kind"] == kind and (namespace is None or m["metadata"].get("namespace") == namespace)
        ]

    def object(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        matches = [m for m in self.objects(kind, namespace) if m["metadata"]["name"] == name]
        assert len(matches) == 1, f"expected one {kind} {namespace}/{name}, found {len(matches)}"
        return matches[0]


def _synthesize_stacks() -> dict[str, dict[str, Any]]:
    """The three stacks into the run's shared folder, concurrently (forked children)."""
    base = session_share.root() / "synth"
    server = _SERVER.get()
    if server is not None:  # staging and prod need the cloud SDKs: import them once, not per child
        server.warm(["pulumi_aws", "pulumi_cloudflare"])
    with ThreadPoolExecutor(max_workers=len(STACKS)) as pool:
        procs = dict(zip(STACKS, pool.map(lambda s: run_synth(s, base / s), STACKS)))
    return {stack: {"out": str(base / stack), **session_share.record(proc)} for stack, proc in procs.items()}


def loaded(stack: str, record: dict[str, Any]) -> Synth:
    """A Synth from a shared synthesis record (`_synthesize_stacks`, `variant`)."""
    return Synth.load(stack, Path(record["out"]), session_share.completed(record, ["synth", stack]))


session_share.register("synthesized", _synthesize_stacks)


@pytest.fixture(scope="session")
def synthesized() -> dict[str, Synth]:
    """dev, staging and prod, synthesized once per run (shared by the xdist workers)."""
    return {stack: loaded(stack, record) for stack, record in session_share.result("synthesized").items()}


@pytest.fixture(params=STACKS)
def stack(request: pytest.FixtureRequest, synthesized: dict[str, Synth]) -> Synth:
    synth = synthesized[request.param]
    assert synth.returncode == 0, f"synth {synth.stack} failed:\n{synth.stdout}\n{synth.stderr}"
    return synth


# A stack-file variant of staging exercising what the three stack files do not: the minio
# engine (endpoint and secret credentials), a bucket prefix, several RabbitMQ queues and a
# custom delivery limit.
VARIANT_QUEUES = ["default", "emails", "exports.high"]
VARIANT_CONFIG: dict[str, Any] = {
    "saas-platform:objectStorage": {
        "engine": "minio", "endpoint": "https://s3.files.example.net", "region": "eu-central-1",
        "bucketPrefix": "acme-files",
    },
    "saas-platform:minioAccessKey": {"secure": "v1:c3ludGgtYWNjZXNz"},
    "saas-platform:minioSecretKey": {"secure": "v1:c3ludGgtc2VjcmV0"},
    "saas-platform:rabbitmq": {"queues": VARIANT_QUEUES, "deliveryLimit": 3, "storage": "20Gi"},
}


def _synthesize_variant() -> dict[str, Any]:
    base = session_share.root() / "variant"
    base.mkdir(exist_ok=True)
    config = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())["config"]
    config.update(VARIANT_CONFIG)
    stack_file = base / "Pulumi.variant.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    proc = run_synth("variant", base / "out", "--stack-file", str(stack_file))
    return {"out": str(base / "out"), **session_share.record(proc)}


session_share.register("variant", _synthesize_variant)


@pytest.fixture(scope="session")
def variant() -> Synth:
    """Staging with the VARIANT_CONFIG overrides, synthesized once per run."""
    synth = loaded("variant", session_share.result("variant"))
    assert synth.returncode == 0, f"synth variant failed:\n{synth.stdout}\n{synth.stderr}"
    return synth


def parse_config(raw: dict[str, Any], stack: str) -> Any:
    """`components.config.parse` on plain values, as `load()` would call it: secret keys are
    never among the values, only named as set (here: exactly those the values need)."""
    from components import config

    secrets: set[str] = set()
    if (raw.get("edge") or {}).get("dns") == "cloudflare":
        secrets.add("cloudflareDns01Token")
    if (raw.get("objectStorage") or {}).get("engine") == "minio":
        secrets |= {"minioAccessKey", "minioSecretKey"}
    return config.parse({k: v for k, v in raw.items() if k not in config.SECRET_KEYS}, stack, secrets)
# Lines a test wants in the final summary of the run (e.g. how long the checkov scans took).
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in REPORT:
        terminalreporter.write_line(line)


def run_in_fresh_loop(make_coroutine: Any) -> Any:
    """Run `make_coroutine()` (which may create Pulumi Outputs) in an event loop of its own, and
    leave a fresh current loop behind: `asyncio.run` would leave none, and a synth forked from
    this process later (tests/test_config.py) needs one to register its root stack."""
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(make_coroutine())
    finally:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop.close()
