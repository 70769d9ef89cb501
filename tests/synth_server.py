"""A fork server for the tests' syntheses: `python -m tests.synth_server SOCKET`.

A synthesis must run in a process of its own (Pulumi's runtime and mocks are process-global,
and mock runs are known to hang now and then), but a fresh interpreter spends most of a
synthesis importing the SDKs: about 0.8 s for dev and 3 s for staging, where pulumi_cloudflare
alone imports ~780 modules. This server imports the third-party modules once and forks one
child per request: each child is a clean process whose runtime is untouched (the server never
synthesizes), which runs `python -m synth ARGV` and exits. Children import what they need
beyond that as usual.

Third-party modules are preloaded, and of the project's own only the CLI and the config
schema (`synth.__main__`, `synth.run`, `components.config`: pydantic builds the schema at
import, which is most of a run that stops at a bad key). Neither reads Pulumi config or state
at import. The components that register resources, the policies and the program are imported
by each child, after synth has set the stack's config, as in a fresh `python -m synth`.
The preloaded third-party set grows with what children report they imported (a child's report
names every non-project module it loaded), so the server needs no list to maintain. The tests
compare a fresh interpreter's output with a forked one's for every stack
(tests/test_synth.py::test_synthesis_is_deterministic).

Protocol: one request per connection, a JSON line `{"argv": [...], "timeout": seconds}`; the
reply is `{"returncode": int, "stdout": str, "stderr": str}`, after which the connection
closes. A child that exceeds its timeout is killed by SIGALRM and the connection closes
without a reply.
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import os
import signal
import socket
import sys
import tempfile
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Imported at start: what every synthesis needs. Anything else children load (API groups of
# pulumi_kubernetes, pulumi_aws and pulumi_cloudflare for stacks with the edge on) is learnt
# from their reports, so a test file that never synthesizes such a stack never pays for it.
PRELOAD = (
    "pulumi", "pulumi.runtime", "pulumi_kubernetes", "pulumi_random",
    "pulumi_policy", "pydantic", "yaml", "grpc", "synth.__main__", "synth.run", "components.config",
)


def preload(names: list[str] | tuple[str, ...]) -> None:
    """Import `names` as a child's own imports would have left them.

    Importing a submodule by name binds it on its package, which can hide what the package
    itself bound to that name: `pulumi_kubernetes.apiextensions` does
    `from .CustomResource import *`, so its `CustomResource` is the class, but importing the
    module `pulumi_kubernetes.apiextensions.CustomResource` by name afterwards (the package is
    lazily loaded) rebinds it to the module. The package's own binding is put back."""
    missing = object()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pulumi_cloudflare's DeprecationWarnings at import
        for name in names:
            if name in sys.modules:
                continue
            parent_name, _, child = name.rpartition(".")
            try:
                parent = importlib.import_module(parent_name) if parent_name else None
                before = getattr(parent, child, missing) if parent is not None else missing
                if name in sys.modules:  # the package imported it while loading
                    continue
                module = importlib.import_module(name)
            except Exception:  # noqa: BLE001 - a child imports it again and reports any error
                continue
            if parent is not None and before is not missing and before is not module:
                setattr(parent, child, before)


def run_child(connection: socket.socket, request: dict) -> None:
    """In the forked child: run the synth CLI with stdout/stderr captured, reply, exit."""
    signal.alarm(int(request.get("timeout") or 0))
    inherited = frozenset(sys.modules)  # the server's own: no need to report them back
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), write_through=True)
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), write_through=True)
        try:
            from synth.__main__ import main

            code = main(list(request["argv"]))
        except SystemExit as exc:  # argparse errors, as `python -m synth` would exit
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - what the interpreter would print, exit 1
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        out.seek(0)
        err.seek(0)
        from synth.run import imported_modules

        reply = {"returncode": code, "stdout": out.read(), "stderr": err.read(), "modules": imported_modules(inherited)}
    connection.sendall(json.dumps(reply).encode())
    connection.close()


def serve(path: str) -> None:
    os.chdir(ROOT)
    preload(PRELOAD)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    learnt: set[str] = set(sys.modules)
    parent = os.getppid()
    # Wake up now and then: a server whose pytest died (killed by a timeout) exits instead of
    # holding its memory on a shared machine.
    listener.settimeout(5)
    while True:
        try:
            connection, _ = listener.accept()
        except socket.timeout:
            if os.getppid() != parent:
                break
            continue
        connection.settimeout(None)
        data = b""
        while not data.endswith(b"\n"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        request = json.loads(data or b"{}")
        if request.get("stop"):
            connection.close()
            break
        if "learn" in request:  # a client passes on what a child reported it imported
            names = [n for n in request["learn"] if n not in learnt]
            learnt.update(names)
            connection.close()
            preload(names)
            continue
        # Everything the server holds goes to the permanent generation: a child's collections
        # then never walk (and so never copy-on-write) the parent's heap (gc.freeze docs).
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            listener.close()
            try:
                run_child(connection, request)
            finally:
                os._exit(0)
        connection.close()
        # Reap finished children without blocking (their replies went straight to the client).
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


if __name__ == "__main__":
    serve(sys.argv[1])
