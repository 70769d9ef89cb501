"""Keeping the point-in-time window moving: CronJobs around the MariaDB in service.

- `<name>-flush-binlogs`: closes the primary's binlog so a quiet database's writes are archived;
- `<name>-backup-on-failover`: an on-demand full backup after a primary change (binlog
  timelines do not cross one);
- `<name>-prune-binlogs`: deletes archived binlogs no kept full backup can use.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components import k8s as kube
from components.config import ContainerSize, StackConfig
from components.contracts import S3Access
from components.data import tls as data_tls
from components.data.common import DATA_STORE_LABEL
from components.data.mariadb_base import (
    AWS_CLI_IMAGE,
    BINLOG_FLUSH_MINUTES,
    BINLOG_RETENTION_MARGIN_HOURS,
    CA_BUNDLE_DIR,
    GUARD_LABEL,
    IMAGE,
    KUBECTL_IMAGE,
    PRIMARY_WATCH_MINUTES,
    SECRET_DIR,
    physical_backup_name,
)


def _job_pod(
    name: str,
    container: dict[str, object],
    *,
    service_account: str | None = None,
    secret: pulumi.Input[str] | None = None,
    ca_bundle: str | None = None,
) -> dict[str, object]:
    """A CronJob's job template around one restricted container (no overlap, short history)."""
    return {
        "backoffLimit": 1,
        "activeDeadlineSeconds": 240,
        "ttlSecondsAfterFinished": 3600,
        "template": {
            "metadata": {"labels": {**kube.recommended_labels(name, "mariadb-backup"), DATA_STORE_LABEL: GUARD_LABEL}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": service_account is not None,
                **({"serviceAccountName": service_account} if service_account else {}),
                # These pods touch no data files: the platform's high UID, not mysql's.
                "securityContext": kube.restricted_pod_security(),
                # kubectl keeps its discovery cache under $HOME: a writable emptyDir.
                # Credentials are files from the Secret (read-only; group-readable for the pod's fsGroup), never env vars.
                "volumes": [
                    {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                    *([{"name": "secret", "secret": {"secretName": secret, "defaultMode": 0o440}}] if secret is not None else []),
                    *([{"name": "ca-bundle", "secret": {"secretName": ca_bundle, "defaultMode": 0o444}}] if ca_bundle else []),
                ],
                "containers": [
                    {
                        "imagePullPolicy": "IfNotPresent",
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            *([{"name": "secret", "mountPath": SECRET_DIR, "readOnly": True}] if secret is not None else []),
                            *([{"name": "ca-bundle", "mountPath": CA_BUNDLE_DIR, "readOnly": True}] if ca_bundle else []),
                        ],
                        "resources": kube.resource_values(ContainerSize("10m", "32Mi", "64Mi")),
                        "securityContext": kube.restricted_container_security(),
                        **container,
                    }
                ],
            },
        },
    }


def _cron_job(name: str, ns: pulumi.Input[str], minutes: int, job: dict[str, object], opts: pulumi.ResourceOptions) -> None:
    k8s.batch.v1.CronJob(
        name,
        metadata=kube.metadata(name, "mariadb-backup", ns),
        spec={
            "schedule": f"*/{minutes} * * * *",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 120,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": job},
        },
        opts=opts,
    )



def flush_binlogs_script(host: str, tls: bool = False) -> str:
    """Close the primary's binary log so the agent archives it. The root password goes from
    the mounted Secret into an option file on the pod's emptyDir (not argv, not env). With
    `tls`, the server must present a certificate of the operator's bundle for `host`
    (`require_secure_transport` refuses anything else)."""
    verify = f"--ssl --ssl-verify-server-cert --ssl-ca={CA_BUNDLE_DIR}/ca.crt " if tls else ""
    return "\n".join(
        [
            "set -eu",
            "umask 077",
            f"printf '[client]\\npassword=%s\\n' \"$(cat {SECRET_DIR}/root-password)\" > /tmp/client.cnf",
            f"exec mariadb --defaults-extra-file=/tmp/client.cnf --host={host} --user=root --connect-timeout=10 "
            f"{verify}--execute='FLUSH BINARY LOGS'",
        ]
    )


def primary_watch_script(name: str) -> str:
    """Trigger an on-demand full backup of `name` when its primary changed since the last one.

    `spec.schedule.onDemand`: a new identifier triggers a backup (v26.6.0 CRD
    physicalbackups.k8s.mariadb.com); the primary it was taken for is kept in an annotation
    the program never sets, so `pulumi up` and this job never fight over a field."""
    annotation = "saas-platform.io/backup-primary"
    return "\n".join(
        [
            "set -eu",
            f"primary=$(kubectl get mariadb {name} -o jsonpath='{{.status.currentPrimary}}')",
            '[ -n "$primary" ] || { echo "no current primary yet"; exit 0; }',
            f"last=$(kubectl get physicalbackup {physical_backup_name(name)} -o json | jq -r '.metadata.annotations[\"{annotation}\"] // \"\"')",
            '[ "$primary" = "$last" ] && exit 0',
            'if [ -n "$last" ]; then',
            '  echo "primary changed from $last to $primary: new base backup"',
            f"  kubectl patch physicalbackup {physical_backup_name(name)} --type merge "
            '-p "{\"spec\":{\"schedule\":{\"onDemand\":\"$primary-$(date -u +%Y%m%d%H%M%S)\"}}}"',
            "fi",
            f'kubectl annotate --overwrite physicalbackup {physical_backup_name(name)} "{annotation}=$primary"',
        ]
    )


def pitr_guard(name: str, ns: pulumi.Input[str], cfg: StackConfig, secret_name: pulumi.Input[str], opts: pulumi.ResourceOptions) -> None:
    """Two CronJobs that keep instance `name`'s recoverable point within the RPO:

    - every BINLOG_FLUSH_MINUTES, `FLUSH BINARY LOGS` on the primary, so a quiet database's
      last writes are in a closed binlog the agent archives (only closed binlogs are: v26.6.0
      pkg/binlog/archiver.go:188-190);
    - every PRIMARY_WATCH_MINUTES, an on-demand full backup when the primary changed: binlog
      timelines do not cross a primary change (pkg/binlog/binlog.go:58-169), so the
      recoverable point would freeze until the next successful full backup.
    """
    flush = f"{name}-flush-binlogs"
    _cron_job(
        flush, ns, BINLOG_FLUSH_MINUTES,
        _job_pod(flush, {
            "name": "flush",
            "image": IMAGE,
            "command": ["/bin/sh", "-c", flush_binlogs_script(f"{name}-primary", tls=data_tls.enabled(cfg))],
        }, secret=secret_name, ca_bundle=f"{name}-ca-bundle" if data_tls.enabled(cfg) else None),
        opts,
    )
    watch = f"{name}-backup-on-failover"
    account = k8s.core.v1.ServiceAccount(
        watch, metadata=kube.metadata(watch, "mariadb-backup", ns), automount_service_account_token=False, opts=opts
    )
    role = k8s.rbac.v1.Role(
        watch,
        metadata=kube.metadata(watch, "mariadb-backup", ns),
        rules=[
            {"apiGroups": ["k8s.mariadb.com"], "resources": ["mariadbs"], "resourceNames": [name], "verbs": ["get"]},
            {
                "apiGroups": ["k8s.mariadb.com"], "resources": ["physicalbackups"],
                "resourceNames": [physical_backup_name(name)], "verbs": ["get", "patch"],
            },
        ],
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        watch,
        metadata=kube.metadata(watch, "mariadb-backup", ns),
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role.metadata.name},
        subjects=[{"kind": "ServiceAccount", "name": account.metadata.name, "namespace": ns}],
        opts=opts,
    )
    _cron_job(
        watch, ns, PRIMARY_WATCH_MINUTES,
        _job_pod(watch, {
            "name": "watch",
            "image": KUBECTL_IMAGE,
            "command": ["/bin/sh", "-c", primary_watch_script(name)],
            "env": [{"name": "HOME", "value": "/tmp"}],
        }, service_account=watch),
        opts,
    )


def prune_binlogs_script(prefix: str, retention_hours: int) -> str:
    """Delete archived binlogs older than `retention_hours` under `prefix` of $BUCKET.

    mariadb-operator v26.6.0 never deletes archived binlogs (pkg/binlog/archiver.go uploads
    only), while PhysicalBackup `maxRetention` prunes full backups: past the oldest kept full
    backup no restore can use a binlog, and on in-cluster storage they would fill the volumes."""
    return "\n".join(
        [
            "set -eu",
            "umask 077",
            # The backup key from the mounted Secret into the CLI's credentials file.
            f"printf '[default]\\naws_access_key_id = %s\\naws_secret_access_key = %s\\n' "
            f'"$(cat {SECRET_DIR}/access-key-id)" "$(cat {SECRET_DIR}/secret-access-key)" > /tmp/credentials',
            "export AWS_SHARED_CREDENTIALS_FILE=/tmp/credentials",
            f'cutoff=$(date -u -d "@$(( $(date +%s) - {retention_hours * 3600} ))" +%Y-%m-%dT%H:%M:%S)',
            'echo "deleting binlogs archived before $cutoff"',
            f'aws s3api list-objects-v2 --endpoint-url "$S3_ENDPOINT" --bucket "$BUCKET" --prefix "{prefix}/" '
            "--query \"Contents[?LastModified<'$cutoff'].Key\" --output text | tr '\\t' '\\n' |",
            "while read -r key; do",
            '  [ -z "$key" ] || [ "$key" = None ] && continue',
            '  aws s3api delete-object --endpoint-url "$S3_ENDPOINT" --bucket "$BUCKET" --key "$key"',
            "done",
        ]
    )


def binlog_pruner(
    name: str,
    ns: pulumi.Input[str],
    cfg: StackConfig,
    backups: S3Access,
    s3_secret: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> None:
    """A daily CronJob deleting instance `name`'s archived binlogs older than the backup
    retention plus a day (data-safety review #8)."""
    retention = int(cfg.data.backup_retention.rstrip("h")) + BINLOG_RETENTION_MARGIN_HOURS
    job = f"{name}-prune-binlogs"
    k8s.batch.v1.CronJob(
        job,
        metadata=kube.metadata(job, "mariadb-backup", ns),
        spec={
            "schedule": "30 4 * * *",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {**_job_pod(job, {
                "name": "prune",
                "image": AWS_CLI_IMAGE,
                "command": ["/bin/sh", "-c", prune_binlogs_script(f"{name}/binlogs", retention)],
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "S3_ENDPOINT", "value": backups.endpoint},
                    {"name": "BUCKET", "value": backups.bucket},
                    {"name": "AWS_DEFAULT_REGION", "value": backups.region},
                ],
                "resources": kube.resource_values(ContainerSize("10m", "64Mi", "256Mi")),
            }, secret=s3_secret), "activeDeadlineSeconds": 1800}},
        },
        opts=opts,
    )
