"""The large tier (prod's stack file with `size: large`), synthesized once per test run and
judged once: tests/test_redis_cluster.py (its Redis Cluster cache) and tests/test_maxscale.py
(MaxScale over three servers) read the same synthesis, and tests/test_large_tier.py reads every
behaviour judge's verdict on it from the run's one `python -m rehearsal all` of the stacks and
this folder (tests/rehearsal_helpers.py `judged`, started in the background)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import yaml

from tests import session_share
from tests.conftest import ROOT, Synth, loaded, run_synth


def _synthesize() -> dict[str, Any]:
    base = session_share.root() / "large-tier"
    base.mkdir(parents=True, exist_ok=True)
    stack_file = base / "Pulumi.large.yaml"
    document = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    document["config"]["saas-platform:size"] = "large"
    # Large runs MaxScale in front of three servers, beyond the BSL grant: the variant states the
    # subscription (components/config.py refuses it otherwise, data.maxscale.licensed).
    document["config"].setdefault("saas-platform:data", {}).setdefault("maxscale", {})["licensed"] = True
    stack_file.write_text(yaml.safe_dump(document))
    proc = run_synth("large", base / "out", "--stack-file", str(stack_file))
    return {"out": str(base / "out"), **session_share.record(proc)}


session_share.register("large-tier", _synthesize)


@lru_cache(maxsize=None)
def large_tier() -> Synth:
    """The run's large-tier synthesis (shared by the xdist workers, started early when the
    stacks' judging is)."""
    synth = loaded("large", session_share.result("large-tier"))
    assert synth.returncode == 0, f"synth large failed:\n{synth.stdout}\n{synth.stderr}"
    return synth
