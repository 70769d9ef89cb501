"""Monitoring: metrics, dashboards, alerting and logs for the whole platform.

What it deploys (DESIGN.md "Prometheus, Grafana, alerts" and "Graylog"):

- kube-prometheus-stack (Prometheus Operator, Prometheus, Alertmanager, Grafana,
  kube-state-metrics, node-exporter) in the monitoring namespace. Prometheus selects
  ServiceMonitors, PodMonitors, Probes, ScrapeConfigs and PrometheusRules from *every*
  namespace (`...SelectorNilUsesHelmValues: false`), so the component that owns a workload
  owns its monitor. Retention and storage come from config.
- Alert rules: the real rule files in `components/files/alerts/*.yaml` (checked with
  `promtool check rules` and unit tested with `promtool test rules`), one PrometheusRule each.
- Dashboards: `components/files/dashboards/*.json` as ConfigMaps labelled `grafana_dashboard: "1"`
  (the Grafana sidecar loads them from all namespaces).
- Alertmanager routes by severity: critical pages (email + webhook, repeated hourly), warning
  tickets (email + webhook, repeated twice a day), info is dropped. The email receiver exists
  when a MailRelay is given; the webhook when `alertWebhookUrl` is set. Credentials reach
  Alertmanager as files from a Kubernetes Secret (`*_file` settings), never in the config.
- Grafana on `grafana.<domain>` through a Traefik IngressRoute behind the admin guard, with a
  generated admin password stored in a Secret.
- Logs (off in development): the official Graylog chart (Graylog + DataNode + a MongoDB
  replica set through the MongoDB Controllers for Kubernetes operator the chart requires),
  a Job that creates the GELF TCP input through Graylog's API (the chart only opens the port),
  and Fluent Bit as a DaemonSet shipping container logs over GELF TCP.

The logging namespace is the one namespace with a relaxed Pod Security level (`privileged`):
DataNode's OpenSearch needs `vm.max_map_count >= 262144` on the node, which only a privileged
container can set (graylog-helm#106; chart 1.0.0 has no init for it), and Fluent Bit reads
`/var/log` through a hostPath volume, which `baseline` already forbids. node-exporter (host
network, host PID, host root mount) runs there too, through the subchart's namespaceOverride.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components import k8s as kube
from components import scraping
from components.config import ContainerSize, StackConfig
from components.contracts import MailRelay, MiddlewareRef
from components.platform.charts import ChartPin
from components.platform import certificates, keda
from components.platform.network import PROMETHEUS_POD, isolated_namespace
from components.platform.traefik import TRAEFIK_ROLE, allow_traefik_to

TYPE = "saas-platform:index:Monitoring"

FILES = Path(__file__).resolve().parent / "files"
ALERTS_DIR = FILES / "alerts"
DASHBOARDS_DIR = FILES / "dashboards"
GELF_INPUT_SCRIPT = FILES / "graylog" / "create-gelf-input.sh"


KUBE_PROMETHEUS_STACK = ChartPin("kube-prometheus-stack", "88.5.3", "https://prometheus-community.github.io/helm-charts")
GRAYLOG = ChartPin("graylog", "1.0.0", "https://graylog2.github.io/graylog-helm")
FLUENT_BIT = ChartPin("fluent-bit", "0.58.1", "https://fluent.github.io/helm-charts")
# The Graylog chart's MongoDBCommunity resource needs this operator (chart README, "Requirements").
MONGODB_OPERATOR = ChartPin("mongodb-kubernetes", "1.6.1", "https://mongodb.github.io/helm-charts")

# Release names decide the object names the charts render.
PROMETHEUS_RELEASE = "kps"  # with fullnameOverride: kps-prometheus, kps-alertmanager, kps-operator
GRAFANA_SERVICE = f"{PROMETHEUS_RELEASE}-grafana"  # the grafana subchart names it <release>-grafana
GRAYLOG_RELEASE = "graylog"
GRAYLOG_SERVICE = "graylog-svc"  # graylog.service.name: <fullname>-svc
LOGGING_NAMESPACE = "saas-logging"
GRAYLOG_CREDENTIALS_SECRET = "graylog-credentials"  # global.existingSecretName
# With existingSecretName the chart renders no Secret at all, but its MongoDBCommunity still
# reads the users' passwords from "<fullname>-backup-secret": we write that one too.
GRAYLOG_BACKUP_SECRET = f"{GRAYLOG_RELEASE}-backup-secret"
GRAYLOG_MONGODB_RS = f"{GRAYLOG_RELEASE}-mongo-rs"  # graylog.mongodb.crName; user and db "graylog"
GELF_PORT = 12201
# Pods and ports Traefik routes to (grafana subchart's pod label; graylog chart's `app` label).
GRAFANA_POD = {"app.kubernetes.io/name": "grafana"}
GRAFANA_PORT = 3000
GRAYLOG_POD = {"app": "graylog-app"}
GRAYLOG_PORT = 9000
GELF_INPUT_TITLE = "fluent-bit-gelf-tcp"

# Secrets Alertmanager reads as files: mounted at /etc/alertmanager/secrets/<name>/<key>.
NOTIFIER_SECRET = "alertmanager-notifiers"
NOTIFIER_DIR = f"/etc/alertmanager/secrets/{NOTIFIER_SECRET}"
ALERTMANAGER_CONFIG_SECRET = "alertmanager-config"  # key alertmanager.yaml, read by the operator

FLUENT_BIT_IMAGE_TAG = "5.1.1"  # the chart's appVersion, pinned explicitly
CURL_IMAGE = "docker.io/curlimages/curl:8.17.0"
SYSCTL_IMAGE = "docker.io/library/busybox:1.37.0"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of Monitoring.

    config: resolved stack config; `config.monitoring` sizes everything, `config.domain` names
        Grafana's host, `config.alert_webhook_url` (secret) enables the webhook receiver.
    namespace: the monitoring namespace (ClusterPlatform `namespaces["monitoring"]`).
    ingress_namespace: where Traefik runs; Grafana and Graylog admit traffic only from there.
    admin_guard: Traefik middleware in front of Grafana and Graylog (auth, IP allow-list).
    mail: SMTP relay for Alertmanager email; None renders no email receiver.
    ingress_dependencies: resources that install the Traefik CRDs (the Traefik release).
    controller_namespaces: see the field.
    """

    config: StackConfig
    namespace: pulumi.Input[str]
    ingress_namespace: pulumi.Input[str]
    admin_guard: MiddlewareRef
    mail: MailRelay | None = None
    ingress_dependencies: Sequence[pulumi.Resource] = field(default_factory=tuple)
    controller_namespaces: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Namespaces of the platform's controllers by concern (`cert-manager`, `keda`): their
    metrics are scraped through PodMonitors created here, next to the CRDs."""


# ------------------------------------------------------------------------------------------
# Pure builders (unit tested without a Pulumi runtime)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmailReceiver:
    """What the Alertmanager email receiver needs; the password is read from a file."""

    smarthost: str
    from_address: str
    to: Sequence[str]
    username: str
    require_tls: bool


def alertmanager_config(email: EmailReceiver | None, webhook: str | None) -> dict[str, Any]:
    """Alertmanager's configuration: routes by severity to email and/or a webhook.

    `webhook` is "slack" (Slack incoming webhook) or "webhook" (generic JSON), or None.
    Passwords and the webhook URL are referenced by file (`*_file`, from the notifier Secret).
    """
    notifiers: dict[str, Any] = {}
    if email is not None:
        notifiers["email_configs"] = [
            {
                "to": ", ".join(email.to),
                "from": email.from_address,
                "smarthost": email.smarthost,
                "auth_username": email.username,
                "auth_password_file": f"{NOTIFIER_DIR}/smtp-password",
                "require_tls": email.require_tls,
                "send_resolved": True,
            }
        ]
    if webhook == "slack":
        notifiers["slack_configs"] = [
            {
                "api_url_file": f"{NOTIFIER_DIR}/webhook-url",
                "send_resolved": True,
                "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}',
                "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
            }
        ]
    elif webhook == "webhook":
        notifiers["webhook_configs"] = [{"url_file": f"{NOTIFIER_DIR}/webhook-url", "send_resolved": True}]

    receivers: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    if notifiers:
        receivers += [{"name": "critical", **notifiers}, {"name": "warning", **notifiers}]
        routes += [
            {"receiver": "critical", "matchers": ['severity = "critical"'], "repeat_interval": "1h"},
            {"receiver": "warning", "matchers": ['severity = "warning"'], "repeat_interval": "12h"},
        ]
    routes.append({"receiver": "null", "matchers": ['severity = "info"']})
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity =~ "warning|info"'],
                "equal": ["namespace", "alertname"],
            }
        ],
        "receivers": receivers,
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def _alertmanager_yaml(
    mail: MailRelay | None, recipients: Sequence[str], webhook: str | None
) -> pulumi.Output[str]:
    """alertmanager.yaml for the config Secret (a string; no resource is created here)."""
    if mail is None:
        return pulumi.Output.from_input(yaml.safe_dump(alertmanager_config(None, webhook), sort_keys=False))
    return pulumi.Output.all(mail.host, mail.username).apply(
        lambda parts: yaml.safe_dump(
            alertmanager_config(
                EmailReceiver(
                    smarthost=f"{parts[0]}:{mail.port}",
                    from_address=mail.from_address,
                    to=recipients,
                    username=parts[1],
                    require_tls=mail.tls,
                ),
                webhook,
            ),
            sort_keys=False,
        )
    )


# Data-safety alerts about backups and the point-in-time archive (components/files/alerts/
# data.yaml, group saas-data-safety): only stacks with backups deploy them.
BACKUP_ONLY_ALERTS = frozenset({"MariaDBRecoverablePointStale", "MariaDBBackupFailing", "MariaDBBinlogArchivalFailing"})
# Replication alerts (data.yaml): only stacks whose MariaDB replicates deploy them (mysqld-exporter
# exports `mysql_slave_status_*` from a replica only; semi-sync and primary index need one).
REPLICATION_ONLY_ALERTS = frozenset({"MariaDBReplicaLagging", "MariaDBSemiSyncOff", "MariaDBPrimaryChanged"})
# Recovery-drill alerts (drills.yaml): only stacks that run the drill (`data.drills`).
DRILL_ONLY_ALERTS = frozenset({
    "MariaDBRecoveryDrillFailed", "MariaDBRecoveryDrillMissing", "MariaDBRecoveryDrillSlow", "MariaDBRecoveryDrillDataStale",
})


# The rule file of MaxScale (medium/large tiers): deployed only with MaxScale.
MAXSCALE_RULES = "maxscale"


def alert_rule_files() -> dict[str, dict[str, Any]]:
    """Every rule file by stem (`traefik` -> {"groups": [...]})."""
    return {path.stem: yaml.safe_load(path.read_text()) for path in sorted(ALERTS_DIR.glob("*.yaml"))}


def stack_alert_rules(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """The rule files as this stack deploys them: a rule about something the stack does not
    run is left out (it could only fire for ever, or never): the backup-age rule without
    backups (development), whose `absent(...)` would page for ever, and the replication rules
    without a replica, whose series (`mysql_slave_status_*`, the primary index) never exist."""
    from components.data.mariadb_base import is_replicated

    skip = set() if cfg.data.backups_enabled else {"MariaDBBackupTooOld", *BACKUP_ONLY_ALERTS}
    if not is_replicated(cfg):
        skip |= REPLICATION_ONLY_ALERTS
    if cfg.data.drills is None:
        skip |= DRILL_ONLY_ALERTS
    files = alert_rule_files()
    from components.data import maxscale

    if not maxscale.enabled(cfg):
        # MaxScale's rules (maxscale.yaml) only where MaxScale runs: its series never exist elsewhere.
        files.pop(MAXSCALE_RULES, None)
    for document in files.values():
        for group in document["groups"]:
            group["rules"] = [rule for rule in group["rules"] if rule.get("alert") not in skip]
        document["groups"] = [group for group in document["groups"] if group["rules"]]
    # A file left without rules (the drill's, where there is no drill) is not deployed.
    return {stem: document for stem, document in files.items() if document["groups"]}


def dashboards() -> dict[str, str]:
    """Every dashboard JSON by file name, re-serialized compactly (and so proven to parse)."""
    return {
        path.name: json.dumps(json.loads(path.read_text()), separators=(",", ":"), sort_keys=True)
        for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def fluent_bit_outputs(graylog_host: str) -> str:
    """Fluent Bit's output section: every container log to Graylog's GELF TCP input."""
    return (
        "[OUTPUT]\n"
        "    Name gelf\n"
        "    Match kube.*\n"
        f"    Host {graylog_host}\n"
        f"    Port {GELF_PORT}\n"
        "    Mode tcp\n"
        "    Gelf_Short_Message_Key log\n"
        "    Gelf_Timestamp_Key timestamp\n"
        "    Retry_Limit 10\n"
    )


# ------------------------------------------------------------------------------------------
# The component
# ------------------------------------------------------------------------------------------


class Monitoring(pulumi.ComponentResource):
    """Prometheus, Alertmanager, Grafana, alert rules, dashboards; Graylog and Fluent Bit."""

    prometheus_stack: k8s.helm.v3.Release
    """The kube-prometheus-stack release: it installs the ServiceMonitor/PodMonitor/PrometheusRule
    CRDs, so a component creating those custom resources `depends_on` it."""
    prometheus_url: pulumi.Output[str]
    """In-cluster Prometheus query URL (for KEDA prometheus triggers, dashboards, etc.)."""
    alertmanager_url: pulumi.Output[str]
    """In-cluster Alertmanager URL."""
    grafana_url: pulumi.Output[str]
    """Public Grafana URL (behind the admin guard)."""
    grafana_admin_password: pulumi.Output[str]
    """Grafana's generated admin password (secret output)."""
    logging_namespace: pulumi.Output[str] | None
    """The relaxed-Pod-Security namespace of Graylog, Fluent Bit and node-exporter (None when
    neither logs nor node-exporter run)."""
    gelf_endpoint: pulumi.Output[str] | None
    """`host:port` of Graylog's GELF TCP input, None when logs are off."""
    graylog_admin_password: pulumi.Output[str] | None
    """Graylog's generated root password (secret output), None when logs are off."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        settings = args.config.monitoring
        child = pulumi.ResourceOptions(parent=self)
        namespace = pulumi.Output.from_input(args.namespace)
        grafana_host = f"grafana.{args.config.domain}"

        # ---- logging namespace (relaxed Pod Security) ---------------------------------------
        self.logging_namespace = None
        if settings.logs_enabled or settings.node_exporter:
            # The one relaxed Pod Security level (DataNode's sysctl, Fluent Bit's and
            # node-exporter's host access), isolated like every other namespace; Fluent Bit
            # reads pod metadata from the Kubernetes API.
            logging_ns = isolated_namespace(
                LOGGING_NAMESPACE,
                "namespace",
                child,
                api_server_cidrs=args.config.raw.network.apiServerCidrs,
                pod_security="privileged",
            )
            self.logging_namespace = logging_ns.name
            self._logging_network_policies(self.logging_namespace, namespace, args.ingress_namespace, child)

        # ---- Grafana admin + Alertmanager notifier secrets -----------------------------------
        grafana_password = random.RandomPassword("grafana-admin-password", length=32, special=False, opts=child)
        grafana_secret = k8s.core.v1.Secret(
            "grafana-admin",
            metadata=kube.metadata("grafana-admin", "monitoring", namespace, app="grafana"),
            type="Opaque",
            string_data={"admin-user": "admin", "admin-password": grafana_password.result},
            opts=child,
        )
        self.grafana_admin_password = pulumi.Output.secret(grafana_password.result)

        # Alertmanager's whole configuration lives in a Secret we write (useExistingSecret):
        # it holds the SMTP username, and the chart values stay free of secrets (reviewable).
        notifier_data: dict[str, pulumi.Input[str]] = {}
        if args.mail is not None:
            notifier_data["smtp-password"] = args.mail.password
        if args.config.alert_webhook_url is not None:
            notifier_data["webhook-url"] = args.config.alert_webhook_url
        # The Secret exists even when empty: the Alertmanager pod mounts it by name.
        notifier_secret = k8s.core.v1.Secret(
            NOTIFIER_SECRET,
            metadata=kube.metadata(NOTIFIER_SECRET, "monitoring", namespace, app="alertmanager"),
            type="Opaque",
            string_data=notifier_data or {"placeholder": "no notifier configured"},
            opts=child,
        )
        config_secret = k8s.core.v1.Secret(
            ALERTMANAGER_CONFIG_SECRET,
            metadata=kube.metadata(ALERTMANAGER_CONFIG_SECRET, "monitoring", namespace, app="alertmanager"),
            type="Opaque",
            string_data={"alertmanager.yaml": _alertmanager_yaml(args.mail, settings.alert_email_to, args.config.alert_webhook_kind)},
            opts=child,
        )

        # ---- kube-prometheus-stack -------------------------------------------------------------
        values = prometheus_stack_values(
            args.config,
            grafana_secret=grafana_secret.metadata.name,
            notifier_secret=notifier_secret.metadata.name,
            config_secret=config_secret.metadata.name,
            node_exporter_namespace=self.logging_namespace,
        )
        self.prometheus_stack = k8s.helm.v3.Release(
            "kube-prometheus-stack",
            name=PROMETHEUS_RELEASE,
            chart=KUBE_PROMETHEUS_STACK.chart,
            version=KUBE_PROMETHEUS_STACK.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=KUBE_PROMETHEUS_STACK.repo),
            namespace=namespace,
            values=values,
            timeout=900,
            atomic=False,
            max_history=10,
            # Prometheus and Alertmanager keep history on PVCs: never let a destroy take them.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.config.protect,
                depends_on=[grafana_secret, notifier_secret, config_secret],
            ),
        )
        crds = pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus_stack])

        for stem, document in stack_alert_rules(args.config).items():
            k8s.apiextensions.CustomResource(
                f"rules-{stem}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=kube.metadata(f"saas-{stem}", "alert-rules", namespace, app="prometheus"),
                spec={"groups": document["groups"]},
                opts=crds,
            )

        for file_name, body in dashboards().items():
            stem = file_name.removesuffix(".json")
            k8s.core.v1.ConfigMap(
                f"dashboard-{stem}",
                metadata=kube.metadata(
                    f"dashboard-{stem}", "dashboard", namespace, app="grafana", labels={"grafana_dashboard": "1"}
                ),
                data={file_name: body},
                opts=child,
            )

        # ---- Grafana behind the admin guard --------------------------------------------------------
        _ingress_route(
            "grafana",
            namespace,
            grafana_host,
            GRAFANA_SERVICE,
            80,
            args.admin_guard,
            pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus_stack, *args.ingress_dependencies]),
        )
        self._monitoring_network_policies(
            namespace, args.ingress_namespace, child, mail_port=args.mail.port if args.mail is not None else None
        )
        allow_traefik_to(
            "saas-ingress-traefik-to-grafana", "traefik-to-grafana", args.ingress_namespace, namespace,
            GRAFANA_POD, GRAFANA_PORT, child,
        )

        self.prometheus_url = pulumi.Output.concat(
            "http://", PROMETHEUS_RELEASE, "-prometheus.", namespace, ".svc.cluster.local:9090"
        )
        self.alertmanager_url = pulumi.Output.concat(
            "http://", PROMETHEUS_RELEASE, "-alertmanager.", namespace, ".svc.cluster.local:9093"
        )
        self.grafana_url = pulumi.Output.from_input(f"https://{grafana_host}")

        # Traefik's metrics entry point (request rates, 5xx, latency for the alert rules): the
        # platform precedes this component, so its monitor lives here, next to the CRDs.
        scraping.pod_monitor(
            "traefik", args.ingress_namespace, component="traefik", selector=TRAEFIK_ROLE, port="metrics",
            crds=self.prometheus_stack, parent=self,
        )
        # cert-manager's controller (certificate expiry, ACME errors: `certmanager_*`) and KEDA's
        # operator and metrics server. Port names from the pinned charts: cert-manager v1.21.1
        # deploy/charts/cert-manager/templates/deployment.yaml `http-metrics`; kedacore/charts
        # v2.20.2 keda/templates/manager/deployment.yaml and metrics-server/deployment.yaml `metrics`.
        namespaces = args.controller_namespaces
        if "cert-manager" in namespaces:
            scraping.pod_monitor(
                "cert-manager", namespaces["cert-manager"], component="cert-manager",
                selector=certificates.CONTROLLER_ROLE, port="http-metrics", crds=self.prometheus_stack, parent=self,
            )
        if "keda" in namespaces:
            scraping.pod_monitor(
                "keda-operator", namespaces["keda"], component="keda", selector=keda.OPERATOR_ROLE,
                port="metrics", crds=self.prometheus_stack, parent=self,
            )
            scraping.pod_monitor(
                "keda-metrics-apiserver", namespaces["keda"], component="keda", selector=keda.METRICS_SERVER_ROLE,
                port="metrics", crds=self.prometheus_stack, parent=self,
            )

        # ---- logs -------------------------------------------------------------------------------------
        self.gelf_endpoint = None
        self.graylog_admin_password = None
        if settings.logs_enabled:
            assert self.logging_namespace is not None
            self._logs(args, self.logging_namespace)

        self.register_outputs(
            {
                "prometheusUrl": self.prometheus_url,
                "alertmanagerUrl": self.alertmanager_url,
                "grafanaUrl": self.grafana_url,
                "grafanaAdminPassword": self.grafana_admin_password,
                "loggingNamespace": self.logging_namespace,
                "gelfEndpoint": self.gelf_endpoint,
                "graylogAdminPassword": self.graylog_admin_password,
            }
        )

    # ---- logs ------------------------------------------------------------------------------------------

    def _logs(self, args: MonitoringArgs, logging_ns: pulumi.Output[str]) -> None:
        settings = args.config.monitoring
        child = pulumi.ResourceOptions(parent=self)
        ha = args.config.highly_available

        sysctl = _datanode_sysctl_daemonset(logging_ns, child)

        mongodb_operator = k8s.helm.v3.Release(
            "mongodb-operator",
            name="mongodb-operator",
            chart=MONGODB_OPERATOR.chart,
            version=MONGODB_OPERATOR.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=MONGODB_OPERATOR.repo),
            namespace=logging_ns,
            values=mongodb_operator_values(logging_ns),
            timeout=600,
            opts=child,
        )

        credentials = _graylog_secrets(logging_ns, child)
        graylog = k8s.helm.v3.Release(
            "graylog",
            name=GRAYLOG_RELEASE,
            chart=GRAYLOG.chart,
            version=GRAYLOG.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=GRAYLOG.repo),
            namespace=logging_ns,
            values=graylog_values(highly_available=ha, storage=settings.logs_storage),
            # DataNode and MongoDB start slowly: give the first install time.
            timeout=1200,
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=args.config.protect,
                depends_on=[mongodb_operator, sysctl, *credentials.secrets],
            ),
        )
        admin_secret = credentials.admin
        graylog_host = pulumi.Output.concat(GRAYLOG_SERVICE, ".", logging_ns, ".svc.cluster.local")
        _gelf_input_job(logging_ns, graylog_host, admin_secret, pulumi.ResourceOptions(parent=self, depends_on=[graylog]))

        k8s.helm.v3.Release(
            "fluent-bit",
            name="fluent-bit",
            chart=FLUENT_BIT.chart,
            version=FLUENT_BIT.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=FLUENT_BIT.repo),
            namespace=logging_ns,
            values=graylog_host.apply(fluent_bit_values),
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[graylog, self.prometheus_stack]),
        )

        # The Graylog and DataNode Services share these labels; only Graylog's has a "metrics" port.
        scraping.service_monitor(
            "graylog",
            logging_ns,
            component="logging",
            selector={"app.kubernetes.io/name": "graylog", "app.kubernetes.io/instance": GRAYLOG_RELEASE},
            port="metrics",
            path="/api/metrics/prometheus",
            crds=self.prometheus_stack,
            parent=self,
        )
        _ingress_route(
            "graylog",
            logging_ns,
            f"graylog.{args.config.domain}",
            GRAYLOG_SERVICE,
            GRAYLOG_PORT,
            args.admin_guard,
            pulumi.ResourceOptions(parent=self, depends_on=[graylog, *args.ingress_dependencies]),
        )
        allow_traefik_to(
            "saas-ingress-traefik-to-graylog", "traefik-to-graylog", args.ingress_namespace, logging_ns,
            GRAYLOG_POD, GRAYLOG_PORT, pulumi.ResourceOptions(parent=self),
        )

        self.gelf_endpoint = pulumi.Output.concat(graylog_host, ":", str(GELF_PORT))
        self.graylog_admin_password = credentials.root_password

    # ---- network policies ------------------------------------------------------------------------

    def _monitoring_network_policies(
        self,
        namespace: pulumi.Output[str],
        ingress_ns: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
        *,
        mail_port: int | None = None,
    ) -> None:
        """Allow what the stack needs on top of the platform's default-deny in its namespace.
        `mail_port`: the SMTP port of the mail relay Alertmanager sends through (Mailpit's 1025
        in development), opened beside the submission ports."""
        notify_ports = sorted({587, 465, 443, *([mail_port] if mail_port else [])})
        rules: dict[str, dict[str, Any]] = {
            # Components of the stack talk to each other (Grafana -> Prometheus -> Alertmanager,
            # sidecars, config reloaders).
            "allow-monitoring-internal": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
            # Traefik reaches Grafana.
            "allow-grafana-from-ingress": {
                "podSelector": {"matchLabels": dict(GRAFANA_POD)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_ns}},
                            "podSelector": {"matchLabels": dict(TRAEFIK_ROLE)},
                        }],
                        "ports": [{"protocol": "TCP", "port": GRAFANA_PORT}],
                    }
                ],
            },
            # Prometheus scrapes every namespace and the nodes (kubelet, node-exporter on the host
            # network), whose addresses are not pods: any destination.
            "allow-prometheus-scrape": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                "policyTypes": ["Egress"],
                "egress": [{}],
            },
            # The operator, kube-state-metrics, Grafana's sidecars and Prometheus' service discovery
            # talk to the Kubernetes API; its address is not a pod, so the port is the filter.
            "allow-kube-api": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}],
            },
            # The API server calls the operator's admission webhook.
            "allow-operator-webhook": {
                "podSelector": {"matchLabels": {"app": "kube-prometheus-stack-operator"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": 10250}]}],
            },
            # Alertmanager sends mail (SMTP submission, or the relay's own port) and webhooks (HTTPS).
            "allow-alertmanager-notify": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": port} for port in notify_ports]}],
            },
        }
        _network_policies("monitoring", namespace, rules, opts)

    def _logging_network_policies(
        self,
        logging_ns: pulumi.Output[str],
        monitoring_ns: pulumi.Input[str],
        ingress_ns: pulumi.Input[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        rules: dict[str, dict[str, Any]] = {
            # Fluent Bit -> Graylog, Graylog <-> DataNode <-> MongoDB, operator -> MongoDB.
            "allow-logging-internal": {
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            },
            # Prometheus (only) scrapes Graylog and Fluent Bit, on their metrics ports only
            # (Graylog's 9833 exporter, Fluent Bit's `http` 2020): not Graylog's web or GELF ports.
            "allow-scrape-from-monitoring": {
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [{
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_ns}},
                        "podSelector": {"matchLabels": dict(PROMETHEUS_POD)},
                    }], "ports": [{"port": 9833, "protocol": "TCP"}, {"port": 2020, "protocol": "TCP"}]}
                ],
            },
            # Traefik reaches Graylog's web interface.
            "allow-graylog-from-ingress": {
                "podSelector": {"matchLabels": dict(GRAYLOG_POD)},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ingress_ns}},
                            "podSelector": {"matchLabels": dict(TRAEFIK_ROLE)},
                        }],
                        "ports": [{"protocol": "TCP", "port": GRAYLOG_PORT}],
                    }
                ],
            },
            # MongoDB operator and Fluent Bit's kubernetes filter use the Kubernetes API.
            "allow-kube-api": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}],
            },
        }
        _network_policies("logging", logging_ns, rules, opts)


# ------------------------------------------------------------------------------------------
# Chart values
# ------------------------------------------------------------------------------------------

# Restricted Pod Security for the chart's pods in the (restricted) monitoring namespace.
_POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 2000,
    "fsGroup": 2000,
    "seccompProfile": {"type": "RuntimeDefault"},
}
_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def _resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit or memory}}


def data_safety_state_metrics() -> dict[str, Any]:
    """kube-state-metrics `CustomResourceStateMetrics` for the recovery signals (data-safety
    review #22), read from the status fields of mariadb-operator v26.6.0 (CRDs
    mariadbs/physicalbackups/pointintimerecoveries.k8s.mariadb.com, condition types in
    api/v1alpha1/condition_types.go):

    - `kube_mariadb_pitr_last_recoverable_time` (unix seconds; RFC 3339 in the status);
    - `kube_mariadb_status_condition{type=Ready|BinlogsArchived|StorageResized|PrimarySwitched}`;
    - `kube_mariadb_current_primary_index` (a change is a failover or switchover);
    - `kube_mariadb_physicalbackup_status_condition{type="Complete"}`,
      `kube_mariadb_physicalbackup_last_schedule_time`.
    Condition values are "True"/"False", which kube-state-metrics reads as 1/0.
    """
    def resource(kind: str, prefix: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "groupVersionKind": {"group": "k8s.mariadb.com", "version": "v1alpha1", "kind": kind},
            "metricNamePrefix": prefix,
            "labelsFromPath": {"name": ["metadata", "name"], "namespace": ["metadata", "namespace"]},
            "metrics": metrics,
        }

    def gauge(name: str, help_text: str, path: list[str], **extra: Any) -> dict[str, Any]:
        return {"name": name, "help": help_text, "each": {"type": "Gauge", "gauge": {"path": path, **extra}}}

    def conditions(help_text: str) -> dict[str, Any]:
        return gauge("status_condition", help_text, ["status", "conditions"],
                     labelsFromPath={"type": ["type"], "reason": ["reason"]}, valueFrom=["status"])

    return {
        "kind": "CustomResourceStateMetrics",
        "spec": {
            "resources": [
                resource("PointInTimeRecovery", "kube_mariadb_pitr", [
                    gauge("last_recoverable_time", "Newest point a restore can reach", ["status", "lastRecoverableTime"]),
                ]),
                resource("MariaDB", "kube_mariadb", [
                    conditions("MariaDB conditions (1 True, 0 False)"),
                    gauge("current_primary_index", "Pod index of the current primary", ["status", "currentPrimaryPodIndex"]),
                ]),
                resource("PhysicalBackup", "kube_mariadb_physicalbackup", [
                    conditions("PhysicalBackup conditions (1 True, 0 False)"),
                    gauge("last_schedule_time", "When the last backup was scheduled", ["status", "lastScheduleTime"]),
                ]),
            ]
        },
    }


def prometheus_stack_values(
    config: StackConfig,
    *,
    grafana_secret: pulumi.Input[str],
    notifier_secret: pulumi.Input[str],
    config_secret: pulumi.Input[str],
    node_exporter_namespace: pulumi.Input[str] | None,
) -> dict[str, Any]:
    """kube-prometheus-stack values. Every key path exists in the chart's values.yaml except the
    subcharts' own (grafana.*, kube-state-metrics.*, prometheus-node-exporter.*), whose values
    files the parent chart does not ship; tests list those as free-form with that reason."""
    settings = config.monitoring
    production = config.is_production
    # Development runs on a laptop (k3d/kind): the smallest requests that still run.
    size = _DEV_SIZES if config.environment == "development" else _CLUSTER_SIZES
    return {
        "fullnameOverride": PROMETHEUS_RELEASE,
        "crds": {"enabled": True},
        # Our own rules cover the application; the chart's rules cover Kubernetes itself,
        # except the control plane we cannot scrape (below).
        "defaultRules": {"create": True, "rules": {rule: False for rule in CONTROL_PLANE_RULES}},
        # The control plane is managed on EKS (scheduler, controller manager, etcd are not
        # reachable) and runs in-process on k3s; kind/kubeadm bind those components and
        # kube-proxy's metrics to 127.0.0.1. The chart enables their monitors by default
        # (kube-prometheus-stack 88.5.3 values.yaml kubeScheduler/kubeControllerManager/
        # kubeEtcd/kubeProxy.enabled: true), and the mixin's `absent(up{job=...})` alerts would
        # then fire for ever: off, with their rule groups.
        **{component: {"enabled": False} for component in CONTROL_PLANE_MONITORS},
        "alertmanager": {
            "enabled": True,
            "alertmanagerSpec": {
                "useExistingSecret": True,
                "configSecret": config_secret,
                "replicas": settings.alertmanager_replicas,
                "retention": "120h",
                "secrets": [notifier_secret],
                "resources": size["alertmanager"],
                "securityContext": _POD_SECURITY,
                "storage": {
                    "volumeClaimTemplate": {
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}
                    }
                },
            },
        },
        "grafana": {
            "enabled": True,
            "replicas": 1,
            "defaultDashboardsEnabled": True,
            "defaultDashboardsTimezone": "utc",
            "admin": {"existingSecret": grafana_secret, "userKey": "admin-user", "passwordKey": "admin-password"},
            "sidecar": {
                "dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"},
                # The grafana subchart sets no request for its sidecars by default.
                "resources": size["grafana-sidecar"],
            },
            "grafana.ini": {
                "server": {"root_url": f"https://grafana.{config.domain}", "domain": f"grafana.{config.domain}"},
                "analytics": {"reporting_enabled": False, "check_for_updates": False},
                "users": {"allow_sign_up": False},
            },
            "resources": size["grafana"],
            "securityContext": {**_POD_SECURITY, "runAsUser": 472, "runAsGroup": 472, "fsGroup": 472},
            "containerSecurityContext": _CONTAINER_SECURITY,
        },
        "kube-state-metrics": {
            # The data-safety signals live in the mariadb-operator objects' status, which no
            # exporter publishes: kube-state-metrics' custom-resource-state config does.
            "customResourceState": {"enabled": True, "config": data_safety_state_metrics()},
            "rbac": {"extraRules": [{
                "apiGroups": ["k8s.mariadb.com"],
                "resources": ["mariadbs", "physicalbackups", "pointintimerecoveries"],
                "verbs": ["list", "watch"],
            }]},
            "resources": size["kube-state-metrics"],
            "securityContext": {**_POD_SECURITY, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
            "containerSecurityContext": _CONTAINER_SECURITY,
        },
        "nodeExporter": {"enabled": node_exporter_namespace is not None},
        **(
            {
                "prometheus-node-exporter": {
                    "namespaceOverride": node_exporter_namespace,
                    "resources": _resources("50m", "64Mi", "128Mi"),
                }
            }
            if node_exporter_namespace is not None
            else {}
        ),
        "prometheusOperator": {
            "resources": size["operator"],
            "securityContext": {**_POD_SECURITY, "runAsUser": 65534, "runAsGroup": 65534, "fsGroup": 65534},
            # Seccomp comes from the pod level (the chart has no container-level key for it).
            "containerSecurityContext": {k: v for k, v in _CONTAINER_SECURITY.items() if k != "seccompProfile"},
            "admissionWebhooks": {"patch": {"resources": _resources("10m", "32Mi", "64Mi")}},
            "prometheusConfigReloader": {"resources": size["config-reloader"]},
        },
        "prometheus": {
            "prometheusSpec": {
                "replicas": settings.prometheus_replicas,
                "retention": settings.retention,
                # Stop before the disk is full: 90 % of the volume.
                "retentionSize": _retention_size(settings.storage),
                "resources": _resources("200m", "1Gi", "4Gi") if production else size["prometheus"],
                "securityContext": _POD_SECURITY,
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": settings.storage}},
                        }
                    }
                },
                # Pick up monitors and rules from every namespace, whatever their labels
                # (FIELD-NOTES: otherwise only objects labelled release=<name> are selected).
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "probeSelectorNilUsesHelmValues": False,
                "scrapeConfigSelectorNilUsesHelmValues": False,
            }
        },
    }


# kube-prometheus-stack components whose monitors (and default rule groups) are off: see
# prometheus_stack_values.
CONTROL_PLANE_MONITORS = ("kubeScheduler", "kubeControllerManager", "kubeEtcd", "kubeProxy")
CONTROL_PLANE_RULES = ("etcd", "kubeSchedulerAlerting", "kubeSchedulerRecording", "kubeControllerManager", "kubeProxy")

# Requests/limits of the monitoring stack's pods: staging/production, and a laptop.
_CLUSTER_SIZES: dict[str, dict[str, Any]] = {
    "operator": _resources("100m", "128Mi", "256Mi"),
    "config-reloader": _resources("10m", "32Mi", "64Mi"),
    "prometheus": _resources("200m", "512Mi", "1Gi"),
    "alertmanager": _resources("50m", "64Mi", "128Mi"),
    "grafana": _resources("100m", "256Mi", "512Mi"),
    "grafana-sidecar": _resources("10m", "64Mi", "128Mi"),
    "kube-state-metrics": _resources("50m", "128Mi", "256Mi"),
}
_DEV_SIZES: dict[str, dict[str, Any]] = {
    "operator": _resources("20m", "48Mi", "256Mi"),
    "config-reloader": _resources("5m", "16Mi", "64Mi"),
    "prometheus": _resources("100m", "320Mi", "1Gi"),
    "alertmanager": _resources("10m", "24Mi", "128Mi"),
    "grafana": _resources("50m", "112Mi", "512Mi"),
    "grafana-sidecar": _resources("5m", "32Mi", "128Mi"),
    "kube-state-metrics": _resources("10m", "32Mi", "256Mi"),
}


def _retention_size(storage: str) -> str:
    number, unit = int(storage[:-2]), storage[-2:]
    return f"{max(1, number * 9 // 10)}{unit[0]}B"


def graylog_values(*, highly_available: bool, storage: str) -> dict[str, Any]:
    """Graylog chart values (validated against its values.schema.json in the tests).

    No secret is in them: `global.existingSecretName` points the chart at the Secrets this
    component writes (see `_graylog_secrets`), so values stay reviewable in the plan.
    """
    return {
        "global": {"existingSecretName": GRAYLOG_CREDENTIALS_SECRET},
        "graylog": {
            "enterprise": False,  # Graylog Open: the chart defaults to the enterprise image
            "replicas": 2 if highly_available else 1,
            "inputs": [{"name": "input-gelf", "port": GELF_PORT, "targetPort": GELF_PORT, "protocol": "TCP"}],
            "config": {
                "rootUsername": "admin",
                "serverJavaOpts": "-Xms1g -Xmx1g",
                "contentPacksAutoInstall": "false",
            },
            "service": {"metrics": {"enabled": True}},
            # Graylog binds its Prometheus exporter to 127.0.0.1 unless told otherwise.
            "env": {"GRAYLOG_PROMETHEUS_EXPORTER_BIND_ADDRESS": "0.0.0.0:9833"},
            "resources": {"requests": {"cpu": "500m", "memory": "1536Mi"}, "limits": {"memory": "2Gi"}},
            "persistence": {"enabled": True, "size": "10Gi"},
            "podDisruptionBudget": {"enabled": highly_available, "minAvailable": 1},
        },
        "datanode": {
            "replicas": 3 if highly_available else 1,
            "config": {"opensearchHeap": "2g", "javaOpts": "-Xms1g -Xmx1g"},
            "resources": {"requests": {"cpu": "500m", "memory": "3584Mi"}, "limits": {"memory": "5Gi"}},
            "persistence": {"data": {"enabled": True, "size": storage}},
            "podDisruptionBudget": {"enabled": highly_available, "minAvailable": 2 if highly_available else 1},
        },
        "mongodb": {
            "communityResource": {"enabled": True},
            "replicas": 3 if highly_available else 1,
            "arbiters": 0,
        },
    }


def mongodb_operator_values(logging_ns: pulumi.Input[str]) -> dict[str, Any]:
    """MongoDB Controllers for Kubernetes: watch only the logging namespace, only MongoDBCommunity."""
    return {
        "operator": {
            "watchNamespace": logging_ns,
            "watchedResources": ["mongodbcommunity"],
            "replicas": 1,
            "resources": {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "1Gi"}},
        }
    }


def fluent_bit_values(graylog_host: str) -> dict[str, Any]:
    """Fluent Bit as a DaemonSet: tail container logs, enrich with Kubernetes metadata, ship GELF."""
    return {
        "kind": "DaemonSet",
        "image": {"tag": FLUENT_BIT_IMAGE_TAG},
        "testFramework": {"enabled": False},  # its test pod uses busybox:latest
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        # Reads root-owned files under /var/log: root, but no capabilities and a read-only root.
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "serviceMonitor": {"enabled": True},
        # Only what the tail input needs: /var/log (pods' logs and their symlinks) and the machine id.
        "daemonSetVolumes": [
            {"name": "varlog", "hostPath": {"path": "/var/log"}},
            {"name": "etcmachineid", "hostPath": {"path": "/etc/machine-id", "type": "File"}},
        ],
        "daemonSetVolumeMounts": [
            {"name": "varlog", "mountPath": "/var/log"},
            {"name": "etcmachineid", "mountPath": "/etc/machine-id", "readOnly": True},
        ],
        "config": {
            "inputs": (
                "[INPUT]\n"
                "    Name tail\n"
                "    Path /var/log/containers/*.log\n"
                "    multiline.parser docker, cri\n"
                "    Tag kube.*\n"
                "    Mem_Buf_Limit 5MB\n"
                "    Skip_Long_Lines On\n"
            ),
            # Keep_Log On: the GELF short message is the original line even when it was JSON.
            "filters": (
                "[FILTER]\n"
                "    Name kubernetes\n"
                "    Match kube.*\n"
                "    Merge_Log On\n"
                "    Keep_Log On\n"
                "    K8S-Logging.Parser On\n"
                "    K8S-Logging.Exclude On\n"
            ),
            "outputs": fluent_bit_outputs(graylog_host),
        },
    }


# ------------------------------------------------------------------------------------------
# Small object builders
# ------------------------------------------------------------------------------------------


def _network_policies(
    prefix: str, namespace: pulumi.Input[str], rules: Mapping[str, Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> None:
    for name, spec in rules.items():
        k8s.networking.v1.NetworkPolicy(
            f"{prefix}-{name}",
            metadata=kube.metadata(name, "network-policy", namespace),
            spec=spec,
            opts=opts,
        )


def _ingress_route(
    app: str,
    namespace: pulumi.Input[str],
    host: str,
    service: str,
    port: int,
    guard: MiddlewareRef,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """An HTTPS IngressRoute behind the admin guard; TLS from Traefik's default (wildcard) certificate."""
    return k8s.apiextensions.CustomResource(
        f"{app}-ingress-route",
        api_version="traefik.io/v1alpha1",
        kind="IngressRoute",
        metadata=kube.metadata(app, "ingress", namespace, app=app),
        spec={
            "entryPoints": ["websecure"],
            "routes": [
                {
                    "kind": "Rule",
                    "match": f"Host(`{host}`)",
                    "middlewares": [guard.as_route_ref()],
                    "services": [{"kind": "Service", "name": service, "port": port}],
                }
            ],
            "tls": {},
        },
        opts=opts,
    )


@dataclass(frozen=True)
class GraylogCredentials:
    secrets: tuple[k8s.core.v1.Secret, ...]
    admin: k8s.core.v1.Secret
    root_password: pulumi.Output[str]


def _graylog_secrets(namespace: pulumi.Output[str], opts: pulumi.ResourceOptions) -> GraylogCredentials:
    """Graylog's and MongoDB's credentials, generated here and kept in Secrets.

    The keys are the ones the chart's own secret template writes (templates/config/secret/
    secrets.yaml): GRAYLOG_MONGODB_URI, GRAYLOG_ROOT_USERNAME, GRAYLOG_PASSWORD_SECRET,
    GRAYLOG_ROOT_PASSWORD_SHA2 (hex SHA-256 of the root password).
    """
    import hashlib

    def password(name: str, length: int = 32) -> pulumi.Output[str]:
        generated = random.RandomPassword(name, length=length, special=False, opts=opts)
        return pulumi.Output.secret(generated.result)

    root, pepper = password("graylog-root-password"), password("graylog-password-pepper", 96)
    mongo_root, mongo_graylog = password("graylog-mongodb-root-password"), password("graylog-mongodb-password")
    uri = pulumi.Output.concat(
        "mongodb://graylog:", mongo_graylog, "@", GRAYLOG_MONGODB_RS, "-svc.", namespace,
        ".svc.cluster.local/graylog?replicaSet=", GRAYLOG_MONGODB_RS, "&ssl=false",
    )
    main = k8s.core.v1.Secret(
        GRAYLOG_CREDENTIALS_SECRET,
        metadata=kube.metadata(GRAYLOG_CREDENTIALS_SECRET, "logging", namespace, app="graylog"),
        type="Opaque",
        string_data={
            "GRAYLOG_MONGODB_URI": uri,
            "GRAYLOG_ROOT_USERNAME": "admin",
            "GRAYLOG_PASSWORD_SECRET": pepper,
            "GRAYLOG_ROOT_PASSWORD_SHA2": root.apply(lambda p: hashlib.sha256(p.encode()).hexdigest()),
        },
        opts=opts,
    )
    backup = k8s.core.v1.Secret(
        GRAYLOG_BACKUP_SECRET,
        metadata=kube.metadata(GRAYLOG_BACKUP_SECRET, "logging", namespace, app="graylog"),
        type="Opaque",
        string_data={"mongodb-root-password": mongo_root, "mongodb-db-password": mongo_graylog, "graylog-secret": pepper},
        opts=opts,
    )
    admin = k8s.core.v1.Secret(
        "graylog-admin",
        metadata=kube.metadata("graylog-admin", "logging", namespace, app="graylog"),
        type="Opaque",
        string_data={"username": "admin", "password": root},
        opts=opts,
    )
    return GraylogCredentials(secrets=(main, backup, admin), admin=admin, root_password=root)


def _datanode_sysctl_daemonset(namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> k8s.apps.v1.DaemonSet:
    """Raise vm.max_map_count on every node for DataNode's OpenSearch (graylog-helm#106).

    The privileged part is one init container that writes a sysctl and exits; the pod then
    idles in a restricted pause container so the DaemonSet stays Ready.
    """
    name = "datanode-sysctl"
    selector = kube.selector_labels(name, "logging")
    init = k8s.core.v1.ContainerArgs(
        name="max-map-count",
        image=SYSCTL_IMAGE,
        command=["sh", "-c", "sysctl -w vm.max_map_count=262144"],
        security_context=k8s.core.v1.SecurityContextArgs(privileged=True, run_as_user=0, run_as_non_root=False),
        resources=kube.resources(ContainerSize("10m", "16Mi", "16Mi")),
    )
    pause = k8s.core.v1.ContainerArgs(
        name="pause",
        image=PAUSE_IMAGE,
        security_context=kube.container_security_context(65535),
        resources=kube.resources(ContainerSize("5m", "8Mi", "8Mi")),
    )
    spec = kube.pod_spec([pause], selector=selector, spread=False, uid=65535, termination_grace_seconds=5)
    spec.init_containers = [init]
    # The pod is not restricted as a whole (its init container is privileged).
    spec.security_context = k8s.core.v1.PodSecurityContextArgs(seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"))
    return k8s.apps.v1.DaemonSet(
        name,
        metadata=kube.metadata(
            name,
            "logging",
            namespace,
            annotations=kube.policy_exemption(
                ["k8s-restricted-security-context"],
                "its init container raises vm.max_map_count for Graylog DataNode's OpenSearch "
                "(graylog-helm#106); it runs only in the privileged saas-logging namespace",
            ),
        ),
        spec=k8s.apps.v1.DaemonSetSpecArgs(
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.recommended_labels(name, "logging")),
                spec=spec,
            ),
        ),
        opts=opts,
    )


def _gelf_input_job(
    namespace: pulumi.Input[str],
    graylog_host: pulumi.Input[str],
    admin_secret: k8s.core.v1.Secret,
    opts: pulumi.ResourceOptions,
) -> None:
    """A Job that creates Graylog's GELF TCP input through the REST API (idempotent script)."""
    script = k8s.core.v1.ConfigMap(
        "graylog-gelf-input-script",
        metadata=kube.metadata("graylog-gelf-input", "logging", namespace, app="graylog"),
        data={"create-gelf-input.sh": GELF_INPUT_SCRIPT.read_text()},
        opts=opts,
    )
    name = f"graylog-gelf-input-{GRAYLOG.version.replace('.', '-')}"  # a Job's template is immutable
    selector = kube.selector_labels("graylog-gelf-input", "logging")
    secret_env = [
        k8s.core.v1.EnvVarArgs(
            name=env,
            value_from=k8s.core.v1.EnvVarSourceArgs(
                secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=admin_secret.metadata.name, key=key)
            ),
        )
        for env, key in (("GRAYLOG_USER", "username"), ("GRAYLOG_PASSWORD", "password"))
    ]
    container = k8s.core.v1.ContainerArgs(
        name="create-input",
        image=CURL_IMAGE,
        command=["sh", "/scripts/create-gelf-input.sh"],
        env=[
            k8s.core.v1.EnvVarArgs(name="GRAYLOG_URL", value=pulumi.Output.concat("http://", graylog_host, ":9000")),
            k8s.core.v1.EnvVarArgs(name="INPUT_TITLE", value=GELF_INPUT_TITLE),
            k8s.core.v1.EnvVarArgs(name="INPUT_PORT", value=str(GELF_PORT)),
            *secret_env,
        ],
        volume_mounts=[k8s.core.v1.VolumeMountArgs(name="scripts", mount_path="/scripts", read_only=True)],
        security_context=kube.container_security_context(),  # curl runs under any UID
        resources=kube.resources(ContainerSize("10m", "32Mi", "32Mi")),
    )
    spec = kube.pod_spec(
        [container],
        selector=selector,
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="scripts", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=script.metadata.name)
            )
        ],
        spread=False,
        uid=100,
    )
    spec.restart_policy = "OnFailure"
    k8s.batch.v1.Job(
        "graylog-gelf-input",
        metadata=kube.metadata(name, "logging", namespace, app="graylog-gelf-input"),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=3,
            active_deadline_seconds=1800,
            ttl_seconds_after_finished=None,
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.recommended_labels("graylog-gelf-input", "logging")),
                spec=spec,
            ),
        ),
        # The engine awaits a Job for 10 minutes by default (pulumi-kubernetes provider/pkg/await/
        # job.go): give it the Job's own deadline and a margin, or `pulumi up` fails while the
        # Job is still waiting for Graylog to come up.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(
            depends_on=[script, admin_secret], custom_timeouts=pulumi.CustomTimeouts(create="35m", update="35m"),
        )),
    )
