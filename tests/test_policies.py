"""The policy pack: every rule catches a deliberately bad resource and passes a good one, and the
pack served over gRPC (as the engine runs it) finds nothing mandatory in any stack."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.conftest import ROOT, Synth, run_synth
from tests.policy_harness import PolicyClient, policy_server

sys.path.insert(0, str(ROOT / "policies"))
from saas_policies import POLICIES  # noqa: E402
from saas_policies.offline import evaluate  # noqa: E402

from tests.policy_cases import CASES, deployment  # noqa: E402
from tests.policy_cases.workloads import web  # noqa: E402
from synth.__main__ import policy_config  # noqa: E402

def findings_of(policy: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in evaluate(records) if f["policy"] == policy]


@pytest.mark.parametrize(("policy", "good", "bad"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_passes_good_and_catches_bad(
    policy: str, good: list[dict[str, Any]], bad: list[dict[str, Any]]
) -> None:
    assert findings_of(policy, good) == []
    caught = findings_of(policy, bad)
    assert caught and all(f["level"] == "mandatory" for f in caught)


def test_every_rule_has_a_case() -> None:
    assert {p.name for p in POLICIES} == {c[0] for c in CASES}


def test_every_rule_is_described_and_enforced() -> None:
    for policy in POLICIES:
        assert len(policy.description) > 20
        assert policy.enforcement_level is not None


@pytest.fixture(scope="module")
def pack() -> Iterator[PolicyClient]:
    with policy_server() as client:
        yield client


def test_pack_serves_every_rule_over_grpc(pack: PolicyClient) -> None:
    info = pack.info()
    assert info.name == "saas-platform"
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in POLICIES)
    assert len(info.policies) >= 30


def test_pack_over_grpc_catches_a_bad_resource(pack: PolicyClient) -> None:
    bad = deployment(image="ghcr.io/acme/web:latest", resources={})
    policies = {d["policy"] for d in pack.analyze(bad) if d["level"] == "mandatory"}
    assert {"k8s-pinned-images", "k8s-container-resources"} <= policies
    assert pack.analyze(web()) == []


def test_pack_over_grpc_reads_the_environment_from_policy_config(pack: PolicyClient) -> None:
    from tests.policy_cases.data import mariadb

    careless = mariadb(protect=False)
    rule = "stateful-resources-protected"
    try:
        pack.configure({rule: {"environment": "production"}})
        assert [d["level"] for d in pack.analyze(careless) if d["policy"] == rule] == ["mandatory"]
        pack.configure({rule: {"environment": "development"}})
        assert [d for d in pack.analyze(careless) if d["policy"] == rule] == []
    finally:
        pack.configure({})


def test_no_mandatory_finding_in_any_stack_over_grpc(pack: PolicyClient, stack: Synth) -> None:
    # The engine gets `--policy-pack-config policies/config/<environment>.json`; so does the pack here.
    pack.configure(policy_config(stack.outputs["environment"]))
    diagnostics = []
    for record in stack.resources:
        if record["custom"]:
            diagnostics += pack.analyze(record)
    diagnostics += pack.analyze_stack(stack.resources)
    assert [d for d in diagnostics if d["level"] == "mandatory"] == []
    # The offline report written by synth agrees with what the served pack says.
    assert sorted(d["message"] for d in diagnostics) == sorted(f["message"] for f in stack.findings)


def test_environment_config_changes_the_verdict_over_grpc(pack: PolicyClient) -> None:
    """The same single-replica HPA passes in development and fails in production."""
    from tests.policy_cases.workloads import hpa

    single = hpa(1, 3)
    pack.configure(policy_config("development"))
    assert [d for d in pack.analyze(single) if d["policy"] == "k8s-hpa-bounds"] == []
    pack.configure(policy_config("production"))
    assert [d for d in pack.analyze(single) if d["policy"] == "k8s-hpa-bounds"]


BAD_PROGRAM = """
import pulumi_kubernetes as k8s
k8s.apps.v1.Deployment(
    "careless",
    metadata={"name": "careless"},
    spec={
        "selector": {"matchLabels": {"app": "careless"}},
        "template": {
            "metadata": {"labels": {"app": "careless"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:latest"}]},
        },
    },
)
"""


def test_synth_exits_2_on_a_mandatory_violation(tmp_path: Path) -> None:
    program = tmp_path / "careless.py"
    program.write_text(BAD_PROGRAM)
    proc = run_synth("dev", tmp_path / "out", "--program", str(program))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "out" / "policy-report.json").read_text())
    assert {"k8s-pinned-images", "k8s-container-resources", "k8s-recommended-labels"} <= {f["policy"] for f in report}


def test_clean_stacks_have_no_mandatory_finding(stack: Synth) -> None:
    assert stack.returncode == 0
    assert [f for f in stack.findings if f["level"] == "mandatory"] == []


def test_pack_over_grpc_catches_an_unsafe_bucket_and_a_wildcard_iam_policy(pack: PolicyClient) -> None:
    from tests.policy_cases.storage import bucket_stack, iam_policy

    bad_bucket = bucket_stack(versioning=None, encryption=None, public_access_block=None)
    policies = {d["policy"] for d in pack.analyze_stack(bad_bucket) if d["level"] == "mandatory"}
    assert {"s3-bucket-versioned", "s3-bucket-encrypted", "s3-bucket-not-public"} <= policies
    # A bucket alone is an AWS stack without an audit trail: that rule has its own test below.
    assert [d for d in pack.analyze_stack(bucket_stack()) if d["policy"] != "cloudtrail-enabled-where-aws-is-used"] == []
    assert {d["policy"] for d in pack.analyze(iam_policy("s3:*"))} == {"iam-no-wildcard-actions"}
    assert pack.analyze(iam_policy("s3:GetObject")) == []


def test_pack_over_grpc_requires_an_audit_trail_in_production_only(pack: PolicyClient) -> None:
    """A production stack with AWS resources and no CloudTrail trail is refused; staging is not
    held to it (the trail is on by default in production only); a trail without validation or
    with an unscoped bucket policy is refused everywhere."""
    from tests.policy_cases.audit import _bucket_policy, trail_stack

    rule = "cloudtrail-enabled-where-aws-is-used"
    try:
        pack.configure(policy_config("production"))
        # (the cases carry only the trail's own settings: the generic bucket rules are not asked here)
        assert [d["level"] for d in pack.analyze_stack(trail_stack(trail=None)) if d["policy"] == rule] == ["mandatory"]
        assert [d for d in pack.analyze_stack(trail_stack()) if d["policy"].startswith("cloudtrail-")] == []
        pack.configure(policy_config("staging"))
        assert [d for d in pack.analyze_stack(trail_stack(trail=None)) if d["policy"] == rule] == []
        unsafe = trail_stack(trail={"enableLogFileValidation": False}, policy=_bucket_policy(scoped=False))
        found = {d["policy"] for d in pack.analyze_stack(unsafe)}
        found |= {d["policy"] for r in unsafe for d in pack.analyze(r)}
        assert {"cloudtrail-log-file-validation", "cloudtrail-bucket-private"} <= found
    finally:
        pack.configure({})
