"""The `metrics` judge: alert rules and dashboards against what the real exporters expose.

The reviewed main-934f607 fixtures and a mutated copy of today's staging are judged in one
`python -m rehearsal metrics` run of several folders (tests/metrics_round.py: one rig of real
daemons, so Prometheus' discovery wait and each fault are paid once for all of them); today's
stacks in the run's one `rehearsal all` (tests/rehearsal_helpers.py `judged_all`). Both start in
the background at the start of the test run.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from rehearsal import promql
from rehearsal.base import Build, Verdict
from rehearsal.metrics import Stage, catalog
from rehearsal.rig import Rig
from tests import metrics_round, session_share
from tests.conftest import REPORT, STACKS, Synth
from tests.metrics_round import BASELINE, ROUND_OF_THIS_FILE
from tests.rehearsal_helpers import judged_all, verdict_record

# Reads the run's `rehearsal all` and its metrics round (tests/metrics_round.py), both started in the background.
pytestmark = pytest.mark.background("judged", "metrics-round")

@pytest.fixture(scope="session")
def verdicts(synthesized: dict[str, Synth]) -> dict[str, Verdict | str]:
    """The metrics judge's verdict on the reviewed fixtures and the mutated copy (this file's
    part of the metrics round) and on today's stacks: all from the run's one judging
    (tests/rehearsal_helpers.py `judged`, started in the background)."""
    out: dict[str, Verdict | str] = {name: metrics_round.verdict(name) for name in sorted(ROUND_OF_THIS_FILE)}
    for stack in STACKS:
        out[f"current-{stack}"] = Verdict(**verdict_record("metrics", judged_all(synthesized[stack].out).stdout))
    round_ = session_share.result("metrics-round")
    REPORT.append(f"metrics judge: {len(round_['folders'])} fixtures in one round of {round_['seconds']:.1f} s, daemons "
                  "included (tests/metrics_round.py); the stacks and the large tier in the run's `rehearsal all`")
    out["mutated-expected"] = round_["expected"]
    return out


def _findings(verdicts: dict[str, Verdict | str], key: str) -> list[str]:
    verdict = verdicts[key]
    assert isinstance(verdict, Verdict)
    return verdict.findings


def _has(findings: list[str], *parts: str) -> bool:
    return any(all(p in f for p in parts) for f in findings)


# ---- the reviewed defects (first-deploy-cluster-side.md #9, #10a-d) on main-934f607 -----------


@pytest.mark.parametrize("stack", STACKS)
def test_reports_the_queue_alerts_on_a_key_length_redis_exporter_does_not_export(verdicts, stack: str) -> None:
    # redis_exporter exports redis_key_size only for --check-keys/--check-single-keys (or
    # REDIS_EXPORTER_CHECK_*_KEYS); redis-operator v0.26.0 gives the sidecar only REDIS_ADDR,
    # the password, the listen address and redisExporter.env (internal/k8sutils/statefulset.go:831-880).
    findings = _findings(verdicts, f"baseline-{stack}")
    assert _has(findings, "alert LaravelQueueBacklog: redis_key_size is exposed by no scraped target")
    assert _has(findings, "scenario '5000 jobs waiting in the Laravel queue': none of LaravelQueueBacklog")


@pytest.mark.parametrize("stack", STACKS)
def test_reports_the_dead_letter_alert_on_a_series_without_a_queue_label(verdicts, stack: str) -> None:
    # The real rabbitmq_prometheus /metrics aggregates queues (no `queue` label) unless
    # return_per_object_metrics; the per-queue series live under /metrics/detailed as rabbitmq_detailed_*.
    findings = _findings(verdicts, f"baseline-{stack}")
    assert _has(findings, "alert RabbitMQDeadLetterQueueGrowing: rabbitmq_queue_messages_ready has no label queue")
    assert _has(findings, "scenario 'messages dead-lettered every minute': none of RabbitMQDeadLetterQueueGrowing fires")


@pytest.mark.parametrize("stack", STACKS)
def test_reports_the_certificate_alerts_on_an_unscraped_cert_manager(verdicts, stack: str) -> None:
    findings = _findings(verdicts, f"baseline-{stack}")
    assert _has(findings, "alert CertificateExpiringSoon: certmanager_certificate_expiration_timestamp_seconds comes from "
                          "cert-manager", "which no ServiceMonitor or PodMonitor of the stack scrapes")
    assert _has(findings, "scenario 'a certificate expiring in 2 days': none of CertificateExpiringSoon")


@pytest.mark.parametrize("stack", STACKS)
def test_reports_mariadb_alerts_blind_behind_the_network_policies(verdicts, stack: str) -> None:
    # mariadb-operator v26.6.0 labels the exporter pods with inheritMetadata + podMetadata + its
    # selector labels only (pkg/builder/deployment_builder.go:28-70): allow-monitoring-to-exporters
    # (data-store in (mariadb, redis)) does not select them.
    findings = _findings(verdicts, f"baseline-{stack}")
    assert _has(findings, "ServiceMonitor saas-data/mariadb-metrics (mariadb-operator): pod saas-data/mariadb-metrics-0 "
                          "port metrics (9104) is not scraped", "admits Prometheus on port 9104")
    assert _has(findings, "alert MariaDBDown: mysql_up is exposed by no scraped target")
    # Only prod runs a replica pod (staging: replication on, one pod: data-safety C1).
    stopped = "MariaDB replica stopped" if stack == "prod" else "MariaDB stopped"
    assert _has(findings, f"scenario '{stopped}': none of MariaDBDown")


@pytest.mark.parametrize("stack", STACKS)
def test_reports_the_backup_alert_firing_on_a_healthy_rehearsal(verdicts, stack: str) -> None:
    # PhysicalBackup Jobs are named <name>-<timestamp> (mariadb-operator v26.6.0
    # internal/controller/physicalbackup_controller.go:380-382): job_name=~".*backup.*" never matches.
    assert "alert MariaDBBackupTooOld (critical) fires on the healthy rehearsal" in _findings(verdicts, f"baseline-{stack}")


@pytest.mark.parametrize("stack", STACKS)
def test_a_stopped_redis_fires_its_alert_on_the_baseline(verdicts, stack: str) -> None:
    # The positive path: a real fault reaches a real alert through the real exporter and Prometheus.
    findings = _findings(verdicts, f"baseline-{stack}")
    assert not any("scenario" in f and "Redis" in f for f in findings)
    verdict = verdicts[f"baseline-{stack}"]
    assert isinstance(verdict, Verdict) and re.search(r"\b[1-9][0-9]*/[0-9]+ faults alerted", verdict.summary)


# ---- today's stacks and a mutation -----------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_alert_and_panel_reads_real_series_and_alerts_are_right(verdicts, stack: str) -> None:
    verdict = verdicts[f"current-{stack}"]
    assert isinstance(verdict, Verdict)
    assert verdict.findings == [], verdict.summary
    assert ", 0 unknown; 0 critical alerts firing" in verdict.summary


def test_a_renamed_metric_in_one_alert_fails_the_judge(verdicts) -> None:
    verdict, expected = verdicts["mutated"], verdicts["mutated-expected"]
    assert isinstance(verdict, Verdict) and isinstance(expected, str)
    assert verdict.exit_code == 1
    assert _has(verdict.findings, expected)
    assert not _has(_findings(verdicts, "current-staging"), expected)


def test_a_broken_security_or_app_usage_panel_fails_the_judge(verdicts) -> None:
    """The new dashboards are held to the real series: Traefik's router series (no label `cod`) and
    the app contract's catalog section (no `app_feature_usage_total`)."""
    findings = _findings(verdicts, "mutated")
    assert verdicts["mutated"].exit_code == 1
    assert _has(findings, "security.json panel 'Failed logins per minute (401/422)'",
                "traefik_router_requests_total has no label cod")
    assert _has(findings, "app-usage.json panel 'Feature use per minute'", "app_feature_usage_total is exposed by no scraped target")
    assert not _has(_findings(verdicts, "current-staging"), "app_feature_usage_total")


# ---- parts ----------------------------------------------------------------------------------------


def test_promql_reader_finds_metrics_matchers_and_grouping() -> None:
    usage = promql.usage('sum by (service) (rate(traefik_service_requests_total{code=~"5.."}[5m])) '
                         '/ on (service) group_left (x) max without (pod) (up) and absent(foo{a="b"})')
    assert usage.metrics == {"traefik_service_requests_total", "up", "foo"}
    assert {s.metric: s.labels for s in usage.selectors}["traefik_service_requests_total"] == {"code"}
    assert usage.grouping == {"service", "x", "pod"}
    grafana = promql.usage(promql.from_grafana('rate(x_total{service=~"$service"}[$__rate_interval])'))
    assert grafana.metrics == {"x_total"}


def test_every_catalog_entry_names_its_upstream_source() -> None:
    for name, component in catalog().items():
        source = component["source"]
        assert source["repository"] and source["ref"] and source["paths"], name
        assert component["metrics"] and component["scraped_by"], name


def test_php_fpm_answers_the_exporters_status_request_and_a_wrong_status_path_is_found(
        synthesized: dict[str, Synth], tmp_path: Path) -> None:
    # hipages/php-fpm_exporter v2.2.0 phpfpm/phpfpm.go asks SCRIPT_NAME=<path of --phpfpm.scrape-uri>
    # with QUERY_STRING json&full; the real php-fpm answers it only at the pool's pm.status_path.
    rig = Rig.shared(Build(synthesized["prod"].out))
    good = Stage(Build(synthesized["prod"].out), rig)
    broken_dir = tmp_path / "prod"
    shutil.copytree(synthesized["prod"].out, broken_dir)
    (config_map,) = (broken_dir / "manifests" / "saas-app").glob("ConfigMap-backend-php.yaml")
    text = config_map.read_text()
    assert "pm.status_path = /fpm-status" in text
    config_map.write_text(text.replace("pm.status_path = /fpm-status", "pm.status_path = /status"))
    broken = Stage(Build(broken_dir), rig)
    try:
        assert good._php_fpm() == ""
        assert "does not answer the exporter's status request /fpm-status" in broken._php_fpm()
    finally:
        good.stop()
        broken.stop()


def test_custom_resource_metrics_come_from_the_stacks_kube_state_metrics_config(synthesized) -> None:
    """The data-safety alerts read kube-state-metrics' custom-resource metrics, which the stack
    defines itself (customResourceState of the kube-prometheus-stack release): the judge knows
    them from that config, names and labels as kube-state-metrics v2.20.0 builds them, and a
    stack without the config (the reviewed baseline) has none."""
    from rehearsal.metrics import KSM_CUSTOM_RESOURCE_LABELS, custom_resource_metrics

    assert custom_resource_metrics(Build(BASELINE / "prod")) == {}
    prod = custom_resource_metrics(Build(synthesized["prod"].out))
    assert {"kube_mariadb_status_condition", "kube_mariadb_pitr_last_recoverable_time"} <= set(prod)
    assert {"name", "namespace", "type", "reason"} | KSM_CUSTOM_RESOURCE_LABELS <= prod["kube_mariadb_status_condition"]
