#!/usr/bin/env python3
"""Rebuild the two RabbitMQ operator installation manifests from their repositories at the pinned tags.

The release assets (`cluster-operator.yml` of rabbitmq/cluster-operator v2.22.3 and
`messaging-topology-operator-with-certmanager.yaml` of rabbitmq/messaging-topology-operator
v1.20.1) are produced by each repository's Makefile at release time:

    kustomize build config/installation/ | ytt -f overlay --data-value operator_image=ghcr.io/rabbitmq/<op>:<version>

(cluster-operator Makefile `generate-installation-manifest`, topology operator Makefile
`generate-manifests`; the version is the tag without `v`, .github/workflows/build-test-publish.yml).
Neither the release assets nor kustomize/ytt can be fetched on the machines this project is
developed on, so this script applies, to the files of the repository at the tag, exactly the
kustomize features those two kustomizations use, with kustomize 5.8.1's semantics (the version
both Makefiles pin):

- `resources` (files and sub-directories, in order), `namespace`, `namePrefix` (not on
  Namespace or CustomResourceDefinition objects), `images`, `patches` (RFC 6902 lists and
  strategic-merge documents, merged by `name`/`containerPort`/`mountPath`), `replacements`
  (with `delimiter`/`index`/`create`), `configurations` (nameReference/namespace fieldSpecs);
- name references after prefixing: roleRef of (Cluster)RoleBindings, subjects and
  `serviceAccountName` referring to a renamed ServiceAccount, webhook `clientConfig.service`,
  Certificate `issuerRef` (the repositories' kustomizeconfig.yaml);
- namespace: `metadata.namespace` of namespaced objects, Namespace objects renamed, ServiceAccount
  subjects of (Cluster)RoleBindings, webhook `clientConfig.service.namespace`;
- the ytt overlay: the operator container's image;
- output in kustomize's legacy order (Namespace, CRDs, ServiceAccount, roles, bindings,
  Services, Deployment, other kinds, webhook configurations last).

The output is the same set of objects with the same fields and values; it is not byte-identical
(YAML formatting and comments differ). `python scripts/build-rabbitmq-manifests.py
--cluster-operator GITDIR --topology-operator GITDIR` (git directories of snapshots of the two
repositories holding the tags) rewrites `upstream/manifests/rabbitmq/*`.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "upstream" / "manifests" / "rabbitmq"

CLUSTER_SCOPED = {
    "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
}
NO_PREFIX = {"Namespace", "CustomResourceDefinition"}
# kustomize api/resid/gvk.go orderFirst / orderLast (legacy sort).
ORDER_FIRST = [
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
    "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap", "Secret",
    "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
    "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
]
ORDER_LAST = ["MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]
MERGE_KEYS = {"containers": "name", "ports": "containerPort", "volumeMounts": "mountPath", "volumes": "name"}


class Repo:
    def __init__(self, git_dir: Path, tag: str) -> None:
        self.git_dir, self.tag = git_dir, tag

    def read(self, path: str) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "show", f"{self.tag}:{path}"],
            check=True, capture_output=True, text=True,
        ).stdout

    def is_dir(self, path: str) -> bool:
        kind = subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "cat-file", "-t", f"{self.tag}:{path}"],
            capture_output=True, text=True,
        ).stdout.strip()
        return kind == "tree"

    def commit(self) -> str:
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "rev-list", "-n1", self.tag], check=True, capture_output=True, text=True
        ).stdout.strip()


def _norm(path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(path).parts:
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


# ---- one resource at a time ---------------------------------------------------------------


def _rid(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def _matches(obj: dict[str, Any], select: dict[str, Any]) -> bool:
    if "kind" in select and obj["kind"] != select["kind"]:
        return False
    if "name" in select and select["name"] not in (obj["metadata"]["name"], obj.get("_original_name")):
        return False
    return True


def _json6902(obj: dict[str, Any], operations: list[dict[str, Any]]) -> None:
    for op in operations:
        assert op["op"] == "add", op
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        node: Any = obj
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if isinstance(node, list):
            value = copy.deepcopy(op["value"])
            node.append(value) if last == "-" else node.insert(int(last), value)
        else:
            node[last] = copy.deepcopy(op["value"])


def _strategic_merge(target: Any, patch: Any, key: str | None = None) -> Any:
    if isinstance(target, dict) and isinstance(patch, dict):
        for name, value in patch.items():
            target[name] = _strategic_merge(target[name], value, name) if name in target else copy.deepcopy(value)
        return target
    if isinstance(target, list) and isinstance(patch, list) and key in MERGE_KEYS:
        merge_key = MERGE_KEYS[key]
        for item in patch:
            same = [t for t in target if isinstance(t, dict) and t.get(merge_key) == item.get(merge_key)]
            if same:
                _strategic_merge(same[0], item)
            else:
                target.append(copy.deepcopy(item))
        return target
    return copy.deepcopy(patch)


def _set_image(obj: dict[str, Any], images: list[dict[str, str]]) -> None:
    if obj["kind"] != "Deployment":
        return
    for container in obj["spec"]["template"]["spec"].get("containers", []):
        name = container["image"].rsplit(":", 1)[0]
        for image in images:
            if image["name"] == name:
                container["image"] = f"{image.get('newName', name)}:{image['newTag']}"


# ---- a kustomization ------------------------------------------------------------------------


def build(repo: Repo, directory: str, refs: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
    """`kustomize build directory`, restricted to the features used by the two operators.
    `refs` accumulates nameReference fieldSpecs from `configurations` (they apply upward)."""
    kustomization = yaml.safe_load(repo.read(f"{directory}/kustomization.yaml"))
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = _norm(f"{directory}/{entry}")
        if repo.is_dir(path):
            resources += build(repo, path, refs)
        else:
            for doc in _docs(repo.read(path)):
                doc.setdefault("_original_name", doc["metadata"]["name"])
                resources.append(doc)
    for config in kustomization.get("configurations", []):
        for ref in yaml.safe_load(repo.read(_norm(f"{directory}/{config}"))).get("nameReference", []):
            refs.setdefault(ref["kind"], []).extend(ref["fieldSpecs"])

    # Transformer order of a kustomization: patches, namespace, prefix, images, replacements.
    for patch in kustomization.get("patches", []) or []:
        body = yaml.safe_load(repo.read(_norm(f"{directory}/{patch['path']}")))
        for obj in resources:
            if _matches(obj, patch.get("target", {})):
                if isinstance(body, list):
                    _json6902(obj, body)
                else:
                    _strategic_merge(obj, {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "metadata")})
    namespace = kustomization.get("namespace")
    if namespace:
        _namespace(resources, namespace)
    prefix = kustomization.get("namePrefix")
    if prefix:
        _prefix(resources, prefix, refs)
    for obj in resources:
        _set_image(obj, kustomization.get("images", []))
    for replacement in kustomization.get("replacements", []):
        _replace(resources, replacement)
    return resources


def _namespace(resources: list[dict[str, Any]], namespace: str) -> None:
    for obj in resources:
        kind = obj["kind"]
        if kind == "Namespace":
            obj["metadata"]["name"] = namespace
        elif kind not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = namespace
        # kustomize v5.8.1 api/filters/namespace/namespace.go roleBindingHack, default mode
        # `defaultOnly`: only subjects named "default" get the namespace.
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            for subject in obj.get("subjects", []):
                if subject.get("name") == "default":
                    subject["namespace"] = namespace
        # Webhook services: the nameReference fix-up (api/filters/nameref/nameref.go setMapping,
        # builtin fieldSpec webhooks/clientConfig/service) copies name *and* namespace from the
        # Service of the build; the topology operator also declares the namespace fieldSpec.
        if kind in ORDER_LAST:
            for webhook in obj.get("webhooks", []):
                service = webhook.get("clientConfig", {}).get("service")
                if service is not None:
                    service["namespace"] = namespace


def _prefix(resources: list[dict[str, Any]], prefix: str, refs: dict[str, list[dict[str, str]]]) -> None:
    renamed: dict[tuple[str, str], str] = {}
    for obj in resources:
        if obj["kind"] in NO_PREFIX:
            continue
        old = obj["metadata"]["name"]
        obj["metadata"]["name"] = prefix + old
        renamed[(obj["kind"], old)] = prefix + old
    # Name references to renamed objects of this build.
    for obj in resources:
        kind = obj["kind"]
        if kind in ("RoleBinding", "ClusterRoleBinding"):
            ref = obj["roleRef"]
            ref["name"] = renamed.get((ref["kind"], ref["name"]), ref["name"])
            for subject in obj.get("subjects", []):
                subject["name"] = renamed.get((subject["kind"], subject["name"]), subject["name"])
        if kind == "Deployment":
            spec = obj["spec"]["template"]["spec"]
            if "serviceAccountName" in spec:
                spec["serviceAccountName"] = renamed.get(("ServiceAccount", spec["serviceAccountName"]), spec["serviceAccountName"])
        if kind in ORDER_LAST:
            for webhook in obj.get("webhooks", []):
                service = webhook.get("clientConfig", {}).get("service")
                if service is not None:
                    service["name"] = renamed.get(("Service", service["name"]), service["name"])
        if kind == "Certificate" and "Issuer" in refs:
            issuer = obj["spec"]["issuerRef"]
            issuer["name"] = renamed.get((issuer.get("kind", "Issuer"), issuer["name"]), issuer["name"])


def _field(obj: dict[str, Any], path: str) -> list[str]:
    """`.metadata.annotations.[cert-manager.io/inject-ca-from]` -> path parts."""
    parts, buffer, bracket = [], "", False
    for char in path.lstrip("."):
        if char == "[":
            bracket = True
        elif char == "]":
            bracket = False
        elif char == "." and not bracket:
            parts.append(buffer)
            buffer = ""
        else:
            buffer += char
    parts.append(buffer)
    return [p for p in parts if p]


def _get(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        obj = obj[int(part)] if isinstance(obj, list) else obj[part]
    return obj


def _replace(resources: list[dict[str, Any]], replacement: dict[str, Any]) -> None:
    source_spec = replacement["source"]
    (source,) = [o for o in resources if _matches(o, source_spec)]
    value = str(_get(source, _field(source, source_spec["fieldPath"])))
    for target in replacement["targets"]:
        options = target.get("options", {})
        for obj in resources:
            if not _matches(obj, target["select"]):
                continue
            for path in target["fieldPaths"]:
                parts = _field(obj, path)
                node: Any = obj
                for part in parts[:-1]:
                    if isinstance(node, list):
                        node = node[int(part)]
                    else:
                        node = node.setdefault(part, {}) if options.get("create") else node[part]
                last = parts[-1]
                current = (node[int(last)] if isinstance(node, list) else node.get(last)) or ""
                if "delimiter" in options:
                    pieces = str(current).split(options["delimiter"]) if current else []
                    index = options.get("index", 0)
                    while len(pieces) <= index:
                        pieces.append("")
                    pieces[index] = value
                    new = options["delimiter"].join(pieces)
                else:
                    new = value
                if isinstance(node, list):
                    node[int(last)] = new
                else:
                    node[last] = new


# ---- the two operators ---------------------------------------------------------------------


def _order(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(obj: dict[str, Any]) -> tuple[int, str, str, str]:
        kind = obj["kind"]
        if kind in ORDER_FIRST:
            rank = ORDER_FIRST.index(kind)
        elif kind in ORDER_LAST:
            rank = len(ORDER_FIRST) + 1 + ORDER_LAST.index(kind)
        else:
            rank = len(ORDER_FIRST)
        group_version = obj["apiVersion"]
        return rank, f"{group_version}/{kind}", obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
    return sorted(resources, key=key)


def _ytt_image(resources: list[dict[str, Any]], deployment: str | None, container: str, image: str) -> None:
    """config/ytt/overlay-manager-image.yaml (cluster operator: Deployment by name, container
    `operator`) and config/ytt_overlays/change_deployment_image.yml (topology operator: the one
    Deployment, container `manager`)."""
    for obj in resources:
        if obj["kind"] == "Deployment" and (deployment is None or obj["metadata"]["name"] == deployment):
            for entry in obj["spec"]["template"]["spec"]["containers"]:
                if entry["name"] == container:
                    entry["image"] = image


def render(resources: list[dict[str, Any]]) -> str:
    docs = []
    for obj in _order(resources):
        obj.pop("_original_name", None)
        docs.append(yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=4096))
    return "---\n".join(docs)


def cluster_operator(git_dir: Path, tag: str = "v2.22.3") -> str:
    repo = Repo(git_dir, tag)
    resources = build(repo, "config/installation", {})
    _ytt_image(resources, "rabbitmq-cluster-operator", "operator", f"ghcr.io/rabbitmq/cluster-operator:{tag.lstrip('v')}")
    return render(resources)


def topology_operator(git_dir: Path, tag: str = "v1.20.1") -> str:
    repo = Repo(git_dir, tag)
    resources = build(repo, "config/installation", {})
    _ytt_image(resources, None, "manager", f"ghcr.io/rabbitmq/messaging-topology-operator:{tag.lstrip('v')}")
    return render(resources)


HEADER = (
    "# Rebuilt by scripts/build-rabbitmq-manifests.py from {repo} {tag} (commit {commit}):\n"
    "# `kustomize build config/installation` + the release's ytt image overlay, as the release\n"
    "# asset {asset} is made (see upstream/README.md). License: MPL-2.0 (the repository's).\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster-operator", type=Path, required=True, help="git dir of rabbitmq/cluster-operator")
    parser.add_argument("--topology-operator", type=Path, required=True, help="git dir of rabbitmq/messaging-topology-operator")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    outputs = {
        "cluster-operator.yml": ("rabbitmq/cluster-operator", "v2.22.3", args.cluster_operator, cluster_operator),
        "messaging-topology-operator-with-certmanager.yaml": (
            "rabbitmq/messaging-topology-operator", "v1.20.1", args.topology_operator, topology_operator,
        ),
    }
    for name, (repository, tag, git_dir, builder) in outputs.items():
        commit = Repo(git_dir, tag).commit()
        text = HEADER.format(repo=repository, tag=tag, commit=commit, asset=name) + builder(git_dir, tag)
        (OUT / name).write_text(text)
        print(f"{OUT / name}: {len(list(yaml.safe_load_all(text)))} objects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
