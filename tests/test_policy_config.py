"""The per-environment policy config: one file per `environment` value, read by synth, sent
over gRPC by the tests and passed by the workflows as `--policy-pack-config`."""

from __future__ import annotations

import json
import sys

import pytest

from synth.__main__ import policy_config
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "policies"))
from saas_policies import POLICIES  # noqa: E402

ENVIRONMENTS = ("development", "staging", "production")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_environment_has_a_policy_config(environment: str) -> None:
    path = ROOT / "policies" / "config" / f"{environment}.json"
    assert path.is_file(), f"missing {path.relative_to(ROOT)}"
    config = json.loads(path.read_text())
    assert isinstance(config, dict)
    # Keys are policy names of the pack; values are that policy's properties.
    assert all(isinstance(v, dict) for v in config.values())
    unknown = set(config) - {p.name for p in POLICIES}
    assert not unknown, f"{path.name} configures policies the pack does not have: {sorted(unknown)}"
    assert policy_config(environment) == config


def test_no_stray_policy_config() -> None:
    files = {p.stem for p in (ROOT / "policies" / "config").glob("*.json")}
    assert files == set(ENVIRONMENTS)
