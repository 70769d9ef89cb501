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


# --- libyaml's emitter; orjson for the JSON files ---------------------------------------------

# Where libyaml's emitter and PyYAML's pure-Python one write different bytes (PyYAML 6.0.4
# yaml/emitter.py write_double_quoted / check_simple_key; libyaml 0.2.6 src/emitter.c): a long
# double-quoted scalar is wrapped after escapes by PyYAML only, and a 123..128-character key is
# simple for libyaml but not for PyYAML. synth writes libyaml's text; what matters is the content.
DIVERGENT = {
    "long double-quoted": {"data": {"nginx.conf": "server {\n    listen 8080;\n" + "    location /x { return 404; }\n" * 4}},
    "key of 125 characters": {"k" * 125: "v"},
    "double-quoted complex key": {"outer": {"a" * 90 + "- item" + "a" * 90 + " \n  b" + "a" * 40 + '"q"\t*': "v"}},
}


@pytest.mark.parametrize("case", sorted(DIVERGENT))
def test_dump_writes_libyamls_text_where_the_emitters_differ(case: str) -> None:
    value = DIVERGENT[case]
    pure = yaml.dump(value, Dumper=yaml.SafeDumper, sort_keys=True, default_flow_style=False)
    fast = yaml.dump(value, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False)
    assert fast != pure, "libyaml and PyYAML agree here: the case no longer shows a divergence"
    assert dump_yaml(value) == fast
    assert yaml.safe_load(fast) == yaml.safe_load(pure) == value


def test_dump_round_trips_generated_documents() -> None:
    """Random Kubernetes-like documents (quotes, newlines, tabs, unicode, long words, long keys):
    what dump_yaml writes is libyaml's text and reads back, with either parser, as the value."""
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
        written = dump_yaml(document)
        assert written == yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False)
        assert yaml.load(written, Loader=yaml.SafeLoader) == document  # noqa: S506 - a safe loader
        assert yaml.load(written, Loader=yaml.CSafeLoader) == document  # noqa: S506 - a safe loader


def test_written_files_hold_exactly_the_registered_inputs(stack: Synth) -> None:
    """Every manifest and Helm file parses back to exactly what the program registered for it
    (resources.json's inputs; a Helm file: the release's chart fields), and is libyaml's text
    for that content: one file per manifest and per release, none left over."""
    records = json.loads((stack.out / "resources.json").read_text())
    expected: dict[Path, Any] = {}
    for r in records:
        inputs = r["inputs"]
        if r["type"] == "kubernetes:helm.sh/v3:Release":
            target = stack.out / "helm" / f"{inputs.get('name', r['name'])}.yaml"
            expected[target] = {k: inputs.get(k) for k in ("name", "namespace", "chart", "version", "repositoryOpts", "values")}
        elif r["custom"] and r["type"].startswith("kubernetes:") and "kind" in inputs and not r["type"].startswith(
                ("kubernetes:yaml/v2:", "kubernetes:yaml:")):
            meta = inputs.get("metadata") or {}
            target = stack.out / "manifests" / (meta.get("namespace") or "_cluster") / f"{inputs['kind']}-{meta.get('name')}.yaml"
            expected[target] = inputs
    files = sorted((stack.out / "manifests").glob("**/*.yaml")) + sorted((stack.out / "helm").glob("*.yaml"))
    assert files and sorted(expected) == sorted(files)
    for path in files:
        text = path.read_text()
        assert yaml.load(text, Loader=yaml.CSafeLoader) == expected[path], path  # noqa: S506 - a safe loader
        assert text == yaml.dump(expected[path], Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False), path


def test_json_files_are_the_stdlib_encoders_bytes(stack: Synth) -> None:
    """resources.json, outputs.json and policy-report.json are written by orjson: byte for byte
    what `json.dumps(indent=2, sort_keys=True, ensure_ascii=False)` writes for their content."""
    for name in ("resources.json", "outputs.json", "policy-report.json"):
        text = (stack.out / name).read_text()
        assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n", name


def test_json_writer_falls_back_to_the_stdlib_for_what_orjson_refuses(tmp_path: Path) -> None:
    from synth.run import _dump_json

    plain = {"b": [1, 2.5, None, True, "é\n\u2028\x7f\x00"], "a": {}, "c": []}
    for value in (plain, {**plain, "big": 2**70}, {3: "integer keys", 1: "only"}):
        _dump_json(tmp_path / "x.json", value)
        assert (tmp_path / "x.json").read_text() == json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- the policy pass shares its per-resource work between policies -------------------------


def test_shared_policy_inputs_give_each_policy_its_own_verdict(stack: Synth) -> None:
    """One proxy per resource serves every policy: on a copy of every stack with violations
    planted, running the policies one at a time (each on proxies of its own) finds exactly what
    running them together finds, so no policy sees another's state; on the stack as it is,
    running them in the opposite order finds the same (an evaluation one at a time costs a
    whole proxy build per policy: done once per stack, where the violations are)."""
    records = json.loads((stack.out / "resources.json").read_text())
    broken = json.loads(json.dumps(records))
    for record in broken:
        spec = ((record["inputs"].get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in spec.get("containers") or []:
            container.pop("resources", None)
            container["image"] = "nginx:latest"
    together = evaluate(broken)
    alone = sorted((f for p in POLICIES for f in evaluate(broken, policies=[p])),
                   key=lambda f: (f["policy"], f["urn"], f["message"]))
    assert together == alone
    assert together, "the planted violations were not found"
    assert evaluate(records) == evaluate(records, policies=list(reversed(POLICIES)))


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
    for variant in ([], ["bare"]):  # the plain floor and the bare one (no collector, no teardown)
        floor = subprocess.run([sys.executable, "-c", bench.FLOOR_PROGRAM, str(listing), *variant],
                               capture_output=True, text=True, timeout=120)
        assert floor.returncode == 0, floor.stderr
        assert json.loads(floor.stdout) == [], f"modules the {' '.join(variant) or 'plain'} floor could not import"


# --- what synthesis skips: the collector during imports, the teardown, YAML done before -------


def test_synth_turns_the_collector_back_on_when_it_returns(tmp_path: Path) -> None:
    """main() keeps the cyclic collector off only while it runs (synth/__main__.py): a caller
    in the same process, like the tests' fork server, gets it back on, also on a refusal."""
    import gc

    from synth.__main__ import main

    assert gc.isenabled()
    assert main(["dev", "--stack-file", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "out")]) == 1
    assert gc.isenabled()


def test_the_cli_exits_with_its_status_and_its_messages_without_teardown(tmp_path: Path) -> None:
    """`python -m synth` leaves through os._exit: the status and what it printed still arrive."""
    proc = subprocess.run([sys.executable, "-m", "synth", "dev", "--stack-file", str(tmp_path / "missing.yaml"),
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "missing.yaml" in proc.stderr and "no resource was registered" in proc.stderr


def test_a_reader_that_goes_away_gets_no_traceback(tmp_path: Path) -> None:
    """`python -m synth dev | head`: the output folder is written whole, stdout's reader is gone
    before the tree is printed; the CLI exits 1 without a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "synth", "dev", "--out", str(tmp_path / "dev")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    errors = proc.stderr.read()
    assert proc.wait(timeout=180) == 1
    assert "Traceback" not in errors and "BrokenPipeError" not in errors, errors
    assert (tmp_path / "dev" / "resources.json").is_file()


@pytest.fixture
def memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The YAML memo on, in a folder of this test's own (synth turns it on in build/.cache)."""
    from components import k8s as kube

    assert kube.YAML_MEMO.folder is None, "the memo is on outside synthesis: `pulumi up` would write files"
    monkeypatch.setattr(kube.YAML_MEMO, "folder", tmp_path / "memo")
    return tmp_path / "memo"


def test_memo_serves_what_parsing_and_dumping_give(memo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A vendored manifest parsed and an object list dumped once are served from the memo the
    next time (the parser and the emitter are not called again), equal to computing them."""
    from components import k8s as kube
    from components.data.rabbitmq_operators import CLUSTER_OPERATOR_MANIFEST

    text = CLUSTER_OPERATOR_MANIFEST.read_text()
    parsed = list(yaml.load_all(text, Loader=yaml.CSafeLoader))  # noqa: S506 - a safe loader
    objects = [{"kind": "ConfigMap", "data": {"b": "1", "a": True, "c": 1.0, "d": None, "e": ["x", 2]}}]
    dumped = yaml.dump_all(objects, Dumper=yaml.CSafeDumper, sort_keys=False, default_flow_style=False)
    assert kube.yaml_documents(text) == parsed
    assert kube.load_yaml("a: [1, 2]\n") == {"a": [1, 2]}
    assert kube.yaml_text(objects) == dumped
    assert dump_yaml(objects[0]) == yaml.dump(objects[0], Dumper=yaml.CSafeDumper, sort_keys=True, default_flow_style=False)
    assert len(list(memo.glob("*.marshal"))) == 4

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("computed again")

    monkeypatch.setattr(yaml, "load_all", refused)
    monkeypatch.setattr(yaml, "load", refused)
    monkeypatch.setattr(yaml, "dump_all", refused)
    monkeypatch.setattr(yaml, "dump", refused)
    kube._YAML_SOURCES.pop(dumped, None)
    assert kube.yaml_documents(text) == parsed
    assert kube.load_yaml("a: [1, 2]\n") == {"a": [1, 2]}
    assert kube.yaml_text(objects) == dumped
    assert dump_yaml(objects[0]).startswith("data:\n  a: true\n  b: '1'\n  c: 1.0\n")


def test_memo_tells_equal_looking_values_apart(memo: Path) -> None:
    """True, 1 and 1.0 are equal in Python but dump differently: each has its own entry."""
    from components import k8s as kube

    texts = [kube.yaml_text([{"a": value}]) for value in (1, True, 1.0, "1")]
    assert texts == ["a: 1\n", "a: true\n", "a: 1.0\n", "a: '1'\n"]
    assert [dump_yaml({"a": value}) for value in (True, 1)] == ["a: true\n", "a: 1\n"]


def test_memo_recomputes_a_damaged_entry_and_keeps_no_timestamp(memo: Path) -> None:
    from components import k8s as kube

    assert kube.load_yaml("when: 2026-12-01\n") == yaml.safe_load("when: 2026-12-01\n")
    assert not list(memo.glob("*.marshal")), "a timestamp cannot be kept exactly: nothing is written"
    assert kube.load_yaml("a: b\n") == {"a": "b"}
    (entry,) = memo.glob("*.marshal")
    entry.write_bytes(entry.read_bytes()[:3])  # a half-written file, say
    assert kube.load_yaml("a: b\n") == {"a": "b"}
    assert kube.load_yaml("a: b\n") == {"a": "b"}  # and the rewritten entry reads back


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


def test_memo_keeps_apart_what_other_versions_computed(memo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An upgraded PyYAML or libyaml (or Python) is never served an older version's text."""
    from components import k8s as kube

    assert kube.yaml_text([{"a": "b"}]) == "a: b\n"
    monkeypatch.setattr(kube, "_MEMO_VERSIONS", kube._MEMO_VERSIONS + "/a newer libyaml")
    assert kube.yaml_text([{"a": "b"}]) == "a: b\n"
    assert len(list(memo.glob("dump-*.marshal"))) == 2


def test_judges_read_and_write_yaml_with_libyaml() -> None:
    """The judges write config for nca, promtool, Traefik and Prometheus many times a run: with
    libyaml (rehearsal/base.py), the same values as yaml.safe_dump/safe_load give."""
    import re

    from rehearsal.base import dump_yaml as judge_dump
    from rehearsal.base import load_yaml, load_yaml_all

    offenders = [f"{path.name}:{number}" for path in sorted((ROOT / "rehearsal").glob("*.py")) if path.name != "base.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1)
                 if re.search(r"\byaml\.(safe_(dump|load)(_all)?|dump|load)\(", line)]
    assert not offenders, f"pure-Python YAML in the judges: {offenders}"
    value = {"b": ["x", 1, 2.5, None, True, "long " * 30], "a": {"k": "v: w", "n": "\n"}}
    assert load_yaml(judge_dump(value)) == yaml.safe_load(yaml.safe_dump(value)) == value
    assert judge_dump(value, sort_keys=False).startswith("b:")
    assert load_yaml_all("a: 1\n---\nb: 2\n") == [{"a": 1}, {"b": 2}]
