"""ClusterPlatform: namespaces per concern, Pod Security labels, default-deny networking."""

from __future__ import annotations

from tests.conftest import Synth

CONCERNS = {"ingress", "app", "data", "monitoring"}


def test_one_namespace_per_concern(stack: Synth) -> None:
    assert set(stack.outputs["namespaces"]) >= CONCERNS
    names = {ns["metadata"]["name"] for ns in stack.objects("Namespace")}
    assert set(stack.outputs["namespaces"].values()) <= names


def test_namespaces_enforce_restricted_pod_security(stack: Synth) -> None:
    for concern in CONCERNS:
        labels = stack.object("Namespace", stack.outputs["namespaces"][concern])["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted", (concern, mode)
            assert labels[f"pod-security.kubernetes.io/{mode}-version"].startswith("v1.")


def test_every_namespace_denies_by_default_and_allows_dns(stack: Synth) -> None:
    for ns in stack.objects("Namespace"):
        name = ns["metadata"]["name"]
        deny = stack.object("NetworkPolicy", "default-deny", name)["spec"]
        assert deny["podSelector"] == {}
        assert sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny
        dns = stack.object("NetworkPolicy", "allow-dns", name)["spec"]
        assert dns["policyTypes"] == ["Egress"]
        (rule,) = dns["egress"]
        assert {(p["protocol"], p["port"]) for p in rule["ports"]} == {("UDP", 53), ("TCP", 53)}
        (peer,) = rule["to"]
        assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
