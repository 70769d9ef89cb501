"""What listens inside another process's network namespace, read from /proc (no nsenter)."""

from __future__ import annotations

import socket
from pathlib import Path


def _address(hex_address: str) -> str:
    """An address as /proc/net/tcp{,6} prints it (little-endian 32-bit words) in the usual notation."""
    raw = b"".join(bytes.fromhex(hex_address[i : i + 8])[::-1] for i in range(0, len(hex_address), 8))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


def listening_on(pid: int, port: int) -> list[str]:
    """The addresses a TCP socket listens on at `port` in the network namespace of process `pid`
    (/proc/<pid>/net/tcp* shows that process's namespace, not the reader's)."""
    addresses = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A: TCP_LISTEN
                addresses.append(_address(address))
    return addresses
