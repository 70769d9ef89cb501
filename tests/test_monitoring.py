"""Monitoring (issue 9): releases and their values against upstream, custom resources against
their CRDs, alert rules through the real promtool, dashboards, Alertmanager routing, and the
logging namespace with the one relaxed Pod Security level."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.contracts import MailRelay
from components.monitoring import alertmanager, dashboards, logs
from components.monitoring import alerts as alert_rules
from components.monitoring import metrics as metrics_stack
from components.monitoring.alertmanager import EmailReceiver, alertmanager_config
from components.platform import charts
from tests.conftest import ROOT, Synth
from tests.upstream import chart_schema_errors, chart_version, crd_errors, unknown_value_paths

RELEASE = "kubernetes:helm.sh/v3:Release"
PROMTOOL_TESTS = ROOT / "tests" / "promtool"

# kube-prometheus-stack passes these maps to subcharts whose values.yaml the parent chart does
# not ship (upstream/README: "The values of its subchart dependencies ... are not included"),
# or renders them verbatim into a config file / a CR field typed by the operator's API.
KPS_FREE_FORM = (
    "grafana.replicas",
    "grafana.grafana.ini",  # rendered verbatim into grafana.ini
    "grafana.resources",
    "grafana.sidecar.resources",  # grafana subchart values.yaml `sidecar.resources: {}` (subchart not vendored)
    "grafana.securityContext",
    "grafana.containerSecurityContext",
    "kube-state-metrics.resources",
    "kube-state-metrics.securityContext",
    "kube-state-metrics.containerSecurityContext",
    # prometheus-community kube-state-metrics chart: `customResourceState.{enabled,config}` and
    # `rbac.extraRules` (the data-safety custom-resource metrics, components/monitoring/metrics.py).
    "kube-state-metrics.customResourceState",
    "kube-state-metrics.rbac",
    "prometheus-node-exporter.resources",
    "alertmanager.alertmanagerSpec.configSecret",  # documented upstream as a commented key (AlertmanagerSpec.configSecret)
    "alertmanager.alertmanagerSpec.storage",  # StorageSpec of the Alertmanager CRD (upstream: commented example)
    "prometheus.prometheusSpec.storageSpec",  # StorageSpec of the Prometheus CRD (upstream: {})
)


def releases(stack: Synth) -> dict[str, dict[str, Any]]:
    """The Helm releases Monitoring owns (other components install charts of their own)."""
    return {
        r["inputs"]["name"]: r["inputs"] for r in stack.of_type(RELEASE) if "saas-platform:index:Monitoring$" in r["urn"]
    }


def kps_values(stack: Synth) -> dict[str, Any]:
    return releases(stack)[metrics_stack.PROMETHEUS_RELEASE]["values"]


def logs_on(stack: Synth) -> bool:
    """Logs (Graylog + Fluent Bit) are on in staging and prod; in dev a test of them asserts
    instead that nothing of the logging stack is deployed (no skip: dev is checked too)."""
    if stack.stack != "dev":
        return True
    assert_logging_absent(stack)
    return False


def assert_logging_absent(stack: Synth) -> None:
    """dev (logs off): no Graylog, Fluent Bit or MongoDB release, no object in the logging
    namespace, no GELF input Job, and nothing scrapes or ships to Graylog."""
    assert not {"graylog", "fluent-bit", "mongodb-operator"} & set(releases(stack))
    assert [m["metadata"]["name"] for _, m in stack.manifests() if m["metadata"].get("namespace") == logs.LOGGING_NAMESPACE] == []
    assert not [n for n in stack.objects("Namespace") if n["metadata"]["name"] == logs.LOGGING_NAMESPACE]
    assert "graylog" not in json.dumps([r["inputs"] for r in stack.of_type(RELEASE)]).lower()


# ---- releases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chart", "release"),
    [(charts.KUBE_PROMETHEUS_STACK, "kps"), (charts.GRAYLOG, "graylog"), (charts.FLUENT_BIT, "fluent-bit")],
)
def test_charts_are_pinned_to_the_upstream_version_we_validate_against(stack: Synth, chart: Any, release: str) -> None:
    assert chart.version == chart_version(chart.chart)
    found = releases(stack).get(release)
    if release != "kps" and not logs_on(stack):
        assert found is None, "logs are off in dev"
        return
    assert found is not None
    assert (found["chart"], found["version"], found["repositoryOpts"]["repo"]) == (chart.chart, chart.version, chart.repo)


def test_kube_prometheus_stack_values_exist_upstream(stack: Synth) -> None:
    values = kps_values(stack)
    assert unknown_value_paths("kube-prometheus-stack", values, free_form=KPS_FREE_FORM) == []


def test_unknown_kube_prometheus_stack_key_is_caught() -> None:
    """The check can fail: a typo outside the free-form maps is reported."""
    bad = {"prometheus": {"prometheusSpec": {"retentionTime": "7d"}}, "grafana": {"sidecar": {"dashbords": {}}}}
    assert unknown_value_paths("kube-prometheus-stack", bad, free_form=KPS_FREE_FORM) == [
        "grafana.sidecar.dashbords",
        "prometheus.prometheusSpec.retentionTime",
    ]


def test_prometheus_selects_monitors_and_rules_from_every_namespace(stack: Synth) -> None:
    spec = kps_values(stack)["prometheus"]["prometheusSpec"]
    for kind in ("rule", "serviceMonitor", "podMonitor", "probe", "scrapeConfig"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind


def test_prometheus_retention_storage_and_replicas_follow_config(stack: Synth) -> None:
    spec = kps_values(stack)["prometheus"]["prometheusSpec"]
    expected = {"dev": ("2d", "5Gi", 1), "staging": ("7d", "20Gi", 1), "prod": ("15d", "50Gi", 2)}[stack.stack]
    storage = spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    assert (spec["retention"], storage, spec["replicas"]) == expected
    assert spec["retentionSize"].endswith("GB")
    assert spec["resources"]["limits"]["memory"] and spec["securityContext"]["runAsNonRoot"] is True


def test_stateful_monitoring_is_protected_in_production(stack: Synth) -> None:
    for record in stack.of_type(RELEASE):
        if record["inputs"]["name"] in ("kps", "graylog"):
            assert record["protect"] is (stack.stack == "prod"), record["name"]


def test_every_pod_the_charts_run_has_resources(stack: Synth) -> None:
    values = kps_values(stack)
    for path in (
        ("prometheus", "prometheusSpec"),
        ("alertmanager", "alertmanagerSpec"),
        ("grafana",),
        ("kube-state-metrics",),
        ("prometheusOperator",),
    ):
        node = values
        for key in path:
            node = node[key]
        assert node["resources"]["requests"]["cpu"] and node["resources"]["limits"]["memory"], path
    for name, release in releases(stack).items():
        if name == "graylog":
            for part in ("graylog", "datanode"):
                assert release["values"][part]["resources"]["limits"]["memory"]
        if name == "fluent-bit":
            assert release["values"]["resources"]["limits"]["memory"]


# ---- Grafana --------------------------------------------------------------------------------


def test_grafana_behind_the_admin_guard_with_a_generated_password(stack: Synth) -> None:
    route = stack.object("IngressRoute", "grafana", "saas-monitoring")
    assert crd_errors(route) == []
    (rule,) = route["spec"]["routes"]
    domain = stack.outputs["domain"]
    assert rule["match"] == f"Host(`grafana.{domain}`)"
    assert rule["middlewares"] == [{"name": "admin-guard", "namespace": "saas-ingress"}]
    assert rule["services"][0]["name"] == metrics_stack.GRAFANA_SERVICE
    assert route["spec"]["entryPoints"] == ["websecure"]
    grafana = kps_values(stack)["grafana"]
    assert grafana["admin"]["existingSecret"] == "grafana-admin"
    assert "adminPassword" not in grafana
    assert stack.object("Secret", "grafana-admin", "saas-monitoring")["stringData"] == {
        "admin-user": "[secret]", "admin-password": "[secret]"
    }
    assert stack.outputs["grafanaAdminPassword"] == "[secret]"
    assert stack.outputs["grafanaUrl"] == f"https://grafana.{domain}"


# ---- custom resources against CRDs ------------------------------------------------------------


def test_every_monitor_and_rule_is_valid_against_its_crd(stack: Synth) -> None:
    checked = 0
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "IngressRoute"):
        for obj in stack.objects(kind):
            assert crd_errors(obj) == [], obj["metadata"]["name"]
            checked += 1
    assert checked >= len(alert_rules.alert_rule_files())


def test_a_broken_prometheus_rule_fails_the_crd_check(stack: Synth) -> None:
    rule = copy.deepcopy(stack.objects("PrometheusRule")[0])
    rule["spec"]["groups"][0]["rules"][0]["for"] = "ten minutes"  # not a duration
    rule["spec"]["groups"][0]["rules"][0]["severity"] = "critical"  # not a field of a rule
    assert len(crd_errors(rule)) == 2


def test_prometheus_rules_are_the_rule_files(stack: Synth) -> None:
    files = alert_rules.alert_rule_files()
    objects = {o["metadata"]["name"]: o for o in stack.objects("PrometheusRule", "saas-monitoring")}
    if stack.stack != "prod":  # MaxScale's rules go only with MaxScale (medium tier: prod)
        files.pop(alert_rules.MAXSCALE_RULES)
    # The recovery drill's rules only where the drill runs (production).
    if stack.stack != "prod":
        files.pop("drills")
    assert set(objects) == {f"saas-{stem}" for stem in files}
    for stem, document in files.items():
        deployed = objects[f"saas-{stem}"]["spec"]["groups"]
        # Only development drops rules: the backup and archive alerts (it runs no backups) and
        # the replication alerts (its MariaDB does not replicate).
        dropped = {"MariaDBBackupTooOld", *alert_rules.BACKUP_ONLY_ALERTS, *alert_rules.REPLICATION_ONLY_ALERTS}
        for group in document["groups"]:
            if stack.stack == "dev":
                group["rules"] = [r for r in group["rules"] if r["alert"] not in dropped]
        assert deployed == document["groups"], stem


def test_no_backup_alert_without_backups(stack: Synth) -> None:
    """`MariaDBBackupTooOld` ends in `absent(...)`: deployed where no backup ever runs (dev), it
    would fire for ever."""
    alerts = {
        r["alert"] for o in stack.objects("PrometheusRule", "saas-monitoring")
        for g in o["spec"]["groups"] for r in g["rules"] if "alert" in r
    }
    assert ("MariaDBBackupTooOld" in alerts) is (stack.stack != "dev")
    assert ("MariaDBDown" in alerts)


def test_no_replication_alert_without_a_replica(stack: Synth) -> None:
    """mysqld-exporter exports `mysql_slave_status_seconds_behind_master` only from a replica:
    in dev (one standalone pod) `MariaDBReplicaLagging` could never fire (metrics judge)."""
    alerts = {
        r["alert"] for o in stack.objects("PrometheusRule", "saas-monitoring")
        for g in o["spec"]["groups"] for r in g["rules"] if "alert" in r
    }
    assert (alert_rules.REPLICATION_ONLY_ALERTS <= alerts) is (stack.stack != "dev")
    assert not (alert_rules.REPLICATION_ONLY_ALERTS & alerts) or stack.stack != "dev"


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for stem, document in alert_rules.alert_rule_files().items():
        for group in document["groups"]:
            for rule in group["rules"]:
                assert rule["labels"]["severity"] in ("critical", "warning", "info"), (stem, rule["alert"])
                assert rule["annotations"]["summary"] and rule["annotations"]["description"], (stem, rule["alert"])


REQUIRED_ALERTS = {
    "TraefikHigh5xxRatio", "TraefikHighP95Latency", "LaravelQueueBacklog", "LaravelQueueOldestJobTooOld",
    "PodCrashLooping", "HPAPinnedAtMaximum", "MariaDBReplicaLagging", "MariaDBDown", "MariaDBBackupTooOld",
    "RedisMasterMissing", "RabbitMQDeadLetterQueueGrowing", "CertificateExpiringSoon", "VolumeNearlyFull",
}


def test_the_alerts_the_issue_asks_for_exist() -> None:
    names = {r["alert"] for d in alert_rules.alert_rule_files().values() for g in d["groups"] for r in g["rules"]}
    assert REQUIRED_ALERTS <= names


# ---- promtool ---------------------------------------------------------------------------------


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path, "promtool is missing: run `make system-deps` (Debian package prometheus)"
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=120, cwd=PROMTOOL_TESTS)


def test_promtool_checks_every_rule_file() -> None:
    files = sorted(str(p) for p in alert_rules.ALERTS_DIR.glob("*.yaml"))
    proc = promtool("check", "rules", *files)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m])\n")
    assert promtool("check", "rules", str(bad)).returncode != 0


def test_promtool_unit_tests_pass() -> None:
    tests = sorted(p.name for p in PROMTOOL_TESTS.glob("*_test.yaml"))
    # Every rule file has a test file (drills has two: promtool's evaluation_interval is per file).
    covered = {Path(rule).name for t in tests for rule in yaml.safe_load((PROMTOOL_TESTS / t).read_text())["rule_files"]}
    assert covered == {p.name for p in alert_rules.ALERTS_DIR.glob("*.yaml")}
    # One promtool a file, side by side: the files are independent and each is single-threaded work.
    with ThreadPoolExecutor(max_workers=4) as pool:
        for proc in pool.map(lambda name: promtool("test", "rules", name), tests):
            assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    """Each alert appears in a promtool test once with an expected alert and once with none."""
    fired: set[str] = set()
    quiet: set[str] = set()
    for path in PROMTOOL_TESTS.glob("*_test.yaml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for d in alert_rules.alert_rule_files().values() for g in d["groups"] for r in g["rules"]}
    assert names <= fired, f"never shown firing: {sorted(names - fired)}"
    assert names <= quiet, f"never shown quiet: {sorted(names - quiet)}"


def test_a_wrong_expectation_fails_the_unit_test(tmp_path: Path) -> None:
    """promtool test really evaluates: expecting the healthy service to alert fails."""
    original = yaml.safe_load((PROMTOOL_TESTS / "traefik_test.yaml").read_text())
    original["rule_files"] = [str(alert_rules.ALERTS_DIR / "traefik.yaml")]
    original["tests"][0]["alert_rule_test"][1]["exp_alerts"][0]["exp_labels"]["service"] = "web"
    broken = tmp_path / "broken_test.yaml"
    broken.write_text(yaml.safe_dump(original))
    assert promtool("test", "rules", str(broken)).returncode != 0


# ---- dashboards -------------------------------------------------------------------------------


def test_dashboards_are_configmaps_for_the_grafana_sidecar(stack: Synth) -> None:
    maps = [m for m in stack.objects("ConfigMap", "saas-monitoring") if m["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert {name for m in maps for name in m["data"]} == set(dashboards.dashboards())
    sidecar = kps_values(stack)["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"], sidecar["searchNamespace"]) == ("grafana_dashboard", "1", "ALL")


@pytest.mark.parametrize("path", sorted(dashboards.DASHBOARDS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_dashboard_follows_the_current_grafana_schema(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] and dashboard["title"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids must be unique"
    datasource_uid = kps_values_datasource_uid()
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource_uid}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource_uid and target["expr"] and target["refId"]


def kps_values_datasource_uid() -> str:
    """The Prometheus datasource uid kube-prometheus-stack provisions (upstream default)."""
    from tests.upstream import chart_dir, load_yaml

    return load_yaml(chart_dir("kube-prometheus-stack") / "values.yaml")["grafana"]["sidecar"]["datasources"]["uid"]


def test_application_overview_covers_what_an_operator_looks_at() -> None:
    dashboard = json.loads((dashboards.DASHBOARDS_DIR / "application-overview.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for metric in ("traefik_service_requests_total", "traefik_service_request_duration_seconds_bucket",
                   "redis_key_size", "mysql_up", "mysql_slave_status_seconds_behind_master", "redis_keyspace_hits_total"):
        assert metric in exprs, metric


# ---- Alertmanager -----------------------------------------------------------------------------

EMAIL = EmailReceiver(
    smarthost="email-smtp.eu-west-1.amazonaws.com:587",
    from_address="alerts@example.com",
    to=("ops@example.com",),
    username="AKIAEXAMPLE",
    require_tls=True,
)


def _receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in config["receivers"] if r["name"] == name)


def test_alertmanager_routes_by_severity_to_email_when_a_mail_relay_is_given() -> None:
    config = alertmanager_config(EMAIL, None)
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes[('severity = "critical"',)] == "critical"
    assert routes[('severity = "warning"',)] == "warning"
    assert routes[('severity = "info"',)] == "null"
    (email,) = _receiver(config, "critical")["email_configs"]
    assert email["smarthost"] == "email-smtp.eu-west-1.amazonaws.com:587" and email["require_tls"] is True
    assert email["auth_password_file"].startswith("/etc/alertmanager/secrets/alertmanager-notifiers/")
    assert "auth_password" not in email
    assert "webhook_configs" not in _receiver(config, "critical")


def test_alertmanager_without_mail_relay_or_webhook_has_no_receiver_that_sends() -> None:
    config = alertmanager_config(None, None)
    assert [r["name"] for r in config["receivers"]] == ["null"]
    assert {r["receiver"] for r in config["route"]["routes"]} == {"null"}


@pytest.mark.parametrize(("kind", "key", "file_key"), [("slack", "slack_configs", "api_url_file"), ("webhook", "webhook_configs", "url_file")])
def test_alertmanager_webhook_reads_its_url_from_the_secret(kind: str, key: str, file_key: str) -> None:
    config = alertmanager_config(EMAIL, kind)
    for name in ("critical", "warning"):
        (hook,) = _receiver(config, name)[key]
        assert hook[file_key].endswith("/webhook-url")
        assert _receiver(config, name)["email_configs"]


def test_stack_alertmanager_reads_its_config_and_notifiers_from_secrets(stack: Synth) -> None:
    spec = kps_values(stack)["alertmanager"]["alertmanagerSpec"]
    assert spec["secrets"] == [alertmanager.NOTIFIER_SECRET]
    assert (spec["useExistingSecret"], spec["configSecret"]) == (True, alertmanager.ALERTMANAGER_CONFIG_SECRET)
    assert "config" not in kps_values(stack)["alertmanager"], "the chart would ignore it (useExistingSecret)"
    secret = stack.object("Secret", alertmanager.ALERTMANAGER_CONFIG_SECRET, "saas-monitoring")["stringData"]
    assert set(secret.values()) == {"[secret]"}  # the config holds the SMTP username: all of it is secret
    assert spec["replicas"] == (1 if stack.stack == "dev" else 2)


MAIL_PROGRAM = '''
import pulumi
from components import config
from components.contracts import MailRelay, MiddlewareRef
from components.monitoring import Monitoring, MonitoringArgs

settings = config.load()
from tests.programs.platform_stub import admin_guard
guard = admin_guard()
Monitoring("monitoring", MonitoringArgs(
    config=settings,
    namespace="saas-monitoring",
    ingress_namespace="saas-ingress",
    admin_guard=guard,
    mail=MailRelay(
        host="email-smtp.eu-west-1.amazonaws.com", port=587, tls=True, from_address="alerts@example.com",
        username=pulumi.Output.secret("AKIAEXAMPLE"), password=pulumi.Output.secret("smtp-pass-value-4711"),
    ),
))
'''


def test_a_mail_relay_renders_the_email_receiver_in_a_synthesized_stack(tmp_path: Path) -> None:
    from tests.conftest import run_synth

    program = tmp_path / "with_mail.py"
    program.write_text(MAIL_PROGRAM)
    stack_file = tmp_path / "Pulumi.mail.yaml"
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    document["config"]["saas-platform:alertWebhookUrl"] = {"secure": "AAABAF9zeW50aC1vbmx5"}
    stack_file.write_text(yaml.safe_dump(document))
    proc = run_synth("mail", tmp_path / "out", "--program", str(program), "--stack-file", str(stack_file))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = json.loads((tmp_path / "out" / "resources.json").read_text())
    kps = next(r for r in resources if r["type"] == RELEASE and r["inputs"]["name"] == "kps")
    # A secret SMTP username must not turn the whole release's values into one opaque secret.
    assert kps["inputs"]["values"]["alertmanager"]["alertmanagerSpec"]["configSecret"] == alertmanager.ALERTMANAGER_CONFIG_SECRET
    text = (tmp_path / "out" / "resources.json").read_text()
    assert "AKIAEXAMPLE" not in text and "hooks.slack.com" not in text and "smtp-pass-value-4711" not in text


def test_the_stack_passes_the_mail_relay_and_webhook_to_the_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the component hands `alertmanager_config` for a MailRelay (the rendered YAML itself
    is a secret in the synth output)."""
    import pulumi

    seen: list[tuple[Any, Any]] = []
    monkeypatch.setattr(alertmanager, "alertmanager_config", lambda email, webhook: seen.append((email, webhook)) or {})
    relay = MailRelay(
        host="email-smtp.eu-west-1.amazonaws.com", port=587, tls=True, from_address="alerts@example.com",
        username=pulumi.Output.from_input("AKIAEXAMPLE"), password=pulumi.Output.from_input("x"),
    )

    @pulumi.runtime.test
    def render() -> Any:
        return alertmanager._alertmanager_yaml(relay, ("ops@example.com",), "slack").apply(lambda _: None)

    pulumi.runtime.set_mocks(_NoopMocks(), project="saas-platform", stack="unit")
    render()
    ((email, webhook),) = seen
    assert email == EmailReceiver("email-smtp.eu-west-1.amazonaws.com:587", "alerts@example.com", ("ops@example.com",), "AKIAEXAMPLE", True)
    assert webhook == "slack"


class _NoopMocks(__import__("pulumi").runtime.Mocks):
    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        return args.name, dict(args.inputs)

    def call(self, args: Any) -> dict[str, Any]:
        return {}


# ---- logs ---------------------------------------------------------------------------------------

RELAXED_BECAUSE = {
    # object that needs more than `restricted` -> why
    ("DaemonSet", "datanode-sysctl"): "privileged init container sets vm.max_map_count for DataNode's OpenSearch",
    ("Release", "fluent-bit"): "Fluent Bit reads container logs through a hostPath /var/log volume",
    ("Release", "kps/prometheus-node-exporter"): "node-exporter needs host network, host PID and the host root mount",
}


def test_the_logging_namespace_is_the_only_relaxed_one_and_why(stack: Synth) -> None:
    relaxed = {
        ns["metadata"]["name"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for ns in stack.objects("Namespace")
        if ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") != "restricted"
    }
    if stack.stack == "dev":
        assert relaxed == {}, "dev runs neither logs nor node-exporter: no relaxed namespace"
        return
    assert relaxed == {logs.LOGGING_NAMESPACE: "privileged"}
    # The reasons, each checked on the object that needs it:
    sysctl = stack.object("DaemonSet", "datanode-sysctl", logs.LOGGING_NAMESPACE)
    (init,) = sysctl["spec"]["template"]["spec"]["initContainers"]
    assert init["securityContext"]["privileged"] is True, RELAXED_BECAUSE[("DaemonSet", "datanode-sysctl")]
    assert "vm.max_map_count=262144" in " ".join(init["command"])
    fluent_bit = releases(stack)["fluent-bit"]
    assert fluent_bit["namespace"] == logs.LOGGING_NAMESPACE
    assert {"name": "varlog", "hostPath": {"path": "/var/log"}} in fluent_bit["values"]["daemonSetVolumes"], RELAXED_BECAUSE[("Release", "fluent-bit")]
    node_exporter = kps_values(stack)["prometheus-node-exporter"]
    assert node_exporter["namespaceOverride"] == logs.LOGGING_NAMESPACE, RELAXED_BECAUSE[("Release", "kps/prometheus-node-exporter")]
    # Everything else of the monitoring stack runs in the restricted monitoring namespace.
    assert releases(stack)["kps"]["namespace"] == "saas-monitoring"


def test_logs_are_off_in_dev_and_on_elsewhere(stack: Synth) -> None:
    names = set(releases(stack))
    if stack.stack == "dev":
        assert names == {"kps"}
        assert kps_values(stack)["nodeExporter"]["enabled"] is False
    else:
        assert names == {"kps", "graylog", "fluent-bit", "mongodb-operator"}


def test_graylog_values_are_valid_against_the_chart_schema(stack: Synth) -> None:
    if not logs_on(stack):
        return  # logs_on asserted that dev deploys nothing of the logging stack
    values = releases(stack)["graylog"]["values"]
    assert chart_schema_errors("graylog", values) == []
    assert values["graylog"]["enterprise"] is False
    # Scrapable from Prometheus: exporter on, bound to all interfaces, matched by the ServiceMonitor.
    assert values["graylog"]["service"]["metrics"]["enabled"] is True
    assert values["graylog"]["env"]["GRAYLOG_PROMETHEUS_EXPORTER_BIND_ADDRESS"] == "0.0.0.0:9833"
    monitor = stack.object("ServiceMonitor", "graylog", logs.LOGGING_NAMESPACE)
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert values["global"]["existingSecretName"] == logs.GRAYLOG_CREDENTIALS_SECRET
    replicas = (values["graylog"]["replicas"], values["datanode"]["replicas"], values["mongodb"]["replicas"])
    assert replicas == (2, 3, 3)
    assert values["datanode"]["persistence"]["data"]["size"] == {"staging": "20Gi", "prod": "100Gi"}[stack.stack]


def test_graylog_schema_check_catches_a_wrong_value() -> None:
    wrong = logs.graylog_values(highly_available=True, storage="10Gi")
    wrong["graylog"]["replicas"] = "two"
    wrong["graylog"]["inputs"] = [{"name": "gelf", "port": 12201}]  # protocol missing
    assert len(chart_schema_errors("graylog", wrong)) == 2


def test_graylog_credentials_live_in_secrets_not_in_values(stack: Synth) -> None:
    if not logs_on(stack):
        return  # logs_on asserted that dev deploys nothing of the logging stack
    text = json.dumps(releases(stack)["graylog"]["values"])
    assert "rootPassword" not in text and "customSecretPepper" not in text and "mongodb://" not in text
    for name in (logs.GRAYLOG_CREDENTIALS_SECRET, logs.GRAYLOG_BACKUP_SECRET, "graylog-admin"):
        data = stack.object("Secret", name, logs.LOGGING_NAMESPACE)["stringData"]
        assert data and set(data.values()) == {"[secret]"}


def test_fluent_bit_ships_container_logs_over_gelf_tcp(stack: Synth) -> None:
    if not logs_on(stack):
        return  # logs_on asserted that dev deploys nothing of the logging stack
    values = releases(stack)["fluent-bit"]["values"]
    assert unknown_value_paths("fluent-bit", values) == []
    assert values["kind"] == "DaemonSet" and values["testFramework"]["enabled"] is False
    output = values["config"]["outputs"]
    assert "Name gelf" in output and "Mode tcp" in output and f"Port {logs.GELF_PORT}" in output
    assert f"Host {logs.GRAYLOG_SERVICE}.{logs.LOGGING_NAMESPACE}.svc.cluster.local" in output
    assert "Gelf_Short_Message_Key log" in output
    graylog_inputs = releases(stack)["graylog"]["values"]["graylog"]["inputs"]
    assert {"name": "input-gelf", "port": logs.GELF_PORT, "targetPort": logs.GELF_PORT, "protocol": "TCP"} in graylog_inputs


def test_fluent_bit_key_check_catches_a_typo() -> None:
    assert unknown_value_paths("fluent-bit", {"daemonSetVolume": []}) == ["daemonSetVolume"]


def test_gelf_input_is_created_by_a_job_against_the_graylog_api(stack: Synth) -> None:
    if not logs_on(stack):
        return  # logs_on asserted that dev deploys nothing of the logging stack
    (job,) = stack.objects("Job", logs.LOGGING_NAMESPACE)
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["GRAYLOG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "graylog-admin", "key": "password"}
    assert env["INPUT_PORT"]["value"] == str(logs.GELF_PORT)
    script = stack.object("ConfigMap", "graylog-gelf-input", logs.LOGGING_NAMESPACE)["data"]["create-gelf-input.sh"]
    assert "org.graylog2.inputs.gelf.tcp.GELFTCPInput" in script and "/api/system/inputs" in script
    graylog = next(r for r in stack.of_type(RELEASE) if r["inputs"]["name"] == "graylog")
    job_record = next(
        r for r in stack.resources
        if r["type"] == "kubernetes:batch/v1:Job" and r["inputs"]["metadata"]["namespace"] == logs.LOGGING_NAMESPACE
    )
    assert graylog["urn"] in job_record["dependencies"], "the Job runs after Graylog is installed"


def test_gelf_input_script_is_valid_shell() -> None:
    proc = subprocess.run(["sh", "-n", str(logs.GELF_INPUT_SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_logging_namespace_denies_by_default(stack: Synth) -> None:
    if not logs_on(stack):
        return  # logs_on asserted that dev deploys nothing of the logging stack
    names = {p["metadata"]["name"] for p in stack.objects("NetworkPolicy", logs.LOGGING_NAMESPACE)}
    assert {"default-deny", "allow-dns", "allow-logging-internal", "allow-scrape-from-monitoring"} <= names


def test_custom_resources_wait_for_their_crds(stack: Synth) -> None:
    kps = next(r for r in stack.of_type(RELEASE) if r["inputs"]["name"] == "kps")
    for record in stack.resources:
        if record["type"].startswith("kubernetes:monitoring.coreos.com/"):
            assert kps["urn"] in record["dependencies"], record["name"]


def test_application_workloads_are_scraped(stack: Synth) -> None:
    """The stack policy's check, run on the synthesized stack (the app team's workloads land in
    saas-app; each needs a ServiceMonitor or PodMonitor)."""
    import sys

    sys.path.insert(0, str(ROOT / "policies"))
    from saas_policies.monitoring import unscraped_workloads

    resources = [(r["type"], r["name"], r["inputs"]) for r in stack.resources if r["custom"]]
    assert list(unscraped_workloads(resources)) == []


SCRAPED_PROGRAM = '''
import pulumi
import pulumi_kubernetes as k8s
from components import k8s as kube
from components.platform import scraping
from components.config import ContainerSize

class App(pulumi.ComponentResource):
    def __init__(self) -> None:
        super().__init__("saas-platform:index:App", "app")
        crds = k8s.helm.v3.Release("kps", name="kps", chart="kube-prometheus-stack", version="88.5.3",
                                   namespace="saas-monitoring", opts=pulumi.ResourceOptions(parent=self))
        selector = kube.selector_labels("api", "backend-web")
        container = k8s.core.v1.ContainerArgs(
            name="api", image="ghcr.io/acme/api:2.3.0", resources=kube.resources(ContainerSize("100m", "128Mi", "128Mi")),
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=9100)],
            security_context=kube.container_security_context(),
            readiness_probe=kube.http_probe("/up", "metrics"), liveness_probe=kube.http_probe("/up", "metrics"))
        k8s.apps.v1.Deployment("api", metadata=kube.metadata("api", "backend-web", "saas-app"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector), strategy=kube.rolling_update(),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.recommended_labels("api", "backend-web")),
                    spec=kube.pod_spec([container], selector=selector))),
            opts=pulumi.ResourceOptions(parent=self))
        if MONITORED:
            scraping.pod_monitor("api", "saas-app", component="backend-web", selector=selector, port="metrics",
                                 crds=crds, parent=self)
            scraping.service_monitor("api", "saas-app", component="backend-web", selector=selector, port="metrics",
                                     crds=crds, parent=self)

App()
'''


@pytest.mark.parametrize("monitored", [True, False])
def test_scraping_helpers_satisfy_the_scrape_policy(tmp_path: Path, monitored: bool) -> None:
    """The helpers render CRD-valid monitors; without one, synth refuses the stack (exit 2)."""
    from tests.conftest import run_synth

    program = tmp_path / "app.py"
    program.write_text(f"MONITORED = {monitored}\n" + SCRAPED_PROGRAM)
    proc = run_synth("dev", tmp_path / "out", "--program", str(program))
    report = json.loads((tmp_path / "out" / "policy-report.json").read_text())
    scrape_findings = [f for f in report if f["policy"] == "app-workloads-scraped"]
    if not monitored:
        assert proc.returncode == 2 and len(scrape_findings) == 1, proc.stdout + proc.stderr
        assert "Deployment saas-app/api" in scrape_findings[0]["message"]
        return
    assert proc.returncode == 0, proc.stdout + proc.stderr
    resources = json.loads((tmp_path / "out" / "resources.json").read_text())
    release = next(r for r in resources if r["type"] == RELEASE)
    monitors = [r for r in resources if r["type"].startswith("kubernetes:monitoring.coreos.com/")]
    assert len(monitors) == 2
    for record in monitors:
        assert crd_errors(record["inputs"]) == []
        assert release["urn"] in record["dependencies"]


def test_platform_and_data_exporters_are_scraped(stack: Synth) -> None:
    """Traefik (the 5xx/latency alerts), the backend exporters, RabbitMQ, MariaDB and Redis."""
    traefik = stack.object("PodMonitor", "traefik", "saas-ingress")["spec"]
    assert traefik["selector"]["matchLabels"] == {"networking.saas-platform.io/role": "traefik"}
    assert traefik["podMetricsEndpoints"][0]["port"] == "metrics"
    redis = stack.object("PodMonitor", "redis", "saas-data")["spec"]
    assert redis["podMetricsEndpoints"][0]["port"] == "redis-exporter"
    # A PodMonitor where data.tls moves the Service's metrics port to `prometheus-tls` (test_rabbitmq.py).
    assert stack.object("ServiceMonitor" if stack.stack == "dev" else "PodMonitor", "rabbitmq", "saas-data")
    # The exporters, and the Laravel app's own metrics route through nginx (docs/components.md).
    assert {e["port"] for e in stack.object("ServiceMonitor", "backend-web", "saas-app")["spec"]["endpoints"]} == {
        "nginx-metrics", "fpm-metrics", "http"
    }
    # mariadb-operator creates the MariaDB ServiceMonitor from the CR's metrics section.
    metrics = stack.object("MariaDB", "mariadb", "saas-data")["spec"]["metrics"]
    assert metrics["enabled"] is True and "serviceMonitor" in metrics
    crds = next(r["urn"] for r in stack.of_type(RELEASE) if r["inputs"]["name"] == metrics_stack.PROMETHEUS_RELEASE)
    for record in stack.resources:
        if record["type"].startswith("kubernetes:monitoring.coreos.com/v1:"):
            assert crds in record["dependencies"], f"{record['urn']} must wait for the monitoring CRDs"


def test_control_plane_monitors_off(stack: Synth) -> None:
    """kube-prometheus-stack 88.5.3 values.yaml enables kubeScheduler, kubeControllerManager,
    kubeEtcd and kubeProxy monitors by default; on EKS (managed control plane) and k3s/kind
    (in-process or bound to 127.0.0.1) they are never up and the mixin's absent() alerts fire
    for ever: the monitors and their default rule groups are off."""
    values = stack.release("kps")["values"]
    for component in ("kubeScheduler", "kubeControllerManager", "kubeEtcd", "kubeProxy"):
        assert values[component]["enabled"] is False, component
    rules = values["defaultRules"]["rules"]
    for group in ("etcd", "kubeSchedulerAlerting", "kubeSchedulerRecording", "kubeControllerManager", "kubeProxy"):
        assert rules[group] is False, group
    assert values["defaultRules"]["create"] is True  # the rest of the Kubernetes rules stay


def test_controllers_and_operators_are_scraped(stack: Synth) -> None:
    """Certificate-expiry alerts need cert-manager's metrics; KEDA and the data operators'
    reconcile errors are visible only when scraped. Each PodMonitor selects the pods by labels
    the release values put on them, on the port name of the pinned chart's Deployment."""
    monitors = {(m["metadata"]["namespace"], m["metadata"]["name"]): m["spec"] for m in stack.objects("PodMonitor")}
    cert_manager = monitors[("saas-cert-manager", "cert-manager")]
    assert cert_manager["podMetricsEndpoints"][0]["port"] == "http-metrics"
    assert cert_manager["selector"]["matchLabels"].items() <= stack.release("cert-manager")["values"]["podLabels"].items()
    keda_values = stack.release("keda")["values"]["podLabels"]
    operator = monitors[("saas-keda", "keda-operator")]
    assert operator["podMetricsEndpoints"][0]["port"] == "metrics"
    assert operator["selector"]["matchLabels"].items() <= keda_values["keda"].items()
    assert monitors[("saas-keda", "keda-metrics-apiserver")]["selector"]["matchLabels"].items() <= keda_values["metricsAdapter"].items()
    redis_operator = monitors[("saas-operators", "redis-operator")]
    assert redis_operator["selector"]["matchLabels"].items() <= stack.release("redis-operator")["values"]["redisOperator"]["podLabels"].items()
    mariadb_operator = monitors[("saas-operators", "mariadb-operator")]
    # mariadb-operator 26.6.0 chart selectorLabels: name + instance of the release.
    assert mariadb_operator["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "mariadb-operator", "app.kubernetes.io/instance": "mariadb-operator",
    }
    # cert-manager's certificate alerts now have a metric to fire on.
    alerts = {r["alert"]: r["expr"] for d in alert_rules.alert_rule_files().values() for g in d["groups"] for r in g["rules"]}
    assert "certmanager_certificate_expiration_timestamp_seconds" in alerts["CertificateExpiringSoon"]
