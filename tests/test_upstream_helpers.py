"""The upstream validation helpers can fail: each rejects a deliberately wrong input."""

from __future__ import annotations

from tests.upstream import chart_schema_errors, crd_errors, require_upstream, unknown_value_paths


def certificate(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": "wildcard", "namespace": "saas-ingress"},
        "spec": {"secretName": "wildcard-tls", "dnsNames": ["example.com"], "issuerRef": {"name": "le", "kind": "ClusterIssuer"}, **spec},
    }


def test_crd_validation_accepts_a_valid_resource() -> None:
    require_upstream()
    assert crd_errors(certificate()) == []


def test_crd_validation_rejects_an_unknown_field() -> None:
    require_upstream()
    errors = crd_errors(certificate(dnsName=["typo.example.com"]))
    assert any("dnsName" in e for e in errors), errors


def test_crd_validation_rejects_a_wrong_type() -> None:
    require_upstream()
    assert crd_errors(certificate(dnsNames="example.com"))


def test_crd_validation_handles_the_keda_patch_and_preserve_unknown_fields() -> None:
    require_upstream()
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "worker"},
        "spec": {"scaleTargetRef": {"name": "worker"}, "triggers": [{"type": "redis", "metadata": {"listName": "queues:default"}}]},
    }
    assert crd_errors(scaled) == []


def test_chart_schema_rejects_a_wrong_value() -> None:
    require_upstream()
    assert chart_schema_errors("traefik", {"deployment": {"replicas": 2}}) == []
    assert chart_schema_errors("traefik", {"deployment": {"replicas": "two"}})


def test_unknown_value_paths_catches_a_typo() -> None:
    require_upstream()
    assert unknown_value_paths("fluent-bit", {"resources": {"limits": {"memory": "1Gi"}}}) == []
    assert unknown_value_paths("fluent-bit", {"resourcez": {}}) == ["resourcez"]
