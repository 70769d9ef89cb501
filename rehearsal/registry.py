"""The judges by name. Each entry is `module:function`; the function takes a `Build` and returns a
`Verdict` (or raises `JudgeUnavailable`). Imported lazily so one judge's tools never slow another."""

from __future__ import annotations

# Order matters for `all`: cheap, model-based judges first, then those that start real programs.
JUDGES: dict[str, str] = {
    "operators": "rehearsal.operators:judge",
    "engine": "rehearsal.engine:judge",
    "network": "rehearsal.network:judge",
    "routing": "rehearsal.routing:judge",
    "apps": "rehearsal.apps:judge",
    "metrics": "rehearsal.metrics:judge",
}
