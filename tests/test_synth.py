"""Offline synthesis: every stack synthesizes, deterministically, and the diff is a usable plan."""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import STACKS, Synth, run_synth


def test_stack_synthesizes(stack: Synth) -> None:
    assert stack.resources, "no resource registered"
    assert "resources" in stack.stdout
    for record in stack.resources:
        assert set(record) >= {"type", "name", "urn", "parent", "custom", "protect", "dependencies", "inputs"}
    assert stack.outputs["environment"] in ("development", "staging", "production")


def test_every_resource_sits_under_a_component_or_the_stack(stack: Synth) -> None:
    urns = {r["urn"] for r in stack.resources}
    for record in stack.resources:
        parent = record["parent"]
        assert parent and (parent in urns or parent.split("::")[2] == "pulumi:pulumi:Stack"), record["urn"]


PROVIDER_COMPONENTS = {"kubernetes:yaml/v2:ConfigFile"}


def test_components_use_the_project_type_token(stack: Synth) -> None:
    components = [r for r in stack.resources if not r["custom"]]
    assert components
    # Release manifests (yaml.v2.ConfigFile) are provider-side components: allowed, but only
    # inside one of ours.
    ours = {r["urn"] for r in components if r["type"].startswith("saas-platform:index:")}
    for r in components:
        if r["type"] in PROVIDER_COMPONENTS:
            assert r["parent"] in ours, r["urn"]
        else:
            assert r["type"].startswith("saas-platform:index:"), r["urn"]


def test_no_secret_in_clear_in_outputs(stack: Synth) -> None:
    text = (stack.out / "resources.json").read_text() + (stack.out / "outputs.json").read_text()
    assert "synth-placeholder" not in text
    assert "1b47061264138c4ac30d75fd1eb44270" not in text  # the wire marker of a secret


def _tree(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", STACKS)
def test_synthesis_is_deterministic(name: str, synthesized: dict[str, Synth], tmp_path: Path) -> None:
    """A fresh interpreter writes byte for byte what the session's synthesis wrote (which ran
    in a process forked from the test synth server: preloading the SDKs changes nothing)."""
    first = synthesized[name].out
    proc = run_synth(name, tmp_path / name, fresh=True)
    assert proc.returncode == 0, proc.stderr
    second = tmp_path / name
    assert _tree(first) == _tree(second)
    match, mismatch, errors = filecmp.cmpfiles(first, second, _tree(first), shallow=False)
    assert not mismatch and not errors, mismatch + errors


def test_diff_reports_added_removed_and_changed(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(synthesized["dev"].out, base)
    records = json.loads((base / "resources.json").read_text())
    namespace = next(r for r in records if r["type"] == "kubernetes:core/v1:Namespace")
    namespace["inputs"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = "baseline"
    removed = records.pop(next(i for i, r in enumerate(records) if r["type"].endswith("NetworkPolicy")))
    records.append({**removed, "urn": removed["urn"] + "-gone", "name": removed["name"] + "-gone"})
    (base / "resources.json").write_text(json.dumps(records))

    proc = run_synth("dev", tmp_path / "new", "--diff", str(base))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert f"+ {removed['urn']}" in lines
    assert f"- {removed['urn']}-gone" in lines
    assert f"~ {namespace['urn']}" in lines
    assert '    inputs.metadata.labels.pod-security.kubernetes.io/enforce' in lines
    assert "1 to add, 1 to change, 1 to remove" in lines


def test_unchanged_stack_has_an_empty_plan(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    proc = run_synth("prod", tmp_path / "again", "--diff", str(synthesized["prod"].out))
    assert "0 to add, 0 to change, 0 to remove" in proc.stdout


def test_stack_with_the_edge_off_imports_no_cloud_sdk(tmp_path: Path) -> None:
    proc = run_synth("dev", tmp_path / "dev", "--list-sdk-imports")
    assert proc.returncode == 0, proc.stderr
    imported = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "pulumi_kubernetes" in imported
    assert "pulumi_aws" not in imported and "pulumi_cloudflare" not in imported


def test_unknown_stack_is_a_clean_error(tmp_path: Path) -> None:
    proc = run_synth("nope", tmp_path / "nope")
    assert proc.returncode == 1
    assert "known stacks: dev, prod, staging" in proc.stderr
    assert "Traceback" not in proc.stderr
