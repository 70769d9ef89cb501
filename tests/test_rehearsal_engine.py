"""The `engine` judge: what the Pulumi engine (pulumi-kubernetes 4.34.2) and the API server refuse or race
on, read from resources.json.

Baseline tests assert the review findings of this class on the synthesis of main 934f607:
cluster-side #3 (Namespace rabbitmq-system in both operator manifests: cluster-operator v2.22.3
config/installation/kustomization.yaml includes ../namespace/base; topology v1.20.1 config/manager/
manager.yaml; pulumi-kubernetes provider/pkg/await/await.go creates without upsert since 4.29),
#4 (cluster-operator v2.22 ships cert-manager Issuer/Certificates), #5 (SeaweedFS 4.44 renders
ServiceMonitors), #12 (retained objects with operator finalizers), app-side #31 (Job
activeDeadlineSeconds 900 > the Job await of 10 minutes).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Synth
from tests.pristine import verdict_and_cli
from tests.rehearsal_helpers import assert_passes, BASELINE, baseline, copy, has, verdict

# Reads the session's `rehearsal all` runs (judged_all), started in the background at the start.
pytestmark = pytest.mark.background("judged")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_duplicate_rabbitmq_namespace(stack: str) -> None:
    assert has(baseline("engine", stack).findings, "duplicate object Namespace rabbitmq-system", "ConfigFile rabbitmq-cluster-operator",
               "ConfigFile rabbitmq-topology-operator", "AlreadyExists")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_cluster_operator_cert_manager_objects_race_cert_manager(stack: str) -> None:
    findings = baseline("engine", stack).findings
    assert has(findings, "Issuer rabbitmq-system/selfsigned-issuer of ConfigFile rabbitmq-cluster-operator",
               "does not depend on the release installing the cert-manager.io CRDs (cert-manager)")
    assert has(findings, "Certificate rabbitmq-system/cluster-operator-serving-cert of ConfigFile rabbitmq-cluster-operator",
               "admission webhook of cert-manager")
    # the topology operator's ConfigFile does depend on cert-manager
    assert not has(findings, "of ConfigFile rabbitmq-topology-operator: does not depend")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_baseline_seaweedfs_renders_monitors_without_kps(stack: str) -> None:
    assert has(baseline("engine", stack).findings, "helm release object-storage-seaweedfs renders monitoring.coreos.com objects",
               "does not depend on kube-prometheus-stack")


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_baseline_retained_finalizer_objects(stack: str) -> None:
    findings = baseline("engine", stack).findings
    for what in ("MariaDB saas-data/mariadb", "Database saas-data/mariadb-app", "RedisReplication saas-data/redis"):
        assert has(findings, what + ": retain_on_delete without protect")
    # prod protects them: retaining is what protect means there.
    assert not has(baseline("engine", "prod").findings, "retain_on_delete")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_migration_job_deadline_exceeds_await(stack: str) -> None:
    assert has(baseline("engine", stack).findings, "Job saas-app/backend-migrate-9584197d3b: activeDeadlineSeconds=900 exceeds the engine's await of 600 s")


@pytest.fixture
def fresh(synthesized: dict[str, Synth], tmp_path: Path) -> Path:
    assert synthesized["staging"].returncode == 0, synthesized["staging"].stderr
    return copy(synthesized["staging"].out, tmp_path)


def _resources(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return json.loads((path / "resources.json").read_text())


def test_mutation_removing_depends_on_the_crd_release(fresh: Path) -> None:
    resources = _resources(fresh)
    cert_manager = next(r["urn"] for r in resources if r["type"] == "kubernetes:helm.sh/v3:Release" and r["inputs"]["chart"] == "cert-manager")
    issuer = next(r for r in resources if r["type"] == "kubernetes:cert-manager.io/v1:ClusterIssuer")
    issuer["dependencies"] = [d for d in issuer["dependencies"] if d != cert_manager]
    (fresh / "resources.json").write_text(json.dumps(resources))
    result, from_cli = verdict_and_cli("engine", fresh)
    assert result.exit_code == 1
    assert has(result.findings, f"ClusterIssuer {issuer['inputs']['metadata']['name']}: does not depend on the release installing the cert-manager.io CRDs")
    assert from_cli.returncode == 1


def test_mutation_two_objects_with_one_name(fresh: Path) -> None:
    resources = _resources(fresh)
    config_map = next(r for r in resources if r["type"] == "kubernetes:core/v1:ConfigMap")
    resources.append({**config_map, "name": config_map["name"] + "-again", "urn": config_map["urn"] + "-again"})
    (fresh / "resources.json").write_text(json.dumps(resources))
    meta = config_map["inputs"]["metadata"]
    assert has(verdict("engine", fresh).findings, f"duplicate object ConfigMap {meta['namespace']}/{meta['name']}")


def test_mutation_job_deadline_beyond_the_await(fresh: Path) -> None:
    resources = _resources(fresh)
    job = next(r for r in resources if r["type"] == "kubernetes:batch/v1:Job")
    job["inputs"]["spec"]["activeDeadlineSeconds"] = 3600
    (fresh / "resources.json").write_text(json.dumps(resources))
    assert has(verdict("engine", fresh).findings, f"Job {job['inputs']['metadata']['namespace']}/{job['name']}: activeDeadlineSeconds=3600")


def test_passes_on_stack(stack: Synth) -> None:
    assert_passes("engine", stack.out)


def test_children_of_sdk_side_config_files_are_judged(tmp_path: Path) -> None:
    """With the SDK-side `yaml.ConfigFile` the children are registered resources (FACTS: expanding
    vendored manifests offline): two children with one Namespace name are a duplicate, and a CR
    created by one ConfigFile waits for the CRD child of another only through a dependency."""
    build = copy(BASELINE / "dev", tmp_path)
    resources = _resources(build)
    prefix = resources[0]["urn"].split("::")[0] + "::saas-platform::"
    files = [r for r in resources if r["type"] == "kubernetes:yaml/v2:ConfigFile"]
    for config_file in files:
        config_file["type"], config_file["custom"] = "kubernetes:yaml:ConfigFile", False
        resources.append({"type": "kubernetes:core/v1:Namespace", "name": f"{config_file['name']}-rabbitmq-system",
                          "urn": prefix + f"kubernetes:core/v1:Namespace::{config_file['name']}-rabbitmq-system",
                          "parent": config_file["urn"], "custom": True, "protect": False, "dependencies": [],
                          "inputs": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "rabbitmq-system"}}})
    (build / "resources.json").write_text(json.dumps(resources))
    findings = verdict("engine", build).findings
    assert has(findings, "duplicate object Namespace rabbitmq-system (core) registered 2 times", "core/v1:Namespace rabbitmq-cluster-operator-rabbitmq-system")
    # no CRD child in this synthetic expansion: the RabbitMQ custom resources have no installer
    assert has(findings, "RabbitmqCluster saas-data/rabbitmq: no CRD installer for rabbitmq.com")
    # the catalog is not consulted for a ConfigFile whose children are registered
    assert not has(findings, "of ConfigFile rabbitmq-cluster-operator")
