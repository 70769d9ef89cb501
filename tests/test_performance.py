"""What keeps synthesis fast must not change what it writes or finds, and `make bench` must
measure what it claims: the floor, the deploy critical path."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, Synth

sys.path.insert(0, str(ROOT / "policies"))

from saas_policies import POLICIES  # noqa: E402
from saas_policies.offline import evaluate  # noqa: E402
from synth.run import dump_yaml  # noqa: E402


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench", ROOT / "scripts" / "bench.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


bench = _bench()


# --- libyaml's emitter, PyYAML's bytes -----------------------------------------------------

# The two places where libyaml's emitter and PyYAML's pure-Python one write different bytes
# (PyYAML 6.0.4 yaml/emitter.py write_double_quoted / check_simple_key; libyaml 0.2.6 src/emitter.c
# yaml_emitter_write_double_quoted / yaml_emitter_check_simple_key): a long double-quoted
# scalar is wrapped after escapes by PyYAML only, and a 123..128-character key is simple for
# libyaml but not for PyYAML (which counts the implicit `!!str` tag).
DIVERGENT = {
    "long double-quoted": {"data": {"nginx.conf": "server {\n    listen 8080;\n" + "    location /x { return 404; }\n" * 4}},
    "key of 125 characters": {"k" * 125: "v"},
    "double-quoted complex key": {"outer": {"a" * 90 + "- item" + "a" * 90 + " \n  b" + "a" * 40 + '"q"\t*': "v"}},
}


@pytest.mark.parametrize("case", sorted(DIVERGENT))
def test_dump_keeps_pyyaml_bytes_where_libyaml_differs(case: str) -> None:
    value = DIVERGENT[case]
    pure = yaml.dump(value, Dumper=yaml.SafeDumper, sort_keys=True, default_flow_style=False)
    fast = yaml.dump(value, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False)
    assert fast != pure, "libyaml and PyYAML agree here: the case no longer shows a divergence"
    assert dump_yaml(value) == pure


def test_dump_takes_the_fast_path_for_long_unquoted_lines() -> None:
    """A line over 80 columns that holds no double-quoted scalar and no long key (a long URL in
    plain text) is written the same by both emitters and does not force the slow path."""
    from synth import run

    value = {"url": "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}
    fast = yaml.dump(value, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False)
    assert max(len(line) for line in fast.splitlines()) > 80
    assert not any(run._diverges(line) for line in fast.splitlines())
    assert dump_yaml(value) == fast == yaml.dump(value, Dumper=yaml.SafeDumper, sort_keys=True, default_flow_style=False)


def test_dump_matches_pyyaml_on_generated_documents() -> None:
    """Random Kubernetes-like documents (quotes, newlines, tabs, unicode, long words, long keys):
    the fast path writes exactly PyYAML's bytes every time."""
    import random

    rnd = random.Random(20)
    pieces = ["name", "app.kubernetes.io/name", " ", "  ", "\n", "\n  ", '"q"', "'s'", "#", "é", "\t", ": ", "- ",
              "x" * 40, "true", "123", "~", "", "{", "}", "http://example.com/a?b=c"]

    def text() -> str:
        return "".join(rnd.choice(pieces) for _ in range(rnd.choice((1, 3, 8, 25))))

    def value(depth: int = 0) -> Any:
        roll = rnd.random()
        if depth < 4 and roll < 0.35:
            return {text() or "k": value(depth + 1) for _ in range(rnd.randint(1, 4))}
        if depth < 4 and roll < 0.5:
            return [value(depth + 1) for _ in range(rnd.randint(1, 3))]
        return rnd.choice([text(), text(), rnd.randint(0, 10**6), True, None])

    for _ in range(400):
        document = {"metadata": {"name": text() or "n", "labels": value()}, "k" * rnd.randint(118, 130): text(), "data": value()}
        assert dump_yaml(document) == yaml.dump(document, Dumper=yaml.SafeDumper, sort_keys=True, default_flow_style=False)


def test_written_files_are_pyyaml_bytes(stack: Synth) -> None:
    """Every manifest and Helm file is exactly what PyYAML's own dumper writes for its content,
    so switching to libyaml changed no byte of any stack's output."""
    files = sorted((stack.out / "manifests").glob("**/*.yaml")) + sorted((stack.out / "helm").glob("*.yaml"))
    assert files
    for path in files:
        text = path.read_text()
        # Parsed with libyaml (what is compared is the dump, which stays PyYAML's pure-Python one).
        content = yaml.load(text, Loader=yaml.CSafeLoader)  # noqa: S506 - a safe loader
        pure = yaml.dump(content, Dumper=yaml.SafeDumper, sort_keys=True, default_flow_style=False)
        assert text == pure, path


# --- the policy pass shares its per-resource work between policies -------------------------


def test_shared_policy_inputs_give_each_policy_its_own_verdict(stack: Synth) -> None:
    """One proxy per resource serves every policy: running the policies one at a time finds
    exactly what running them together finds (no policy sees another's state), on every stack
    and on a copy with violations planted."""
    records = json.loads((stack.out / "resources.json").read_text())
    broken = json.loads(json.dumps(records))
    for record in broken:
        spec = ((record["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in spec.get("containers") or []:
            container.pop("resources", None)
            container["image"] = "nginx:latest"
    for rows in (records, broken):
        together = evaluate(rows)
        alone = sorted((f for p in POLICIES for f in evaluate(rows, policies=[p])),
                       key=lambda f: (f["policy"], f["urn"], f["message"]))
        assert together == alone
    assert evaluate(broken), "the planted violations were not found"


# --- make bench ------------------------------------------------------------------------------


def _resource(urn: str, custom: bool = True, parent: str | None = None, deps: tuple[str, ...] = (),
              type_: str = "kubernetes:core/v1:ConfigMap") -> dict[str, Any]:
    return {"urn": urn, "name": urn, "type": type_, "custom": custom, "parent": parent, "dependencies": list(deps)}


def test_critical_path_expands_components_and_keeps_remote_ones() -> None:
    """A dependency on a local component waits for its custom descendants (pulumi 3.272.0
    pulumi/runtime/rpc.py `_add_dependency`); a remote component (yaml/v2 ConfigFile) is one step."""
    resources = [
        _resource("stack", custom=False, type_="pulumi:pulumi:Stack"),
        _resource("ns", parent="stack", type_="kubernetes:core/v1:Namespace"),
        _resource("crds", parent="stack", deps=("ns",), type_="kubernetes:helm.sh/v3:Release"),
        _resource("operator", parent="stack", deps=("crds",), type_="kubernetes:helm.sh/v3:Release"),
        _resource("comp", custom=False, parent="stack", type_="saas-platform:index:Data"),
        _resource("cluster", parent="comp", deps=("operator",), type_="kubernetes:x/v1:Cluster"),
        _resource("remote", custom=False, parent="stack", deps=("cluster",), type_="kubernetes:yaml/v2:ConfigFile"),
        # a yaml/v2 group whose objects synth recorded (synth/yaml_v2.py): still one step
        _resource("group", custom=False, parent="stack", deps=("remote",), type_="kubernetes:yaml/v2:ConfigGroup"),
        _resource("group-crd", parent="group", type_="kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"),
        _resource("group-cr", parent="group", deps=("group-crd",), type_="kubernetes:x/v1:Thing"),
        _resource("user", parent="stack", deps=("comp", "group")),
        _resource("lone", parent="stack"),
    ]
    path = bench.critical_path(resources)
    assert [r["urn"] for r in path.members] == ["ns", "crds", "operator", "cluster", "remote", "group", "user"]
    assert "group-cr" not in bench.deploy_steps(resources)
    assert path.helm_releases == 2
    with pytest.raises(ValueError, match="cycle"):
        bench.critical_path([_resource("a", deps=("b",)), _resource("b", deps=("a",))])


def test_critical_path_of_each_stack_is_a_longest_dependency_chain(stack: Synth) -> None:
    steps = bench.deploy_steps(stack.resources)
    path = bench.critical_path(stack.resources)
    urns = [r["urn"] for r in path.members]
    assert len(urns) >= 3 and all(urns[i] in steps[urns[i + 1]] for i in range(len(urns) - 1))

    @lru_cache(maxsize=None)
    def depth(urn: str) -> int:
        return 1 + max((depth(d) for d in steps[urn]), default=0)

    assert len(urns) == max(depth(u) for u in steps)
    assert path.helm_releases == sum(r["type"] == "kubernetes:helm.sh/v3:Release" for r in path.members)


def test_floor_imports_what_synthesis_imports_and_nothing_of_the_project(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "synth", "dev", "--out", str(tmp_path / "dev"), "--quiet", "--list-imports"],
        cwd=ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"pulumi", "pulumi_kubernetes", "pydantic", "yaml", "pulumi_policy"} <= set(modules)
    assert not [m for m in modules if m.split(".")[0] in ("components", "synth", "saas_policies", "__main__")]
    listing = tmp_path / "modules.json"
    listing.write_text(json.dumps(modules))
    floor = subprocess.run([sys.executable, "-c", bench.FLOOR_PROGRAM, str(listing)], capture_output=True, text=True, timeout=120)
    assert floor.returncode == 0, floor.stderr
    assert json.loads(floor.stdout) == [], "modules the floor could not import"


# --- the tests' synth fork server ------------------------------------------------------------

_BINDING_CHECK = """
import importlib, sys
names = ["pulumi_kubernetes", "pulumi_kubernetes.apiextensions", "pulumi_kubernetes.apiextensions.CustomResource"]
if sys.argv[1] == "server":
    from tests.synth_server import preload
    preload(names)
else:
    for name in names:
        importlib.import_module(name)
import pulumi_kubernetes as k8s
print(isinstance(k8s.apiextensions.CustomResource, type))
"""


@pytest.mark.parametrize(("how", "is_class"), [("server", "True"), ("by name", "False")])
def test_server_preload_keeps_what_a_package_binds(how: str, is_class: str) -> None:
    """Importing `pulumi_kubernetes.apiextensions.CustomResource` by name rebinds the package's
    `CustomResource` class to the module (the plain import shows it); the server's preload puts
    the class back, so a forked synthesis sees what a fresh one sees."""
    proc = subprocess.run([sys.executable, "-c", _BINDING_CHECK, how], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == is_class
