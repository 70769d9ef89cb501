"""Evaluate the `redis` block of config/database.php that docs/components.md tells the
application to use, with real PHP and a stack's `backend-config` as the environment, and resolve
a connection name the way laravel/framework v12.67.0 src/Illuminate/Redis/RedisManager.php
resolve() does (a top-level connection first, then `clusters`)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from tests.conftest import ROOT

START = "  'redis' => ['client' => 'predis'"


def documented_block() -> str:
    """The `'redis' => [...]` PHP array element from docs/components.md, bracket-balanced."""
    lines = (ROOT / "docs" / "components.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(START))
    depth, out = 0, []
    for line in lines[start:]:
        code = line.split("//", 1)[0]
        out.append(code)
        depth += code.count("[") - code.count("]")
        if depth == 0:
            return "\n".join(out)
    raise AssertionError("unbalanced redis block in docs/components.md")


def evaluate(env: dict[str, str]) -> dict[str, Any]:
    """The block evaluated by `php` with `env()` reading `env` (as Laravel's env() reads the pod's)."""
    script = (
        "<?php function env($k, $d = null) { $v = getenv($k); return $v === false ? $d : $v; }\n"
        f"$config = [\n{documented_block()}\n];\necho json_encode($config['redis']);\n"
    )
    proc = subprocess.run(["php", "-n", "-d", "display_errors=stderr"], input=script, capture_output=True, text=True,
                          timeout=30, env={"PATH": os.environ["PATH"], **env})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def resolve(redis: dict[str, Any], name: str) -> tuple[str, list[dict[str, Any]]]:
    """('connection'|'cluster', its host entries): RedisManager::resolve's lookup order."""
    if name in redis:
        entry = redis[name]
        return "connection", [e for k, e in entry.items() if k != "options"] if isinstance(entry, dict) else entry
    if name in (redis.get("clusters") or {}):
        return "cluster", redis["clusters"][name]
    raise AssertionError(f"Redis connection [{name}] not configured")
