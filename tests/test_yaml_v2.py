"""synth/yaml_v2.py: a provider-side yaml/v2 component's objects as the provider registers them
(pulumi-kubernetes provider/pkg/provider/yaml/v2/yaml.go and configgroup.go, v4.32.0; the
ordering from sigs.k8s.io/cli-utils pkg/object/graph/depends.go)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synth.mocks import Registration
from synth.yaml_v2 import expand

PROVIDER = "urn:pulumi:dev::saas-platform::pulumi:pulumi:Stack$pulumi:providers:kubernetes::kubernetes::kubernetes-id"
PARENT = "urn:pulumi:dev::saas-platform::saas-platform:index:RabbitMQ$kubernetes:yaml/v2:ConfigGroup::ops"

TEXT = """
apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec: {group: example.com, names: {kind: Widget, plural: widgets}, scope: Namespaced}
---
apiVersion: v1
kind: List
items:
- apiVersion: example.com/v1
  kind: Widget
  metadata: {name: w1, namespace: team}
- apiVersion: v1
  kind: Secret
  metadata:
    name: creds
    namespace: team
    annotations: {config.kubernetes.io/depends-on: example.com/namespaces/team/Widget/w1}
  stringData: {password: hunter2}
---
"""


def _group(inputs: dict, name: str = "ops") -> Registration:
    return Registration(type="kubernetes:yaml/v2:ConfigGroup", name=name, urn=PARENT, parent=None, custom=False,
                        protect=False, retain_on_delete=False, dependencies=[], inputs=inputs, provider=PROVIDER)


def test_objects_are_named_typed_and_ordered_as_the_provider_does() -> None:
    group = _group({"yaml": TEXT})
    out = expand([group], Path("."))
    assert out[0] is group
    children = {r.name: r for r in out[1:]}
    # <prefix>:<namespace>/<name>, the prefix defaulting to the group's name; a List's items.
    assert sorted(children) == ["ops:team", "ops:team/creds", "ops:team/w1", "ops:widgets.example.com"]
    widget = children["ops:team/w1"]
    assert widget.type == "kubernetes:example.com/v1:Widget" and widget.custom and widget.parent == PARENT
    assert widget.provider == PROVIDER  # the group's provider
    assert children["ops:team"].type == "kubernetes:core/v1:Namespace"
    assert widget.urn == PARENT.rsplit("::", 1)[0] + "$kubernetes:example.com/v1:Widget::ops:team/w1"
    # a custom resource waits for its CRD and its Namespace; the annotation adds an explicit edge
    assert set(widget.dependencies) == {children["ops:widgets.example.com"].urn, children["ops:team"].urn}
    assert set(children["ops:team/creds"].dependencies) == {children["ops:team"].urn, widget.urn}
    assert children["ops:widgets.example.com"].dependencies == []
    # a Secret's data is secret
    assert children["ops:team/creds"].inputs["stringData"] == {"password": "[secret]"}


def test_resource_prefix_objs_and_files(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "x"}}))
    inputs = {"resourcePrefix": "p", "objs": [{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "b", "namespace": "x"}}],
              "files": ["one.yaml"]}
    names = [r.name for r in expand([_group(inputs)], tmp_path)[1:]]
    assert names == ["p:x/a", "p:x/b"]  # the files, then objs (yaml.go Parse, configgroup.go Construct)


def test_an_object_without_a_name_is_refused() -> None:
    with pytest.raises(ValueError, match="metadata.name"):
        expand([_group({"yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n"})], Path("."))


# --- the program's own YAML texts: expanded from the objects they were written from -----------


def test_a_text_the_program_wrote_expands_to_what_parsing_it_gives() -> None:
    """For the RabbitMQ operators' texts (kube.yaml_text) synth takes the objects behind the text
    instead of parsing it back: those must be exactly what libyaml's safe loader reads from it,
    for every stack's variant of both vendored manifests, and a text nobody registered is parsed."""
    from components import k8s as kube
    from components.data import rabbitmq_operators as ops
    from tests.conftest import ROOT, parse_config

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for stack in ("dev", "staging", "prod"):
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
        cfg = parse_config({k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("saas-platform:")}, stack)
        for path in (ops.CLUSTER_OPERATOR_MANIFEST, ops.TOPOLOGY_OPERATOR_MANIFEST):
            text = ops.operator_manifest(path, cfg)
            assert text in kube._YAML_SOURCES, "operator_manifest no longer records its objects"
            parsed = list(yaml.load_all(text, Loader=loader))  # noqa: S506 - a safe loader
            assert kube.yaml_documents(text) == parsed and parsed, (stack, path.name)
    unknown = TEXT + "# not written by the program\n"
    assert unknown not in kube._YAML_SOURCES
    assert kube.yaml_documents(unknown) == list(yaml.load_all(unknown, Loader=loader))  # noqa: S506


def test_a_recorded_text_expands_like_a_parsed_one() -> None:
    """The same group, once from objects synth recorded and once from the parsed text alone:
    the same registrations."""
    from components import k8s as kube

    objects = [doc for doc in yaml.safe_load_all(TEXT) if doc]
    text = kube.yaml_text(objects)
    recorded = expand([_group({"yaml": text})], Path("."))
    del kube._YAML_SOURCES[text]
    parsed = expand([_group({"yaml": text})], Path("."))
    assert recorded == parsed and len(recorded) == 5
