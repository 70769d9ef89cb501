"""Loopback ports for the daemons the judges and the tests start.

A port is chosen before its daemon binds it, seconds later. One from the kernel's ephemeral
range (ip_local_port_range, 32768-60999 by default, where `bind(0)` picks) can meanwhile become
the source port of any outgoing connection (every scrape opens one) or another process's
`bind(0)`, and the daemon then fails to listen: seen with two rehearsal processes side by side,
and with a test's Redis Cluster whose node could not listen under a loaded run. So ports come
from below that range, and each one chosen is reserved for this process's lifetime by a lock
file, so two processes (judges, pytest workers) never pick the same one.
"""

from __future__ import annotations

import fcntl
import os
import random
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

PORT_RANGE = range(20000, 32768)
_LOCK_DIR = Path(tempfile.gettempdir()) / "rehearsal-ports"
_RESERVED: list[Any] = []  # lock files held open (their flock) until the process exits
_RANDOM = random.Random(os.getpid() ^ time.time_ns())


def _reserve(port: int) -> bool:
    _LOCK_DIR.mkdir(exist_ok=True)
    lock = open(_LOCK_DIR / f"{port}.lock", "w")  # noqa: SIM115 - held for the process's lifetime
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        return False
    _RESERVED.append(lock)
    return True


def free_port() -> int:
    return free_ports(["port"])["port"]


def free_ports(names: list[str]) -> dict[str, int]:
    """A distinct free port for each name, reserved for this process (see PORT_RANGE)."""
    chosen: list[int] = []
    while len(chosen) < len(names):
        port = _RANDOM.choice(PORT_RANGE)
        if port in chosen:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        if _reserve(port):
            chosen.append(port)
    return dict(zip(names, chosen))
