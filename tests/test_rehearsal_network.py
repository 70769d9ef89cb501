"""The `network` judge: NetworkPolicies through np-guard's network-config-analyzer, over the manifest,
chart and operator pods, against the flow table derived from the build.

Baseline tests run the judge on the synthesis of main 934f607 and assert the connectivity defects of
the first-deploy cluster review (finding 7 Traefik egress, finding 9 exporter labels) and of the
independent connectivity analysis in issue 13 (lateral movement from app pods and monitoring pods,
Alertmanager to Mailpit in dev). Mutation tests break a fresh synthesis and expect exit 1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rehearsal import network
from rehearsal.__main__ import run_one
from rehearsal.base import Build, JudgeUnavailable
from tests.conftest import Synth
from tests.pristine import pristine_findings, verdict_and_cli
from tests.rehearsal_helpers import assert_passes, BASELINE, baseline, copy, has, verdict

# Reads the session's `rehearsal all` runs (judged_all), started in the background at the start.
pytestmark = pytest.mark.background("judged")

DENIED = "required flow denied: "
ALLOWED = "forbidden flow allowed: "


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_traefik_cannot_reach_grafana(stack: str) -> None:
    # Review cluster-side #7: the grafana IngressRoute has an ingress rule in saas-monitoring but
    # Traefik's egress (saas-ingress/traefik-backends) only allows saas-app.
    findings = baseline("network", stack).findings
    assert has(findings, DENIED + "saas-ingress/traefik -> saas-monitoring/grafana:3000/TCP", "IngressRoute saas-monitoring/grafana")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_baseline_traefik_cannot_reach_graylog_or_rabbitmq_ui(stack: str) -> None:
    findings = baseline("network", stack).findings
    assert has(findings, DENIED + "saas-ingress/traefik -> saas-logging/graylog-app:9000/TCP")
    assert has(findings, DENIED + "saas-ingress/traefik -> saas-data/rabbitmq-server:15672/TCP")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_prometheus_blocked_from_mariadb_exporter(stack: str) -> None:
    # Review cluster-side #9: mariadb-operator v26.6.0 pkg/builder/deployment_builder.go builds the
    # exporter pods without the CR's podMetadata, so `saas-platform.io/data-store` is missing.
    findings = baseline("network", stack).findings
    assert has(findings, DENIED + "saas-monitoring/prometheus -> saas-data/mariadb-metrics:9104/TCP")


def test_baseline_alertmanager_cannot_reach_mailpit_in_dev() -> None:
    findings = baseline("network", "dev").findings
    assert has(findings, DENIED + "saas-monitoring/alertmanager -> saas-app/mailpit:1025/TCP", "mailRelay")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_frontend_reaches_every_data_store(stack: str) -> None:
    # saas-data/allow-app admits every saas-app pod on every data port.
    findings = baseline("network", stack).findings
    for target in ("saas-data/mariadb:3306", "saas-data/redis:6379", "saas-data/redis-sentinel:26379", "saas-data/rabbitmq-server:5672"):
        assert has(findings, ALLOWED + "saas-app/frontend -> " + target, "app side to a data store")


def test_baseline_mailpit_and_acme_solver_reach_data_stores() -> None:
    assert has(baseline("network", "dev").findings, ALLOWED + "saas-app/mailpit -> saas-data/mariadb:3306")
    assert has(baseline("network", "staging").findings, ALLOWED + "saas-app/cm-acme-http-solver -> saas-data/redis:6379")


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_baseline_monitoring_pods_reach_scraped_pods_on_any_port(stack: str) -> None:
    findings = baseline("network", stack).findings
    assert has(findings, ALLOWED + "saas-monitoring/grafana -> saas-app/backend-web:", "monitoring pod other than Prometheus")
    assert has(findings, ALLOWED + "saas-monitoring/prometheus -> saas-ingress/traefik:8080", "non-metrics port")


def test_baseline_counts_line() -> None:
    summary = baseline("network", "prod").summary
    assert summary.startswith("network: ") and "required flows allowed" in summary and "forbidden flows denied" in summary


@pytest.fixture
def prod_copy(synthesized: dict[str, Synth], tmp_path: Path) -> Path:
    assert synthesized["prod"].returncode == 0, synthesized["prod"].stderr
    return copy(synthesized["prod"].out, tmp_path)


@pytest.fixture
def prod_before(synthesized: dict[str, Synth]) -> frozenset[str]:
    """The unmutated prod's findings (the session's folder: the copy's bytes), judged once."""
    return pristine_findings("network", synthesized["prod"].out)


def test_mutation_deleting_dns_policy_denies_dns(prod_copy: Path, prod_before: frozenset[str]) -> None:
    (prod_copy / "manifests" / "saas-app" / "NetworkPolicy-allow-dns.yaml").unlink()
    after, from_cli = verdict_and_cli("network", prod_copy)
    new = set(after.findings) - prod_before
    assert after.exit_code == 1
    assert has(list(new), DENIED + "saas-app/frontend -> kube-system/coredns:53/UDP", "DNS")
    assert from_cli.returncode == 1


def test_mutation_deleting_data_policies_opens_data_to_the_outside(prod_copy: Path, prod_before: frozenset[str]) -> None:
    for path in (prod_copy / "manifests" / "saas-data").glob("NetworkPolicy-*.yaml"):
        path.unlink()
    new = set(verdict("network", prod_copy).findings) - prod_before
    assert has(list(new), ALLOWED + f"{network.INTERNET} -> saas-data/mariadb:", "outside to a data store")


def test_missing_analyzer_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def missing() -> str:
        raise JudgeUnavailable(f"np-guard's `nca` not found: {network.NCA_INSTALL}")

    monkeypatch.setattr(network, "nca_binary", missing)
    assert run_one("network", Build(BASELINE / "dev")) == 2
    assert "network-config-analyzer==2.1.0" in capsys.readouterr().out


def test_passes_on_stack(stack: Synth) -> None:
    assert_passes("network", stack.out)


def test_a_chart_missing_from_the_catalog_is_a_finding(tmp_path: Path) -> None:
    build = copy(BASELINE / "dev", tmp_path)
    release = build / "helm" / "keda.yaml"
    release.write_text(release.read_text().replace("chart: keda", "chart: keda-fork"))
    assert has(verdict("network", build).findings, "helm release keda: chart keda-fork has no entry in rehearsal/catalog/charts.yaml")
