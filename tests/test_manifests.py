"""Every built-in Kubernetes object validates strictly (unknown fields rejected) against the
OpenAPI schemas of the oldest and newest Kubernetes versions we support."""

from __future__ import annotations

from functools import lru_cache
from typing import Iterator

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from tests.conftest import Synth

KUBERNETES_VERSIONS = ("1.32.0", "1.35.0")
# API groups served by Kubernetes itself; anything else is a custom resource, checked against
# its CRD schema instead.
BUILT_IN_GROUPS = {
    "v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "policy/v1", "autoscaling/v2",
    "rbac.authorization.k8s.io/v1", "storage.k8s.io/v1", "scheduling.k8s.io/v1",
    "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "coordination.k8s.io/v1",
}


@pytest.fixture(scope="module", autouse=True)
def _schemas_parsed_once() -> Iterator[None]:
    """kubernetes-validate 1.37 reads and parses the kind's schema and the version's whole
    `_definitions.json` (~3 MB) for every object it validates (utils.schema_contents): two thirds
    of this file's time. Those are read-only package files, so each is parsed once here; the
    validation itself stays the library's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kubernetes_validate.utils, "schema_contents", lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents))
        yield


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_validate_strictly(stack: Synth, version: str) -> None:
    checked = 0
    errors = []
    for path, manifest in stack.manifests():
        if manifest["apiVersion"] not in BUILT_IN_GROUPS:
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{path.relative_to(stack.out)}: {exc.message}")
        checked += 1
    assert checked > 0
    assert not errors, "\n".join(errors)


def test_strict_validation_rejects_an_unknown_field() -> None:
    """The check can fail: a typo in a field name is caught."""
    bad = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "x", "lables": {"a": "b"}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[0], strict=True)


def test_every_object_has_a_name_and_the_recommended_labels(stack: Synth) -> None:
    for path, manifest in stack.manifests():
        meta = manifest["metadata"]
        assert meta.get("name"), path
        labels = meta.get("labels", {})
        assert labels.get("app.kubernetes.io/part-of") == "saas-platform", path
        assert labels.get("app.kubernetes.io/managed-by") == "pulumi", path
        assert labels.get("app.kubernetes.io/instance") == stack.stack, path
        assert labels.get("app.kubernetes.io/name") and labels.get("app.kubernetes.io/component"), path


def test_custom_resources_validate_against_upstream_crds(stack: Synth) -> None:
    """Every custom resource, closed to unknown fields, against the pinned upstream CRD."""
    from tests.upstream import crd_errors, require_upstream

    require_upstream()
    errors: list[str] = []
    checked = 0
    for path, manifest in stack.manifests():
        if manifest["apiVersion"] in BUILT_IN_GROUPS:
            continue
        try:
            errors += crd_errors(manifest)
        except KeyError as exc:
            errors.append(f"{path.relative_to(stack.out)}: {exc}")
        checked += 1
    assert checked > 0
    assert not errors, "\n".join(errors)
