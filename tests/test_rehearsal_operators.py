"""The `operators` judge: models of what mariadb-operator v26.6.0, redis-operator v0.26.0 and the RabbitMQ
operators (cluster-operator v2.22.3, topology v1.20.1) build from our custom resources.

Baseline tests assert the review findings of this class on the synthesis of main 934f607:
cluster-side #1 (replica.recovery without bootstrapFrom, api/v1alpha1/mariadb_replication_types.go
ReplicaReplication.Validate), #2 (replication init container without securityContext,
pkg/builder/container_builder.go dataPlaneInitContainer), #9 (exporter pods lack the data-store label,
pkg/builder/deployment_builder.go), data-safety C1 (validateHA, internal/webhook/v1alpha1/mariadb_webhook.go)
and app-side #3 (`mariadb-primary` exists only if IsHAEnabled, internal/controller/mariadb_controller.go).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Synth
from tests.pristine import verdict_and_cli
from tests.rehearsal_helpers import assert_passes, baseline, copy, edit_manifest, has, verdict

# Reads the session's `rehearsal all` runs (judged_all), started in the background at the start.
pytestmark = pytest.mark.background("judged")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_baseline_webhook_rejects_recovery_without_bootstrap_from(stack: str) -> None:
    assert has(baseline("operators", stack).findings, "MariaDB saas-data/mariadb: webhook rejects it",
               "recovery.enabled without replica.bootstrapFrom")


def test_baseline_webhook_validate_ha_rejects_one_replica_with_replication() -> None:
    assert has(baseline("operators", "staging").findings, "MariaDB saas-data/mariadb: webhook rejects it: spec.replicas=1 with replication")
    assert not has(baseline("operators", "prod").findings, "spec.replicas=")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_baseline_replication_init_container_violates_restricted(stack: str) -> None:
    findings = baseline("operators", stack).findings
    assert has(findings, "pod saas-data/mariadb violates PodSecurity restricted: init container init: allowPrivilegeEscalation must be false")
    assert has(findings, "init container init: capabilities.drop must include ALL")


def test_baseline_dev_db_host_names_no_service() -> None:
    findings = baseline("operators", "dev").findings
    assert has(findings, "Deployment saas-app/backend-web env DB_HOST: host mariadb-primary.saas-data.svc.cluster.local names no Service")
    assert has(findings, "Job saas-app/backend-migrate-9584197d3b env DB_HOST", "mariadb-primary")
    # staging and prod enable replication: the operator creates -primary and -secondary there.
    assert not has(baseline("operators", "prod").findings, "mariadb-primary")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_exporter_pods_miss_the_monitoring_policy(stack: str) -> None:
    assert has(baseline("operators", stack).findings, "NetworkPolicy saas-data/allow-monitoring-to-exporters: opens port 9104",
               "saas-data/mariadb-metrics", "exporter Deployment")


@pytest.fixture
def fresh(synthesized: dict[str, Synth], tmp_path: Path) -> Path:
    assert synthesized["prod"].returncode == 0, synthesized["prod"].stderr
    return copy(synthesized["prod"].out, tmp_path)


def test_mutation_dropping_the_agent_security_context(fresh: Path) -> None:
    def drop(body: dict[str, Any]) -> None:
        body["spec"]["replication"]["agent"].pop("securityContext", None)

    edit_manifest(fresh / "manifests" / "saas-data" / "MariaDB-mariadb.yaml", drop)
    result, from_cli = verdict_and_cli("operators", fresh)
    assert result.exit_code == 1
    assert has(result.findings, "pod saas-data/mariadb violates PodSecurity restricted: container agent: allowPrivilegeEscalation must be false")
    assert from_cli.returncode == 1


def test_mutation_dropping_replication_removes_the_primary_service(synthesized: dict[str, Synth], tmp_path: Path) -> None:
    # staging: its app uses mariadb-primary directly (prod's goes through MaxScale).
    staging = copy(synthesized["staging"].out, tmp_path)

    def single(body: dict[str, Any]) -> None:
        body["spec"].pop("replication", None)
        body["spec"]["replicas"] = 1

    edit_manifest(staging / "manifests" / "saas-data" / "MariaDB-mariadb.yaml", single)
    assert has(verdict("operators", staging).findings, "env DB_HOST: host mariadb-primary.saas-data.svc.cluster.local names no Service")


def test_mutation_replicas_without_replication_is_rejected(fresh: Path) -> None:
    edit_manifest(fresh / "manifests" / "saas-data" / "MariaDB-mariadb.yaml", lambda b: b["spec"].pop("replication"))
    assert has(verdict("operators", fresh).findings, "webhook rejects it: spec.replicas=", "without replication or galera")


def test_passes_on_stack(stack: Synth) -> None:
    assert_passes("operators", stack.out)
