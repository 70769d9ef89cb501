"""A FastCGI GET, as the backend pod's php-fpm exporter sends it to read the pool's status page
(hipages/php-fpm_exporter v2.2.0 phpfpm/phpfpm.go `Pool.Update`: SCRIPT_FILENAME and SCRIPT_NAME
= the URI's path, QUERY_STRING `json&full`). That exporter is not packaged in Debian; php-fpm is,
so the judge asks the real php-fpm the exporter's question and checks the answer is the status."""

from __future__ import annotations

import socket
import struct

_BEGIN, _END, _PARAMS, _STDIN, _STDOUT, _STDERR = 1, 3, 4, 5, 6, 7


def _record(kind: int, content: bytes, request_id: int = 1) -> bytes:
    return struct.pack("!BBHHBx", 1, kind, request_id, len(content), 0) + content


def _pair(name: str, value: str) -> bytes:
    out = b""
    for text in (name.encode(), value.encode()):
        out += struct.pack("!B", len(text)) if len(text) < 128 else struct.pack("!I", len(text) | 0x80000000)
    return out + name.encode() + value.encode()


def get(host: str, port: int, path: str, query: str = "json&full", timeout: float = 5.0) -> tuple[str, str]:
    """(stdout, stderr) of a FastCGI responder's answer to GET `path?query`."""
    params = {"SCRIPT_FILENAME": path, "SCRIPT_NAME": path, "SERVER_SOFTWARE": "go / php-fpm_exporter",
              "REMOTE_ADDR": "127.0.0.1", "QUERY_STRING": query, "REQUEST_METHOD": "GET"}
    body = b"".join(_pair(k, v) for k, v in params.items())
    message = (_record(_BEGIN, struct.pack("!HB5x", 1, 0)) + _record(_PARAMS, body) + _record(_PARAMS, b"")
               + _record(_STDIN, b""))
    out, err = b"", b""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(message)
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buffer += chunk
        while len(buffer) >= 8:
            _, kind, _, length, padding = struct.unpack("!BBHHB", buffer[:7])
            content = buffer[8:8 + length]
            buffer = buffer[8 + length + padding:]
            if kind == _STDOUT:
                out += content
            elif kind == _STDERR:
                err += content
            elif kind == _END:
                break
    return out.decode(errors="replace"), err.decode(errors="replace")
