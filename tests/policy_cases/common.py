"""Building blocks for policy test cases.

A case is `(policy name, resources it must accept, resources it must reject)`. Resources are
records shaped like synth's resources.json entries, so resource rules and stack rules are
exercised through the same `evaluate` path the synth and the gRPC server use.
"""

from __future__ import annotations

from typing import Any

Case = tuple[str, list[dict[str, Any]], list[dict[str, Any]]]


def record(
    type_: str,
    name: str,
    inputs: dict[str, Any],
    *,
    protect: bool = False,
    custom: bool = True,
    stack: str = "prod",
    parent: str | None = None,
    dependencies: list[str] | None = None,
) -> dict[str, Any]:
    """A resource as synth records it (the URN follows the engine's format)."""
    return {
        "type": type_,
        "name": name,
        "urn": f"urn:pulumi:{stack}::saas-platform::{type_}::{name}",
        "custom": custom,
        "protect": protect,
        "parent": parent,
        "dependencies": dependencies or [],
        "inputs": inputs,
    }
