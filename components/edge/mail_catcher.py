"""MailCatcher: Mailpit in the app namespace, the development stack's SMTP relay.

With the edge off (`edge.dns: none`) nothing may send real mail, so the backend and
Alertmanager get a `MailRelay` pointing at Mailpit: SMTP on 1025 (no TLS inside the cluster),
the web UI and API on 8025 (`kubectl port-forward svc/mailpit 8025`). Mailpit accepts any
credentials (`MP_SMTP_AUTH_ACCEPT_ANY`), so the relay keeps the contract of generated secret
credentials that SES has in the other stacks, and the mail stays in an emptyDir that dies with
the pod. This module imports no cloud SDK.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import contracts
from components import k8s as kube
from components.config import ContainerSize
from components.platform.network import namespace_peer

TYPE = "saas-platform:index:MailCatcher"

# Pinned upstream image (github.com/axllent/mailpit); bump deliberately.
MAILPIT_IMAGE = "axllent/mailpit:v1.29.7"
NAME = "mailpit"
COMPONENT = "mail-catcher"
SMTP_PORT = 1025
UI_PORT = 8025
MAILPIT_USERNAME = "mailpit"


@dataclass(frozen=True)
class MailCatcherArgs:
    """Inputs of MailCatcher.

    namespace: namespace to run in (the app namespace, next to the backend that sends).
    client_namespaces: namespaces whose pods may reach SMTP (app for Laravel, monitoring for
        Alertmanager); every other source stays blocked by the namespace's default deny.
    from_address: the sender the relay advertises (no-reply@<domain>).
    """

    namespace: pulumi.Input[str]
    client_namespaces: list[pulumi.Input[str]]
    from_address: str


class MailCatcher(pulumi.ComponentResource):
    """Mailpit Deployment, Service and the NetworkPolicy that lets mail clients in."""

    mail: contracts.MailRelay
    """The in-cluster relay: `mailpit.<ns>.svc.cluster.local:1025`, no TLS, generated credentials."""

    service_name: pulumi.Output[str]
    """Name of the Service (SMTP on 1025, UI on 8025)."""

    def __init__(self, name: str, args: MailCatcherArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        selector = kube.selector_labels(NAME, COMPONENT)

        password = random.RandomPassword(f"{name}-smtp-password", length=32, special=False, opts=child)
        # The credentials clients present; Mailpit accepts any (MP_SMTP_AUTH_ACCEPT_ANY).
        k8s.core.v1.Secret(
            f"{name}-smtp",
            metadata=kube.metadata(f"{NAME}-smtp", COMPONENT, args.namespace, app=NAME),
            type="Opaque",
            string_data={"username": MAILPIT_USERNAME, "password": password.result},
            opts=child,
        )

        container = k8s.core.v1.ContainerArgs(
            name=NAME,
            image=MAILPIT_IMAGE,
            ports=[
                k8s.core.v1.ContainerPortArgs(name="smtp", container_port=SMTP_PORT),
                k8s.core.v1.ContainerPortArgs(name="http", container_port=UI_PORT),
            ],
            env=[
                # Any username/password is accepted; plain AUTH without TLS is fine in-cluster.
                k8s.core.v1.EnvVarArgs(name="MP_SMTP_AUTH_ACCEPT_ANY", value="true"),
                k8s.core.v1.EnvVarArgs(name="MP_SMTP_AUTH_ALLOW_INSECURE", value="true"),
                # Bound memory/disk: keep the newest messages only.
                k8s.core.v1.EnvVarArgs(name="MP_MAX_MESSAGES", value="2000"),
                k8s.core.v1.EnvVarArgs(name="MP_DATABASE", value="/data/mailpit.db"),
            ],
            resources=kube.resources(ContainerSize("20m", "64Mi", "256Mi")),
            security_context=kube.container_security_context(),
            readiness_probe=kube.http_probe("/readyz", "http"),
            liveness_probe=kube.http_probe("/livez", "http", period=20),
            startup_probe=kube.startup_probe("/livez", "http", budget_seconds=60),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
                k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=kube.metadata(
                NAME,
                COMPONENT,
                args.namespace,
                annotations=kube.policy_exemption(
                    ["app-workloads-scraped"], "a development-only mail catcher: nothing to alert on"
                ),
            ),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,  # a catcher keeps its mail in memory/emptyDir: one copy, not a cluster
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.recommended_labels(NAME, COMPONENT)),
                    spec=kube.pod_spec(
                        [container],
                        selector=selector,
                        volumes=[kube.tmp_volume("data", "512Mi"), kube.tmp_volume()],
                        spread=False,
                    ),
                ),
            ),
            opts=child,
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=kube.metadata(NAME, COMPONENT, args.namespace),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="smtp", port=SMTP_PORT, target_port="smtp", protocol="TCP"),
                    k8s.core.v1.ServicePortArgs(name="http", port=UI_PORT, target_port="http", protocol="TCP"),
                ],
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-smtp",
            metadata=kube.metadata(f"{NAME}-allow-smtp", "network-policy", args.namespace, app=NAME),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[namespace_peer(ns) for ns in args.client_namespaces],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=SMTP_PORT)],
                    )
                ],
            ),
            opts=child,
        )

        self.service_name = service.metadata.name
        host = pulumi.Output.concat(service.metadata.name, ".", service.metadata.namespace, ".svc.cluster.local")
        self.mail = contracts.MailRelay(
            host=host,
            port=SMTP_PORT,
            tls=False,
            from_address=args.from_address,
            username=pulumi.Output.secret(MAILPIT_USERNAME),
            password=pulumi.Output.secret(password.result),
        )
        self.register_outputs({"serviceName": self.service_name, "smtpHost": host})
