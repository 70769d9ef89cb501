"""What a fault needs to know of a stack on the rig (the metrics judge's `Stage` provides it).

A Protocol in its own module so that `faults` (the rig actions) and `metrics` (the judge that
runs them) both import it and neither imports the other backwards.
"""

from __future__ import annotations

from typing import Protocol

from rehearsal.base import Build
from rehearsal.rig import Rig


class StageView(Protocol):
    """One stack on the rig: its build, the rig, and the RabbitMQ queues its faults act on."""

    build: Build
    rig: Rig
    vhost: str
    """RabbitMQ vhost, URL-quoted as the management API expects it (`%2F`)."""
    app_queues: list[str]
    dead_letter_queues: list[str]
