"""Alertmanager's configuration: routes by severity to email and/or a webhook, and the Secrets
that carry it (the whole configuration and the notifiers' credentials, read as files)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import k8s as kube
from components.config import StackConfig
from components.contracts import MailRelay

# Secrets Alertmanager reads as files: mounted at /etc/alertmanager/secrets/<name>/<key>.
NOTIFIER_SECRET = "alertmanager-notifiers"
NOTIFIER_DIR = f"/etc/alertmanager/secrets/{NOTIFIER_SECRET}"
ALERTMANAGER_CONFIG_SECRET = "alertmanager-config"  # key alertmanager.yaml, read by the operator


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


def alertmanager_secrets(
    config: StackConfig, mail: MailRelay | None, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> tuple[k8s.core.v1.Secret, k8s.core.v1.Secret]:
    """The notifier Secret and the configuration Secret, in that order.

    Alertmanager's whole configuration lives in a Secret we write (useExistingSecret): it holds
    the SMTP username, and the chart values stay free of secrets (reviewable).
    """
    notifier_data: dict[str, pulumi.Input[str]] = {}
    if mail is not None:
        notifier_data["smtp-password"] = mail.password
    if config.alert_webhook_url is not None:
        notifier_data["webhook-url"] = config.alert_webhook_url
    # The Secret exists even when empty: the Alertmanager pod mounts it by name.
    notifier_secret = k8s.core.v1.Secret(
        NOTIFIER_SECRET,
        metadata=kube.metadata(NOTIFIER_SECRET, "monitoring", namespace, app="alertmanager"),
        type="Opaque",
        string_data=notifier_data or {"placeholder": "no notifier configured"},
        opts=opts,
    )
    config_secret = k8s.core.v1.Secret(
        ALERTMANAGER_CONFIG_SECRET,
        metadata=kube.metadata(ALERTMANAGER_CONFIG_SECRET, "monitoring", namespace, app="alertmanager"),
        type="Opaque",
        string_data={"alertmanager.yaml": _alertmanager_yaml(mail, config.monitoring.alert_email_to, config.alert_webhook_kind)},
        opts=opts,
    )
    return notifier_secret, config_secret
