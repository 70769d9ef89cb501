"""Offline expansion of provider-side `kubernetes:yaml/v2` ConfigGroup/ConfigFile components.

Under mocks a yaml/v2 component is one registration: its objects are registered by the
provider, which mocks do not run. synth registers them itself, as pulumi-kubernetes v4 does
(provider/pkg/provider/yaml/v2/configgroup.go, configfile.go and yaml.go, v4.32.0):

- the objects come from `files` / `file` (read relative to the project), then the `yaml`
  text, then `objs` (yaml.go `Parse`, configgroup.go `Construct`); a `List` is replaced by its
  items (yaml.go `expand`); an empty document is skipped;
- each object is a custom resource of type `kubernetes:<group>/<version>:<kind>` (`core` for
  the legacy group), parent the component, named `<resourcePrefix>:<namespace>/<name>` (or
  `<resourcePrefix>:<name>` for a cluster-scoped object), the prefix defaulting to the
  component's name (yaml.go `register`);
- it depends on the objects of the same component that cli-utils orders before it
  (sigs.k8s.io/cli-utils pkg/object/graph/depends.go, as yaml.go `Register` uses it): the
  `config.kubernetes.io/depends-on` annotation, a custom resource on its CRD, a namespaced
  object on its Namespace;
- a `v1/Secret`'s data and stringData are secret (yaml.go `register`): shown as `[secret]`;
- it uses the component's Kubernetes provider (registered with `Parent(comp)`, it inherits it).

The component itself keeps its own record (with its inputs) and its dependencies: the engine
constructs it, so creates its objects, only once those are done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.k8s import yaml_documents
from synth.mocks import Registration, _mask

COMPONENTS = ("kubernetes:yaml/v2:ConfigGroup", "kubernetes:yaml/v2:ConfigFile")
DEPENDS_ON = "config.kubernetes.io/depends-on"


def expand(registrations: list[Registration], root: Path) -> list[Registration]:
    """`registrations` plus the objects of every yaml/v2 component among them."""
    out = list(registrations)
    for component in registrations:
        if component.type in COMPONENTS:
            out += children(component, root, start=len(out))
    return out


def objects_of(inputs: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    """The objects a component's inputs name, Lists expanded, in the provider's order."""
    files = [inputs["file"]] if inputs.get("file") else list(inputs.get("files") or [])
    texts = [(root / str(f)).read_text() for f in files]
    texts += [str(inputs["yaml"])] if inputs.get("yaml") else []
    found: list[Any] = []
    for text in texts:
        found += [doc for doc in yaml_documents(text) if doc]
    found += list(inputs.get("objs") or [])
    flat: list[dict[str, Any]] = []
    while found:
        obj = found.pop(0)
        if isinstance(obj, dict) and str(obj.get("kind", "")).endswith("List") and "items" in obj:
            found = list(obj.get("items") or []) + found
        elif isinstance(obj, dict) and obj:
            flat.append(obj)
    return flat


def type_token(api_version: str, kind: str) -> str:
    group_version = api_version if "/" in api_version else f"core/{api_version}"
    return f"kubernetes:{group_version}:{kind}"


def _identity(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    group = str(obj.get("apiVersion", "")).rpartition("/")[0]
    return group, str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name"))


def _dependencies(objects: list[dict[str, Any]]) -> list[set[int]]:
    """Per object, the indexes of the objects it waits for (cli-utils depends.go)."""
    index = {_identity(obj): i for i, obj in enumerate(objects)}
    crds = {}
    for i, obj in enumerate(objects):
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            crds[(str(spec.get("group")), str((spec.get("names") or {}).get("kind")))] = i
    namespaces = {str((obj.get("metadata") or {}).get("name")): i for i, obj in enumerate(objects) if obj.get("kind") == "Namespace"}
    deps: list[set[int]] = []
    for i, obj in enumerate(objects):
        group, kind, namespace, _ = _identity(obj)
        mine = set()
        if (group, kind) in crds:
            mine.add(crds[(group, kind)])
        if namespace and namespace in namespaces:
            mine.add(namespaces[namespace])
        annotation = ((obj.get("metadata") or {}).get("annotations") or {}).get(DEPENDS_ON)
        for ref in str(annotation or "").split(","):
            # <group>/namespaces/<namespace>/<kind>/<name> or <group>/<kind>/<name>
            parts = ref.strip().split("/")
            if len(parts) == 5 and parts[1] == "namespaces":
                key = (parts[0], parts[3], parts[2], parts[4])
            elif len(parts) == 3:
                key = (parts[0], parts[1], "", parts[2])
            else:
                continue
            if key in index:
                mine.add(index[key])
        mine.discard(i)
        deps.append(mine)
    return deps


def children(component: Registration, root: Path, start: int = 0) -> list[Registration]:
    """The registrations the provider makes for one yaml/v2 component."""
    objects = objects_of(component.inputs, root)
    prefix = str(component.inputs.get("resourcePrefix") or component.name)
    # urn:pulumi:<stack>::<project>::<parent's qualified type>$<type>::<name>
    head, qualified_type, _ = component.urn.rsplit("::", 2)
    urns = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        if not meta.get("name") or not obj.get("kind") or not obj.get("apiVersion"):
            raise ValueError(f"{component.name}: a Kubernetes object needs apiVersion, kind and metadata.name: {str(obj)[:100]}")
        name = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta["name"])
        urns.append((type_token(str(obj["apiVersion"]), str(obj["kind"])), f"{prefix}:{name}"))
    registrations = []
    for i, (obj, deps) in enumerate(zip(objects, _dependencies(objects))):
        token, name = urns[i]
        inputs = dict(obj)
        if obj.get("apiVersion") == "v1" and obj.get("kind") == "Secret":
            inputs.update({key: _mask(obj[key]) for key in ("data", "stringData") if key in obj})
        registrations.append(Registration(
            type=token, name=name, urn=f"{head}::{qualified_type}${token}::{name}", parent=component.urn,
            custom=True, protect=False, retain_on_delete=False,
            dependencies=sorted(f"{head}::{qualified_type}${urns[d][0]}::{urns[d][1]}" for d in deps),
            inputs=inputs, order=start + i, provider=component.provider,
        ))
    return registrations

