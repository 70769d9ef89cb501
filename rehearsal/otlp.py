"""A stand-in OpenTelemetry Collector for the routing judge: an OTLP/HTTP receiver on loopback.

Traefik's OTLP HTTP exporter (Traefik v3.7 `pkg/observability/tracing/opentelemetry.go`, the
OpenTelemetry Go SDK's `otlptracehttp`) POSTs protobuf `ExportTraceServiceRequest`s to the
configured URL and retries on errors; the receiver answers 200 with an empty (valid) protobuf
response, as the collector's otlpreceiver does, and keeps what it received. No protobuf parsing:
the judge checks the request path, the content type and that the resource attributes Traefik was
configured with are in the body (protobuf carries strings as raw bytes).
"""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Export:
    path: str
    content_type: str
    body: bytes


class OtlpReceiver:
    """Started on construction; `url` is its base URL; `exports` what it received, in order."""

    def __init__(self) -> None:
        self.exports: list[Export] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while (size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()  # the empty line after the last (zero) chunk
                    body = b"".join(chunks)
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                # The Go SDK's otlptracehttp compresses when configured to (`WithCompression`).
                return gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body

            def do_POST(self) -> None:  # noqa: N802 - stdlib signature
                body = self._body()
                with receiver._lock:
                    receiver.exports.append(Export(self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll: close() waits up to one poll (0.5 s by default).
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def count(self) -> int:
        with self._lock:
            return len(self.exports)

    def since(self, mark: int) -> list[Export]:
        with self._lock:
            return list(self.exports[mark:])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
