"""What every PHP pod of the backend shares: the app image's containers with the settings, the
writable trees, the `prepare` init container and the Deployment around them.

Every PHP pod starts with the `prepare` init container: the `storage/` and `bootstrap/cache`
emptyDirs hide the image's directories, so it seeds them from the image and creates what
Laravel writes to (`storage/framework/{views,cache/data,sessions}`, `storage/logs`); without
`storage/framework/views` Blade cannot compile and `/up` answers 500.

Every pod template carries a checksum of the settings and credentials
(`saas-platform.io/config-checksum`): pulumi-kubernetes replaces a changed ConfigMap/Secret under
the same name, which alone would never restart a pod, so a rotated SMTP key or a restored
database's `DB_HOST` would not reach the running pods.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.backend import files
from components.backend.args import LaravelBackendArgs
from components.backend.settings import APP
from components.config import ContainerSize
from components.data import tls as data_tls
from components.k8s import CHECKSUM_ANNOTATION

# `service.name` of each PHP container's spans (OTEL_SERVICE_NAME), by container name; init
# containers send none.
OTEL_SERVICES: Mapping[str, str] = {
    "php-fpm": "backend-web",
    "reverb": "backend-reverb",
    "worker": "backend-worker",
    "scheduler": "backend-scheduler",
    "migrate": "backend-migrations",
}
SIDECAR_SIZE = ContainerSize("20m", "32Mi", "64Mi")
# Writable paths Laravel needs under storage/ (laravel/framework 12.x config/view.php compiles
# Blade into storage/framework/views, realpath()'d; cache/data, sessions and logs are the
# skeleton's file stores): created in the emptyDir before any PHP process starts.
STORAGE_DIRS = ("framework/views", "framework/cache/data", "framework/sessions", "logs", "app/public")
SEED_ROOT = "/seed"


@dataclass(frozen=True)
class PhpPods:
    """Builds the backend's PHP containers and Deployments.

    settings / secret: `backend-config` and `backend-secrets` (envFrom); php_files: the
    `backend-php` ConfigMap; checksum: config_checksum of settings and secret.
    """

    args: LaravelBackendArgs
    settings: k8s.core.v1.ConfigMap
    secret: k8s.core.v1.Secret
    php_files: k8s.core.v1.ConfigMap
    checksum: pulumi.Output[str]

    def env_from(self) -> list[k8s.core.v1.EnvFromSourceArgs]:
        return [
            k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=self.settings.metadata.name)),
            k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=self.secret.metadata.name)),
        ]

    def container(self, name: str, image: str, command: list[str], **extra: object) -> k8s.core.v1.ContainerArgs:
        """A container of the app image with the app's settings, php.ini overrides and a
        writable storage/ and /tmp (the root filesystem is read-only)."""
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
            k8s.core.v1.VolumeMountArgs(name="storage", mount_path=f"{files.APP_ROOT}/storage"),
            k8s.core.v1.VolumeMountArgs(name="bootstrap-cache", mount_path=f"{files.APP_ROOT}/bootstrap/cache"),
            k8s.core.v1.VolumeMountArgs(
                name="php-config", mount_path="/usr/local/etc/php/conf.d/zz-saas.ini", sub_path="zz-saas.ini", read_only=True
            ),
            *data_tls.client_mounts(self.args.data_tls),
            *extra.pop("volume_mounts", []),  # type: ignore[misc]
        ]
        tracing = self.args.tracing
        service = OTEL_SERVICES.get(name)
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=image,
            command=command,
            env=tracing.env(service) if tracing is not None and service else None,
            env_from=self.env_from(),
            resources=extra.pop("resources", kube.resources(self.args.config.sizes.backend)),  # type: ignore[arg-type]
            security_context=kube.container_security_context(),
            volume_mounts=mounts,
            **extra,  # type: ignore[arg-type]
        )

    def volumes(self) -> list[k8s.core.v1.VolumeArgs]:
        return [
            *data_tls.client_volumes(self.args.data_tls),
            kube.tmp_volume(),
            kube.tmp_volume("storage", "1Gi"),
            kube.tmp_volume("bootstrap-cache", "64Mi"),
            k8s.core.v1.VolumeArgs(name="php-config", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=self.php_files.metadata.name)),
        ]

    def prepare(self, image: str, *, public: bool = False) -> k8s.core.v1.ContainerArgs:
        """The init container that seeds the writable trees from the image.

        It mounts the emptyDirs under SEED_ROOT, not over the app's paths, so the image's own
        `storage/`, `bootstrap/cache` (packages/services manifests, a baked `config:cache`) and
        `public/` stay visible to copy from."""
        script = prepare_script(public=public)
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="storage", mount_path=f"{SEED_ROOT}/storage"),
            k8s.core.v1.VolumeMountArgs(name="bootstrap-cache", mount_path=f"{SEED_ROOT}/bootstrap-cache"),
        ]
        if public:
            mounts.append(k8s.core.v1.VolumeMountArgs(name="public", mount_path=files.DOCUMENT_ROOT))
        return k8s.core.v1.ContainerArgs(
            name="prepare",
            image=image,
            command=["sh", "-c", script],
            resources=kube.resources(SIDECAR_SIZE),
            security_context=kube.container_security_context(),
            volume_mounts=mounts,
        )

    def deployment(
        self,
        name: str,
        component: str,
        selector: dict[str, str],
        pod: k8s.core.v1.PodSpecArgs,
        opts: pulumi.ResourceOptions,
        *,
        strategy: k8s.apps.v1.DeploymentStrategyArgs | None = None,
        replicas: int | None = None,
        labels: Mapping[str, str] | None = None,
        pod_labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> k8s.apps.v1.Deployment:
        return k8s.apps.v1.Deployment(
            name,
            metadata=kube.metadata(name, component, self.args.namespace, app=APP, labels=labels, annotations=annotations),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=strategy or kube.rolling_update(),
                revision_history_limit=5,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels={**kube.recommended_labels(APP, component), **selector, **(pod_labels or {})},
                        # Roll the pods when the rendered PHP/nginx files, a setting or a
                        # credential change.
                        annotations={
                            "saas-platform.io/php-config": self.php_files.data.apply(_digest),
                            CHECKSUM_ANNOTATION: self.checksum,
                        },
                    ),
                    spec=pod,
                ),
            ),
            opts=opts,
        )


def _digest(data: Mapping[str, str] | None) -> str:
    text = "\n".join(f"{k}={v}" for k, v in sorted((data or {}).items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def prepare_script(*, public: bool) -> str:
    """Shell run by the `prepare` init container (POSIX sh: the image may be Alpine's).

    Copies the image's storage/ and bootstrap/cache into the emptyDirs mounted under SEED_ROOT
    (when the image has them), creates the directories Laravel writes to, and for the web pod
    copies public/ to nginx's document root."""
    root = files.APP_ROOT
    lines = [
        "set -eu",
        f"if [ -d {root}/storage ]; then cp -R {root}/storage/. {SEED_ROOT}/storage/; fi",
        "mkdir -p " + " ".join(f"{SEED_ROOT}/storage/{d}" for d in STORAGE_DIRS),
        f"if [ -d {root}/bootstrap/cache ]; then cp -R {root}/bootstrap/cache/. {SEED_ROOT}/bootstrap-cache/; fi",
    ]
    if public:
        lines.append(f"cp -R {root}/public/. {files.DOCUMENT_ROOT}/")
    return "\n".join(lines)
