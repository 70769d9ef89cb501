"""Offline synthesis: every stack synthesizes, deterministically, and the diff is a usable plan."""

from __future__ import annotations

import filecmp
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, STACKS, Synth, run_synth


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


# pulumi-kubernetes components allowed under ours: the provider-side yaml/v2 ConfigGroups
# and ConfigFiles (the vendored RabbitMQ operator manifests) and the SDK-side yaml.ConfigFile.
PROVIDER_COMPONENTS = {"kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml:ConfigFile"}


def test_components_use_the_project_type_token(stack: Synth) -> None:
    components = [r for r in stack.resources if not r["custom"]]
    assert components
    # Release manifests (yaml ConfigFiles) are pulumi-kubernetes components: allowed, but only
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
    name = namespace["inputs"]["metadata"]["name"]
    assert f"~ Namespace {name}  ({namespace['urn']})" in lines
    assert '    metadata.labels.pod-security.kubernetes.io/enforce: "baseline" -> "restricted"' in lines
    assert "1 to add, 1 to change, 1 to remove" in lines


PROD_IMAGE = "ghcr.io/acme/api:2.3.0"


def test_diff_into_its_own_base_shows_the_new_image_with_old_and_new_values(
    synthesized: dict[str, Synth], tmp_path: Path
) -> None:
    """The user's path: synthesize prod into build/prod, change the backend image in the stack
    file, `python -m synth prod --diff build/prod` (the base is the folder being replaced).
    The first synthesis is the session's prod, copied: the same bytes (test_synthesis_is_deterministic)."""
    build = tmp_path / "build" / "prod"
    assert synthesized["prod"].returncode == 0, synthesized["prod"].stderr
    shutil.copytree(synthesized["prod"].out, build)
    shutil.copytree(build / "manifests" / "saas-app", tmp_path / "first")
    stack_file = tmp_path / "Pulumi.prod.yaml"
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    assert PROD_IMAGE in text
    stack_file.write_text(text.replace(PROD_IMAGE, "ghcr.io/acme/api:2.4.0"))
    proc = run_synth("prod", build, "--diff", str(build), "--stack-file", str(stack_file))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    web = lines.index(next(line for line in lines if line.startswith("~ Deployment saas-app/backend-web  (")))
    changes = lines[web + 1 : next(i for i in range(web + 1, len(lines)) if not lines[i].startswith("    "))]
    assert '    spec.template.spec.containers[1].image: "ghcr.io/acme/api:2.3.0" -> "ghcr.io/acme/api:2.4.0"' in changes
    # Every Deployment running the backend image changes, and nothing else does; a new image is
    # a new migration Job (its pod template is immutable): one added, one removed.
    running = sorted(
        f"saas-app/{path.stem.removeprefix('Deployment-')}"
        for path in (tmp_path / "first").glob("Deployment-*.yaml")
        if PROD_IMAGE in path.read_text()
    )
    assert "saas-app/backend-web" in running and len(running) >= 4
    changed = sorted(line[len("~ Deployment ") :].split("  (")[0] for line in lines if line.startswith("~ "))
    assert changed == running
    assert f"1 to add, {len(running)} to change, 1 to remove" in lines
    # The folder now holds the new synthesis.
    assert "ghcr.io/acme/api:2.4.0" in (build / "manifests" / "saas-app" / "Deployment-backend-web.yaml").read_text()
    # Diffing against itself again: nothing left to do.
    again = run_synth("prod", build, "--diff", str(build), "--stack-file", str(stack_file))
    assert "0 to add, 0 to change, 0 to remove" in again.stdout.splitlines()


def test_diff_never_shows_a_secret(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(synthesized["dev"].out, base)
    records = json.loads((base / "resources.json").read_text())
    secret = next(r for r in records if r["type"] == "kubernetes:core/v1:Secret" and r["inputs"].get("stringData"))
    key = sorted(secret["inputs"]["stringData"])[0]
    secret["inputs"]["stringData"][key] = "old-clear-value"
    (base / "resources.json").write_text(json.dumps(records))
    proc = run_synth("dev", tmp_path / "new", "--diff", str(base))
    assert f'    stringData.{key}: "old-clear-value" -> "[secret]"' in proc.stdout.splitlines()
    assert "synth-placeholder" not in proc.stdout


def test_diff_to_a_missing_folder_is_one_line_and_exit_4(tmp_path: Path) -> None:
    proc = run_synth("dev", tmp_path / "out", "--diff", str(tmp_path / "build" / "nope"))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert proc.stderr.strip() == (
        f"error: --diff {tmp_path}/build/nope: no such folder "
        f"(synthesize the base first: python -m synth STACK --out {tmp_path}/build/nope)"
    )
    assert not (tmp_path / "out").exists(), "nothing is synthesized for a diff that cannot be shown"
    (tmp_path / "empty").mkdir()
    proc = run_synth("dev", tmp_path / "out", "--diff", str(tmp_path / "empty"))
    assert proc.returncode == 4 and "not a synth output (no resources.json in it)" in proc.stderr


def test_failed_synth_removes_the_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "build" / "dev"
    assert run_synth("dev", out).returncode == 0
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("size: small", "size: huge"))
    proc = run_synth("dev", out, "--stack-file", str(bad))
    assert proc.returncode == 1
    assert not out.exists(), "a stale build/dev would pass for the output of the broken config"
    assert "removed the previous output" in proc.stderr
    # Nothing half-written is left beside it either.
    assert sorted(p.name for p in out.parent.iterdir()) == []


def test_out_folder_holding_something_else_keeps_it(tmp_path: Path) -> None:
    """A folder of yours (a mktemp -d with a log in it) gets the synthesis beside your files,
    which neither a run nor a failed run touches; a file as --out is refused."""
    (tmp_path / "mine.txt").write_text("keep me")
    assert run_synth("dev", tmp_path).returncode == 0
    assert (tmp_path / "resources.json").is_file() and (tmp_path / "manifests").is_dir()
    assert run_synth("prod", tmp_path).returncode == 0  # a second stack replaces only synth's entries
    assert '"urn:pulumi:prod::' in (tmp_path / "resources.json").read_text()
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text((ROOT / "Pulumi.dev.yaml").read_text().replace("size: small", "size: huge"))
    assert run_synth("dev", tmp_path, "--stack-file", str(bad)).returncode == 1
    assert not (tmp_path / "resources.json").exists() and not (tmp_path / "manifests").exists()
    assert (tmp_path / "mine.txt").read_text() == "keep me" and bad.exists()
    proc = run_synth("dev", tmp_path / "mine.txt")
    assert proc.returncode == 4 and "is a file, not a folder" in proc.stderr


def _tree_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    return lines[: next(i for i, line in enumerate(lines) if not line.startswith((" ", "-", "saas-platform /")))]


def test_tree_is_stable_and_names_each_release(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:  # two independent syntheses, side by side
        runs = list(pool.map(lambda n: run_synth("staging", tmp_path / str(n), quiet=False), range(2)))
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    first, second = (_tree_lines(r.stdout) for r in runs)
    assert first == second
    components = [line.strip() for line in first if line.startswith("- ")]
    assert components == sorted(components)
    releases = [line.strip() for line in first if line.strip().startswith("Release ")]
    assert not any(" x" in line.split(":")[0] for line in releases), "releases are named, never `Release x3`"
    # Each release with its chart and pinned version, as helm/<name>.yaml records them.
    for path in sorted((tmp_path / "0" / "helm").glob("*.yaml")):
        release = yaml.safe_load(path.read_text())
        chart = release["chart"].rsplit("/", 1)[-1]
        assert f"Release {release['name']}: {chart} {release['version']} in {release['namespace']}" in releases
    assert len(releases) == len(list((tmp_path / "0" / "helm").glob("*.yaml")))
    assert "next steps:" in runs[0].stdout and "pulumi up -s staging" in runs[0].stdout


def test_quiet_mode_names_the_failed_rule_and_why(tmp_path: Path) -> None:
    from tests.test_policies import BAD_PROGRAM

    program = tmp_path / "careless.py"
    program.write_text(BAD_PROGRAM)
    proc = run_synth("dev", tmp_path / "out", "--program", str(program))  # run_synth is --quiet
    assert proc.returncode == 2
    report = json.loads((tmp_path / "out" / "policy-report.json").read_text())
    mandatory = [f for f in report if f["level"] == "mandatory"]
    assert mandatory
    for finding in mandatory:
        assert f"  [mandatory] {finding['policy']} on Deployment careless: {finding['message']}" in proc.stdout.splitlines()


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


CONTEXTS = {"dev": "k3d-saas", "staging": "saas-staging", "prod": "saas-prod"}


def test_every_kubernetes_object_goes_through_the_stacks_provider(stack: Synth) -> None:
    """Issue item 14 / review finding 31: one explicit Kubernetes provider per stack, bound to
    the stack's kubeconfig context, and every Kubernetes resource (charts included) uses it, so
    `pulumi up -s dev` with a prod context active still writes only to the dev cluster. The
    synth records each registration's provider reference (`<urn>::<id>`)."""
    (provider,) = stack.of_type("pulumi:providers:kubernetes")
    assert provider["inputs"]["context"] == CONTEXTS[stack.stack]
    assert provider["name"] == "kubernetes"
    kubernetes = [r for r in stack.resources if r["custom"] and r["type"].startswith("kubernetes:")]
    assert len(kubernetes) > 50
    strays = [r["urn"] for r in kubernetes if not str(r.get("provider") or "").startswith(provider["urn"] + "::")]
    assert strays == []
