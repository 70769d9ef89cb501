"""The backend's web pods (per release track): nginx + php-fpm in one pod.

An init container copies the image's `public/` into a shared emptyDir that nginx serves; PHP
requests go to php-fpm on 127.0.0.1:9000. nginx, the php-fpm pool and php.ini come from
`components/files/` templates (files.py), sized from the container's memory limit. nginx and
php-fpm exporters run as sidecars. HPA on CPU 70 % / memory 80 % (the seed), PDB from two replicas.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components import routing
from components.backend import files
from components.backend.pods import SIDECAR_SIZE, PhpPods
from components.backend.settings import APP, php_settings, web_grace
from components.config import ContainerSize
from components.platform.network import INGRESS_LABEL, INGRESS_VALUE, SCRAPE_LABEL

WEB_PORT = files.HTTP_PORT
NGINX_EXPORTER_PORT = 9113
FPM_EXPORTER_PORT = 9253
# The seed's auto-scaling triggers for the backend.
CPU_TARGET, MEMORY_TARGET = 70, 80
# Exporter and proxy images, pinned.
NGINX_IMAGE = "nginxinc/nginx-unprivileged:1.28.0-alpine"
NGINX_EXPORTER_IMAGE = "nginx/nginx-prometheus-exporter:1.4.2"
FPM_EXPORTER_IMAGE = "hipages/php-fpm_exporter:2.2.0"
# Whether php-fpm accepts on its loopback FastCGI address (files.FASTCGI_ADDRESS), run
# in the php-fpm container by the kubelet: the php CLI is in every official php image.
_FASTCGI_HOST, _FASTCGI_PORT = files.FASTCGI_ADDRESS.rsplit(":", 1)
FASTCGI_CHECK = k8s.core.v1.ExecActionArgs(
    command=["php", "-r", f"exit(@fsockopen('{_FASTCGI_HOST}', {_FASTCGI_PORT}, $e, $s, 2) ? 0 : 1);"]
)
NGINX_SIZE = ContainerSize("50m", "64Mi", "128Mi")
# Bytes of nginx-buffered and PHP-spooled upload per concurrent request (nginx keeps the body,
# PHP writes its own copy to upload_tmp_dir): the uploads volume holds that many per worker.
UPLOAD_COPIES = 2


def web(pods: PhpPods, track: routing.Track, opts: pulumi.ResourceOptions, parent: pulumi.Resource) -> pulumi.Output[str]:
    """One release track's web pods (nginx, php-fpm, exporters), Service, HPA and PDB; returns
    the Service's name."""
    child = pulumi.ResourceOptions(parent=parent)
    a, cfg = pods.args, pods.args.config
    name = f"backend-web{track.suffix}"
    selector = {**kube.selector_labels(APP, "backend-web"), "saas-platform.io/track": track.label}
    public = k8s.core.v1.VolumeMountArgs(name="public", mount_path=files.DOCUMENT_ROOT)
    uploads = k8s.core.v1.VolumeMountArgs(name="uploads", mount_path=files.UPLOAD_TMP_DIR)
    prepare = pods.prepare(track.image, public=True)
    php_fpm = pods.container(
        "php-fpm",
        track.image,
        ["php-fpm", "--nodaemonize", "--fpm-config", "/usr/local/etc/php-fpm.conf"],
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(
                name="php-config", mount_path="/usr/local/etc/php-fpm.conf", sub_path="php-fpm.conf", read_only=True
            ),
            uploads,
        ],
        ports=[k8s.core.v1.ContainerPortArgs(name="fastcgi", container_port=9000)],
        # php-fpm listens on loopback only (FastCGI runs any script it is told to: never on
        # the pod network), and a tcpSocket probe connects to the pod IP, where nothing
        # listens: the kubelet's check runs inside the container instead.
        liveness_probe=k8s.core.v1.ProbeArgs(exec_=FASTCGI_CHECK, period_seconds=10, timeout_seconds=3, failure_threshold=3),
        readiness_probe=k8s.core.v1.ProbeArgs(exec_=FASTCGI_CHECK, period_seconds=5, timeout_seconds=3),
        # php-fpm's image stop signal is SIGQUIT (graceful): finish requests, then exit.
        lifecycle=kube.drain_before_stop(10),
    )
    nginx = k8s.core.v1.ContainerArgs(
        name="nginx",
        image=NGINX_IMAGE,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=WEB_PORT)],
        resources=kube.resources(NGINX_SIZE),
        # nginx-unprivileged runs under any UID (its writable paths are group-0 writable,
        # and ours are emptyDirs): the pod's high UID, not the image's 101.
        security_context=kube.container_security_context(),
        # Readiness goes through nginx and php-fpm into Laravel's /up health route.
        startup_probe=kube.startup_probe("/up", "http", budget_seconds=90),
        readiness_probe=kube.http_probe("/up", "http", period=5),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="http"), period_seconds=10, failure_threshold=3
        ),
        # nginx's image stop signal is SIGQUIT (graceful shutdown) after this drain.
        lifecycle=kube.drain_before_stop(10),
        volume_mounts=[
            public,
            uploads,
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(
                name="php-config", mount_path="/etc/nginx/nginx.conf", sub_path="nginx.conf", read_only=True
            ),
        ],
    )
    exporters = [
        k8s.core.v1.ContainerArgs(
            name="nginx-exporter",
            image=NGINX_EXPORTER_IMAGE,
            args=[f"--nginx.scrape-uri=http://127.0.0.1:{files.STATUS_PORT}/stub_status"],
            ports=[k8s.core.v1.ContainerPortArgs(name="nginx-metrics", container_port=NGINX_EXPORTER_PORT)],
            resources=kube.resources(SIDECAR_SIZE),
            security_context=kube.container_security_context(),
            liveness_probe=kube.http_probe("/metrics", "nginx-metrics", period=30),
            readiness_probe=kube.http_probe("/metrics", "nginx-metrics", period=30),
        ),
        k8s.core.v1.ContainerArgs(
            name="php-fpm-exporter",
            image=FPM_EXPORTER_IMAGE,
            args=["server", "--phpfpm.scrape-uri", f"tcp://{files.FASTCGI_ADDRESS}/fpm-status"],
            ports=[k8s.core.v1.ContainerPortArgs(name="fpm-metrics", container_port=FPM_EXPORTER_PORT)],
            resources=kube.resources(SIDECAR_SIZE),
            security_context=kube.container_security_context(),
            liveness_probe=kube.http_probe("/metrics", "fpm-metrics", period=30),
            readiness_probe=kube.http_probe("/metrics", "fpm-metrics", period=30),
        ),
    ]
    volumes = [
        *pods.volumes(),
        kube.tmp_volume("public", "512Mi"),
        # Request bodies nginx buffers and the upload temp files PHP writes, apart from
        # /tmp: sized so every php-fpm worker can take a maximal upload at once without
        # the kubelet evicting the pod for an overfull emptyDir.
        kube.tmp_volume("uploads", f"{files.upload_volume_mb(php_settings(cfg), UPLOAD_COPIES)}Mi"),
    ]
    pod = kube.pod_spec(
        [nginx, php_fpm, *exporters],
        init_containers=[prepare],
        selector=selector,
        volumes=volumes,
        termination_grace_seconds=web_grace(cfg),
    )
    deployment = pods.deployment(
        name, "backend-web", selector, pod, opts,
        labels={"saas-platform.io/track": track.label},
        pod_labels={INGRESS_LABEL: INGRESS_VALUE, SCRAPE_LABEL: "true"},
    )
    service = k8s.core.v1.Service(
        name,
        metadata=kube.metadata(name, "backend-web", a.namespace, app=APP),
        spec=k8s.core.v1.ServiceSpecArgs(
            type="ClusterIP",
            selector=selector,
            ports=[
                k8s.core.v1.ServicePortArgs(name="http", port=WEB_PORT, target_port="http"),
                k8s.core.v1.ServicePortArgs(name="nginx-metrics", port=NGINX_EXPORTER_PORT, target_port="nginx-metrics"),
                k8s.core.v1.ServicePortArgs(name="fpm-metrics", port=FPM_EXPORTER_PORT, target_port="fpm-metrics"),
            ],
        ),
        opts=child,
    )
    bounds = cfg.replicas.backend
    kube.autoscaler(
        name, "backend-web", a.namespace, deployment.metadata.name,
        min_replicas=bounds.min, max_replicas=bounds.max,
        cpu_percent=CPU_TARGET, memory_percent=MEMORY_TARGET, app=APP, opts=child,
    )
    if bounds.min >= 2:
        kube.disruption_budget(name, "backend-web", a.namespace, selector, app=APP, opts=child)
    return service.metadata.name


def web_metrics(pods: PhpPods, parent: pulumi.Resource) -> None:
    """The ServiceMonitor of the web pods: both exporters and the app's own metrics route."""
    a = pods.args
    k8s.apiextensions.CustomResource(
        "backend-web-metrics",
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata=kube.metadata("backend-web", "backend-web", a.namespace, app=APP),
        spec={
            "selector": {"matchLabels": {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": "backend-web"}},
            "endpoints": [
                {"port": "nginx-metrics", "interval": "30s"},
                {"port": "fpm-metrics", "interval": "30s"},
                # The application's own metrics (user activity, feature usage), through nginx.
                {"port": "http", "path": a.config.raw.backend.metricsPath, "interval": "30s"},
            ],
        },
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(a.monitoring_crds)),
    )
