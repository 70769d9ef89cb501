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
- Logs (off in development; `logs.py`, `logs_pipeline.py`): the official Graylog chart
  (Graylog + DataNode + a MongoDB replica set through the MongoDB Controllers for Kubernetes
  operator the chart requires), a Job that creates the GELF TCP input through Graylog's API (the
  chart only opens the port), and Fluent Bit as a DaemonSet shipping container logs over GELF TCP.

The logging namespace is the one namespace with a relaxed Pod Security level (`privileged`,
see `logs_pipeline.py`); node-exporter (host network, host PID, host root mount) runs there
too, through the subchart's namespaceOverride.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.config import StackConfig
from components.contracts import MailRelay, MiddlewareRef
from components.platform import scraping
from components.monitoring.alertmanager import alertmanager_secrets
from components.monitoring.alerts import prometheus_rules
from components.monitoring.dashboards import dashboard_config_maps
from components.monitoring.logs import LOGGING_NAMESPACE
from components.monitoring.logs_pipeline import deploy_logs
from components.monitoring.metrics import (
    GRAFANA_POD,
    GRAFANA_PORT,
    GRAFANA_SERVICE,
    PROMETHEUS_RELEASE,
    grafana_admin_secret,
    prometheus_stack_release,
)
from components.monitoring.network import ingress_route, logging_network_policies, monitoring_network_policies
from components.platform import certificates, keda
from components.platform.network import isolated_namespace
from components.platform.traefik import TRAEFIK_ROLE, allow_traefik_to

TYPE = "saas-platform:index:Monitoring"


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
            logging_network_policies(self.logging_namespace, namespace, args.ingress_namespace, child)

        # ---- Grafana admin + Alertmanager notifier secrets, kube-prometheus-stack ---------------
        grafana_secret, self.grafana_admin_password = grafana_admin_secret(namespace, child)
        notifier_secret, config_secret = alertmanager_secrets(args.config, args.mail, namespace, child)
        self.prometheus_stack = prometheus_stack_release(
            args.config,
            namespace,
            secrets=(grafana_secret, notifier_secret, config_secret),
            node_exporter_namespace=self.logging_namespace,
            parent=self,
        )
        crds = pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus_stack])
        prometheus_rules(args.config, namespace, crds)
        dashboard_config_maps(namespace, child)

        # ---- Grafana behind the admin guard --------------------------------------------------------
        ingress_route(
            "grafana",
            namespace,
            grafana_host,
            GRAFANA_SERVICE,
            80,
            args.admin_guard,
            pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus_stack, *args.ingress_dependencies]),
        )
        monitoring_network_policies(
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
        self._platform_monitors(args)

        # ---- logs -------------------------------------------------------------------------------------
        self.gelf_endpoint = None
        self.graylog_admin_password = None
        if settings.logs_enabled:
            assert self.logging_namespace is not None
            logs = deploy_logs(
                args.config,
                self.logging_namespace,
                ingress_namespace=args.ingress_namespace,
                admin_guard=args.admin_guard,
                ingress_dependencies=args.ingress_dependencies,
                prometheus_stack=self.prometheus_stack,
                parent=self,
            )
            self.gelf_endpoint, self.graylog_admin_password = logs.gelf_endpoint, logs.graylog_admin_password

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

    def _platform_monitors(self, args: MonitoringArgs) -> None:
        """Monitors of the platform's controllers, which precede this component: they live
        here, next to the CRDs."""
        # Traefik's metrics entry point (request rates, 5xx, latency for the alert rules).
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
