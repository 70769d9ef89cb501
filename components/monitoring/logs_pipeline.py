"""The logs pipeline's resources (off in development): the MongoDB operator, Graylog and Fluent
Bit releases, Graylog's credentials, the DataNode sysctl DaemonSet, and a Job that creates the
GELF TCP input through Graylog's API (the chart only opens the port).

They run in the logging namespace, the one namespace with a relaxed Pod Security level
(`privileged`): DataNode's OpenSearch needs `vm.max_map_count >= 262144` on the node, which only
a privileged container can set (graylog-helm#106; chart 1.0.0 has no init for it), and Fluent Bit
reads `/var/log` through a hostPath volume, which `baseline` already forbids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.contracts import MiddlewareRef
from components.platform import scraping
from components.monitoring.logs import (
    CURL_IMAGE,
    GELF_INPUT_SCRIPT,
    GELF_INPUT_TITLE,
    GELF_PORT,
    GRAYLOG_BACKUP_SECRET,
    GRAYLOG_CREDENTIALS_SECRET,
    GRAYLOG_MONGODB_RS,
    GRAYLOG_POD,
    GRAYLOG_PORT,
    GRAYLOG_RELEASE,
    GRAYLOG_SERVICE,
    PAUSE_IMAGE,
    SYSCTL_IMAGE,
    fluent_bit_values,
    graylog_values,
    mongodb_operator_values,
)
from components.monitoring.network import ingress_route
from components.platform import charts
from components.platform.charts import GRAYLOG
from components.platform.traefik import allow_traefik_to


@dataclass(frozen=True)
class Logs:
    """What the rest of the platform reads from the logs pipeline."""

    gelf_endpoint: pulumi.Output[str]
    """`host:port` of Graylog's GELF TCP input."""
    graylog_admin_password: pulumi.Output[str]
    """Graylog's generated root password (secret output)."""


def deploy_logs(
    config: StackConfig,
    logging_ns: pulumi.Output[str],
    *,
    ingress_namespace: pulumi.Input[str],
    admin_guard: MiddlewareRef,
    ingress_dependencies: Sequence[pulumi.Resource],
    prometheus_stack: pulumi.Resource,
    parent: pulumi.Resource,
) -> Logs:
    """Graylog, its MongoDB and DataNode, the GELF input, Fluent Bit; Graylog behind the admin guard."""
    settings = config.monitoring
    child = pulumi.ResourceOptions(parent=parent)
    ha = config.highly_available

    sysctl = _datanode_sysctl_daemonset(logging_ns, child)

    mongodb_operator = charts.release(
        "mongodb-operator", charts.MONGODB_OPERATOR, logging_ns, mongodb_operator_values(logging_ns), child,
        atomic=None, cleanup_on_fail=None, max_history=None,
    )

    credentials = _graylog_secrets(logging_ns, child)
    graylog = charts.release(
        "graylog",
        GRAYLOG,
        logging_ns,
        graylog_values(highly_available=ha, storage=settings.logs_storage),
        pulumi.ResourceOptions(
            parent=parent,
            protect=config.protect,
            depends_on=[mongodb_operator, sysctl, *credentials.secrets],
        ),
        release_name=GRAYLOG_RELEASE,
        # DataNode and MongoDB start slowly: give the first install time.
        timeout=1200,
        atomic=None, cleanup_on_fail=None, max_history=None,
    )
    admin_secret = credentials.admin
    graylog_host = pulumi.Output.concat(GRAYLOG_SERVICE, ".", logging_ns, ".svc.cluster.local")
    _gelf_input_job(logging_ns, graylog_host, admin_secret, pulumi.ResourceOptions(parent=parent, depends_on=[graylog]))

    charts.release(
        "fluent-bit", charts.FLUENT_BIT, logging_ns, graylog_host.apply(fluent_bit_values),
        pulumi.ResourceOptions(parent=parent, depends_on=[graylog, prometheus_stack]),
        atomic=None, cleanup_on_fail=None, max_history=None,
    )

    # The Graylog and DataNode Services share these labels; only Graylog's has a "metrics" port.
    scraping.service_monitor(
        "graylog",
        logging_ns,
        component="logging",
        selector={"app.kubernetes.io/name": "graylog", "app.kubernetes.io/instance": GRAYLOG_RELEASE},
        port="metrics",
        path="/api/metrics/prometheus",
        crds=prometheus_stack,
        parent=parent,
    )
    ingress_route(
        "graylog",
        logging_ns,
        f"graylog.{config.domain}",
        GRAYLOG_SERVICE,
        GRAYLOG_PORT,
        admin_guard,
        pulumi.ResourceOptions(parent=parent, depends_on=[graylog, *ingress_dependencies]),
    )
    allow_traefik_to(
        "saas-ingress-traefik-to-graylog", "traefik-to-graylog", ingress_namespace, logging_ns,
        GRAYLOG_POD, GRAYLOG_PORT, pulumi.ResourceOptions(parent=parent),
    )
    return Logs(
        gelf_endpoint=pulumi.Output.concat(graylog_host, ":", str(GELF_PORT)),
        graylog_admin_password=credentials.root_password,
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
